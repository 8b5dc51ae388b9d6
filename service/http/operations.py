"""Operations endpoints (no authentication): health, readiness, the API contract, docs."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from service.http.plumbing import ledger
from service.http.problems import PROBLEM_BASE, PROBLEM_TYPES, Problem

bp = Blueprint("operations", __name__)

# Package data, so that an installed wheel serves it too; in the source tree
# service/openapi.yaml is a link to the top-level openapi.yaml, the source of truth.
OPENAPI = resources.files("service") / "openapi.yaml"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

PUBLIC_ENDPOINTS = frozenset({
    "operations.healthz", "operations.readyz", "operations.openapi", "operations.docs",
    "operations.docs_asset", "operations.problem_type",
})


@bp.get("/healthz")
def healthz() -> Response:
    """Say the process is alive."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Say whether the database answers, and how far behind the ledger each view is."""
    # Raises -> 503 problem when the DB is down.
    head = ledger().recorder.max_notification_id() or 0
    views = {name: view.position() for name, view in current_app.extensions["views"].items()}
    return jsonify({"status": "ready", "position": head, "views": {
        name: {"position": position, "behind": max(0, head - position)}
        for name, position in views.items()}})


@bp.get("/openapi.yaml")
def openapi() -> Response:
    """Serve the API's public contract."""
    return Response(OPENAPI.read_bytes(), mimetype="application/yaml")


@bp.get("/docs")
def docs() -> Response:
    """Serve browsable API docs (assets served here too: no CDN)."""
    return send_from_directory(STATIC_DIR, "docs.html")


@bp.get("/docs/<path:filename>")
def docs_asset(filename: str) -> Response:
    """Serve a docs asset."""
    return send_from_directory(STATIC_DIR, filename)


@bp.get(PROBLEM_BASE + "<slug>")
def problem_type(slug: str) -> Response:
    """Describe a problem type (the `type` URI of every error document)."""
    if slug not in PROBLEM_TYPES:
        raise Problem("not-found", f"no problem type {slug!r}")
    status, title, description = PROBLEM_TYPES[slug]
    return jsonify({"type": PROBLEM_BASE + slug, "title": title, "status": status,
                    "description": description})


