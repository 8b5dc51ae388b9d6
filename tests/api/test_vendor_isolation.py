"""Another vendor's contract looks exactly like a contract that does not exist, whatever
the operation, its query, its headers and its body: every operation openapi.yaml lists
that names a contract is asked both ways by a vendor token, and answers the same."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from service.auth import create_api_key
from tests.support import POINT_OF_CONTACT, SLA_METRIC, Api

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
PERIOD = "2026-01"
PENALTY_RULE = {
    "kind": "penalty", "rule_id": "availability-credit", "metric_id": "availability",
    "tiers": [{"threshold": "99.9", "percent": "5"}], "effective_from": "2026-01-01"}
EXIT_PLAN = {"steps": [{"step_id": "handover", "description": "Hand over", "mandatory": True}],
             "budget": {"amount": "50000.00", "currency": "EUR"},
             "transition_period_days": 90, "data_return": "exported as JSON"}
# Query values each operation is asked with, one parameter at a time and a few together;
# a parameter named here by no operation is asked with its spec example instead.
SAMPLES: dict[str, list[str]] = {
    "version": ["1", "2", "9999"],
    "as_of": ["2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"],
    "as_of_date": ["2026-06-01"],
    "effective_on": ["2026-03-01", "1990-01-01"],
    "after": ["0", "1", "9999"],
    "limit": ["1"],
    "actor": ["someone"],
    "type": ["ContractDrafted"],
    "recorded_from": ["2000-01-01T00:00:00Z"],
    "recorded_to": ["2100-01-01T00:00:00Z"],
    "changes": ["false"],
}
COMBINATIONS = [{"version": "1", "effective_on": "2026-03-01"},
                {"as_of": "2100-01-01T00:00:00Z", "effective_on": "2026-03-01"},
                {"version": "2", "as_of_date": "2026-06-01"}]


@pytest.fixture(scope="module")
def spec(app: Flask) -> dict[str, Any]:
    """The contract as the service publishes it: new routes are covered as they appear."""
    response = app.test_client().get("/openapi.yaml")
    assert response.status_code == 200
    return yaml.safe_load(response.get_data(as_text=True))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def foreign(app: Flask, runner: Any, spec: dict[str, Any]) -> dict[str, str]:
    """An acme contract with something behind every path id: rules, an assessed penalty, a
    finding with an action, a proposal and a fired trigger; with those ids."""
    api = Api(app.test_client(), create_api_key(app.extensions["ledger"].tables,
                                                "procurement")[1])
    contract_id = api.post("/v1/contracts", {
        "title": "Acme network", "vendor": {"vendor_id": "acme", "name": "Acme"},
        "service_scope": "network", "sourcing_model": "managed_service",
        "delivery_location": "nearshore", "value": {"amount": "1200000.00", "currency": "EUR"},
        "term": {"start": "2026-01-01", "end": "2028-12-31", "notice_period_days": 90,
                 "renewal": "optional"}}).json["id"]
    version = 1
    for act, body in [
        ("point-of-contact", POINT_OF_CONTACT), ("sla-metrics", SLA_METRIC),
        ("exit-plan", EXIT_PLAN), ("activation", {"effective_date": "2026-01-01"}),
        ("rules", PENALTY_RULE),
        ("performance-reports", {"period": PERIOD, "source": "monitoring",
                                 "values": [{"metric_id": "availability", "value": "99"}]}),
        ("health-checks", {"check_id": "check-1", "conducted_on": "2026-02-01",
                           "assessors": ["Ana"], "scope": "all", "overall_rating": "amber",
                           "findings": [{"finding_id": "finding-1", "category": "security",
                                         "severity": "high", "description": "Patching",
                                         "owner": "Acme", "due_date": "2026-06-30"}]}),
        ("findings/finding-1/corrective-actions", {
            "action_id": "action-1", "description": "Patch", "owner": "Acme",
            "due_date": "2026-05-31"}),
        ("improvement-proposals", {"proposal_id": "proposal-1", "title": "Self-service",
                                   "expected_benefit": "fewer tickets"}),
        ("exit-triggers", {"trigger_id": "manual-1", "kind": "manual", "reason": "trust"}),
    ]:
        response = api.post(f"/v1/contracts/{contract_id}/{act}", body, version=version)
        assert response.status_code == 200, (act, response.json)
        version = response.json["version"]
    penalty = api.get(f"/v1/contracts/{contract_id}/credits").json["penalties"][0]
    ledger = app.extensions["ledger"]
    head = ledger.recorder.max_notification_id()
    for view in app.extensions["views"].values():
        view.wait_for(head, 30)
    return {"contract_id": contract_id, "version": str(version), "head": str(head),
            "rule_id": PENALTY_RULE["rule_id"], "penalty_id": penalty["penalty_id"],
            "finding_id": "finding-1", "action_id": "action-1", "proposal_id": "proposal-1",
            "trigger_id": "manual-1", "step_id": "handover", "period": PERIOD}


def _parameters(spec: dict[str, Any], operation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for parameter in operation.get("parameters", []):
        ref = parameter.get("$ref", "").rsplit("/", 1)[-1]
        yield spec["components"]["parameters"].get(ref, parameter)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation whose path or query names a contract."""
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            names = {p["name"] for p in _parameters(spec, operation)}
            if "{contract_id}" in path or "contract" in names:
                found.append((method.upper(), path, operation))
    return found


