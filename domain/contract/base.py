"""What every capability of the Contract aggregate shares: its event base, its state
and the checks all of them make.

Each capability module holds a plain class (a "slice") with its events, its commands
and their appliers. `Contract` inherits them all and, as it is defined, its
`ContractState.__init_subclass__` copies every slice's event classes and @event
appliers onto it: eventsourcing only sees those on the aggregate class itself, and it
names the events after it (topics `domain.contract:Contract.<Event>`, as stored).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate, CanMutateAggregate, CommandMethodDecorator
from eventsourcing.utils import get_topic

from domain.chain import HASH_FIELD, event_hash
from domain.credits import ExitTrigger, IncentiveRule, PenaltyRule
from domain.exceptions import ContractNotActive, ContractTerminated, EffectiveDateOutOfTerm
from domain.governance import Cadence, CadenceKind
from domain.money import Money
from domain.periods import Period
from domain.values import (
    ContractStatus,
    DeliveryLocation,
    ExitPlan,
    PointOfContact,
    Provenance,
    ServiceScope,
    SlaMetric,
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
)

if TYPE_CHECKING:
    # The type checker reads each slice as the aggregate it becomes part of.
    _Slice = Aggregate
else:
    _Slice = object


class ContractEvent(Aggregate.Event):
    """Every contract event: who did it, under which request, and its chain link."""

    provenance: Provenance
    previous_hash: str

    class_version: ClassVar[int] = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        state = {
            k: v
            for k, v in vars(self).items()
            if k not in ("originator_id", "originator_version")
        }
        if self.class_version > 1:  # the mapper stores it only then; hash what is stored
            state["class_version"] = self.class_version
        digest = event_hash(
            get_topic(type(self)), self.originator_id, self.originator_version, state
        )
        object.__setattr__(self, HASH_FIELD, digest)

    def mutate(self, aggregate: Any) -> Any:
        aggregate = super().mutate(aggregate)
        aggregate.chain_head = getattr(self, HASH_FIELD)
        return aggregate


class ContractState(_Slice):
    """The state of a contract (set by the appliers; the snapshot holds exactly this),
    and the checks every capability makes."""

    # Lifecycle.
    status: ContractStatus
    title: str
    vendor: Vendor
    service_scope: ServiceScope
    sourcing_model: SourcingModel
    delivery_location: DeliveryLocation
    value: Money
    _drafted_value: Money
    _drafted_terms: TermChanges | None
    term: Term
    objectives: tuple[str, ...]
    point_of_contact: PointOfContact | None
    amendments: list[dict[str, Any]]
    activated_on: date | None
    renewals: list[dict[str, Any]]
    termination: dict[str, Any] | None
    renewal_overrides: list[dict[str, Any]]
    # SLA.
    sla_metrics: dict[str, SlaMetric]
    sla_history: list[dict[str, Any]]
    retired_metrics: dict[str, date]
    # Rules, performance and credits: keys are "<metric_id>@<period label>" (JSON-safe
    # for snapshots).
    penalty_rules: dict[str, list[PenaltyRule]]
    incentive_rules: dict[str, list[IncentiveRule]]
    retired_rules: dict[str, date]
    reports: dict[str, dict[str, Any]]
    evaluations: dict[str, dict[str, Any]]
    penalties: dict[str, dict[str, Any]]
    incentives: dict[str, dict[str, Any]]
    closed_periods: dict[str, str]
    # Governance.
    cadences: dict[str, Cadence]
    health_checks: dict[str, dict[str, Any]]
    findings: dict[str, dict[str, Any]]
    reviews: dict[str, dict[str, Any]]
    proposals: dict[str, dict[str, Any]]
    # Exit.
    exit_plan: ExitPlan | None
    exit_plan_revision: int
    exit_triggers: dict[str, ExitTrigger]
    trigger_firings: dict[str, list[dict[str, Any]]]
    exit: Any  # the initiated exit: reason, steps, spend
    exit_overrides: list[dict[str, Any]]

    if TYPE_CHECKING:
        # Where one capability asks another, named here for the type checker; each is
        # defined by the slice in the comment.
        def target_on(self, metric_id: str, day: date) -> Decimal | None: ...  # sla
        def _rules_in_force(self, rules: dict[str, list[Any]], metric_id: str,
                            day: date) -> list[Any]: ...  # rules
        def _first_day_in_service(self, period: Period) -> date | None: ...  # performance
        def _grant_earn_backs(self, metric_id: str,
                              provenance: Provenance) -> None: ...  # credits
        def _reverse_consequences(self, metric_id: str, period: str, reason: str,
                                  provenance: Provenance) -> None: ...  # credits
        def _last_held(self, kind: CadenceKind) -> date | None: ...  # governance
        def _fire_triggers(self, metric_id: str, period: Period,
                           provenance: Provenance) -> None: ...  # exit
        def incomplete_mandatory_steps(self) -> list[str]: ...  # exit

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if issubclass(cls, Aggregate):
            _assemble(cls)
        super().__init_subclass__(**kwargs)

    def _check_not_terminated(self) -> None:
        if self.status is ContractStatus.TERMINATED:
            raise ContractTerminated("the contract is terminated: it accepts no further act")

    def _check_live(self) -> None:
        self._check_not_terminated()
        if self.status is not ContractStatus.ACTIVE:
            raise ContractNotActive("performance is reported on an active contract")

    def _check_within_term(self, day: date, what: str) -> None:
        if day < self.term.start:
            raise EffectiveDateOutOfTerm(
                f"{what} {day.isoformat()} is before the term starts ({self.term.start})"
            )
        if day > self.term.end:
            raise EffectiveDateOutOfTerm(
                f"{what} {day.isoformat()} is after the term ends ({self.term.end})"
            )


def _assemble(aggregate: type) -> None:
    """Copy the slices' event classes and @event appliers onto the aggregate class,
    before eventsourcing processes it (it reads only the class's own namespace).

    Commands and queries need no copy: they are inherited. A name defined twice is
    refused, so that no slice silently replaces another's event or applier.
    """
    for piece in aggregate.__bases__:
        if not issubclass(piece, ContractState) or issubclass(piece, Aggregate):
            continue
        for name, value in vars(piece).items():
            is_event = isinstance(value, type) and issubclass(value, CanMutateAggregate)
            if not (is_event or isinstance(value, CommandMethodDecorator)):
                continue
            if name in vars(aggregate):
                msg = f"{aggregate.__name__}.{name} is defined twice (again by {piece.__name__})"
                raise TypeError(msg)
            setattr(aggregate, name, value)


def _key(metric_id: str, period: str) -> str:
    return f"{metric_id}@{period}"


def _anniversary(start: date, years: int) -> date:
    year = start.year + years
    if year > date.max.year:  # beyond the calendar: the year never ends
        return date.max
    try:
        return start.replace(year=year)
    except ValueError:  # 29 February in a year without one
        return start.replace(year=year, day=28)
