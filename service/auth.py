"""API keys and roles: bearer tokens whose hash alone is stored."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.storage import LedgerTables

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ROLES = ("admin", "procurement", "auditor", "vendor", "integration")

READ_CONTRACTS = "contracts:read"
WRITE_CONTRACTS = "contracts:write"
READ_EVENTS = "events:read"
REPORT_PERFORMANCE = "performance:report"
DISPUTE_PENALTIES = "penalties:dispute"
RESPOND_TO_FINDINGS = "findings:respond"
PROPOSE_IMPROVEMENTS = "improvements:propose"

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({READ_CONTRACTS, WRITE_CONTRACTS, READ_EVENTS, REPORT_PERFORMANCE,
                        DISPUTE_PENALTIES, RESPOND_TO_FINDINGS, PROPOSE_IMPROVEMENTS}),
    "procurement": frozenset({READ_CONTRACTS, WRITE_CONTRACTS, READ_EVENTS, REPORT_PERFORMANCE,
                              PROPOSE_IMPROVEMENTS}),
    "auditor": frozenset({READ_CONTRACTS, READ_EVENTS}),
    # A vendor acts on its own vendor's contracts only (others are "not found").
    "vendor": frozenset({READ_CONTRACTS, READ_EVENTS, REPORT_PERFORMANCE, DISPUTE_PENALTIES,
                         RESPOND_TO_FINDINGS, PROPOSE_IMPROVEMENTS}),
    "integration": frozenset({READ_EVENTS}),
}

TOKEN_PREFIX = "lgr_"


class Unauthenticated(Exception):
    """No valid bearer token."""


class Forbidden(Exception):
    """The principal's role does not allow this."""


class TooManyFailedAuthentications(Exception):
    """This client address has failed to authenticate too often; it may retry later."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed authentications from this address; retry in "
                         f"{retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str
    vendor_id: str | None = None

    @property
    def vendor_scope(self) -> str | None:
        """The only vendor whose contracts this principal may see, if restricted."""
        return self.vendor_id if self.role == "vendor" else None

    def require(self, permission: str) -> None:
        """Raise Forbidden unless the role grants permission."""
        if permission not in PERMISSIONS[self.role]:
            raise Forbidden(f"role {self.role!r} may not {permission.replace(':', ' ')}")


def hash_token(token: str) -> str:
    """Return the SHA-256 of a token (tokens are random, so no slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_key(
    tables: LedgerTables,
    role: str,
    vendor_id: str | None = None,
    label: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, str]:
    """Create an API key; return its id and its token (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if (role == "vendor") != (vendor_id is not None):
        raise ValueError("a vendor id is required for, and only for, the vendor role")
    now = datetime.now(UTC)
    if expires_at is not None and expires_at <= now:
        raise ValueError(f"the expiry {_instant(expires_at)} is not in the future")
    key_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    tables.add_api_key(
        key_id, hash_token(token), role, vendor_id, label, _instant(now),
        _instant(expires_at) if expires_at is not None else None,
    )
    return key_id, token


def revoke_api_key(tables: LedgerTables, key_id: str) -> tuple[dict[str, Any], bool]:
    """Revoke a key for good (its row and the instant of revocation are kept); return its
    row and whether it was revoked now (revoking a revoked key changes nothing). Raise
    KeyError for an unknown id."""
    row, revoked_now = tables.revoke_api_key(key_id, _instant(datetime.now(UTC)))
    if row is None:
        raise KeyError(key_id)
    return row, revoked_now


_SHORT_DURATION = re.compile(r"^([0-9]{1,9})([smhdw])$")
_ISO_DURATION = re.compile(r"^P(?:([0-9]{1,9})W|([0-9]{1,9})D)?"
                           r"(?:T(?:([0-9]{1,9})H)?(?:([0-9]{1,9})M)?(?:([0-9]{1,9})S)?)?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str, now: datetime) -> datetime:
    """Read `--expires`: an ISO 8601 instant with a UTC offset (2026-12-31T00:00:00Z), or a
    duration from now: 90d, 12h, 30m, 2w, 45s, or ISO 8601's P90D, PT12H, P2W."""
    parts: dict[str, int] | None = None
    if short := _SHORT_DURATION.match(text):
        parts = {_UNITS[short[2]]: int(short[1])}
    elif (iso := _ISO_DURATION.match(text)) and text not in ("P", "PT") \
            and not text.endswith("T"):
        parts = dict(zip(("weeks", "days", "hours", "minutes", "seconds"),
                         (int(part or 0) for part in iso.groups()), strict=True))
    if parts is not None:
        try:
            duration = timedelta(**parts)
            expiry = now + duration
        except OverflowError:
            raise ValueError(f"the duration {text!r} is too long") from None
        if duration <= timedelta(0):
            raise ValueError(f"the duration {text!r} must be longer than zero")
        return expiry
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 instant nor a duration "
                         "(such as 90d, 12h or P90D)") from None
    if instant.tzinfo is None:
        raise ValueError(f"the instant {text!r} needs a UTC offset (such as Z or +02:00)")
    return instant.astimezone(UTC)


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def client_address(remote_addr: str | None, forwarded_for: str | None,
                   trusted_proxies: Sequence[Network]) -> str:
    """The address a request came from: the peer's, or, when the peer is a trusted proxy,
    the nearest address in X-Forwarded-For that is not itself a trusted proxy (addresses
    further left were written by the client and prove nothing)."""
    peer = remote_addr or "unknown"
    if not trusted_proxies or not forwarded_for or not _is_trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            return hop[:64] or peer
    return hops[0][:64] or peer  # every hop is a proxy of ours: the first one is the client


