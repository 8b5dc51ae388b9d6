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
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import singledispatchmethod
from threading import Event
from typing import Any, ClassVar, Generic, TypeVar

import psycopg.errors
from eventsourcing.persistence import (
    ProgrammingError,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

VIEWS_TABLE = "ledger_views"
TRACKING_TABLE = "ledger_view_tracking"


class PositionMoved(Exception):
    """The view's position changed under a batch (a rebuild swapped it, or another runner
    processed the events first): the batch is dropped and read again."""


class ViewNotReady(Exception):
    """The view has not processed the requested position within the wait."""

    def __init__(self, requested: int, position: int):
        self.requested = requested
        self.position = position
        super().__init__(f"the view is at position {position}, not yet at {requested}")


class Cursor(ABC):
    """The little a view needs from a database cursor."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def fetchall(self) -> list[dict[str, Any]]: ...

    def fetchone(self) -> dict[str, Any] | None:
        rows = self.fetchall()
        return rows[0] if rows else None


class Database(ABC):
    """A connection to the event store's database for the views."""

    dialect: ClassVar[str]

    @abstractmethod
    def transaction(self, *, write: bool) -> Any:
        """A context manager yielding a Cursor inside one transaction."""

    @abstractmethod
    def qualify(self, table: str) -> str:
        """The quoted (and on PostgreSQL schema-qualified) name of a table."""

    @abstractmethod
    def is_missing_table(self, error: BaseException) -> bool:
        """Whether error says a table does not exist (it was swapped out under a read)."""

    def lock_clause(self, share: bool) -> str:
        """Row lock for SELECT: writers serialise on their view's row (PostgreSQL only;
        a SQLite writer holds the whole database)."""
        return ""


class _SQLiteCursor(Cursor):
    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(sql.replace("%s", "?"), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._cursor.executemany(sql.replace("%s", "?"), rows)

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._cursor.fetchall()]


class SQLiteDatabase(Database):
    """The embedded store: the event store's SQLite file."""

    dialect = "sqlite"

    def __init__(self, datastore: Any):
        self.datastore = datastore

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Cursor]:
        with self.datastore.get_connection(commit=write) as connection:
            raw: sqlite3.Connection = connection._sqlite_conn
            cursor = raw.cursor()
            if write:
                self._begin_immediate(cursor)
            else:
                cursor.execute("BEGIN")
            try:
                yield _SQLiteCursor(cursor)
            except BaseException:
                raw.rollback()
                raise
            else:
                if write:
                    raw.commit()
                else:
                    raw.rollback()
            finally:
                cursor.close()

    def _begin_immediate(self, cursor: sqlite3.Cursor) -> None:
        # IMMEDIATE: take the write lock up front; a deferred transaction that reads
        # first and writes later can fail when another writer went in between. SQLite's
        # own wait for the lock sleeps longer and longer (to 100 ms a time) while the
        # web workers keep taking it: ask often instead, so the views stay close behind.
        timeout = self.datastore.pool.lock_timeout or 5  # seconds, as sqlite3.connect's
        deadline = time.monotonic() + timeout
        cursor.execute("PRAGMA busy_timeout = 2")
        try:
            while True:
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.0005)
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

    def qualify(self, table: str) -> str:
        return f'"{table}"'

    def is_missing_table(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)


class _PostgresCursor(Cursor):
    def __init__(self, cursor: Any):
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._cursor.executemany(sql, list(rows))

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._cursor.fetchall()] if self._cursor.description \
            else []


class PostgresDatabase(Database):
    """Production: the event store's PostgreSQL schema."""

    dialect = "postgresql"

    def __init__(self, datastore: Any):
        self.datastore = datastore
        self.schema = datastore.schema

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Cursor]:
        with self.datastore.get_connection() as connection, \
                connection.transaction(force_rollback=not write), \
                connection.cursor() as cursor:
            if not write:
                # One snapshot for the whole read: the position it reports and the rows it
                # returns belong together.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield _PostgresCursor(cursor)

    def qualify(self, table: str) -> str:
        return f'"{self.schema}"."{table}"'

    def is_missing_table(self, error: BaseException) -> bool:
        cause = error.__cause__ if isinstance(error, ProgrammingError) else error
        return isinstance(cause, psycopg.errors.UndefinedTable)

    def lock_clause(self, share: bool) -> str:
        return " FOR SHARE" if share else " FOR UPDATE"


