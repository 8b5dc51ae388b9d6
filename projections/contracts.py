"""The contracts view: one row per contract, for lists and searches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import singledispatch
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.contract import Contract
from domain.money import money_data
from domain.values import ContractStatus, Term
from projections.base import LedgerProjection, View, conditions, instant
from projections.session import Rows, Session, Table

CONTRACTS = Table(
    columns=(
        "contract_id TEXT NOT NULL",
        "vendor_id TEXT NOT NULL",
        "vendor_name TEXT NOT NULL",
        "title TEXT NOT NULL",
        "title_folded TEXT NOT NULL",  # casefolded: SQLite's lower() knows only ASCII
        "status TEXT NOT NULL",
        "exiting INTEGER NOT NULL",
        "service_scope TEXT NOT NULL",
        "sourcing_model TEXT NOT NULL",
        "delivery_location TEXT NOT NULL",
        "value_amount NUMERIC NOT NULL",  # for ranges and sorting
        "value_text TEXT NOT NULL",  # exact, as recorded
        "currency TEXT NOT NULL",
        "term_start TEXT NOT NULL",  # ISO dates compare as text
        "term_end TEXT NOT NULL",
        "notice_period_days INTEGER NOT NULL",
        "notice_deadline TEXT NOT NULL",
        "renewal TEXT NOT NULL",
        "activated_on TEXT",
        "terminated_on TEXT",
        "version INTEGER NOT NULL",
        "drafted_at TEXT NOT NULL",
        "updated_at TEXT NOT NULL",
    ),
    key=("contract_id",),
)

SORTS = {
    "drafted_at": "drafted_at", "updated_at": "updated_at", "title": "title_folded",
    "value": "value_amount", "term_end": "term_end", "notice_deadline": "notice_deadline",
}
"""Sort keys a client may name (prefix "-" for descending) -> column."""


@dataclass(frozen=True)
class ContractFilter:
    """A search of the contracts view; None means "any"."""

    status: str | None = None
    vendor_id: str | None = None
    service_scope: str | None = None
    sourcing_model: str | None = None
    text: str | None = None
    currency: str | None = None
    value_min: str | None = None
    value_max: str | None = None
    ends_before: date | None = None
    notice_deadline_before: date | None = None
    exiting: bool | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        clauses, params = conditions(
            ("status", "=", self.status), ("vendor_id", "=", self.vendor_id),
            ("service_scope", "=", self.service_scope),
            ("sourcing_model", "=", self.sourcing_model), ("currency", "=", self.currency),
            ("value_amount", ">=", self.value_min), ("value_amount", "<=", self.value_max),
            ("term_end", "<", _iso(self.ends_before)),
            ("notice_deadline", "<", _iso(self.notice_deadline_before)),
            ("exiting", "=", None if self.exiting is None else int(self.exiting)))
        if self.text:
            clauses.append("title_folded LIKE %s ESCAPE '\\'")
            params.append(f"%{_like_escaped(self.text.casefold())}%")
        return clauses, params


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


class ContractsView(View):
    name = "contracts"
    tables = {"contracts": CONTRACTS}
    indexes = {
        "vendor": "contracts(vendor_id, contract_id)",
        "status": "contracts(status, contract_id)",
        "drafted": "contracts(drafted_at, contract_id)",
        "updated": "contracts(updated_at, contract_id)",
        "end": "contracts(term_end, contract_id)",
        "notice": "contracts(notice_deadline, contract_id)",
        "value": "contracts(value_amount, contract_id)",
    }

    def search(self, session: Session, where: ContractFilter, *, sort: str, limit: int,
               after: tuple[Any, str] | None = None) -> list[dict[str, Any]]:
        """One page of contracts matching where, in sort order, after a keyset position
        (the sort value and contract id of the last row of the page before)."""
        column = SORTS[sort.lstrip("-")]
        descending = sort.startswith("-")
        clauses, params = where.where()
        if after is not None:
            clauses.append(f"({column}, contract_id) {'<' if descending else '>'} (%s, %s)")
            params.extend(after)
        direction = "DESC" if descending else "ASC"
        return session.execute(
            "SELECT * FROM {contracts}"
            + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
            + f" ORDER BY {column} {direction}, contract_id {direction} LIMIT %s",
            (*params, limit))

    @staticmethod
    def sort_value(row: Mapping[str, Any], sort: str) -> Any:
        """The value of row's sort column, as a cursor keeps it."""
        value = row[SORTS[sort.lstrip("-")]]
        return str(value) if sort.lstrip("-") == "value" else value


class ContractsProjection(LedgerProjection[ContractsView]):
    """Every event moves its contract's version on; the lifecycle and terms events change
    the columns a search filters on."""

    name = "contracts"

    def begin(self, session: Session, events: Sequence[Any]) -> Mapping[str, Rows]:
        rows = session.rows("contracts")
        rows.prefetch("contract_id", {str(e.originator_id) for e in events})
        return {"contracts": rows}

    def fold(self, event: Any, rows: Mapping[str, Rows]) -> None:  # type: ignore[override]
        contracts = rows["contracts"]
        contract_id = str(event.originator_id)
        if isinstance(event, Contract.ContractDrafted):
            contracts.put(_drafted_row(event))
        row = contracts.get(contract_id)
        if row is None:  # an event of a contract drafted before a partial rebuild: skip
            return
        changes: dict[str, Any] = {"version": event.originator_version,
                                   "updated_at": instant(event.timestamp)}
        changes.update(_changes(event, row))
        contracts.put({**row, **changes})


