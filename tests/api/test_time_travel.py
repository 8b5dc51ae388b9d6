"""Bitemporal reads of a contract: what applied on a day (`effective_on`), as known now,
at one of its versions or at an instant (`as_of`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import schemathesis
from eventsourcing.domain import Snapshot
from werkzeug.test import TestResponse

from service.app import build_ledger
from service.application import ContractLedger
from service.config import Settings
from tests.support import Api
from tests.support.bodies import INCENTIVE_RULE, PENALTY_RULE

SPEC = schemathesis.openapi.from_path(Path(__file__).resolve().parents[2] / "openapi.yaml")
CONTRACT = "/v1/contracts/{contract_id}"


def conforming(response: TestResponse) -> Any:
    """The body of a 200 answer, checked against openapi.yaml."""
    assert response.status_code == 200, response.json
    SPEC[CONTRACT]["GET"].validate_response(response)
    return response.json


def act(api: Api, contract_id: str, version: int, path: str, body: Any) -> int:
    response = api.post(f"/v1/contracts/{contract_id}/{path}", body, version=version)
    assert response.status_code == 200, response.json
    return int(response.json["version"])


def amended(api: Api) -> str:
    """An active contract (activated 2026-01-01) whose value, title, availability target
    and penalty rule change on 2026-06-01, with an incentive rule retired from 2026-09-01
    (version 11)."""
    contract_id = api.active_contract()
    version = act(api, contract_id, 5, "rules", PENALTY_RULE)
    version = act(api, contract_id, version, "rules", INCENTIVE_RULE)
    version = act(api, contract_id, version, "amendments", {
        "changes": {"value": {"amount": "1300000.00", "currency": "EUR"},
                    "title": "Managed network services II"},
        "rationale": "two more sites", "effective_date": "2026-06-01"})
    version = act(api, contract_id, version, "sla-amendments", {
        "target_changes": [{"metric_id": "availability", "target": "99.95"}],
        "effective_from": "2026-06-01", "rationale": "after the upgrade"})
    version = act(api, contract_id, version, f"rules/{PENALTY_RULE['rule_id']}/amendments", {
        "changes": {"tiers": [{"threshold": "99.95", "percent": "7"}],
                    "effective_from": "2026-06-01"}, "rationale": "renegotiated"})
    version = act(api, contract_id, version, f"rules/{INCENTIVE_RULE['rule_id']}/retirement",
                  {"effective_from": "2026-09-01", "reason": "replaced"})
    assert version == 11
    return contract_id


class TestWhatAppliedOnADay:
    def test_the_day_before_the_amendments_took_effect_shows_the_terms_then(
        self, api: Api
    ) -> None:
        contract_id = amended(api)
        contract = conforming(api.get(f"/v1/contracts/{contract_id}?effective_on=2026-05-31"))
        applied = contract["effective_on"]
        assert applied["date"] == "2026-05-31"
        assert applied["status"] == "active"
        assert applied["in_term"] is True
        assert applied["value"] == {"amount": "1200000.00", "currency": "EUR"}
        assert applied["terms"]["title"] == "Managed network services"
        assert applied["amendments_applied"] == []
        assert [(m["metric_id"], m["target"]) for m in applied["sla_metrics"]] == [
            ("availability", "99.9")]
        rules = {r["rule_id"]: r for r in applied["rules"]}
        assert rules["availability-credit"]["version"]["tiers"] == PENALTY_RULE["tiers"]
        assert rules["availability-bonus"]["retired_from"] == "2026-09-01"

    def test_from_their_effective_date_the_amendments_apply(self, api: Api) -> None:
        contract_id = amended(api)
        applied = conforming(api.get(
            f"/v1/contracts/{contract_id}?effective_on=2026-06-01"))["effective_on"]
        assert applied["value"] == {"amount": "1300000.00", "currency": "EUR"}
        assert applied["terms"]["title"] == "Managed network services II"
        assert applied["amendments_applied"] == [8]
        (availability,) = applied["sla_metrics"]
        assert (availability["target"], availability["target_from"]) == ("99.95", "2026-06-01")
        credit = next(r for r in applied["rules"] if r["kind"] == "penalty")
        assert credit["version"]["tiers"] == [{"threshold": "99.95", "percent": "7"}]

    def test_a_rule_retired_on_the_day_no_longer_applies(self, api: Api) -> None:
        contract_id = amended(api)
        applied = api.get(f"/v1/contracts/{contract_id}?effective_on=2026-09-01").json
        assert [r["rule_id"] for r in applied["effective_on"]["rules"]] == [
            "availability-credit"]

    def test_the_rest_of_the_representation_is_the_current_state(self, api: Api) -> None:
        contract_id = amended(api)
        plain = api.get(f"/v1/contracts/{contract_id}")
        with_day = api.get(f"/v1/contracts/{contract_id}?effective_on=2026-05-31")
        assert with_day.headers["ETag"] == plain.headers["ETag"] == '"11"'
        assert "effective_on" not in plain.json
        assert {k: v for k, v in with_day.json.items() if k != "effective_on"} == plain.json

    def test_after_the_term_ends_nothing_applies(self, api: Api) -> None:
        contract_id = amended(api)
        applied = conforming(api.get(
            f"/v1/contracts/{contract_id}?effective_on=2029-01-01"))["effective_on"]
        assert applied["in_term"] is False
        assert (applied["sla_metrics"], applied["rules"]) == ([], [])

    def test_a_draft_contract_was_a_draft_on_every_day(self, api: Api) -> None:
        contract_id = api.ready_contract()
        applied = conforming(api.get(
            f"/v1/contracts/{contract_id}?effective_on=2026-03-01"))["effective_on"]
        assert applied["status"] == "draft"
        assert (applied["sla_metrics"], applied["rules"]) == ([], [])

    def test_before_the_activation_date_no_metric_and_no_rule_applied(self, api: Api) -> None:
        # Given a contract with a penalty rule, gone live on 1 March
        contract_id = api.ready_contract()
        act(api, contract_id, 4, "rules", PENALTY_RULE)
        act(api, contract_id, 5, "activation", {"effective_date": "2026-03-01"})
        # Then on 28 February nothing applied (no period is judged by that day) ...
        before = conforming(api.get(
            f"/v1/contracts/{contract_id}?effective_on=2026-02-28"))["effective_on"]
        assert (before["status"], before["sla_metrics"], before["rules"]) == ("draft", [], [])
        # ... and from 1 March the metric and the rule did
        live = conforming(api.get(
            f"/v1/contracts/{contract_id}?effective_on=2026-03-01"))["effective_on"]
        assert live["status"] == "active"
        assert [r["rule_id"] for r in live["rules"]] == [PENALTY_RULE["rule_id"]]


class TestWhatAppliedOnADayAsKnownEarlier:
    def test_as_of_an_instant_before_an_amendment_was_recorded_shows_the_old_terms(
        self, api: Api
    ) -> None:
        contract_id = api.active_contract()
        known_then = api.get(f"/v1/contracts/{contract_id}").json["updated_at"]
        act(api, contract_id, 5, "amendments", {
            "changes": {"value": {"amount": "1100000.00", "currency": "EUR"}},
            "rationale": "retroactive discount", "effective_date": "2026-03-01"})
        then = api.get(f"/v1/contracts/{contract_id}?as_of={known_then}&effective_on=2026-04-01")
        assert then.headers["ETag"] == '"5"'
        assert conforming(then)["effective_on"]["value"]["amount"] == "1200000.00"
        now = api.get(f"/v1/contracts/{contract_id}?effective_on=2026-04-01")
        assert now.json["effective_on"]["value"]["amount"] == "1100000.00"

    def test_at_a_version_before_a_target_change_was_recorded_shows_the_old_target(
        self, api: Api
    ) -> None:
        contract_id = amended(api)
        then = api.get(f"/v1/contracts/{contract_id}?version=8&effective_on=2026-07-01")
        assert then.headers["ETag"] == '"8"'
        applied = conforming(then)["effective_on"]
        assert [m["target"] for m in applied["sla_metrics"]] == ["99.9"]
        assert applied["value"]["amount"] == "1300000.00"  # version 8 is the amendment

    def test_before_a_renewal_was_recorded_a_day_past_the_old_end_was_outside_the_term(
        self, api: Api
    ) -> None:
        contract_id = api.active_contract()
        act(api, contract_id, 5, "renewal", {"new_end": "2030-12-31", "reason": "extended",
                                             "override_reason": "late decision"})
        base = f"/v1/contracts/{contract_id}?effective_on=2029-06-01"
        assert api.get(f"{base}&version=5").json["effective_on"]["in_term"] is False
        renewed = conforming(api.get(base))["effective_on"]
        assert renewed["in_term"] is True
        assert renewed["term"]["end"] == "2030-12-31"


class TestBadInput:
    @pytest.mark.parametrize("day", ["tomorrow", "2026-02-30", "2026-13-01", "",
                                     "2026-06-01T00:00:00Z"])
    def test_an_effective_on_that_is_no_date_is_a_422_naming_the_parameter(
        self, api: Api, day: str
    ) -> None:
        contract_id = api.draft().json["id"]
        response = api.get(f"/v1/contracts/{contract_id}?effective_on={day}")
        assert response.status_code == 422
        assert response.mimetype == "application/problem+json"
        assert response.json["type"].endswith("/validation-failed")
        assert [e["pointer"] for e in response.json["errors"]] == ["/effective_on"]

    def test_an_unknown_contract_is_a_404(self, api: Api) -> None:
        response = api.get(f"/v1/contracts/{UUID(int=7)}?effective_on=2026-06-01")
        assert response.status_code == 404


class TestVendorScope:
    def test_a_vendor_reads_what_applied_on_its_own_contract(self, api: Api, as_vendor) -> None:  # type: ignore[no-untyped-def]
        contract_id = api.active_contract()
        response = as_vendor("acme").get(f"/v1/contracts/{contract_id}?effective_on=2026-06-01")
        assert response.status_code == 200
        assert response.json["effective_on"]["status"] == "active"

    def test_another_vendor_gets_a_404(self, api: Api, as_vendor) -> None:  # type: ignore[no-untyped-def]
        contract_id = api.active_contract()
        for query in ("effective_on=2026-06-01", "effective_on=2026-06-01&version=5",
                      "effective_on=2026-06-01&as_of=2999-01-01T00:00:00Z"):
            response = as_vendor("globex").get(f"/v1/contracts/{contract_id}?{query}")
            assert response.status_code == 404, query
            assert response.mimetype == "application/problem+json"


class TestContractsSnapshottedBeforeTheDraftedTermsWereKept:
    def test_what_applied_is_found_by_replaying_the_events(
        self, fresh_api: Api, fresh_ledger: ContractLedger, fresh_store_url: str
    ) -> None:
        contract_id = amended(fresh_api)
        # A snapshot as the previous release took it: no drafted terms, no class version.
        snapshot = Snapshot.take(fresh_ledger.repository.get(UUID(contract_id)))
        for key in ("_drafted_terms", "class_version"):
            snapshot.state.pop(key)
        assert fresh_ledger.snapshots is not None
        fresh_ledger.snapshots.put([snapshot])
        from_old_snapshot = build_ledger(Settings(database_url=fresh_store_url,
                                                  aggregate_cache_size=0))
        try:
            answer = from_old_snapshot.get_contract(UUID(contract_id),
                                                    effective_on=date(2026, 5, 31))
        finally:
            from_old_snapshot.close()
        assert answer["effective_on"]["terms"]["title"] == "Managed network services"
        assert answer == fresh_ledger.get_contract(UUID(contract_id),
                                                   effective_on=date(2026, 5, 31))
