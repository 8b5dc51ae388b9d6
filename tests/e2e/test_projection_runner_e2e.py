"""End to end: `ledger project` next to gunicorn on PostgreSQL, killed and restarted.

A runner killed with SIGKILL at any moment (mid-batch included) leaves its views at the
last batch it committed; restarted, it resumes there, and the views end up exactly as a
rebuild from zero makes them. A second runner stands by while the first leads, and takes
over when the first dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from service.runner import VIEWS
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, contract_body
from tests.support.e2e import Server, Store, call, ledger, ledger_command

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CATCH_UP_SECONDS = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    cwd = tmp_path_factory.mktemp("ledger_e2e_runner")
    with postgres_schema("ledger_e2e") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        # Small batches: a kill then often lands inside a batch's transaction.
        env.update(LEDGER_DATABASE_URL=url, XDG_RUNTIME_DIR=str(cwd),
                   LEDGER_PROJECTION_BATCH_SIZE="7")
        assert ledger(env, cwd, "migrate").returncode == 0
        yield Store(url, url.rsplit("schema=", 1)[1], env, cwd)


def start_runner(store: Store, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([ledger_command(), "project"], env=store.env, cwd=store.cwd,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def write_contracts(server: Server, count: int) -> int:
    """Draft and activate contracts over HTTP; return the last position written."""
    position = 0
    for _ in range(count):
        title = f"Runner e2e {uuid.uuid4().hex[:8]}"
        drafted = call(server, "POST", "/v1/contracts", server.procurement,
                       contract_body(title=title))
        assert drafted.status_code == 201, drafted.text
        path = f"/v1/contracts/{drafted.json()['id']}"
        for version, (act, body) in enumerate(
                [("point-of-contact", POINT_OF_CONTACT), ("sla-metrics", SLA_METRIC),
                 ("exit-plan", EXIT_PLAN), ("activation", {"effective_date": "2026-01-01"})],
                start=1):
            response = call(server, "POST", f"{path}/{act}", server.procurement, body, version)
            assert response.status_code == 200, response.text
            position = int(response.headers["Ledger-Position"])
    return position


def positions(store: Store) -> dict[str, int]:
    with psycopg.connect(POSTGRES_URL) as conn:
        rows = conn.execute(
            f'SELECT v.view, t.notification_id FROM "{store.schema}".ledger_views v '
            f'JOIN "{store.schema}".ledger_view_tracking t '
            "ON t.view = v.view AND t.generation = v.generation").fetchall()
    return {view: int(position) for view, position in rows}


def wait_for_views(server: Server, position: int) -> None:
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while time.monotonic() < deadline:
        response = call(server, "GET", f"/v1/audit?changes=false&limit=1&min_position={position}",
                        server.auditor)
        if response.status_code == 200:
            return
        assert response.status_code == 503, response.text
    pytest.fail(f"the views did not reach position {position}")


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view's active generation, in a stable order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(POSTGRES_URL) as conn:
        for name, (view_class, _) in VIEWS.items():
            row = conn.execute(f'SELECT generation FROM "{store.schema}".ledger_views '
                               "WHERE view = %s", (name,)).fetchone()
            assert row is not None
            for table, definition in view_class.tables.items():
                order = ", ".join(str(i + 1) for i in range(len(definition.columns)))
                tables[f"{name}.{table}"] = conn.execute(
                    f'SELECT * FROM "{store.schema}"."view_{name}_{table}_g{row[0]}" '
                    f"ORDER BY {order}").fetchall()
    return tables


def test_a_killed_runner_resumes_and_its_views_equal_a_rebuild(store: Store,
                                                               server: Server) -> None:
    log = store.cwd / "runner.log"
    runner = start_runner(store, log)
    try:
        # Given a runner folding while commands arrive, killed with SIGKILL mid-way
        writer_done: list[int] = []
        writer = threading.Thread(target=lambda: writer_done.append(write_contracts(server, 12)))
        writer.start()
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while not any(positions(store).values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        kill(runner)
        writer.join()
        killed_at = positions(store)
        head = writer_done[0]
        assert min(killed_at.values()) < head, "the runner was killed before the end"
        assert max(killed_at.values()) > 0, "the runner had folded something"

        # When it is restarted
        runner = start_runner(store, log)
        wait_for_views(server, head)
        resumed = dump(store)
    finally:
        kill(runner)

    # Then its views equal a rebuild from zero, row for row
    rebuilt = ledger(store.env, store.cwd, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert dump(store) == resumed
    assert len(resumed["contracts.contracts"]) == 12
    with psycopg.connect(POSTGRES_URL) as conn:
        events = conn.execute(f'SELECT COUNT(*) FROM "{store.schema}".ledger_events').fetchone()
    assert events is not None
    assert len(resumed["audit.entries"]) == events[0], "every event has its audit entry"


def test_a_standby_runner_takes_over_when_the_leader_dies(store: Store, server: Server) -> None:
    log = store.cwd / "standby.log"
    leader = start_runner(store, log)
    time.sleep(1.0)  # the leader takes the lock first
    standby = start_runner(store, log)
    try:
        head = write_contracts(server, 1)
        wait_for_views(server, head)
        # When the leader dies, the standby leads: new events still reach the views
        kill(leader)
        head = write_contracts(server, 1)
        wait_for_views(server, head)
        assert min(positions(store).values()) >= head
    finally:
        kill(leader)
        kill(standby)
    assert requests.get(server.url("/readyz"), timeout=5).status_code == 200
