"""Service credits (penalties) and bonuses (incentives): the rule maths, pure and exact.

Rounding rule: every amount is computed in full Decimal precision and rounded once,
half-up, to the currency's minor unit when it is assessed; caps compare unrounded
amounts. Totals are sums of the rounded amounts recorded in the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from enum import Enum, StrEnum
from typing import Any

from domain.exceptions import InvalidValue
from domain.money import MINOR_UNITS, Money
from domain.values import Direction, check_slug

HUNDRED = Decimal(100)
# Fees and scaled caps keep more digits than the largest amount Money accepts has, so
# that the fees of a term add up to its value whatever the thread's context.
FEE_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)


class MissingData(Enum):
    """What a period without a report counts as when the period is closed."""

    BREACH = "breach"  # assessed at the worst tier
    IGNORE = "ignore"  # no assessment


class CreditStatus(StrEnum):
    """Where an assessed penalty (credit) or earned incentive (bonus) stands.

    A str subclass: state and snapshots store the plain value, and a value loaded from
    an older snapshot (a bare str) compares equal to its member.
    """

    ASSESSED = "assessed"  # a penalty, owed as assessed
    EARNED = "earned"  # an incentive, owed as earned
    EARNED_BACK = "earned_back"
    REVERSED = "reversed"  # a corrected report withdrew it
    WAIVED = "waived"


class DisputeStatus(StrEnum):
    """Where a vendor's dispute of a penalty stands: open, or how it ended."""

    OPEN = "open"
    UPHELD = "upheld"
    OVERTURNED = "overturned"
    ADJUSTED = "adjusted"
    WITHDRAWN_BY_WAIVER = "withdrawn_by_waiver"


DISPUTE_OUTCOMES: tuple[DisputeStatus, ...] = (
    DisputeStatus.UPHELD, DisputeStatus.OVERTURNED, DisputeStatus.ADJUSTED)
"""The outcomes a dispute can be resolved with."""


@dataclass(frozen=True)
class Cap:
    """A ceiling: a percentage of the fee it applies to, or a fixed amount."""

    percent_of_fee: Decimal | None = None
    amount: Money | None = None

    def __post_init__(self) -> None:
        if (self.percent_of_fee is None) == (self.amount is None):
            raise InvalidValue("a cap is either a percent of the fee or an amount")
        if self.percent_of_fee is not None and not Decimal(0) <= self.percent_of_fee <= HUNDRED:
            raise InvalidValue("a cap percentage is between 0 and 100")
        if self.amount is not None and self.amount.is_negative():
            raise InvalidValue("a cap amount must not be negative")

    def limit(self, fee: Decimal, days_in_term: int = 1, days: int = 1) -> Decimal:
        """Return the cap for a fee (both in the contract's currency).

        A fixed amount is for a whole period (or contract year): one that the term covers
        only in part gets the share of its days inside the term, as its fee does.
        """
        if self.amount is not None:
            if days_in_term == days:
                return self.amount.amount
            return FEE_CONTEXT.divide(self.amount.amount * days_in_term, Decimal(days))
        assert self.percent_of_fee is not None
        return fee * self.percent_of_fee / HUNDRED


@dataclass(frozen=True)
class Tier:
    """Pays `percent` of the period fee when the value passes `threshold`.

    For a penalty, passing means strictly worse than the threshold (below it when
    higher is better); for an incentive, at least as good as the threshold.
    """

    threshold: Decimal
    percent: Decimal

    def __post_init__(self) -> None:
        if not self.threshold.is_finite():
            raise InvalidValue("a tier threshold must be a finite number")
        if not Decimal(0) < self.percent <= HUNDRED:
            raise InvalidValue("a tier percentage is above 0 and at most 100")


@dataclass(frozen=True)
class PenaltyRule:
    rule_id: str
    metric_id: str
    tiers: tuple[Tier, ...]
    period_cap: Cap | None
    year_cap: Cap | None
    earn_back_periods: int
    missing_data: MissingData
    effective_from: date

    def __post_init__(self) -> None:
        _check_rule(self.rule_id, self.metric_id, self.tiers)
        if not 0 <= self.earn_back_periods <= 24:
            raise InvalidValue("earn-back is between 0 (none) and 24 periods")


