"""The Contract aggregate: one event stream per vendor contract."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from domain.chain import GENESIS_HASH, HASH_FIELD, event_hash, plain_value
from domain.credits import (
    FEE_CONTEXT,
    ExitTrigger,
    Fees,
    IncentiveRule,
    MetricValue,
    MissingData,
    PenaltyRule,
    TriggerKind,
    assess_incentive,
    assess_penalty,
    is_met,
)
from domain.exceptions import (
    ActivationRequirementsMissing,
    ContractAlreadyActive,
    ContractNotActive,
    ContractTerminated,
    CorrectiveActionClosed,
    CorrectiveActionsOpen,
    DisputeWindowClosed,
    DuplicateId,
    EffectiveDateOutOfTerm,
    EmptyAmendment,
    ExitAlreadyInitiated,
    ExitNotInitiated,
    ExitPlanIncomplete,
    FindingClosed,
    IllegalCreditTransition,
    IllegalExitStepTransition,
    IllegalProposalTransition,
    InvalidRenewal,
    InvalidValue,
    NothingToCorrect,
    NoticeDeadlinePassed,
    PerformanceAlreadyReported,
    PeriodAlreadyClosed,
    PeriodNotInService,
    PeriodNotOver,
    RuleAlreadyDefined,
    RuleRetired,
    SlaMetricAlreadyDefined,
    SlaMetricNotInForce,
    SlaMetricRetired,
    TriggerAlreadyDefined,
    TriggerNotFired,
    UnknownCorrectiveAction,
    UnknownFinding,
    UnknownPenalty,
    UnknownProposal,
    UnknownRule,
    UnknownSlaMetric,
    UnknownTrigger,
    WrongMeasurementPeriod,
)
from domain.governance import (
    Cadence,
    CadenceKind,
    FindingSpec,
    HealthRating,
    ProposalDecision,
    ReviewKind,
    Scorecard,
    Severity,
    check_saving,
)
from domain.money import Money
from domain.periods import Period
from domain.values import (
    ContractStatus,
    DeliveryLocation,
    ExitPlan,
    MeasurementPeriod,
    PointOfContact,
    Provenance,
    ServiceScope,
    SlaMetric,
    SlaTargetChange,
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
    check_slug,
    check_text,
)


class Contract(Aggregate):
    """A vendor contract, from draft through activation to termination.

    Invariants:
    - the term ends after it starts, and the notice period is shorter than the term;
    - the contract value is never negative and never a float;
    - activation needs an exit plan, an SLA metric in force on the activation date and a
      point of contact;
    - a period earns credits and bonuses only if the contract was in service in it, and is
      judged by what applied on its first day in service;
    - fees follow the term: the value is charged over the term's days, and nothing else;
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

    # -- performance, credits and exit triggers --

    class PenaltyRuleDefined(Event):
        rule: PenaltyRule

    class PenaltyRuleAmended(Event):
        rule: PenaltyRule
        rationale: str

    class IncentiveRuleDefined(Event):
        rule: IncentiveRule

    class IncentiveRuleAmended(Event):
        rule: IncentiveRule
        rationale: str

    class RuleRetired(Event):
        rule_id: str
        effective_from: date
        reason: str

    class PerformanceReported(Event):
        report_id: str
        period: str
        values: tuple[MetricValue, ...]
        source: str
        evidence_ref: str | None

    class PerformanceCorrected(Event):
        report_id: str
        period: str
        values: tuple[MetricValue, ...]
        source: str
        evidence_ref: str | None
        reason: str

    class PerformanceReportMissing(Event):
        metric_id: str
        period: str

    class SlaMet(Event):
        metric_id: str
        period: str
        value: Decimal
        target: Decimal

    class SlaBreached(Event):
        metric_id: str
        period: str
        value: Decimal | None
        target: Decimal
        missing: bool

    class PenaltyAssessed(Event):
        penalty_id: str
        rule_id: str
        metric_id: str
        period: str
        contract_year: int
        amount: Money
        assessed_on: date
        calculation: dict[str, Any]

    class IncentiveEarned(Event):
        incentive_id: str
        rule_id: str
        metric_id: str
        period: str
        contract_year: int
        amount: Money
        calculation: dict[str, Any]

    class PenaltyEarnedBack(Event):
        penalty_id: str
        periods_met: tuple[str, ...]

    class PenaltyReversed(Event):
        penalty_id: str
        reason: str

    class IncentiveReversed(Event):
        incentive_id: str
        reason: str

    class PenaltyWaived(Event):
        penalty_id: str
        reason: str
        approver: str

    class PenaltyDisputed(Event):
        penalty_id: str
        reason: str
        evidence: str | None

    class DisputeResolved(Event):
        penalty_id: str
        outcome: str
        amount: Money
        reason: str

    class PeriodClosed(Event):
        period: str
        measurement_period: MeasurementPeriod

    class ExitTriggerDefined(Event):
        trigger: ExitTrigger

    class ExitTriggerFired(Event):
        trigger_id: str
        condition: str
        evidence: tuple[dict[str, Any], ...]

    # -- governance --

    class GovernanceCadenceDeclared(Event):
        cadences: tuple[Cadence, ...]

    class HealthCheckConducted(Event):
        check_id: str
        conducted_on: date
        assessors: tuple[str, ...]
        scope: str
        overall_rating: HealthRating

    class FindingRecorded(Event):
        check_id: str
        finding: FindingSpec

    class CorrectiveActionPlanned(Event):
        finding_id: str
        action_id: str
        description: str
        owner: str
        due_date: date

    class CorrectiveActionUpdated(Event):
        finding_id: str
        action_id: str
        progress: str
        due_date: date

    class CorrectiveActionCompleted(Event):
        finding_id: str
        action_id: str
        completed_on: date
        note: str

    class FindingResolved(Event):
        finding_id: str
        evidence: str
        resolved_on: date

    class FindingRiskAccepted(Event):
        finding_id: str
        approver: str
        reason: str

    class FindingResponded(Event):
        finding_id: str
        response: str

    class ReviewHeld(Event):
        review_id: str
        kind: ReviewKind
        held_on: date
        period: str
        attendees: tuple[str, ...]
        decisions: tuple[str, ...]
        scorecard: Scorecard | None

    class ImprovementProposed(Event):
        proposal_id: str
        title: str
        expected_benefit: str
        estimated_saving: Money | None

    class ProposalDecided(Event):
        proposal_id: str
        decision: ProposalDecision
        reason: str

    class ProposalImplemented(Event):
        proposal_id: str
        realised_benefit: str
        realised_saving: Money | None

    # -- exit --

    class ExitTriggerDismissed(Event):
        trigger_id: str
        reason: str

    class ExitInitiated(Event):
        reason: str
        trigger_id: str | None
        initiated_on: date

    class ExitStepStarted(Event):
        step_id: str
        started_on: date

    class ExitStepCompleted(Event):
        step_id: str
        completed_on: date
        note: str

    class ExitSpendRecorded(Event):
        amount: Money
        description: str
        spent_on: date

    class ExitPlanOverridden(Event):
        reason: str
        incomplete_steps: tuple[str, ...]

    class RenewalDeadlineOverridden(Event):
        reason: str
        notice_deadline: date

    chain_head: str  # set by every event's mutate(); not a constructor argument

    class_version: ClassVar[int] = 2  # of the snapshotted state (events have their own)

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        # v2 keeps the terms as drafted (for what was in force on a day). A v1 snapshot
        # cannot know them once amended: None says "replay the events to find out".
        state["_drafted_terms"] = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Contract:
        # The repository copies cached contracts before every command. All state is
        # dicts and lists of immutable values (frozen value objects, Decimal, date,
        # enums), so copying the containers is a full copy, several times faster than
        # copy.deepcopy's generic walk.
        clone = object.__new__(type(self))
        clone.__dict__.update(_copy_containers(self.__dict__))
        return clone

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
        self._drafted_value = value
        self._drafted_terms: TermChanges | None = TermChanges(
            title=title, value=value, end=term.end, notice_period_days=term.notice_period_days,
            renewal=term.renewal, service_scope=service_scope,
            delivery_location=delivery_location, objectives=tuple(objectives))
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
        # Performance: keys are "<metric_id>@<period label>" (JSON-safe for snapshots).
        self.penalty_rules: dict[str, list[PenaltyRule]] = {}
        self.incentive_rules: dict[str, list[IncentiveRule]] = {}
        self.retired_rules: dict[str, date] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.evaluations: dict[str, dict[str, Any]] = {}
        self.penalties: dict[str, dict[str, Any]] = {}
        self.incentives: dict[str, dict[str, Any]] = {}
        self.closed_periods: dict[str, str] = {}
        self.exit_triggers: dict[str, ExitTrigger] = {}
        self.trigger_firings: dict[str, list[dict[str, Any]]] = {}
        # Governance and exit.
        self.cadences: dict[str, Cadence] = {}
        self.health_checks: dict[str, dict[str, Any]] = {}
        self.findings: dict[str, dict[str, Any]] = {}
        self.reviews: dict[str, dict[str, Any]] = {}
        self.proposals: dict[str, dict[str, Any]] = {}
        self.exit: Any = None  # the initiated exit: reason, steps, spend
        self.exit_overrides: list[dict[str, Any]] = []
        self.renewal_overrides: list[dict[str, Any]] = []

    # -- checks ----------------------------------------------------------------------

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
            _check_value(changes.value, "/changes/value")
            if changes.value.currency != self.value.currency:
                raise InvalidValue(f"the contract's currency stays {self.value.currency}",
                                   "/changes/value/currency")
        for objective in changes.objectives or ():
            check_text(objective, "objective", 500)
        # Building the new term validates it (end after start, notice shorter than term).
        try:
            new_term = self._term_after(changes)
        except InvalidValue as error:  # the term's fields are the body's `changes`
            raise error.within("/changes") from None
        if changes.end is not None and changes.end < effective_date:
            raise EffectiveDateOutOfTerm("the new end date is before the amendment takes effect")
        if changes.value is not None or changes.end is not None:
            self._check_fees_not_negative(new_term, changes, effective_date)
        self._amend_terms(
            changes=changes,
            rationale=rationale,
            effective_date=effective_date,
            provenance=provenance,
        )

    def _check_fees_not_negative(self, term: Term, changes: TermChanges,
                                 effective_date: date) -> None:
        # The value in force is what the whole term costs: what the term charged before an
        # amendment stands, so a value below it would need negative fees from then on.
        amendments = [*self.amendments, {"version": self.version + 1,
                                         "effective_date": effective_date,
                                         "changes": changes.changed()}]
        for since, rate in _daily_rates(term, self._drafted_value.amount, amendments):
            if rate < 0:
                raise InvalidValue(
                    f"from {since} the term would charge less than nothing: the contract "
                    f"value must not fall below what the term charged before then",
                    "/changes/value" if changes.value is not None else "/changes/end")

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
            repeat = next(n for n, metric_id in enumerate(named) if metric_id in named[:n])
            raise InvalidValue(
                "each metric may appear only once in an SLA amendment",
                f"/target_changes/{repeat}/metric_id" if repeat < len(target_changes)
                else f"/retired_metric_ids/{repeat - len(target_changes)}")
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
        """Define the exit plan, or revise it (until the exit is initiated)."""
        self._check_not_terminated()
        if self.exit is not None:
            raise ExitAlreadyInitiated("the exit is under way: its plan can no longer change")
        self._define_exit_plan(
            exit_plan=exit_plan, revision=self.exit_plan_revision + 1, provenance=provenance
        )

    @event(ExitPlanDefined)
    def _define_exit_plan(self, exit_plan: ExitPlan, revision: int, provenance: Provenance) -> None:
        self.exit_plan = exit_plan
        self.exit_plan_revision = revision

    # -- lifecycle -------------------------------------------------------------------

    def activate(self, effective_date: date, provenance: Provenance) -> None:
        """Go live: needs an exit plan, an SLA metric in force on the activation date and a
        point of contact."""
        self._check_not_terminated()
        if self.status is ContractStatus.ACTIVE:
            raise ContractAlreadyActive("the contract is already active")
        self._check_within_term(effective_date, "activation date")
        missing = []
        if self.exit_plan is None:
            missing.append("exit plan")
        # A metric that takes effect later (or was retired by then) measures nothing yet.
        if not any(self.target_on(metric_id, effective_date) is not None
                   for metric_id in self.sla_metrics):
            missing.append(f"SLA metric in force on {effective_date.isoformat()}")
        if self.point_of_contact is None:
            missing.append("point of contact")
        if missing:
            raise ActivationRequirementsMissing(missing)
        self._activate(effective_date=effective_date, provenance=provenance)

    @event(ContractActivated)
    def _activate(self, effective_date: date, provenance: Provenance) -> None:
        self.status = ContractStatus.ACTIVE
        self.activated_on = effective_date

    def renew(self, new_end: date, reason: str, today: date, provenance: Provenance,
              override_reason: str | None = None) -> None:
        """Extend the term of an active contract; after the notice deadline only with an
        explicit override and its reason."""
        self._check_not_terminated()
        if self.status is not ContractStatus.ACTIVE:
            raise ContractNotActive("only an active contract can be renewed")
        check_text(reason, "reason")
        if new_end <= self.term.end:
            raise InvalidRenewal(f"a renewal must end after the current end ({self.term.end})")
        deadline = self.notice_deadline()
        if today > deadline:
            if override_reason is None:
                raise NoticeDeadlinePassed(
                    f"the notice deadline was {deadline}; renew with an override and its reason")
            check_text(override_reason, "override reason")
            self._override_deadline(reason=override_reason, notice_deadline=deadline,
                                    provenance=provenance)
        self._renew(new_end=new_end, reason=reason, provenance=provenance)

    @event(RenewalDeadlineOverridden)
    def _override_deadline(self, reason: str, notice_deadline: date,
                           provenance: Provenance) -> None:
        self.renewal_overrides.append({"reason": reason, "notice_deadline": notice_deadline})

    @event(ContractRenewed)
    def _renew(self, new_end: date, reason: str, provenance: Provenance) -> None:
        self.renewals.append({"previous_end": self.term.end, "new_end": new_end, "reason": reason,
                              "version": self.version + 1})
        self.term = Term(
            start=self.term.start,
            end=new_end,
            notice_period_days=self.term.notice_period_days,
            renewal=self.term.renewal,
        )

    def terminate(self, reason: str, effective_date: date, provenance: Provenance,
                  override_reason: str | None = None) -> None:
        """End the contract. A draft may simply be abandoned; an active contract needs its
        exit plan's mandatory steps completed, or an override with a reason (the service
        lets only an admin give one)."""
        self._check_not_terminated()
        check_text(reason, "reason")
        if self.status is ContractStatus.ACTIVE:
            self._check_within_term(effective_date, "termination date")
            incomplete = self.incomplete_mandatory_steps()
            if incomplete:
                if override_reason is None:
                    raise ExitPlanIncomplete(
                        "complete the exit plan's mandatory steps first: "
                        + ", ".join(incomplete))
                check_text(override_reason, "override reason")
                self._override_exit_plan(reason=override_reason,
                                         incomplete_steps=tuple(incomplete),
                                         provenance=provenance)
        self._terminate(reason=reason, effective_date=effective_date, provenance=provenance)

    @event(ExitPlanOverridden)
    def _override_exit_plan(self, reason: str, incomplete_steps: tuple[str, ...],
                            provenance: Provenance) -> None:
        self.exit_overrides.append({"reason": reason, "incomplete_steps": list(incomplete_steps),
                                    "by": provenance.actor_id})

    @event(ContractTerminated)
    def _terminate(self, reason: str, effective_date: date, provenance: Provenance) -> None:
        self.status = ContractStatus.TERMINATED
        self.termination = {"reason": reason, "effective_date": effective_date}

    # -- penalty and incentive rules -------------------------------------------------

    def _check_rule_target(self, metric_id: str, effective_from: date) -> None:
        if metric_id not in self.sla_metrics:
            raise UnknownSlaMetric(f"no SLA metric {metric_id!r} on this contract")
        self._check_within_term(effective_from, "effective from")
        if effective_from < self.sla_metrics[metric_id].effective_from:
            raise EffectiveDateOutOfTerm(
                f"SLA metric {metric_id!r} is only in force from "
                f"{self.sla_metrics[metric_id].effective_from}")

    def _check_rule_amendable(self, rules: dict[str, list[Any]], rule: Any) -> None:
        if rule.rule_id not in rules:
            raise UnknownRule(f"no rule {rule.rule_id!r} of this kind on this contract")
        if rule.rule_id in self.retired_rules:
            raise RuleRetired(f"rule {rule.rule_id!r} was retired")
        latest = rules[rule.rule_id][-1]
        if rule.metric_id != latest.metric_id:
            raise InvalidValue("an amended rule stays bound to its SLA metric")
        if rule.effective_from <= latest.effective_from:
            raise EffectiveDateOutOfTerm(
                f"an amendment takes effect after the version in force from "
                f"{latest.effective_from}")

    def _check_rule_id_free(self, rule_id: str) -> None:
        if rule_id in self.penalty_rules or rule_id in self.incentive_rules:
            raise RuleAlreadyDefined(f"rule {rule_id!r} is already defined")

    def _check_new_rule(self, rule: PenaltyRule | IncentiveRule) -> None:
        self._check_not_terminated()
        self._check_rule_id_free(rule.rule_id)
        self._check_rule_target(rule.metric_id, rule.effective_from)
        self._check_caps_currency(rule)

    def _check_rule_revision(self, rules: dict[str, list[Any]],
                             rule: PenaltyRule | IncentiveRule, rationale: str) -> None:
        self._check_not_terminated()
        check_text(rationale, "rationale")
        self._check_rule_amendable(rules, rule)
        self._check_rule_target(rule.metric_id, rule.effective_from)
        self._check_caps_currency(rule)

    def define_penalty_rule(self, rule: PenaltyRule, provenance: Provenance) -> None:
        """Define a service-credit rule bound to an SLA metric."""
        self._check_new_rule(rule)
        self._define_penalty_rule(rule=rule, provenance=provenance)

    @event(PenaltyRuleDefined)
    def _define_penalty_rule(self, rule: PenaltyRule, provenance: Provenance) -> None:
        self.penalty_rules[rule.rule_id] = [rule]

    def amend_penalty_rule(self, rule: PenaltyRule, rationale: str,
                           provenance: Provenance) -> None:
        """Add a new version of a penalty rule, in force from a later date."""
        self._check_rule_revision(self.penalty_rules, rule, rationale)
        self._amend_penalty_rule(rule=rule, rationale=rationale, provenance=provenance)

    @event(PenaltyRuleAmended)
    def _amend_penalty_rule(self, rule: PenaltyRule, rationale: str,
                            provenance: Provenance) -> None:
        self.penalty_rules[rule.rule_id].append(rule)

    def define_incentive_rule(self, rule: IncentiveRule, provenance: Provenance) -> None:
        """Define a bonus rule bound to an SLA metric."""
        self._check_new_rule(rule)
        self._define_incentive_rule(rule=rule, provenance=provenance)

    @event(IncentiveRuleDefined)
    def _define_incentive_rule(self, rule: IncentiveRule, provenance: Provenance) -> None:
        self.incentive_rules[rule.rule_id] = [rule]

    def amend_incentive_rule(self, rule: IncentiveRule, rationale: str,
                             provenance: Provenance) -> None:
        """Add a new version of an incentive rule, in force from a later date."""
        self._check_rule_revision(self.incentive_rules, rule, rationale)
        self._amend_incentive_rule(rule=rule, rationale=rationale, provenance=provenance)

    @event(IncentiveRuleAmended)
    def _amend_incentive_rule(self, rule: IncentiveRule, rationale: str,
                              provenance: Provenance) -> None:
        self.incentive_rules[rule.rule_id].append(rule)

    def retire_rule(self, rule_id: str, effective_from: date, reason: str,
                    provenance: Provenance) -> None:
        """Stop applying a rule to periods starting on or after effective_from."""
        self._check_not_terminated()
        check_text(reason, "reason")
        versions = self.penalty_rules.get(rule_id) or self.incentive_rules.get(rule_id)
        if versions is None:
            raise UnknownRule(f"no rule {rule_id!r} on this contract")
        if rule_id in self.retired_rules:
            raise RuleRetired(f"rule {rule_id!r} was retired already")
        if effective_from <= versions[-1].effective_from:
            raise EffectiveDateOutOfTerm("a rule is retired after its latest version took effect")
        self._check_within_term(effective_from, "effective from")
        self._retire_rule(rule_id=rule_id, effective_from=effective_from, reason=reason,
                          provenance=provenance)

    @event(RuleRetired)
    def _retire_rule(self, rule_id: str, effective_from: date, reason: str,
                     provenance: Provenance) -> None:
        self.retired_rules[rule_id] = effective_from

    def _check_caps_currency(self, rule: Any) -> None:
        for name, cap in (("period_cap", rule.period_cap), ("year_cap", rule.year_cap)):
            if cap is not None and cap.amount is not None \
                    and cap.amount.currency != self.value.currency:
                raise InvalidValue(f"cap amounts must be in {self.value.currency}",
                                   f"/{name}/amount/currency")

    def _rules_in_force(self, rules: dict[str, list[Any]], metric_id: str,
                        day: date) -> list[Any]:
        in_force = []
        for rule_id, versions in rules.items():
            retired = self.retired_rules.get(rule_id)
            if retired is not None and retired <= day:
                continue
            applicable = [v for v in versions if v.effective_from <= day]
            if applicable and applicable[-1].metric_id == metric_id:
                in_force.append(applicable[-1])
        return in_force

    # -- performance -----------------------------------------------------------------

    def target_on(self, metric_id: str, day: date) -> Decimal | None:
        """Return the SLA target in force on day (None if the metric was not in force)."""
        retired = self.retired_metrics.get(metric_id)
        if retired is not None and retired <= day:
            return None
        entries = [h for h in self.sla_history
                   if h["metric_id"] == metric_id and h["effective_from"] <= day]
        if not entries:
            return None
        return max(enumerate(entries), key=lambda e: (e[1]["effective_from"], e[0]))[1]["target"]

    def value_on(self, day: date) -> Money:
        """Return the contract value in force on day (amendments apply from their date)."""
        value = self._drafted_value
        for amendment in sorted(self.amendments, key=lambda a: a["effective_date"]):
            if amendment["effective_date"] <= day and "value" in amendment["changes"]:
                value = amendment["changes"]["value"]
        return value

    # -- what applied on a day (effective time) ----------------------------------------

    @property
    def drafted_terms(self) -> TermChanges | None:
        """The amendable terms as drafted; None on a contract restored from a snapshot
        taken before they were kept (replay its events to know them)."""
        return self._drafted_terms

    def status_on(self, day: date) -> ContractStatus:
        """Return the status on day: terminated from the termination's effective date,
        active from the activation date, a draft before (or if never activated)."""
        if self.termination is not None and self.termination["effective_date"] <= day:
            return ContractStatus.TERMINATED
        if self.activated_on is not None and self.activated_on <= day:
            return ContractStatus.ACTIVE
        return ContractStatus.DRAFT

    def terms_on(self, day: date) -> dict[str, Any]:
        """Return the amendable terms in force on day: the drafted terms with every
        amendment effective on or before day applied in effective-date order (on the same
        date the later recorded wins), and the term's end extended by each renewal
        recorded after the amendment that set it (a renewal has no effective date: its
        new end applies on every day)."""
        if self._drafted_terms is None:
            raise LookupError("the drafted terms are unknown: replay the contract's events")
        terms: dict[str, Any] = dict(vars(self._drafted_terms))
        end_set_by = 1  # the version that set the end in force: the draft, an amendment
        applied = []
        for amendment in sorted(self.amendments,
                                key=lambda a: (a["effective_date"], a["version"])):
            if amendment["effective_date"] > day:
                continue
            terms.update(amendment["changes"])
            applied.append(amendment["version"])
            if "end" in amendment["changes"]:
                end_set_by = amendment["version"]
        for renewal in self.renewals:
            if renewal["version"] > end_set_by:
                terms["end"] = renewal["new_end"]
        terms["amendments"] = applied
        return terms

    def in_force_on(self, day: date) -> dict[str, Any]:
        """Return what applied on day, as far as this version of the contract knows.

        The status on the day; the term (start, and the end as amended by then and
        extended by every renewal) and whether day falls within it; the value and the
        other amendable terms in force; the SLA metrics in force with their target that
        day; and the penalty and incentive rule versions in force (the latest version in
        force from day or before, not retired on or before day, bound to a metric in
        force). On a day the contract was not in service (outside the term, before the
        activation date, once the termination took effect) no SLA metric and no rule
        applies: no period is judged by such a day (see _first_day_in_service).
        """
        terms = self.terms_on(day)
        status = self.status_on(day)
        term = {"start": self.term.start, "end": terms["end"],
                "notice_period_days": terms["notice_period_days"],
                "renewal": terms["renewal"]}
        in_term = self.term.start <= day <= terms["end"]
        metrics: list[dict[str, Any]] = []
        rules: list[dict[str, Any]] = []
        if in_term and status is ContractStatus.ACTIVE:
            metrics = self._metrics_on(day)
            rules = self._rules_on(day, {m["metric_id"] for m in metrics})
        return {
            "date": day,
            "status": status,
            "in_term": in_term,
            "term": term,
            "value": self.value_on(day),
            "terms": {name: terms[name] for name in
                      ("title", "service_scope", "delivery_location", "objectives")},
            "amendments_applied": terms["amendments"],
            "sla_metrics": metrics,
            "rules": rules,
        }

    def _metrics_on(self, day: date) -> list[dict[str, Any]]:
        metrics = []
        for metric_id, metric in self.sla_metrics.items():
            target = self.target_on(metric_id, day)
            if target is None:  # not yet defined, or retired on or before day
                continue
            target_from = max(h["effective_from"] for h in self.sla_history
                              if h["metric_id"] == metric_id and h["effective_from"] <= day)
            metrics.append({**vars(metric), "target": target, "target_from": target_from,
                            "retired_from": self.retired_metrics.get(metric_id)})
        return metrics

    def _rules_on(self, day: date, metric_ids: set[str]) -> list[dict[str, Any]]:
        # As _rules_in_force decides for a period first in service on day.
        rules = []
        for kind, rules_of_kind in (("penalty", self.penalty_rules),
                                    ("incentive", self.incentive_rules)):
            for rule_id, versions in rules_of_kind.items():
                retired = self.retired_rules.get(rule_id)
                if retired is not None and retired <= day:
                    continue
                applicable = [v for v in versions if v.effective_from <= day]
                if applicable and applicable[-1].metric_id in metric_ids:
                    rules.append({"kind": kind, "rule_id": rule_id,
                                  "metric_id": applicable[-1].metric_id,
                                  "version": applicable[-1], "retired_from": retired})
        return rules

    def contract_year_of(self, day: date) -> int:
        """Return the contract year (0 for the first) that day falls in."""
        year = max(0, day.year - self.term.start.year)
        while year > 0 and _anniversary(self.term.start, year) > day:
            year -= 1
        return year

    def _fees(self, period: Period) -> tuple[Fees, int]:
        # What the term charges for the period's days and its contract year's days inside
        # the term: a period or year the term covers in part is charged for that part only.
        rates = _daily_rates(self.term, self._drafted_value.amount, self.amendments)
        year_first, year_last = self._contract_year_span(period.start)
        return Fees(
            period_fee=_charge(rates, self.term, period.start, period.end),
            year_fee=_charge(rates, self.term, year_first, year_last),
            currency=self.value.currency,
            period_days=period.days,
            period_days_in_term=_days_in_term(self.term, period.start, period.end),
            year_days=(year_last - year_first).days + 1,
            year_days_in_term=_days_in_term(self.term, year_first, year_last),
        ), self.contract_year_of(period.start)

    def _contract_year_span(self, day: date) -> tuple[date, date]:
        # The first and last day of the contract year day falls in (the first year for a
        # day before the term); years count from the term start.
        years = max(0, day.year - self.term.start.year)
        while years > 0 and _anniversary(self.term.start, years) > day:
            years -= 1
        following = _anniversary(self.term.start, years + 1)
        last = date.max if following == date.max else following - timedelta(days=1)
        return _anniversary(self.term.start, years), last

    def _first_day_in_service(self, period: Period) -> date | None:
        """Return the first day of period on which the contract was in service (active:
        from the activation date, within the term, before the termination took effect),
        or None if it was in service on none of its days."""
        if self.activated_on is None:
            return None
        first = max(period.start, self.activated_on, self.term.start)
        last = min(period.end, self.term.end)
        if self.termination is not None:
            last = min(last, self.termination["effective_date"] - timedelta(days=1))
        return first if first <= last else None

    def _check_in_service(self, period: Period) -> date:
        # No credit and no bonus for a period in which the contract was not in service.
        first = self._first_day_in_service(period)
        if first is None:
            raise PeriodNotInService(
                f"the contract was not in service in {period.label}: it is in service from "
                f"its activation date ({self.activated_on})"
                + (f" until its termination ({self.termination['effective_date']})"
                   if self.termination is not None else ""))
        return first

    def _parse_period(self, label: str, metric_id: str) -> Period:
        if metric_id not in self.sla_metrics:
            raise UnknownSlaMetric(f"no SLA metric {metric_id!r} on this contract")
        kind = self.sla_metrics[metric_id].measurement_period
        try:
            period = Period.parse(label, kind)
        except InvalidValue:
            raise WrongMeasurementPeriod(
                f"SLA metric {metric_id!r} is measured {kind.value}; {label!r} is not "
                f"a {kind.value} period") from None
        if period.end < self.term.start or period.start > self.term.end:
            raise EffectiveDateOutOfTerm(f"period {label} is outside the contract term")
        first = self._check_in_service(period)
        if self.target_on(metric_id, first) is None:
            raise SlaMetricNotInForce(
                f"SLA metric {metric_id!r} is not in force in {label} (on {first})")
        return period

    def report_performance(self, report_id: str, period: str, values: tuple[MetricValue, ...],
                           source: str, evidence_ref: str | None, today: date,
                           provenance: Provenance) -> None:
        """Record measured values for a period and evaluate them, all in one append."""
        self._check_live()
        periods = self._check_report(period, values, source)
        for value in values:
            key = _key(value.metric_id, period)
            if key in self.reports:
                raise PerformanceAlreadyReported(
                    f"{value.metric_id} was reported for {period} already; send a correction")
            if period in self.closed_periods:
                raise PeriodAlreadyClosed(f"period {period} was closed; send a correction")
        self._report_performance(report_id=report_id, period=period, values=values,
                                 source=source, evidence_ref=evidence_ref, provenance=provenance)
        for value in values:
            self._evaluate(value.metric_id, periods[value.metric_id], value.value, today,
                           provenance)

    def correct_performance(self, report_id: str, period: str, values: tuple[MetricValue, ...],
                            source: str, evidence_ref: str | None, reason: str, today: date,
                            provenance: Provenance) -> None:
        """Replace reported values: reverse what they caused and evaluate them anew."""
        self._check_live()
        check_text(reason, "reason")
        periods = self._check_report(period, values, source)
        for value in values:
            if _key(value.metric_id, period) not in self.evaluations:
                raise NothingToCorrect(f"{value.metric_id} was never evaluated for {period}")
        self._correct_performance(report_id=report_id, period=period, values=values,
                                  source=source, evidence_ref=evidence_ref, reason=reason,
                                  provenance=provenance)
        for value in values:
            self._reverse_consequences(value.metric_id, period, f"corrected by {report_id}",
                                       provenance)
            self._evaluate(value.metric_id, periods[value.metric_id], value.value, today,
                           provenance)

    def _check_report(self, period: str, values: tuple[MetricValue, ...],
                      source: str) -> dict[str, Period]:
        check_text(source, "source", 200)
        if not values:
            raise InvalidValue("a report needs at least one metric value", "/values")
        ids = [v.metric_id for v in values]
        if len(set(ids)) != len(ids):
            repeat = next(n for n, metric_id in enumerate(ids) if metric_id in ids[:n])
            raise InvalidValue("each metric may appear only once in a report",
                               f"/values/{repeat}/metric_id")
        return {v.metric_id: self._parse_period(period, v.metric_id) for v in values}

    @event(PerformanceReported)
    def _report_performance(self, report_id: str, period: str, values: tuple[MetricValue, ...],
                            source: str, evidence_ref: str | None,
                            provenance: Provenance) -> None:
        for value in values:
            self.reports[_key(value.metric_id, period)] = {
                "report_id": report_id, "value": value.value, "version": self.version + 1}

    @event(PerformanceCorrected)
    def _correct_performance(self, report_id: str, period: str,
                             values: tuple[MetricValue, ...], source: str,
                             evidence_ref: str | None, reason: str,
                             provenance: Provenance) -> None:
        for value in values:
            self.reports[_key(value.metric_id, period)] = {
                "report_id": report_id, "value": value.value, "version": self.version + 1,
                "corrects": True}

    def close_period(self, period: str, measurement_period: MeasurementPeriod, today: date,
                     provenance: Provenance) -> None:
        """Close a period: metrics with no report are evaluated by their rules' policy."""
        self._check_live()
        closing = Period.parse(period, measurement_period)
        if closing.end >= today:
            raise PeriodNotOver(f"period {period} ends on {closing.end}; close it afterwards")
        if period in self.closed_periods:
            raise PeriodAlreadyClosed(f"period {period} is closed already")
        if closing.end < self.term.start or closing.start > self.term.end:
            raise EffectiveDateOutOfTerm(f"period {period} is outside the contract term")
        first = self._check_in_service(closing)
        self._close_period(period=period, measurement_period=measurement_period,
                           provenance=provenance)
        for metric in self.sla_metrics.values():
            key = _key(metric.metric_id, period)
            if (metric.measurement_period is not measurement_period or key in self.evaluations
                    or self.target_on(metric.metric_id, first) is None):
                continue
            rules = self._rules_in_force(self.penalty_rules, metric.metric_id, first)
            if any(r.missing_data is MissingData.BREACH for r in rules):
                self._evaluate(metric.metric_id, closing, None, today, provenance)
            else:
                self._record_missing(metric_id=metric.metric_id, period=period,
                                     provenance=provenance)

    @event(PeriodClosed)
    def _close_period(self, period: str, measurement_period: MeasurementPeriod,
                      provenance: Provenance) -> None:
        self.closed_periods[period] = measurement_period.value

    @event(PerformanceReportMissing)
    def _record_missing(self, metric_id: str, period: str, provenance: Provenance) -> None:
        pass  # the gap itself is the fact; nothing is owed

    def _evaluate(self, metric_id: str, period: Period, value: Decimal | None, today: date,
                  provenance: Provenance) -> None:
        metric = self.sla_metrics[metric_id]
        first = self._first_day_in_service(period)
        assert first is not None  # checked when the period was parsed or closed
        target = self.target_on(metric_id, first)
        assert target is not None  # likewise
        if value is not None and is_met(metric.direction, target, value):
            self._sla_met(metric_id=metric_id, period=period.label, value=value, target=target,
                          provenance=provenance)
        else:
            self._sla_breached(metric_id=metric_id, period=period.label, value=value,
                               target=target, missing=value is None, provenance=provenance)
        fees, year = self._fees(period)
        for rule in self._rules_in_force(self.penalty_rules, metric_id, first):
            if value is not None and is_met(metric.direction, target, value):
                continue
            if value is None and rule.missing_data is not MissingData.BREACH:
                continue
            calculation = assess_penalty(rule, metric.direction, target, value, fees,
                                         self._credited(year))
            self._assess_penalty(
                penalty_id=str(uuid5(self.id, f"penalty/{rule.rule_id}/{period.label}/"
                                              f"{self.version + 1}")),
                rule_id=rule.rule_id, metric_id=metric_id, period=period.label,
                contract_year=year, amount=calculation.amount, assessed_on=today,
                calculation=_calculation_record(rule, calculation), provenance=provenance)
        self._earn_incentives(metric_id, period, provenance)
        # A period evaluated late may complete the run of periods that a later period's
        # bonus needs: the later periods it is part of a run with are judged again.
        longest = max((r.consecutive_periods for versions in self.incentive_rules.values()
                       for r in versions), default=1)
        later = period.next()
        for _ in range(longest - 1):
            if later is None or _key(metric_id, later.label) not in self.evaluations:
                break
            self._earn_incentives(metric_id, later, provenance)
            later = later.next()
        self._grant_earn_backs(metric_id, provenance)
        self._fire_triggers(metric_id, period, provenance)

    def _earn_incentives(self, metric_id: str, period: Period, provenance: Provenance) -> None:
        # Each incentive rule in force earns its bonus for a period once (a correction
        # reverses it first, so the period is judged anew).
        first = self._first_day_in_service(period)
        if first is None:
            return
        direction = self.sla_metrics[metric_id].direction
        fees, year = self._fees(period)
        for incentive_rule in self._rules_in_force(self.incentive_rules, metric_id, first):
            if any(i["rule_id"] == incentive_rule.rule_id and i["period"] == period.label
                   and i["status"] != "reversed" for i in self.incentives.values()):
                continue
            values = self._recent_values(metric_id, period, incentive_rule.consecutive_periods)
            earned = assess_incentive(incentive_rule, direction, values, fees,
                                      self._earned(year))
            if earned is not None and earned.amount.amount > 0:
                self._earn_incentive(
                    incentive_id=str(uuid5(self.id, f"incentive/{incentive_rule.rule_id}/"
                                                    f"{period.label}/{self.version + 1}")),
                    rule_id=incentive_rule.rule_id, metric_id=metric_id, period=period.label,
                    contract_year=year, amount=earned.amount,
                    calculation=_calculation_record(incentive_rule, earned),
                    provenance=provenance)

    @event(SlaMet)
    def _sla_met(self, metric_id: str, period: str, value: Decimal, target: Decimal,
                 provenance: Provenance) -> None:
        self.evaluations[_key(metric_id, period)] = {
            "metric_id": metric_id, "period": period, "met": True, "value": value,
            "target": target, "missing": False, "version": self.version + 1}

    @event(SlaBreached)
    def _sla_breached(self, metric_id: str, period: str, value: Decimal | None,
                      target: Decimal, missing: bool, provenance: Provenance) -> None:
        self.evaluations[_key(metric_id, period)] = {
            "metric_id": metric_id, "period": period, "met": False, "value": value,
            "target": target, "missing": missing, "version": self.version + 1}

    @event(PenaltyAssessed)
    def _assess_penalty(self, penalty_id: str, rule_id: str, metric_id: str, period: str,
                        contract_year: int, amount: Money, assessed_on: date,
                        calculation: dict[str, Any], provenance: Provenance) -> None:
        self.penalties[penalty_id] = {
            "penalty_id": penalty_id, "rule_id": rule_id, "metric_id": metric_id,
            "period": period, "contract_year": contract_year, "amount": amount,
            "owed": amount, "status": "assessed", "dispute": None, "assessed_on": assessed_on,
            "calculation": calculation, "version": self.version + 1}

    @event(IncentiveEarned)
    def _earn_incentive(self, incentive_id: str, rule_id: str, metric_id: str, period: str,
                        contract_year: int, amount: Money, calculation: dict[str, Any],
                        provenance: Provenance) -> None:
        self.incentives[incentive_id] = {
            "incentive_id": incentive_id, "rule_id": rule_id, "metric_id": metric_id,
            "period": period, "contract_year": contract_year, "amount": amount,
            "owed": amount, "status": "earned", "calculation": calculation,
            "version": self.version + 1}

    def _credited(self, year: int) -> Decimal:
        return sum((p["owed"].amount for p in self.penalties.values()
                    if p["contract_year"] == year), Decimal(0))

    def _earned(self, year: int) -> Decimal:
        return sum((i["owed"].amount for i in self.incentives.values()
                    if i["contract_year"] == year), Decimal(0))

    def _recent_values(self, metric_id: str, period: Period, count: int) -> list[Decimal]:
        values: list[Decimal] = []
        current: Period | None = period
        for _ in range(count):
            if current is None:
                break
            evaluation = self.evaluations.get(_key(metric_id, current.label))
            if evaluation is None or evaluation["value"] is None:
                break
            values.insert(0, evaluation["value"])
            current = current.previous()
        return values

    def _grant_earn_backs(self, metric_id: str, provenance: Provenance) -> None:
        kind = self.sla_metrics[metric_id].measurement_period
        for penalty in list(self.penalties.values()):
            if penalty["metric_id"] != metric_id or penalty["status"] != "assessed" \
                    or penalty["owed"].amount == 0:
                continue
            rule = self.penalty_rules[penalty["rule_id"]]
            # The version the penalty was judged by: in force on the period's first day
            # in service (which may be after its first day).
            judged_on = Period.parse(penalty["period"], kind)
            judged_from = self._first_day_in_service(judged_on) or judged_on.start
            versions = [r for r in rule if r.effective_from <= judged_from]
            periods_needed = versions[-1].earn_back_periods if versions else 0
            if periods_needed == 0:
                continue
            following = []
            current: Period | None = Period.parse(penalty["period"], kind)
            for _ in range(periods_needed):
                current = current.next() if current else None
                if current is None:  # the calendar ends first: it cannot be earned back
                    break
                following.append(current.label)
            if len(following) < periods_needed:
                continue
            evaluations = [self.evaluations.get(_key(metric_id, label)) for label in following]
            if all(e is not None and e["met"] for e in evaluations):
                self._earn_back(penalty_id=penalty["penalty_id"], periods_met=tuple(following),
                                provenance=provenance)

    @event(PenaltyEarnedBack)
    def _earn_back(self, penalty_id: str, periods_met: tuple[str, ...],
                   provenance: Provenance) -> None:
        penalty = self.penalties[penalty_id]
        penalty["status"] = "earned_back"
        penalty["owed"] = Money(Decimal(0), penalty["amount"].currency)

    def _reverse_consequences(self, metric_id: str, period: str, reason: str,
                              provenance: Provenance) -> None:
        for penalty in list(self.penalties.values()):
            if (penalty["metric_id"], penalty["period"]) == (metric_id, period) \
                    and penalty["status"] != "reversed":
                self._reverse_penalty(penalty_id=penalty["penalty_id"], reason=reason,
                                      provenance=provenance)
        for incentive in list(self.incentives.values()):
            if (incentive["metric_id"], incentive["period"]) == (metric_id, period) \
                    and incentive["status"] != "reversed":
                self._reverse_incentive(incentive_id=incentive["incentive_id"], reason=reason,
                                        provenance=provenance)

    @event(PenaltyReversed)
    def _reverse_penalty(self, penalty_id: str, reason: str, provenance: Provenance) -> None:
        penalty = self.penalties[penalty_id]
        penalty["status"] = "reversed"
        penalty["owed"] = Money(Decimal(0), penalty["amount"].currency)

    @event(IncentiveReversed)
    def _reverse_incentive(self, incentive_id: str, reason: str,
                           provenance: Provenance) -> None:
        incentive = self.incentives[incentive_id]
        incentive["status"] = "reversed"
        incentive["owed"] = Money(Decimal(0), incentive["amount"].currency)

    # -- waivers and disputes --------------------------------------------------------

    def _penalty(self, penalty_id: str) -> dict[str, Any]:
        try:
            return self.penalties[penalty_id]
        except KeyError:
            raise UnknownPenalty(f"no penalty {penalty_id} on this contract") from None

    def waive_penalty(self, penalty_id: str, reason: str, approver: str,
                      provenance: Provenance) -> None:
        """Forgive an assessed penalty (procurement's decision, with approver)."""
        self._check_not_terminated()
        penalty = self._penalty(penalty_id)
        if penalty["status"] != "assessed":
            raise IllegalCreditTransition(f"a {penalty['status']} penalty cannot be waived")
        if penalty["dispute"] is not None and penalty["dispute"]["status"] != "open":
            raise IllegalCreditTransition("a penalty whose dispute was resolved cannot be waived")
        check_text(reason, "reason")
        check_text(approver, "approver", 200)
        self._waive(penalty_id=penalty_id, reason=reason, approver=approver,
                    provenance=provenance)

    @event(PenaltyWaived)
    def _waive(self, penalty_id: str, reason: str, approver: str,
               provenance: Provenance) -> None:
        penalty = self.penalties[penalty_id]
        penalty["status"] = "waived"
        penalty["owed"] = Money(Decimal(0), penalty["amount"].currency)
        if penalty["dispute"] is not None:
            penalty["dispute"] = {**penalty["dispute"], "status": "withdrawn_by_waiver"}

    def dispute_penalty(self, penalty_id: str, reason: str, evidence: str | None, today: date,
                        window_days: int, provenance: Provenance) -> None:
        """The vendor disputes an assessed penalty within the dispute window."""
        self._check_not_terminated()
        penalty = self._penalty(penalty_id)
        if penalty["status"] != "assessed":
            raise IllegalCreditTransition(f"a {penalty['status']} penalty cannot be disputed")
        if penalty["dispute"] is not None:
            raise IllegalCreditTransition("this penalty was disputed already")
        if (today - penalty["assessed_on"]).days > window_days:
            raise DisputeWindowClosed(
                f"penalties can be disputed within {window_days} days of assessment "
                f"({penalty['assessed_on']})")
        check_text(reason, "reason")
        self._dispute(penalty_id=penalty_id, reason=reason, evidence=evidence,
                      provenance=provenance)

    @event(PenaltyDisputed)
    def _dispute(self, penalty_id: str, reason: str, evidence: str | None,
                 provenance: Provenance) -> None:
        self.penalties[penalty_id]["dispute"] = {"status": "open", "reason": reason,
                                                  "evidence": evidence}

    def resolve_dispute(self, penalty_id: str, outcome: str, adjusted_amount: Money | None,
                        reason: str, provenance: Provenance) -> None:
        """Decide a dispute: upheld (owed as assessed), overturned (nothing), or adjusted."""
        self._check_not_terminated()
        penalty = self._penalty(penalty_id)
        if penalty["dispute"] is None or penalty["dispute"]["status"] != "open":
            raise IllegalCreditTransition("only an open dispute can be resolved")
        check_text(reason, "reason")
        original: Money = penalty["amount"]
        if outcome == "upheld":
            amount = original
        elif outcome == "overturned":
            amount = Money(Decimal(0), original.currency)
        elif outcome == "adjusted":
            if adjusted_amount is None or adjusted_amount.currency != original.currency:
                raise InvalidValue(f"an adjusted outcome needs an amount in {original.currency}",
                                   "/amount" if adjusted_amount is None else "/amount/currency")
            if not Decimal(0) <= adjusted_amount.amount < original.amount:
                raise InvalidValue("an adjusted amount is below the assessed one, and not negative",
                                   "/amount/amount")
            amount = adjusted_amount
        else:
            raise InvalidValue("outcome is upheld, overturned or adjusted", "/outcome")
        self._resolve(penalty_id=penalty_id, outcome=outcome, amount=amount, reason=reason,
                      provenance=provenance)

    @event(DisputeResolved)
    def _resolve(self, penalty_id: str, outcome: str, amount: Money, reason: str,
                 provenance: Provenance) -> None:
        penalty = self.penalties[penalty_id]
        penalty["dispute"] = {**penalty["dispute"], "status": outcome, "resolution": reason}
        penalty["owed"] = amount

    # -- exit triggers ---------------------------------------------------------------

    def define_exit_trigger(self, trigger: ExitTrigger, provenance: Provenance) -> None:
        """Define a performance condition that fires an exit trigger when it becomes true."""
        self._check_not_terminated()
        if trigger.trigger_id in self.exit_triggers:
            raise TriggerAlreadyDefined(f"exit trigger {trigger.trigger_id!r} exists already")
        if trigger.metric_id is not None and trigger.metric_id not in self.sla_metrics:
            raise UnknownSlaMetric(f"no SLA metric {trigger.metric_id!r} on this contract")
        if trigger.amount is not None and trigger.amount.currency != self.value.currency:
            raise InvalidValue(f"trigger amounts must be in {self.value.currency}",
                               "/amount/currency")
        self._define_exit_trigger(trigger=trigger, provenance=provenance)
        if trigger.kind is TriggerKind.MANUAL:  # procurement's judgement: true at once
            self._fire_once(trigger.trigger_id, "manual", ({"reason": trigger.reason},),
                            provenance)

    @event(ExitTriggerDefined)
    def _define_exit_trigger(self, trigger: ExitTrigger, provenance: Provenance) -> None:
        self.exit_triggers[trigger.trigger_id] = trigger

    def _fire_triggers(self, metric_id: str, period: Period, provenance: Provenance) -> None:
        for trigger in self.exit_triggers.values():
            found = self._trigger_evidence(trigger, metric_id, period)
            if found is not None:
                self._fire_once(trigger.trigger_id, *found, provenance)

    def _fire_once(self, trigger_id: str, condition: str,
                   evidence: tuple[dict[str, Any], ...], provenance: Provenance) -> None:
        # A trigger fires once per condition, and not again while a firing is open.
        firings = self.trigger_firings.get(trigger_id, [])
        if any(f["status"] == "fired" or f["condition"] == condition for f in firings):
            return
        self._fire(trigger_id=trigger_id, condition=condition, evidence=evidence,
                   provenance=provenance)

    def _trigger_evidence(
        self, trigger: ExitTrigger, metric_id: str, period: Period
    ) -> tuple[str, tuple[dict[str, Any], ...]] | None:
        # Periods are evaluated in any order (late reports, periods closed afterwards), so
        # each condition is checked over every span the evaluated period belongs to, not
        # only the one that ends with it.
        if trigger.kind is TriggerKind.CONSECUTIVE_BREACHES:
            if trigger.metric_id != metric_id or trigger.periods is None:
                return None
            run = self._breach_run(metric_id, period)
            if len(run) < trigger.periods:
                return None
            # A run fires once, however it grew: by a later period, by an earlier one
            # reported late, or by joining two runs. Only a run that does not hold every
            # period an earlier firing named (that run was broken by a correction) is new.
            labels = {breach["period"] for breach in run}
            if any({e.get("period") for e in firing["evidence"]} <= labels
                   for firing in self.trigger_firings.get(trigger.trigger_id, [])):
                return None
            return f"{metric_id} breached from {run[0]['period']}", tuple(run)
        if trigger.kind is not TriggerKind.CREDITS_EXCEED:
            return None
        assert trigger.amount is not None
        owed = sorted(((self._period_end(p), p["period"], p) for p in self.penalties.values()
                       if p["owed"].amount > 0), key=lambda o: (o[0], o[1]))
        # Every 12-month window ending at the end of a credited period (or of this one)
        # that this period falls in, earliest first: the first to go above the amount is
        # the one an evaluation in calendar order would have found.
        ends = {period.end: period.label}
        for end, label, _ in owed:
            ends.setdefault(end, label)
        for end in sorted(ends):
            window_start = _anniversary(end, -1)
            if end < period.end or not window_start < period.end:
                continue
            credits = [p for e, _, p in owed if window_start < e <= end]
            total = sum((p["owed"].amount for p in credits), Decimal(0))
            if total > trigger.amount.amount:
                return f"credits owed above {trigger.amount.amount} at {ends[end]}", tuple(
                    {"event": "PenaltyAssessed", "version": p["version"],
                     "period": p["period"], "amount": plain_value(p["owed"])}
                    for p in credits)
        return None

    def _breach_run(self, metric_id: str, period: Period) -> list[dict[str, Any]]:
        # The unbroken run of breached periods that period belongs to, oldest first
        # (empty when it was met): SlaBreached evidence, one per period.
        def breach(current: Period | None) -> dict[str, Any] | None:
            if current is None:
                return None
            evaluation = self.evaluations.get(_key(metric_id, current.label))
            if evaluation is None or evaluation["met"]:
                return None
            return {"event": "SlaBreached", "version": evaluation["version"],
                    "period": current.label}

        run: list[dict[str, Any]] = []
        current: Period | None = period
        while (found := breach(current)) is not None:
            run.insert(0, found)
            current = current.previous() if current else None
        if not run:
            return run
        current = period.next()
        while (found := breach(current)) is not None:
            run.append(found)
            current = current.next() if current else None
        return run

    def _period_end(self, penalty: dict[str, Any]) -> date:
        kind = self.sla_metrics[penalty["metric_id"]].measurement_period
        return Period.parse(penalty["period"], kind).end

    @event(ExitTriggerFired)
    def _fire(self, trigger_id: str, condition: str, evidence: tuple[dict[str, Any], ...],
              provenance: Provenance) -> None:
        self.trigger_firings.setdefault(trigger_id, []).append({
            "condition": condition, "evidence": list(evidence), "version": self.version + 1,
            "status": "fired"})

    # -- governance: cadence, health checks, findings, reviews -------------------------

    def declare_cadence(self, cadences: tuple[Cadence, ...], provenance: Provenance) -> None:
        """Declare how often each review and the health check are due (replaces the last)."""
        self._check_not_terminated()
        kinds = [c.kind for c in cadences]
        if not cadences or len(set(kinds)) != len(kinds):
            repeat = next((n for n, kind in enumerate(kinds) if kind in kinds[:n]), None)
            raise InvalidValue("declare each cadence kind once, and at least one",
                               "/cadences" if repeat is None else f"/cadences/{repeat}/kind")
        self._declare_cadence(cadences=tuple(cadences), provenance=provenance)

    @event(GovernanceCadenceDeclared)
    def _declare_cadence(self, cadences: tuple[Cadence, ...], provenance: Provenance) -> None:
        self.cadences = {c.kind.value: c for c in cadences}

    def _check_new_id(self, kind: str, new_id: str, taken: Any) -> None:
        if new_id in taken:
            raise DuplicateId(f"{kind} {new_id!r} exists already")

    def conduct_health_check(self, check_id: str, conducted_on: date, assessors: tuple[str, ...],
                             scope: str, overall_rating: HealthRating,
                             findings: tuple[FindingSpec, ...], provenance: Provenance) -> None:
        """Record a health check and its findings in one append."""
        self._check_not_terminated()
        check_slug(check_id, "health check id")
        self._check_new_id("health check", check_id, self.health_checks)
        if not assessors:
            raise InvalidValue("a health check names its assessors", "/assessors")
        for assessor in assessors:
            check_text(assessor, "assessor", 200)
        check_text(scope, "scope")
        ids = [f.finding_id for f in findings]
        if len(set(ids)) != len(ids):
            repeat = next(n for n, finding_id in enumerate(ids) if finding_id in ids[:n])
            raise InvalidValue("finding ids must be unique", f"/findings/{repeat}/finding_id")
        for n, finding in enumerate(findings):
            self._check_new_id("finding", finding.finding_id, self.findings)
            if finding.due_date < conducted_on:
                raise InvalidValue(f"finding {finding.finding_id} is due before the check",
                                   f"/findings/{n}/due_date")
        self._conduct_health_check(check_id=check_id, conducted_on=conducted_on,
                                   assessors=tuple(assessors), scope=scope,
                                   overall_rating=overall_rating, provenance=provenance)
        for finding in findings:
            self._record_finding(check_id=check_id, finding=finding, provenance=provenance)

    @event(HealthCheckConducted)
    def _conduct_health_check(self, check_id: str, conducted_on: date,
                              assessors: tuple[str, ...], scope: str,
                              overall_rating: HealthRating, provenance: Provenance) -> None:
        self.health_checks[check_id] = {
            "check_id": check_id, "conducted_on": conducted_on, "assessors": list(assessors),
            "scope": scope, "overall_rating": overall_rating, "version": self.version + 1}

    @event(FindingRecorded)
    def _record_finding(self, check_id: str, finding: FindingSpec,
                        provenance: Provenance) -> None:
        self.findings[finding.finding_id] = {
            **vars(finding), "check_id": check_id,
            "status": "open", "actions": {}, "responses": [], "closure": None,
            "version": self.version + 1}

    def _open_finding(self, finding_id: str) -> dict[str, Any]:
        self._check_not_terminated()
        if finding_id not in self.findings:
            raise UnknownFinding(f"no finding {finding_id!r} on this contract")
        finding = self.findings[finding_id]
        if finding["status"] != "open":
            raise FindingClosed(f"finding {finding_id!r} is {finding['status']}")
        return finding

    def plan_corrective_action(self, finding_id: str, action_id: str, description: str,
                               owner: str, due_date: date, provenance: Provenance) -> None:
        """Plan a corrective action for an open finding."""
        finding = self._open_finding(finding_id)
        check_slug(action_id, "action id")
        self._check_new_id("corrective action", action_id, finding["actions"])
        check_text(description, "description")
        check_text(owner, "owner", 200)
        self._plan_action(finding_id=finding_id, action_id=action_id, description=description,
                          owner=owner, due_date=due_date, provenance=provenance)

    @event(CorrectiveActionPlanned)
    def _plan_action(self, finding_id: str, action_id: str, description: str, owner: str,
                     due_date: date, provenance: Provenance) -> None:
        self.findings[finding_id]["actions"][action_id] = {
            "action_id": action_id, "description": description, "owner": owner,
            "due_date": due_date, "status": "planned", "updates": [], "completed_on": None}

    def _open_action(self, finding_id: str, action_id: str) -> dict[str, Any]:
        finding = self._open_finding(finding_id)
        if action_id not in finding["actions"]:
            raise UnknownCorrectiveAction(f"no corrective action {action_id!r} on {finding_id}")
        action = finding["actions"][action_id]
        if action["status"] == "completed":
            raise CorrectiveActionClosed(f"corrective action {action_id!r} was completed")
        return action

    def update_corrective_action(self, finding_id: str, action_id: str, progress: str,
                                 due_date: date | None, provenance: Provenance) -> None:
        """Record progress on a corrective action (and possibly a new due date)."""
        action = self._open_action(finding_id, action_id)
        check_text(progress, "progress")
        self._update_action(finding_id=finding_id, action_id=action_id, progress=progress,
                            due_date=due_date or action["due_date"], provenance=provenance)

    @event(CorrectiveActionUpdated)
    def _update_action(self, finding_id: str, action_id: str, progress: str, due_date: date,
                       provenance: Provenance) -> None:
        action = self.findings[finding_id]["actions"][action_id]
        action["status"] = "in_progress"
        action["due_date"] = due_date
        action["updates"].append(progress)

    def complete_corrective_action(self, finding_id: str, action_id: str, completed_on: date,
                                   note: str, provenance: Provenance) -> None:
        """Complete a corrective action."""
        self._open_action(finding_id, action_id)
        check_text(note, "note")
        self._complete_action(finding_id=finding_id, action_id=action_id,
                              completed_on=completed_on, note=note, provenance=provenance)

    @event(CorrectiveActionCompleted)
    def _complete_action(self, finding_id: str, action_id: str, completed_on: date, note: str,
                         provenance: Provenance) -> None:
        action = self.findings[finding_id]["actions"][action_id]
        action["status"] = "completed"
        action["completed_on"] = completed_on
        action["updates"].append(note)

    def resolve_finding(self, finding_id: str, evidence: str, resolved_on: date,
                        provenance: Provenance) -> None:
        """Resolve a finding with evidence, once its corrective actions are completed."""
        finding = self._open_finding(finding_id)
        check_text(evidence, "evidence")
        open_actions = [a for a, v in finding["actions"].items() if v["status"] != "completed"]
        if open_actions:
            raise CorrectiveActionsOpen(
                f"complete the corrective actions first: {', '.join(sorted(open_actions))}")
        self._resolve_finding(finding_id=finding_id, evidence=evidence, resolved_on=resolved_on,
                              provenance=provenance)

    @event(FindingResolved)
    def _resolve_finding(self, finding_id: str, evidence: str, resolved_on: date,
                         provenance: Provenance) -> None:
        self.findings[finding_id]["status"] = "resolved"
        self.findings[finding_id]["closure"] = {"evidence": evidence, "on": resolved_on}

    def accept_finding_risk(self, finding_id: str, approver: str, reason: str,
                            provenance: Provenance) -> None:
        """Accept a finding as a risk instead of resolving it (approver and reason)."""
        self._open_finding(finding_id)
        check_text(approver, "approver", 200)
        check_text(reason, "reason")
        self._accept_risk(finding_id=finding_id, approver=approver, reason=reason,
                          provenance=provenance)

    @event(FindingRiskAccepted)
    def _accept_risk(self, finding_id: str, approver: str, reason: str,
                     provenance: Provenance) -> None:
        self.findings[finding_id]["status"] = "risk_accepted"
        self.findings[finding_id]["closure"] = {"approver": approver, "reason": reason}

    def respond_to_finding(self, finding_id: str, response: str,
                           provenance: Provenance) -> None:
        """Record the vendor's response to a finding."""
        self._open_finding(finding_id)
        check_text(response, "response")
        self._respond(finding_id=finding_id, response=response, provenance=provenance)

    @event(FindingResponded)
    def _respond(self, finding_id: str, response: str, provenance: Provenance) -> None:
        self.findings[finding_id]["responses"].append(
            {"response": response, "by": provenance.actor_id, "version": self.version + 1})

    def hold_review(self, review_id: str, kind: ReviewKind, held_on: date, period: str,
                    attendees: tuple[str, ...], decisions: tuple[str, ...],
                    scorecard: Scorecard | None, provenance: Provenance) -> None:
        """Record a governance review; a scorecard review carries a balanced scorecard."""
        self._check_not_terminated()
        check_slug(review_id, "review id")
        self._check_new_id("review", review_id, self.reviews)
        check_text(period, "period", 50)
        if not attendees:
            raise InvalidValue("a review names its attendees", "/attendees")
        if (kind is ReviewKind.SCORECARD) != (scorecard is not None):
            raise InvalidValue("a scorecard review, and only one, carries a balanced scorecard",
                               "/scorecard")
        self._hold_review(review_id=review_id, kind=kind, held_on=held_on, period=period,
                          attendees=tuple(attendees), decisions=tuple(decisions),
                          scorecard=scorecard, provenance=provenance)

    @event(ReviewHeld)
    def _hold_review(self, review_id: str, kind: ReviewKind, held_on: date, period: str,
                     attendees: tuple[str, ...], decisions: tuple[str, ...],
                     scorecard: Scorecard | None, provenance: Provenance) -> None:
        self.reviews[review_id] = {
            "review_id": review_id, "kind": kind, "held_on": held_on, "period": period,
            "attendees": list(attendees), "decisions": list(decisions), "scorecard": scorecard,
            "version": self.version + 1}

    # -- improvement proposals -------------------------------------------------------

    def propose_improvement(self, proposal_id: str, title: str, expected_benefit: str,
                            estimated_saving: Money | None, provenance: Provenance) -> None:
        """Propose an improvement (vendor or procurement)."""
        self._check_not_terminated()
        check_slug(proposal_id, "proposal id")
        self._check_new_id("proposal", proposal_id, self.proposals)
        check_text(title, "title", 200)
        check_text(expected_benefit, "expected benefit")
        check_saving(estimated_saving)
        self._propose(proposal_id=proposal_id, title=title, expected_benefit=expected_benefit,
                      estimated_saving=estimated_saving, provenance=provenance)

    @event(ImprovementProposed)
    def _propose(self, proposal_id: str, title: str, expected_benefit: str,
                 estimated_saving: Money | None, provenance: Provenance) -> None:
        self.proposals[proposal_id] = {
            "proposal_id": proposal_id, "title": title, "expected_benefit": expected_benefit,
            "estimated_saving": estimated_saving, "proposed_by": provenance.actor_role,
            "status": "proposed", "decision_reason": None, "realised_benefit": None,
            "realised_saving": None, "version": self.version + 1}

    def _proposal(self, proposal_id: str) -> dict[str, Any]:
        self._check_not_terminated()
        if proposal_id not in self.proposals:
            raise UnknownProposal(f"no improvement proposal {proposal_id!r}")
        return self.proposals[proposal_id]

    def decide_proposal(self, proposal_id: str, decision: ProposalDecision, reason: str,
                        provenance: Provenance) -> None:
        """Accept, reject or defer a proposal (a deferred one may be decided again)."""
        proposal = self._proposal(proposal_id)
        if proposal["status"] not in ("proposed", "deferred"):
            raise IllegalProposalTransition(f"a {proposal['status']} proposal cannot be decided")
        check_text(reason, "reason")
        self._decide(proposal_id=proposal_id, decision=decision, reason=reason,
                     provenance=provenance)

    @event(ProposalDecided)
    def _decide(self, proposal_id: str, decision: ProposalDecision, reason: str,
                provenance: Provenance) -> None:
        self.proposals[proposal_id]["status"] = decision.value
        self.proposals[proposal_id]["decision_reason"] = reason

    def implement_proposal(self, proposal_id: str, realised_benefit: str,
                           realised_saving: Money | None, provenance: Provenance) -> None:
        """Record that an accepted proposal was implemented, with its realised benefit."""
        proposal = self._proposal(proposal_id)
        if proposal["status"] != "accepted":
            raise IllegalProposalTransition(
                f"only an accepted proposal is implemented; this one is {proposal['status']}")
        check_text(realised_benefit, "realised benefit")
        check_saving(realised_saving)
        self._implement(proposal_id=proposal_id, realised_benefit=realised_benefit,
                        realised_saving=realised_saving, provenance=provenance)

    @event(ProposalImplemented)
    def _implement(self, proposal_id: str, realised_benefit: str,
                   realised_saving: Money | None, provenance: Provenance) -> None:
        self.proposals[proposal_id].update(status="implemented",
                                           realised_benefit=realised_benefit,
                                           realised_saving=realised_saving)

    # -- overdue, as of a day ----------------------------------------------------------

    def governance_status(self, as_of: date) -> dict[str, Any]:
        """Return, as of a day, each cadence's last and next date and what is overdue."""
        reference = self.activated_on or self.term.start
        cadences = []
        for cadence in self.cadences.values():
            last = self._last_held(cadence.kind)
            next_due = cadence.next_due(last or reference)
            cadences.append({"kind": cadence.kind.value, "every": cadence.every,
                             "unit": cadence.unit.value, "last_held": last,
                             "next_due": next_due, "overdue": next_due < as_of})
        return {
            "as_of": as_of,
            "cadences": cadences,
            "overdue_health_check": any(c["overdue"] for c in cadences
                                        if c["kind"] == CadenceKind.HEALTH_CHECK.value),
            "overdue_findings": sorted(f for f, v in self.findings.items()
                                       if v["status"] == "open" and v["due_date"] < as_of),
            "overdue_corrective_actions": sorted(
                f"{f}/{a}" for f, v in self.findings.items() for a, action in v["actions"].items()
                if action["status"] != "completed" and action["due_date"] < as_of),
        }

    def _last_held(self, kind: CadenceKind) -> date | None:
        if kind is CadenceKind.HEALTH_CHECK:
            days = [c["conducted_on"] for c in self.health_checks.values()]
        else:
            days = [r["held_on"] for r in self.reviews.values() if r["kind"].value == kind.value]
        return max(days) if days else None

    # -- exit: time-based triggers, decisions, plan execution --------------------------

    def evaluate_time_triggers(self, as_of: date, provenance: Provenance) -> None:
        """Fire every time-based exit trigger whose condition holds on as_of (once each)."""
        if self.status is not ContractStatus.ACTIVE:
            return
        for trigger in self.exit_triggers.values():
            if trigger.kind is TriggerKind.CRITICAL_FINDING_OVERDUE:
                for finding in sorted(self.findings.values(), key=lambda f: f["finding_id"]):
                    if (finding["severity"] is Severity.CRITICAL
                            and finding["status"] == "open" and finding["due_date"] < as_of):
                        self._fire_once(trigger.trigger_id,
                                        f"finding {finding['finding_id']} overdue", ({
                                            "event": "FindingRecorded",
                                            "version": finding["version"],
                                            "finding_id": finding["finding_id"],
                                            "due_date": finding["due_date"].isoformat()},),
                                        provenance)
            elif trigger.kind is TriggerKind.HEALTH_CHECK_OVERDUE and trigger.days is not None:
                cadence = self.cadences.get(CadenceKind.HEALTH_CHECK.value)
                if cadence is None:
                    continue
                last = self._last_held(CadenceKind.HEALTH_CHECK)
                due = cadence.next_due(last or self.activated_on or self.term.start)
                if (as_of - due).days > trigger.days:
                    evidence = [{"due_date": due.isoformat(), "as_of": as_of.isoformat(),
                                 "days_overdue": (as_of - due).days}]
                    if last is not None:
                        evidence.insert(0, {"event": "HealthCheckConducted",
                                            "conducted_on": last.isoformat()})
                    self._fire_once(trigger.trigger_id, f"health check due {due} overdue",
                                    tuple(evidence), provenance)

    def dismiss_trigger(self, trigger_id: str, reason: str, provenance: Provenance) -> None:
        """Dismiss a fired trigger with a reason (it may fire again on a new condition)."""
        self._check_not_terminated()
        if trigger_id not in self.exit_triggers:
            raise UnknownTrigger(f"no exit trigger {trigger_id!r}")
        if not any(f["status"] == "fired" for f in self.trigger_firings.get(trigger_id, [])):
            raise TriggerNotFired(f"exit trigger {trigger_id!r} has no open firing")
        check_text(reason, "reason")
        self._dismiss(trigger_id=trigger_id, reason=reason, provenance=provenance)

    @event(ExitTriggerDismissed)
    def _dismiss(self, trigger_id: str, reason: str, provenance: Provenance) -> None:
        for firing in self.trigger_firings[trigger_id]:
            if firing["status"] == "fired":
                firing["status"] = "dismissed"
                firing["dismissal_reason"] = reason

    def initiate_exit(self, reason: str, trigger_id: str | None, initiated_on: date,
                      provenance: Provenance) -> None:
        """Decide to exit: the exit plan's steps are tracked from now on."""
        self._check_not_terminated()
        if self.status is not ContractStatus.ACTIVE:
            raise ContractNotActive("only an active contract is exited")
        if self.exit is not None:
            raise ExitAlreadyInitiated("the exit was initiated already")
        check_text(reason, "reason")
        if trigger_id is not None and not any(
                f["status"] == "fired" for f in self.trigger_firings.get(trigger_id, [])):
            raise TriggerNotFired(f"exit trigger {trigger_id!r} has no open firing")
        self._initiate_exit(reason=reason, trigger_id=trigger_id, initiated_on=initiated_on,
                            provenance=provenance)

    @event(ExitInitiated)
    def _initiate_exit(self, reason: str, trigger_id: str | None, initiated_on: date,
                       provenance: Provenance) -> None:
        assert self.exit_plan is not None  # an active contract has one
        self.exit = {"reason": reason, "trigger_id": trigger_id, "initiated_on": initiated_on,
                     "steps": {s.step_id: {"status": "pending", "mandatory": s.mandatory}
                               for s in self.exit_plan.steps},
                     "spend": []}
        for firing in self.trigger_firings.get(trigger_id or "", []):
            if firing["status"] == "fired":
                firing["status"] = "exit_initiated"

    def _exit_step(self, step_id: str, expected: str) -> None:
        self._check_not_terminated()
        if self.exit is None:
            raise ExitNotInitiated("initiate the exit first")
        if step_id not in self.exit["steps"]:
            raise IllegalExitStepTransition(f"the exit plan has no step {step_id!r}")
        status = self.exit["steps"][step_id]["status"]
        if status != expected:
            raise IllegalExitStepTransition(f"exit step {step_id!r} is {status}")

    def start_exit_step(self, step_id: str, started_on: date, provenance: Provenance) -> None:
        """Start an exit plan step."""
        self._exit_step(step_id, "pending")
        self._start_step(step_id=step_id, started_on=started_on, provenance=provenance)

    @event(ExitStepStarted)
    def _start_step(self, step_id: str, started_on: date, provenance: Provenance) -> None:
        self.exit["steps"][step_id].update(status="started", started_on=started_on)

    def complete_exit_step(self, step_id: str, completed_on: date, note: str,
                           provenance: Provenance) -> None:
        """Complete a started exit plan step."""
        self._exit_step(step_id, "started")
        check_text(note, "note")
        self._complete_step(step_id=step_id, completed_on=completed_on, note=note,
                            provenance=provenance)

    @event(ExitStepCompleted)
    def _complete_step(self, step_id: str, completed_on: date, note: str,
                       provenance: Provenance) -> None:
        self.exit["steps"][step_id].update(status="completed", completed_on=completed_on,
                                           note=note)

    def record_exit_spend(self, amount: Money, description: str, spent_on: date,
                          provenance: Provenance) -> None:
        """Record money spent on the exit, to compare with the plan's budget."""
        self._check_not_terminated()
        if self.exit is None:
            raise ExitNotInitiated("initiate the exit first")
        assert self.exit_plan is not None
        if amount.currency != self.exit_plan.budget.currency or amount.amount <= 0:
            raise InvalidValue(f"spend is a positive amount in {self.exit_plan.budget.currency}",
                               "/amount")
        check_text(description, "description")
        self._record_spend(amount=amount, description=description, spent_on=spent_on,
                           provenance=provenance)

    @event(ExitSpendRecorded)
    def _record_spend(self, amount: Money, description: str, spent_on: date,
                      provenance: Provenance) -> None:
        self.exit["spend"].append({"amount": amount, "description": description,
                                   "spent_on": spent_on})

    def exit_budget(self) -> dict[str, Any] | None:
        """Return the exit budget, what was spent, and what remains."""
        if self.exit is None or self.exit_plan is None:
            return None
        budget = self.exit_plan.budget
        spent = sum((s["amount"].amount for s in self.exit["spend"]), Decimal(0))
        return {"budget": budget, "spent": Money(spent, budget.currency),
                "remaining": Money(budget.amount - spent, budget.currency),
                "over_budget": spent > budget.amount}

    def incomplete_mandatory_steps(self) -> list[str]:
        """Return the mandatory exit steps not yet completed (all of them before exit)."""
        if self.exit_plan is None:
            return []
        done = {k for k, v in (self.exit or {"steps": {}})["steps"].items()
                if v["status"] == "completed"}
        return [s.step_id for s in self.exit_plan.steps if s.mandatory and s.step_id not in done]

    def notice_deadline(self) -> date:
        """Return the last day notice can be given (term end minus the notice period)."""
        return self.term.end - timedelta(days=self.term.notice_period_days)


