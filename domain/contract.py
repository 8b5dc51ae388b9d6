"""The Contract aggregate: one event stream per vendor contract."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from domain.chain import GENESIS_HASH, HASH_FIELD, event_hash
from domain.exceptions import (
    ActivationRequirementsMissing,
    ContractAlreadyActive,
    ContractNotActive,
    ContractTerminated,
    EffectiveDateOutOfTerm,
    EmptyAmendment,
    InvalidRenewal,
    InvalidValue,
    SlaMetricAlreadyDefined,
    SlaMetricRetired,
    UnknownSlaMetric,
)
from domain.money import Money
from domain.values import (
    ContractStatus,
    DeliveryLocation,
    ExitPlan,
    PointOfContact,
    Provenance,
    ServiceScope,
    SlaMetric,
    SlaTargetChange,
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
    check_text,
)


class Contract(Aggregate):
    """A vendor contract, from draft through activation to termination.

    Invariants:
    - the term ends after it starts, and the notice period is shorter than the term;
    - the contract value is never negative and never a float;
    - activation needs an exit plan, at least one SLA metric in force and a point of contact;
    - amendments and SLA changes take effect within the term, never before it starts;
    - a terminated contract accepts no further act;
    - every event links to its predecessor by SHA-256 (a hash chain per contract).
    """

    class Event(Aggregate.Event):
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

    class ContractDrafted(Aggregate.Created, Event):
        title: str
        vendor: Vendor
        service_scope: ServiceScope
        sourcing_model: SourcingModel
        delivery_location: DeliveryLocation
        value: Money
        term: Term
        objectives: tuple[str, ...]

    class TermsAmended(Event):
        changes: TermChanges
        rationale: str
        effective_date: date

    class PointOfContactDesignated(Event):
        """v1 stored flat name/email/title fields; v2 nests them and adds a phone number."""

        point_of_contact: PointOfContact

        class_version: ClassVar[int] = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["point_of_contact"] = PointOfContact(
                name=state.pop("name"),
                email=state.pop("email"),
                title=state.pop("title", None),
                phone=None,
            )

    class SlaMetricDefined(Event):
        metric: SlaMetric

    class SlaAmended(Event):
        target_changes: tuple[SlaTargetChange, ...]
        retired_metric_ids: tuple[str, ...]
        effective_from: date
        rationale: str

    class ExitPlanDefined(Event):
        exit_plan: ExitPlan
        revision: int

    class ContractActivated(Event):
        effective_date: date

    class ContractRenewed(Event):
        new_end: date
        reason: str

    class ContractTerminated(Event):
        reason: str
        effective_date: date

    chain_head: str  # set by every event's mutate(); not a constructor argument

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Link every new event to the hash of the event before it."""
        super().trigger_event(event_class, previous_hash=self.chain_head, **kwargs)

    # -- creation --------------------------------------------------------------------

    @classmethod
    def draft(
        cls,
        *,
        contract_id: UUID,
        title: str,
        vendor: Vendor,
        service_scope: ServiceScope,
        sourcing_model: SourcingModel,
        delivery_location: DeliveryLocation,
        value: Money,
        term: Term,
        objectives: tuple[str, ...],
        provenance: Provenance,
    ) -> Contract:
        """Draft a new contract."""
        check_text(title, "title", 200)
        _check_value(value)
        for objective in objectives:
            check_text(objective, "objective", 500)
        return cls._create(
            cls.ContractDrafted,
            id=contract_id,
            previous_hash=GENESIS_HASH,
            provenance=provenance,
            title=title,
            vendor=vendor,
            service_scope=service_scope,
            sourcing_model=sourcing_model,
            delivery_location=delivery_location,
            value=value,
            term=term,
            objectives=tuple(objectives),
        )

    @event(ContractDrafted)
    def __init__(
        self,
        title: str,
        vendor: Vendor,
        service_scope: ServiceScope,
        sourcing_model: SourcingModel,
        delivery_location: DeliveryLocation,
        value: Money,
        term: Term,
        objectives: tuple[str, ...],
    ) -> None:
        self.status = ContractStatus.DRAFT
        self.title = title
        self.vendor = vendor
        self.service_scope = service_scope
        self.sourcing_model = sourcing_model
        self.delivery_location = delivery_location
        self.value = value
        self.term = term
        self.objectives = tuple(objectives)
        self.point_of_contact: PointOfContact | None = None
        self.sla_metrics: dict[str, SlaMetric] = {}
        self.sla_history: list[dict[str, Any]] = []
        self.retired_metrics: dict[str, date] = {}
        self.exit_plan: ExitPlan | None = None
        self.exit_plan_revision = 0
        self.amendments: list[dict[str, Any]] = []
        self.activated_on: date | None = None
        self.renewals: list[dict[str, Any]] = []
        self.termination: dict[str, Any] | None = None

    # -- checks ----------------------------------------------------------------------

    def _check_not_terminated(self) -> None:
        if self.status is ContractStatus.TERMINATED:
            raise ContractTerminated("the contract is terminated: it accepts no further act")

    def _check_within_term(self, day: date, what: str) -> None:
        if day < self.term.start:
            raise EffectiveDateOutOfTerm(
                f"{what} {day.isoformat()} is before the term starts ({self.term.start})"
            )
        if day > self.term.end:
            raise EffectiveDateOutOfTerm(
                f"{what} {day.isoformat()} is after the term ends ({self.term.end})"
            )

    def _check_metric_amendable(self, metric_id: str, effective_from: date) -> None:
        if metric_id not in self.sla_metrics:
            raise UnknownSlaMetric(f"no SLA metric {metric_id!r} on this contract")
        if metric_id in self.retired_metrics:
            raise SlaMetricRetired(f"SLA metric {metric_id!r} was retired")
        if effective_from < self.sla_metrics[metric_id].effective_from:
            raise EffectiveDateOutOfTerm(
                f"SLA metric {metric_id!r} is only in force from "
                f"{self.sla_metrics[metric_id].effective_from}"
            )

    def metrics_in_force(self) -> list[SlaMetric]:
        """Return the SLA metrics not retired."""
        return [m for k, m in self.sla_metrics.items() if k not in self.retired_metrics]

    # -- terms -----------------------------------------------------------------------

    def amend_terms(
        self, changes: TermChanges, rationale: str, effective_date: date, provenance: Provenance
    ) -> None:
        """Amend the terms from an effective date within the term."""
        self._check_not_terminated()
        if not changes.changed():
            raise EmptyAmendment("an amendment must change at least one term")
        check_text(rationale, "rationale")
        self._check_within_term(effective_date, "effective date")
        if changes.title is not None:
            check_text(changes.title, "title", 200)
        if changes.value is not None:
            _check_value(changes.value)
        for objective in changes.objectives or ():
            check_text(objective, "objective", 500)
        # Building the new term validates it (end after start, notice shorter than term).
        new_term = self._term_after(changes)
        if changes.end is not None and changes.end < effective_date:
            raise EffectiveDateOutOfTerm("the new end date is before the amendment takes effect")
        del new_term
        self._amend_terms(
            changes=changes,
            rationale=rationale,
            effective_date=effective_date,
            provenance=provenance,
        )

    def _term_after(self, changes: TermChanges) -> Term:
        return Term(
            start=self.term.start,
            end=changes.end if changes.end is not None else self.term.end,
            notice_period_days=(
                changes.notice_period_days
                if changes.notice_period_days is not None
                else self.term.notice_period_days
            ),
            renewal=changes.renewal if changes.renewal is not None else self.term.renewal,
        )

    @event(TermsAmended)
    def _amend_terms(
        self, changes: TermChanges, rationale: str, effective_date: date, provenance: Provenance
    ) -> None:
        self.term = self._term_after(changes)
        for name in ("title", "value", "service_scope", "delivery_location"):
            if getattr(changes, name) is not None:
                setattr(self, name, getattr(changes, name))
        if changes.objectives is not None:
            self.objectives = tuple(changes.objectives)
        self.amendments.append(
            {
                "version": self.version + 1,
                "effective_date": effective_date,
                "rationale": rationale,
                "changes": changes.changed(),
            }
        )

    # -- point of contact ------------------------------------------------------------

    def designate_point_of_contact(
        self, point_of_contact: PointOfContact, provenance: Provenance
    ) -> None:
        """Designate the single point of contact (replacing any earlier one)."""
        self._check_not_terminated()
        self._designate_point_of_contact(point_of_contact=point_of_contact, provenance=provenance)

    @event(PointOfContactDesignated)
    def _designate_point_of_contact(
        self, point_of_contact: PointOfContact, provenance: Provenance
    ) -> None:
        self.point_of_contact = point_of_contact

    # -- SLA -------------------------------------------------------------------------

    def define_sla_metric(self, metric: SlaMetric, provenance: Provenance) -> None:
        """Define a new SLA metric, in force from its effective date."""
        self._check_not_terminated()
        if metric.metric_id in self.sla_metrics:
            raise SlaMetricAlreadyDefined(f"SLA metric {metric.metric_id!r} is already defined")
        self._check_within_term(metric.effective_from, "effective from")
        self._define_sla_metric(metric=metric, provenance=provenance)

    @event(SlaMetricDefined)
    def _define_sla_metric(self, metric: SlaMetric, provenance: Provenance) -> None:
        self.sla_metrics[metric.metric_id] = metric
        self.sla_history.append(
            {
                "metric_id": metric.metric_id,
                "target": metric.target,
                "effective_from": metric.effective_from,
            }
        )

    def amend_sla(
        self,
        target_changes: tuple[SlaTargetChange, ...],
        retired_metric_ids: tuple[str, ...],
        effective_from: date,
        rationale: str,
        provenance: Provenance,
    ) -> None:
        """Change SLA targets and retire SLA metrics from an effective date."""
        self._check_not_terminated()
        if not target_changes and not retired_metric_ids:
            raise EmptyAmendment("an SLA amendment must change or retire at least one metric")
        check_text(rationale, "rationale")
        self._check_within_term(effective_from, "effective from")
        named = [c.metric_id for c in target_changes] + list(retired_metric_ids)
        if len(set(named)) != len(named):
            raise InvalidValue("each metric may appear only once in an SLA amendment")
        for metric_id in named:
            self._check_metric_amendable(metric_id, effective_from)
        self._amend_sla(
            target_changes=tuple(target_changes),
            retired_metric_ids=tuple(retired_metric_ids),
            effective_from=effective_from,
            rationale=rationale,
            provenance=provenance,
        )

    @event(SlaAmended)
    def _amend_sla(
        self,
        target_changes: tuple[SlaTargetChange, ...],
        retired_metric_ids: tuple[str, ...],
        effective_from: date,
        rationale: str,
        provenance: Provenance,
    ) -> None:
        for change in target_changes:
            metric = self.sla_metrics[change.metric_id]
            self.sla_metrics[change.metric_id] = SlaMetric(
                metric_id=metric.metric_id,
                name=metric.name,
                unit=metric.unit,
                direction=metric.direction,
                target=change.target,
                measurement_period=metric.measurement_period,
                effective_from=metric.effective_from,
            )
            self.sla_history.append(
                {
                    "metric_id": change.metric_id,
                    "target": change.target,
                    "effective_from": effective_from,
                    "rationale": rationale,
                }
            )
        for metric_id in retired_metric_ids:
            self.retired_metrics[metric_id] = effective_from

    # -- exit plan -------------------------------------------------------------------

    def define_exit_plan(self, exit_plan: ExitPlan, provenance: Provenance) -> None:
        """Define the exit plan, or revise it."""
        self._check_not_terminated()
        self._define_exit_plan(
            exit_plan=exit_plan, revision=self.exit_plan_revision + 1, provenance=provenance
        )

    @event(ExitPlanDefined)
    def _define_exit_plan(self, exit_plan: ExitPlan, revision: int, provenance: Provenance) -> None:
        self.exit_plan = exit_plan
        self.exit_plan_revision = revision

    # -- lifecycle -------------------------------------------------------------------

    def activate(self, effective_date: date, provenance: Provenance) -> None:
        """Go live: needs an exit plan, an SLA metric in force and a point of contact."""
        self._check_not_terminated()
        if self.status is ContractStatus.ACTIVE:
            raise ContractAlreadyActive("the contract is already active")
        missing = []
        if self.exit_plan is None:
            missing.append("exit plan")
        if not self.metrics_in_force():
            missing.append("SLA metric")
        if self.point_of_contact is None:
            missing.append("point of contact")
        if missing:
            raise ActivationRequirementsMissing(missing)
        self._check_within_term(effective_date, "activation date")
        self._activate(effective_date=effective_date, provenance=provenance)

    @event(ContractActivated)
    def _activate(self, effective_date: date, provenance: Provenance) -> None:
        self.status = ContractStatus.ACTIVE
        self.activated_on = effective_date

    def renew(self, new_end: date, reason: str, provenance: Provenance) -> None:
        """Extend the term of an active contract to a later end date."""
        self._check_not_terminated()
        if self.status is not ContractStatus.ACTIVE:
            raise ContractNotActive("only an active contract can be renewed")
        check_text(reason, "reason")
        if new_end <= self.term.end:
            raise InvalidRenewal(f"a renewal must end after the current end ({self.term.end})")
        self._renew(new_end=new_end, reason=reason, provenance=provenance)

    @event(ContractRenewed)
    def _renew(self, new_end: date, reason: str, provenance: Provenance) -> None:
        self.renewals.append({"previous_end": self.term.end, "new_end": new_end, "reason": reason})
        self.term = Term(
            start=self.term.start,
            end=new_end,
            notice_period_days=self.term.notice_period_days,
            renewal=self.term.renewal,
        )

    def terminate(self, reason: str, effective_date: date, provenance: Provenance) -> None:
        """End the contract (a draft may be abandoned, an active contract terminated)."""
        self._check_not_terminated()
        check_text(reason, "reason")
        if self.status is ContractStatus.ACTIVE:
            self._check_within_term(effective_date, "termination date")
        self._terminate(reason=reason, effective_date=effective_date, provenance=provenance)

    @event(ContractTerminated)
    def _terminate(self, reason: str, effective_date: date, provenance: Provenance) -> None:
        self.status = ContractStatus.TERMINATED
        self.termination = {"reason": reason, "effective_date": effective_date}


def _check_value(value: Money) -> None:
    if value.is_negative():
        raise InvalidValue("contract value must not be negative")
