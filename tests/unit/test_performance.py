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
    MetricValue,
    MissingData,
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
    PeriodNotInService,
    PeriodNotOver,
    SlaMetricNotInForce,
    UnknownSlaMetric,
    WrongMeasurementPeriod,
)
from domain.money import Money
from domain.values import (
    MeasurementPeriod,
    RenewalOption,
    SlaTargetChange,
    Term,
    TermChanges,
)
from tests.support.domain import (
    BY,
    FULL_TIER,
    TODAY,
    contract_with,
    eur,
    live,
    penalty_rule,
    ready,
)


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

    def test_a_late_report_that_completes_a_later_period_s_run_earns_its_bonus(self) -> None:
        # Given three outstanding periods in a row earn the bonus; January and March were
        contract = contract_with(consecutive_periods=3)
        report(contract, "2026-01", "99.995")
        report(contract, "2026-03", "99.995")
        # When February is reported late, March's bonus is earned in the same write
        assert report(contract, "2026-02", "99.995") == [
            "PerformanceReported", "SlaMet", "IncentiveEarned"]
        assert [i["period"] for i in contract.incentives.values()] == ["2026-03"]

    def test_a_bonus_is_earned_once_per_period(self) -> None:
        contract = contract_with(consecutive_periods=2)
        for month in ("2026-01", "2026-02", "2026-04"):
            report(contract, month, "99.995")
        report(contract, "2026-03", "99.995")  # completes March's and April's runs
        assert sorted(i["period"] for i in contract.incentives.values()) == [
            "2026-02", "2026-03", "2026-04"]

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


def in_a_row(periods: int) -> Contract:
    contract = contract_with()
    contract.define_exit_trigger(ExitTrigger("chronic-outage", TriggerKind.CONSECUTIVE_BREACHES,
                                             metric_id="availability", periods=periods), BY)
    contract.collect_events()
    return contract


def evidence(contract: Contract, trigger_id: str = "chronic-outage") -> list[list[str]]:
    return [[e["period"] for e in firing["evidence"]]
            for firing in contract.trigger_firings.get(trigger_id, [])]


class TestExitTriggersInAnyOrder:
    """A trigger fires when an evaluation makes its condition true, whatever the order in
    which the periods are evaluated."""

    def test_closing_the_missing_period_between_two_breaches_completes_the_run(self) -> None:
        # Given three in a row fire the trigger, and January and March were breached
        contract = in_a_row(3)
        report(contract, "2026-01", "99.0")
        report(contract, "2026-03", "99.0")
        assert evidence(contract) == []
        # When February closes with no report (missing data counts as breach)
        contract.close_period("2026-02", MeasurementPeriod.MONTHLY, TODAY, BY)
        # Then the breach, its credit and the firing are one write
        assert [type(e).__name__ for e in contract.collect_events()] == [
            "PeriodClosed", "SlaBreached", "PenaltyAssessed", "ExitTriggerFired"]
        assert evidence(contract) == [["2026-01", "2026-02", "2026-03"]]

    def test_a_late_report_that_completes_a_run_fires_the_trigger(self) -> None:
        contract = in_a_row(2)
        report(contract, "2026-05", "99.0")
        assert report(contract, "2026-04", "99.0")[-1] == "ExitTriggerFired"
        assert evidence(contract) == [["2026-04", "2026-05"]]

    def test_a_run_fires_once_however_it_grows(self) -> None:
        contract = in_a_row(2)
        report(contract, "2026-03", "99.0")
        report(contract, "2026-04", "99.0")
        contract.dismiss_trigger("chronic-outage", "vendor's recovery plan accepted", BY)
        # Neither a later breach, nor an earlier one reported late, makes it a new run
        assert report(contract, "2026-05", "99.0")[-1] == "PenaltyAssessed"
        assert report(contract, "2026-02", "99.0")[-1] == "PenaltyAssessed"
        assert evidence(contract) == [["2026-03", "2026-04"]]

    def test_a_late_report_that_joins_two_fired_runs_does_not_fire_again(self) -> None:
        contract = in_a_row(2)
        for month in ("2026-01", "2026-02"):
            report(contract, month, "99.0")
        contract.dismiss_trigger("chronic-outage", "recovery plan", BY)
        for month in ("2026-04", "2026-05"):
            report(contract, month, "99.0")
        contract.dismiss_trigger("chronic-outage", "second recovery plan", BY)
        assert report(contract, "2026-03", "99.0")[-1] == "PenaltyAssessed"
        assert len(evidence(contract)) == 2

    def test_a_run_broken_by_a_correction_and_formed_again_fires_anew(self) -> None:
        contract = in_a_row(2)
        for month in ("2026-01", "2026-02"):
            report(contract, month, "99.0")
        contract.dismiss_trigger("chronic-outage", "recovery plan", BY)
        contract.correct_performance("fix", "2026-01", (MetricValue("availability",
                                                                    Decimal("99.95")),),
                                     "portal", None, "restated", TODAY, BY)
        assert report(contract, "2026-03", "99.0")[-1] == "ExitTriggerFired"
        assert evidence(contract) == [["2026-01", "2026-02"], ["2026-02", "2026-03"]]

    def test_a_back_dated_credit_that_takes_a_later_window_over_the_amount_fires(
        self
    ) -> None:
        # Given credits of 1,550.00 (March) and 1,500.00 (April): 3,050.00 in 12 months
        contract = contract_with()
        contract.define_exit_trigger(ExitTrigger("too-costly", TriggerKind.CREDITS_EXCEED,
                                                 amount=eur("5000.00")), BY)
        report(contract, "2026-03", "99.8")
        report(contract, "2026-04", "99.8")
        # When January is reported late with a credit of 3,100.00
        assert report(contract, "2026-01", "99.0")[-1] == "ExitTriggerFired"
        # Then the window that went above the amount is the one ending with April, as
        # it would have been had the periods been reported in calendar order
        (firing,) = contract.trigger_firings["too-costly"]
        assert firing["condition"] == "credits owed above 5000.00 at 2026-04"
        assert [e["period"] for e in firing["evidence"]] == ["2026-01", "2026-03", "2026-04"]

    def test_credits_twelve_months_apart_do_not_add_up(self) -> None:
        contract = contract_with()
        contract.define_exit_trigger(ExitTrigger("too-costly", TriggerKind.CREDITS_EXCEED,
                                                 amount=eur("5000.00")), BY)
        report(contract, "2027-02", "99.0")  # 2,800.00
        assert report(contract, "2026-02", "99.0")[-1] == "PenaltyAssessed"  # 2,800.00
        assert "too-costly" not in contract.trigger_firings


