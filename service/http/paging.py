"""Opaque cursors and read-your-writes for the projection-backed lists."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, current_app, jsonify, request

from projections.base import View, ViewNotReady
from projections.session import Session
from service.http.plumbing import POSITION_HEADER, ledger, unstorable_text
from service.http.problems import Problem

PAGING_PARAMETERS = ("cursor", "limit", "min_position")


def views() -> dict[str, View]:
    """The read models of this process."""
    return current_app.extensions["views"]  # type: ignore[no-any-return]


def read(view: View, query: Callable[[Session], Any], min_position: int | None) -> tuple[int, Any]:
    """Run query on view once it has processed min_position (waiting, bounded, for it);
    return the position the answer reflects, read in the same transaction, and the answer."""
    if min_position:
        _wait_for(view, min_position)
    return view.read(lambda session: (session.position, query(session)))  # type: ignore[no-any-return]


def _wait_for(view: View, min_position: int) -> None:
    current = view.position()
    if current >= min_position:
        return
    # A position the ledger has not reached yet is no write's: waiting for it would only
    # hold a worker thread for the whole wait.
    head = ledger().recorder.max_notification_id() or 0
    if min_position > head:
        detail = (f"min_position {min_position} is beyond the ledger's head (position {head}): "
                  "pass the Ledger-Position a write answered with")
        raise Problem("validation-failed", detail,
                      errors=[{"pointer": "/min_position", "detail": detail}])
    settings = current_app.config["LEDGER_SETTINGS"]
    # At most read_waiters requests of this process wait at once, so that waiting reads
    # cannot take every worker thread; the others are told at once to retry.
    waiters = _waiters(settings.read_waiters)
    if not waiters.acquire(blocking=False):
        raise _not_ready(view.name, current, min_position,
                         f"{settings.read_waiters} reads are already waiting for the views")
    try:
        view.wait_for(min_position, settings.read_wait_seconds)
    except ViewNotReady as error:
        raise _not_ready(view.name, error.position, error.requested, None) from None
    finally:
        waiters.release()


def _not_ready(name: str, position: int, requested: int, why: str | None) -> Problem:
    return Problem("view-not-ready",
                   f"the {name} view has processed the ledger up to position {position}, not "
                   f"yet {requested}{'; ' + why if why else ''}; retry shortly",
                   {"Retry-After": "1"}, position=position, min_position=requested)


_WAITERS_LOCK = threading.Lock()


def _waiters(bound: int) -> threading.BoundedSemaphore:
    # One semaphore per app (a process serves one), made on first need.
    extensions = current_app.extensions
    with _WAITERS_LOCK:
        waiters = extensions.get("read_waiters")
        if waiters is None:
            waiters = extensions["read_waiters"] = threading.BoundedSemaphore(max(1, bound))
    return waiters  # type: ignore[no-any-return]


def fingerprint(query: Mapping[str, Any]) -> str:
    """What a cursor is bound to: the parsed query's filters and sort (defaults included,
    so that leaving out a parameter and giving its default are the same query)."""
    params = sorted((k, str(v)) for k, v in query.items() if k not in PAGING_PARAMETERS)
    return hashlib.sha256(json.dumps([request.path, params]).encode()).hexdigest()[:16]


def encode_cursor(key: Any, query: Mapping[str, Any]) -> str:
    document = json.dumps({"k": key, "q": fingerprint(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


def decode_cursor(query: Mapping[str, Any], valid: Callable[[Any], bool]) -> Any:
    """The keyset position the query's cursor holds (None without one). A cursor of
    another query, or one whose position is not of the shape this list issues (valid
    says), is a 422 naming the parameter."""
    cursor = query.get("cursor")
    if cursor is None:
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key, bound = document["k"], document["q"]
        # A forged cursor may nest deeply or hold text no database can take (a lone
        # surrogate, NUL); none this API issued does.
        if unstorable_text(key) is not None:
            raise ValueError("unstorable text")
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError, Problem):
        raise _bad_cursor("the cursor is not one this API issued") from None
    if bound != fingerprint(query):
        raise _bad_cursor("the cursor belongs to another query: repeat the query's filters "
                          "and sort unchanged, or start again without a cursor")
    if not valid(key):
        raise _bad_cursor("the cursor is not one this API issued")
    return key


def _bad_cursor(detail: str) -> Problem:
    return Problem("validation-failed", detail,
                   errors=[{"pointer": "/cursor", "detail": detail}])


def page(items: list[Any], next_key: Any, position: int, query: Mapping[str, Any],
         extra: Mapping[str, Any] | None = None) -> Response:
    """A page of a list: its items, the cursor of the next page (null on the last) and the
    ledger position the view reflects (also in the Ledger-Position header)."""
    body = {**(extra or {}), "items": items,
            "next_cursor": None if next_key is None else encode_cursor(next_key, query),
            "position": position}
    response = jsonify(body)
    response.headers[POSITION_HEADER] = str(position)
    return response
