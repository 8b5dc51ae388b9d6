"""Reads of the event store: a contract now, at a version or an instant (time travel),
its events, its credit statement, and every contract's id."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.contract import Contract
from domain.exceptions import ContractNotFound
from domain.money import with_minor_units
from domain.statement import credit_statement
from service.representation import present, present_event
from service.use_cases.base import UseCases, check_scope


class Queries(UseCases):
    # The library's event store and recorder, as ContractLedger (an Application) has them.
    events: Any
    recorder: Any

    def _replayed(self, contract_id: UUID, version: int) -> Contract:
        # A contract restored from a snapshot older than its drafted terms: replay them.
        contract = replay(None, self.events.get(contract_id, lte=version))
        assert isinstance(contract, Contract)
        return contract

    def get_contract(self, contract_id: UUID, *, version: int | None = None,
                     as_of: datetime | None = None, vendor_scope: str | None = None,
                     as_of_date: date | None = None,
                     effective_on: date | None = None) -> dict[str, Any]:
        """Return the contract's state: now, as of one of its versions, or as the ledger
        knew it at an instant (recorded time); with effective_on, also what applied on
        that day as that version knew it (effective time). Overdue items are judged as
        of as_of_date (today, by the clock, unless given)."""
        # Scope first: another vendor's contract must look like no contract at all, not
        # tell which versions it has or when it was drafted.
        contract = self._load(contract_id, None if as_of is not None else version)
        check_scope(contract, vendor_scope)
        if as_of is not None:
            version = self._version_at(contract_id, as_of)
            contract = self._load(contract_id, version)
        if version is not None and contract.version != version:
            raise ContractNotFound(f"contract {contract_id} has no version {version}")
        if effective_on is not None and contract.drafted_terms is None:
            contract = self._replayed(contract_id, contract.version)
        return present(contract, as_of_date or self.clock.today(), effective_on)

    def _version_at(self, contract_id: UUID, as_of: datetime) -> int:
        # Events are recorded in version order, so their timestamps only grow.
        version = 0
        events: Any = self.events.get(contract_id)
        for stored in events:
            if stored.timestamp > as_of:
                break
            version = stored.originator_version
        if version == 0:
            raise ContractNotFound(f"contract {contract_id} did not exist at {as_of.isoformat()}")
        return version

    def load_contract(self, contract_id: UUID, version: int | None = None) -> Contract:
        """Return the contract (a copy of its own) as it is now or at a version."""
        return self._load(contract_id, version)

    def position_of(self, contract_id: UUID, version: int) -> int | None:
        """Return the global position at which a contract version was committed."""
        position: int | None = self.recorder.notification_id_of(contract_id, version)
        return position

    def contract_events(self, contract_id: UUID, *, after: int = 0, limit: int = 100,
                        vendor_scope: str | None = None) -> list[dict[str, Any]]:
        """Return a contract's events oldest first, with their hash links."""
        if vendor_scope is not None:
            check_scope(self._load(contract_id), vendor_scope)
        events = list(self.events.get(contract_id, gt=after, limit=limit))
        if not events and not self.recorder.select_events(contract_id, limit=1):
            raise ContractNotFound(f"no contract {contract_id}")
        return [present_event(e) for e in events]

    def credits(self, contract_id: UUID, *, vendor_scope: str | None = None) -> dict[str, Any]:
        """Return the credits and incentives with totals owed each way per period and year."""
        contract = self._load(contract_id)
        check_scope(contract, vendor_scope)
        statement: dict[str, Any] = with_minor_units(credit_statement(contract))
        return {"contract_id": str(contract.id), "version": contract.version, **statement}

    def contract_ids(self) -> list[UUID]:
        """Return every contract's id, in the order they were drafted."""
        topic = get_topic(Contract.ContractDrafted)
        ids: list[UUID] = []
        start = 1
        while page := self.recorder.select_notifications(start=start, limit=1000,
                                                          topics=[topic]):
            ids.extend(UUID(str(n.originator_id)) for n in page)
            start = page[-1].id + 1
        return ids


def replay(contract: Any, events: Any) -> Any:
    """Apply events to a contract (None before its first); the repository's projector."""
    # eventsourcing's project_aggregate checks each event against a runtime Protocol,
    # which costs as much as applying it; our events are all Contract events.
    for event in events:
        contract = event.mutate(contract)
    return contract
