"""The exit: its plan, the triggers that call for it, and its execution."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from domain.chain import plain_value
from domain.contract.base import ContractEvent, ContractState, _anniversary, _key
from domain.credits import ExitTrigger, TriggerKind
from domain.exceptions import (
    ContractNotActive,
    ExitAlreadyInitiated,
    ExitNotInitiated,
    IllegalExitStepTransition,
    InvalidValue,
    TriggerAlreadyDefined,
    TriggerNotFired,
    UnknownSlaMetric,
    UnknownTrigger,
)
from domain.governance import CadenceKind, Severity
from domain.money import Money
from domain.periods import Period
from domain.values import ContractStatus, ExitPlan, Provenance, check_text


class Exit(ContractState):
    """The Contract aggregate's exit: events, commands and appliers (joined in base.py)."""

    class ExitPlanDefined(ContractEvent):
        exit_plan: ExitPlan
        revision: int

    def define_exit_plan(self, exit_plan: ExitPlan, provenance: Provenance) -> None:
        """Define the exit plan, or revise it (until the exit is initiated)."""
        self._check_not_terminated()
        if self.exit is not None:
            raise ExitAlreadyInitiated("the exit is under way: its plan can no longer change")
        self._exit_plan_defined(
            exit_plan=exit_plan, revision=self.exit_plan_revision + 1, provenance=provenance
        )

    @event(ExitPlanDefined)
    def _exit_plan_defined(self, exit_plan: ExitPlan, revision: int,
                           provenance: Provenance) -> None:
        self.exit_plan = exit_plan
        self.exit_plan_revision = revision

    class ExitTriggerDefined(ContractEvent):
        trigger: ExitTrigger

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
        self._exit_trigger_defined(trigger=trigger, provenance=provenance)
        if trigger.kind is TriggerKind.MANUAL:  # procurement's judgement: true at once
            self._fire_once(trigger.trigger_id, "manual", ({"reason": trigger.reason},),
                            provenance)

    @event(ExitTriggerDefined)
    def _exit_trigger_defined(self, trigger: ExitTrigger, provenance: Provenance) -> None:
        self.exit_triggers[trigger.trigger_id] = trigger

    class ExitTriggerFired(ContractEvent):
        trigger_id: str
        condition: str
        evidence: tuple[dict[str, Any], ...]

    def _fire_triggers(self, metric_id: str, period: Period, provenance: Provenance) -> None:
        for trigger in self.exit_triggers.values():
            found = self._trigger_evidence(trigger, metric_id, period)
            if found is not None:
                self._fire_once(trigger.trigger_id, *found, provenance)

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

    def _fire_once(self, trigger_id: str, condition: str,
                   evidence: tuple[dict[str, Any], ...], provenance: Provenance) -> None:
        # A trigger fires once per condition, and not again while a firing is open.
        firings = self.trigger_firings.get(trigger_id, [])
        if any(f["status"] == "fired" or f["condition"] == condition for f in firings):
            return
        self._exit_trigger_fired(trigger_id=trigger_id, condition=condition, evidence=evidence,
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
    def _exit_trigger_fired(self, trigger_id: str, condition: str,
                            evidence: tuple[dict[str, Any], ...], provenance: Provenance) -> None:
        self.trigger_firings.setdefault(trigger_id, []).append({
            "condition": condition, "evidence": list(evidence), "version": self.version + 1,
            "status": "fired"})

    class ExitTriggerDismissed(ContractEvent):
        trigger_id: str
        reason: str

    def dismiss_trigger(self, trigger_id: str, reason: str, provenance: Provenance) -> None:
        """Dismiss a fired trigger with a reason (it may fire again on a new condition)."""
        self._check_not_terminated()
        if trigger_id not in self.exit_triggers:
            raise UnknownTrigger(f"no exit trigger {trigger_id!r}")
        if not any(f["status"] == "fired" for f in self.trigger_firings.get(trigger_id, [])):
            raise TriggerNotFired(f"exit trigger {trigger_id!r} has no open firing")
        check_text(reason, "reason")
        self._exit_trigger_dismissed(trigger_id=trigger_id, reason=reason, provenance=provenance)

    @event(ExitTriggerDismissed)
    def _exit_trigger_dismissed(self, trigger_id: str, reason: str, provenance: Provenance) -> None:
        for firing in self.trigger_firings[trigger_id]:
            if firing["status"] == "fired":
                firing["status"] = "dismissed"
                firing["dismissal_reason"] = reason

    class ExitInitiated(ContractEvent):
        reason: str
        trigger_id: str | None
        initiated_on: date

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
        self._exit_initiated(reason=reason, trigger_id=trigger_id, initiated_on=initiated_on,
                             provenance=provenance)

    @event(ExitInitiated)
    def _exit_initiated(self, reason: str, trigger_id: str | None, initiated_on: date,
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

    class ExitStepStarted(ContractEvent):
        step_id: str
        started_on: date

    def start_exit_step(self, step_id: str, started_on: date, provenance: Provenance) -> None:
        """Start an exit plan step."""
        self._exit_step(step_id, "pending")
        self._exit_step_started(step_id=step_id, started_on=started_on, provenance=provenance)

    @event(ExitStepStarted)
    def _exit_step_started(self, step_id: str, started_on: date, provenance: Provenance) -> None:
        self.exit["steps"][step_id].update(status="started", started_on=started_on)

    class ExitStepCompleted(ContractEvent):
        step_id: str
        completed_on: date
        note: str

    def complete_exit_step(self, step_id: str, completed_on: date, note: str,
                           provenance: Provenance) -> None:
        """Complete a started exit plan step."""
        self._exit_step(step_id, "started")
        check_text(note, "note")
        self._exit_step_completed(step_id=step_id, completed_on=completed_on, note=note,
                                  provenance=provenance)

    @event(ExitStepCompleted)
    def _exit_step_completed(self, step_id: str, completed_on: date, note: str,
                             provenance: Provenance) -> None:
        self.exit["steps"][step_id].update(status="completed", completed_on=completed_on,
                                           note=note)

    class ExitSpendRecorded(ContractEvent):
        amount: Money
        description: str
        spent_on: date

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
        self._exit_spend_recorded(amount=amount, description=description, spent_on=spent_on,
                                  provenance=provenance)

    @event(ExitSpendRecorded)
    def _exit_spend_recorded(self, amount: Money, description: str, spent_on: date,
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
