"""What every command request shares: JSON body, If-Match, Idempotency-Key, responses."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import replace
from functools import cache, wraps
from typing import Any
from uuid import UUID

from flask import Response, current_app, g, jsonify, request, url_for
from marshmallow import Schema

from domain.values import Provenance
from service.application import CommandContext, CommandResult, ContractLedger
from service.auth import Principal
from service.http.problems import Problem

_ETAG = re.compile(r'(?:W/)?"([0-9]{1,18})"\Z')  # ASCII digits: \d takes any script's
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}\Z")
POSITION_HEADER = "Ledger-Position"


def ledger() -> ContractLedger:
    """The application of this process."""
    return current_app.extensions["ledger"]  # type: ignore[no-any-return]


def principal() -> Principal:
    """The authenticated principal of this request."""
    return g.principal  # type: ignore[no-any-return]


@cache
def _instance(schema: type[Schema]) -> Schema:
    # Schemas hold no per-request state: build each once, not on every request.
    return schema()


MAX_JSON_DEPTH = 32
"""How deep a body's arrays and objects may nest (the deepest request needs 5 levels)."""

# Text no store can hold: NUL (PostgreSQL refuses it) and lone surrogates (no UTF-8
# encoding exists for them, so neither the hash chain's canonical form nor a database can
# take one). Strict JSON can carry either only as an escape.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


class _NotJson(ValueError):
    """A number the body's JSON cannot mean: NaN, Infinity, or beyond a float's range."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotJson(f"the number {text[:40]} is out of range")
    return number


def parse_json(raw: bytes) -> Any:
    """Parse a JSON document strictly: UTF-8 only, no NaN or Infinity, nested at most
    MAX_JSON_DEPTH levels (400 otherwise); a string holding NUL or a lone surrogate is a
    422 pointing at it."""
    try:
        # Decoding strictly first: json.loads(bytes) would let encoded surrogates through.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Problem("malformed-request", f"the body is not UTF-8: {error}") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant,
                              parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as error:
        raise Problem("malformed-request", f"the body is not valid JSON: {error}") from None
    # Only a document with many brackets can nest deeply, and only one with an escape can
    # hold unstorable text: most bodies need no walk.
    deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH
    if deep or _UNSTORABLE_ESCAPE.search(text):
        where = unstorable_text(document)
        if where is not None:
            raise Problem("validation-failed", "text must not contain NUL characters or lone "
                          "surrogates (code points U+D800 to U+DFFF)",
                          errors=[{"pointer": where or "/",
                                   "detail": "contains a NUL character or a lone surrogate"}])
    return document


def _too_deep() -> Problem:
    return Problem("malformed-request",
                   f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")


def unstorable_text(document: Any) -> str | None:
    """The JSON pointer of the first string in document holding NUL or a lone surrogate
    (of the object, for a member name), or None. Raise a 400 Problem if document nests
    deeper than MAX_JSON_DEPTH. Iterative: a deep document must not exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        value, pointer, depth = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return pointer
            continue
        if isinstance(value, dict):
            items: list[tuple[Any, Any]] = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        children = []
        for key, child in items:
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return pointer  # the object holding the name (no answer may echo it)
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            children.append((child, f"{pointer}/{escaped}", depth + 1))
        stack.extend(reversed(children))  # visit in document order
    return None


def parse_body(schema: type[Schema]) -> Any:
    """Parse the JSON body with schema; an empty body counts as {}."""
    raw = request.get_data(cache=True)  # raises 413 beyond the configured limit
    if not raw.strip():
        document: Any = {}
    else:
        if not request.is_json:
            raise Problem("unsupported-media-type",
                          f"send the body as application/json, not {request.mimetype or 'none'}")
        document = parse_json(raw)
    return _instance(schema).load(document)


def parse_query(schema: type[Schema]) -> Any:
    """Parse the query string with schema."""
    return _instance(schema).load(request.args.to_dict())


def expected_version() -> int:
    """The version named by If-Match (required on every write to a contract)."""
    header = request.headers.get("If-Match")
    if header is None:
        raise Problem("precondition-required",
                      "send 'If-Match: \"<version>\"' with the version you last read (its ETag)")
    match = _ETAG.match(header.strip())
    if match is None:
        # Not a version at all (empty, `*`, a list, too many digits): a malformed header,
        # not a stale one.
        raise Problem("malformed-request",
                      f"If-Match {header[:40]!r} is not a version's ETag: send 'If-Match: "
                      "\"<version>\"' (1-18 digits) with the version you last read")
    return int(match.group(1))


def contract_response(contract: dict[str, Any], status: int = 200,
                      position: int | None = None) -> Response:
    """Answer with a contract representation, its ETag and, for writes, the position."""
    response = jsonify(contract)
    response.status_code = status
    response.headers["ETag"] = f'"{contract["version"]}"'
    if position is not None:
        response.headers[POSITION_HEADER] = str(position)
    if status == 201:
        response.headers["Location"] = url_for("contracts.get_contract",
                                               contract_id=contract["id"])
    return response


def command(
    permission: str, status: int = 200
) -> Callable[[Callable[..., CommandResult]], Callable[..., Response]]:
    """Wrap a command view: permission, idempotency, provenance and the response.

    The view receives a CommandContext and returns a CommandResult. With an
    Idempotency-Key, the key is claimed before the command runs and completed in the
    same transaction as its events; a retry gets the first response back.
    """

    def decorate(view: Callable[..., CommandResult]) -> Callable[..., Response]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            who = principal()
            who.require(permission)
            ctx = CommandContext(
                provenance=Provenance(who.key_id, who.role, g.request_id),
                principal_id=who.key_id,
                status_code=status,
                vendor_scope=who.vendor_scope,
            )
            key = request.headers.get("Idempotency-Key")
            if key is None:
                result = view(*args, ctx=ctx, **kwargs)
                return contract_response(result.contract, status, result.position)
            if not _IDEMPOTENCY_KEY.match(key):
                raise Problem("malformed-request",
                              "Idempotency-Key must be 1-255 visible ASCII characters")
            claimed_at = time.time()
            replay = _claim(who, key, claimed_at)
            if replay is not None:
                return replay
            try:
                result = view(*args, ctx=replace(ctx, idempotency_key=key,
                                                 claimed_at=claimed_at), **kwargs)
            except BaseException:
                # Nothing was recorded: free our claim so the request can be retried.
                ledger().tables.release_idempotency_key(who.key_id, key, claimed_at)
                raise
            return contract_response(result.contract, status, result.position)

        return wrapper

    return decorate


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.get_data(cache=True)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _claim(who: Principal, key: str, claimed_at: float) -> Response | None:
    app = ledger()
    fingerprint = _fingerprint()
    row = app.tables.claim_idempotency_key(
        who.key_id, key, fingerprint, claimed_at,
        current_app.config["LEDGER_SETTINGS"].idempotency_lease_seconds)
    if row is None:
        return None
    if row["fingerprint"] != fingerprint:
        raise Problem("idempotency-key-reused",
                      "this Idempotency-Key was used for a different request; use a new key")
    if row["status_code"] is None:
        raise Problem("idempotency-key-in-flight",
                      "a request with this Idempotency-Key is still in flight; retry later",
                      {"Retry-After": "1"})
    contract_id = UUID(row["contract_id"])
    version = int(row["contract_version"])
    contract = app.get_contract(contract_id, version=version)
    response = contract_response(contract, int(row["status_code"]),
                                 app.position_of(contract_id, version))
    response.headers["Idempotent-Replayed"] = "true"
    return response
