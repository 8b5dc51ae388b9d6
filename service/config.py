"""Configuration: only from LEDGER_* environment variables (documented in the README)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from service.clock import Clock, SystemClock

DEFAULT_DATABASE_URL = "sqlite:///var/ledger.db"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

# Plain ASCII only: int() and float() would also take "1_000", " 5", "٣" and "nan".
_WHOLE = re.compile(r"[0-9]{1,12}")
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_BIND = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})|unix:.+|fd://[0-9]+")


class ConfigError(ValueError):
    """A LEDGER_* variable has a value the service cannot use; the message names the
    variable and what it accepts, on one line (the CLI prints it as it is)."""


def whole_number(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    """A LEDGER_* whole number of at least `minimum`; unset or empty gives the default."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not _WHOLE.fullmatch(raw) or int(raw) < minimum:
        raise ConfigError(f"{name} must be a whole number of at least {minimum}, got {raw!r}")
    return int(raw)


def seconds(env: Mapping[str, str], name: str, default: float, *, zero: bool = True) -> float:
    """A LEDGER_* duration in seconds (decimal text, no sign); unset or empty: default."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not _DECIMAL.fullmatch(raw) or (not zero and float(raw) == 0):
        accepted = "0 or more" if zero else "more than 0"
        raise ConfigError(f"{name} must be a number of seconds ({accepted}, e.g. 2.5), "
                          f"got {raw!r}")
    return float(raw)


def networks(
    env: Mapping[str, str], name: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A LEDGER_* comma-separated list of IP addresses or networks; unset or empty: none."""
    raw = env.get(name) or ""
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False)
                     for item in raw.split(",") if item.strip())
    except ValueError:
        raise ConfigError(f"{name} must be IP addresses or networks separated by commas "
                          f"(e.g. 10.0.0.0/8,::1), got {raw!r}") from None


