"""A validation error the domain finds (a rule across fields, the contract's currency)
points at the offending field of the request body, as schema errors do, never at `/`."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import TestResponse

from tests.support import Api, contract_body
from tests.support.bodies import PENALTY_RULE

EUR_CAP = {"amount": {"amount": "50000.00", "currency": "EUR"}}
USD_CAP = {"amount": {"amount": "50000.00", "currency": "USD"}}


def pointers(response: TestResponse) -> list[str]:
    assert response.status_code == 422, response.json
    assert response.json["type"] == "/problems/validation-failed"
    return [e["pointer"] for e in response.json["errors"]]


def post(api: Api, contract_id: str, path: str, body: dict[str, Any],
         version: int) -> TestResponse:
    return api.post(f"/v1/contracts/{contract_id}/{path}", body, version=version)


class TestDomainValidationPointsAtTheField:
    def test_a_metric_repeated_in_a_report_points_at_its_second_mention(self, api: Api) -> None:
        contract_id = api.active_contract()
        response = post(api, contract_id, "performance-reports", {
            "period": "2026-01", "source": "monitoring", "values": [
                {"metric_id": "availability", "value": "99.9"},
                {"metric_id": "availability", "value": "99.8"}]}, 5)
        assert pointers(response) == ["/values/1/metric_id"]

    @pytest.mark.parametrize("cap", ["period_cap", "year_cap"])
    def test_a_cap_in_another_currency_points_at_that_cap(self, api: Api, cap: str) -> None:
        contract_id = api.active_contract()
        rule = {**PENALTY_RULE, "period_cap": EUR_CAP, "year_cap": EUR_CAP, cap: USD_CAP}
        response = post(api, contract_id, "rules", rule, 5)
        assert pointers(response) == [f"/{cap}/amount/currency"]

    def test_a_cap_amended_into_another_currency_points_into_the_changes(self,
                                                                         api: Api) -> None:
        contract_id = api.active_contract()
        assert post(api, contract_id, "rules", PENALTY_RULE, 5).status_code == 200
        response = post(api, contract_id, f"rules/{PENALTY_RULE['rule_id']}/amendments", {
            "changes": {"year_cap": USD_CAP, "effective_from": "2026-06-01"},
            "rationale": "renegotiated"}, 6)
        assert pointers(response) == ["/changes/year_cap/amount/currency"]

    def test_repeated_tier_thresholds_point_at_the_tiers(self, api: Api) -> None:
        contract_id = api.active_contract()
        rule = {**PENALTY_RULE, "tiers": [{"threshold": "99.9", "percent": "5"},
                                          {"threshold": "99.9", "percent": "10"}]}
        assert pointers(post(api, contract_id, "rules", rule, 5)) == ["/tiers"]

    def test_a_trigger_amount_in_another_currency_points_at_its_currency(self,
                                                                         api: Api) -> None:
        contract_id = api.active_contract()
        response = post(api, contract_id, "exit-triggers", {
            "trigger_id": "costly", "kind": "credits_exceed",
            "amount": {"amount": "10.00", "currency": "USD"}}, 5)
        assert pointers(response) == ["/amount/currency"]

    def test_an_amendment_into_another_currency_points_at_it(self, api: Api) -> None:
        contract_id = api.active_contract()
        response = post(api, contract_id, "amendments", {
            "changes": {"value": {"amount": "10.00", "currency": "USD"}},
            "rationale": "rebased", "effective_date": "2026-06-01"}, 5)
        assert pointers(response) == ["/changes/value/currency"]

    def test_a_value_below_what_the_term_charged_points_at_the_value(self, api: Api) -> None:
        # By 1 June 2026 the 1,200,000.00 term had charged more than 1,000.00.
        contract_id = api.active_contract()
        response = post(api, contract_id, "amendments", {
            "changes": {"value": {"amount": "1000.00", "currency": "EUR"}},
            "rationale": "cut", "effective_date": "2026-06-01"}, 5)
        assert pointers(response) == ["/changes/value"]

    def test_an_amended_end_before_the_start_points_at_the_end(self, api: Api) -> None:
        contract_id = api.draft().json["id"]
        response = post(api, contract_id, "amendments", {
            "changes": {"end": "2025-06-01"}, "rationale": "shorter",
            "effective_date": "2026-01-01"}, 1)
        assert pointers(response) == ["/changes/end"]

    def test_a_draft_whose_term_ends_before_it_starts_points_at_the_end(self,
                                                                        api: Api) -> None:
        response = api.post("/v1/contracts", {
            **contract_body(), "term": {"start": "2026-01-01", "end": "2025-12-31",
                                     "notice_period_days": 0, "renewal": "none"}})
        assert pointers(response) == ["/term/end"]

    def test_too_many_decimals_point_at_the_amount(self, api: Api) -> None:
        response = api.post("/v1/contracts", {
            **contract_body(), "value": {"amount": "10.001", "currency": "EUR"}})
        assert pointers(response) == ["/value/amount"]

    def test_a_repeated_finding_id_points_at_its_second_mention(self, api: Api) -> None:
        contract_id = api.active_contract()
        finding = {"finding_id": "patching", "category": "security", "severity": "high",
                   "description": "Patching lags", "owner": "Acme", "due_date": "2026-09-30"}
        response = post(api, contract_id, "health-checks", {
            "check_id": "hc-1", "conducted_on": "2026-06-30", "assessors": ["Ana"],
            "scope": "all", "overall_rating": "amber", "findings": [finding, finding]}, 5)
        assert pointers(response) == ["/findings/1/finding_id"]

    def test_an_adjusted_amount_in_another_currency_points_at_it(self, api: Api,
                                                                 as_vendor: Any) -> None:
        contract_id = api.active_contract(value={"amount": "1096000.00", "currency": "EUR"})
        assert post(api, contract_id, "rules", PENALTY_RULE, 5).status_code == 200
        assert post(api, contract_id, "performance-reports", {
            "period": "2026-01", "source": "monitoring",
            "values": [{"metric_id": "availability", "value": "99.8"}]}, 6).status_code == 200
        penalty = api.get(f"/v1/contracts/{contract_id}/credits").json["penalties"][0]
        base = f"penalties/{penalty['penalty_id']}"
        assert post(as_vendor("acme"), contract_id, f"{base}/dispute",
                    {"reason": "planned"}, 9).status_code == 200
        response = post(api, contract_id, f"{base}/dispute-resolution", {
            "outcome": "adjusted", "amount": {"amount": "10.00", "currency": "USD"},
            "reason": "partly"}, 10)
        assert pointers(response) == ["/amount/currency"]
