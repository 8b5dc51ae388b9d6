"""Relationship governance: health checks, findings, reviews, cadence, proposals, exit."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum

from domain.exceptions import InvalidValue
from domain.money import Money
from domain.values import check_slug, check_text


class FindingCategory(Enum):
    RELATIONSHIP = "relationship"
    DELIVERY = "delivery"
    SECURITY = "security"
    FINANCIAL = "financial"
    COMPLIANCE = "compliance"
    OTHER = "other"


class Severity(Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class HealthRating(Enum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


class ReviewKind(Enum):
    OPERATIONAL = "operational"
    SLA_REVIEW = "sla_review"
    SCORECARD = "scorecard"


class CadenceKind(Enum):
    """What a cadence schedules: the three review kinds and the health check."""

    OPERATIONAL = "operational"
    SLA_REVIEW = "sla_review"
    SCORECARD = "scorecard"
    HEALTH_CHECK = "health_check"


class IntervalUnit(Enum):
    WEEKS = "weeks"
    MONTHS = "months"


class ProposalDecision(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class Cadence:
    """How often a governance meeting or check is due: every `every` weeks or months."""

    kind: CadenceKind
    every: int
    unit: IntervalUnit

    def __post_init__(self) -> None:
        if not 1 <= self.every <= 24:
            raise InvalidValue("a cadence repeats every 1 to 24 weeks or months")
        if self.kind is CadenceKind.HEALTH_CHECK and (
                self.unit is not IntervalUnit.MONTHS or not 6 <= self.every <= 12):
            raise InvalidValue("a health check is due every 6 to 12 months")

    def next_due(self, last: date) -> date:
        """Return when the next one is due after one held on `last` (at the latest, the
        calendar's last day)."""
        if self.unit is IntervalUnit.WEEKS:
            return last + timedelta(weeks=self.every) if (
                date.max - last).days >= 7 * self.every else date.max
        return add_months(last, self.every)


def add_months(day: date, months: int) -> date:
    """Return the same day `months` later (clamped to the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    if year > date.max.year:
        return date.max
    return date(year, month, min(day.day, monthrange(year, month)[1]))


@dataclass(frozen=True)
class FindingSpec:
    """A finding as a health check records it."""

    finding_id: str
    category: FindingCategory
    severity: Severity
    description: str
    owner: str
    due_date: date

    def __post_init__(self) -> None:
        check_slug(self.finding_id, "finding id")
        check_text(self.description, "finding description")
        check_text(self.owner, "finding owner", 200)


@dataclass(frozen=True)
class ScorecardEntry:
    """One perspective of a balanced scorecard, scored 1 (poor) to 5 (excellent)."""

    score: int
    comment: str

    def __post_init__(self) -> None:
        if not 1 <= self.score <= 5:
            raise InvalidValue("a scorecard score is 1 to 5")
        check_text(self.comment, "scorecard comment")


@dataclass(frozen=True)
class Scorecard:
    financial: ScorecardEntry
    customer: ScorecardEntry
    internal_process: ScorecardEntry
    learning_growth: ScorecardEntry

    def average(self) -> Decimal:
        """Return the mean score of the four perspectives."""
        scores = (self.financial.score, self.customer.score, self.internal_process.score,
                  self.learning_growth.score)
        return Decimal(sum(scores)) / 4


def check_saving(saving: Money | None) -> None:
    """Raise InvalidValue for a negative saving."""
    if saving is not None and saving.is_negative():
        raise InvalidValue("a saving must not be negative")


GOVERNANCE_VALUE_TYPES: tuple[type, ...] = (Cadence, FindingSpec, ScorecardEntry, Scorecard)
GOVERNANCE_ENUM_TYPES: tuple[type[Enum], ...] = (
    FindingCategory, Severity, HealthRating, ReviewKind, CadenceKind, IntervalUnit,
    ProposalDecision,
)