def fees(contract: Contract, period: str) -> dict[str, Any]:
    (penalty,) = [p for p in contract.penalties.values() if p["period"] == period]
    return {k: Decimal(v) if k.endswith("_fee") else v
            for k, v in penalty["calculation"]["inputs"].items()
            if k.startswith(("period_", "year_"))}


# 319 days at 1,000.00 a day: the term ends on 15 November.
ENDS_MID_NOVEMBER = Term(date(2026, 1, 1), date(2026, 11, 15), 30, RenewalOption.NONE)


class TestFeesFollowTheTerm:
    def test_a_period_straddling_the_term_end_is_charged_for_its_days_inside_it(self) -> None:
        contract = live(ENDS_MID_NOVEMBER, "319000.00")
        report(contract, "2026-11", "99.8")
        assert owed(contract) == [eur("750.00")]  # 5% of 15 days' fee, not of 30 days'
        assert fees(contract, "2026-11") == {
            "period_fee": Decimal("15000"), "year_fee": Decimal("319000"),
            "period_days": 30, "period_days_in_term": 15, "year_days": 365,
            "year_days_in_term": 319}

    def test_a_period_straddling_the_term_start_is_charged_for_its_days_inside_it(
        self
    ) -> None:
        # 365 days from 15 January: January has 17 of them.
        contract = live(Term(date(2026, 1, 15), date(2027, 1, 14), 30, RenewalOption.NONE),
                        "365000.00")
        report(contract, "2026-01", "99.8")
        assert owed(contract) == [eur("850.00")]
        assert fees(contract, "2026-01")["period_fee"] == Decimal("17000")

    @pytest.mark.parametrize("year_cap", [Cap(percent_of_fee=Decimal("10")),
                                          Cap(amount=eur("36500.00"))])
    def test_the_year_cap_of_a_contract_year_cut_short_by_the_term_scales_likewise(
        self, year_cap: Cap
    ) -> None:
        # Given a cap of 10% of a year's fee (36,500.00 for a whole year of 365 days),
        # and a term that covers 319 days of its only contract year
        contract = live(ENDS_MID_NOVEMBER, "319000.00", rule=penalty_rule(
            tiers=FULL_TIER, year_cap=year_cap))
        # When January (31,000.00) and February (28,000.00) are breached in full
        report(contract, "2026-01", "99.0")
        report(contract, "2026-02", "99.0")
        # Then the year's credits stop at 319/365 of the cap: 31,900.00
        assert owed(contract) == [eur("31000.00"), eur("900.00")]

    def test_a_fixed_period_cap_scales_with_the_days_of_the_period_inside_the_term(
        self
    ) -> None:
        contract = live(ENDS_MID_NOVEMBER, "319000.00", rule=penalty_rule(
            tiers=FULL_TIER, period_cap=Cap(amount=eur("2000.00"))))
        report(contract, "2026-10", "99.0")
        report(contract, "2026-11", "99.0")
        assert owed(contract) == [eur("2000.00"), eur("1000.00")]  # 15 of November's 30 days

    def test_a_value_amendment_spreads_its_difference_over_the_days_left(self) -> None:
        # Given 1,000.00 a day over 2026-2028, and 731,000.00 more from 2027 (731 days)
        contract = contract_with(penalty_rule(tiers=FULL_TIER))
        contract.amend_terms(_value(Decimal("1827000.00")), "scope grew", date(2027, 1, 1),
                             BY)
        # Then 2026 keeps 1,000.00 a day and 2027 is charged 2,000.00 a day
        report(contract, "2026-12", "99.0")
        report(contract, "2027-01", "99.0")
        assert owed(contract) == [eur("31000.00"), eur("62000.00")]
        assert fees(contract, "2027-01")["year_fee"] == Decimal("730000")

    def test_a_value_amendment_in_the_middle_of_a_period_charges_each_part_its_rate(
        self
    ) -> None:
        contract = contract_with(penalty_rule(tiers=FULL_TIER))
        # 1,096,000.00 + 1,065,000.00 over the 1,065 days from 1 February 2026
        contract.amend_terms(_value(Decimal("2161000.00")), "scope grew", date(2026, 2, 1),
                             BY)
        contract.amend_terms(_value(Decimal("1096000.00")), "scope shrank back",
                             date(2026, 2, 15), BY)
        report(contract, "2026-02", "99.0")
        # 14 days at 2,000.00, then 14 days at 2,000.00 - 1,065,000.00 / 1,051 a day
        fee = Decimal(14 * 2000) + 14 * (Decimal(2000) - Decimal(1065000) / Decimal(1051))
        assert abs(fees(contract, "2026-02")["period_fee"] - fee) < Decimal("1E-20")

    def test_a_value_below_what_the_term_charged_before_is_refused(self) -> None:
        # By 1 June 2026 the term charged 151,000.00 (151 days at 1,000.00)
        contract = contract_with()
        with pytest.raises(InvalidValue):
            contract.amend_terms(_value(Decimal("150000.00")), "cut", date(2026, 6, 1), BY)
        contract.amend_terms(_value(Decimal("151000.00")), "nothing more", date(2026, 6, 1),
                             BY)
        assert contract.value == eur("151000.00")

    def test_an_end_brought_forward_below_what_was_charged_is_refused(self) -> None:
        # Given the value was cut to what the first year charged at 1,000.00 a day, ...
        contract = contract_with()
        contract.amend_terms(_value(Decimal("400000.00")), "cut", date(2027, 1, 1), BY)
        # ... a shorter term would charge more a day in 2026 than the value allows
        with pytest.raises(InvalidValue):
            contract.amend_terms(TermChanges(end=date(2027, 6, 30)), "ends early",
                                 date(2027, 1, 1), BY)


