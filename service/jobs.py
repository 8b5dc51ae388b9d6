"""Batch jobs over every contract: `ledger evaluate` fires time-based exit triggers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from eventsourcing.persistence import IntegrityError

from domain.values import Provenance
from service.committer import GroupCommitter
from service.queries import Queries


class Jobs(Queries):
    committer: GroupCommitter

    def evaluate_time_triggers(self, as_of: date, provenance: Provenance,
                               on_contract: Callable[[], None] | None = None) -> int:
        """Fire the time-based exit triggers of every contract (safe to repeat); return
        how many triggers fired."""
        fired = 0
        for contract_id in self.contract_ids():
            for _ in range(5):  # a concurrent write moved the contract on: load it again
                contract = self._load(contract_id)
                contract.evaluate_time_triggers(as_of, provenance)
                events = contract.collect_events()
                if not events:
                    break
                try:
                    self.committer.commit(events)
                except IntegrityError:
                    continue
                fired += len(events)
                break
            if on_contract is not None:
                on_contract()
        return fired
