"""What an auditor asks of an event: its business date and its reason (domain.history)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from domain.contract import Contract
from domain.credits import ExitTrigger, MetricValue, MissingData, PenaltyRule, Tier, TriggerKind
from domain.history import EVENT_TYPES, effective_date_of, reason_of
from domain.money import Money
from domain.values import (
    DeliveryLocation,
    Direction,
    ExitPlan,
    ExitStep,
    MeasurementPeriod,
    PointOfContact,
    Provenance,
    RenewalOption,
    ServiceScope,
    SlaMetric,
    SlaTargetChange,
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
)

BY = Provenance(actor_id="key-1", actor_role="procurement", correlation_id="req-1")
START = date(2026, 1, 1)
TODAY = date(2026, 12, 1)


def metric(metric_id: str, period: MeasurementPeriod) -> SlaMetric:
    return SlaMetric(metric_id, metric_id.title(), "percent", Direction.HIGHER_IS_BETTER,
                     Decimal("99.9"), period, START)


def active() -> Contract:
    """An active contract with a weekly, a monthly and a quarterly metric."""
    contract = Contract.draft(
        contract_id=uuid4(), title="Managed network services",
        vendor=Vendor("acme", "Acme Networks"), service_scope=ServiceScope.NETWORK,
        sourcing_model=SourcingModel.MANAGED_SERVICE,
        delivery_location=DeliveryLocation.NEARSHORE, value=Money(Decimal("1200000.00"), "EUR"),
        term=Term(START, date(2028, 12, 31), 90, RenewalOption.OPTIONAL),
        objectives=("Keep it running",), provenance=BY)
    contract.designate_point_of_contact(PointOfContact("Ana", "ana@acme.example"), BY)
    for metric_id, period in (("weekly", MeasurementPeriod.WEEKLY),
                              ("monthly", MeasurementPeriod.MONTHLY),
                              ("quarterly", MeasurementPeriod.QUARTERLY)):
        contract.define_sla_metric(metric(metric_id, period), BY)
    contract.define_exit_plan(ExitPlan((ExitStep("handover", "Hand over", mandatory=True),),
                                       Money(Decimal("1000.00"), "EUR"), 30, "As JSON"), BY)
    contract.activate(START, BY)
    contract.collect_events()
    return contract


def only(contract: Contract, event_class: type[Any]) -> Any:
    """The one new event of a class the contract recorded (and forget the others)."""
    (event,) = [e for e in contract.collect_events() if isinstance(e, event_class)]
    return event


def reported(metric_id: str, period: str) -> Any:
    contract = active()
    contract.report_performance("r-1", period, (MetricValue(metric_id, Decimal("99.95")),),
                                "portal", None, TODAY, BY)
    return only(contract, Contract.PerformanceReported)


class TestEffectiveDate:
    def test_an_amendment_takes_effect_on_its_effective_date(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(title="Renamed"), "New name", date(2026, 7, 1), BY)
        assert effective_date_of(only(contract, Contract.TermsAmended)) == date(2026, 7, 1)

    def test_activation_takes_effect_on_its_date(self) -> None:
        contract = Contract.draft(
            contract_id=uuid4(), title="T", vendor=Vendor("acme", "Acme"),
            service_scope=ServiceScope.WEB, sourcing_model=SourcingModel.PROJECT,
            delivery_location=DeliveryLocation.ONSHORE, value=Money(Decimal("1.00"), "EUR"),
            term=Term(START, date(2027, 1, 1), 0, RenewalOption.NONE), objectives=(),
            provenance=BY)
        contract.designate_point_of_contact(PointOfContact("Ana", "ana@acme.example"), BY)
        contract.define_sla_metric(metric("monthly", MeasurementPeriod.MONTHLY), BY)
        contract.define_exit_plan(ExitPlan((ExitStep("handover", "Hand over", mandatory=True),),
                                           Money(Decimal("1.00"), "EUR"), 30, "As JSON"), BY)
        contract.activate(date(2026, 3, 15), BY)
        assert effective_date_of(only(contract, Contract.ContractActivated)) == \
            date(2026, 3, 15)

    def test_a_rule_takes_effect_from_its_effective_from(self) -> None:
        contract = active()
        contract.define_penalty_rule(PenaltyRule(
            "credit", "monthly", (Tier(Decimal("99.9"), Decimal(5)),), None, None, 0,
            MissingData.IGNORE, date(2026, 4, 1)), BY)
        assert effective_date_of(only(contract, Contract.PenaltyRuleDefined)) == \
            date(2026, 4, 1)

    def test_a_metric_takes_effect_from_its_effective_from(self) -> None:
        contract = active()
        contract.define_sla_metric(SlaMetric(
            "latency", "Latency", "ms", Direction.LOWER_IS_BETTER, Decimal(20),
            MeasurementPeriod.MONTHLY, date(2026, 5, 1)), BY)
        assert effective_date_of(only(contract, Contract.SlaMetricDefined)) == date(2026, 5, 1)

    def test_an_sla_amendment_takes_effect_from_its_effective_from(self) -> None:
        contract = active()
        contract.amend_sla((SlaTargetChange("monthly", Decimal("99.5")),), (),
                           date(2026, 6, 1), "Relaxed", BY)
        assert effective_date_of(only(contract, Contract.SlaAmended)) == date(2026, 6, 1)

    @pytest.mark.parametrize(("metric_id", "period", "first_day"), [
        ("weekly", "2026-W05", date(2026, 1, 26)),
        ("weekly", "2026-W53", date(2026, 12, 28)),
        ("monthly", "2026-03", date(2026, 3, 1)),
        ("quarterly", "2026-Q2", date(2026, 4, 1)),
    ])
    def test_a_report_takes_effect_on_its_periods_first_day(
            self, metric_id: str, period: str, first_day: date) -> None:
        assert effective_date_of(reported(metric_id, period)) == first_day

    def test_an_iso_week_may_begin_in_the_year_before(self) -> None:
        assert effective_date_of(SimpleNamespace(period="2027-W01")) == date(2027, 1, 4)
        assert effective_date_of(SimpleNamespace(period="2026-W01")) == date(2025, 12, 29)

    def test_an_evaluation_takes_effect_on_its_periods_first_day(self) -> None:
        contract = active()
        contract.report_performance("r-1", "2026-Q3", (MetricValue("quarterly", Decimal(90)),),
                                    "portal", None, TODAY, BY)
        breached = [e for e in contract.collect_events() if isinstance(e, Contract.SlaBreached)]
        assert [effective_date_of(e) for e in breached] == [date(2026, 7, 1)]

    def test_the_day_a_thing_happened_is_its_effective_date(self) -> None:
        contract = active()
        contract.initiate_exit("Moving on", None, date(2026, 9, 1), BY)
        assert effective_date_of(only(contract, Contract.ExitInitiated)) == date(2026, 9, 1)

    def test_an_own_effective_date_wins_over_a_period(self) -> None:
        event = SimpleNamespace(period="2026-03", effective_date=date(2026, 5, 5))
        assert effective_date_of(event) == date(2026, 5, 5)

    def test_an_act_without_a_date_has_none(self) -> None:
        contract = active()
        contract.designate_point_of_contact(PointOfContact("Bo", "bo@acme.example"), BY)
        assert effective_date_of(only(contract, Contract.PointOfContactDesignated)) is None

    def test_a_period_that_is_no_period_label_gives_none(self) -> None:
        assert effective_date_of(SimpleNamespace(period="Q2 2026 review")) is None
        assert effective_date_of(SimpleNamespace(period="2026-13")) is None

    def test_a_renewal_does_not_take_effect_on_its_new_end(self) -> None:
        contract = active()
        contract.renew(date(2030, 12, 31), "Good service", TODAY, BY)
        renewed = only(contract, Contract.ContractRenewed)
        assert effective_date_of(renewed) != date(2030, 12, 31)


class TestReason:
    def test_an_amendment_gives_its_rationale(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(title="Renamed"), "New brand", date(2026, 7, 1), BY)
        assert reason_of(only(contract, Contract.TermsAmended)) == "New brand"

    def test_a_retired_rule_gives_its_reason(self) -> None:
        contract = active()
        contract.define_penalty_rule(PenaltyRule(
            "credit", "monthly", (Tier(Decimal("99.9"), Decimal(5)),), None, None, 0,
            MissingData.IGNORE, date(2026, 2, 1)), BY)
        contract.retire_rule("credit", date(2026, 8, 1), "Replaced by a bonus", BY)
        assert reason_of(only(contract, Contract.RuleRetired)) == "Replaced by a bonus"

    def test_a_termination_gives_its_reason(self) -> None:
        contract = active()
        contract.terminate("Service ended", date(2026, 11, 30), BY, "Handed over already")
        events = contract.collect_events()
        assert [(type(e).__name__, reason_of(e)) for e in events] == [
            ("ExitPlanOverridden", "Handed over already"),
            ("ContractTerminated", "Service ended")]

    def test_a_reason_is_preferred_to_a_rationale(self) -> None:
        assert reason_of(SimpleNamespace(rationale="Why", reason="Because")) == "Because"

    def test_an_act_without_a_reason_has_none(self) -> None:
        contract = active()
        contract.designate_point_of_contact(PointOfContact("Bo", "bo@acme.example"), BY)
        assert reason_of(only(contract, Contract.PointOfContactDesignated)) is None

    def test_a_manual_exit_trigger_gives_its_reason(self) -> None:
        contract = active()
        contract.define_exit_trigger(ExitTrigger("gut-feeling", TriggerKind.MANUAL,
                                                 reason="Vendor is being sold"), BY)
        defined = only(contract, Contract.ExitTriggerDefined)
        assert reason_of(defined) == "Vendor is being sold"


def test_every_event_type_is_named() -> None:
    assert {"ContractDrafted", "TermsAmended", "ContractRenewed", "PenaltyAssessed",
            "ExitTriggerFired", "ContractTerminated"} <= EVENT_TYPES
    assert "Event" not in EVENT_TYPES
