"""The two databases a view lives in, SQLite and PostgreSQL, behind the little a view
needs of them: a transaction with a cursor, qualified table names, row locks."""

from __future__ import annotations

import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg.errors
from eventsourcing.persistence import (
    ProgrammingError,
)


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

