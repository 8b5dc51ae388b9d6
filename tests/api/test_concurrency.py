"""Concurrent writers: one winner per version, and no update is ever lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from flask import Flask

from tests.conftest import Tokens
from tests.support import Api

WRITERS = 32


def amend(app: Flask, token: str, contract_id: str, version: int, n: int):  # type: ignore[no-untyped-def]
    writer = Api(app.test_client(), token)
    return writer.post(f"/v1/contracts/{contract_id}/amendments", {
        "changes": {"title": f"Title by writer {n}"}, "rationale": f"writer {n}",
        "effective_date": "2026-06-01"}, version=version)


def test_same_if_match_from_32_threads_exactly_one_wins(app: Flask, api: Api,
                                                        tokens: Tokens) -> None:
    contract_id = api.active_contract()
    token = tokens.by_role["procurement"]
    start = Barrier(WRITERS)

    def race(n: int) -> int:
        start.wait()
        return amend(app, token, contract_id, 5, n).status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(race, range(WRITERS)))
    assert statuses.count(200) == 1
    assert statuses.count(412) == WRITERS - 1
    assert api.get(f"/v1/contracts/{contract_id}").json["version"] == 6


def test_writers_that_retry_on_412_lose_no_update(app: Flask, api: Api, tokens: Tokens) -> None:
    contract_id = api.active_contract()
    token = tokens.by_role["procurement"]
    start = Barrier(WRITERS)

    def persist(n: int) -> int:
        reader = Api(app.test_client(), token)
        start.wait()
        for attempt in range(1, 200):
            version = int(reader.get(f"/v1/contracts/{contract_id}").headers["ETag"].strip('"'))
            response = amend(app, token, contract_id, version, n)
            if response.status_code == 200:
                return attempt
            assert response.status_code == 412, response.json
        raise AssertionError("writer never got through")

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(persist, range(WRITERS)))
    contract = api.get(f"/v1/contracts/{contract_id}").json
    assert contract["version"] == 5 + WRITERS
    assert sorted(a["rationale"] for a in contract["amendments"]) == sorted(
        f"writer {n}" for n in range(WRITERS))
    versions = [e["version"] for e in api.get(
        f"/v1/contracts/{contract_id}/events?limit=1000").json["events"]]
    assert versions == list(range(1, 6 + WRITERS))


def test_concurrent_commands_on_different_contracts_all_commit(app: Flask, api: Api,
                                                               tokens: Tokens) -> None:
    contracts = [api.active_contract() for _ in range(8)]
    token = tokens.by_role["procurement"]
    start = Barrier(len(contracts))

    def write(contract_id: str) -> int:
        start.wait()
        return amend(app, token, contract_id, 5, 0).status_code

    with ThreadPoolExecutor(len(contracts)) as pool:
        assert list(pool.map(write, contracts)) == [200] * len(contracts)
