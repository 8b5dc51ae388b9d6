"""What every read model shares.

A view's rows live in the event store's database, next to a tracking row that holds
the last position (notification id) the view has processed. Both are written in one
transaction, so a view processes every event exactly once, resumes where it stopped,
and never needs the event positions to be contiguous.

Each view has generations: its tables are named `view_<name>_<table>_g<N>` and the
`ledger_views` table names the generation readers use. Rebuilding fills a fresh
generation from position zero while the live one keeps serving, and switches readers
over, in one transaction, once the new one has caught up with the live one: readers
never see an empty or half-built view, nor a position going back.

SQL is written once, with `%s` placeholders and `{table}` names, for SQLite and
PostgreSQL alike; `Database` adapts it to each.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import singledispatchmethod
from threading import Event
from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.persistence import (
    ProgrammingError,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from projections.database import Cursor, Database
from projections.session import (
    TRACKING_TABLE,
    VIEWS_TABLE,
    PositionMoved,
    Rows,
    Session,
    Table,
)


class ViewNotReady(Exception):
    """The view has not processed the requested position within the wait."""

    def __init__(self, requested: int, position: int):
        self.requested = requested
        self.position = position
        super().__init__(f"the view is at position {position}, not yet at {requested}")


class View(TrackingRecorder):
    """A read model's tables and tracking position (an eventsourcing TrackingRecorder)."""

    name: ClassVar[str]
    tables: ClassVar[dict[str, Table]]
    indexes: ClassVar[dict[str, str]] = {}
    """Index suffix -> "<table>(<columns>)"."""

    read_retry_delay: ClassVar[float] = 0.01

    def __init__(self, db: Database):
        self.db = db

    # -- names and schema --------------------------------------------------------------

    def physical_name(self, table: str, generation: int) -> str:
        return f"view_{self.name}_{table}_g{generation}"

    def _create_indexes(self, cursor: Cursor, generation: int) -> None:
        for suffix, target in self.indexes.items():
            table, columns = target.split("(", 1)
            physical = self.physical_name(table.strip(), generation)
            cursor.execute(f'CREATE INDEX IF NOT EXISTS "ix_{physical}_{suffix}" ON '
                           f"{self.db.qualify(physical)} ({columns}")

    def create_indexes(self, generation: int) -> None:
        """Create a generation's secondary indexes (idempotent): a rebuild fills its
        tables first, then builds each index once from them, rather than growing it by
        one entry per row written."""
        with self.db.transaction(write=True) as cursor:
            self._create_indexes(cursor, generation)

    def _create_generation(self, cursor: Cursor, generation: int,
                           indexes: bool = True) -> None:
        for table, definition in self.tables.items():
            name = self.db.qualify(self.physical_name(table, generation))
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {name} ({definition.ddl()})")
        if indexes:
            self._create_indexes(cursor, generation)
        cursor.execute(
            f"INSERT INTO {self.db.qualify(TRACKING_TABLE)} "
            "(view, generation, application_name, notification_id) VALUES (%s, %s, %s, 0) "
            "ON CONFLICT (view, generation) DO NOTHING", (self.name, generation, ""))

    def _drop_generation(self, cursor: Cursor, generation: int) -> None:
        for table in self.tables:
            cursor.execute(
                f"DROP TABLE IF EXISTS {self.db.qualify(self.physical_name(table, generation))}")
        cursor.execute(f"DELETE FROM {self.db.qualify(TRACKING_TABLE)} "
                       "WHERE view = %s AND generation = %s", (self.name, generation))

    def create_table(self) -> None:
        """Create the view's first generation if it has none (idempotent)."""
        with self.db.transaction(write=True) as cursor:
            create_registry(cursor, self.db)
            cursor.execute(f"SELECT generation FROM {self.db.qualify(VIEWS_TABLE)} "
                           "WHERE view = %s", (self.name,))
            if cursor.fetchone() is None:
                self._create_generation(cursor, 1)
                cursor.execute(f"INSERT INTO {self.db.qualify(VIEWS_TABLE)} (view, generation)"
                               " VALUES (%s, %s)", (self.name, 1))

    def new_generation(self) -> int:
        """Create empty tables for a rebuild, without their secondary indexes (see
        create_indexes); drop those a crashed rebuild left behind (one rebuild of a view
        at a time)."""
        self.drop_stale_generations()
        with self.db.transaction(write=True) as cursor:
            cursor.execute(f"SELECT MAX(generation) AS g FROM {self.db.qualify(TRACKING_TABLE)}"
                           " WHERE view = %s", (self.name,))
            row = cursor.fetchone()
            generation = max(int(row["g"] or 0) if row else 0,
                             self._active_generation(cursor)) + 1
            self._create_generation(cursor, generation, indexes=False)
        return generation

    def swap(self, generation: int, position: int) -> bool:
        """Make a rebuilt generation (at position) the one readers use, if the live one
        is not ahead of it; False (nothing done) if it is. Writers to the live generation
        wait for this transaction, so its position cannot move meanwhile."""
        with self.db.transaction(write=True) as cursor:
            active = self._active_generation(cursor, self.db.lock_clause(share=False))
            if Session(self, cursor, active).position > position:
                return False
            cursor.execute(f"UPDATE {self.db.qualify(VIEWS_TABLE)} SET generation = %s "
                           "WHERE view = %s", (generation, self.name))
            return True

    def drop_stale_generations(self) -> None:
        """Drop every generation but the active one."""
        with self.db.transaction(write=True) as cursor:
            active = self._active_generation(cursor)
            cursor.execute(f"SELECT generation FROM {self.db.qualify(TRACKING_TABLE)} "
                           "WHERE view = %s AND generation <> %s", (self.name, active))
            for row in cursor.fetchall():
                self._drop_generation(cursor, int(row["generation"]))

    # -- sessions ----------------------------------------------------------------------

    def _active_generation(self, cursor: Cursor, lock: str = "") -> int:
        cursor.execute(f"SELECT generation FROM {self.db.qualify(VIEWS_TABLE)} "
                       f"WHERE view = %s{lock}", (self.name,))
        row = cursor.fetchone()
        if row is None:
            raise ProgrammingError(f"the {self.name} view has no tables: run `ledger migrate`")
        return int(row["generation"])

    @contextmanager
    def writing(self, generation: int | None = None) -> Iterator[Session]:
        """A write transaction on a generation (default: the active one, which a rebuild
        cannot swap out until this transaction ends)."""
        with self.db.transaction(write=True) as cursor:
            active = self._active_generation(cursor, self.db.lock_clause(share=True))
            yield Session(self, cursor, generation or active)

    def read(self, query: Callable[[Session], Any]) -> Any:
        """Run a read-only query on the active generation; once more if a rebuild swapped
        the generation out between finding its name and reading it."""
        for attempt in range(2):
            try:
                with self.db.transaction(write=False) as cursor:
                    return query(Session(self, cursor, self._active_generation(cursor)))
            except Exception as error:
                if attempt or not self.db.is_missing_table(error):
                    raise
                time.sleep(self.read_retry_delay)
        raise AssertionError("unreachable")

    # -- tracking (the eventsourcing TrackingRecorder interface) -------------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.writing() as session:
            session.track(tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        return self.position()

    def position(self) -> int:
        """The last position the active generation has processed (0: none)."""
        return int(self.read(lambda session: session.position))

    def wait(self, application_name: str, notification_id: int | None, timeout: float = 1.0,
             interrupt: Event | None = None) -> None:
        # The library's wait backs off to 800 ms between polls; a client reading its own
        # write should not wait that long after the view caught up.
        self.wait_for(notification_id or 0, timeout)

    def wait_for(self, position: int, timeout: float, poll: float = 0.01) -> int:
        """Block until the view has processed position; return the position it is at.
        Raise ViewNotReady after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.position()
            if current >= position:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ViewNotReady(position, current)
            time.sleep(min(poll, remaining))
            poll = min(poll * 1.5, 0.05)


def conditions(*tests: tuple[str, str, Any]) -> tuple[list[str], list[Any]]:
    """SQL conditions `column <op> %s` and their parameters, for the tests whose value is
    given (None: no condition)."""
    given = [(column, op, value) for column, op, value in tests if value is not None]
    return [f"{column} {op} %s" for column, op, _ in given], [value for *_, value in given]


def instant(moment: datetime) -> str:
    """An instant as the views store it: fixed width UTC, so that it compares as text."""
    text = moment.isoformat(timespec="microseconds")  # several times faster than strftime
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create_registry(cursor: Cursor, db: Database) -> None:
    """The tables every view shares: active generations and tracking positions."""
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {db.qualify(VIEWS_TABLE)} "
                   "(view TEXT PRIMARY KEY, generation INTEGER NOT NULL)")
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {db.qualify(TRACKING_TABLE)} "
                   "(view TEXT NOT NULL, generation INTEGER NOT NULL, "
                   "application_name TEXT NOT NULL, notification_id BIGINT NOT NULL, "
                   "PRIMARY KEY (view, generation))")


TView = TypeVar("TView", bound=View)


def folded_topics(fold: singledispatchmethod[Any]) -> tuple[str, ...]:
    """The topics of the event classes fold has a handler for, and of their subclasses
    (a handler for a class also takes its subclasses), sorted."""
    classes: set[type] = set()
    pending = [cls for cls in fold.dispatcher.registry if cls is not object]
    while pending:
        cls = pending.pop()
        if cls not in classes:
            classes.add(cls)
            pending.extend(cls.__subclasses__())
    return tuple(sorted(get_topic(cls) for cls in classes))


class LedgerProjection(Projection[TView], Generic[TView]):
    """Folds events into a view's rows: one small `fold` handler per event type."""

    topics: tuple[str, ...] = ()
    """Topics of the events the view folds (none = every event); the others only move
    its position on. Derived from the `fold` handlers a view registers, never listed
    by hand: a hand list drifts from the handlers, and an event left off it is never
    folded."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fold = inspect.getattr_static(cls, "fold")
        if not isinstance(fold, singledispatchmethod):
            return  # one plain fold for every event
        if "topics" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: topics follow its fold handlers; "
                            "do not list them as well")
        cls.topics = folded_topics(fold)

    coalesced_topics: frozenset[str] = frozenset()
    """Topics of events whose fold sets nothing that a later event of the same originator
    does not set again (a version, a time): in a batch, such an event followed by another
    event of its originator that the view folds is skipped, not even decoded. The rows
    come out the same; a rebuild decodes far fewer events."""

    position: int = 0
    """The position of the event being folded."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        """Fold one event and record its position, in one transaction."""
        with self.view.writing() as session:
            self.process(session, [(tracking.notification_id, domain_event)], tracking)

    def process(self, session: Session, events: Sequence[tuple[int, Any]], tracking: Tracking,
                expected: int | None = None) -> None:
        """Fold a batch of (position, event) into session's generation and record tracking
        (the last position the batch covered, folded or not) in the same transaction;
        raise PositionMoved if the view was not at position expected."""
        # Lock the position first: a second writer of the same batch waits here until the
        # first commits, then finds the position moved (rather than failing on a key).
        current = session.locked_position()
        moved = current != expected if expected is not None \
            else current >= tracking.notification_id
        if moved:
            raise PositionMoved(f"{self.view.name} is at position {current} already")
        batch = self.begin(session, [event for _, event in events])
        for self.position, domain_event in events:
            self.fold(domain_event, batch)
        for rows in batch.values():
            rows.flush()
        session.track(tracking, expected)

    def begin(self, session: Session, events: Sequence[Any]) -> Mapping[str, Rows]:
        """The row sets the batch folds into (prefetch what it will need here)."""
        return {table: session.rows(table) for table in self.view.tables}

    @singledispatchmethod
    def fold(self, domain_event: Any, rows: Mapping[str, Rows]) -> None:
        """Events without a handler change nothing in this view."""
