"""The projection runner (`ledger project`) and view rebuilds (`ledger rebuild`).

The runner follows the ledger's notification log and folds new events into every view,
a batch at a time: each view's rows and its new position commit in one transaction,
guarded by a compare-and-set on the position it started from, so that a batch is
applied exactly once even if two runners race or a rebuild swaps the view meanwhile.
It waits for new events by LISTEN/NOTIFY on PostgreSQL and by polling on SQLite.

Only one runner is active per database: the others stand by (a PostgreSQL advisory
lock, or a lock file beside the SQLite database) and take over when it dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import Notification, Tracking
from psycopg.sql import SQL, Identifier

from projections.audit import AuditProjection, AuditView
from projections.base import LedgerProjection, View
from projections.contracts import ContractsProjection, ContractsView
from projections.database import Database, PostgresDatabase, SQLiteDatabase
from projections.scorecard import ScorecardProjection, ScorecardView
from projections.session import TRACKING_TABLE, VIEWS_TABLE, PositionMoved
from service.application import ContractLedger
from service.storage import LedgerPostgresRecorder

log = logging.getLogger("ledger.runner")

VIEWS: dict[str, tuple[type[View], type[LedgerProjection[Any]]]] = {
    "contracts": (ContractsView, ContractsProjection),
    "scorecard": (ScorecardView, ScorecardProjection),
    "audit": (AuditView, AuditProjection),
}
"""Every view by name: its tables and the projection that folds events into them."""


def database_of(ledger: ContractLedger) -> Database:
    """The views' connection: the event store's own database and pool."""
    datastore: Any = ledger.recorder.datastore  # type: ignore[attr-defined]
    if isinstance(ledger.recorder, LedgerPostgresRecorder):
        return PostgresDatabase(datastore)
    return SQLiteDatabase(datastore)


def build_views(ledger: ContractLedger) -> dict[str, View]:
    """One object per view, sharing the ledger's connection pool."""
    db = database_of(ledger)
    return {name: view_class(db) for name, (view_class, _) in VIEWS.items()}


def create_view_tables(ledger: ContractLedger) -> None:
    """Create every view's first generation where it has none (idempotent)."""
    for view in build_views(ledger).values():
        view.create_table()


def build_projections(views: dict[str, View]) -> list[LedgerProjection[Any]]:
    return [VIEWS[name][1](view) for name, view in views.items()]


class Catcher:
    """Reads the notification log and folds it into projections, a batch at a time."""

    def __init__(self, ledger: ContractLedger, batch_size: int = 1000):
        self.ledger = ledger
        self.batch_size = batch_size

    def select(self, after: int) -> Sequence[Notification]:
        # Positions are notification ids: gaps are skipped, never waited for.
        return self.ledger.recorder.select_notifications(start=after + 1,
                                                         limit=self.batch_size)

    def decode(self, notifications: Sequence[Notification],
               projection: LedgerProjection[Any], cache: dict[int, Any]) -> list[tuple[int, Any]]:
        """The domain events of notifications the projection folds (decoded once for all
        projections that share the batch)."""
        topics = projection.topics
        coalesced = projection.coalesced_topics
        superseded: set[int] = set()
        if coalesced:  # the events a later event of their originator makes moot
            later: set[Any] = set()
            for notification in reversed(notifications):
                if topics and notification.topic not in topics:
                    continue
                if notification.topic in coalesced and notification.originator_id in later:
                    superseded.add(notification.id)
                later.add(notification.originator_id)
        events = []
        for notification in notifications:
            if (topics and notification.topic not in topics) or notification.id in superseded:
                continue
            event = cache.get(notification.id)
            if event is None:
                event = cache[notification.id] = self.ledger.mapper.to_domain_event(notification)
            events.append((notification.id, event))
        return events

    def apply(self, projection: LedgerProjection[Any], notifications: Sequence[Notification],
              expected: int, cache: dict[int, Any], generation: int | None = None) -> int:
        """Fold notifications (all after position expected) into the projection's view in
        one transaction; return its new position."""
        events = self.decode(notifications, projection, cache)
        tracking = Tracking(self.ledger.name, notifications[-1].id)
        with projection.view.writing(generation) as session:
            self.prepare(session)
            projection.process(session, events, tracking, expected=expected)
        return tracking.notification_id

    def prepare(self, session: Any) -> None:
        """Set up a batch's transaction (nothing to do for the live views)."""


def _positions(projections: Sequence[LedgerProjection[Any]]) -> dict[str, int]:
    """Each projection's view position (its active generation's), as View.position()
    gives it, but in one query when the views share a database (the runner asks before
    every batch)."""
    db = projections[0].view.db if projections else None
    if db is None or any(p.view.db is not db for p in projections):
        return {p.name: p.view.position() for p in projections}
    names = sorted({p.view.name for p in projections})
    with db.transaction(write=False) as cursor:
        cursor.execute(
            f"SELECT t.view, t.notification_id FROM {db.qualify(TRACKING_TABLE)} t "
            f"JOIN {db.qualify(VIEWS_TABLE)} v ON v.view = t.view "
            f"AND v.generation = t.generation WHERE t.view IN ({', '.join(['%s'] * len(names))})",
            names)
        found = {row["view"]: int(row["notification_id"]) for row in cursor.fetchall()}
    # A view without a position here has no tables (or no tracking row): ask it, so that
    # it says so as it always does.
    return {p.name: found[p.view.name] if p.view.name in found else p.view.position()
            for p in projections}


