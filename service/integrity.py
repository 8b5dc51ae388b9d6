"""Verify the hash chains: recompute every link from the raw stored rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Transcoder

from domain.chain import GENESIS_HASH, HASH_FIELD, event_hash

MAX_REPORTED_BREAKS = 100


@dataclass(frozen=True)
class ChainBreak:
    """Where a contract's chain stops being trustworthy, and why."""

    contract_id: UUID
    version: int
    position: int
    reason: str


@dataclass
class VerificationReport:
    events_checked: int = 0
    contracts_checked: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def verify_chains(
    recorder: ApplicationRecorder,
    transcoder: Transcoder,
    *,
    page_size: int = 1000,
    on_page: Callable[[int], None] | None = None,
) -> VerificationReport:
    """Walk the whole event sequence and check every contract's hash chain.

    Each event must be the next version of its stream, must name its predecessor's
    hash, and must hash (recomputed from what is stored) to the hash it carries. A
    stream whose chain broke is reported once, at its first broken event.
    """
    report = VerificationReport()
    heads: dict[UUID, tuple[int, str]] = {}
    broken: set[UUID] = set()
    start = 1
    while True:
        page = recorder.select_notifications(start=start, limit=page_size)
        if not page:
            break
        for n in page:
            report.events_checked += 1
            stream = UUID(str(n.originator_id))
            if stream in broken:
                continue
            last_version, last_hash = heads.get(stream, (0, GENESIS_HASH))
            reason = _check(n, transcoder, last_version, last_hash)
            if reason is not None:
                broken.add(stream)
                if len(report.breaks) < MAX_REPORTED_BREAKS:
                    report.breaks.append(ChainBreak(stream, n.originator_version, n.id, reason))
                continue
            state = transcoder.decode(n.state)
            heads[stream] = (n.originator_version, state[HASH_FIELD])
        if on_page is not None:
            on_page(len(page))
        start = page[-1].id + 1
    report.contracts_checked = len(heads.keys() | broken)
    return report


def _check(n: Any, transcoder: Transcoder, last_version: int, last_hash: str) -> str | None:
    if n.originator_version != last_version + 1:
        return f"expected version {last_version + 1}, found {n.originator_version} (events missing)"
    try:
        state: dict[str, Any] = transcoder.decode(n.state)
    except Exception as error:  # any undecodable bytes are a tampering sign
        return f"stored state does not decode: {error}"
    if not isinstance(state, dict) or HASH_FIELD not in state or "previous_hash" not in state:
        return "stored state lacks its hash links"
    if state["previous_hash"] != last_hash:
        return "previous_hash does not match the hash of the event before it"
    try:
        recomputed = event_hash(n.topic, UUID(str(n.originator_id)), n.originator_version, state)
    except TypeError as error:
        return f"stored state has no canonical form: {error}"
    if recomputed != state[HASH_FIELD]:
        return "content does not match its hash (the event was altered)"
    return None