@dataclass(frozen=True)
class Table:
    """A view table: column definitions ("name TYPE ...") and its primary key."""

    columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.split()[0] for c in self.columns)

    def ddl(self) -> str:
        return ", ".join((*self.columns, f"PRIMARY KEY ({', '.join(self.key)})"))


class Session:
    """One transaction on one generation of a view: its tables by logical name."""

    def __init__(self, view: View, cursor: Cursor, generation: int):
        self.view = view
        self.cursor = cursor
        self.generation = generation
        self.tables = {t: view.db.qualify(view.physical_name(t, generation))
                       for t in view.tables}

    def sql(self, statement: str) -> str:
        return statement.format(**self.tables)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cursor.execute(self.sql(statement), params)
        return self.cursor.fetchall()

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        self.cursor.executemany(self.sql(statement), rows)

    @property
    def position(self) -> int:
        return self._position("")

    def locked_position(self) -> int:
        """The position, locked until the transaction ends (writers of this generation
        queue behind it on PostgreSQL; a SQLite writer holds the whole database)."""
        return self._position(self.view.db.lock_clause(share=False))

    def _position(self, lock: str) -> int:
        rows = self.execute(
            f"SELECT notification_id FROM {self.view.db.qualify(TRACKING_TABLE)} "
            f"WHERE view = %s AND generation = %s{lock}", (self.view.name, self.generation))
        return int(rows[0]["notification_id"]) if rows else 0

    def track(self, tracking: Tracking, expected: int | None = None) -> None:
        """Move the position on: from expected exactly (a compare-and-set, so that two
        writers cannot both apply a batch), or else from anywhere behind it."""
        guard = "notification_id = %s" if expected is not None else "notification_id < %s"
        moved = self.execute(
            f"UPDATE {self.view.db.qualify(TRACKING_TABLE)} SET notification_id = %s, "
            f"application_name = %s WHERE view = %s AND generation = %s AND {guard} "
            "RETURNING notification_id",
            (tracking.notification_id, tracking.application_name, self.view.name,
             self.generation, tracking.notification_id if expected is None else expected))
        if not moved:
            raise PositionMoved(f"{self.view.name} is no longer at position {expected}")

    def rows(self, table: str) -> Rows:
        return Rows(self, table)


_CONSTRAINT_WORDS = frozenset({"NOT", "NULL", "PRIMARY", "DEFAULT", "REFERENCES", "UNIQUE",
                               "CHECK", "COLLATE", "GENERATED", "CONSTRAINT"})


def _column_types(table: Table) -> tuple[str, ...]:
    """The SQL type of each column of table, from its definition ("name TYPE ...")."""
    types = []
    for column in table.columns:
        words = column.split()[1:]
        end = next((i for i, w in enumerate(words) if w.upper() in _CONSTRAINT_WORDS),
                   len(words))
        types.append(" ".join(words[:end]) or "TEXT")
    return tuple(types)


