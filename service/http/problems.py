"""RFC 9457 problem documents: every error the API returns is one of these."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from domain.exceptions import ContractError, ContractNotFound, InvalidTerm, InvalidValue
from service.application import IdempotencyClaimLost, StaleVersion
from service.auth import Forbidden, TooManyFailedAuthentications, Unauthenticated

log = logging.getLogger(__name__)

PROBLEM_BASE = "/problems/"

# slug -> (status, title, description). The slugs are part of the public contract.
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "malformed-request": (400, "Malformed request",
                          "The request body is not valid JSON, or a header is malformed."),
    "unauthenticated": (401, "Authentication required",
                        "A valid 'Authorization: Bearer <token>' header is needed."),
    "forbidden": (403, "Forbidden", "The token's role does not allow this act."),
    "not-found": (404, "Not found", "No such resource (or it is not visible to this token)."),
    "method-not-allowed": (405, "Method not allowed",
                           "The resource does not support this HTTP method."),
    "business-rule-violated": (409, "Business rule violated",
                               "The act breaks a rule of the contract; nothing was recorded."),
    "idempotency-key-in-flight": (409, "Request with this Idempotency-Key in flight",
                                  "An earlier request with this key is still being processed."),
    "precondition-failed": (412, "Precondition failed",
                            "The contract changed since the version named in If-Match."),
    "payload-too-large": (413, "Payload too large", "The request body exceeds the size limit."),
    "unsupported-media-type": (415, "Unsupported media type",
                               "Request bodies must be application/json."),
    "validation-failed": (422, "Validation failed",
                          "The request body or parameters do not match the schema."),
    "idempotency-key-reused": (422, "Idempotency-Key reused",
                               "This key was used before with a different request."),
    "precondition-required": (428, "Precondition required",
                              "Writes to a contract need 'If-Match: \"<version>\"'."),
    "too-many-failed-authentications": (
        429, "Too many failed authentications",
        "This client address presented too many invalid tokens; retry after the "
        "Retry-After delay."),
    "view-not-ready": (503, "View not ready",
                       "The view has not yet processed the requested min_position; retry "
                       "after the Retry-After delay."),
    "service-unavailable": (503, "Service unavailable", "The database cannot be reached."),
    "internal-error": (500, "Internal error", "An unexpected error; it has been logged."),
}

_HTTP_SLUGS = {400: "malformed-request", 401: "unauthenticated", 403: "forbidden",
               404: "not-found", 405: "method-not-allowed", 413: "payload-too-large",
               415: "unsupported-media-type"}


class Problem(Exception):
    """An error answered as a problem document."""

    def __init__(self, slug: str, detail: str, headers: dict[str, str] | None = None,
                 **extensions: Any):
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(slug: str, detail: str, headers: dict[str, str] | None = None,
                     **extensions: Any) -> Response:
    """Build an application/problem+json response for a problem type."""
    status, title, _ = PROBLEM_TYPES[slug]
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
            **extensions}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def field_errors(messages: Any, pointer: str = "") -> list[dict[str, str]]:
    """Flatten marshmallow's nested messages into JSON-pointer errors."""
    if isinstance(messages, dict):
        return [e for key, value in messages.items()
                for e in field_errors(value, f"{pointer}/{key}" if key != "_schema" else pointer)]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"pointer": pointer or "/", "detail": m} for m in messages]
    if isinstance(messages, list):
        return [e for m in messages for e in field_errors(m, pointer)]
    return [{"pointer": pointer or "/", "detail": str(messages)}]


def register_problem_handlers(app: Flask) -> None:
    """Map every exception the API can raise to its problem document."""

    @app.errorhandler(Problem)
    def _problem(error: Problem) -> Response:
        return problem_response(error.slug, error.detail, error.headers, **error.extensions)

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> Response:
        return problem_response("validation-failed", "the request does not match the schema",
                                errors=field_errors(error.messages))

    @app.errorhandler(ContractNotFound)
    def _not_found(error: ContractNotFound) -> Response:
        return problem_response("not-found", str(error))

    @app.errorhandler(InvalidValue)
    @app.errorhandler(InvalidTerm)
    def _invalid(error: InvalidValue) -> Response:
        # The domain names the offending field of the command (the request body) where
        # it can; else the body as a whole.
        return problem_response("validation-failed", str(error),
                                errors=[{"pointer": error.pointer or "/", "detail": str(error)}])

    @app.errorhandler(ContractError)
    def _rule(error: ContractError) -> Response:
        return problem_response("business-rule-violated", str(error),
                                rule=type(error).__name__)

    @app.errorhandler(IdempotencyClaimLost)
    def _claim_lost(error: IdempotencyClaimLost) -> Response:
        return problem_response("idempotency-key-in-flight", str(error), {"Retry-After": "1"})

    @app.errorhandler(StaleVersion)
    def _stale(error: StaleVersion) -> Response:
        extra: dict[str, Any] = {}
        if error.current is not None:
            extra["current_version"] = error.current
        return problem_response("precondition-failed", str(error), None, **extra)

    @app.errorhandler(Unauthenticated)
    def _unauthenticated(error: Unauthenticated) -> Response:
        return problem_response("unauthenticated", str(error),
                                {"WWW-Authenticate": 'Bearer realm="ledger"'})

    @app.errorhandler(TooManyFailedAuthentications)
    def _too_many_failures(error: TooManyFailedAuthentications) -> Response:
        return problem_response("too-many-failed-authentications", str(error),
                                {"Retry-After": str(error.retry_after)})

    @app.errorhandler(Forbidden)
    def _forbidden(error: Forbidden) -> Response:
        return problem_response("forbidden", str(error))

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _unavailable(error: Exception) -> Response:
        log.warning("database unavailable: %s", error)
        return problem_response("service-unavailable", "the database cannot be reached",
                                {"Retry-After": "1"})

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        slug = _HTTP_SLUGS.get(status)
        if slug is None:
            # Other HTTP errors (416 on a static asset, say) keep their own status.
            response = jsonify({"type": "about:blank", "title": error.name, "status": status,
                                "detail": error.description})
            response.status_code = status
            response.mimetype = "application/problem+json"
            for name, value in error.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value
            return response
        headers = {}
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(sorted(error.valid_methods))  # type: ignore[attr-defined]
        return problem_response(slug, error.description or PROBLEM_TYPES[slug][2], headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response("internal-error", PROBLEM_TYPES["internal-error"][2])
