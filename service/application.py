"""The ledger's use cases: load a contract, call it, commit its new events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, JSONTranscoder
from eventsourcing.utils import get_topic

from domain.chain import HASH_FIELD, plain_value
from domain.contract import Contract
from domain.credits import ExitTrigger, IncentiveRule, MetricValue, PenaltyRule
from domain.exceptions import ContractNotFound, InvalidValue, UnknownRule
from domain.governance import (
    Cadence,
    FindingSpec,
    HealthRating,
    ProposalDecision,
    ReviewKind,
    Scorecard,
)
from domain.money import Money, with_minor_units
from domain.statement import contract_year_number, credit_statement, credit_totals
from domain.values import (
    DeliveryLocation,
    ExitPlan,
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
from service.committer import GroupCommitter
from service.storage import IdempotencyCompletion, LedgerTables
from service.transcodings import register_ledger_transcodings


class StaleVersion(Exception):
    """The command was based on a version of the contract that is no longer current."""

    def __init__(self, expected: int, current: int | None):
        self.expected = expected
        self.current = current
        now = f"; it is now at version {current}" if current is not None else ""
        super().__init__(f"the contract is not at version {expected}{now}")


class IdempotencyClaimLost(Exception):
    """The request ran past its idempotency lease and another request took the key."""


@dataclass(frozen=True)
class CommandContext:
    """Who asks, under which request, and the idempotency key that guards it."""

    provenance: Provenance
    principal_id: str
    idempotency_key: str | None = None
    claimed_at: float = 0.0  # when this request claimed its idempotency key
    status_code: int = 200
    vendor_scope: str | None = None  # a vendor may act only on its own contracts


@dataclass(frozen=True)
class CommandResult:
    contract: dict[str, Any]
    version: int
    position: int


SNAPSHOT_INTERVAL = 25
"""Contract streams are snapshotted every this many events: a cold load then replays
fewer events after its snapshot (≤ 24) than a young contract has (measured in bench/)."""

META_FIELDS = ("originator_id", "originator_version", "timestamp", "provenance",
               "previous_hash", HASH_FIELD)


class ContractLedger(Application):
    """The vendor contract ledger."""

    name = "Ledger"

    def __init__(self, env: dict[str, str] | None = None, commit_batch_size: int = 64,
                 dispute_window_days: int = 30):
        super().__init__(env)
        self.committer = GroupCommitter(self.save, max_batch=commit_batch_size)
        self.dispute_window_days = dispute_window_days

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_ledger_transcodings(transcoder)

    @property
    def tables(self) -> LedgerTables:
        assert isinstance(self.recorder, LedgerTables)
        return self.recorder

    def close(self) -> None:
        self.committer.close()
        super().close()

    # -- commands --------------------------------------------------------------------

    def draft_contract(
        self,
        *,
        title: str,
        vendor: Vendor,
        service_scope: ServiceScope,
        sourcing_model: SourcingModel,
        delivery_location: DeliveryLocation,
        value: Money,
        term: Term,
        objectives: tuple[str, ...],
        ctx: CommandContext,
    ) -> CommandResult:
        """Draft a new contract."""
        contract = Contract.draft(
            contract_id=uuid4(),
            title=title,
            vendor=vendor,
            service_scope=service_scope,
            sourcing_model=sourcing_model,
            delivery_location=delivery_location,
            value=value,
            term=term,
            objectives=objectives,
            provenance=ctx.provenance,
        )
        return self._commit(contract, ctx)

    def amend_terms(self, contract_id: UUID, expected_version: int, *, changes: TermChanges,
                    rationale: str, effective_date: date, ctx: CommandContext) -> CommandResult:
        """Amend a contract's terms."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.amend_terms(
            changes, rationale, effective_date, ctx.provenance))

    def designate_point_of_contact(self, contract_id: UUID, expected_version: int, *,
                                   point_of_contact: PointOfContact,
                                   ctx: CommandContext) -> CommandResult:
        """Designate the contract's single point of contact."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.designate_point_of_contact(point_of_contact, ctx.provenance)))

    def define_sla_metric(self, contract_id: UUID, expected_version: int, *, metric: SlaMetric,
                          ctx: CommandContext) -> CommandResult:
        """Define an SLA metric."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.define_sla_metric(metric, ctx.provenance)))

    def amend_sla(self, contract_id: UUID, expected_version: int, *,
                  target_changes: tuple[SlaTargetChange, ...], retired_metric_ids: tuple[str, ...],
                  effective_from: date, rationale: str, ctx: CommandContext) -> CommandResult:
        """Change SLA targets or retire SLA metrics from an effective date."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.amend_sla(
            target_changes, retired_metric_ids, effective_from, rationale, ctx.provenance))

    def define_exit_plan(self, contract_id: UUID, expected_version: int, *, exit_plan: ExitPlan,
                         ctx: CommandContext) -> CommandResult:
        """Define or revise the exit plan."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.define_exit_plan(exit_plan, ctx.provenance)))

    def activate(self, contract_id: UUID, expected_version: int, *, effective_date: date,
                 ctx: CommandContext) -> CommandResult:
        """Put the contract live."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.activate(effective_date, ctx.provenance)))

    def renew(self, contract_id: UUID, expected_version: int, *, new_end: date, reason: str,
              override_reason: str | None, ctx: CommandContext) -> CommandResult:
        """Renew the contract to a later end date (after the notice deadline: override)."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.renew(new_end, reason, _today(), ctx.provenance, override_reason)))

    def terminate(self, contract_id: UUID, expected_version: int, *, reason: str,
                  effective_date: date, override_reason: str | None,
                  ctx: CommandContext) -> CommandResult:
        """Terminate the contract (an incomplete exit plan needs an override)."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.terminate(reason, effective_date, ctx.provenance, override_reason)))

    # -- governance ------------------------------------------------------------------

    def declare_cadence(self, contract_id: UUID, expected_version: int, *,
                        cadences: tuple[Cadence, ...], ctx: CommandContext) -> CommandResult:
        """Declare the governance cadence."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.declare_cadence(cadences, ctx.provenance)))

    def conduct_health_check(self, contract_id: UUID, expected_version: int, *, check_id: str,
                             conducted_on: date, assessors: tuple[str, ...], scope: str,
                             overall_rating: HealthRating, findings: tuple[FindingSpec, ...],
                             ctx: CommandContext) -> CommandResult:
        """Record a health check with its findings."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.conduct_health_check(check_id, conducted_on, assessors, scope, overall_rating,
                                   findings, ctx.provenance)))

    def plan_corrective_action(self, contract_id: UUID, expected_version: int, *,
                               finding_id: str, action_id: str, description: str, owner: str,
                               due_date: date, ctx: CommandContext) -> CommandResult:
        """Plan a corrective action for a finding."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.plan_corrective_action(finding_id, action_id, description, owner, due_date,
                                     ctx.provenance)))

    def update_corrective_action(self, contract_id: UUID, expected_version: int, *,
                                 finding_id: str, action_id: str, progress: str,
                                 due_date: date | None, ctx: CommandContext) -> CommandResult:
        """Record progress on a corrective action."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.update_corrective_action(finding_id, action_id, progress, due_date,
                                       ctx.provenance)))

    def complete_corrective_action(self, contract_id: UUID, expected_version: int, *,
                                   finding_id: str, action_id: str, completed_on: date,
                                   note: str, ctx: CommandContext) -> CommandResult:
        """Complete a corrective action."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.complete_corrective_action(finding_id, action_id, completed_on, note,
                                         ctx.provenance)))

    def close_finding(self, contract_id: UUID, expected_version: int, *, finding_id: str,
                      outcome: str, evidence: str | None, resolved_on: date | None,
                      approver: str | None, reason: str | None,
                      ctx: CommandContext) -> CommandResult:
        """Resolve a finding with evidence, or accept it as a risk."""
        def act(contract: Contract) -> None:
            if outcome == "resolved":
                contract.resolve_finding(finding_id, evidence or "", resolved_on or _today(),
                                         ctx.provenance)
            else:
                contract.accept_finding_risk(finding_id, approver or "", reason or "",
                                             ctx.provenance)
        return self._execute(contract_id, expected_version, ctx, act)

    def respond_to_finding(self, contract_id: UUID, expected_version: int, *, finding_id: str,
                           response: str, ctx: CommandContext) -> CommandResult:
        """Record the vendor's response to a finding."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.respond_to_finding(finding_id, response, ctx.provenance)))

    def hold_review(self, contract_id: UUID, expected_version: int, *, review_id: str,
                    kind: ReviewKind, held_on: date, period: str, attendees: tuple[str, ...],
                    decisions: tuple[str, ...], scorecard: Scorecard | None,
                    ctx: CommandContext) -> CommandResult:
        """Record a governance review."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.hold_review(
            review_id, kind, held_on, period, attendees, decisions, scorecard, ctx.provenance))

    def propose_improvement(self, contract_id: UUID, expected_version: int, *,
                            proposal_id: str, title: str, expected_benefit: str,
                            estimated_saving: Money | None,
                            ctx: CommandContext) -> CommandResult:
        """Propose an improvement."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.propose_improvement(proposal_id, title, expected_benefit, estimated_saving,
                                  ctx.provenance)))

    def decide_proposal(self, contract_id: UUID, expected_version: int, *, proposal_id: str,
                        decision: ProposalDecision, reason: str,
                        ctx: CommandContext) -> CommandResult:
        """Accept, reject or defer a proposal."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.decide_proposal(proposal_id, decision, reason, ctx.provenance)))

    def implement_proposal(self, contract_id: UUID, expected_version: int, *,
                           proposal_id: str, realised_benefit: str,
                           realised_saving: Money | None, ctx: CommandContext) -> CommandResult:
        """Record an accepted proposal's implementation."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.implement_proposal(proposal_id, realised_benefit, realised_saving,
                                 ctx.provenance)))

    # -- exit ------------------------------------------------------------------------

    def dismiss_trigger(self, contract_id: UUID, expected_version: int, *, trigger_id: str,
                        reason: str, ctx: CommandContext) -> CommandResult:
        """Dismiss a fired exit trigger."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.dismiss_trigger(trigger_id, reason, ctx.provenance)))

    def initiate_exit(self, contract_id: UUID, expected_version: int, *, reason: str,
                      trigger_id: str | None, ctx: CommandContext) -> CommandResult:
        """Initiate the exit: the exit plan is executed from now on."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.initiate_exit(reason, trigger_id, _today(), ctx.provenance)))

    def start_exit_step(self, contract_id: UUID, expected_version: int, *, step_id: str,
                        ctx: CommandContext) -> CommandResult:
        """Start an exit plan step."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.start_exit_step(step_id, _today(), ctx.provenance)))

    def complete_exit_step(self, contract_id: UUID, expected_version: int, *, step_id: str,
                           note: str, ctx: CommandContext) -> CommandResult:
        """Complete an exit plan step."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.complete_exit_step(step_id, _today(), note, ctx.provenance)))

    def record_exit_spend(self, contract_id: UUID, expected_version: int, *, amount: Money,
                          description: str, spent_on: date,
                          ctx: CommandContext) -> CommandResult:
        """Record money spent on the exit."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.record_exit_spend(amount, description, spent_on, ctx.provenance)))

    def evaluate_time_triggers(self, as_of: date, provenance: Provenance,
                               on_contract: Callable[[], None] | None = None) -> int:
        """Fire the time-based exit triggers of every contract (safe to repeat); return
        how many triggers fired."""
        fired = 0
        for contract_id in self.contract_ids():
            for _ in range(5):  # a concurrent write moved the contract on: load it again
                contract = self._load(contract_id)
                contract.evaluate_time_triggers(as_of, provenance)
                events = contract.collect_events()
                if not events:
                    break
                try:
                    self.committer.commit(events)
                except IntegrityError:
                    continue
                fired += len(events)
                break
            if on_contract is not None:
                on_contract()
        return fired

    def contract_ids(self) -> list[UUID]:
        """Return every contract's id, in the order they were drafted."""
        topic = get_topic(Contract.ContractDrafted)
        ids: list[UUID] = []
        start = 1
        while page := self.recorder.select_notifications(start=start, limit=1000,
                                                          topics=[topic]):
            ids.extend(UUID(str(n.originator_id)) for n in page)
            start = page[-1].id + 1
        return ids

    # -- performance, credits and exit triggers ----------------------------------------

    def define_rule(self, contract_id: UUID, expected_version: int, *,
                    rule: PenaltyRule | IncentiveRule, ctx: CommandContext) -> CommandResult:
        """Define a penalty (service credit) or incentive (bonus) rule."""
        if isinstance(rule, PenaltyRule):
            return self._execute(contract_id, expected_version, ctx, lambda c: (
                c.define_penalty_rule(rule, ctx.provenance)))
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.define_incentive_rule(rule, ctx.provenance)))

    def amend_rule(self, contract_id: UUID, expected_version: int, *, rule_id: str,
                   changes: dict[str, Any], rationale: str,
                   ctx: CommandContext) -> CommandResult:
        """Add a new version of a rule from a later effective date."""
        def act(contract: Contract) -> None:
            try:
                if rule_id in contract.penalty_rules:
                    latest: Any = contract.penalty_rules[rule_id][-1]
                    contract.amend_penalty_rule(_revised(latest, changes), rationale,
                                                ctx.provenance)
                elif rule_id in contract.incentive_rules:
                    latest = contract.incentive_rules[rule_id][-1]
                    contract.amend_incentive_rule(_revised(latest, changes), rationale,
                                                  ctx.provenance)
                else:
                    raise UnknownRule(f"no rule {rule_id!r} on this contract")
            except InvalidValue as error:  # the rule's fields are the body's `changes`
                if not error.pointer:
                    raise
                raise error.within("/changes") from None
        return self._execute(contract_id, expected_version, ctx, act)

    def retire_rule(self, contract_id: UUID, expected_version: int, *, rule_id: str,
                    effective_from: date, reason: str, ctx: CommandContext) -> CommandResult:
        """Stop applying a rule from an effective date."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.retire_rule(
            rule_id, effective_from, reason, ctx.provenance))

    def report_performance(self, contract_id: UUID, expected_version: int, *, period: str,
                           values: tuple[MetricValue, ...], source: str,
                           evidence_ref: str | None, correction_reason: str | None,
                           ctx: CommandContext) -> CommandResult:
        """Report (or correct) measured values for a period; evaluate them at once."""
        report_id = ctx.provenance.correlation_id
        if correction_reason is None:
            return self._execute(contract_id, expected_version, ctx, lambda c: (
                c.report_performance(report_id, period, values, source, evidence_ref,
                                     _today(), ctx.provenance)))
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.correct_performance(report_id, period, values, source, evidence_ref,
                                  correction_reason, _today(), ctx.provenance)))

    def close_period(self, contract_id: UUID, expected_version: int, *, period: str,
                     measurement_period: MeasurementPeriod,
                     ctx: CommandContext) -> CommandResult:
        """Close a period: evaluate metrics nobody reported by their rules' policy."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.close_period(
            period, measurement_period, _today(), ctx.provenance))

    def waive_penalty(self, contract_id: UUID, expected_version: int, *, penalty_id: str,
                      reason: str, approver: str, ctx: CommandContext) -> CommandResult:
        """Waive an assessed penalty."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.waive_penalty(
            penalty_id, reason, approver, ctx.provenance))

    def dispute_penalty(self, contract_id: UUID, expected_version: int, *, penalty_id: str,
                        reason: str, evidence: str | None,
                        ctx: CommandContext) -> CommandResult:
        """Dispute an assessed penalty within the dispute window."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.dispute_penalty(
            penalty_id, reason, evidence, _today(), self.dispute_window_days, ctx.provenance))

    def resolve_dispute(self, contract_id: UUID, expected_version: int, *, penalty_id: str,
                        outcome: str, amount: Money | None, reason: str,
                        ctx: CommandContext) -> CommandResult:
        """Resolve a dispute: upheld, overturned or adjusted."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.resolve_dispute(
            penalty_id, outcome, amount, reason, ctx.provenance))

    def define_exit_trigger(self, contract_id: UUID, expected_version: int, *,
                            trigger: ExitTrigger, ctx: CommandContext) -> CommandResult:
        """Define a performance exit trigger."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.define_exit_trigger(trigger, ctx.provenance)))

    def credits(self, contract_id: UUID, *, vendor_scope: str | None = None) -> dict[str, Any]:
        """Return the credits and incentives with totals owed each way per period and year."""
        contract = self._load(contract_id)
        _check_scope(contract, vendor_scope)
        statement: dict[str, Any] = with_minor_units(credit_statement(contract))
        return {"contract_id": str(contract.id), "version": contract.version, **statement}

    def _execute(self, contract_id: UUID, expected_version: int, ctx: CommandContext,
                 act: Callable[[Contract], None]) -> CommandResult:
        contract = self._load(contract_id)
        _check_scope(contract, ctx.vendor_scope)
        if contract.version != expected_version:
            raise StaleVersion(expected_version, contract.version)
        act(contract)
        try:
            return self._commit(contract, ctx)
        except IntegrityError:
            # Another command committed this version first.
            raise StaleVersion(expected_version, None) from None

    def _commit(self, contract: Contract, ctx: CommandContext) -> CommandResult:
        events = contract.collect_events()
        completions = []
        if ctx.idempotency_key is not None:
            completions.append(IdempotencyCompletion(
                ctx.principal_id, ctx.idempotency_key, ctx.claimed_at, contract.id,
                contract.version, ctx.status_code))
        try:
            recordings = self.committer.commit(events, completions)
        except IntegrityError:
            if ctx.idempotency_key is not None and not self.tables.holds_claim(
                    ctx.principal_id, ctx.idempotency_key, ctx.claimed_at):
                raise IdempotencyClaimLost(
                    "this request outlived its claim on the Idempotency-Key and another "
                    "request with the key took over; nothing was recorded") from None
            raise
        self._snapshot_if_due(contract, len(events))
        return CommandResult(
            contract=present(contract),
            version=contract.version,
            position=max(r.notification.id for r in recordings),
        )

    def _snapshot_if_due(self, contract: Contract, new_events: int) -> None:
        # Saving events (not aggregates) bypasses the library's automatic snapshots,
        # so take one whenever a command crosses a multiple of the interval.
        if self.snapshots is None:
            return
        if contract.version // SNAPSHOT_INTERVAL > (contract.version - new_events) // \
                SNAPSHOT_INTERVAL:
            self.snapshots.put([Snapshot.take(contract)])

    def create_tables(self) -> None:
        """Create the event store, the snapshot store and the ledger's tables."""
        self.recorder.create_table()  # type: ignore[attr-defined]
        if self.snapshots is not None:
            self.snapshots.recorder.create_table()  # type: ignore[attr-defined]

    # -- queries ---------------------------------------------------------------------

    def _load(self, contract_id: UUID, version: int | None = None) -> Contract:
        try:
            # Reads get a copy too: other threads bring the cached object up to date in
            # place (the copy is cheap, see Contract.__deepcopy__).
            contract: Any = self.repository.get(contract_id, version=version,
                                                projector_func=_replay)
        except AggregateNotFoundError:
            raise ContractNotFound(f"no contract {contract_id}") from None
        assert isinstance(contract, Contract)
        return contract

    def get_contract(self, contract_id: UUID, *, version: int | None = None,
                     as_of: datetime | None = None, vendor_scope: str | None = None,
                     as_of_date: date | None = None,
                     effective_on: date | None = None) -> dict[str, Any]:
        """Return the contract's state: now, as of one of its versions, or as the ledger
        knew it at an instant (recorded time); with effective_on, also what applied on
        that day as that version knew it (effective time)."""
        # Scope first: another vendor's contract must look like no contract at all, not
        # tell which versions it has or when it was drafted.
        contract = self._load(contract_id, None if as_of is not None else version)
        _check_scope(contract, vendor_scope)
        if as_of is not None:
            version = self._version_at(contract_id, as_of)
            contract = self._load(contract_id, version)
        if version is not None and contract.version != version:
            raise ContractNotFound(f"contract {contract_id} has no version {version}")
        if effective_on is not None and contract.drafted_terms is None:
            contract = self._replayed(contract_id, contract.version)
        return present(contract, as_of_date, effective_on)

    def _replayed(self, contract_id: UUID, version: int) -> Contract:
        # A contract restored from a snapshot older than its drafted terms: replay them.
        contract = _replay(None, self.events.get(contract_id, lte=version))
        assert isinstance(contract, Contract)
        return contract

    def _version_at(self, contract_id: UUID, as_of: datetime) -> int:
        # Events are recorded in version order, so their timestamps only grow.
        version = 0
        events: Any = self.events.get(contract_id)
        for stored in events:
            if stored.timestamp > as_of:
                break
            version = stored.originator_version
        if version == 0:
            raise ContractNotFound(f"contract {contract_id} did not exist at {as_of.isoformat()}")
        return version

    def load_contract(self, contract_id: UUID, version: int | None = None) -> Contract:
        """Return the contract (a copy of its own) as it is now or at a version."""
        return self._load(contract_id, version)

    def position_of(self, contract_id: UUID, version: int) -> int | None:
        """Return the global position at which a contract version was committed."""
        return self.recorder.notification_id_of(contract_id, version)  # type: ignore[attr-defined]

    def contract_events(self, contract_id: UUID, *, after: int = 0, limit: int = 100,
                        vendor_scope: str | None = None) -> list[dict[str, Any]]:
        """Return a contract's events oldest first, with their hash links."""
        if vendor_scope is not None:
            _check_scope(self._load(contract_id), vendor_scope)
        events = list(self.events.get(contract_id, gt=after, limit=limit))
        if not events and not self.recorder.select_events(contract_id, limit=1):
            raise ContractNotFound(f"no contract {contract_id}")
        return [present_event(e) for e in events]


