"""End to end: the `ledger` commands and gunicorn on PostgreSQL, over real HTTP.

What an operator does, in order: `ledger migrate`, `ledger apikey create`, `ledger
serve` (gunicorn, two workers); then a contract's whole life through the API; then
`ledger verify`, before and after someone alters a stored event behind the ledger's back.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests
from psycopg import sql

from tests.conftest import POSTGRES_URL, postgres_schema
from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, contract_body
from tests.support.e2e import Server, Store, call, ledger

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

GENESIS = "0" * 64
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A fresh PostgreSQL schema of this module's own (it gets tampered with), migrated."""
    cwd = tmp_path_factory.mktemp("ledger_e2e")
    with postgres_schema("ledger_e2e") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env.update(
            LEDGER_DATABASE_URL=url,
            # gunicorn's control socket goes to $XDG_RUNTIME_DIR, else ~/.gunicorn: keep
            # parallel test servers from fighting over one socket.
            XDG_RUNTIME_DIR=str(cwd),
        )
        migrated = ledger(env, cwd, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert "migrated" in migrated.stdout
        assert ledger(env, cwd, "migrate").returncode == 0, "migrate must be idempotent"
        yield Store(url, url.rsplit("schema=", 1)[1], env, cwd)


def assert_problem(response: requests.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"].endswith(f"/{slug}")
    return problem


def test_a_contract_lives_and_dies_over_http_and_its_chain_is_verifiable(
    store: Store, server: Server
) -> None:
    token = server.procurement
    run = uuid.uuid4().hex[:8]
    request_ids: dict[int, str] = {}
    positions: list[int] = []

    def write(path: str, body: Any, version: int | None, status: int = 200,
              **headers: str) -> requests.Response:
        request_id = f"e2e-{run}-{len(positions) + 1}"
        response = call(server, "POST", path, token, body, version, X_Request_ID=request_id,
                        **headers)
        assert response.status_code == status, response.text
        assert response.headers["X-Request-ID"] == request_id
        new_version = int(response.headers["ETag"].strip('"'))
        assert response.json()["version"] == new_version
        assert new_version == (version or 0) + 1
        request_ids[new_version] = request_id
        position = int(response.headers["Ledger-Position"])
        assert not positions or position > positions[-1], "positions only ever grow"
        positions.append(position)
        return response

    # Draft: 201 with where it lives, its version and its place in the ledger.
    drafted = write("/v1/contracts", contract_body(), None, status=201)
    contract_id = drafted.json()["id"]
    path = f"/v1/contracts/{contract_id}"
    assert drafted.headers["Location"].endswith(path)
    assert drafted.headers["ETag"] == '"1"'
    assert drafted.json()["status"] == "draft"

    write(f"{path}/point-of-contact", POINT_OF_CONTACT, 1)
    write(f"{path}/sla-metrics", SLA_METRIC, 2)
    write(f"{path}/exit-plan", EXIT_PLAN, 3)
    active = write(f"{path}/activation", {"effective_date": "2026-01-01"}, 4)
    assert active.json()["status"] == "active"

    # An amendment under an Idempotency-Key, then the client's retry of it.
    amendment = {"changes": {"value": {"amount": "1350000.00", "currency": "EUR"}},
                 "rationale": "Scope grows to two more sites", "effective_date": "2026-07-01"}
    key = f"e2e-amend-{run}"
    amended = write(f"{path}/amendments", amendment, 5, Idempotency_Key=key)
    retried = call(server, "POST", f"{path}/amendments", token, amendment, 5,
                   Idempotency_Key=key)
    assert retried.status_code == 200, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in amended.headers
    assert retried.headers["ETag"] == amended.headers["ETag"] == '"6"'
    assert retried.headers["Ledger-Position"] == amended.headers["Ledger-Position"]
    assert retried.json() == amended.json()
    assert call(server, "GET", path, token).headers["ETag"] == '"6"', "the retry recorded"

    write(f"{path}/sla-amendments",
          {"target_changes": [{"metric_id": "availability", "target": "99.95"}],
           "effective_from": "2026-07-01", "rationale": "Tighter target after the upgrade"}, 6)
    write(f"{path}/renewal", {"new_end": "2029-12-31", "reason": "Met every target"}, 7)
    # Exit: decided, its mandatory step carried out, then the termination.
    write(f"{path}/exit", {"reason": "Service insourced"}, 8)
    write(f"{path}/exit/steps/handover/start", {}, 9)
    write(f"{path}/exit/steps/handover/completion", {"note": "Runbooks received"}, 10)
    ended = write(f"{path}/termination",
                  {"reason": "Service insourced", "effective_date": "2029-06-30"}, 11)
    assert ended.json()["status"] == "terminated"

    # The state now, and as it was.
    now = call(server, "GET", path, server.auditor)
    assert now.status_code == 200, now.text
    assert now.headers["ETag"] == '"12"'
    state = now.json()
    assert state["status"] == "terminated"
    assert state["version"] == 12
    assert state["value"]["amount"] == "1350000.00"
    assert state["term"]["end"] == "2029-12-31"
    assert [m["target"] for m in state["sla_metrics"]] == ["99.95"]
    assert state["termination"]["reason"] == "Service insourced"
    assert state["point_of_contact"]["email"] == POINT_OF_CONTACT["email"]
    draft_then = call(server, "GET", f"{path}?version=1", token)
    assert draft_then.status_code == 200, draft_then.text
    assert draft_then.headers["ETag"] == '"1"'
    assert draft_then.json()["status"] == "draft"
    assert draft_then.json()["value"]["amount"] == "1200000.00"
    assert call(server, "GET", f"{path}?version=5", token).json()["status"] == "active"

    # The events: one per act, each linked to the one before, each under its request id.
    listed = call(server, "GET", f"{path}/events", server.auditor)
    assert listed.status_code == 200, listed.text
    events = listed.json()["events"]
    assert [e["version"] for e in events] == list(range(1, 13))
    assert [e["type"] for e in events] == [
        "ContractDrafted", "PointOfContactDesignated", "SlaMetricDefined", "ExitPlanDefined",
        "ContractActivated", "TermsAmended", "SlaAmended", "ContractRenewed",
        "ExitInitiated", "ExitStepStarted", "ExitStepCompleted", "ContractTerminated"]
    previous = GENESIS
    for event in events:
        assert event["contract_id"] == contract_id
        assert event["previous_hash"] == previous
        assert len(event["hash"]) == 64
        assert event["hash"] != previous
        assert event["correlation_id"] == request_ids[event["version"]]
        assert event["actor"]["role"] == "procurement"
        previous = event["hash"]

    # What the API refuses, each as a problem document, recording nothing.
    stale = call(server, "POST", f"{path}/renewal", token,
                 {"new_end": "2030-12-31", "reason": "again"}, 3)
    assert assert_problem(stale, 412, "precondition-failed").get("current_version") == 12
    unconditional = call(server, "POST", f"{path}/renewal", token,
                         {"new_end": "2030-12-31", "reason": "again"})
    assert_problem(unconditional, 428, "precondition-required")
    auditor_write = call(server, "POST", "/v1/contracts", server.auditor, contract_body())
    assert_problem(auditor_write, 403, "forbidden")
    anonymous = call(server, "GET", path, None)
    assert_problem(anonymous, 401, "unauthenticated")
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert len(call(server, "GET", f"{path}/events", token).json()["events"]) == 12

    # The hash chains verify; then someone edits a stored event in the database.
    verified = ledger(store.env, store.cwd, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert any(line.startswith("OK") for line in verified.stdout.splitlines())
    assert "checked 12 events in 1 contracts" in verified.stdout

    table = sql.Identifier(store.schema, "ledger_events")
    original, altered = SLA_METRIC["name"].encode(), b"Network availabi1ity"
    assert len(original) == len(altered)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT state FROM {} WHERE originator_id = %s AND originator_version = 3")
            .format(table), (uuid.UUID(contract_id),)).fetchone()
        assert row is not None
        stored = bytes(row[0])
        assert original in stored, "the stored state should be plain JSON bytes"
        changed = conn.execute(
            sql.SQL("UPDATE {} SET state = %s WHERE originator_id = %s AND originator_version = 3")
            .format(table), (stored.replace(original, altered), uuid.UUID(contract_id)))
        assert changed.rowcount == 1

    tampered = ledger(store.env, store.cwd, "verify")
    assert tampered.returncode != 0, tampered.stdout
    assert f"BROKEN: contract {contract_id} version 3" in tampered.stdout, tampered.stdout
    assert not any(line.startswith("OK") for line in tampered.stdout.splitlines())

    # Nothing went wrong inside the server on the way.
    served = server.log.read_text(errors="replace")
    assert "Traceback" not in served, served[-4000:]
    assert "[ERROR]" not in served, served[-4000:]
