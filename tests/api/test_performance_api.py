"""SLA performance over the API: rules, reports, credits, corrections, waivers, disputes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.support import Api
from tests.support.bodies import INCENTIVE_RULE, PENALTY_RULE


def with_rules(api: Api) -> tuple[str, int]:
    """An active contract (value 1,096,000.00 EUR: 1,000.00 a day) with both rules."""
    contract_id = api.active_contract(value={"amount": "1096000.00", "currency": "EUR"})
    for version, rule in enumerate((PENALTY_RULE, INCENTIVE_RULE), start=5):
        response = api.post(f"/v1/contracts/{contract_id}/rules", rule, version=version)
        assert response.status_code == 200, response.json
    return contract_id, 7


def report(api: Api, contract_id: str, version: int, period: str, value: str,
           **extra: Any) -> Any:
    return api.post(f"/v1/contracts/{contract_id}/performance-reports", {
        "period": period, "values": [{"metric_id": "availability", "value": value}],
        "source": "vendor monitoring", "evidence_ref": "https://evidence.example/1", **extra},
        version=version)


def event_types(api: Api, contract_id: str, after: int) -> list[str]:
    events = api.get(f"/v1/contracts/{contract_id}/events?after={after}").json["events"]
    return [e["type"] for e in events]


class TestReports:
    def test_a_breach_and_its_credit_commit_together(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        response = report(api, contract_id, version, "2026-01", "99.8")
        assert response.status_code == 200, response.json
        assert event_types(api, contract_id, version) == [
            "PerformanceReported", "SlaBreached", "PenaltyAssessed"]
        credits = api.get(f"/v1/contracts/{contract_id}/credits").json
        assert credits["penalties"][0]["amount"] == {"amount": "1550.00", "currency": "EUR"}
        assert credits["totals"]["overall"]["credits_owed_by_vendor"]["amount"] == "1550.00"
        assert credits["totals"]["by_contract_year"][0]["contract_year"] == 1

    def test_the_contract_view_shows_compliance_per_metric(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        report(api, contract_id, version, "2026-01", "99.8")
        metric = api.get(f"/v1/contracts/{contract_id}").json["sla_metrics"][0]
        assert metric["target"] == "99.9"
        assert metric["compliance"] == {"periods_evaluated": 1, "periods_met": 0,
                                        "last_period": "2026-01", "last_met": False}

    def test_an_outstanding_period_earns_the_bonus(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        report(api, contract_id, version, "2026-01", "99.995")
        credits = api.get(f"/v1/contracts/{contract_id}/credits").json
        assert credits["incentives"][0]["amount"] == {"amount": "620.00", "currency": "EUR"}

    def test_reporting_twice_is_a_409_unless_it_is_a_correction(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        report(api, contract_id, version, "2026-01", "99.0")
        again = report(api, contract_id, version + 3, "2026-01", "99.0")
        assert again.status_code == 409
        assert again.json["rule"] == "PerformanceAlreadyReported"
        corrected = report(api, contract_id, version + 3, "2026-01", "99.7",
                           correction={"reason": "monitoring double-counted an outage"})
        assert corrected.status_code == 200, corrected.json
        assert event_types(api, contract_id, version + 3) == [
            "PerformanceCorrected", "PenaltyReversed", "SlaBreached", "PenaltyAssessed"]
        statuses = sorted(p["status"] for p in
                          api.get(f"/v1/contracts/{contract_id}/credits").json["penalties"])
        assert statuses == ["assessed", "reversed"]

    def test_closing_a_period_assesses_missing_reports(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        response = api.post(f"/v1/contracts/{contract_id}/periods/2026-02/close", {},
                            version=version)
        assert response.status_code == 200, response.json
        assert event_types(api, contract_id, version) == [
            "PeriodClosed", "SlaBreached", "PenaltyAssessed"]
        again = api.post(f"/v1/contracts/{contract_id}/periods/2026-02/close", {},
                         version=version + 3)
        assert again.status_code == 409

    @pytest.mark.parametrize(("body", "pointer"), [
        ({"period": "2026-01", "values": [{"metric_id": "availability", "value": 99.9}],
          "source": "x"}, "/values/0/value"),
        ({"period": "2026-01", "values": [{"metric_id": "availability", "value": "-1"}],
          "source": "x"}, "/values/0"),
        ({"period": "January", "values": [{"metric_id": "availability", "value": "99"}],
          "source": "x"}, "/period"),
        ({"period": "2026-01", "values": [], "source": "x"}, "/values"),
    ])
    def test_bad_reports_are_422_and_record_nothing(self, api: Api, body: Any,
                                                    pointer: str) -> None:
        contract_id, version = with_rules(api)
        response = api.post(f"/v1/contracts/{contract_id}/performance-reports", body,
                            version=version)
        assert response.status_code == 422, response.json
        assert pointer in [e["pointer"] for e in response.json["errors"]]
        assert event_types(api, contract_id, version) == []

    @pytest.mark.parametrize(("period", "metric", "rule"), [
        ("2026-Q1", "availability", "WrongMeasurementPeriod"),
        ("2026-01", "latency", "UnknownSlaMetric"),
        ("2031-01", "availability", "EffectiveDateOutOfTerm"),
    ])
    def test_reports_that_break_a_rule_are_409(self, api: Api, period: str, metric: str,
                                               rule: str) -> None:
        contract_id, version = with_rules(api)
        response = api.post(f"/v1/contracts/{contract_id}/performance-reports", {
            "period": period, "values": [{"metric_id": metric, "value": "99"}],
            "source": "x"}, version=version)
        assert response.status_code == 409
        assert response.json["rule"] == rule


class TestVendors:
    def test_a_vendor_reports_and_disputes_on_its_own_contract(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        contract_id, version = with_rules(api)  # vendor acme
        acme = as_vendor("acme")
        assert report(acme, contract_id, version, "2026-01", "99.0").status_code == 200
        penalty_id = acme.get(f"/v1/contracts/{contract_id}/credits").json[
            "penalties"][0]["penalty_id"]
        disputed = acme.post(f"/v1/contracts/{contract_id}/penalties/{penalty_id}/dispute",
                             {"reason": "the outage was the customer's change"},
                             version=version + 3)
        assert disputed.status_code == 200, disputed.json

    def test_a_vendor_cannot_report_or_dispute_on_another_vendors_contract(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        contract_id, version = with_rules(api)
        report(api, contract_id, version, "2026-01", "99.0")
        penalty_id = api.get(f"/v1/contracts/{contract_id}/credits").json[
            "penalties"][0]["penalty_id"]
        globex = as_vendor("globex")
        assert report(globex, contract_id, version + 3, "2026-02", "99.0").status_code == 404
        assert globex.post(f"/v1/contracts/{contract_id}/penalties/{penalty_id}/dispute",
                           {"reason": "no"}, version=version + 3).status_code == 404
        assert globex.get(f"/v1/contracts/{contract_id}/credits").status_code == 404
        assert event_types(api, contract_id, version + 3) == []

    def test_a_vendor_cannot_correct_away_its_own_penalty(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        contract_id, version = with_rules(api)
        report(api, contract_id, version, "2026-01", "99.0")
        response = report(as_vendor("acme"), contract_id, version + 3, "2026-01", "100",
                          correction={"reason": "our monitoring says otherwise"})
        assert response.status_code == 403
        assert event_types(api, contract_id, version + 3) == []

    def test_a_vendor_cannot_waive_its_own_penalty(self, api: Api,
                                                   as_vendor: Callable[[str], Api]) -> None:
        contract_id, version = with_rules(api)
        report(api, contract_id, version, "2026-01", "99.0")
        penalty_id = api.get(f"/v1/contracts/{contract_id}/credits").json[
            "penalties"][0]["penalty_id"]
        response = as_vendor("acme").post(
            f"/v1/contracts/{contract_id}/penalties/{penalty_id}/waiver",
            {"reason": "please", "approver": "me"}, version=version + 3)
        assert response.status_code == 403


class TestCreditLifecycle:
    def penalised(self, api: Api) -> tuple[str, int, str]:
        contract_id, version = with_rules(api)
        report(api, contract_id, version, "2026-01", "99.0")
        penalty_id = api.get(f"/v1/contracts/{contract_id}/credits").json[
            "penalties"][0]["penalty_id"]
        return contract_id, version + 3, penalty_id

    def test_waiving_then_waiving_again_is_a_409(self, api: Api) -> None:
        contract_id, version, penalty_id = self.penalised(api)
        path = f"/v1/contracts/{contract_id}/penalties/{penalty_id}/waiver"
        body = {"reason": "goodwill after the upgrade", "approver": "Head of procurement"}
        assert api.post(path, body, version=version).status_code == 200
        second = api.post(path, body, version=version + 1)
        assert second.status_code == 409
        assert second.json["rule"] == "IllegalCreditTransition"

    def test_resolving_an_undisputed_penalty_is_a_409(self, api: Api) -> None:
        contract_id, version, penalty_id = self.penalised(api)
        response = api.post(
            f"/v1/contracts/{contract_id}/penalties/{penalty_id}/dispute-resolution",
            {"outcome": "upheld", "reason": "logs agree"}, version=version)
        assert response.status_code == 409

    def test_a_dispute_adjusted_to_an_amount(self, api: Api, as_vendor) -> None:  # type: ignore[no-untyped-def]
        contract_id, version, penalty_id = self.penalised(api)
        base = f"/v1/contracts/{contract_id}/penalties/{penalty_id}"
        as_vendor("acme").post(f"{base}/dispute", {"reason": "partial outage only"},
                               version=version)
        resolved = api.post(f"{base}/dispute-resolution", {
            "outcome": "adjusted", "amount": {"amount": "1000.00", "currency": "EUR"},
            "reason": "half the sites were up"}, version=version + 1)
        assert resolved.status_code == 200, resolved.json
        totals = api.get(f"/v1/contracts/{contract_id}/credits").json["totals"]
        assert totals["overall"]["credits_owed_by_vendor"]["amount"] == "1000.00"

    def test_an_unknown_penalty_is_a_409(self, api: Api) -> None:
        contract_id, version, _ = self.penalised(api)
        response = api.post(f"/v1/contracts/{contract_id}/penalties/{uuid.uuid4()}/waiver",
                            {"reason": "x", "approver": "y"}, version=version)
        assert response.status_code == 409
        assert response.json["rule"] == "UnknownPenalty"


class TestRulesAndTriggers:
    def test_a_rule_is_amended_from_a_later_date_and_retired(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        amended = api.post(f"/v1/contracts/{contract_id}/rules/availability-credit/amendments", {
            "changes": {"tiers": [{"threshold": "99.9", "percent": "7"}],
                        "effective_from": "2026-07-01"},
            "rationale": "renegotiated"}, version=version)
        assert amended.status_code == 200, amended.json
        rule = next(r for r in amended.json["rules"] if r["rule_id"] == "availability-credit")
        assert [v["effective_from"] for v in rule["versions"]] == ["2026-01-01", "2026-07-01"]
        report(api, contract_id, version + 1, "2026-06", "99.8")
        report(api, contract_id, version + 4, "2026-07", "99.8")
        amounts = [p["amount"]["amount"] for p in
                   api.get(f"/v1/contracts/{contract_id}/credits").json["penalties"]]
        assert amounts == ["1500.00", "2170.00"]  # 5% of 30 days, then 7% of 31 days
        retired = api.post(f"/v1/contracts/{contract_id}/rules/availability-credit/retirement",
                           {"effective_from": "2026-09-01", "reason": "replaced"},
                           version=version + 7)
        assert retired.status_code == 200, retired.json

    def test_a_duplicate_rule_is_a_409(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        response = api.post(f"/v1/contracts/{contract_id}/rules", PENALTY_RULE, version=version)
        assert response.status_code == 409
        assert response.json["rule"] == "RuleAlreadyDefined"

    @pytest.mark.parametrize("change", [
        {"tiers": []}, {"kind": "bonus"}, {"period_cap": {"percent_of_fee": "5",
                                                          "amount": {"amount": "1.00",
                                                                     "currency": "EUR"}}},
        {"consecutive_periods": 2}, {"tiers": [{"threshold": "99.9", "percent": "0"}]},
    ])
    def test_an_invalid_rule_is_a_422(self, api: Api, change: dict[str, Any]) -> None:
        contract_id, version = with_rules(api)
        response = api.post(f"/v1/contracts/{contract_id}/rules",
                            {**PENALTY_RULE, "rule_id": "other", **change}, version=version)
        assert response.status_code == 422, response.json

    def test_consecutive_breaches_fire_an_exit_trigger_in_the_same_write(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        defined = api.post(f"/v1/contracts/{contract_id}/exit-triggers", {
            "trigger_id": "chronic-outage", "kind": "consecutive_breaches",
            "metric_id": "availability", "periods": 2}, version=version)
        assert defined.status_code == 200, defined.json
        report(api, contract_id, version + 1, "2026-01", "99.0")
        second = report(api, contract_id, version + 4, "2026-02", "99.0")
        assert event_types(api, contract_id, version + 4)[-1] == "ExitTriggerFired"
        (trigger,) = second.json["exit_triggers"]
        (firing,) = trigger["firings"]
        assert [e["period"] for e in firing["evidence"]] == ["2026-01", "2026-02"]

    def test_an_incomplete_trigger_is_a_422(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        response = api.post(f"/v1/contracts/{contract_id}/exit-triggers", {
            "trigger_id": "t", "kind": "consecutive_breaches"}, version=version)
        assert response.status_code == 422


def activated_on(api: Api, day: str, **overrides: Any) -> tuple[str, int]:
    """A contract gone live on day with the penalty rule (version 6)."""
    contract_id = api.ready_contract(**overrides)
    response = api.post(f"/v1/contracts/{contract_id}/rules", PENALTY_RULE, version=4)
    assert response.status_code == 200, response.json
    response = api.post(f"/v1/contracts/{contract_id}/activation", {"effective_date": day},
                        version=5)
    assert response.status_code == 200, response.json
    return contract_id, 6


class TestTriggersInAnyOrder:
    def test_closing_the_missing_period_that_completes_a_run_fires_in_the_same_write(
        self, api: Api
    ) -> None:
        # Given three breaches in a row fire the trigger, and January and March breached
        contract_id, version = with_rules(api)
        assert api.post(f"/v1/contracts/{contract_id}/exit-triggers", {
            "trigger_id": "chronic-outage", "kind": "consecutive_breaches",
            "metric_id": "availability", "periods": 3}, version=version).status_code == 200
        report(api, contract_id, version + 1, "2026-01", "99.0")
        report(api, contract_id, version + 4, "2026-03", "99.0")
        # When February is closed with no report
        closed = api.post(f"/v1/contracts/{contract_id}/periods/2026-02/close", {},
                          version=version + 7)
        # Then the breach, its credit and the firing commit together
        assert closed.status_code == 200, closed.json
        assert event_types(api, contract_id, version + 7) == [
            "PeriodClosed", "SlaBreached", "PenaltyAssessed", "ExitTriggerFired"]
        (firing,) = closed.json["exit_triggers"][0]["firings"]
        assert [e["period"] for e in firing["evidence"]] == ["2026-01", "2026-02", "2026-03"]

    def test_a_back_dated_credit_that_takes_twelve_months_over_the_amount_fires(
        self, api: Api
    ) -> None:
        contract_id, version = with_rules(api)
        assert api.post(f"/v1/contracts/{contract_id}/exit-triggers", {
            "trigger_id": "too-costly", "kind": "credits_exceed",
            "amount": {"amount": "5000.00", "currency": "EUR"}},
            version=version).status_code == 200
        report(api, contract_id, version + 1, "2026-03", "99.8")  # 1,550.00
        report(api, contract_id, version + 4, "2026-04", "99.8")  # 1,500.00
        late = report(api, contract_id, version + 7, "2026-01", "99.0")  # 3,100.00
        assert late.status_code == 200, late.json
        assert event_types(api, contract_id, version + 7)[-1] == "ExitTriggerFired"


class TestPeriodsInService:
    def test_a_period_before_the_activation_date_is_a_409_and_records_nothing(
        self, api: Api
    ) -> None:
        contract_id, version = activated_on(api, "2026-03-01")
        response = report(api, contract_id, version, "2026-02", "99.0")
        assert response.status_code == 409, response.json
        assert response.json["rule"] == "PeriodNotInService"
        assert "2026-03-01" in response.json["detail"]
        closed = api.post(f"/v1/contracts/{contract_id}/periods/2026-02/close", {},
                          version=version)
        assert (closed.status_code, closed.json["rule"]) == (409, "PeriodNotInService")
        assert event_types(api, contract_id, version) == []
        assert api.get(f"/v1/contracts/{contract_id}/credits").json["penalties"] == []

    def test_the_first_period_in_service_is_assessed(self, api: Api) -> None:
        contract_id, version = activated_on(api, "2026-03-15")
        assert report(api, contract_id, version, "2026-03", "99.8").status_code == 200
        assert event_types(api, contract_id, version)[-1] == "PenaltyAssessed"


class TestFees:
    def test_a_month_straddling_the_term_end_is_charged_for_its_days_inside_it(
        self, api: Api
    ) -> None:
        # 319,000.00 EUR over 2026-01-01 to 2026-11-15: 1,000.00 a day, November 15 days
        contract_id, version = activated_on(
            api, "2026-01-01", value={"amount": "319000.00", "currency": "EUR"},
            term={"start": "2026-01-01", "end": "2026-11-15", "notice_period_days": 30,
                  "renewal": "none"})
        assert report(api, contract_id, version, "2026-11", "99.8").status_code == 200
        (penalty,) = api.get(f"/v1/contracts/{contract_id}/credits").json["penalties"]
        assert penalty["amount"] == {"amount": "750.00", "currency": "EUR"}
        inputs = penalty["calculation"]["inputs"]
        assert (inputs["period_fee"], inputs["period_days_in_term"]) == ("15000", 15)
        assert (inputs["year_fee"], inputs["year_days_in_term"]) == ("319000", 319)

    def test_a_value_below_what_the_term_charged_is_a_422(self, api: Api) -> None:
        contract_id, version = with_rules(api)
        response = api.post(f"/v1/contracts/{contract_id}/amendments", {
            "changes": {"value": {"amount": "150000.00", "currency": "EUR"}},
            "rationale": "cut", "effective_date": "2026-06-01"}, version=version)
        assert response.status_code == 422, response.json
        assert "charged" in response.json["detail"]
        assert event_types(api, contract_id, version) == []