def _check_scope(contract: Contract, vendor_scope: str | None) -> None:
    # A vendor's token must not even learn that other vendors' contracts exist.
    if vendor_scope is not None and contract.vendor.vendor_id != vendor_scope:
        raise ContractNotFound(f"no contract {contract.id}")


def present(contract: Contract, as_of_date: date | None = None,
            effective_on: date | None = None) -> dict[str, Any]:
    """Return the contract's state as plain data; overdue items are judged as of a day
    (today unless given); with effective_on, what applied on that day too."""
    metrics = []
    for metric in contract.sla_metrics.values():
        item = plain_value(metric)
        item["retired_from"] = plain_value(contract.retired_metrics.get(metric.metric_id))
        item["compliance"] = _compliance(contract, metric.metric_id)
        metrics.append(item)
    rules = [
        {"kind": kind, "rule_id": rule_id, "metric_id": versions[-1].metric_id,
         "versions": plain_value(versions),
         "retired_from": plain_value(contract.retired_rules.get(rule_id))}
        for kind, rules_of_kind in (("penalty", contract.penalty_rules),
                                    ("incentive", contract.incentive_rules))
        for rule_id, versions in rules_of_kind.items()
    ]
    triggers = [{**plain_value(t),
                 "firings": plain_value(contract.trigger_firings.get(t.trigger_id, []))}
                for t in contract.exit_triggers.values()]
    exit_plan = None
    if contract.exit_plan is not None:
        exit_plan = {**plain_value(contract.exit_plan), "revision": contract.exit_plan_revision}
    representation: dict[str, Any] = {
        "id": str(contract.id),
        "version": contract.version,
        "status": contract.status.value,
        "title": contract.title,
        "vendor": plain_value(contract.vendor),
        "service_scope": contract.service_scope.value,
        "sourcing_model": contract.sourcing_model.value,
        "delivery_location": contract.delivery_location.value,
        "value": plain_value(contract.value),
        "term": plain_value(contract.term),
        "objectives": list(contract.objectives),
        "point_of_contact": plain_value(contract.point_of_contact),
        "sla_metrics": metrics,
        "sla_history": plain_value(contract.sla_history),
        "exit_plan": exit_plan,
        "amendments": plain_value(contract.amendments),
        "activated_on": plain_value(contract.activated_on),
        "renewals": [{k: plain_value(v) for k, v in r.items() if k != "version"}
                     for r in contract.renewals],
        "renewal_overrides": plain_value(contract.renewal_overrides),
        "termination": plain_value(contract.termination),
        "exit_plan_overrides": plain_value(contract.exit_overrides),
        "rules": rules,
        "exit_triggers": triggers,
        "credit_totals": credit_totals(contract)["overall"],
        # What performance records and the credits it decides, so that the audit's diff of
        # this representation shows every change an event makes (their calculations are
        # in the credit statement).
        **_performance(contract),
        "notice_deadline": plain_value(contract.notice_deadline()),
        "renews_automatically": contract.term.renewal is RenewalOption.AUTOMATIC,
        "governance": plain_value(contract.governance_status(as_of_date or _today())),
        "health_checks": plain_value(list(contract.health_checks.values())),
        "findings": [{**plain_value({k: v for k, v in f.items() if k != "actions"}),
                      "corrective_actions": plain_value(list(f["actions"].values()))}
                     for f in contract.findings.values()],
        "reviews": [{**plain_value(r), "scorecard_average": plain_value(
            r["scorecard"].average() if r["scorecard"] else None)}
            for r in contract.reviews.values()],
        "improvement_proposals": plain_value(list(contract.proposals.values())),
        "exit": None if contract.exit is None else {
            **plain_value(contract.exit), "steps": [
                {"step_id": k, **plain_value(v)} for k, v in contract.exit["steps"].items()],
            "budget": plain_value(contract.exit_budget())},
        "created_at": _instant(contract.created_on),
        "updated_at": _instant(contract.modified_on),
    }
    if effective_on is not None:
        representation["effective_on"] = present_in_force(contract, effective_on)
    written: dict[str, Any] = with_minor_units(representation)
    return written


