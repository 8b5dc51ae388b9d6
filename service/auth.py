"""API keys and roles: bearer tokens whose hash alone is stored."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from service.storage import LedgerTables

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
    tables: LedgerTables, role: str, vendor_id: str | None = None, label: str | None = None
) -> tuple[str, str]:
    """Create an API key; return its id and its token (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if (role == "vendor") != (vendor_id is not None):
        raise ValueError("a vendor id is required for, and only for, the vendor role")
    key_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    tables.add_api_key(
        key_id, hash_token(token), role, vendor_id, label,
        datetime.now(UTC).isoformat(),
    )
    return key_id, token


class Authenticator:
    """Resolves bearer tokens to principals, caching hits briefly to spare the database."""

    def __init__(self, tables: LedgerTables, cache_seconds: float = 10.0):
        self._tables = tables
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Principal:
        """Return the principal for an Authorization header, or raise Unauthenticated."""
        if not authorization:
            raise Unauthenticated("this endpoint needs an 'Authorization: Bearer <token>' header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = self._tables.find_api_key(digest)
        if row is None:
            raise Unauthenticated("the bearer token is not valid")
        principal = Principal(row["key_id"], row["role"], row["vendor_id"])
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self._cache_seconds, principal)
        return principal
