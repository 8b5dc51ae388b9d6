"""Projection-backed reads: contract lists, vendors and portfolio, scorecards, audit.

Every response names the ledger position its view reflects; with ?min_position= the
request first waits (bounded) for the view to reach that position, so a client reads
its own writes: pass the Ledger-Position a write answered with.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, jsonify, url_for

from domain.exceptions import ContractNotFound
from domain.values import is_slug
from projections.audit import AuditFilter, AuditView
from projections.base import instant
from projections.contracts import ContractFilter, ContractsView, present_row
from projections.scorecard import ScorecardView
from projections.session import Session
from projections.vendors import portfolio, portfolio_rows
from service.auth import READ_CONTRACTS, READ_EVENTS
from service.history import changes
from service.http.paging import decode_cursor, page, read, views
from service.http.plumbing import POSITION_HEADER, ledger, parse_query, principal
from service.http.schemas import views as schemas

bp = Blueprint("views", __name__, url_prefix="/v1")


@bp.get("/contracts")
def list_contracts() -> Response:
    """List and search contracts."""
    principal().require(READ_CONTRACTS)
    query = parse_query(schemas.ContractListQuerySchema)
    scope = principal().vendor_scope
    where = ContractFilter(
        status=_value(query.get("status")), vendor_id=scope or query.get("vendor"),
        service_scope=_value(query.get("service_scope")),
        sourcing_model=_value(query.get("sourcing_model")), text=query.get("q"),
        currency=query.get("currency"),
        value_min=_text(query.get("value_min")), value_max=_text(query.get("value_max")),
        ends_before=query.get("ends_before"),
        notice_deadline_before=query.get("notice_deadline_before"),
        exiting=query.get("exiting"))
    sort, limit = query["sort"], query["limit"]
    after = decode_cursor(query, lambda key: valid_key(key, sort))
    view: ContractsView = _view("contracts")
    # A vendor asking for another vendor's contracts gets none (not a 403: the other
    # vendor's existence does not leak), as of the position it asked for.
    foreign = scope is not None and query.get("vendor", scope) != scope
    position, rows = read(view, lambda s: [] if foreign else view.search(
        s, where, sort=sort, limit=limit + 1, after=after), query.get("min_position"))
    next_key = [view.sort_value(rows[limit - 1], sort), rows[limit - 1]["contract_id"]] \
        if len(rows) > limit else None
    return page([present_row(r) for r in rows[:limit]], next_key, position, query)


@bp.get("/vendors")
def list_vendors() -> Response:
    """Vendors and the portfolio: spend per vendor and service scope, concentration."""
    principal().require(READ_CONTRACTS)
    query = parse_query(schemas.ViewQuerySchema)
    scope = principal().vendor_scope
    view: ContractsView = _view("contracts")
    position, rows = read(view, lambda s: portfolio_rows(view, s, scope),
                          query.get("min_position"))
    # A vendor sees its own entry, never what is spent with the others.
    summary = portfolio(rows, with_shares=scope is None)
    after = decode_cursor(query, lambda key: isinstance(key, str))
    limit = query["limit"]
    vendors = [v for v in summary["vendors"] if after is None or v["vendor_id"] > after]
    next_key = vendors[limit - 1]["vendor_id"] if len(vendors) > limit else None
    return page(vendors[:limit], next_key, position, query, {"totals": summary["totals"]})


@bp.get("/vendors/<vendor_id>/scorecard")
def vendor_scorecard(vendor_id: str) -> Response:
    """A vendor's scorecard across its contracts."""
    principal().require(READ_CONTRACTS)
    query = parse_query(schemas.ScorecardQuerySchema)
    scope = principal().vendor_scope
    # No vendor has a non-slug id; a vendor token sees no other vendor's.
    if not is_slug(vendor_id) or scope not in (None, vendor_id):
        raise ContractNotFound(f"no vendor {vendor_id!r} with contracts")
    view: ScorecardView = _view("scorecard")
    position, card = read(view, lambda s: view.scorecard(s, vendor_id),
                          query.get("min_position"))
    if card is None:
        raise ContractNotFound(f"no vendor {vendor_id!r} with contracts")
    response = jsonify({**card, "position": position})
    response.headers[POSITION_HEADER] = str(position)
    return response