def present_in_force(contract: Contract, day: date) -> dict[str, Any]:
    """Return what applied on day (terms, SLA targets, rules) as plain data."""
    in_force: dict[str, Any] = plain_value(contract.in_force_on(day))
    return in_force


def _performance(contract: Contract) -> dict[str, Any]:
    reports = []
    for key, report in contract.reports.items():
        metric_id, period = key.split("@", 1)
        reports.append({"metric_id": metric_id, "period": period,
                        "value": plain_value(report["value"]), "report_id": report["report_id"],
                        "corrected": bool(report.get("corrects")),
                        "reported_in_version": report["version"]})
    evaluations = [{"metric_id": e["metric_id"], "period": e["period"], "met": e["met"],
                    "missing": e["missing"], "value": plain_value(e["value"]),
                    "target": plain_value(e["target"]), "evaluated_in_version": e["version"]}
                   for e in contract.evaluations.values()]
    statement = credit_statement(contract)
    return {
        "performance_reports": reports,
        "sla_evaluations": evaluations,
        "closed_periods": [{"period": period, "measurement_period": kind}
                           for period, kind in contract.closed_periods.items()],
        "penalties": [{k: v for k, v in p.items() if k != "calculation"}
                      for p in statement["penalties"]],
        "incentives": [{k: v for k, v in i.items() if k != "calculation"}
                       for i in statement["incentives"]],
    }


