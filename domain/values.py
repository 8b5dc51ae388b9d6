"""Value objects and the business vocabulary of a vendor contract."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from domain.exceptions import InvalidTerm, InvalidValue
from domain.money import Money

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


def is_slug(value: str) -> bool:
    """Whether value is a short lower-case identifier (vendor, metric, rule ids...)."""
    return bool(_SLUG.match(value))


def check_slug(value: str, what: str) -> str:
    """Return value if it is a short lower-case identifier, else raise InvalidValue."""
    if not _SLUG.match(value):
        raise InvalidValue(f"{what} must be 1-64 lower-case letters, digits, '_', '.' or '-'")
    return value


def check_text(value: str, what: str, max_length: int = 2000) -> str:
    """Return value if it is non-blank text of a sane length, else raise InvalidValue."""
    if not value.strip():
        raise InvalidValue(f"{what} must not be blank")
    if len(value) > max_length:
        raise InvalidValue(f"{what} must be at most {max_length} characters")
    if "\x00" in value:  # no text column (PostgreSQL's included) can hold it
        raise InvalidValue(f"{what} must not contain NUL characters")
    return value


class ServiceScope(Enum):
    NETWORK = "network"
    SECURITY = "security"
    BACKUP = "backup"
    MESSAGING = "messaging"
    APPLICATIONS = "applications"
    DESKTOP = "desktop"
    SERVERS = "servers"
    WEB = "web"
    DATABASE = "database"
    OTHER = "other"


class SourcingModel(Enum):
    STAFF_AUGMENTATION = "staff_augmentation"
    PROJECT = "project"
    FUNCTIONAL = "functional"
    DEDICATED_CENTRE = "dedicated_centre"
    MANAGED_SERVICE = "managed_service"


class DeliveryLocation(Enum):
    ONSHORE = "onshore"
    NEARSHORE = "nearshore"
    OFFSHORE = "offshore"


class RenewalOption(Enum):
    """How the term may be extended when it ends."""

    AUTOMATIC = "automatic"  # renews unless notice is given before the notice deadline
    OPTIONAL = "optional"  # renews only by an explicit renewal act
    NONE = "none"  # ends at its end date


class Direction(Enum):
    """Whether a larger measured value is better (availability) or worse (response time)."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class MeasurementPeriod(Enum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class ContractStatus(Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class Provenance:
    """Who did it (authenticated principal and role) and under which request."""

    actor_id: str
    actor_role: str
    correlation_id: str


@dataclass(frozen=True)
class Vendor:
    vendor_id: str
    name: str

    def __post_init__(self) -> None:
        check_slug(self.vendor_id, "vendor id")
        check_text(self.name, "vendor name", 200)


@dataclass(frozen=True)
class Term:
    """The contract term: [start, end], a notice period in days and the renewal option."""

    start: date
    end: date
    notice_period_days: int
    renewal: RenewalOption

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidTerm("term end must be after its start", "/end")
        if self.notice_period_days < 0:
            raise InvalidTerm("notice period must not be negative", "/notice_period_days")
        if self.notice_period_days >= (self.end - self.start).days:
            raise InvalidTerm("notice period must be shorter than the term",
                              "/notice_period_days")

    def covers(self, day: date) -> bool:
        """Tell whether day falls within the term."""
        return self.start <= day <= self.end


@dataclass(frozen=True)
class PointOfContact:
    """The single designated point of contact on the vendor's side."""

    name: str
    email: str
    title: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        check_text(self.name, "point of contact name", 200)
        if not _EMAIL.match(self.email):
            raise InvalidValue("point of contact email is not an e-mail address")


@dataclass(frozen=True)
class SlaMetric:
    """A measured service level: what is measured, in which unit, and which way is better."""

    metric_id: str
    name: str
    unit: str
    direction: Direction
    target: Decimal
    measurement_period: MeasurementPeriod
    effective_from: date

    def __post_init__(self) -> None:
        check_slug(self.metric_id, "metric id")
        check_text(self.name, "metric name", 200)
        check_text(self.unit, "metric unit", 50)
        check_target(self.target)


def check_target(target: Decimal) -> Decimal:
    """Return target if it is a finite Decimal, else raise InvalidValue."""
    if not isinstance(target, Decimal) or not target.is_finite():
        raise InvalidValue("an SLA target must be a finite decimal number")
    return target


@dataclass(frozen=True)
class SlaTargetChange:
    metric_id: str
    target: Decimal

    def __post_init__(self) -> None:
        check_target(self.target)


@dataclass(frozen=True)
class ExitStep:
    step_id: str
    description: str
    mandatory: bool
    owner: str | None = None

    def __post_init__(self) -> None:
        check_slug(self.step_id, "exit step id")
        check_text(self.description, "exit step description")


@dataclass(frozen=True)
class ExitPlan:
    """How the service is handed back or moved to another provider."""

    steps: tuple[ExitStep, ...]
    budget: Money
    transition_period_days: int
    data_return: str

    def __post_init__(self) -> None:
        if not self.steps:
            raise InvalidValue("an exit plan needs at least one step")
        ids = [s.step_id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise InvalidValue("exit step ids must be unique")
        if self.budget.is_negative():
            raise InvalidValue("exit budget must not be negative")
        if self.transition_period_days <= 0:
            raise InvalidValue("transition period must be at least one day")
        check_text(self.data_return, "data return")


@dataclass(frozen=True)
class TermChanges:
    """The terms an amendment changes; None means unchanged."""

    title: str | None = None
    value: Money | None = None
    end: date | None = None
    notice_period_days: int | None = None
    renewal: RenewalOption | None = None
    service_scope: ServiceScope | None = None
    delivery_location: DeliveryLocation | None = None
    objectives: tuple[str, ...] | None = None

    def changed(self) -> dict[str, object]:
        """Return only the fields this amendment changes."""
        return {k: v for k, v in vars(self).items() if v is not None}


VALUE_TYPES: tuple[type, ...] = (
    Money,
    Provenance,
    Vendor,
    Term,
    PointOfContact,
    SlaMetric,
    SlaTargetChange,
    ExitStep,
    ExitPlan,
    TermChanges,
)
ENUM_TYPES: tuple[type[Enum], ...] = (
    ServiceScope,
    SourcingModel,
    DeliveryLocation,
    RenewalOption,
    Direction,
    MeasurementPeriod,
    ContractStatus,
)
