"""Configuration: only from LEDGER_* environment variables (documented in the README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///var/ledger.db"


class ConfigError(ValueError):
    """A LEDGER_* variable has a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = 1_048_576
    idempotency_lease_seconds: float = 30.0
    auth_cache_seconds: float = 10.0
    commit_batch_size: int = 64
    db_pool_size: int = 10
    aggregate_cache_size: int = 1000
    dispute_window_days: int = 30
    read_wait_seconds: float = 2.0
    projection_poll_seconds: float = 0.02
    projection_batch_size: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from LEDGER_* variables, falling back to the defaults."""
        env = os.environ if environ is None else environ

        def number(name: str, default: float, kind: type = int) -> float:
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {raw!r}") from None
            if value < 0:
                raise ConfigError(f"{name} must not be negative")
            return value

        return cls(
            database_url=env.get("LEDGER_DATABASE_URL") or DEFAULT_DATABASE_URL,
            max_body_bytes=int(number("LEDGER_MAX_BODY_BYTES", cls.max_body_bytes)),
            idempotency_lease_seconds=number(
                "LEDGER_IDEMPOTENCY_LEASE_SECONDS", cls.idempotency_lease_seconds, float
            ),
            auth_cache_seconds=number("LEDGER_AUTH_CACHE_SECONDS", cls.auth_cache_seconds, float),
            commit_batch_size=max(
                1, int(number("LEDGER_COMMIT_BATCH_SIZE", cls.commit_batch_size))
            ),
            db_pool_size=max(1, int(number("LEDGER_DB_POOL_SIZE", cls.db_pool_size))),
            aggregate_cache_size=int(
                number("LEDGER_AGGREGATE_CACHE_SIZE", cls.aggregate_cache_size)
            ),
            dispute_window_days=int(
                number("LEDGER_DISPUTE_WINDOW_DAYS", cls.dispute_window_days)
            ),
            read_wait_seconds=number("LEDGER_READ_WAIT_SECONDS", cls.read_wait_seconds, float),
            projection_poll_seconds=number(
                "LEDGER_PROJECTION_POLL_SECONDS", cls.projection_poll_seconds, float
            ),
            projection_batch_size=max(
                1, int(number("LEDGER_PROJECTION_BATCH_SIZE", cls.projection_batch_size))
            ),
        )

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def persistence_env(self) -> dict[str, str]:
        """Translate the database URL into the eventsourcing library's settings."""
        url = urlsplit(self.database_url)
        common = {
            # Web workers never create tables: `ledger migrate` does, once.
            "CREATE_TABLE": "n",
            # Long contract streams load from their latest snapshot (see application.py).
            "IS_SNAPSHOTTING_ENABLED": "y",
        }
        if self.aggregate_cache_size > 0:  # the library reads 0 as "unbounded": 0 is off
            common["AGGREGATE_CACHE_MAXSIZE"] = str(self.aggregate_cache_size)
        if url.scheme == "sqlite":
            # sqlite:///relative/path, sqlite:////absolute/path, sqlite:///:memory:
            path = url.path[1:] if url.path.startswith("/") else url.path
            if not path:
                raise ConfigError("LEDGER_DATABASE_URL sqlite:/// needs a file path")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            return {
                **common,
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30",
                "APPLICATION_RECORDER_TOPIC": "service.storage:LedgerSQLiteRecorder",
            }
        if url.scheme in ("postgresql", "postgres"):
            query = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p)
            return {
                **common,
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
                "POSTGRES_HOST": url.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": unquote(url.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(url.password or ""),
                "POSTGRES_SCHEMA": query.get("schema", "public"),
                # Open connections on demand, up to db_pool_size per process.
                "POSTGRES_POOL_SIZE": "1",
                "POSTGRES_MAX_OVERFLOW": str(self.db_pool_size - 1),
                # No pre-ping: it costs a round trip per query; broken connections are
                # retried by the library and replaced by the pool.
                "POSTGRES_PRE_PING": "n",
                "POSTGRES_LOCK_TIMEOUT": "10",
                "APPLICATION_RECORDER_TOPIC": "service.storage:LedgerPostgresRecorder",
            }
        raise ConfigError(
            f"LEDGER_DATABASE_URL must start with sqlite:/// or postgresql://, got {url.scheme!r}"
        )
