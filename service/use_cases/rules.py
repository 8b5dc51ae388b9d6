"""Rules: penalty (service credit) and incentive (bonus) rules."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from domain import revisions
from domain.contract import Contract
from domain.credits import IncentiveRule, PenaltyRule
from domain.exceptions import InvalidValue
from service.use_cases.base import CommandContext, CommandResult, UseCases


class RuleUseCases(UseCases):
    def define_rule(self, contract_id: UUID, expected_version: int, *,
                    rule: PenaltyRule | IncentiveRule, ctx: CommandContext) -> CommandResult:
        """Define a penalty (service credit) or incentive (bonus) rule."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            revisions.define_rule(c, rule, ctx.provenance)))

    def amend_rule(self, contract_id: UUID, expected_version: int, *, rule_id: str,
                   changes: dict[str, Any], rationale: str,
                   ctx: CommandContext) -> CommandResult:
        """Add a new version of a rule from a later effective date."""
        def act(contract: Contract) -> None:
            try:
                revisions.amend_rule(contract, rule_id, changes, rationale, ctx.provenance)
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
