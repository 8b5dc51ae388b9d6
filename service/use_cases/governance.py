"""Governance: cadence, health checks, findings, corrective actions, reviews, proposals."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from domain import revisions
from domain.contract import Contract
from domain.governance import (
    Cadence,
    FindingSpec,
    HealthRating,
    ProposalDecision,
    ReviewKind,
    Scorecard,
)
from domain.money import Money
from service.use_cases.base import CommandContext, CommandResult, UseCases


class GovernanceUseCases(UseCases):
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
        """Resolve a finding with evidence (today, unless given), or accept it as a risk."""
        day = resolved_on or self.clock.today()

        def act(contract: Contract) -> None:
            revisions.close_finding(contract, finding_id, outcome, evidence=evidence,
                                    resolved_on=day, approver=approver, reason=reason,
                                    provenance=ctx.provenance)
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

    def withdraw_proposal(self, contract_id: UUID, expected_version: int, *,
                          proposal_id: str, reason: str, ctx: CommandContext) -> CommandResult:
        """Withdraw a proposal that is still proposed."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.withdraw_proposal(proposal_id, reason, ctx.provenance)))