class TestPeriodsInService:
    """No credit and no bonus for a period in which the contract was not in service."""

    def test_a_period_before_the_activation_date_is_refused_and_records_nothing(
        self
    ) -> None:
        contract = ready()
        contract.define_penalty_rule(penalty_rule(), BY)
        contract.activate(date(2026, 3, 1), BY)
        contract.collect_events()
        with pytest.raises(PeriodNotInService):
            report(contract, "2026-02", "99.0")
        with pytest.raises(PeriodNotInService):
            contract.close_period("2026-02", MeasurementPeriod.MONTHLY, TODAY, BY)
        assert contract.collect_events() == []
        assert report(contract, "2026-03", "99.0")[-1] == "PenaltyAssessed"

    def test_a_period_is_judged_by_what_applied_on_its_first_day_in_service(self) -> None:
        # Given the target is relaxed to 99.0 from 10 March, and the contract goes live on
        # 15 March
        contract = ready()
        contract.define_penalty_rule(penalty_rule(), BY)
        contract.amend_sla((SlaTargetChange("availability", Decimal("99.0")),), (),
                           date(2026, 3, 10), "relaxed", BY)
        contract.activate(date(2026, 3, 15), BY)
        contract.collect_events()
        # Then March is judged by the target of 15 March, as effective_on shows it
        (availability,) = contract.in_force_on(date(2026, 3, 15))["sla_metrics"]
        assert availability["target"] == Decimal("99.0")
        assert report(contract, "2026-03", "99.5") == ["PerformanceReported", "SlaMet"]

    def test_a_rule_version_is_taken_on_the_first_day_in_service(self) -> None:
        # Given the credit rises to 7% from 10 March and the contract goes live on 15 March
        contract = ready()
        contract.define_penalty_rule(penalty_rule(), BY)
        contract.amend_penalty_rule(penalty_rule(tiers=(Tier(Decimal("99.9"), Decimal("7")),),
                                                 effective_from=date(2026, 3, 10)),
                                    "renegotiated", BY)
        contract.activate(date(2026, 3, 15), BY)
        report(contract, "2026-03", "99.8")
        (penalty,) = contract.penalties.values()
        assert penalty["calculation"]["rule_effective_from"] == date(2026, 3, 10)

    def test_on_a_day_before_the_activation_date_no_metric_and_no_rule_applies(self) -> None:
        contract = ready()
        contract.define_penalty_rule(penalty_rule(), BY)
        contract.activate(date(2026, 3, 1), BY)
        before = contract.in_force_on(date(2026, 2, 28))
        assert (before["sla_metrics"], before["rules"]) == ([], [])
        live_day = contract.in_force_on(date(2026, 3, 1))
        assert [r["rule_id"] for r in live_day["rules"]] == ["availability-credit"]


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
