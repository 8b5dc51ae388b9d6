"""Reading and changing contracts over the API: representations, headers, provenance."""

from __future__ import annotations

import itertools

import pytest

from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, Api, contract_body


class TestDrafting:
    def test_draft_answers_201_with_location_etag_and_position(self, api: Api) -> None:
        response = api.post("/v1/contracts", contract_body())
        assert response.status_code == 201
        assert response.headers["Location"] == f"/v1/contracts/{response.json['id']}"
        assert response.headers["ETag"] == '"1"'
        assert int(response.headers["Ledger-Position"]) >= 1
        assert response.json["status"] == "draft"
        assert response.json["value"] == {"amount": "1200000.00", "currency": "EUR"}

    def test_positions_grow_with_every_write(self, api: Api) -> None:
        first = int(api.draft().headers["Ledger-Position"])
        second = int(api.draft().headers["Ledger-Position"])
        assert second > first

    def test_get_returns_the_current_state_with_its_etag(self, api: Api) -> None:
        contract_id = api.ready_contract()
        response = api.get(f"/v1/contracts/{contract_id}")
        assert response.status_code == 200
        assert response.headers["ETag"] == '"4"'
        assert response.json["point_of_contact"]["email"] == POINT_OF_CONTACT["email"]
        assert response.json["sla_metrics"][0]["target"] == SLA_METRIC["target"]
        assert response.json["exit_plan"]["revision"] == 1

    def test_get_at_a_version_returns_that_version(self, api: Api) -> None:
        contract_id = api.ready_contract()
        response = api.get(f"/v1/contracts/{contract_id}?version=2")
        assert response.headers["ETag"] == '"2"'
        assert response.json["point_of_contact"] is not None
        assert response.json["sla_metrics"] == []


class TestCommands:
    def test_each_command_answers_the_new_version_and_its_position(self, api: Api) -> None:
        contract_id = api.draft().json["id"]
        response = api.post(f"/v1/contracts/{contract_id}/exit-plan", EXIT_PLAN, version=1)
        assert response.status_code == 200
        assert response.headers["ETag"] == '"2"'
        assert "Ledger-Position" in response.headers
        assert response.json["version"] == 2

    def test_activation_without_requirements_is_a_409_naming_what_is_missing(
        self, api: Api
    ) -> None:
        contract_id = api.draft().json["id"]
        response = api.post(f"/v1/contracts/{contract_id}/activation", {}, version=1)
        assert response.status_code == 409
        assert response.mimetype == "application/problem+json"
        assert response.json["rule"] == "ActivationRequirementsMissing"
        assert "exit plan" in response.json["detail"]

    def test_activation_before_any_sla_metric_takes_effect_is_a_409_naming_it(
        self, api: Api
    ) -> None:
        # Given the only SLA metric takes effect on 1 March
        contract_id = api.draft().json["id"]
        for version, (path, body) in enumerate(
            [("point-of-contact", POINT_OF_CONTACT),
             ("sla-metrics", {**SLA_METRIC, "effective_from": "2026-03-01"}),
             ("exit-plan", EXIT_PLAN)], start=1):
            assert api.post(f"/v1/contracts/{contract_id}/{path}", body,
                            version=version).status_code == 200
        # When it goes live on 1 February: refused, nothing recorded
        early = api.post(f"/v1/contracts/{contract_id}/activation",
                         {"effective_date": "2026-02-01"}, version=4)
        assert early.status_code == 409, early.json
        assert early.json["rule"] == "ActivationRequirementsMissing"
        assert "SLA metric in force on 2026-02-01" in early.json["detail"]
        assert api.get(f"/v1/contracts/{contract_id}").headers["ETag"] == '"4"'
        # ... and from the metric's first day it goes live
        assert api.post(f"/v1/contracts/{contract_id}/activation",
                        {"effective_date": "2026-03-01"}, version=4).status_code == 200

    def test_amendment_and_sla_amendment_are_reflected(self, api: Api) -> None:
        contract_id = api.active_contract()
        amended = api.post(f"/v1/contracts/{contract_id}/amendments", {
            "changes": {"value": {"amount": "1300000.00", "currency": "EUR"}},
            "rationale": "Scope grew to two more sites", "effective_date": "2026-06-01"},
            version=5)
        assert amended.status_code == 200, amended.json
        sla = api.post(f"/v1/contracts/{contract_id}/sla-amendments", {
            "target_changes": [{"metric_id": "availability", "target": "99.95"}],
            "effective_from": "2026-07-01", "rationale": "Tighter after upgrade"}, version=6)
        assert sla.status_code == 200, sla.json
        assert sla.json["value"]["amount"] == "1300000.00"
        assert sla.json["sla_metrics"][0]["target"] == "99.95"
        assert sla.json["amendments"][0]["effective_date"] == "2026-06-01"

    def test_a_terminated_contract_refuses_every_act(self, api: Api, as_role) -> None:  # type: ignore[no-untyped-def]
        contract_id = api.active_contract()
        ended = as_role("admin").post(f"/v1/contracts/{contract_id}/termination", {
            "reason": "insourced", "effective_date": "2026-12-31",
            "override_reason": "board decision: exit at once"}, version=5)
        assert ended.status_code == 200, ended.json
        response = api.post(f"/v1/contracts/{contract_id}/point-of-contact", POINT_OF_CONTACT,
                            version=7)
        assert response.status_code == 409
        assert response.json["rule"] == "ContractTerminated"


