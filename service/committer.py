"""Group commit: many concurrent commands' events appended in one transaction.

PostgreSQL serialises event inserts behind a table lock, so one transaction per
request caps throughput at the lock's round trip. Request threads hand their new
events here; one committer thread per process appends whatever is queued in a
single transaction. A conflict fails only the command that caused it (the batch is
retried one by one), and no caller returns before its own events are committed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError, Recording


@dataclass
class _Command:
    events: Sequence[Any]
    idempotency: Sequence[Any]
    future: Future[list[Recording[Any]]] = field(default_factory=Future)

    @property
    def stream_ids(self) -> set[Any]:
        return {e.originator_id for e in self.events}


SaveFunc = Callable[..., list[Recording[Any]]]


class GroupCommitter:
    """Commits queued commands in batches from a single thread."""

    def __init__(self, save: SaveFunc, max_batch: int = 64):
        self._save = save
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Command | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def commit(
        self, events: Sequence[Any], idempotency: Sequence[Any] = ()
    ) -> list[Recording[Any]]:
        """Append events (and complete idempotency keys) atomically; wait until committed."""
        command = _Command(list(events), list(idempotency))
        self._ensure_running()
        self._queue.put(command)
        return command.future.result()

    def close(self) -> None:
        """Stop the committer thread after the queued commands."""
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None

    def _ensure_running(self) -> None:
        # Started on first use, so that it runs in the process that serves requests
        # (gunicorn forks workers after import).
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="ledger-group-commit", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(nxt)
            self._flush(batch)

    def _flush(self, batch: list[_Command]) -> None:
        # Two commands on one contract cannot share a transaction: the later one
        # would fail the whole batch. It goes in a transaction of its own, after.
        together: list[_Command] = []
        after: list[_Command] = []
        seen: set[Any] = set()
        for command in batch:
            ids = command.stream_ids
            (after if ids & seen else together).append(command)
            seen |= ids
        self._save_batch(together)
        for command in after:
            self._save_batch([command])

    def _save_batch(self, commands: list[_Command]) -> None:
        try:
            recordings = self._save(
                *[e for c in commands for e in c.events],
                idempotency=[i for c in commands for i in c.idempotency],
            )
        except IntegrityError as error:
            if len(commands) == 1:
                commands[0].future.set_exception(error)
                return
            for command in commands:  # find the one that conflicts; commit the rest
                self._save_batch([command])
            return
        except BaseException as error:  # the callers must hear of every failure
            for command in commands:
                command.future.set_exception(error)
            return
        by_event = {(r.domain_event.originator_id, r.domain_event.originator_version): r
                    for r in recordings}
        for command in commands:
            command.future.set_result(
                [by_event[(e.originator_id, e.originator_version)] for e in command.events]
            )