@bp.get("/contracts/<uuid:contract_id>/audit")
def contract_audit(contract_id: UUID) -> Response:
    """A contract's audit timeline: who did what, when, why, and what it changed."""
    _require_audit_reader()
    query = parse_query(schemas.AuditQuerySchema)
    return _audit(query, contract_id)


@bp.get("/audit")
def ledger_audit() -> Response:
    """The audit timeline across the ledger, filtered by actor, event type and time."""
    _require_audit_reader()
    query = parse_query(schemas.LedgerAuditQuerySchema)
    return _audit(query, query.get("contract"))


def _audit(query: dict[str, Any], contract_id: UUID | None) -> Response:
    view: AuditView = _view("audit")
    where = AuditFilter(
        contract_id=None if contract_id is None else str(contract_id),
        vendor_id=principal().vendor_scope, actor_id=query.get("actor"),
        event_type=query.get("type"), recorded_from=_instant(query.get("recorded_from")),
        recorded_to=_instant(query.get("recorded_to")),
        after_position=decode_cursor(query, _is_position) or 0)
    limit = query["limit"]

    def entries(session: Session) -> tuple[bool, list[dict[str, Any]]]:
        known = contract_id is None or bool(session.execute(
            "SELECT 1 AS found FROM {contracts} WHERE contract_id = %s "
            + ("AND vendor_id = %s" if where.vendor_id else ""),
            (str(contract_id), *([where.vendor_id] if where.vendor_id else []))))
        return known, view.entries(session, where, limit + 1)

    position, (known, rows) = read(view, entries, query.get("min_position"))
    if not known:
        raise ContractNotFound(f"no contract {contract_id}")
    rows, more = rows[:limit], len(rows) > limit
    patches = _changes(rows) if query["changes"] else None
    items = [_entry(row, patches) for row in rows]
    return page(items, int(rows[-1]["position"]) if more else None, position, query)


def _changes(rows: list[dict[str, Any]]) -> dict[tuple[str, int], Any]:
    by_contract: dict[str, list[int]] = {}
    for row in rows:
        by_contract.setdefault(row["contract_id"], []).append(int(row["version"]))
    return {(contract_id, version): patch
            for contract_id, versions in by_contract.items()
            for version, patch in changes(ledger(), UUID(contract_id), versions).items()}


def _entry(row: dict[str, Any],
           patches: dict[tuple[str, int], Any] | None) -> dict[str, Any]:
    contract_id, version = row["contract_id"], int(row["version"])
    entry = {
        "position": int(row["position"]),
        "contract_id": contract_id,
        "version": version,
        "type": row["event_type"],
        "actor": {"id": row["actor_id"], "role": row["actor_role"]},
        "recorded_at": row["recorded_at"],
        "effective_date": row["effective_date"],
        "reason": row["reason"],
        "correlation_id": row["correlation_id"],
        "contract_at_version": url_for("contracts.get_contract", contract_id=contract_id,
                                       version=version),
    }
    if patches is not None:
        entry["changes"] = patches[(contract_id, version)]
    return entry


def _require_audit_reader() -> None:
    # The timeline shows what each event changed in the contract: contract content.
    principal().require(READ_EVENTS)
    principal().require(READ_CONTRACTS)


def _is_position(key: Any) -> bool:
    return isinstance(key, int) and not isinstance(key, bool) and 0 <= key < 2**63


def valid_key(key: Any, sort: str) -> bool:
    """Whether key is a contracts keyset position of this sort: [its sort value, id]."""
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        return False
    value = key[0]
    try:
        match sort.lstrip("-"):
            case "value":
                if not Decimal(value).is_finite():
                    return False
            case "term_end" | "notice_deadline":
                date.fromisoformat(value)
            case "drafted_at" | "updated_at":
                datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
        UUID(key[1])
    except (ValueError, ArithmeticError):
        return False
    return "\x00" not in value


def _view(name: str) -> Any:
    return views()[name]


def _value(member: Any) -> str | None:
    return None if member is None else str(member.value)


def _text(number: Any) -> str | None:
    return None if number is None else str(number)


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else instant(moment.astimezone(UTC))
