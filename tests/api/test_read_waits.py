"""Reading one's writes (?min_position=) cannot tie up the service: a position beyond the
ledger's head is refused at once, and only a bounded number of reads wait at once."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

import pytest
from flask import Flask

from service.app import create_app
from service.application import ContractLedger
from service.auth import create_api_key
from service.config import Settings
from service.runner import ProjectionRunner, build_projections, follower_for
from tests.support import Api

WAITERS = 2
READS = ["/v1/contracts", "/v1/vendors", "/v1/audit", "/v1/vendors/acme/scorecard"]


@pytest.fixture
def service(fresh_store_url: str, fresh_ledger: ContractLedger) -> Flask:
    """An app on a store of its own whose views nobody updates (no projection runner) and
    whose reads would wait long for them."""
    settings = Settings(database_url=fresh_store_url, read_wait_seconds=30.0,
                        read_waiters=WAITERS)
    return create_app(settings, fresh_ledger)


def as_role(app: Flask, role: str, vendor: str | None = None) -> Api:
    tables = app.extensions["ledger"].tables
    return Api(app.test_client(), create_api_key(tables, role, vendor)[1])


def in_threads(count: int, call: Any) -> tuple[ThreadPoolExecutor, list[Future[Any]]]:
    pool = ThreadPoolExecutor(count)
    return pool, [pool.submit(call) for _ in range(count)]


@pytest.mark.parametrize("path", READS)
def test_a_min_position_beyond_the_ledgers_head_is_refused_at_once(service: Flask,
                                                                    path: str) -> None:
    api = as_role(service, "procurement")
    head = int(api.draft().headers["Ledger-Position"])
    response = api.get(f"{path}?min_position={head + 1}")
    # Not a 503 after the 30 s wait: no write can have answered with that position.
    assert response.status_code == 422, response.json
    assert response.json["errors"] == [{"pointer": "/min_position",
                                        "detail": response.json["detail"]}]
    assert f"head (position {head})" in response.json["detail"]


def test_forty_waits_beyond_the_head_stall_nobody(service: Flask) -> None:
    """40 reads from one vendor token for a position no write has reached (they once held
    a worker thread each for the whole wait) are all answered, and an admin reads."""
    procurement, admin = as_role(service, "procurement"), as_role(service, "admin")
    vendor = as_role(service, "vendor", "acme")
    head = int(procurement.draft().headers["Ledger-Position"])
    pool, futures = in_threads(40, lambda: vendor.get(
        f"/v1/contracts?min_position={head + 1000}").status_code)
    with pool:
        statuses = [future.result(timeout=20) for future in futures]
    assert statuses == [422] * 40
    assert admin.get("/v1/vendors").status_code == 200


def test_only_a_bounded_number_of_reads_wait_at_once(service: Flask,
                                                     fresh_ledger: ContractLedger) -> None:
    """With the views behind, WAITERS reads wait for them; every other one is answered at
    once with a 503 to retry, while other requests are served."""
    procurement, admin = as_role(service, "procurement"), as_role(service, "admin")
    written = procurement.draft()
    position = int(written.headers["Ledger-Position"])
    extra = 4
    pool, futures = in_threads(WAITERS + extra, lambda: procurement.get(
        f"/v1/contracts?min_position={position}"))
    with pool:
        refused = []
        for future in as_completed(futures, timeout=20):  # well before the 30 s wait
            refused.append(future.result())
            if len(refused) == extra:
                break
        assert all(r.status_code == 503 for r in refused), [r.json for r in refused]
        assert all(r.json["type"] == "/problems/view-not-ready" and r.headers["Retry-After"]
                   and f"{WAITERS} reads are already waiting" in r.json["detail"]
                   for r in refused)
        waiting = [f for f in futures if not f.done()]
        assert len(waiting) == WAITERS
        # The waiting reads hold no one up.
        assert admin.get(f"/v1/contracts/{written.json['id']}").status_code == 200
        assert admin.get("/v1/vendors").status_code == 200
        # Once the views catch up, the waiting reads are answered with the write.
        runner = ProjectionRunner(fresh_ledger, build_projections(service.extensions["views"]),
                                  poll_interval=0.01)
        thread = runner.start(follower_for(fresh_ledger))
        try:
            answered = [future.result(timeout=30) for future in waiting]
        finally:
            runner.stop()
            thread.join(10)
    assert [r.status_code for r in answered] == [200] * WAITERS
    assert all(r.json["items"][0]["id"] == written.json["id"] for r in answered)
    # The bound is released: a read for a position the views reached is answered.
    assert procurement.get(f"/v1/contracts?min_position={position}").status_code == 200


def test_the_bound_is_configured_by_ledger_read_waiters() -> None:
    assert Settings.from_env({"LEDGER_READ_WAITERS": "7"}).read_waiters == 7
    assert Settings.from_env({}).read_waiters == Settings.read_waiters



@pytest.mark.parametrize("path", READS)
def test_a_view_still_behind_after_the_wait_is_a_503_to_retry(
    fresh_store_url: str, fresh_ledger: ContractLedger, path: str,
) -> None:
    impatient = create_app(Settings(database_url=fresh_store_url, read_wait_seconds=0.05),
                           fresh_ledger)
    api = as_role(impatient, "procurement")
    position = int(api.draft().headers["Ledger-Position"])  # no runner: the views stay at 0
    response = api.get(f"{path}?min_position={position}")
    assert response.status_code == 503, response.json
    assert response.json["type"] == "/problems/view-not-ready"
    assert int(response.headers["Retry-After"]) >= 1
    assert (response.json["position"], response.json["min_position"]) == (0, position)