def _drafted_row(event: Contract.ContractDrafted) -> dict[str, Any]:
    return {
        "contract_id": str(event.originator_id),
        "vendor_id": event.vendor.vendor_id,
        "vendor_name": event.vendor.name,
        "title": event.title,
        "title_folded": event.title.casefold(),
        "status": ContractStatus.DRAFT.value,
        "exiting": 0,
        "service_scope": event.service_scope.value,
        "sourcing_model": event.sourcing_model.value,
        "delivery_location": event.delivery_location.value,
        "value_amount": str(event.value.amount),
        "value_text": str(event.value.amount),
        "currency": event.value.currency,
        **_term_columns(event.term),
        "activated_on": None,
        "terminated_on": None,
        "drafted_at": instant(event.timestamp),
    }


@singledispatch
def _changes(event: Any, row: Mapping[str, Any]) -> dict[str, Any]:
    """What an event changes in its contract's row besides version and time: nothing,
    unless it is one of the lifecycle or terms events below."""
    return {}


@_changes.register
def _(event: Contract.TermsAmended, row: Mapping[str, Any]) -> dict[str, Any]:
    changes = event.changes
    changed: dict[str, Any] = {}
    if changes.title is not None:
        changed.update(title=changes.title, title_folded=changes.title.casefold())
    if changes.value is not None:
        changed.update(value_amount=str(changes.value.amount),
                       value_text=str(changes.value.amount))
    for name in ("service_scope", "delivery_location"):
        if getattr(changes, name) is not None:
            changed[name] = getattr(changes, name).value
    term = _term(row)
    for name in ("end", "notice_period_days"):
        if getattr(changes, name) is not None:
            term[name] = getattr(changes, name)
    if changes.renewal is not None:
        term["renewal"] = changes.renewal.value
    changed.update(_term_columns(term))
    return changed


@_changes.register
def _(event: Contract.ContractActivated, row: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": ContractStatus.ACTIVE.value,
            "activated_on": event.effective_date.isoformat()}


@_changes.register
def _(event: Contract.ContractRenewed, row: Mapping[str, Any]) -> dict[str, Any]:
    return _term_columns({**_term(row), "end": event.new_end})


@_changes.register
def _(event: Contract.ContractTerminated, row: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": ContractStatus.TERMINATED.value, "exiting": 0,
            "terminated_on": event.effective_date.isoformat()}


@_changes.register
def _(event: Contract.ExitInitiated, row: Mapping[str, Any]) -> dict[str, Any]:
    return {"exiting": 1}


def _term(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"start": date.fromisoformat(row["term_start"]),
            "end": date.fromisoformat(row["term_end"]),
            "notice_period_days": int(row["notice_period_days"]), "renewal": row["renewal"]}


def _term_columns(term: Term | Mapping[str, Any]) -> dict[str, Any]:
    values: Mapping[str, Any] = term if isinstance(term, Mapping) else {
        "start": term.start, "end": term.end, "notice_period_days": term.notice_period_days,
        "renewal": term.renewal.value}
    return {
        "term_start": values["start"].isoformat(),
        "term_end": values["end"].isoformat(),
        "notice_period_days": values["notice_period_days"],
        # The same rule as Contract.notice_deadline: term end minus the notice period.
        "notice_deadline": (values["end"] - timedelta(days=values["notice_period_days"]))
        .isoformat(),
        "renewal": values["renewal"],
    }


def _version_only_topics() -> frozenset[str]:
    """Topics of the contract events whose fold only moves version and updated_at on
    (no _changes handler): a later event of the same contract sets both again."""
    default = _changes.dispatch(object)
    return frozenset(
        get_topic(member) for member in vars(Contract).values()
        if isinstance(member, type) and issubclass(member, Contract.Event)
        and not issubclass(member, Aggregate.Created)  # drafted: makes the row
        and _changes.dispatch(member) is default)


ContractsProjection.coalesced_topics = _version_only_topics()


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def present_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A contracts-view row as the API shows it."""
    return {
        "id": row["contract_id"],
        "version": int(row["version"]),
        "status": row["status"],
        "exiting": bool(row["exiting"]),
        "title": row["title"],
        "vendor": {"vendor_id": row["vendor_id"], "name": row["vendor_name"]},
        "service_scope": row["service_scope"],
        "sourcing_model": row["sourcing_model"],
        "delivery_location": row["delivery_location"],
        "value": money_data(Decimal(row["value_text"]), row["currency"]),
        "term": {"start": row["term_start"], "end": row["term_end"],
                 "notice_period_days": int(row["notice_period_days"]),
                 "renewal": row["renewal"]},
        "notice_deadline": row["notice_deadline"],
        "activated_on": row["activated_on"],
        "terminated_on": row["terminated_on"],
        "created_at": row["drafted_at"],
        "updated_at": row["updated_at"],
    }
