"""Shared fixtures: stores (SQLite and PostgreSQL), the app, API keys per role, a client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.app import build_ledger, create_app
from service.application import ContractLedger
from service.auth import create_api_key
from service.config import Settings
from service.runner import ProjectionRunner, build_projections, create_view_tables, follower_for
from tests.support import Api

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_postgres() -> None:
    """Skip without PostgreSQL locally; under CI a missing PostgreSQL fails the run."""
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """Yield the URL of a fresh PostgreSQL schema, dropped afterwards."""
    require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def postgres_schema_url(worker_id: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for this test worker, dropped afterwards."""
    with postgres_schema(f"ledger_test_{worker_id}") as url:
        yield url


@pytest.fixture(params=STORES)
def fresh_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated store of its own, for tests that must see only their own events."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/ledger.db"
        migrate(url)
        yield url
        return
    with postgres_schema("ledger_fresh") as url:
        migrate(url)
        yield url


def migrate(url: str) -> Settings:
    """Create the store's tables as `ledger migrate` does, and return its settings."""
    settings = Settings(database_url=url)
    ledger = build_ledger(settings)
    try:
        ledger.create_tables()
        create_view_tables(ledger)
    finally:
        ledger.close()
    return settings


@pytest.fixture(scope="session", params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Each API test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/ledger.db"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture(scope="session")
def app(store_url: str) -> Iterator[Flask]:
    settings = migrate(store_url)
    flask_app = create_app(settings)
    flask_app.config["TESTING"] = True
    yield flask_app
    flask_app.extensions["ledger"].close()


@pytest.fixture(scope="session")
def runner(app: Flask) -> Iterator[ProjectionRunner]:
    """The projection runner following the session's store, in a background thread (as
    `ledger up` runs it); tests read their writes with min_position (Api.read)."""
    ledger = app.extensions["ledger"]
    runner = ProjectionRunner(ledger, build_projections(app.extensions["views"]),
                              poll_interval=0.01)
    thread = runner.start(follower_for(ledger))
    yield runner
    runner.stop()
    thread.join(10)


@dataclass
class Tokens:
    by_role: dict[str, str] = field(default_factory=dict)
    vendors: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def tokens(app: Flask) -> Tokens:
    tables = app.extensions["ledger"].tables
    result = Tokens()
    for role in ("admin", "procurement", "auditor", "integration"):
        result.by_role[role] = create_api_key(tables, role, label=f"test {role}")[1]
    for vendor in ("acme", "globex"):
        result.vendors[vendor] = create_api_key(tables, "vendor", vendor, f"test {vendor}")[1]
    result.by_role["vendor"] = result.vendors["acme"]
    return result


@pytest.fixture
def fresh_ledger(fresh_store_url: str) -> Iterator[ContractLedger]:
    """The application on a store of its own."""
    app = build_ledger(Settings(database_url=fresh_store_url))
    yield app
    app.close()


@pytest.fixture
def fresh_api(fresh_store_url: str, fresh_ledger: ContractLedger) -> Api:
    """Procurement, talking to an app on a store of its own."""
    flask_app = create_app(Settings(database_url=fresh_store_url), fresh_ledger)
    return Api(flask_app.test_client(), create_api_key(fresh_ledger.tables, "procurement")[1])


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def as_role(client: FlaskClient, tokens: Tokens):  # type: ignore[no-untyped-def]
    def make(role: str) -> Api:
        return Api(client, tokens.by_role[role])
    return make


@pytest.fixture
def as_vendor(client: FlaskClient, tokens: Tokens):  # type: ignore[no-untyped-def]
    def make(vendor: str) -> Api:
        return Api(client, tokens.vendors[vendor])
    return make


@pytest.fixture
def api(as_role) -> Api:  # type: ignore[no-untyped-def]
    """Procurement: the everyday writer."""
    return as_role("procurement")  # type: ignore[no-any-return]


@pytest.fixture
def anonymous(client: FlaskClient) -> Api:
    return Api(client, None)
