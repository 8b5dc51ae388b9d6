"""Contracts: draft, read, and the acts that change a contract."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, Response, jsonify

from service.application import CommandContext, CommandResult
from service.auth import READ_CONTRACTS, READ_EVENTS, WRITE_CONTRACTS, Forbidden
from service.http.plumbing import (
    command,
    contract_response,
    expected_version,
    ledger,
    parse_body,
    parse_query,
    principal,
)
from service.http.schemas import contracts as schemas

bp = Blueprint("contracts", __name__, url_prefix="/v1/contracts")


@bp.post("")
@command(WRITE_CONTRACTS, status=201)
def draft_contract(ctx: CommandContext) -> CommandResult:
    """Draft a contract."""
    data = parse_body(schemas.DraftContractSchema)
    return ledger().draft_contract(**data, ctx=ctx)


@bp.get("/<uuid:contract_id>")
def get_contract(contract_id: UUID) -> Response:
    """Read a contract, now or at one of its versions; with effective_on, also what
    applied on that day."""
    principal().require(READ_CONTRACTS)
    query = parse_query(schemas.ContractQuerySchema)
    contract = ledger().get_contract(contract_id, version=query.get("version"),
                                     as_of=query.get("as_of"),
                                     vendor_scope=principal().vendor_scope,
                                     as_of_date=query.get("as_of_date"),
                                     effective_on=query.get("effective_on"))
    return contract_response(contract)


@bp.get("/<uuid:contract_id>/events")
def list_contract_events(contract_id: UUID) -> Response:
    """List the contract's own events, oldest first, with their hash links."""
    principal().require(READ_EVENTS)
    query = parse_query(schemas.EventsQuerySchema)
    events = ledger().contract_events(contract_id, after=query["after"], limit=query["limit"],
                                      vendor_scope=principal().vendor_scope)
    page = {"events": events, "next_after": events[-1]["version"] if events else None}
    if len(events) < query["limit"]:
        page["next_after"] = None
    return jsonify(page)


@bp.post("/<uuid:contract_id>/amendments")
@command(WRITE_CONTRACTS)
def amend_terms(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Amend the contract's terms."""
    data = parse_body(schemas.AmendmentSchema)
    return ledger().amend_terms(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/<uuid:contract_id>/point-of-contact")
@command(WRITE_CONTRACTS)
def designate_point_of_contact(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Designate the single point of contact."""
    data = parse_body(schemas.PointOfContactSchema)
    return ledger().designate_point_of_contact(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/<uuid:contract_id>/sla-metrics")
@command(WRITE_CONTRACTS)
def define_sla_metric(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Define an SLA metric."""
    data = parse_body(schemas.SlaMetricSchema)
    return ledger().define_sla_metric(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/<uuid:contract_id>/sla-amendments")
@command(WRITE_CONTRACTS)
def amend_sla(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Change SLA targets or retire SLA metrics from an effective date."""
    data = parse_body(schemas.SlaAmendmentSchema)
    return ledger().amend_sla(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/<uuid:contract_id>/exit-plan")
@command(WRITE_CONTRACTS)
def define_exit_plan(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Define or revise the exit plan."""
    data = parse_body(schemas.ExitPlanSchema)
    return ledger().define_exit_plan(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/<uuid:contract_id>/activation")
@command(WRITE_CONTRACTS)
def activate(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Put the contract live (today, unless an effective date is given)."""
    data = parse_body(schemas.ActivationSchema)
    return ledger().activate(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/<uuid:contract_id>/renewal")
@command(WRITE_CONTRACTS)
def renew(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Renew the contract to a later end date."""
    data = parse_body(schemas.RenewalSchema)
    return ledger().renew(contract_id, expected_version(), **data, ctx=ctx)


@bp.post("/<uuid:contract_id>/termination")
@command(WRITE_CONTRACTS)
def terminate(contract_id: UUID, ctx: CommandContext) -> CommandResult:
    """Terminate the contract (overriding an incomplete exit plan is an admin's call)."""
    data = parse_body(schemas.TerminationSchema)
    if data["override_reason"] is not None and principal().role != "admin":
        raise Forbidden("only an admin may terminate past an incomplete exit plan")
    return ledger().terminate(contract_id, expected_version(), **data, ctx=ctx)
