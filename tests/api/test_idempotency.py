"""Idempotency-Key: a retried request returns the first result and records nothing twice."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from flask import Flask

from service.application import ContractLedger
from service.auth import hash_token
from service.http.plumbing import _fingerprint
from tests.support import POINT_OF_CONTACT, Api, contract_body


def count_events(api: Api, contract_id: str) -> int:
    return len(api.get(f"/v1/contracts/{contract_id}/events").json["events"])


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def test_a_retried_draft_returns_the_first_response_and_creates_nothing(api: Api) -> None:
    key = f"draft-{time.time_ns()}"
    first = api.post("/v1/contracts", contract_body(), headers=keyed(key))
    retry = api.post("/v1/contracts", contract_body(), headers=keyed(key))
    assert first.status_code == retry.status_code == 201
    assert retry.json == first.json
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Ledger-Position"] == first.headers["Ledger-Position"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_a_retried_command_answers_as_before_even_after_later_writes(api: Api) -> None:
    contract_id = api.draft().json["id"]
    key = f"poc-{time.time_ns()}"
    path = f"/v1/contracts/{contract_id}/point-of-contact"
    first = api.post(path, POINT_OF_CONTACT, version=1, headers=keyed(key))
    api.post(path, {**POINT_OF_CONTACT, "name": "Someone else"}, version=2)
    retry = api.post(path, POINT_OF_CONTACT, version=1, headers=keyed(key))
    assert retry.status_code == 200
    assert retry.headers["ETag"] == '"2"'
    assert retry.json == first.json
    assert count_events(api, contract_id) == 3


def test_the_same_key_with_another_body_is_a_422(api: Api) -> None:
    key = f"reuse-{time.time_ns()}"
    api.post("/v1/contracts", contract_body(), headers=keyed(key))
    response = api.post("/v1/contracts", contract_body(title="Another"), headers=keyed(key))
    assert response.status_code == 422
    assert response.json["type"] == "/problems/idempotency-key-reused"


def test_the_same_key_in_flight_is_a_409(app: Flask, api: Api) -> None:
    ledger: ContractLedger = app.extensions["ledger"]
    key = f"inflight-{time.time_ns()}"
    body = json.dumps(contract_body())
    # Given a request with this key is being processed (claimed, not completed)
    principal = ledger.tables.find_api_key(hash_token(api.token or ""))
    assert principal is not None
    with app.test_request_context("/v1/contracts", method="POST", data=body):
        fingerprint = _fingerprint()
    assert ledger.tables.claim_idempotency_key(
        principal["key_id"], key, fingerprint, time.time(), 30) is None
    # When the same request arrives again
    response = api.client.post("/v1/contracts", data=body, headers=api.headers(
        {"Content-Type": "application/json", **keyed(key)}))
    # Then it is told to retry later, and nothing is recorded
    assert response.status_code == 409
    assert response.json["type"] == "/problems/idempotency-key-in-flight"
    assert response.headers["Retry-After"]


def test_a_failed_request_frees_its_key_for_a_corrected_retry(api: Api) -> None:
    contract_id = api.draft().json["id"]
    key = f"fail-{time.time_ns()}"
    path = f"/v1/contracts/{contract_id}/point-of-contact"
    stale = api.post(path, POINT_OF_CONTACT, version=9, headers=keyed(key))
    assert stale.status_code == 412
    retry = api.post(path, POINT_OF_CONTACT, version=9, headers=keyed(key))
    assert retry.status_code == 412  # re-evaluated, not replayed
    assert count_events(api, contract_id) == 1


def test_keys_belong_to_their_principal(api: Api, as_role) -> None:  # type: ignore[no-untyped-def]
    key = f"shared-{time.time_ns()}"
    mine = api.post("/v1/contracts", contract_body(), headers=keyed(key))
    theirs = as_role("admin").post("/v1/contracts", contract_body(), headers=keyed(key))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json["id"] != theirs.json["id"]


def test_a_malformed_key_is_a_400(api: Api) -> None:
    response = api.post("/v1/contracts", contract_body(), headers=keyed("x" * 300))
    assert response.status_code == 400


def test_concurrent_retries_with_one_key_record_one_contract(app: Flask, api: Api) -> None:
    key = f"storm-{time.time_ns()}"
    start = Barrier(16)

    def send(_: int):  # type: ignore[no-untyped-def]
        client = Api(app.test_client(), api.token)
        start.wait()
        return client.post("/v1/contracts", contract_body(), headers=keyed(key))

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(send, range(16)))
    created = {r.json["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert {r.status_code for r in responses} <= {201, 409}


def test_a_request_that_outlives_its_claim_records_nothing(app: Flask, api: Api) -> None:
    # Given a request that claimed a key long ago (its worker stalled past the lease)
    ledger: ContractLedger = app.extensions["ledger"]
    principal = ledger.tables.find_api_key(hash_token(api.token or ""))
    assert principal is not None
    key = f"stalled-{time.time_ns()}"
    body = json.dumps(contract_body())
    with app.test_request_context("/v1/contracts", method="POST", data=body):
        fingerprint = _fingerprint()
    assert ledger.tables.claim_idempotency_key(principal["key_id"], key, fingerprint,
                                               time.time() - 3600, 30) is None
    # When a retry arrives, it takes the key over and records the contract once
    retry = api.client.post("/v1/contracts", data=body, headers=api.headers(
        {"Content-Type": "application/json", **keyed(key)}))
    assert retry.status_code == 201
    again = api.client.post("/v1/contracts", data=body, headers=api.headers(
        {"Content-Type": "application/json", **keyed(key)}))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == retry.json["id"]