def _check_value(value: Money, pointer: str = "/value") -> None:
    if value.is_negative():
        raise InvalidValue("contract value must not be negative", f"{pointer}/amount")


def _daily_rates(term: Term, drafted_value: Decimal,
                 amendments: list[dict[str, Any]]) -> list[tuple[date, Fraction]]:
    """Return what each day of the term is charged, as (from day, daily rate) steps.

    The contract value is what the whole term costs. The drafted value is spread evenly
    over the days of the term; an amendment of the value, from its effective date,
    spreads the difference it makes over the days left in the term. So the days of the
    term always add up to the value in force on its last day, and what was charged
    before an amendment stands. An amendment effective after the term's end changes
    nothing. Exact fractions: the rounding rule applies to amounts, not to fees.
    """
    value = drafted_value
    rate = Fraction(value) / ((term.end - term.start).days + 1)
    steps = [(term.start, rate)]
    for amendment in sorted(amendments, key=lambda a: (a["effective_date"], a["version"])):
        new_value = amendment["changes"].get("value")
        since = amendment["effective_date"]
        if new_value is None or since > term.end:
            continue
        rate += (Fraction(new_value.amount) - Fraction(value)) / ((term.end - since).days + 1)
        value = new_value.amount
        steps.append((since, rate))
    return steps


