"""Pure domain builders for the unit tests: contracts built by calling the aggregate's
commands, with no I/O (no store, no Flask, no clock).

The contract: term 2026-01-01 to 2028-12-31, 90 days' notice, 1,200,000.00 EUR, SLA
metric "availability" (target 99.9 from 2026-01-01), a point of contact and an exit plan.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import uuid4

from domain.contract import Contract
from domain.credits import IncentiveRule, MissingData, PenaltyRule, Tier
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
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
)

BY = Provenance(actor_id="key-1", actor_role="procurement", correlation_id="req-1")


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def draft(**overrides: Any) -> Contract:
    fields: dict[str, Any] = {
        "contract_id": uuid4(),
        "title": "Managed network services",
        "vendor": Vendor("acme", "Acme Networks"),
        "service_scope": ServiceScope.NETWORK,
        "sourcing_model": SourcingModel.MANAGED_SERVICE,
        "delivery_location": DeliveryLocation.NEARSHORE,
        "value": eur("1200000.00"),
        "term": Term(date(2026, 1, 1), date(2028, 12, 31), 90, RenewalOption.OPTIONAL),
        "objectives": ("Cut run cost by 15%",),
        "provenance": BY,
    }
    fields.update(overrides)
    return Contract.draft(**fields)


def metric(metric_id: str = "availability", effective_from: date = date(2026, 1, 1)) -> SlaMetric:
    return SlaMetric(metric_id, "Availability", "percent", Direction.HIGHER_IS_BETTER,
                     Decimal("99.9"), MeasurementPeriod.MONTHLY, effective_from)


EXIT_PLAN = ExitPlan(
    steps=(ExitStep("handover", "Hand over runbooks", mandatory=True),),
    budget=eur("50000.00"), transition_period_days=90, data_return="Configs as JSON",
)


def ready() -> Contract:
    contract = draft()
    contract.designate_point_of_contact(PointOfContact("Ana", "ana@acme.example"), BY)
    contract.define_sla_metric(metric(), BY)
    contract.define_exit_plan(EXIT_PLAN, BY)
    return contract


def active() -> Contract:
    contract = ready()
    contract.activate(date(2026, 1, 1), BY)
    return contract


# -- SLA performance and credits -------------------------------------------------------------

TODAY = date(2027, 6, 1)

# Availability: below 99.9 -> 5% of the period fee, below 99.5 -> 10%.
TIERS = (Tier(Decimal("99.9"), Decimal("5")), Tier(Decimal("99.5"), Decimal("10")))
FULL_TIER = (Tier(Decimal("99.9"), Decimal("100")),)  # a breach credits the whole fee


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


def live(term: Term, value: str, activated_on: date | None = None,
         rule: PenaltyRule | None = None) -> Contract:
    """An active contract over term, its metric and rule in force from the term start."""
    contract = draft(term=term, value=eur(value))
    contract.designate_point_of_contact(PointOfContact("Ana", "ana@acme.example"), BY)
    contract.define_sla_metric(metric(effective_from=term.start), BY)
    contract.define_exit_plan(EXIT_PLAN, BY)
    contract.define_penalty_rule(rule or penalty_rule(effective_from=term.start), BY)
    contract.activate(activated_on or term.start, BY)
    contract.collect_events()
    return contract
