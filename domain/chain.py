"""The hash chain: every event stores the SHA-256 of its predecessor's canonical form.

The canonical form of an event is computed from exactly what the store keeps (topic,
stream id, version and the stored state), so an auditor can recompute every link from
the raw rows without trusting this code's in-memory objects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

GENESIS_HASH = "0" * 64
"""The predecessor hash of every stream's first event."""

HASH_FIELD = "event_hash"
"""The stored field holding an event's own hash (excluded from its canonical form)."""


def plain_value(value: Any) -> Any:
    """Return value as JSON-ready data (Decimal and dates as strings, enums by value)."""
    if isinstance(value, Enum):  # first: a StrEnum is a str, and stays its plain value
        return value.value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        raise TypeError("floats have no canonical form: use Decimal")
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    raise TypeError(f"no canonical form for {type(value).__name__}")


def canonical_form(
    topic: str, originator_id: UUID, originator_version: int, state: dict[str, Any]
) -> bytes:
    """Return the canonical bytes of a stored event (its own hash left out)."""
    body = {
        "topic": topic,
        "originator_id": str(originator_id),
        "originator_version": originator_version,
        "state": {k: plain_value(v) for k, v in state.items() if k != HASH_FIELD},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(
    topic: str, originator_id: UUID, originator_version: int, state: dict[str, Any]
) -> str:
    """Return the SHA-256 (hex) of an event's canonical form."""
    return hashlib.sha256(
        canonical_form(topic, originator_id, originator_version, state)
    ).hexdigest()
