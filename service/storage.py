"""The event store's recorders, extended with the ledger's operational tables.

API keys and idempotency keys live in the same database as the events, and an
idempotency key is completed in the same transaction that appends the command's
events: a retried request can never record twice, and a recorded command can never
lose its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg.sql import SQL, Identifier

API_KEYS = "ledger_api_keys"
IDEMPOTENCY_KEYS = "ledger_idempotency_keys"


@dataclass(frozen=True)
class IdempotencyCompletion:
    """What a request under an idempotency key produced: enough to answer a retry."""

    principal_id: str
    idempotency_key: str
    contract_id: UUID
    contract_version: int
    status_code: int


def _create_statements(text_type: str, float_type: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {{{API_KEYS}}} ("
        "key_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, role TEXT NOT NULL, "
        f"vendor_id TEXT, label TEXT, created_at {text_type} NOT NULL)",
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

    def add_api_key(
        self,
        key_id: str,
        token_sha256: str,
        role: str,
        vendor_id: str | None,
        label: str | None,
        created_at: str,
    ) -> None:
        """Store a new API key (its token's hash only)."""
        self._execute(
            f"INSERT INTO {{{API_KEYS}}} (key_id, token_sha256, role, vendor_id, label, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (key_id, token_sha256, role, vendor_id, label, created_at),
        )

    def count_api_keys(self) -> int:
        """Return how many API keys exist."""
        rows, _ = self._execute(f"SELECT COUNT(*) AS n FROM {{{API_KEYS}}}", ())
        return int(rows[0]["n"])

    def find_api_key(self, token_sha256: str) -> dict[str, Any] | None:
        """Return the API key whose token hashes to token_sha256, if any."""
        rows, _ = self._execute(
            f"SELECT key_id, role, vendor_id FROM {{{API_KEYS}}} WHERE token_sha256 = %s",
            (token_sha256,),
        )
        return rows[0] if rows else None

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

    def release_idempotency_key(self, principal_id: str, key: str) -> None:
        """Give up a claim whose request recorded nothing, so it may be retried."""
        self._execute(
            f"DELETE FROM {{{IDEMPOTENCY_KEYS}}} "
            "WHERE principal_id = %s AND idempotency_key = %s AND status_code IS NULL",
            (principal_id, key),
        )

    @staticmethod
    def _completion_statement() -> str:
        return (
            f"UPDATE {{{IDEMPOTENCY_KEYS}}} SET contract_id = %s, contract_version = %s, "
            "status_code = %s WHERE principal_id = %s AND idempotency_key = %s"
        )

    @staticmethod
    def _completion_params(c: IdempotencyCompletion) -> tuple[Any, ...]:
        return (str(c.contract_id), c.contract_version, c.status_code, c.principal_id,
                c.idempotency_key)


class LedgerSQLiteRecorder(LedgerTables, SQLiteApplicationRecorder):
    """SQLite: the embedded default."""

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + [
            self._sql(s) for s in _create_statements("TEXT", "REAL")
        ]

    def _sql(self, sql: str) -> str:
        return sql.format(**{API_KEYS: API_KEYS, IDEMPOTENCY_KEYS: IDEMPOTENCY_KEYS}).replace(
            "%s", "?"
        )

    def _execute(self, sql: str, params: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(sql), params)
            rows = [dict(r) for r in c.fetchall()]
            return rows, c.sqlite_cursor.rowcount

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        for completion in kwargs.get("idempotency", ()):
            c.execute(self._sql(self._completion_statement()),
                      self._completion_params(completion))
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

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        for completion in kwargs.get("idempotency", ()):
            curs.execute(self._sql(self._completion_statement()),
                         self._completion_params(completion))
        super()._insert_events(curs, stored_events, **kwargs)

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
