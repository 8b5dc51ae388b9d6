"""The composition root: create_app builds everything; nothing connects at import time."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from service.application import ContractLedger
from service.auth import Authenticator, FailureLimiter, client_address
from service.config import Settings
from service.http import contracts, governance, operations, performance, views
from service.http.problems import Problem, register_problem_handlers
from service.runner import build_views

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")

# The docs page loads only its own scripts, styles and /openapi.yaml. Swagger UI sets
# inline styles (and docs.html has one), hence 'unsafe-inline' for styles, never scripts;
# its stylesheet's icons are data: images.
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")
# Everything else is data, never a page: nothing in it may load or run anything.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
DOCS_ENDPOINTS = frozenset({"operations.docs", "operations.docs_asset"})
# Public and the same for everyone: browsers may keep these (they revalidate them).
CACHEABLE_ENDPOINTS = DOCS_ENDPOINTS | {"operations.openapi", "operations.problem_type"}


def build_ledger(settings: Settings) -> ContractLedger:
    """Build the event-sourced application for these settings."""
    return ContractLedger(settings.persistence_env(), commit_batch_size=settings.commit_batch_size,
                          dispute_window_days=settings.dispute_window_days, clock=settings.clock)


def create_app(settings: Settings | None = None, ledger: ContractLedger | None = None) -> Flask:
    """Create the Flask application (one per process: gunicorn calls this after fork)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # the docs assets have their own route
    app.config.update(LEDGER_SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented order
    ledger = ledger or build_ledger(settings)
    app.extensions["ledger"] = ledger
    app.extensions["views"] = build_views(ledger)
    authenticator = Authenticator(
        ledger.tables, settings.auth_cache_seconds,
        failures=FailureLimiter(settings.auth_failure_burst, settings.auth_failures_per_minute))

    @app.before_request
    def _identify() -> None:
        request_id = request.headers.get("X-Request-ID")
        if request_id is None:
            request_id = str(uuid.uuid4())
        elif not _REQUEST_ID.match(request_id):
            g.request_id = str(uuid.uuid4())
            raise Problem("malformed-request",
                          "X-Request-ID must be 1-128 characters of [A-Za-z0-9._:/+=@-]")
        g.request_id = request_id
        if request.endpoint in operations.PUBLIC_ENDPOINTS:
            return
        if request.endpoint is None:  # unknown route or method: answer 404/405, not 401
            return
        address = client_address(request.remote_addr,
                                 ", ".join(request.headers.getlist("X-Forwarded-For")),
                                 settings.trusted_proxies)
        g.principal = authenticator.authenticate(request.headers.get("Authorization"), address)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id") or str(uuid.uuid4())
        return response

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            DOCS_POLICY if request.endpoint in DOCS_ENDPOINTS else API_POLICY)
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            # Answers for a token (and health) are never to be kept by any cache.
            response.headers["Cache-Control"] = "no-store"
        return response

    register_problem_handlers(app)
    app.register_blueprint(operations.bp)
    app.register_blueprint(contracts.bp)
    app.register_blueprint(performance.bp)
    app.register_blueprint(governance.bp)
    app.register_blueprint(views.bp)
    return app


