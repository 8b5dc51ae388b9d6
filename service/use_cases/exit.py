"""Exit: plan, performance triggers, and the exit's execution."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from domain.credits import ExitTrigger
from domain.money import Money
from domain.values import ExitPlan
from service.use_cases.base import CommandContext, CommandResult, UseCases


class ExitUseCases(UseCases):
    def define_exit_plan(self, contract_id: UUID, expected_version: int, *, exit_plan: ExitPlan,
                         ctx: CommandContext) -> CommandResult:
        """Define or revise the exit plan."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.define_exit_plan(exit_plan, ctx.provenance)))

    def define_exit_trigger(self, contract_id: UUID, expected_version: int, *,
                            trigger: ExitTrigger, ctx: CommandContext) -> CommandResult:
        """Define a performance exit trigger."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.define_exit_trigger(trigger, ctx.provenance)))

    def dismiss_trigger(self, contract_id: UUID, expected_version: int, *, trigger_id: str,
                        reason: str, ctx: CommandContext) -> CommandResult:
        """Dismiss a fired exit trigger."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.dismiss_trigger(trigger_id, reason, ctx.provenance)))

    def initiate_exit(self, contract_id: UUID, expected_version: int, *, reason: str,
                      trigger_id: str | None, ctx: CommandContext) -> CommandResult:
        """Initiate the exit (today, by the clock): the exit plan is executed from now on."""
        today = self.clock.today()
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.initiate_exit(reason, trigger_id, today, ctx.provenance)))

    def start_exit_step(self, contract_id: UUID, expected_version: int, *, step_id: str,
                        ctx: CommandContext) -> CommandResult:
        """Start an exit plan step (today, by the clock)."""
        today = self.clock.today()
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.start_exit_step(step_id, today, ctx.provenance)))

    def complete_exit_step(self, contract_id: UUID, expected_version: int, *, step_id: str,
                           note: str, ctx: CommandContext) -> CommandResult:
        """Complete an exit plan step (today, by the clock)."""
        today = self.clock.today()
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.complete_exit_step(step_id, today, note, ctx.provenance)))

    def record_exit_spend(self, contract_id: UUID, expected_version: int, *, amount: Money,
                          description: str, spent_on: date,
                          ctx: CommandContext) -> CommandResult:
        """Record money spent on the exit."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.record_exit_spend(amount, description, spent_on, ctx.provenance)))