def check_database_url(url: str) -> SplitResult:
    """Parse LEDGER_DATABASE_URL, or say what it accepts (never echoing a password)."""
    name = "LEDGER_DATABASE_URL"
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc or parts.path in ("", "/"):
            raise ConfigError(f"{name} for SQLite must be sqlite:///relative/path, "
                              "sqlite:////absolute/path or sqlite:///:memory:")
        return parts
    if parts.scheme in ("postgresql", "postgres"):
        try:
            port_ok = parts.port != 0  # urlsplit checks the port only when it is read
        except ValueError:
            port_ok = False
        if not port_ok:
            raise ConfigError(f"{name} needs a port from 1 to 65535 after the host, e.g. "
                              "postgresql://user:password@host:5432/db")
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        if not _SCHEMA.fullmatch(unquote(query.get("schema", "public"))):
            raise ConfigError(f"{name} ?schema= must be a name of letters, digits and _ "
                              "that does not start with a digit")
        return parts
    scheme = repr(parts.scheme) if parts.scheme else "no scheme"
    raise ConfigError(f"{name} must be sqlite:///path or postgresql://user:password@host:5432/"
                      f"db, got {scheme}")


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn.conf.py reads: `ledger serve` and `ledger up` check it before start."""

    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 16
    access_log: str | None = None
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Read gunicorn's LEDGER_* variables, falling back to the defaults."""
        env = os.environ if environ is None else environ
        bind = env.get("LEDGER_BIND") or cls.bind
        match = _BIND.fullmatch(bind)
        if not match or (match.group(1) is not None and int(match.group(1)) > 65535):
            raise ConfigError("LEDGER_BIND must be HOST:PORT (e.g. 127.0.0.1:8000 or "
                              f"[::1]:8000, port 0-65535) or unix:PATH, got {bind!r}")
        access_log = env.get("LEDGER_ACCESS_LOG") or None
        if access_log not in (None, "-") and not Path(access_log).parent.is_dir():
            raise ConfigError("LEDGER_ACCESS_LOG must be - (standard output) or a file in an "
                              f"existing directory, got {access_log!r}")
        log_level = env.get("LEDGER_LOG_LEVEL") or cls.log_level
        if log_level.lower() not in LOG_LEVELS:
            raise ConfigError(f"LEDGER_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                              f"got {log_level!r}")
        return cls(bind=bind, workers=whole_number(env, "LEDGER_WORKERS", cls.workers, 1),
                   threads=whole_number(env, "LEDGER_THREADS", cls.threads, 1),
                   access_log=access_log, log_level=log_level.lower())


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = 1_048_576
    idempotency_lease_seconds: float = 30.0
    auth_cache_seconds: float = 10.0
    # Per client address and worker: failed token lookups allowed at once, then a minute.
    auth_failure_burst: int = 20
    auth_failures_per_minute: int = 10
    # Proxies whose X-Forwarded-For names the client (for the limit above).
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    commit_batch_size: int = 64
    db_pool_size: int = 10
    aggregate_cache_size: int = 1000
    dispute_window_days: int = 30
    read_wait_seconds: float = 2.0
    # Reads waiting at once for a view (min_position), per process: half the default threads.
    read_waiters: int = 8
    projection_poll_seconds: float = 0.02
    projection_batch_size: int = 1000
    # Not from the environment: the system clock; tests build Settings with a frozen one.
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from LEDGER_* variables, falling back to the defaults."""
        env = os.environ if environ is None else environ
        database_url = env.get("LEDGER_DATABASE_URL") or DEFAULT_DATABASE_URL
        check_database_url(database_url)
        return cls(
            database_url=database_url,
            max_body_bytes=whole_number(env, "LEDGER_MAX_BODY_BYTES", cls.max_body_bytes, 1),
            idempotency_lease_seconds=seconds(
                env, "LEDGER_IDEMPOTENCY_LEASE_SECONDS", cls.idempotency_lease_seconds,
                zero=False),
            auth_cache_seconds=seconds(env, "LEDGER_AUTH_CACHE_SECONDS", cls.auth_cache_seconds),
            auth_failure_burst=whole_number(
                env, "LEDGER_AUTH_FAILURE_BURST", cls.auth_failure_burst, 0),
            auth_failures_per_minute=whole_number(
                env, "LEDGER_AUTH_FAILURES_PER_MINUTE", cls.auth_failures_per_minute, 1),
            trusted_proxies=networks(env, "LEDGER_TRUSTED_PROXIES"),
            commit_batch_size=whole_number(
                env, "LEDGER_COMMIT_BATCH_SIZE", cls.commit_batch_size, 1),
            db_pool_size=whole_number(env, "LEDGER_DB_POOL_SIZE", cls.db_pool_size, 1),
            aggregate_cache_size=whole_number(
                env, "LEDGER_AGGREGATE_CACHE_SIZE", cls.aggregate_cache_size, 0),
            dispute_window_days=whole_number(
                env, "LEDGER_DISPUTE_WINDOW_DAYS", cls.dispute_window_days, 0),
            read_wait_seconds=seconds(env, "LEDGER_READ_WAIT_SECONDS", cls.read_wait_seconds),
            read_waiters=whole_number(env, "LEDGER_READ_WAITERS", cls.read_waiters, 1),
            projection_poll_seconds=seconds(
                env, "LEDGER_PROJECTION_POLL_SECONDS", cls.projection_poll_seconds, zero=False),
            projection_batch_size=whole_number(
                env, "LEDGER_PROJECTION_BATCH_SIZE", cls.projection_batch_size, 1),
        )

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def persistence_env(self) -> dict[str, str]:
        """Translate the database URL into the eventsourcing library's settings."""
        url = check_database_url(self.database_url)
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
            if path != ":memory:":
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise ConfigError(
                        "LEDGER_DATABASE_URL names a SQLite file in a directory that cannot "
                        f"be created ({str(Path(path).parent)!r}: {error.strerror})") from None
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
        raise AssertionError(url.scheme)  # check_database_url allows no other scheme
