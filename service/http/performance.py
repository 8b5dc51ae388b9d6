"""SLA performance: rules, reports, period closing, credits, waivers, disputes, triggers."""

from __future__ import annotations

import re
from uuid import UUID

from flask import Blueprint, Response, jsonify
from marshmallow import ValidationError

from domain.values import MeasurementPeriod
from service.application import CommandContext, CommandResult
from service.auth import DISPUTE_PENALTIES, READ_CONTRACTS, REPORT_PERFORMANCE, WRITE_CONTRACTS
from service.http.plumbing import command, expected_version, ledger, parse_body, principal
from service.http.schemas import performance as schemas

bp = Blueprint("performance", __name__, url_prefix="/v1/contracts/<uuid:contract_id>")

_PERIOD_KINDS = (
    (re.compile(r"^[0-9]{4}-W[0-9]{2}\Z"), MeasurementPeriod.WEEKLY),
    (re.compile(r"^[0-9]{4}-[0-9]{2}\Z"), MeasurementPeriod.MONTHLY),
    (re.compile(r"^[0-9]{4}-Q[1-4]\Z"), MeasurementPeriod.QUARTERLY),
)


@bp.post("/rules")
@command(WRITE_CONTRACTS)
def define_rule(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Define a penalty or incentive rule bound to an SLA metric."""
    data = parse_body(schemas.RuleSchema)
    return ledger().define_rule(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/rules/<rule_id>/amendments")
@command(WRITE_CONTRACTS)
def amend_rule(contract_id: UUID, rule_id: str, ctx: CommandContext) -> CommandResult:
    """Amend a rule from a later effective date."""
    data = parse_body(schemas.RuleAmendmentSchema)
    return ledger().amend_rule(contract_id, expected_version(), rule_id=rule_id, **data, ctx=ctx)


@bp.post("/rules/<rule_id>/retirement")
@command(WRITE_CONTRACTS)
def retire_rule(contract_id: UUID, rule_id: str, ctx: CommandContext) -> CommandResult:
    """Retire a rule from an effective date."""
    data = parse_body(schemas.RuleRetirementSchema)
    return ledger().retire_rule(contract_id, expected_version(), rule_id=rule_id, **data,
                                ctx=ctx)


@bp.post("/performance-reports")
@command(REPORT_PERFORMANCE)
def report_performance(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Report metric values for a period (or correct them); evaluated in the same write."""
    data = parse_body(schemas.PerformanceReportSchema)
    if data["correction_reason"] is not None:  # a correction reverses credits: not the vendor's
        principal().require(WRITE_CONTRACTS)
    return ledger().report_performance(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/periods/<period>/close")
@command(WRITE_CONTRACTS)
def close_period(contract_id: UUID, period: str, ctx: CommandContext) -> CommandResult:
    """Close a period: metrics with no report are evaluated by their rules' policy."""
    parse_body(schemas.StrictSchema)
    kind = next((k for pattern, k in _PERIOD_KINDS if pattern.match(period)), None)
    if kind is None:
        raise ValidationError({"period": ["must be YYYY-Www, YYYY-MM or YYYY-Qn"]})
    return ledger().close_period(contract_id, expected_version(), period=period,
                                 measurement_period=kind, ctx=ctx)


@bp.post("/penalties/<penalty_id>/waiver")
@command(WRITE_CONTRACTS)
def waive_penalty(contract_id: UUID, penalty_id: str, ctx: CommandContext) -> CommandResult:
    """Waive an assessed penalty (reason and approver)."""
    data = parse_body(schemas.WaiverSchema)
    return ledger().waive_penalty(contract_id, expected_version(), penalty_id=penalty_id,
                                  **data, ctx=ctx)


@bp.post("/penalties/<penalty_id>/dispute")
@command(DISPUTE_PENALTIES)
def dispute_penalty(contract_id: UUID, penalty_id: str, ctx: CommandContext) -> CommandResult:
    """Dispute an assessed penalty (the vendor, within the dispute window)."""
    data = parse_body(schemas.DisputeSchema)
    return ledger().dispute_penalty(contract_id, expected_version(), penalty_id=penalty_id,
                                    **data, ctx=ctx)


@bp.post("/penalties/<penalty_id>/dispute-resolution")
@command(WRITE_CONTRACTS)
def resolve_dispute(contract_id: UUID, penalty_id: str, ctx: CommandContext) -> CommandResult:
    """Resolve a dispute: upheld, overturned, or adjusted to an amount."""
    data = parse_body(schemas.DisputeResolutionSchema)
    return ledger().resolve_dispute(contract_id, expected_version(), penalty_id=penalty_id,
                                    **data, ctx=ctx)


@bp.post("/exit-triggers")
@command(WRITE_CONTRACTS)
def define_exit_trigger(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Define a performance exit trigger."""
    data = parse_body(schemas.ExitTriggerSchema)
    return ledger().define_exit_trigger(contract_id, expected_version(), **data, ctx=ctx)


@bp.get("/credits")
def list_credits(contract_id: UUID) -> Response:
    """List penalties and incentives, with totals owed each way per period and year."""
    principal().require(READ_CONTRACTS)
    return jsonify(ledger().credits(contract_id, vendor_scope=principal().vendor_scope))
