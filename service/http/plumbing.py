"""What every command request shares: JSON body, If-Match, Idempotency-Key, responses."""

from __future__ import annotations

import hashlib
import json
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

_ETAG = re.compile(r'^(?:W/)?"(\d{1,18})"$')
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


def parse_body(schema: type[Schema]) -> Any:
    """Parse the JSON body with schema; an empty body counts as {}."""
    raw = request.get_data(cache=True)  # raises 413 beyond the configured limit
    if not raw.strip():
        document: Any = {}
    else:
        if not request.is_json:
            raise Problem("unsupported-media-type",
                          f"send the body as application/json, not {request.mimetype or 'none'}")
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise Problem("malformed-request", f"the body is not valid JSON: {error}") from None
    # JSON can only carry NUL escaped (strict parsing refuses raw control characters).
    where = _nul_in(document, "") if b"\\u0000" in raw else None
    if where is not None:
        raise Problem("validation-failed", "text must not contain NUL characters",
                      errors=[{"pointer": where or "/", "detail": "contains a NUL character"}])
    return _instance(schema).load(document)


def _nul_in(document: Any, pointer: str) -> str | None:
    # Databases cannot store NUL in text (PostgreSQL refuses it): refuse it at the door.
    if isinstance(document, str):
        return pointer if "\x00" in document else None
    if isinstance(document, dict):
        items: Any = document.items()
    elif isinstance(document, list):
        items = enumerate(document)
    else:
        return None
    for key, value in items:
        escaped = str(key).replace("~", "~0").replace("/", "~1")
        if "\x00" in str(key):
            return f"{pointer}/{escaped}"
        found = _nul_in(value, f"{pointer}/{escaped}")
        if found is not None:
            return found
    return None


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
        raise Problem("precondition-failed",
                      f"If-Match {header!r} names no version of this contract; send its ETag")
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