@dataclass(frozen=True)
class IncentiveRule:
    rule_id: str
    metric_id: str
    tiers: tuple[Tier, ...]
    consecutive_periods: int
    period_cap: Cap | None
    year_cap: Cap | None
    effective_from: date

    def __post_init__(self) -> None:
        _check_rule(self.rule_id, self.metric_id, self.tiers)
        if not 1 <= self.consecutive_periods <= 24:
            raise InvalidValue("consecutive periods are between 1 and 24")


def _check_rule(rule_id: str, metric_id: str, tiers: tuple[Tier, ...]) -> None:
    check_slug(rule_id, "rule id")
    check_slug(metric_id, "metric id")
    if not tiers:
        raise InvalidValue("a rule needs at least one tier", "/tiers")
    if len({t.threshold for t in tiers}) != len(tiers):
        raise InvalidValue("tier thresholds must differ", "/tiers")


def is_met(direction: Direction, target: Decimal, value: Decimal) -> bool:
    """Tell whether value meets the target (exactly at the target meets it)."""
    if direction is Direction.HIGHER_IS_BETTER:
        return value >= target
    return value <= target


def _worse(direction: Direction, value: Decimal, threshold: Decimal) -> bool:
    return not is_met(direction, threshold, value)


def round_money(amount: Decimal, currency: str) -> Money:
    """Round half-up to the currency's minor unit."""
    quantum = Decimal(1).scaleb(-MINOR_UNITS[currency])
    # Enough precision for the largest amount Money accepts, whatever the thread's context.
    exact = Context(prec=64, rounding=ROUND_HALF_UP)
    return Money(amount.quantize(quantum, context=exact), currency)


@dataclass(frozen=True)
class Fees:
    """The fees a period is judged against, unrounded (see the rounding rule above): what
    the term charges for the period's and its contract year's days inside the term."""

    period_fee: Decimal
    year_fee: Decimal
    currency: str
    period_days: int = 1
    period_days_in_term: int = 1
    year_days: int = 1
    year_days_in_term: int = 1

    def record(self) -> dict[str, Any]:
        return {"period_fee": self.period_fee, "year_fee": self.year_fee,
                "currency": self.currency, "period_days": self.period_days,
                "period_days_in_term": self.period_days_in_term, "year_days": self.year_days,
                "year_days_in_term": self.year_days_in_term}


@dataclass(frozen=True)
class Calculation:
    """How an amount came about, so that an auditor can recompute it."""

    amount: Money
    tier: Tier | None
    gross: Decimal
    caps_applied: tuple[str, ...]
    inputs: dict[str, Any]


def assess_penalty(
    rule: PenaltyRule,
    direction: Direction,
    target: Decimal,
    value: Decimal | None,
    fees: Fees,
    credited_this_year: Decimal,
) -> Calculation:
    """Compute the service credit for one period (value None: missing, counted as breach)."""
    if value is None:
        tier: Tier | None = max(rule.tiers, key=lambda t: t.percent)
    else:
        passing = [t for t in rule.tiers if _worse(direction, value, t.threshold)]
        tier = max(passing, key=lambda t: t.percent) if passing else None
    gross = fees.period_fee * tier.percent / HUNDRED if tier else Decimal(0)
    amount, caps = _apply_caps(gross, rule.period_cap, rule.year_cap, fees, credited_this_year)
    return Calculation(
        amount=round_money(amount, fees.currency),
        tier=tier,
        gross=gross,
        caps_applied=caps,
        inputs={
            "value": value, "target": target, "direction": direction.value,
            **fees.record(), "credited_this_year_before": credited_this_year,
        },
    )


