"""Credits: waivers and disputes of assessed penalties."""

from __future__ import annotations

from uuid import UUID

from domain.money import Money
from service.use_cases.base import CommandContext, CommandResult, UseCases


class CreditUseCases(UseCases):
    def waive_penalty(self, contract_id: UUID, expected_version: int, *, penalty_id: str,
                      reason: str, approver: str, ctx: CommandContext) -> CommandResult:
        """Waive an assessed penalty."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.waive_penalty(
            penalty_id, reason, approver, ctx.provenance))

    def dispute_penalty(self, contract_id: UUID, expected_version: int, *, penalty_id: str,
                        reason: str, evidence: str | None,
                        ctx: CommandContext) -> CommandResult:
        """Dispute an assessed penalty within the dispute window."""
        today = self.clock.today()
        return self._execute(contract_id, expected_version, ctx, lambda c: c.dispute_penalty(
            penalty_id, reason, evidence, today, self.dispute_window_days, ctx.provenance))

    def resolve_dispute(self, contract_id: UUID, expected_version: int, *, penalty_id: str,
                        outcome: str, amount: Money | None, reason: str,
                        ctx: CommandContext) -> CommandResult:
        """Resolve a dispute: upheld, overturned or adjusted."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.resolve_dispute(
            penalty_id, outcome, amount, reason, ctx.provenance))