def _is_trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)


class FailureLimiter:
    """A token bucket per client address, in this process: each address may fail `burst`
    times at once, then `per_minute` times a minute. burst 0 turns the limit off."""

    MAX_ADDRESSES = 10_000

    def __init__(self, burst: int, per_minute: float,
                 clock: Callable[[], float] = time.monotonic):
        self._burst = burst
        self._per_second = per_minute / 60
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Raise TooManyFailedAuthentications, with the seconds until the next try, if this
        address has used up its failures; a valid key costs nothing, so that concurrent
        requests with valid keys are never limited (concurrent failures may overshoot the
        burst by at most the requests in flight)."""
        if self._burst <= 0:
            return
        with self._lock:
            tokens = self._tokens(address, self._clock())
        if tokens < 1:
            if self._per_second <= 0:
                retry_after = 3600
            else:
                retry_after = max(1, math.ceil((1 - tokens) / self._per_second))
            raise TooManyFailedAuthentications(retry_after)

    def fail(self, address: str) -> None:
        """Count one failed authentication of this address."""
        if self._burst <= 0:
            return
        with self._lock:
            now = self._clock()
            self._buckets[address] = (max(0.0, self._tokens(address, now) - 1), now)
            self._buckets.move_to_end(address)
            if len(self._buckets) > self.MAX_ADDRESSES:
                self._forget_refilled(now)

    def _tokens(self, address: str, now: float) -> float:
        tokens, at = self._buckets.get(address, (float(self._burst), now))
        return min(float(self._burst), tokens + (now - at) * self._per_second)

    def _forget_refilled(self, now: float) -> None:
        # A full bucket is the same as none; past that, forget the longest unused.
        for address in [a for a in self._buckets if self._tokens(a, now) >= self._burst]:
            del self._buckets[address]
        while len(self._buckets) > self.MAX_ADDRESSES:
            self._buckets.popitem(last=False)


@dataclass(frozen=True)
class _Cached:
    principal: Principal
    expires_at: datetime | None
    until: float  # monotonic: when this worker looks the key up again


class Authenticator:
    """Resolves bearer tokens to principals, caching hits briefly to spare the database.

    A revocation reaches every worker within `revocation_check_seconds`: at most that
    often, a worker asks the database how many keys are revoked, and forgets its cache
    when the number has changed. Expiry is checked on every request, cached or not. A
    key's last use is written at most once per `last_used_seconds`, per worker.
    """

    def __init__(
        self,
        tables: LedgerTables,
        cache_seconds: float = 10.0,
        *,
        failures: FailureLimiter | None = None,
        revocation_check_seconds: float = 0.5,
        last_used_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._tables = tables
        self._cache_seconds = cache_seconds
        self._failures = failures or FailureLimiter(0, 0)
        self._revocation_check_seconds = revocation_check_seconds
        self._last_used_seconds = last_used_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._cache: dict[str, _Cached] = {}
        self._revocations: int | None = None
        self._epoch = 0  # counts the times the cache was forgotten
        self._revocations_checked = -math.inf
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None, address: str = "unknown") -> Principal:
        """Return the principal for an Authorization header, or raise Unauthenticated (or
        TooManyFailedAuthentications when this address has failed too often)."""
        if not authorization:
            raise Unauthenticated("this endpoint needs an 'Authorization: Bearer <token>' header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        digest = hash_token(token)
        now = self._clock()
        self._forget_if_revoked(now)
        with self._lock:
            hit = self._cache.get(digest)
            epoch = self._epoch
        if hit is not None and hit.until > now:
            self._check_expiry(hit.expires_at)
            self._note_use(hit.principal.key_id, now)
            return hit.principal
        # Only lookups cost the database; each one that fails uses up this address's budget.
        self._failures.check(address)
        row = self._tables.find_api_key(digest)
        try:
            if row is None:
                raise Unauthenticated("the bearer token is not valid")
            if row["revoked_at"] is not None:
                raise Unauthenticated("the bearer token has been revoked")
            expires_at = (datetime.fromisoformat(row["expires_at"]) if row["expires_at"]
                          else None)
            self._check_expiry(expires_at)
        except Unauthenticated:
            self._failures.fail(address)
            raise
        principal = Principal(row["key_id"], row["role"], row["vendor_id"])
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            # Not if the cache was forgotten meanwhile: this row may predate a revocation.
            if epoch == self._epoch:
                self._cache[digest] = _Cached(principal, expires_at, now + self._cache_seconds)
        self._note_use(principal.key_id, now)
        return principal

    def _check_expiry(self, expires_at: datetime | None) -> None:
        if expires_at is not None and expires_at <= self._wall_clock():
            raise Unauthenticated(f"the bearer token expired at "
                                  f"{expires_at.isoformat().replace('+00:00', 'Z')}")

    def _forget_if_revoked(self, now: float) -> None:
        with self._lock:
            if now - self._revocations_checked < self._revocation_check_seconds:
                return
            self._revocations_checked = now  # one thread asks; the others go on meanwhile
        revocations = self._tables.revocation_count()
        with self._lock:
            if revocations != self._revocations:
                self._cache.clear()
                self._epoch += 1
                self._revocations = revocations

    def _note_use(self, key_id: str, now: float) -> None:
        with self._lock:
            if now - self._last_used.get(key_id, -math.inf) < self._last_used_seconds:
                return
            self._last_used[key_id] = now
        try:
            self._tables.record_api_key_use(key_id, _instant(self._wall_clock()))
        except Exception:  # a bookkeeping write never fails a request
            log.warning("could not record the last use of API key %s", key_id, exc_info=True)