def assess_incentive(
    rule: IncentiveRule,
    direction: Direction,
    values: list[Decimal],
    fees: Fees,
    earned_this_year: Decimal,
) -> Calculation | None:
    """Compute the bonus for the latest of `values` (oldest first), or None if not earned.

    A tier counts only when every one of the last `consecutive_periods` values passes it.
    """
    recent = values[-rule.consecutive_periods:]
    if len(recent) < rule.consecutive_periods:
        return None
    passing = [t for t in rule.tiers if all(is_met(direction, t.threshold, v) for v in recent)]
    if not passing:
        return None
    tier = max(passing, key=lambda t: t.percent)
    gross = fees.period_fee * tier.percent / HUNDRED
    amount, caps = _apply_caps(gross, rule.period_cap, rule.year_cap, fees, earned_this_year)
    return Calculation(
        amount=round_money(amount, fees.currency),
        tier=tier,
        gross=gross,
        caps_applied=caps,
        inputs={
            "values": tuple(recent), "direction": direction.value, **fees.record(),
            "earned_this_year_before": earned_this_year,
        },
    )


def _apply_caps(
    gross: Decimal, period_cap: Cap | None, year_cap: Cap | None, fees: Fees,
    so_far_this_year: Decimal,
) -> tuple[Decimal, tuple[str, ...]]:
    amount = gross
    caps: list[str] = []
    if period_cap is not None:
        limit = period_cap.limit(fees.period_fee, fees.period_days_in_term, fees.period_days)
        if amount > limit:
            amount = limit
            caps.append("period")
    if year_cap is not None:
        limit = year_cap.limit(fees.year_fee, fees.year_days_in_term, fees.year_days)
        room = max(Decimal(0), limit - so_far_this_year)
        if amount > room:
            amount = room
            caps.append("contract_year")
    return amount, tuple(caps)


class TriggerKind(Enum):
    CONSECUTIVE_BREACHES = "consecutive_breaches"  # a metric breached N periods in a row
    CREDITS_EXCEED = "credits_exceed"  # net credits over the last 12 months above an amount
    CRITICAL_FINDING_OVERDUE = "critical_finding_overdue"  # unresolved past its due date
    HEALTH_CHECK_OVERDUE = "health_check_overdue"  # overdue by more than `days`
    MANUAL = "manual"  # procurement's own judgement, with a reason; fires when defined


@dataclass(frozen=True)
class ExitTrigger:
    """A condition on performance that, once true, fires an exit trigger."""

    trigger_id: str
    kind: TriggerKind
    metric_id: str | None = None
    periods: int | None = None
    amount: Money | None = None
    days: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        check_slug(self.trigger_id, "trigger id")
        if self.kind is TriggerKind.CONSECUTIVE_BREACHES:
            if self.metric_id is None or self.periods is None or not 1 <= self.periods <= 36:
                raise InvalidValue("a consecutive-breaches trigger needs a metric and 1-36 periods")
        elif self.kind is TriggerKind.CREDITS_EXCEED:
            if self.amount is None or self.amount.is_negative():
                raise InvalidValue("a credits-exceed trigger needs a non-negative amount")
        elif self.kind is TriggerKind.HEALTH_CHECK_OVERDUE:
            if self.days is None or not 0 <= self.days <= 730:
                raise InvalidValue("a health-check-overdue trigger needs 0-730 days")
        elif self.kind is TriggerKind.MANUAL and (self.reason is None or not self.reason.strip()):
            raise InvalidValue("a manual trigger needs a reason")

    @property
    def time_based(self) -> bool:
        """Whether only the passing of time (`ledger evaluate`) can make it true."""
        return self.kind in (TriggerKind.CRITICAL_FINDING_OVERDUE,
                             TriggerKind.HEALTH_CHECK_OVERDUE)


@dataclass(frozen=True)
class MetricValue:
    metric_id: str
    value: Decimal

    def __post_init__(self) -> None:
        check_slug(self.metric_id, "metric id")
        if not self.value.is_finite() or self.value < 0:
            raise InvalidValue("a reported value must be a finite, non-negative number")


CREDIT_VALUE_TYPES: tuple[type, ...] = (Cap, Tier, PenaltyRule, IncentiveRule, ExitTrigger,
                                        MetricValue)
CREDIT_ENUM_TYPES: tuple[type[Enum], ...] = (MissingData, TriggerKind)
