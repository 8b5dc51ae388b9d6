"""Draft, terms, point of contact, activation, renewal and termination."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.chain import GENESIS_HASH
from domain.contract.base import ContractEvent, ContractState
from domain.contract.fees import daily_rates
from domain.exceptions import (
    ActivationRequirementsMissing,
    ContractAlreadyActive,
    ContractNotActive,
    EffectiveDateOutOfTerm,
    EmptyAmendment,
    ExitPlanIncomplete,
    InvalidRenewal,
    InvalidValue,
    NoticeDeadlinePassed,
)
from domain.money import Money
from domain.values import (
    ContractStatus,
    DeliveryLocation,
    PointOfContact,
    Provenance,
    ServiceScope,
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
    check_text,
)

if TYPE_CHECKING:
    from domain.contract import Contract


class Lifecycle(ContractState):
    """The Contract aggregate's lifecycle: events, commands and appliers (joined in base.py)."""

    class ContractDrafted(Aggregate.Created, ContractEvent):
        title: str
        vendor: Vendor
        service_scope: ServiceScope
        sourcing_model: SourcingModel
        delivery_location: DeliveryLocation
        value: Money
        term: Term
        objectives: tuple[str, ...]

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
        # The slice is only ever called as Contract.draft (see base.py).
        return cast("Contract", cls._create(
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
        ))

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
        # Every piece of state, as drafted (typed on ContractState).
        self.status = ContractStatus.DRAFT
        self.title = title
        self.vendor = vendor
        self.service_scope = service_scope
        self.sourcing_model = sourcing_model
        self.delivery_location = delivery_location
        self.value = value
        self._drafted_value = value
        self._drafted_terms = TermChanges(
            title=title, value=value, end=term.end, notice_period_days=term.notice_period_days,
            renewal=term.renewal, service_scope=service_scope,
            delivery_location=delivery_location, objectives=tuple(objectives))
        self.term = term
        self.objectives = tuple(objectives)
        self.point_of_contact = None
        self.sla_metrics = {}
        self.sla_history = []
        self.retired_metrics = {}
        self.exit_plan = None
        self.exit_plan_revision = 0
        self.amendments = []
        self.activated_on = None
        self.renewals = []
        self.termination = None
        self.penalty_rules = {}
        self.incentive_rules = {}
        self.retired_rules = {}
        self.reports = {}
        self.evaluations = {}
        self.penalties = {}
        self.incentives = {}
        self.closed_periods = {}
        self.exit_triggers = {}
        self.trigger_firings = {}
        # Governance and exit.
        self.cadences = {}
        self.health_checks = {}
        self.findings = {}
        self.reviews = {}
        self.proposals = {}
        self.exit = None  # the initiated exit: reason, steps, spend
        self.exit_overrides = []
        self.renewal_overrides = []

    class TermsAmended(ContractEvent):
        changes: TermChanges
        rationale: str
        effective_date: date

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
        self._terms_amended(
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
        for since, rate in daily_rates(term, self._drafted_value.amount, amendments):
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
    def _terms_amended(
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

    class PointOfContactDesignated(ContractEvent):
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

    def designate_point_of_contact(
        self, point_of_contact: PointOfContact, provenance: Provenance
    ) -> None:
        """Designate the single point of contact (replacing any earlier one)."""
        self._check_not_terminated()
        self._point_of_contact_designated(point_of_contact=point_of_contact, provenance=provenance)

    @event(PointOfContactDesignated)
    def _point_of_contact_designated(
        self, point_of_contact: PointOfContact, provenance: Provenance
    ) -> None:
        self.point_of_contact = point_of_contact

    class ContractActivated(ContractEvent):
        effective_date: date

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
        self._contract_activated(effective_date=effective_date, provenance=provenance)

    @event(ContractActivated)
    def _contract_activated(self, effective_date: date, provenance: Provenance) -> None:
        self.status = ContractStatus.ACTIVE
        self.activated_on = effective_date

    class ContractRenewed(ContractEvent):
        new_end: date
        reason: str

    class RenewalDeadlineOverridden(ContractEvent):
        reason: str
        notice_deadline: date

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
            self._renewal_deadline_overridden(reason=override_reason, notice_deadline=deadline,
                                              provenance=provenance)
        self._contract_renewed(new_end=new_end, reason=reason, provenance=provenance)

    @event(RenewalDeadlineOverridden)
    def _renewal_deadline_overridden(self, reason: str, notice_deadline: date,
                                     provenance: Provenance) -> None:
        self.renewal_overrides.append({"reason": reason, "notice_deadline": notice_deadline})

    @event(ContractRenewed)
    def _contract_renewed(self, new_end: date, reason: str, provenance: Provenance) -> None:
        self.renewals.append({"previous_end": self.term.end, "new_end": new_end, "reason": reason,
                              "version": self.version + 1})
        self.term = Term(
            start=self.term.start,
            end=new_end,
            notice_period_days=self.term.notice_period_days,
            renewal=self.term.renewal,
        )

    def notice_deadline(self) -> date:
        """Return the last day notice can be given (term end minus the notice period)."""
        return self.term.end - timedelta(days=self.term.notice_period_days)

    class ContractTerminated(ContractEvent):
        reason: str
        effective_date: date

    class ExitPlanOverridden(ContractEvent):
        reason: str
        incomplete_steps: tuple[str, ...]

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
                self._exit_plan_overridden(reason=override_reason,
                                           incomplete_steps=tuple(incomplete),
                                           provenance=provenance)
        self._contract_terminated(reason=reason, effective_date=effective_date,
                                  provenance=provenance)

    @event(ExitPlanOverridden)
    def _exit_plan_overridden(self, reason: str, incomplete_steps: tuple[str, ...],
                              provenance: Provenance) -> None:
        self.exit_overrides.append({"reason": reason, "incomplete_steps": list(incomplete_steps),
                                    "by": provenance.actor_id})

    @event(ContractTerminated)
    def _contract_terminated(self, reason: str, effective_date: date,
                             provenance: Provenance) -> None:
        self.status = ContractStatus.TERMINATED
        self.termination = {"reason": reason, "effective_date": effective_date}


def _check_value(value: Money, pointer: str = "/value") -> None:
    if value.is_negative():
        raise InvalidValue("contract value must not be negative", f"{pointer}/amount")