def _example_body(spec: dict[str, Any], operation: dict[str, Any]) -> Any:
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if media is None:
        return None
    if "examples" in media:
        return next(iter(media["examples"].values()))["value"]
    if "example" in media:
        return media["example"]
    ref = media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
    return spec["components"]["schemas"].get(ref, {}).get("example", {})


def _forged_cursor(path: str, key: Any) -> str:
    # Cursors are opaque but not signed: a vendor can make one for any contract's list.
    fingerprint = hashlib.sha256(json.dumps([path, [["changes", "True"]]]).encode())
    document = {"k": key, "q": fingerprint.hexdigest()[:16]}
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def _queries(spec: dict[str, Any], operation: dict[str, Any],
             ids: dict[str, str]) -> list[dict[str, str]]:
    names = [p["name"] for p in _parameters(spec, operation) if p["in"] == "query"]
    samples = {**SAMPLES, "min_position": ["1", ids["head"], str(int(ids["head"]) + 1000)],
               "cursor": ["{cursor}"], "contract": ["{contract_id}"]}
    queries: list[dict[str, str]] = [{}]
    for parameter in _parameters(spec, operation):
        if parameter["in"] != "query" or parameter["name"] == "contract":
            continue
        values = samples.get(parameter["name"])
        if values is None:
            example = parameter.get("example", parameter.get("schema", {}).get("example"))
            values = [] if example is None else [str(example)]
        queries += [{parameter["name"]: value} for value in values]
    queries += [q for q in COMBINATIONS if set(q) <= set(names)]
    if "contract" in names:
        queries = [{**q, "contract": "{contract_id}"} for q in queries]
    return queries


def _ask(client: FlaskClient, token: str, method: str, url: str, body: Any,
         headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    response = client.open(url, method=method, json=body,
                           headers={"Authorization": f"Bearer {token}", **headers})
    answer = response.get_data(as_text=True)
    kept = {k: v for k, v in response.headers.items() if k not in ("X-Request-ID",)}
    return response.status_code, answer, kept


def _requests(spec: dict[str, Any], ids: dict[str, str]
              ) -> Iterator[tuple[str, str, str, Any, dict[str, str]]]:
    for method, path, operation in _operations(spec):
        template = path
        for name, value in ids.items():
            if name != "contract_id":
                template = template.replace("{" + name + "}", value)
        assert "{" not in template.replace("{contract_id}", ""), f"no id for {path}"
        if method == "GET":
            for query in _queries(spec, operation, ids):
                text = "&".join(f"{k}={v}" for k, v in query.items())
                yield method, path, template + (f"?{text}" if text else ""), None, {}
            continue
        body = _example_body(spec, operation)
        for if_match in (f'"{ids["version"]}"', '"1"', "*"):
            yield method, path, template, body, {"If-Match": if_match}
        yield method, path, template, body, {"If-Match": f'"{ids["version"]}"',
                                             "Idempotency-Key": "{key}"}


def test_every_operation_on_another_vendors_contract_answers_as_on_no_contract(
    app: Flask, spec: dict[str, Any], foreign: dict[str, str], tokens: Any,
) -> None:
    client = app.test_client()
    globex = tokens.vendors["globex"]
    acme = tokens.vendors["acme"]
    asked = set()
    for method, path, template, body, headers in _requests(spec, foreign):
        answers = []
        for contract_id in (foreign["contract_id"], str(uuid.uuid4())):
            url = template.replace("{contract_id}", contract_id)
            url = url.replace("{cursor}", _forged_cursor(url.split("?")[0], 1))
            sent = {k: v.replace("{key}", uuid.uuid4().hex) for k, v in headers.items()}
            status, text, response_headers = _ask(client, globex, method, url, body, sent)
            # The id itself is the only difference the two answers may have.
            answers.append((status, text.replace(contract_id, "<id>"),
                            {k: v.replace(contract_id, "<id>")
                             for k, v in response_headers.items()}))
        assert answers[0] == answers[1], (method, url, answers)
        assert answers[0][0] >= 400, (method, url, answers[0])
        asked.add((method, path))
    assert asked == {(m, p) for m, p, _ in _operations(spec)}
    # The contract is there: its own vendor reads it.
    own = _ask(client, acme, "GET", f"/v1/contracts/{foreign['contract_id']}?version=2",
               None, {})
    assert own[0] == 200


@pytest.mark.parametrize("query", ["version=2", "version=9999", "as_of=2000-01-01T00:00:00Z",
                                   "as_of=2100-01-01T00:00:00Z", "effective_on=1990-01-01"])
def test_a_foreign_contracts_versions_and_draft_instant_do_not_leak(
    api: Api, as_vendor: Callable[[str], Api], query: str,
) -> None:
    """Regression: ?version= and ?as_of= were answered before the vendor scope, with
    messages that told the contract's current version and when it was drafted."""
    contract_id = api.draft().json["id"]  # acme's, at version 1
    unknown = str(uuid.uuid4())
    foreign = as_vendor("globex").get(f"/v1/contracts/{contract_id}?{query}")
    nothing = as_vendor("globex").get(f"/v1/contracts/{unknown}?{query}")
    assert foreign.status_code == nothing.status_code == 404
    assert foreign.json == {**nothing.json,
                            "detail": nothing.json["detail"].replace(unknown, contract_id)}
