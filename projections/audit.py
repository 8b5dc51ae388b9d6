"""The audit timeline view: one entry per event, who, when, effective when and why.

What an event changed (a diff of the contract's state) is not stored: it follows from
the events themselves, so the service computes it for the entries it shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.contract import Contract
from domain.history import effective_date_of, reason_of
from projections.base import LedgerProjection, View, conditions, instant
from projections.session import Rows, Session, Table

TABLES = {
    "entries": Table(("position BIGINT NOT NULL", "contract_id TEXT NOT NULL",
                      "vendor_id TEXT NOT NULL", "version INTEGER NOT NULL",
                      "event_type TEXT NOT NULL", "actor_id TEXT NOT NULL",
                      "actor_role TEXT NOT NULL", "recorded_at TEXT NOT NULL",
                      "effective_date TEXT", "reason TEXT", "correlation_id TEXT NOT NULL"),
                     key=("position",)),
    "contracts": Table(("contract_id TEXT NOT NULL", "vendor_id TEXT NOT NULL"),
                       key=("contract_id",)),
}


@dataclass(frozen=True)
class AuditFilter:
    """A query of the timeline; None means "any"."""

    contract_id: str | None = None
    vendor_id: str | None = None
    actor_id: str | None = None
    event_type: str | None = None
    recorded_from: str | None = None  # instants as the view stores them (fixed width)
    recorded_to: str | None = None
    after_position: int = 0


class AuditView(View):
    name = "audit"
    tables = TABLES
    indexes = {
        "contract": "entries(contract_id, position)",
        "actor": "entries(actor_id, position)",
        "type": "entries(event_type, position)",
        "recorded": "entries(recorded_at, position)",
        "vendor": "entries(vendor_id, position)",
    }

    def entries(self, session: Session, where: AuditFilter, limit: int) -> list[dict[str, Any]]:
        """One page of entries, oldest first, after a position."""
        clauses, params = conditions(
            ("position", ">", where.after_position), ("contract_id", "=", where.contract_id),
            ("vendor_id", "=", where.vendor_id), ("actor_id", "=", where.actor_id),
            ("event_type", "=", where.event_type), ("recorded_at", ">=", where.recorded_from),
            ("recorded_at", "<", where.recorded_to))
        return session.execute(
            f"SELECT * FROM {{entries}} WHERE {' AND '.join(clauses)} "
            "ORDER BY position LIMIT %s", (*params, limit))


class AuditProjection(LedgerProjection[AuditView]):
    """Every event of the ledger becomes an entry."""

    name = "audit"

    def begin(self, session: Session, events: Sequence[Any]) -> Mapping[str, Rows]:
        rows = {table: session.rows(table) for table in TABLES}
        rows["contracts"].prefetch("contract_id", {str(e.originator_id) for e in events})
        return rows

    def fold(self, event: Any, rows: Mapping[str, Rows]) -> None:  # type: ignore[override]
        contract_id = str(event.originator_id)
        if isinstance(event, Contract.ContractDrafted):
            rows["contracts"].put({"contract_id": contract_id,
                                   "vendor_id": event.vendor.vendor_id})
        contract = rows["contracts"].get(contract_id)
        provenance = event.provenance
        effective = effective_date_of(event)
        rows["entries"].append(  # in the order of the table's columns
            self.position, contract_id, contract["vendor_id"] if contract else "",
            event.originator_version, type(event).__name__, provenance.actor_id,
            provenance.actor_role, instant(event.timestamp),
            effective.isoformat() if effective else None, reason_of(event),
            provenance.correlation_id)

