"""One transaction on one generation of a view: its tables, its tracking position, and
rows read and written in batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import (
    Tracking,
)

from projections.database import Cursor

if TYPE_CHECKING:
    from projections.base import View

VIEWS_TABLE = "ledger_views"
TRACKING_TABLE = "ledger_view_tracking"


class PositionMoved(Exception):
    """The view's position changed under a batch (a rebuild swapped it, or another runner
    processed the events first): the batch is dropped and read again."""


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

