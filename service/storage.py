"""The event store's recorders, extended with the ledger's operational tables.

API keys and idempotency keys live in the same database as the events, and an
idempotency key is completed in the same transaction that appends the command's
events: a retried request can never record twice, and a recorded command can never
lose its key.

On PostgreSQL, appending takes an EXCLUSIVE lock on the events table (so that
notification ids are committed in the order they are issued, as the eventsourcing
library requires). The library holds that lock across several round trips and until
Python sends COMMIT; under load the group committer thread waits for the GIL meanwhile,
and every other append waits for it. Here an append is one call of a database function,
`<schema>.ledger_append`, made in autocommit mode: the server takes the lock, writes,
and commits without waiting for the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg.errors
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

API_KEYS = "ledger_api_keys"
IDEMPOTENCY_KEYS = "ledger_idempotency_keys"
APPEND_FUNCTION = "ledger_append"


@dataclass(frozen=True)
class IdempotencyCompletion:
    """What a request under an idempotency key produced: enough to answer a retry."""

    principal_id: str
    idempotency_key: str
    claimed_at: float  # the claim this request holds: completing needs it still to hold
    contract_id: UUID
    contract_version: int
    status_code: int


# Columns added to the API key table after its first release: `ledger migrate` adds them
# to a table created before (instants are ISO 8601 text in UTC, like created_at).
API_KEY_COLUMNS_ADDED = ("expires_at", "revoked_at", "last_used_at")


def _create_statements(text_type: str, float_type: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {{{API_KEYS}}} ("
        "key_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, role TEXT NOT NULL, "
        f"vendor_id TEXT, label TEXT, created_at {text_type} NOT NULL, "
        + ", ".join(f"{column} {text_type}" for column in API_KEY_COLUMNS_ADDED) + ")",
        f"CREATE TABLE IF NOT EXISTS {{{IDEMPOTENCY_KEYS}}} ("
        "principal_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, "
        f"fingerprint TEXT NOT NULL, claimed_at {float_type} NOT NULL, "
        "contract_id TEXT, contract_version INTEGER, status_code INTEGER, "
        "PRIMARY KEY (principal_id, idempotency_key))",
    ]


class LedgerTables:
    """Queries on the operational tables, written once for both databases."""

    def _execute(self, sql: str, params: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
        raise NotImplementedError

    def _read(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def add_api_key(
        self,
        key_id: str,
        token_sha256: str,
        role: str,
        vendor_id: str | None,
        label: str | None,
        created_at: str,
        expires_at: str | None = None,
    ) -> None:
        """Store a new API key (its token's hash only)."""
        self._execute(
            f"INSERT INTO {{{API_KEYS}}} "
            "(key_id, token_sha256, role, vendor_id, label, created_at, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (key_id, token_sha256, role, vendor_id, label, created_at, expires_at),
        )

    def count_api_keys(self) -> int:
        """Return how many API keys exist."""
        rows = self._read(f"SELECT COUNT(*) AS n FROM {{{API_KEYS}}}", ())
        return int(rows[0]["n"])

    def find_api_key(self, token_sha256: str) -> dict[str, Any] | None:
        """Return the API key whose token hashes to token_sha256, if any."""
        rows = self._read(
            f"SELECT key_id, role, vendor_id, expires_at, revoked_at FROM {{{API_KEYS}}} "
            "WHERE token_sha256 = %s",
            (token_sha256,),
        )
        return rows[0] if rows else None

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Return every API key (never a token or its hash), oldest first."""
        return self._read(
            "SELECT key_id, role, vendor_id, label, created_at, expires_at, revoked_at, "
            f"last_used_at FROM {{{API_KEYS}}} ORDER BY created_at, key_id",
            (),
        )

    def revoke_api_key(self, key_id: str, revoked_at: str) -> tuple[dict[str, Any] | None, bool]:
        """Mark a key revoked (once: the row and the first revocation are kept); return
        the key's row (None when there is no such key) and whether this call revoked it."""
        _, changed = self._execute(
            f"UPDATE {{{API_KEYS}}} SET revoked_at = %s "
            "WHERE key_id = %s AND revoked_at IS NULL",
            (revoked_at, key_id),
        )
        rows = self._read(
            f"SELECT key_id, role, vendor_id, label, revoked_at FROM {{{API_KEYS}}} "
            "WHERE key_id = %s",
            (key_id,),
        )
        return (rows[0] if rows else None), changed == 1

    def revocation_count(self) -> int:
        """Return how many keys have been revoked: it only grows, so a worker that sees it
        change knows to forget the keys it has cached."""
        rows = self._read(f"SELECT COUNT(revoked_at) AS n FROM {{{API_KEYS}}}", ())
        return int(rows[0]["n"])

    def record_api_key_use(self, key_id: str, used_at: str) -> None:
        """Note when a key was last used (callers do so at most once a minute per key)."""
        self._execute(
            f"UPDATE {{{API_KEYS}}} SET last_used_at = %s WHERE key_id = %s",
            (used_at, key_id),
        )

    def claim_idempotency_key(
        self, principal_id: str, key: str, fingerprint: str, now: float, lease_seconds: float
    ) -> dict[str, Any] | None:
        """Claim key for a request in flight; None when claimed, else the existing row."""
        _, inserted = self._execute(
            f"INSERT INTO {{{IDEMPOTENCY_KEYS}}} "
            "(principal_id, idempotency_key, fingerprint, claimed_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (principal_id, key, fingerprint, now),
        )
        if inserted == 1:
            return None
        rows, _ = self._execute(
            f"SELECT * FROM {{{IDEMPOTENCY_KEYS}}} "
            "WHERE principal_id = %s AND idempotency_key = %s",
            (principal_id, key),
        )
        if not rows:  # released between our insert and select: try once more
            return self.claim_idempotency_key(principal_id, key, fingerprint, now, lease_seconds)
        row = rows[0]
        if row["status_code"] is None and row["claimed_at"] < now - lease_seconds:
            # The worker that claimed it died mid-request; nothing was recorded under it.
            _, taken = self._execute(
                f"UPDATE {{{IDEMPOTENCY_KEYS}}} SET claimed_at = %s, fingerprint = %s "
                "WHERE principal_id = %s AND idempotency_key = %s AND claimed_at = %s "
                "AND status_code IS NULL",
                (now, fingerprint, principal_id, key, row["claimed_at"]),
            )
            if taken == 1:
                return None
        return row

    def release_idempotency_key(self, principal_id: str, key: str, claimed_at: float) -> None:
        """Give up our claim on a key after recording nothing, so it may be retried."""
        self._execute(
            f"DELETE FROM {{{IDEMPOTENCY_KEYS}}} WHERE principal_id = %s "
            "AND idempotency_key = %s AND claimed_at = %s AND status_code IS NULL",
            (principal_id, key, claimed_at),
        )

    def holds_claim(self, principal_id: str, key: str, claimed_at: float) -> bool:
        """Tell whether our claim on a key still stands (its lease was not taken over)."""
        rows, _ = self._execute(
            f"SELECT 1 AS held FROM {{{IDEMPOTENCY_KEYS}}} WHERE principal_id = %s "
            "AND idempotency_key = %s AND claimed_at = %s AND status_code IS NULL",
            (principal_id, key, claimed_at),
        )
        return bool(rows)

    @staticmethod
    def _completion_statement() -> str:
        # Only the claim this request took: if its lease expired and another request
        # took the key over, completing fails and the whole append is rolled back.
        return (
            f"UPDATE {{{IDEMPOTENCY_KEYS}}} SET contract_id = %s, contract_version = %s, "
            "status_code = %s WHERE principal_id = %s AND idempotency_key = %s "
            "AND claimed_at = %s AND status_code IS NULL"
        )

    @staticmethod
    def _completion_params(c: IdempotencyCompletion) -> tuple[Any, ...]:
        return (str(c.contract_id), c.contract_version, c.status_code, c.principal_id,
                c.idempotency_key, c.claimed_at)


class LedgerSQLiteRecorder(LedgerTables, SQLiteApplicationRecorder):
    """SQLite: the embedded default."""

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + [
            self._sql(s) for s in _create_statements("TEXT", "REAL")
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        # SQLite has no ADD COLUMN IF NOT EXISTS: add what a table from before lacks.
        c.execute(f"PRAGMA table_info({API_KEYS})")
        present = {row["name"] for row in c.fetchall()}
        for column in API_KEY_COLUMNS_ADDED:
            if column not in present:
                c.execute(f"ALTER TABLE {API_KEYS} ADD COLUMN {column} TEXT")

    def _sql(self, sql: str) -> str:
        return sql.format(**{API_KEYS: API_KEYS, IDEMPOTENCY_KEYS: IDEMPOTENCY_KEYS}).replace(
            "%s", "?"
        )

    def _execute(self, sql: str, params: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(sql), params)
            rows = [dict(r) for r in c.fetchall()]
            return rows, c.sqlite_cursor.rowcount

    def _read(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        # A reader's transaction: it never waits for the writer (the group committer).
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(sql), params)
            return [dict(r) for r in c.fetchall()]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        for completion in kwargs.get("idempotency", ()):
            c.execute(self._sql(self._completion_statement()),
                      self._completion_params(completion))
            if c.sqlite_cursor.rowcount != 1:
                raise IntegrityError(f"idempotency key {completion.idempotency_key!r} is no "
                                     "longer claimed by this request")
        return super()._insert_events(c, stored_events, **kwargs)

    def notification_id_of(self, originator_id: UUID, version: int) -> int | None:
        """Return the global position of one stored event."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid FROM {self.events_table_name} "
                "WHERE originator_id = ? AND originator_version = ?",
                (originator_id.hex, version),
            )
            row = c.fetchone()
            return int(row[0]) if row else None


class LedgerPostgresRecorder(LedgerTables, PostgresApplicationRecorder):
    """PostgreSQL: production."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.extend(
            self._sql(s) for s in _create_statements("TEXT", "DOUBLE PRECISION")
        )
        self.sql_create_statements.extend(
            self._sql(f"ALTER TABLE {{{API_KEYS}}} ADD COLUMN IF NOT EXISTS {column} TEXT")
            for column in API_KEY_COLUMNS_ADDED
        )
        self.sql_create_statements.append(self._create_append_function_statement())
        # Arrays go in binary (%b): several times cheaper to dump than text, and the
        # dumping is done by the committer thread, which competes for the GIL.
        self.append_statement = SQL(
            "SELECT n FROM {function}(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[], "
            "%b::text[], %b::text[], %b::text[], %b::integer[], %b::integer[], "
            "%b::double precision[], %s) AS n"
        ).format(
            function=Identifier(self.datastore.schema, APPEND_FUNCTION),
            id_type=Identifier(self.datastore.originator_id_type),
        )

    def _create_append_function_statement(self) -> Composed:
        # Arguments are arrays, one element per event and per idempotency completion.
        # The completions are written first (they only take row locks), then the table
        # lock is taken and the events inserted, in the same order as the library does.
        # Ids are issued in input order (the ORDER BY runs before the column default
        # calls nextval) and returned sorted, so they come back in input order.
        # lock_timeout is an argument, so the function never needs recreating when the
        # setting changes.
        return SQL(
            "CREATE OR REPLACE FUNCTION {function}("
            "p_originator_ids {id_type}[], p_originator_versions bigint[], "
            "p_topics text[], p_states bytea[], "
            "p_principal_ids text[], p_idempotency_keys text[], p_contract_ids text[], "
            "p_contract_versions integer[], p_status_codes integer[], "
            "p_claimed_ats double precision[], p_lock_timeout text) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $ledger_append$\n"
            "DECLARE completed integer;\n"
            "BEGIN\n"
            "  PERFORM set_config('lock_timeout', p_lock_timeout, true);\n"
            "  IF cardinality(p_principal_ids) > 0 THEN\n"
            "    UPDATE {idempotency} AS k SET contract_id = c.contract_id,\n"
            "      contract_version = c.contract_version, status_code = c.status_code\n"
            "    FROM unnest(p_principal_ids, p_idempotency_keys, p_contract_ids,\n"
            "                p_contract_versions, p_status_codes, p_claimed_ats)\n"
            "      AS c(principal_id, idempotency_key, contract_id, contract_version,\n"
            "           status_code, claimed_at)\n"
            "    WHERE k.principal_id = c.principal_id\n"
            "      AND k.idempotency_key = c.idempotency_key\n"
            "      AND k.claimed_at = c.claimed_at AND k.status_code IS NULL;\n"
            "    GET DIAGNOSTICS completed = ROW_COUNT;\n"
            "    IF completed <> cardinality(p_principal_ids) THEN\n"
            "      RAISE unique_violation USING MESSAGE =\n"
            "        'an idempotency key is no longer claimed by this request';\n"
            "    END IF;\n"
            "  END IF;\n"
            "  IF cardinality(p_originator_ids) > 0 THEN\n"
            "    LOCK TABLE {events} IN EXCLUSIVE MODE;\n"
            "    NOTIFY {channel};\n"
            "    RETURN QUERY\n"
            "    WITH inserted AS (\n"
            "      INSERT INTO {events} (originator_id, originator_version, topic, state)\n"
            "      SELECT e.originator_id, e.originator_version, e.topic, e.state\n"
            "      FROM unnest(p_originator_ids, p_originator_versions, p_topics, p_states)\n"
            "        WITH ORDINALITY AS e(originator_id, originator_version, topic, state, i)\n"
            "      ORDER BY e.i\n"
            "      RETURNING notification_id)\n"
            "    SELECT inserted.notification_id FROM inserted\n"
            "    ORDER BY inserted.notification_id;\n"
            "  END IF;\n"
            "END\n"
            "$ledger_append$"
        ).format(
            function=Identifier(self.datastore.schema, APPEND_FUNCTION),
            id_type=Identifier(self.datastore.originator_id_type),
            idempotency=Identifier(self.datastore.schema, IDEMPOTENCY_KEYS),
            events=Identifier(self.datastore.schema, self.events_table_name),
            channel=Identifier(self.channel_name),
        )

    def create_table(self) -> None:
        # The library creates its composite type first, so the schema must exist before.
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(
                Identifier(self.datastore.schema)))
        super().create_table()

    def _sql(self, sql: str) -> Any:
        return SQL(sql).format(  # type: ignore[arg-type]  # our own constant SQL
            **{
                API_KEYS: Identifier(self.datastore.schema, API_KEYS),
                IDEMPOTENCY_KEYS: Identifier(self.datastore.schema, IDEMPOTENCY_KEYS),
            }
        )

    def _execute(self, sql: str, params: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql(sql), params)
            rows = curs.fetchall() if curs.description else []
            return [dict(r) for r in rows], curs.rowcount

    def _read(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._sql(sql), params)
            return [dict(r) for r in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append events and complete idempotency keys in one transaction, one round trip.

        Raises IntegrityError (and writes nothing) when an event's version exists already.
        """
        completions: Sequence[IdempotencyCompletion] = kwargs.get("idempotency", ())
        if not stored_events and not completions:
            return []
        params = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            [c.principal_id for c in completions],
            [c.idempotency_key for c in completions],
            [str(c.contract_id) for c in completions],
            [c.contract_version for c in completions],
            [c.status_code for c in completions],
            [c.claimed_at for c in completions],
            f"{self.datastore.lock_timeout}s",
        )
        # The pool's connections are in autocommit mode (the library sets it when it
        # connects, and relies on it when it appends): the one statement is a transaction
        # of its own, which the server commits as soon as the function returns, without
        # waiting for the client. Errors are translated by get_connection() to the
        # library's exceptions, as for its own statements (and retried as it does).
        with self.datastore.get_connection() as conn:
            if not conn.autocommit:  # the statement's transaction would never commit
                raise ProgrammingError("the connection pool must be in autocommit mode")
            with conn.cursor(row_factory=tuple_row) as curs:
                try:
                    curs.execute(self.append_statement, params, prepare=True)
                except psycopg.errors.UndefinedFunction as error:
                    raise ProgrammingError(
                        f"{error} (the database needs `ledger migrate`)"
                    ) from error
                notification_ids = [row[0] for row in curs.fetchall()]
        if len(notification_ids) != len(stored_events):
            raise ProgrammingError(
                f"Couldn't get all notification IDs (got {len(notification_ids)}, "
                f"expected {len(stored_events)})"
            )
        return notification_ids

    def notification_id_of(self, originator_id: UUID, version: int) -> int | None:
        """Return the global position of one stored event."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT notification_id FROM {0} "
                    "WHERE originator_id = %s AND originator_version = %s"
                ).format(Identifier(self.datastore.schema, self.events_table_name)),
                (originator_id, version),
            )
            row = curs.fetchone()
            return int(row["notification_id"]) if row else None