class TestEvents:
    def test_events_are_oldest_first_and_hash_linked(self, api: Api) -> None:
        contract_id = api.active_contract()
        events = api.get(f"/v1/contracts/{contract_id}/events").json["events"]
        assert [e["type"] for e in events] == [
            "ContractDrafted", "PointOfContactDesignated", "SlaMetricDefined",
            "ExitPlanDefined", "ContractActivated"]
        assert events[0]["previous_hash"] == "0" * 64
        for before, after in itertools.pairwise(events):
            assert after["previous_hash"] == before["hash"]

    def test_events_page_with_after_and_limit(self, api: Api) -> None:
        contract_id = api.active_contract()
        page = api.get(f"/v1/contracts/{contract_id}/events?after=1&limit=2").json
        assert [e["version"] for e in page["events"]] == [2, 3]
        assert page["next_after"] == 3
        last = api.get(f"/v1/contracts/{contract_id}/events?after=3&limit=10").json
        assert last["next_after"] is None

    def test_events_record_the_actor_and_the_request_id(self, api: Api) -> None:
        response = api.client.post("/v1/contracts", json=contract_body(),
                                   headers=api.headers({"X-Request-ID": "trace-42"}))
        assert response.headers["X-Request-ID"] == "trace-42"
        (event,) = api.get(f"/v1/contracts/{response.json['id']}/events").json["events"]
        assert event["correlation_id"] == "trace-42"
        assert event["actor"]["role"] == "procurement"

    def test_a_request_id_is_generated_when_none_is_sent(self, api: Api) -> None:
        assert api.get("/healthz").headers["X-Request-ID"]


class TestTimeTravel:
    def test_as_of_an_instant_returns_what_the_ledger_knew_then(self, api: Api) -> None:
        drafted = api.draft()
        contract_id = drafted.json["id"]
        known_then = drafted.json["updated_at"]
        api.post(f"/v1/contracts/{contract_id}/exit-plan", EXIT_PLAN, version=1)
        then = api.get(f"/v1/contracts/{contract_id}?as_of={known_then}")
        assert then.status_code == 200, then.json
        assert then.headers["ETag"] == '"1"'
        assert then.json["exit_plan"] is None
        now = api.get(f"/v1/contracts/{contract_id}?as_of=2999-01-01T00:00:00Z")
        assert now.json["version"] == 2

    def test_before_the_contract_existed_is_a_404(self, api: Api) -> None:
        contract_id = api.draft().json["id"]
        response = api.get(f"/v1/contracts/{contract_id}?as_of=2000-01-01T00:00:00Z")
        assert response.status_code == 404

    @pytest.mark.parametrize("query", ["as_of=yesterday", "as_of=2026-01-01T00:00:00",
                                       "as_of=2026-01-01T00:00:00Z&version=1"])
    def test_a_bad_as_of_is_a_422(self, api: Api, query: str) -> None:
        contract_id = api.draft().json["id"]
        assert api.get(f"/v1/contracts/{contract_id}?{query}").status_code == 422
