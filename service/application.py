"""The library wiring: the ledger's Application (storage, transcodings, snapshots, the
group committer and the clock) combining the use cases, queries and batch jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from domain.contract import Contract
from domain.exceptions import ContractNotFound
from service.clock import Clock, SystemClock
from service.committer import GroupCommitter
from service.jobs import Jobs
from service.queries import replay
from service.representation import present
from service.storage import IdempotencyCompletion, LedgerTables
from service.transcodings import register_ledger_transcodings
from service.use_cases.base import (
    CommandContext,
    CommandResult,
    IdempotencyClaimLost,
    StaleVersion,
    check_scope,
)
from service.use_cases.credits import CreditUseCases
from service.use_cases.exit import ExitUseCases
from service.use_cases.governance import GovernanceUseCases
from service.use_cases.lifecycle import LifecycleUseCases
from service.use_cases.performance import PerformanceUseCases
from service.use_cases.rules import RuleUseCases
from service.use_cases.sla import SlaUseCases

__all__ = ["SNAPSHOT_INTERVAL", "CommandContext", "CommandResult", "ContractLedger",
           "IdempotencyClaimLost", "StaleVersion"]

SNAPSHOT_INTERVAL = 25
"""Contract streams are snapshotted every this many events: a cold load then replays
fewer events after its snapshot (≤ 24) than a young contract has (measured in bench/)."""


class ContractLedger(LifecycleUseCases, SlaUseCases, RuleUseCases, PerformanceUseCases,
                     CreditUseCases, GovernanceUseCases, ExitUseCases, Jobs, Application):
    """The vendor contract ledger."""

    name = "Ledger"

    def __init__(self, env: dict[str, str] | None = None, commit_batch_size: int = 64,
                 dispute_window_days: int = 30, clock: Clock | None = None):
        super().__init__(env)
        self.committer = GroupCommitter(self.save, max_batch=commit_batch_size)
        self.dispute_window_days = dispute_window_days
        self.clock = clock or SystemClock()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_ledger_transcodings(transcoder)

    @property
    def tables(self) -> LedgerTables:
        assert isinstance(self.recorder, LedgerTables)
        return self.recorder

    def close(self) -> None:
        self.committer.close()
        super().close()

    def create_tables(self) -> None:
        """Create the event store, the snapshot store and the ledger's tables."""
        self.recorder.create_table()  # type: ignore[attr-defined]
        if self.snapshots is not None:
            self.snapshots.recorder.create_table()  # type: ignore[attr-defined]

    # -- load, decide, commit: what every use case does ---------------------------------

    def _load(self, contract_id: UUID, version: int | None = None) -> Contract:
        try:
            # Reads get a copy too: other threads bring the cached object up to date in
            # place (the copy is cheap, see Contract.__deepcopy__).
            contract: Any = self.repository.get(contract_id, version=version,
                                                projector_func=replay)
        except AggregateNotFoundError:
            raise ContractNotFound(f"no contract {contract_id}") from None
        assert isinstance(contract, Contract)
        return contract

    def _execute(self, contract_id: UUID, expected_version: int, ctx: CommandContext,
                 act: Callable[[Contract], None]) -> CommandResult:
        contract = self._load(contract_id)
        check_scope(contract, ctx.vendor_scope)
        if contract.version != expected_version:
            raise StaleVersion(expected_version, contract.version)
        act(contract)
        try:
            return self._commit(contract, ctx)
        except IntegrityError:
            # Another command committed this version first.
            raise StaleVersion(expected_version, None) from None

    def _commit(self, contract: Contract, ctx: CommandContext) -> CommandResult:
        events = contract.collect_events()
        completions = []
        if ctx.idempotency_key is not None:
            completions.append(IdempotencyCompletion(
                ctx.principal_id, ctx.idempotency_key, ctx.claimed_at, contract.id,
                contract.version, ctx.status_code))
        try:
            recordings = self.committer.commit(events, completions)
        except IntegrityError:
            if ctx.idempotency_key is not None and not self.tables.holds_claim(
                    ctx.principal_id, ctx.idempotency_key, ctx.claimed_at):
                raise IdempotencyClaimLost(
                    "this request outlived its claim on the Idempotency-Key and another "
                    "request with the key took over; nothing was recorded") from None
            raise
        self._snapshot_if_due(contract, len(events))
        return CommandResult(
            contract=present(contract, self.clock.today()),
            version=contract.version,
            position=max(r.notification.id for r in recordings),
        )

    def _snapshot_if_due(self, contract: Contract, new_events: int) -> None:
        # Saving events (not aggregates) bypasses the library's automatic snapshots,
        # so take one whenever a command crosses a multiple of the interval.
        if self.snapshots is None:
            return
        if contract.version // SNAPSHOT_INTERVAL > (contract.version - new_events) // \
                SNAPSHOT_INTERVAL:
            self.snapshots.put([Snapshot.take(contract)])
