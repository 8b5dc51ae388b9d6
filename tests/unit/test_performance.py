"""SLA performance: reports evaluated into service credits and incentives, without I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.contract import Contract
from domain.credits import (
    Cap,
    ExitTrigger,
    IncentiveRule,
    MetricValue,
    MissingData,
    PenaltyRule,
    Tier,
    TriggerKind,
)
from domain.exceptions import (
    ContractNotActive,
    DisputeWindowClosed,
    IllegalCreditTransition,
    InvalidValue,
    NothingToCorrect,
    PerformanceAlreadyReported,
    PeriodAlreadyClosed,
    PeriodNotOver,
    SlaMetricNotInForce,
    UnknownSlaMetric,
    WrongMeasurementPeriod,
)
from domain.money import Money
from domain.values import MeasurementPeriod, SlaTargetChange, TermChanges
from tests.unit.test_contract import BY, active, eur, ready

TODAY = date(2027, 6, 1)

# Availability: below 99.9 -> 5% of the period fee, below 99.5 -> 10%.
TIERS = (Tier(Decimal("99.9"), Decimal("5")), Tier(Decimal("99.5"), Decimal("10")))


def penalty_rule(**overrides: Any) -> PenaltyRule:
    fields: dict[str, Any] = {
        "rule_id": "availability-credit", "metric_id": "availability", "tiers": TIERS,
        "period_cap": None, "year_cap": None, "earn_back_periods": 0,
        "missing_data": MissingData.BREACH, "effective_from": date(2026, 1, 1)}
    fields.update(overrides)
    return PenaltyRule(**fields)


def contract_with(rule: PenaltyRule | None = None, **incentive: Any) -> Contract:
    # 1,096,000.00 EUR over the 1,096 days of 2026-2028: 1,000.00 a day, 31,000.00 in January.
    contract = active()
    contract.amend_terms(_value(Decimal("1096000.00")), "round fee", date(2026, 1, 1), BY)
    contract.define_penalty_rule(rule or penalty_rule(), BY)
    if incentive:
        contract.define_incentive_rule(IncentiveRule(**{
            "rule_id": "availability-bonus", "metric_id": "availability",
            "tiers": (Tier(Decimal("99.99"), Decimal("2")),), "consecutive_periods": 1,
            "period_cap": None, "year_cap": None, "effective_from": date(2026, 1, 1),
            **incentive}), BY)
    contract.collect_events()
    return contract


def _value(amount: Decimal) -> TermChanges:
    return TermChanges(value=Money(amount, "EUR"))


def report(contract: Contract, period: str, value: str, report_id: str = "r") -> list[str]:
    contract.report_performance(f"{report_id}-{period}", period,
                                (MetricValue("availability", Decimal(value)),), "vendor portal",
                                None, TODAY, BY)
    return [type(e).__name__ for e in contract.collect_events()]


def owed(contract: Contract) -> list[Money]:
    return [p["owed"] for p in contract.penalties.values()]


class TestEvaluation:
    def test_a_met_target_records_the_report_and_that_it_was_met(self) -> None:
        assert report(contract_with(), "2026-01", "99.95") == ["PerformanceReported", "SlaMet"]

    def test_exactly_at_the_target_is_met(self) -> None:
        assert report(contract_with(), "2026-01", "99.9")[-1] == "SlaMet"

    def test_a_breach_assesses_the_tier_it_falls_in(self) -> None:
        contract = contract_with()
        assert report(contract, "2026-01", "99.8") == [
            "PerformanceReported", "SlaBreached", "PenaltyAssessed"]
        assert owed(contract) == [eur("1550.00")]  # 5% of 31,000.00

    def test_exactly_at_a_tier_threshold_is_the_milder_tier(self) -> None:
        contract = contract_with()
        report(contract, "2026-01", "99.5")
        assert owed(contract) == [eur("1550.00")]

    def test_below_the_lowest_threshold_is_the_harshest_tier(self) -> None:
        contract = contract_with()
        report(contract, "2026-01", "99.4")
        assert owed(contract) == [eur("3100.00")]

    def test_the_calculation_is_recorded_for_the_auditor(self) -> None:
        contract = contract_with()
        report(contract, "2026-02", "99.4")
        (penalty,) = contract.penalties.values()
        calculation = penalty["calculation"]
        assert calculation["tier"] == {"threshold": "99.5", "percent": "10"}
        assert Decimal(calculation["inputs"]["period_fee"]) == Decimal("28000")
        assert calculation["amount"] == {"amount": "2800.00", "currency": "EUR"}

    def test_the_period_cap_limits_a_credit(self) -> None:
        contract = contract_with(penalty_rule(period_cap=Cap(amount=eur("2000.00"))))
        report(contract, "2026-01", "99.0")
        assert owed(contract) == [eur("2000.00")]
        assert contract.penalties[next(iter(contract.penalties))]["calculation"][
            "caps_applied"] == ["period"]

    def test_the_contract_year_cap_limits_the_sum_of_credits(self) -> None:
        contract = contract_with(penalty_rule(year_cap=Cap(amount=eur("5000.00"))))
        for month in ("2026-01", "2026-02", "2026-03"):
            report(contract, month, "99.0")
        assert owed(contract) == [eur("3100.00"), eur("1900.00"), eur("0.00")]

    def test_a_period_is_judged_by_the_target_in_force_then(self) -> None:
        contract = contract_with()
        contract.amend_sla((SlaTargetChange("availability", Decimal("99.0")),), (),
                           date(2026, 7, 1), "relaxed", BY)
        contract.collect_events()
        assert report(contract, "2026-06", "99.5")[1] == "SlaBreached"  # 99.9 until June
        assert report(contract, "2026-07", "99.5")[1] == "SlaMet"  # 99.0 from July

    def test_an_sla_amended_mid_year_leaves_earlier_periods_on_the_old_target(self) -> None:
        contract = contract_with()
        contract.amend_sla((SlaTargetChange("availability", Decimal("99.95")),), (),
                           date(2026, 7, 1), "tighter", BY)
        contract.collect_events()
        assert report(contract, "2026-06", "99.92")[1] == "SlaMet"  # 99.9 applied in June
        assert report(contract, "2026-07", "99.92")[1] == "SlaBreached"  # 99.95 from July

    def test_reporting_the_same_period_twice_is_refused(self) -> None:
        contract = contract_with()
        report(contract, "2026-01", "99.95")
        with pytest.raises(PerformanceAlreadyReported):
            report(contract, "2026-01", "99.95", report_id="again")

    def test_the_period_must_match_the_metric_measurement_period(self) -> None:
        with pytest.raises(WrongMeasurementPeriod):
            report(contract_with(), "2026-Q1", "99.95")

    def test_an_unknown_metric_is_refused(self) -> None:
        contract = contract_with()
        with pytest.raises(UnknownSlaMetric):
            contract.report_performance("r", "2026-01", (MetricValue("latency", Decimal(1)),),
                                        "portal", None, TODAY, BY)

    def test_a_retired_metric_takes_no_reports_after_retirement(self) -> None:
        contract = contract_with()
        contract.amend_sla((), ("availability",), date(2026, 6, 1), "replaced", BY)
        with pytest.raises(SlaMetricNotInForce):
            report(contract, "2026-06", "99.95")
        assert report(contract, "2026-05", "99.95")[-1] == "SlaMet"


class TestEarnBack:
    def test_a_credit_is_forgiven_when_the_next_periods_beat_the_target(self) -> None:
        contract = contract_with(penalty_rule(earn_back_periods=2))
        report(contract, "2026-01", "99.0")
        assert report(contract, "2026-02", "99.95") == ["PerformanceReported", "SlaMet"]
        assert report(contract, "2026-03", "99.95")[-1] == "PenaltyEarnedBack"
        assert owed(contract) == [eur("0.00")]

    def test_a_breach_in_the_earn_back_window_keeps_the_credit(self) -> None:
        contract = contract_with(penalty_rule(earn_back_periods=2))
        report(contract, "2026-01", "99.0")
        report(contract, "2026-02", "99.0")
        report(contract, "2026-03", "99.95")
        assert owed(contract)[0] == eur("3100.00")


class TestIncentives:
    def test_beating_the_bonus_threshold_earns_the_bonus(self) -> None:
        contract = contract_with(consecutive_periods=1)
        assert report(contract, "2026-01", "99.995")[-1] == "IncentiveEarned"
        assert [i["owed"] for i in contract.incentives.values()] == [eur("620.00")]

    def test_a_bonus_after_consecutive_periods_waits_for_them(self) -> None:
        contract = contract_with(consecutive_periods=3)
        assert report(contract, "2026-01", "99.995")[-1] == "SlaMet"
        assert report(contract, "2026-02", "99.995")[-1] == "SlaMet"
        assert report(contract, "2026-03", "99.995")[-1] == "IncentiveEarned"

    def test_the_bonus_cap_applies(self) -> None:
        contract = contract_with(period_cap=Cap(percent_of_fee=Decimal("1")))
        report(contract, "2026-01", "99.995")
        assert [i["owed"] for i in contract.incentives.values()] == [eur("310.00")]


class TestCorrections:
    def test_a_correction_reverses_and_assesses_anew(self) -> None:
        contract = contract_with()
        report(contract, "2026-01", "99.0")
        contract.correct_performance("fix-1", "2026-01",
                                     (MetricValue("availability", Decimal("99.7")),),
                                     "vendor portal", "TCK-1", "wrong export", TODAY, BY)
        names = [type(e).__name__ for e in contract.collect_events()]
        assert names == ["PerformanceCorrected", "PenaltyReversed", "SlaBreached",
                         "PenaltyAssessed"]
        assert sorted(m.amount for m in owed(contract)) == [Decimal("0.00"), Decimal("1550.00")]

    def test_nothing_to_correct_without_an_evaluation(self) -> None:
        with pytest.raises(NothingToCorrect):
            contract_with().correct_performance(
                "fix", "2026-01", (MetricValue("availability", Decimal(99)),), "portal", None,
                "why", TODAY, BY)


class TestClosingPeriods:
    def test_missing_data_counts_as_breach_at_the_worst_tier(self) -> None:
        contract = contract_with()
        contract.close_period("2026-01", MeasurementPeriod.MONTHLY, TODAY, BY)
        names = [type(e).__name__ for e in contract.collect_events()]
        assert names == ["PeriodClosed", "SlaBreached", "PenaltyAssessed"]
        assert owed(contract) == [eur("3100.00")]

    def test_missing_data_may_be_ignored(self) -> None:
        contract = contract_with(penalty_rule(missing_data=MissingData.IGNORE))
        contract.close_period("2026-01", MeasurementPeriod.MONTHLY, TODAY, BY)
        names = [type(e).__name__ for e in contract.collect_events()]
        assert names == ["PeriodClosed", "PerformanceReportMissing"]

    def test_a_period_closes_once_and_only_after_it_ended(self) -> None:
        contract = contract_with()
        with pytest.raises(PeriodNotOver):
            contract.close_period("2027-06", MeasurementPeriod.MONTHLY, TODAY, BY)
        contract.close_period("2026-01", MeasurementPeriod.MONTHLY, TODAY, BY)
        with pytest.raises(PeriodAlreadyClosed):
            contract.close_period("2026-01", MeasurementPeriod.MONTHLY, TODAY, BY)


class TestWaiversAndDisputes:
    def penalised(self) -> tuple[Contract, str]:
        contract = contract_with()
        report(contract, "2026-01", "99.0")
        return contract, next(iter(contract.penalties))

    def test_a_waived_penalty_is_owed_no_more(self) -> None:
        contract, penalty_id = self.penalised()
        contract.waive_penalty(penalty_id, "goodwill", "CFO", BY)
        assert owed(contract) == [eur("0.00")]

    def test_a_reversed_penalty_cannot_be_waived(self) -> None:
        contract, penalty_id = self.penalised()
        contract.correct_performance("fix", "2026-01",
                                     (MetricValue("availability", Decimal("99.95")),),
                                     "portal", None, "typo", TODAY, BY)
        with pytest.raises(IllegalCreditTransition):
            contract.waive_penalty(penalty_id, "goodwill", "CFO", BY)

    def test_a_penalty_is_disputed_once(self) -> None:
        contract, penalty_id = self.penalised()
        contract.dispute_penalty(penalty_id, "outage was yours", "TCK-9", TODAY, 30, BY)
        with pytest.raises(IllegalCreditTransition):
            contract.dispute_penalty(penalty_id, "again", None, TODAY, 30, BY)

    def test_disputes_close_after_the_window(self) -> None:
        contract, penalty_id = self.penalised()
        with pytest.raises(DisputeWindowClosed):
            contract.dispute_penalty(penalty_id, "late", None, date(2027, 8, 1), 30, BY)

    def test_an_undisputed_penalty_cannot_be_resolved(self) -> None:
        contract, penalty_id = self.penalised()
        with pytest.raises(IllegalCreditTransition):
            contract.resolve_dispute(penalty_id, "upheld", None, "fine", BY)

    @pytest.mark.parametrize(("outcome", "amount", "owed_after"), [
        ("upheld", None, "3100.00"), ("overturned", None, "0.00"),
        ("adjusted", eur("1000.00"), "1000.00")])
    def test_a_resolved_dispute_sets_what_is_owed(self, outcome: str, amount: Money | None,
                                                  owed_after: str) -> None:
        contract, penalty_id = self.penalised()
        contract.dispute_penalty(penalty_id, "outage was yours", None, TODAY, 30, BY)
        contract.resolve_dispute(penalty_id, outcome, amount, "reviewed logs", BY)
        assert owed(contract) == [eur(owed_after)]


class TestExitTriggers:
    def test_consecutive_breaches_fire_the_trigger_in_the_same_append(self) -> None:
        contract = contract_with()
        contract.define_exit_trigger(ExitTrigger("chronic-outage", TriggerKind.CONSECUTIVE_BREACHES,
                                                 metric_id="availability", periods=3), BY)
        report(contract, "2026-01", "99.0")
        report(contract, "2026-02", "99.0")
        assert report(contract, "2026-03", "99.0")[-1] == "ExitTriggerFired"
        (firing,) = contract.trigger_firings["chronic-outage"]
        evidence = firing["evidence"]
        assert [e["period"] for e in evidence] == ["2026-01", "2026-02", "2026-03"]

    def test_credits_over_an_amount_in_twelve_months_fire_the_trigger(self) -> None:
        contract = contract_with()
        contract.define_exit_trigger(ExitTrigger("too-costly", TriggerKind.CREDITS_EXCEED,
                                                 amount=eur("5000.00")), BY)
        assert report(contract, "2026-01", "99.0")[-1] == "PenaltyAssessed"
        assert report(contract, "2026-02", "99.0")[-1] == "ExitTriggerFired"


def test_performance_is_reported_only_on_an_active_contract() -> None:
    contract = ready()
    contract.define_penalty_rule(penalty_rule(), BY)
    with pytest.raises(ContractNotActive):
        report(contract, "2026-01", "99.0")


def test_an_amendment_cannot_change_the_contract_currency() -> None:
    contract = contract_with()
    with pytest.raises(InvalidValue):
        contract.amend_terms(TermChanges(value=Money(Decimal("1000000"), "JPY")), "fx",
                             date(2026, 6, 1), BY)