def _compliance(contract: Contract, metric_id: str) -> dict[str, Any]:
    evaluations = sorted((e for e in contract.evaluations.values()
                          if e["metric_id"] == metric_id), key=lambda e: e["period"])
    last = evaluations[-1] if evaluations else None
    return {
        "periods_evaluated": len(evaluations),
        "periods_met": sum(1 for e in evaluations if e["met"]),
        "last_period": last["period"] if last else None,
        "last_met": last["met"] if last else None,
    }


def present_event(event: Any) -> dict[str, Any]:
    """Return one stored event as plain data: type, who, when, links and payload."""
    state = vars(event)
    provenance: Provenance = state["provenance"]
    return {
        "contract_id": str(event.originator_id),
        "version": event.originator_version,
        "type": type(event).__name__,
        "recorded_at": _instant(event.timestamp),
        "actor": {"id": provenance.actor_id, "role": provenance.actor_role},
        "correlation_id": provenance.correlation_id,
        "previous_hash": state["previous_hash"],
        "hash": state[HASH_FIELD],
        "data": with_minor_units(_numbered_years({
            k: plain_value(v) for k, v in state.items()
            if k not in META_FIELDS and k != "originator_topic"})),
    }


def _numbered_years(data: dict[str, Any]) -> dict[str, Any]:
    # Events record a contract year's index (0 for the first); the API numbers years
    # from 1 everywhere, as the credit statement does.
    if isinstance(data.get("contract_year"), int):
        return {**data, "contract_year": contract_year_number(data["contract_year"])}
    return data


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _replay(contract: Any, events: Any) -> Any:
    # eventsourcing's project_aggregate checks each event against a runtime Protocol,
    # which costs as much as applying it; our events are all Contract events.
    for event in events:
        contract = event.mutate(contract)
    return contract


def _today() -> date:
    return datetime.now(UTC).date()


def _revised(rule: Any, changes: dict[str, Any]) -> Any:
    # An amended rule is the latest version with the named fields replaced.
    foreign = sorted(set(changes) - {f.name for f in fields(rule)})
    if foreign:
        kind = "penalty" if isinstance(rule, PenaltyRule) else "incentive"
        raise InvalidValue(f"a {kind} rule has no {', '.join(foreign)}")
    return replace(rule, **changes)
