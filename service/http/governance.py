"""Relationship governance and exit: health checks, findings, reviews, proposals, exit."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint

from service.application import CommandContext, CommandResult
from service.auth import PROPOSE_IMPROVEMENTS, RESPOND_TO_FINDINGS, WRITE_CONTRACTS
from service.http.plumbing import command, expected_version, ledger, parse_body
from service.http.schemas import governance as schemas

bp = Blueprint("governance", __name__, url_prefix="/v1/contracts/<uuid:contract_id>")


@bp.post("/governance-cadence")
@command(WRITE_CONTRACTS)
def declare_cadence(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Declare how often each review and the health check are due."""
    data = parse_body(schemas.CadenceSchema)
    return ledger().declare_cadence(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/health-checks")
@command(WRITE_CONTRACTS)
def conduct_health_check(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Record a health check with its findings."""
    data = parse_body(schemas.HealthCheckSchema)
    return ledger().conduct_health_check(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/findings/<finding_id>/corrective-actions")
@command(WRITE_CONTRACTS)
def plan_corrective_action(contract_id: UUID, finding_id: str,
                           ctx: CommandContext) -> CommandResult:
    """Plan a corrective action for a finding."""
    data = parse_body(schemas.CorrectiveActionSchema)
    return ledger().plan_corrective_action(contract_id, expected_version(),
                                           finding_id=finding_id, **data, ctx=ctx)


@bp.post("/findings/<finding_id>/corrective-actions/<action_id>/updates")
@command(WRITE_CONTRACTS)
def update_corrective_action(contract_id: UUID, finding_id: str, action_id: str,
                             ctx: CommandContext) -> CommandResult:
    """Record progress on a corrective action."""
    data = parse_body(schemas.CorrectiveActionUpdateSchema)
    return ledger().update_corrective_action(contract_id, expected_version(),
                                             finding_id=finding_id, action_id=action_id,
                                             **data, ctx=ctx)


@bp.post("/findings/<finding_id>/corrective-actions/<action_id>/completion")
@command(WRITE_CONTRACTS)
def complete_corrective_action(contract_id: UUID, finding_id: str, action_id: str,
                               ctx: CommandContext) -> CommandResult:
    """Complete a corrective action."""
    data = parse_body(schemas.CorrectiveActionCompletionSchema)
    return ledger().complete_corrective_action(contract_id, expected_version(),
                                               finding_id=finding_id, action_id=action_id,
                                               **data, ctx=ctx)


@bp.post("/findings/<finding_id>/resolution")
@command(WRITE_CONTRACTS)
def close_finding(contract_id: UUID, finding_id: str, ctx: CommandContext) -> CommandResult:
    """Resolve a finding with evidence, or accept it as a risk."""
    data = parse_body(schemas.FindingResolutionSchema)
    return ledger().close_finding(contract_id, expected_version(), finding_id=finding_id,
                                  **data, ctx=ctx)


@bp.post("/findings/<finding_id>/responses")
@command(RESPOND_TO_FINDINGS)
def respond_to_finding(contract_id: UUID, finding_id: str,
                       ctx: CommandContext) -> CommandResult:
    """Record the vendor's response to a finding."""
    data = parse_body(schemas.FindingResponseSchema)
    return ledger().respond_to_finding(contract_id, expected_version(), finding_id=finding_id,
                                       **data, ctx=ctx)


@bp.post("/reviews")
@command(WRITE_CONTRACTS)
def hold_review(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Record a governance review (a scorecard review carries a balanced scorecard)."""
    data = parse_body(schemas.ReviewSchema)
    return ledger().hold_review(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/improvement-proposals")
@command(PROPOSE_IMPROVEMENTS)
def propose_improvement(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Propose an improvement (vendor or procurement)."""
    data = parse_body(schemas.ProposalSchema)
    return ledger().propose_improvement(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/improvement-proposals/<proposal_id>/decision")
@command(WRITE_CONTRACTS)
def decide_proposal(contract_id: UUID, proposal_id: str, ctx: CommandContext) -> CommandResult:
    """Accept, reject or defer a proposal."""
    data = parse_body(schemas.ProposalDecisionSchema)
    return ledger().decide_proposal(contract_id, expected_version(), proposal_id=proposal_id,
                                    **data, ctx=ctx)


@bp.post("/improvement-proposals/<proposal_id>/implementation")
@command(WRITE_CONTRACTS)
def implement_proposal(contract_id: UUID, proposal_id: str,
                       ctx: CommandContext) -> CommandResult:
    """Record that an accepted proposal was implemented, with its realised benefit."""
    data = parse_body(schemas.ProposalImplementationSchema)
    return ledger().implement_proposal(contract_id, expected_version(),
                                       proposal_id=proposal_id, **data, ctx=ctx)


@bp.post("/improvement-proposals/<proposal_id>/withdrawal")
@command(PROPOSE_IMPROVEMENTS)
def withdraw_proposal(contract_id: UUID, proposal_id: str,
                      ctx: CommandContext) -> CommandResult:
    """Withdraw a proposal nobody has decided yet (a vendor: one a vendor made)."""
    data = parse_body(schemas.ProposalWithdrawalSchema)
    return ledger().withdraw_proposal(contract_id, expected_version(),
                                      proposal_id=proposal_id, **data, ctx=ctx)


@bp.post("/exit-triggers/<trigger_id>/dismissal")
@command(WRITE_CONTRACTS)
def dismiss_trigger(contract_id: UUID, trigger_id: str, ctx: CommandContext) -> CommandResult:
    """Dismiss a fired exit trigger with a reason."""
    data = parse_body(schemas.TriggerDismissalSchema)
    return ledger().dismiss_trigger(contract_id, expected_version(), trigger_id=trigger_id,
                                    **data, ctx=ctx)


@bp.post("/exit")
@command(WRITE_CONTRACTS)
def initiate_exit(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Initiate the exit: from now on the exit plan's steps are tracked."""
    data = parse_body(schemas.ExitInitiationSchema)
    return ledger().initiate_exit(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/exit/steps/<step_id>/start")
@command(WRITE_CONTRACTS)
def start_exit_step(contract_id: UUID, step_id: str, ctx: CommandContext) -> CommandResult:
    """Start an exit plan step."""
    parse_body(schemas.StrictSchema)
    return ledger().start_exit_step(contract_id, expected_version(), step_id=step_id, ctx=ctx)


@bp.post("/exit/steps/<step_id>/completion")
@command(WRITE_CONTRACTS)
def complete_exit_step(contract_id: UUID, step_id: str, ctx: CommandContext) -> CommandResult:
    """Complete an exit plan step."""
    data = parse_body(schemas.ExitStepCompletionSchema)
    return ledger().complete_exit_step(contract_id, expected_version(), step_id=step_id,
                                       **data, ctx=ctx)


@bp.post("/exit/spend")
@command(WRITE_CONTRACTS)
def record_exit_spend(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Record money spent on the exit (compared with the plan's budget)."""
    data = parse_body(schemas.ExitSpendSchema)
    return ledger().record_exit_spend(contract_id, expected_version(), **data, ctx=ctx)
