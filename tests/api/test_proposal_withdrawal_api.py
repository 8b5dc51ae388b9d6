"""Withdrawing an improvement proposal over the API (on both stores)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support import Api

IDEA = {"proposal_id": "portal", "title": "Self-service portal",
        "expected_benefit": "Fewer tickets"}
WITHDRAWAL = {"reason": "superseded by the new service desk tooling"}


def with_proposal(api: Api, proposer: Api) -> tuple[str, str]:
    """An active contract (version 5) with the proposal "portal" (version 6)."""
    contract_id = api.active_contract()
    response = proposer.post(f"/v1/contracts/{contract_id}/improvement-proposals", IDEA,
                             version=5)
    assert response.status_code == 200, response.json
    return contract_id, f"/v1/contracts/{contract_id}/improvement-proposals/portal/withdrawal"


def events_after(api: Api, contract_id: str, after: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = api.get(
        f"/v1/contracts/{contract_id}/events?after={after}").json["events"]
    return events


class TestWithdrawal:
    def test_the_vendor_withdraws_its_own_proposal(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        acme = as_vendor("acme")
        contract_id, path = with_proposal(api, acme)
        response = acme.post(path, WITHDRAWAL, version=6)
        assert response.status_code == 200, response.json
        (proposal,) = response.json["improvement_proposals"]
        assert proposal["status"] == "withdrawn"
        assert proposal["decision_reason"] == WITHDRAWAL["reason"]
        (withdrawn,) = events_after(api, contract_id, 6)
        assert withdrawn["type"] == "ProposalWithdrawn"
        assert withdrawn["data"] == {"proposal_id": "portal", **WITHDRAWAL}

    def test_procurement_withdraws_any_proposal(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        _, path = with_proposal(api, as_vendor("acme"))
        assert api.post(path, WITHDRAWAL, version=6).status_code == 200

    def test_a_vendor_does_not_withdraw_procurements_proposal(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        contract_id, path = with_proposal(api, api)
        response = as_vendor("acme").post(path, WITHDRAWAL, version=6)
        assert response.status_code == 409
        assert response.json["rule"] == "NotTheProposer"
        assert events_after(api, contract_id, 6) == []

    def test_withdrawing_twice_is_a_409(self, api: Api) -> None:
        contract_id, path = with_proposal(api, api)
        assert api.post(path, WITHDRAWAL, version=6).status_code == 200
        again = api.post(path, WITHDRAWAL, version=7)
        assert again.status_code == 409
        assert again.json["rule"] == "IllegalProposalTransition"
        assert len(events_after(api, contract_id, 6)) == 1

    def test_a_decided_proposal_is_not_withdrawn(self, api: Api) -> None:
        _, path = with_proposal(api, api)
        decision = path.replace("/withdrawal", "/decision")
        assert api.post(decision, {"decision": "rejected", "reason": "no budget"},
                        version=6).status_code == 200
        response = api.post(path, WITHDRAWAL, version=7)
        assert response.status_code == 409
        assert response.json["rule"] == "IllegalProposalTransition"
        assert "rejected" in response.json["detail"]

    def test_an_unknown_proposal_is_named(self, api: Api) -> None:
        _, path = with_proposal(api, api)
        response = api.post(path.replace("/portal/", "/nope/"), WITHDRAWAL, version=6)
        assert response.status_code == 409
        assert response.json["rule"] == "UnknownProposal"

    def test_another_vendors_contract_is_not_found(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        contract_id, path = with_proposal(api, as_vendor("acme"))
        response = as_vendor("globex").post(path, WITHDRAWAL, version=6)
        assert response.status_code == 404
        assert events_after(api, contract_id, 6) == []

    def test_an_auditor_may_not(self, api: Api, as_role: Callable[[str], Api]) -> None:
        _, path = with_proposal(api, api)
        assert as_role("auditor").post(path, WITHDRAWAL, version=6).status_code == 403

    def test_a_stale_if_match_is_a_412(self, api: Api) -> None:
        contract_id, path = with_proposal(api, api)
        response = api.post(path, WITHDRAWAL, version=5)
        assert response.status_code == 412
        assert response.json["current_version"] == 6
        assert events_after(api, contract_id, 6) == []

    def test_if_match_is_required(self, api: Api) -> None:
        _, path = with_proposal(api, api)
        assert api.post(path, WITHDRAWAL).status_code == 428

    def test_a_bad_body_is_a_422_naming_the_field(self, api: Api) -> None:
        contract_id, path = with_proposal(api, api)
        for body, pointer in (({}, "/reason"), ({"reason": 7}, "/reason"),
                              ({"reason": "x", "why": "y"}, "/why")):
            response = api.post(path, body, version=6)
            assert response.status_code == 422, body
            assert pointer in [e["pointer"] for e in response.json["errors"]], body
        blank = api.post(path, {"reason": "  "}, version=6)
        assert blank.status_code == 422
        assert events_after(api, contract_id, 6) == []

    def test_an_idempotent_retry_gets_the_first_answer(self, api: Api) -> None:
        contract_id, path = with_proposal(api, api)
        key = {"Idempotency-Key": "withdraw-portal-1"}
        first = api.post(path, WITHDRAWAL, version=6, headers=key)
        retry = api.post(path, WITHDRAWAL, version=6, headers=key)
        assert first.status_code == retry.status_code == 200
        assert retry.json == first.json
        assert len(events_after(api, contract_id, 6)) == 1