class ProjectionRunner:
    """Keeps every view up to date with the ledger."""

    def __init__(self, ledger: ContractLedger, projections: Sequence[LedgerProjection[Any]],
                 *, batch_size: int = 1000, poll_interval: float = 0.05):
        self.ledger = ledger
        self.projections = list(projections)
        self.catcher = Catcher(ledger, batch_size)
        self.poll_interval = poll_interval
        self.stopping = threading.Event()

    def run_once(self) -> int:
        """Fold the next batch of events into every view behind; return how many
        notifications the batch had (0: every view is at the head)."""
        positions = _positions(self.projections)
        notifications = self.catcher.select(min(positions.values()))
        if not notifications:
            return 0
        cache: dict[int, Any] = {}
        for projection in self.projections:
            start = positions[projection.name]
            mine = [n for n in notifications if n.id > start]
            if not mine:
                continue
            try:
                self.catcher.apply(projection, mine, start, cache)
            except PositionMoved:
                log.info("%s moved on under this batch; reading it again", projection.name)
        return len(notifications)

    def catch_up(self) -> int:
        """Run until every view is at the head of the ledger; return notifications read."""
        total = 0
        while count := self.run_once():
            total += count
        return total

    def run_forever(self, follower: Follower) -> None:
        """Follow the ledger until stop() (only while this runner holds the lead)."""
        with follower:
            while not self.stopping.is_set():
                if not follower.lead():
                    self.stopping.wait(1.0)
                    continue
                if self.run_once() == 0:
                    follower.wait(self.poll_interval, self.stopping)

    def start(self, follower: Follower) -> threading.Thread:
        """Run in a background thread (tests; a process that embeds the runner)."""
        thread = threading.Thread(target=self.run_forever, args=(follower,),
                                  name="projection-runner", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()


class Follower:
    """Waits for new events and decides which runner leads."""

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lead(self) -> bool:
        return True

    def wait(self, timeout: float, stopping: threading.Event) -> None:
        stopping.wait(timeout)

    def close(self) -> None:
        pass


class SQLiteFollower(Follower):
    """Polls; leads while it holds a lock file beside the database."""

    def __init__(self, db_path: str):
        self.lock_path = None if db_path == ":memory:" else Path(f"{db_path}.runner.lock")
        self._fd: int | None = None

    def lead(self) -> bool:
        if self.lock_path is None or self._fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None


class PostgresFollower(Follower):
    """LISTENs for the append function's NOTIFY; leads while it holds an advisory lock
    named after the schema (a dead runner's lock goes with its connection)."""

    def __init__(self, ledger: ContractLedger):
        recorder: Any = ledger.recorder
        datastore = recorder.datastore
        self.connection = psycopg.connect(**{k: v for k, v in datastore.pool.kwargs.items()
                                             if k != "row_factory"}, autocommit=True)
        self.connection.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))
        self.lock_key = zlib.crc32(f"ledger-runner:{datastore.schema}".encode())
        self.leading = False

    def lead(self) -> bool:
        if not self.leading:
            row = self.connection.execute("SELECT pg_try_advisory_lock(%s)",
                                          (self.lock_key,)).fetchone()
            self.leading = bool(row and row[0])
        return self.leading

    def wait(self, timeout: float, stopping: threading.Event) -> None:
        # Wake on the first NOTIFY; poll once a second anyway in case one was missed.
        for _ in self.connection.notifies(timeout=max(timeout, 1.0), stop_after=1):
            break

    def close(self) -> None:
        self.connection.close()


def follower_for(ledger: ContractLedger) -> Follower:
    if isinstance(database_of(ledger), PostgresDatabase):
        return PostgresFollower(ledger)
    return SQLiteFollower(ledger.recorder.datastore.pool.db_name)  # type: ignore[attr-defined]


def rebuild(ledger: ContractLedger, *projections: LedgerProjection[Any],
            batch_size: int = 2000, on_progress: Callable[[int], None] | None = None) -> int:
    """Rebuild views from position zero, each into a fresh generation while its live one
    keeps serving, in one pass over the log (each event is decoded once for all of them);
    make each the one readers use once it has caught up with its live one (so the
    position readers see never goes back). Return the number of notifications read."""
    catcher = _RebuildCatcher(ledger, batch_size)
    generations = {projection: projection.view.new_generation() for projection in projections}
    position, total = 0, 0
    while generations:
        while notifications := catcher.select(position):
            cache: dict[int, Any] = {}
            for projection, generation in generations.items():
                catcher.apply(projection, notifications, position, cache, generation)
            position = notifications[-1].id
            total += len(notifications)
            if on_progress:
                on_progress(len(notifications))
        for projection, generation in list(generations.items()):
            view = projection.view
            view.create_indexes(generation)
            # The live generation may have moved on meanwhile: swap only if it has not,
            # else catch up again (a rebuild folds far faster than commands arrive).
            if view.swap(generation, position):
                view.drop_stale_generations()
                del generations[projection]
                log.info("rebuilt %s to position %d (generation %d)", view.name, position,
                         generation)
    return total


class _RebuildCatcher(Catcher):
    """A rebuild's batches go to a generation no reader uses yet: on PostgreSQL they
    commit without waiting for the WAL flush (a crash loses at most the last batches,
    rows and position together, and the rebuild is started again anyway); the swap that
    makes the generation live is an ordinary, durable commit, which flushes them all."""

    def prepare(self, session: Any) -> None:
        if isinstance(session.view.db, PostgresDatabase):
            session.cursor.execute("SET LOCAL synchronous_commit TO OFF")
