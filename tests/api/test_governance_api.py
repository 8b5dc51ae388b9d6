"""Governance and exit over the API, with role scoping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support import Api
from tests.support.bodies import HEALTH_CHECK, SCORECARD


def checked(api: Api) -> tuple[str, int]:
    contract_id = api.active_contract()
    response = api.post(f"/v1/contracts/{contract_id}/health-checks", HEALTH_CHECK, version=5)
    assert response.status_code == 200, response.json
    return contract_id, 7


def types_after(api: Api, contract_id: str, after: int) -> list[str]:
    return [e["type"] for e in
            api.get(f"/v1/contracts/{contract_id}/events?after={after}").json["events"]]


class TestFindings:
    def test_a_health_check_records_its_findings_in_one_write(self, api: Api) -> None:
        contract_id, _ = checked(api)
        assert types_after(api, contract_id, 5) == ["HealthCheckConducted", "FindingRecorded"]
        (finding,) = api.get(f"/v1/contracts/{contract_id}").json["findings"]
        assert finding["status"] == "open"
        assert finding["severity"] == "critical"

    def test_a_finding_from_plan_to_resolution(self, api: Api) -> None:
        contract_id, version = checked(api)
        base = f"/v1/contracts/{contract_id}/findings/patching"
        steps: list[tuple[str, dict[str, Any]]] = [
            ("corrective-actions", {"action_id": "monthly", "description": "Monthly patching",
                                    "owner": "Acme ops", "due_date": "2026-08-31"}),
            ("corrective-actions/monthly/updates", {"progress": "half of the fleet"}),
            ("corrective-actions/monthly/completion", {"completed_on": "2026-08-20",
                                                       "note": "all servers patched"}),
            ("resolution", {"outcome": "resolved", "evidence": "scan report SR-9"}),
        ]
        for offset, (path, body) in enumerate(steps):
            response = api.post(f"{base}/{path}", body, version=version + offset)
            assert response.status_code == 200, (path, response.json)
        (finding,) = response.json["findings"]
        assert finding["status"] == "resolved"
        again = api.post(f"{base}/resolution", {"outcome": "risk_accepted", "approver": "CISO",
                                                "reason": "x"}, version=version + 4)
        assert again.status_code == 409
        assert again.json["rule"] == "FindingClosed"

    def test_resolution_needs_its_evidence(self, api: Api) -> None:
        contract_id, version = checked(api)
        response = api.post(f"/v1/contracts/{contract_id}/findings/patching/resolution",
                            {"outcome": "resolved"}, version=version)
        assert response.status_code == 422
        assert "/evidence" in [e["pointer"] for e in response.json["errors"]]

    def test_the_vendor_responds_on_its_own_contract_only(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        contract_id, version = checked(api)
        path = f"/v1/contracts/{contract_id}/findings/patching/responses"
        body = {"response": "Patch window agreed for every second Tuesday"}
        assert as_vendor("globex").post(path, body, version=version).status_code == 404
        assert as_vendor("acme").post(path, body, version=version).status_code == 200

    def test_a_vendor_cannot_record_a_health_check(self, api: Api,
                                                   as_vendor: Callable[[str], Api]) -> None:
        contract_id = api.active_contract()
        response = as_vendor("acme").post(f"/v1/contracts/{contract_id}/health-checks",
                                          HEALTH_CHECK, version=5)
        assert response.status_code == 403


class TestReviewsAndCadence:
    def test_the_view_flags_overdue_reviews_as_of_a_date(self, api: Api) -> None:
        contract_id = api.active_contract()
        api.post(f"/v1/contracts/{contract_id}/governance-cadence", {"cadences": [
            {"kind": "sla_review", "every": 1, "unit": "months"},
            {"kind": "health_check", "every": 6, "unit": "months"}]}, version=5)
        api.post(f"/v1/contracts/{contract_id}/reviews", {
            "review_id": "q1", "kind": "scorecard", "held_on": "2026-03-31", "period": "2026-Q1",
            "attendees": ["Ana", "Acme"], "decisions": ["keep"], "scorecard": SCORECARD},
            version=6)
        on_time = api.get(f"/v1/contracts/{contract_id}?as_of_date=2026-02-01").json
        late = api.get(f"/v1/contracts/{contract_id}?as_of_date=2026-07-02").json
        by_kind = {c["kind"]: c for c in late["governance"]["cadences"]}
        assert {c["kind"]: c["overdue"] for c in on_time["governance"]["cadences"]} == {
            "sla_review": False, "health_check": False}
        assert by_kind["sla_review"]["overdue"] is True
        assert late["governance"]["overdue_health_check"] is True
        assert late["reviews"][0]["scorecard_average"] == "4"

    def test_a_scorecard_review_without_a_scorecard_is_refused(self, api: Api) -> None:
        contract_id = api.active_contract()
        response = api.post(f"/v1/contracts/{contract_id}/reviews", {
            "review_id": "q1", "kind": "scorecard", "held_on": "2026-03-31",
            "period": "2026-Q1", "attendees": ["Ana"]}, version=5)
        assert response.status_code == 422

    @pytest.mark.parametrize("query", ["as_of_date=tomorrow", "as_of_date=2026-13-01"])
    def test_a_bad_as_of_date_is_a_422(self, api: Api, query: str) -> None:
        contract_id = api.draft().json["id"]
        assert api.get(f"/v1/contracts/{contract_id}?{query}").status_code == 422


class TestProposals:
    def test_a_vendor_proposes_and_procurement_decides(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        contract_id = api.active_contract()
        base = f"/v1/contracts/{contract_id}/improvement-proposals"
        proposed = as_vendor("acme").post(base, {
            "proposal_id": "auto-patch", "title": "Automated patching",
            "expected_benefit": "Fewer security findings",
            "estimated_saving": {"amount": "20000.00", "currency": "EUR"}}, version=5)
        assert proposed.status_code == 200, proposed.json
        assert as_vendor("acme").post(f"{base}/auto-patch/decision", {
            "decision": "accepted", "reason": "self-approval"}, version=6).status_code == 403
        assert api.post(f"{base}/auto-patch/decision", {
            "decision": "accepted", "reason": "funded"}, version=6).status_code == 200
        done = api.post(f"{base}/auto-patch/implementation", {
            "realised_benefit": "30% fewer findings",
            "realised_saving": {"amount": "25000.00", "currency": "EUR"}}, version=7)
        assert done.status_code == 200, done.json
        assert done.json["improvement_proposals"][0]["status"] == "implemented"

    def test_implementing_an_undecided_proposal_is_a_409(self, api: Api) -> None:
        contract_id = api.active_contract()
        base = f"/v1/contracts/{contract_id}/improvement-proposals"
        api.post(base, {"proposal_id": "p", "title": "Idea", "expected_benefit": "b"},
                 version=5)
        response = api.post(f"{base}/p/implementation", {"realised_benefit": "x"}, version=6)
        assert response.status_code == 409
        assert response.json["rule"] == "IllegalProposalTransition"

    def test_an_auditor_writes_nothing(self, api: Api, as_role: Callable[[str], Api]) -> None:
        contract_id = api.active_contract()
        response = as_role("auditor").post(
            f"/v1/contracts/{contract_id}/improvement-proposals",
            {"proposal_id": "p", "title": "Idea", "expected_benefit": "b"}, version=5)
        assert response.status_code == 403


class TestExit:
    def test_a_manual_trigger_then_exit_then_termination(self, api: Api) -> None:
        contract_id = api.active_contract()
        base = f"/v1/contracts/{contract_id}"
        fired = api.post(f"{base}/exit-triggers", {"trigger_id": "board", "kind": "manual",
                                                   "reason": "strategic insourcing"}, version=5)
        assert fired.status_code == 200, fired.json
        assert fired.json["exit_triggers"][0]["firings"][0]["status"] == "fired"
        early = api.post(f"{base}/termination", {"reason": "insourced",
                                                 "effective_date": "2026-12-31"}, version=7)
        assert early.status_code == 409
        assert early.json["rule"] == "ExitPlanIncomplete"
        for offset, (path, body) in enumerate([
            ("exit", {"reason": "board decision", "trigger_id": "board"}),
            ("exit/steps/handover/start", {}),
            ("exit/spend", {"amount": {"amount": "12000.00", "currency": "EUR"},
                            "description": "parallel run", "spent_on": "2026-10-31"}),
            ("exit/steps/handover/completion", {"note": "runbooks received"}),
        ]):
            response = api.post(f"{base}/{path}", body, version=7 + offset)
            assert response.status_code == 200, (path, response.json)
        assert response.json["exit"]["budget"]["spent"]["amount"] == "12000.00"
        ended = api.post(f"{base}/termination", {"reason": "insourced",
                                                 "effective_date": "2026-12-31"}, version=11)
        assert ended.status_code == 200, ended.json

    def test_only_an_admin_may_override_an_incomplete_exit_plan(
        self, api: Api, as_role: Callable[[str], Api]
    ) -> None:
        contract_id = api.active_contract()
        body = {"reason": "vendor insolvent", "effective_date": "2026-12-31",
                "override_reason": "vendor ceased trading"}
        path = f"/v1/contracts/{contract_id}/termination"
        assert api.post(path, body, version=5).status_code == 403
        assert as_role("admin").post(path, body, version=5).status_code == 200
        assert types_after(api, contract_id, 5) == ["ExitPlanOverridden", "ContractTerminated"]

    def test_dismissing_a_trigger_that_never_fired_is_a_409(self, api: Api) -> None:
        contract_id = api.active_contract()
        api.post(f"/v1/contracts/{contract_id}/exit-triggers", {
            "trigger_id": "no-check", "kind": "health_check_overdue", "days": 30}, version=5)
        response = api.post(f"/v1/contracts/{contract_id}/exit-triggers/no-check/dismissal",
                            {"reason": "not needed"}, version=6)
        assert response.status_code == 409
        assert response.json["rule"] == "TriggerNotFired"

    def test_the_view_shows_the_notice_deadline(self, api: Api) -> None:
        contract = api.get(f"/v1/contracts/{api.draft().json['id']}").json
        assert contract["notice_deadline"] == "2028-10-02"
        assert contract["renews_automatically"] is False