def _charge(rates: list[tuple[date, Fraction]], term: Term, first: date, last: date) -> Decimal:
    """Return what the term charges for the days from first to last (both included)."""
    total = Fraction(0)
    for index, (since, rate) in enumerate(rates):
        until = rates[index + 1][0] - timedelta(days=1) if index + 1 < len(rates) else term.end
        start, end = max(first, since, term.start), min(last, until, term.end)
        if start <= end:
            total += rate * ((end - start).days + 1)
    return FEE_CONTEXT.divide(Decimal(total.numerator), Decimal(total.denominator))


def _days_in_term(term: Term, first: date, last: date) -> int:
    return max(0, (min(last, term.end) - max(first, term.start)).days + 1)


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


def _calculation_record(rule: Any, calculation: Any) -> dict[str, Any]:
    """What an auditor needs to recompute an amount: inputs, rule version, tier, caps."""
    return {
        "rule_id": rule.rule_id,
        "rule_effective_from": rule.effective_from,
        "tier": plain_value(calculation.tier),
        "gross": calculation.gross,
        "caps_applied": list(calculation.caps_applied),
        "period_cap": plain_value(rule.period_cap),
        "year_cap": plain_value(rule.year_cap),
        "inputs": plain_value(calculation.inputs),
        "amount": plain_value(calculation.amount),
        "rounding": "half-up to the currency's minor unit",
    }


def _copy_containers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_containers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_containers(v) for v in value]
    return value