def _homogeneous(values: Sequence[Any]) -> list[Any]:
    """values as a list the driver dumps as one array: as text when they are of several
    types (a row read back holds a Decimal where a new one holds a str); the server
    casts the text to the column's type."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) > 1:
        return [None if v is None else str(v) for v in values]
    return list(values)


class Rows:
    """The rows of one table a batch touches, by primary key, written once at the end:
    a batch of a thousand events makes one upsert per changed row, not per event."""

    def __init__(self, session: Session, table: str):
        self.session = session
        self.table = table
        definition = session.view.tables[table]
        self.key, self.columns = definition.key, definition.names
        self._rows: dict[tuple[Any, ...], dict[str, Any] | None] = {}
        self._dirty: set[tuple[Any, ...]] = set()
        self._appended: list[tuple[Any, ...]] = []

    def get(self, *key: Any) -> dict[str, Any] | None:
        if key not in self._rows:
            where = " AND ".join(f"{k} = %s" for k in self.key)
            found = self.session.execute(f"SELECT * FROM {{{self.table}}} WHERE {where}", key)
            self._rows[key] = found[0] if found else None
        return self._rows[key]

    def prefetch(self, column: str, values: Iterable[Any]) -> None:
        """Load every row whose column is one of values in one query per 500 values."""
        wanted = sorted(set(values))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            placeholders = ", ".join(["%s"] * len(chunk))
            for row in self.session.execute(
                    f"SELECT * FROM {{{self.table}}} WHERE {column} IN ({placeholders})", chunk):
                self._rows.setdefault(tuple(row[k] for k in self.key), row)
        if column == self.key[0] and len(self.key) == 1:
            for value in wanted:  # known absent: no query later
                self._rows.setdefault((value,), None)

    def prefetch_keys(self, keys: Iterable[tuple[Any, ...]]) -> None:
        """Load the rows of these primary keys in one query per 500 values; keys without
        a row are known absent (no query later)."""
        wanted = sorted(set(keys) - self._rows.keys(), key=repr)
        columns = ", ".join(self.key)
        one = f"({', '.join(['%s'] * len(self.key))})"
        per_query = max(1, 500 // len(self.key))  # old SQLite takes at most 999 parameters
        for start in range(0, len(wanted), per_query):
            chunk = wanted[start:start + per_query]
            for row in self.session.execute(
                    f"SELECT * FROM {{{self.table}}} WHERE ({columns}) IN "
                    f"({', '.join([one] * len(chunk))})",
                    [value for key in chunk for value in key]):
                self._rows.setdefault(tuple(row[k] for k in self.key), row)
        for key in wanted:
            self._rows.setdefault(key, None)

    def put(self, row: dict[str, Any]) -> None:
        key = tuple(row[k] for k in self.key)
        self._rows[key] = row
        self._dirty.add(key)

    def append(self, *values: Any) -> None:
        """Add a row (its values in column order) whose key is new to the table, such as
        an audit entry's position: written at flush with neither lookup nor upsert."""
        self._appended.append(values)

    def update(self, *key: Any, **changes: Any) -> dict[str, Any] | None:
        """Change some columns of an existing row; None (nothing done) if it is missing."""
        row = self.get(*key)
        if row is None:
            return None
        row = {**row, **changes}
        self.put(row)
        return row

    def flush(self) -> None:
        if self._appended:
            self._insert(self._appended, "")
            self._appended = []
        if not self._dirty:
            return
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns if c not in self.key)
        try:  # in key order, so that concurrent writers lock rows in one order
            keys = sorted(self._dirty)
        except TypeError:  # keys that do not compare (None, mixed types)
            keys = sorted(self._dirty, key=repr)
        rows = [row for row in map(self._rows.__getitem__, keys) if row is not None]
        self._dirty.clear()
        if rows:
            self._insert([tuple(map(row.get, self.columns)) for row in rows],
                         f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates}")

    def _insert(self, values: list[tuple[Any, ...]], conflict: str) -> None:
        columns = ", ".join(self.columns)
        if self.session.view.db.dialect == "postgresql":
            # One statement for the whole batch: the rows go as one array per column,
            # which is far cheaper, for the driver and the server, than a statement per
            # row (even pipelined).
            types = _column_types(self.session.view.tables[self.table])
            arrays = ", ".join(f"%b::{t}[]" for t in types)
            self.session.execute(
                f"INSERT INTO {{{self.table}}} ({columns}) SELECT * FROM unnest({arrays}) "
                f"{conflict}", [_homogeneous(column) for column in zip(*values, strict=True)])
            return
        self.session.executemany(
            f"INSERT INTO {{{self.table}}} ({columns}) "
            f"VALUES ({', '.join(['%s'] * len(self.columns))}) {conflict}", values)


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
