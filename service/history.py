"""What each event changed: a JSON Patch (RFC 6902) between the contract's state before
and after it, computed from the events on demand (derived data is not stored twice)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from uuid import UUID

import jsonpatch

from service.application import SNAPSHOT_INTERVAL, ContractLedger
from service.representation import present

UNDIFFED = ("version", "updated_at")
"""Fields every event changes; the audit entry states them itself."""


def changes(ledger: ContractLedger, contract_id: UUID,
            versions: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """The JSON Patch of each of a contract's versions (the change its event made)."""
    patches: dict[int, list[dict[str, Any]]] = {}
    for run in _runs(sorted(set(versions))):
        contract: Any = ledger.load_contract(contract_id, run[0] - 1) if run[0] > 1 else None
        wanted = set(run)
        events: Iterable[Any] = ledger.events.get(contract_id, gt=run[0] - 1, lte=run[-1])
        for event in events:
            if event.originator_version not in wanted:  # walked past: nothing to show
                contract = event.mutate(contract)
                continue
            # Both sides judged as of the day the event was recorded, so that overdue
            # flags changed by the passing of time do not show as the event's doing.
            day = event.timestamp.date()
            before = _state(contract, day)
            contract = event.mutate(contract)
            patches[event.originator_version] = jsonpatch.make_patch(
                before, _state(contract, day)).patch
    return patches


def _runs(versions: list[int]) -> list[list[int]]:
    # Versions close together are walked in one pass from one load; far apart ones are
    # loaded each (from the nearest snapshot), not walked between.
    runs: list[list[int]] = []
    for version in versions:
        if runs and version - runs[-1][-1] <= SNAPSHOT_INTERVAL:
            runs[-1].append(version)
        else:
            runs.append([version])
    return runs


def _state(contract: Any, day: date) -> dict[str, Any]:
    if contract is None:
        return {}
    return {k: v for k, v in present(contract, day).items() if k not in UNDIFFED}
