"""openapi.yaml is the public contract: it is valid, it names exactly the routes the app
serves, and the app's answers (to generated requests, good and bad) conform to it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from uuid import uuid4

import pytest
import schemathesis
import yaml
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import TestResponse

from domain import exceptions
from domain.credits import MissingData, TriggerKind
from domain.governance import (
    CadenceKind,
    FindingCategory,
    HealthRating,
    IntervalUnit,
    ProposalDecision,
    ReviewKind,
    Severity,
)
from domain.history import EVENT_TYPES
from domain.money import MINOR_UNITS
from domain.values import (
    ContractStatus,
    DeliveryLocation,
    Direction,
    MeasurementPeriod,
    Provenance,
    RenewalOption,
    ServiceScope,
    SourcingModel,
)
from service.application import ContractLedger
from service.auth import ROLES, create_api_key
from service.http.operations import STATIC_DIR
from service.http.problems import PROBLEM_BASE, PROBLEM_TYPES
from service.http.schemas.views import CONTRACT_SORTS
from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, Api, walk

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
CONTRACT_PATH = re.compile(r"\{contract_id\}")

# Few examples per operation keep the file fast. Every operation still gets its explicit
# examples, the coverage phase (boundary values, missing and malformed parameters, wrong
# methods) and fuzzing with valid and invalid (schema-violating) requests.
MAX_EXAMPLES = 25
CONFIG = schemathesis.Config.from_dict({
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"coverage": {"enabled": True}, "stateful": {"enabled": False}},
})


@schemathesis.check
def not_a_server_error_but_a_view_behind(ctx: Any, response: Any,
                                         case: schemathesis.Case) -> bool | None:
    """not_a_server_error, but for the documented 503 of a view behind a generated
    min_position (view-not-ready): the API's answer when the view cannot read that write."""
    if response.status_code == 503 and response.headers.get("content-type", [""])[0] \
            .startswith("application/problem+json") \
            and response.json().get("type") == PROBLEM_BASE + "view-not-ready":
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    not_a_server_error_but_a_view_behind,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
HYPOTHESIS_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)

schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)


def _on_sqlite(app: Flask) -> None:
    # The generated requests are the same on both stores: fuzz once, on the faster one.
    if not app.config["LEDGER_SETTINGS"].database_url.startswith("sqlite"):
        pytest.skip("fuzzed on SQLite only")


def _flask_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _spec_operations() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in SPEC["paths"].items()
            for method in item if method in HTTP_METHODS}


def _enum(name: str) -> list[Any]:
    return list(SPEC["components"]["schemas"][name]["enum"])


# -- the document itself ---------------------------------------------------------------

def test_spec_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(SPEC).validate()


def test_every_route_is_documented_and_every_documented_operation_is_routed(app: Flask) -> None:
    routes = {(_flask_path(rule.rule), method)
              for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    spec = _spec_operations()
    assert sorted(routes - spec) == [], "routes missing from openapi.yaml"
    assert sorted(spec - routes) == [], "operations in openapi.yaml that no route serves"


ACT_STATUSES = {"200", "400", "401", "403", "404", "409", "412", "413", "415", "422", "428",
                "429", "503"}


def test_every_operation_has_an_id_and_public_ones_need_no_token() -> None:
    public = {"/healthz", "/readyz", "/openapi.yaml", "/docs", "/docs/{filename}",
              "/problems/{slug}"}
    ids = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            ids.append(operation["operationId"])
            assert (operation.get("security") == []) == (path in public), (method, path)
            if method == "post":
                names = {p.get("$ref", "").rsplit("/", 1)[-1] for p in operation["parameters"]}
                assert "IdempotencyKey" in names, path
                assert ("IfMatch" in names) == (path != "/v1/contracts"), path
                if path != "/v1/contracts":  # an act: every answer any act can give
                    assert set(operation["responses"]) == ACT_STATUSES, path
    assert len(ids) == len(set(ids))


def test_spec_vocabulary_matches_the_domain() -> None:
    assert sorted(_enum("Currency")) == sorted(MINOR_UNITS)
    for name, enum in [("ServiceScope", ServiceScope), ("SourcingModel", SourcingModel),
                       ("DeliveryLocation", DeliveryLocation), ("RenewalOption", RenewalOption),
                       ("Direction", Direction), ("MeasurementPeriod", MeasurementPeriod),
                       ("ContractStatus", ContractStatus), ("TriggerKind", TriggerKind),
                       ("FindingCategory", FindingCategory), ("Severity", Severity),
                       ("HealthRating", HealthRating), ("ReviewKind", ReviewKind),
                       ("CadenceKind", CadenceKind), ("IntervalUnit", IntervalUnit),
                       ("ProposalDecision", ProposalDecision)]:
        assert _enum(name) == [member.value for member in enum], name
    assert _enum("Role") == list(ROLES)
    schemas = SPEC["components"]["schemas"]
    assert schemas["PenaltyRuleVersion"]["properties"]["missing_data"]["enum"] == [
        member.value for member in MissingData]
    for name in ("PenaltyRuleRequest", "RuleChangesInput"):
        assert schemas[name]["properties"]["missing_data"]["enum"] == [
            member.value for member in MissingData], name
    # Every named domain error answers 409 naming its rule, but these three: 422 and 404.
    answered_otherwise = {exceptions.InvalidValue, exceptions.InvalidTerm,
                          exceptions.ContractNotFound}
    assert _enum("BusinessRule") == [
        name for name, kind in vars(exceptions).items()
        if isinstance(kind, type) and issubclass(kind, exceptions.ContractError)
        and kind is not exceptions.ContractError and kind not in answered_otherwise]
    assert sorted(_enum("EventType")) == sorted(EVENT_TYPES)
    sort = next(p for p in SPEC["paths"]["/v1/contracts"]["get"]["parameters"]
                if p.get("name") == "sort")
    assert sorted(sort["schema"]["enum"]) == sorted(CONTRACT_SORTS)


def test_spec_documents_every_problem_type() -> None:
    assert sorted(_enum("ProblemSlug")) == sorted(PROBLEM_TYPES)
    assert sorted(_enum("ProblemTypeUri")) == sorted(PROBLEM_BASE + s for s in PROBLEM_TYPES)
    documented = {p["slug"]: (p["status"], p["title"], p["description"], p["type"])
                  for p in SPEC["x-problem-types"]}
    assert documented == {slug: (status, title, description, PROBLEM_BASE + slug)
                          for slug, (status, title, description) in PROBLEM_TYPES.items()}
    for slug, (status, _, _) in PROBLEM_TYPES.items():
        assert f"| `{slug}` | {status} |" in SPEC["info"]["description"], slug


# -- serving the contract and the docs -------------------------------------------------

def _fetch(app: Flask, path: str) -> tuple[int, str | None, bytes]:
    # Close the response: static files are streamed from an open file.
    with app.test_client().get(path) as response:
        return response.status_code, response.mimetype, response.get_data()


def test_openapi_yaml_is_served_as_is(app: Flask) -> None:
    assert _fetch(app, "/openapi.yaml") == (200, "application/yaml", SPEC_PATH.read_bytes())


def test_docs_are_served_without_any_cdn(app: Flask) -> None:
    status, mimetype, body = _fetch(app, "/docs")
    assert (status, mimetype) == (200, "text/html")
    html = body.decode()
    assert not re.search(r"https?://", html, re.IGNORECASE)
    assets = re.findall(r'(?:src|href)="(/docs/[^"]+)"', html)
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/docs.js"} <= set(assets)
    for asset in assets:
        status, _, body = _fetch(app, asset)
        assert status == 200, asset
        assert body == (STATIC_DIR / asset.removeprefix("/docs/")).read_bytes()
    init = (STATIC_DIR / "docs.js").read_text()
    assert '"/openapi.yaml"' in init
    assert "validatorUrl: null" in init  # no call to the public validator either
    assert not re.search(r"https?://", init, re.IGNORECASE)


# -- the app's answers conform to the contract ------------------------------------------

class _ClosingClient(FlaskClient):
    """Buffers and closes every response (static files are streamed from open files)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        response.get_data()
        response.close()
        return response


@pytest.fixture(scope="module")
def fuzz_client(app: Flask) -> FlaskClient:
    return _ClosingClient(app, app.response_class, use_cookies=False)


@pytest.fixture(scope="module")
def quick_views(app: Flask, request: pytest.FixtureRequest) -> Iterator[None]:
    """The views kept up to date (the answers have items to conform), and a generated
    min_position beyond the ledger answered 503 at once rather than after the 2 s wait."""
    _on_sqlite(app)
    request.getfixturevalue("runner")  # started here: on SQLite only
    settings = app.config["LEDGER_SETTINGS"]
    app.config["LEDGER_SETTINGS"] = replace(settings, read_wait_seconds=0.01)
    yield
    app.config["LEDGER_SETTINGS"] = settings


@pytest.fixture(scope="module")
def fuzz_api(app: Flask, quick_views: None) -> Api:
    """A procurement key of its own: generated Idempotency-Keys clash with no other test's."""
    _on_sqlite(app)
    _, token = create_api_key(app.extensions["ledger"].tables, "procurement",
                              label="openapi conformance")
    return Api(app.test_client(), token)


def _distinct_idempotency_key(case: schemathesis.Case) -> None:
    # Hypothesis draws the same few keys again and again; tie each to its request so that a
    # repeat is a true retry (answered by a replay), not a reuse answered 422 every time.
    key: Any = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and re.fullmatch(r"[\x21-\x7e]{1,200}", key):
        request = (case.formatted_path, case.body)
        digest = hashlib.sha256(repr(request).encode()).hexdigest()[:16]
        case.headers["Idempotency-Key"] = f"{key}.{digest}"  # type: ignore[index]


def _call_and_validate(case: schemathesis.Case, app: Flask, client: FlaskClient,
                       api: Api) -> int:
    _distinct_idempotency_key(case)
    response = case.call_and_validate(app=app, session=client, headers=api.headers(),
                                      checks=CHECKS)
    return response.status_code


PAGED = {"/v1/contracts", "/v1/vendors", "/v1/audit", "/v1/contracts/{contract_id}/audit"}


def _aim_at_views(case: schemathesis.Case, app: Flask, client: FlaskClient, api: Api,
                  contract_id: str) -> None:
    """Mostly a vendor with contracts for the scorecard, an existing contract for the
    audit, a min_position the views have reached and a cursor this API issued for the same
    query (its next page), so that scorecards, audit timelines, reads of one's writes and
    later pages are read too."""
    params = case.path_parameters
    if params and "vendor_id" in params and not _keep_generated(params["vendor_id"]):
        params["vendor_id"] = "acme"  # the vendor of tests.support.contract_body
    query: Any = case.query
    if case.method != "GET" or not isinstance(query, dict):
        return
    if isinstance(query.get("contract"), str) and not _keep_generated(query["contract"]):
        query["contract"] = contract_id
    reached = query.get("min_position")
    if isinstance(reached, int) and not isinstance(reached, bool) \
            and not _keep_generated(reached):
        query["min_position"] = min(view.position() for view in app.extensions["views"].values())
    if case.operation.path not in PAGED or "cursor" not in query \
            or _keep_generated(query["cursor"]):
        return
    first = case.operation.Case(
        path_parameters=case.path_parameters, headers=case.headers,
        query={**{k: v for k, v in query.items() if k not in ("cursor", "min_position")},
               "limit": 1})
    response = first.call(app=app, session=client, headers=api.headers())
    if response.status_code != 200:
        return
    if response.json()["next_cursor"] is None:
        del query["cursor"]  # a single page: read it
    else:
        query["cursor"] = response.json()["next_cursor"]


@schema.exclude(path_regex=CONTRACT_PATH.pattern).parametrize()
@HYPOTHESIS_SETTINGS
def test_every_operation_conforms(case: schemathesis.Case, app: Flask, fuzz_client: FlaskClient,
                                  fuzz_api: Api, seeded_views: str) -> None:
    """The operations on no existing contract; the contract's own are fuzzed further down."""
    _aim_at_views(case, app, fuzz_client, fuzz_api, seeded_views)
    _call_and_validate(case, app, fuzz_client, fuzz_api)


def _example_body(operation: dict[str, Any]) -> Any:
    media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "examples" in media:
        return next(iter(media["examples"].values()))["value"]
    ref = media.get("schema", {}).get("$ref", "")
    return SPEC["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}).get("example", {})


def _example_path(path: str, operation: dict[str, Any], contract_id: str) -> str:
    examples = {"contract_id": contract_id}
    for parameter in operation["parameters"]:
        parameter = SPEC["components"]["parameters"].get(
            parameter.get("$ref", "").rsplit("/", 1)[-1], parameter)
        if "example" in parameter:
            examples.setdefault(parameter["name"], parameter["example"])
        elif "examples" in parameter:
            examples.setdefault(parameter["name"],
                                next(iter(parameter["examples"].values()))["value"])
    return re.sub(r"\{(\w+)\}", lambda match: examples[match.group(1)], path)


def test_every_contract_operation_answers_404_for_an_unknown_contract(
    fuzz_client: FlaskClient, fuzz_admin: Api,
) -> None:
    """With its documented example request: the contract operations are fuzzed on existing
    contracts only, so their 404 is checked here (for unknown and malformed ids)."""
    headers = fuzz_admin.headers({"If-Match": '"1"'})
    for path, method in sorted(_spec_operations()):
        if not CONTRACT_PATH.search(path):
            continue
        operation = SPEC["paths"][path][method.lower()]
        body = _example_body(operation) if method == "POST" else None
        for contract_id in (str(uuid4()), "not-a-uuid"):
            url = _example_path(path, operation, contract_id)
            response = fuzz_client.open(url, method=method, headers=headers, json=body)
            assert response.status_code == 404, (method, url, response.json)
            schema[path][method].validate_response(response)


# Terms so long that most generated dates fall within them; renewals start from an end so
# early that most generated new ends are later (and need an override: the notice deadline
# has passed).
WIDE_TERM = {"start": "1900-01-01", "end": "9999-12-31", "notice_period_days": 90,
             "renewal": "optional"}
RENEWABLE_TERM = {**WIDE_TERM, "end": "1900-12-31"}

# The contract's own operations are fuzzed on a contract fit for each (see SETUPS), with a
# metric of each measurement period and, as the operation needs: a penalty and an incentive
# rule on the monthly metric and a penalty assessed (disputed, for dispute resolutions); a
# finding with a corrective action; an improvement proposal (accepted, for
# implementations); a manual exit trigger fired; the exit initiated (a step started, for
# completions). The term ends a year early, so that periods stay inside it.
PERFORMANCE_TERM = {**WIDE_TERM, "end": "9998-12-31"}
PERFORMANCE_METRICS = (
    SLA_METRIC,  # availability, monthly
    {"metric_id": "response-time", "name": "Incident response time", "unit": "minutes",
     "direction": "lower_is_better", "target": "30", "measurement_period": "weekly"},
    {"metric_id": "satisfaction", "name": "User satisfaction", "unit": "score",
     "direction": "higher_is_better", "target": "4", "measurement_period": "quarterly"},
)
METRIC_BY_PERIOD_FORM = {"W": "response-time", "Q": "satisfaction", "": "availability"}
PENALTY_RULE = {
    "kind": "penalty", "rule_id": "availability-credit", "metric_id": "availability",
    "tiers": [{"threshold": "99.9", "percent": "5"}, {"threshold": "99.5", "percent": "10"}],
    "period_cap": {"percent_of_fee": "10"}, "earn_back_periods": 1, "missing_data": "breach",
    "effective_from": "1900-01-01",
}
INCENTIVE_RULE = {
    "kind": "incentive", "rule_id": "availability-bonus", "metric_id": "availability",
    "tiers": [{"threshold": "99.99", "percent": "2"}], "consecutive_periods": 2,
    "effective_from": "1900-01-01",
}
RULE_IDS = (PENALTY_RULE["rule_id"], INCENTIVE_RULE["rule_id"])
HEALTH_CHECK = {
    "check_id": "check-1", "conducted_on": "1900-06-30", "assessors": ["Ana"],
    "scope": "everything", "overall_rating": "amber",
    "findings": [{"finding_id": "finding-1", "category": "security", "severity": "critical",
                  "description": "Patching lags", "owner": "Acme", "due_date": "9998-12-31"}],
}
CORRECTIVE_ACTION = {"action_id": "action-1", "description": "Monthly patching",
                     "owner": "Acme", "due_date": "9998-12-31"}
PROPOSAL = {"proposal_id": "proposal-1", "title": "Self-service", "expected_benefit": "fewer"}
MANUAL_TRIGGER = {"trigger_id": "manual-1", "kind": "manual", "reason": "loss of trust"}
STEP_ID = "handover"  # a mandatory step of EXIT_PLAN
# What each family of operations needs on its contract, by the path that names them.
# What each family of operations (by the first segment after the contract) needs.
SETUPS = {
    "rules": "performance", "performance-reports": "performance", "periods": "performance",
    "penalties": "performance", "credits": "performance", "exit-triggers": "performance",
    "findings": "finding", "improvement-proposals": "proposal", "exit": "exit",
    "events": "everything", "": "everything",
}


@dataclass
class Target:
    """An existing contract fit for an operation, and the ids its path may name."""

    contract_id: str
    version: int
    ids: dict[str, str] = field(default_factory=dict)
    changed: bool = False  # by the last example: read it again before the next


def _act(api: Api, contract_id: str, version: int,
         acts: list[tuple[str, dict[str, Any]]]) -> int:
    for act, body in acts:
        response = api.post(f"/v1/contracts/{contract_id}/{act}", body, version=version)
        assert response.status_code == 200, (act, response.json)
        version = response.json["version"]
    return version


def _new_contract(api: Api, term: dict[str, Any], *, active: bool,
                  metrics: tuple[dict[str, Any], ...] = (SLA_METRIC,),
                  exit_plan: dict[str, Any] = EXIT_PLAN) -> Target:
    contract_id: str = api.draft(term=term).json["id"]
    acts = [("point-of-contact", POINT_OF_CONTACT),
            *(("sla-metrics", {**metric, "effective_from": term["start"]}) for metric in metrics),
            ("exit-plan", exit_plan)]
    if active:
        acts.append(("activation", {"effective_date": term["start"]}))
    return Target(contract_id, _act(api, contract_id, 1, acts))


def _setup(label: str) -> str:
    path = label.split(" ", 1)[1].removeprefix("/v1/contracts/{contract_id}")
    if path.endswith("/dismissal"):
        return "trigger"
    return SETUPS.get(path.split("/")[1] if path else "", "")


def _contract_for_family(api: Api, admin: Api, label: str) -> Target:
    setup = _setup(label)
    target = _new_contract(api, PERFORMANCE_TERM, active=True, metrics=PERFORMANCE_METRICS)
    acts: list[tuple[str, dict[str, Any]]] = []
    if setup in ("performance", "everything"):
        breach = {"period": "1900-01", "source": "monitoring",
                  "values": [{"metric_id": "availability", "value": "99"}]}
        acts += [("rules", PENALTY_RULE), ("rules", INCENTIVE_RULE),
                 ("performance-reports", breach)]
    if setup in ("finding", "everything"):
        acts += [("health-checks", HEALTH_CHECK),
                 ("findings/finding-1/corrective-actions", CORRECTIVE_ACTION)]
    if setup in ("proposal", "everything"):
        acts.append(("improvement-proposals", PROPOSAL))
        if label.endswith("/implementation"):
            acts.append(("improvement-proposals/proposal-1/decision",
                         {"decision": "accepted", "reason": "worth it"}))
    if setup in ("trigger", "exit", "everything"):
        acts.append(("exit-triggers", MANUAL_TRIGGER))
    if setup == "exit" and "/exit/" in label:
        acts.append(("exit", {"reason": "loss of trust", "trigger_id": "manual-1"}))
        if label.endswith("/completion"):
            acts.append((f"exit/steps/{STEP_ID}/start", {}))
    target.version = _act(api, target.contract_id, target.version, acts)
    target.ids = {"finding_id": "finding-1", "action_id": "action-1",
                  "proposal_id": "proposal-1", "trigger_id": "manual-1", "step_id": STEP_ID}
    if setup in ("performance", "everything"):
        credits = api.get(f"/v1/contracts/{target.contract_id}/credits").json
        target.ids["penalty_id"] = credits["penalties"][0]["penalty_id"]
        if label.endswith("/dispute-resolution"):
            target.version = _act(admin, target.contract_id, target.version, [
                (f"penalties/{target.ids['penalty_id']}/dispute", {"reason": "planned"})])
    return target


def _still_fits(api: Api, label: str, target: Target) -> bool:
    contract = api.get(f"/v1/contracts/{target.contract_id}").json
    target.version = contract["version"]
    path = label.split(" ", 1)[1]
    if contract["status"] != ("draft" if path.endswith("/activation") else "active"):
        return False
    if path.endswith("/renewal"):
        return not contract["renewals"]
    if "/rules/" in path:
        return all(rule["retired_from"] is None for rule in contract["rules"])
    if "/penalties/" in path:
        credits = api.get(f"/v1/contracts/{target.contract_id}/credits").json
        (penalty,) = (p for p in credits["penalties"]
                      if p["penalty_id"] == target.ids["penalty_id"])
        dispute = penalty["dispute"]
        if path.endswith("/dispute-resolution"):
            return dispute is not None and dispute["status"] == "open"
        return penalty["status"] == "assessed" and dispute is None
    if "/findings/" in path:
        finding = _named(contract["findings"], "finding_id", "finding-1")
        action = _named(finding["corrective_actions"], "action_id", "action-1")
        return finding["status"] == "open" and action["status"] != "completed"
    if "/improvement-proposals/" in path:
        proposal = _named(contract["improvement_proposals"], "proposal_id", "proposal-1")
        wanted = ("accepted",) if path.endswith("/implementation") else ("proposed", "deferred")
        return proposal["status"] in wanted
    if path.endswith(("/dismissal", "/exit")):
        trigger = _named(contract["exit_triggers"], "trigger_id", "manual-1")
        return contract["exit"] is None and any(f["status"] == "fired"
                                                for f in trigger["firings"])
    if "/exit/" in path:
        if contract["exit"] is None:
            return False
        if "/steps/" not in path:
            return True
        step = _named(contract["exit"]["steps"], "step_id", STEP_ID)
        return step["status"] == ("started" if path.endswith("/completion") else "pending")
    return True


def _named(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    return next(item for item in items if item[key] == value)


@pytest.fixture(scope="module")
def fuzz_admin(app: Flask, fuzz_api: Api) -> Api:
    """An admin key of its own: only admins (and vendors) dispute penalties and respond to
    findings, and only admins override an incomplete exit plan."""
    _, token = create_api_key(app.extensions["ledger"].tables, "admin",
                              label="openapi conformance")
    return Api(fuzz_api.client, token)


@pytest.fixture(scope="module")
def contract_for(fuzz_api: Api, fuzz_admin: Api) -> Callable[[str], Target]:
    """An existing contract fit for an operation, one per operation, replaced when an
    earlier example moved it out of the state the act needs."""
    current: dict[str, Target] = {}

    def fit(label: str) -> Target:
        target = current.get(label)
        if target is not None and (not target.changed or _still_fits(fuzz_api, label, target)):
            target.changed = False
            return target
        if _setup(label):
            target = _contract_for_family(fuzz_api, fuzz_admin, label)
        else:
            renewing = label.endswith("/renewal")
            target = _new_contract(fuzz_api, RENEWABLE_TERM if renewing else WIDE_TERM,
                                   active=not label.endswith("/activation"))
        current[label] = target
        return target

    return fit


@pytest.fixture(scope="module")
def seeded_views(app: Flask, fuzz_api: Api, fuzz_admin: Api) -> str:
    """Contracts of two vendors in the views, one with all a scorecard shows (SLA periods
    evaluated, a penalty, a finding, a review), so that the lists have further pages and
    the scorecard is read, whichever operations ran before: that one's id."""
    target = _contract_for_family(fuzz_api, fuzz_admin, "GET /v1/contracts/{contract_id}/events")
    _act(fuzz_api, target.contract_id, target.version, [("reviews", {
        "review_id": "q1", "kind": "scorecard", "held_on": "1900-04-05", "period": "1900-Q1",
        "attendees": ["Ana"], "scorecard": {p: {"score": 3, "comment": "fair"} for p in (
            "financial", "customer", "internal_process", "learning_growth")}})])
    _new_contract(fuzz_api, WIDE_TERM, active=True)
    fuzz_api.draft(vendor={"vendor_id": "globex", "name": "Globex"})
    head = app.extensions["ledger"].recorder.max_notification_id()
    for view in app.extensions["views"].values():
        view.wait_for(head, 30)
    return target.contract_id


def _keep_generated(value: Any) -> bool:
    # About one generated id in four is kept (an unknown one is a 409); the rest name the
    # contract's own.
    return hashlib.sha256(repr(value).encode()).digest()[0] < 64


def _rule_for(body: Any) -> str:
    changes = body.get("changes") if isinstance(body, dict) else None
    fields = set(changes) if isinstance(changes, dict) else set()
    penalty_only = bool(fields & {"earn_back_periods", "missing_data"})
    incentive_only = "consecutive_periods" in fields
    if penalty_only and incentive_only:
        return "no-such-rule"  # fits neither kind (a 422 either way; see the regressions)
    return INCENTIVE_RULE["rule_id"] if incentive_only else PENALTY_RULE["rule_id"]


def _aim_at(case: schemathesis.Case, target: Target) -> None:
    """Name the contract, its own rules, penalty, finding, action, proposal, trigger and
    exit step, and metrics it measures in such periods."""
    params = case.path_parameters = {**(case.path_parameters or {}),
                                     "contract_id": target.contract_id}
    for name, value in target.ids.items():
        if name in params and not _keep_generated(params[name]):
            params[name] = value
    if "rule_id" in params and (params["rule_id"] in RULE_IDS
                                or not _keep_generated(params["rule_id"])):
        params["rule_id"] = _rule_for(case.body)  # the rule of the kind the changes fit
    body: Any = case.body
    if not isinstance(body, dict):
        return
    if case.operation.path.endswith("/exit") and isinstance(body.get("trigger_id"), str) \
            and not _keep_generated(body["trigger_id"]):
        body["trigger_id"] = target.ids["trigger_id"]
    amount = body.get("amount")
    if case.operation.path.endswith("/exit/spend") and isinstance(amount, dict) \
            and re.search(r"[eE]\+?0*[0-9]{6}", str(amount.get("amount"))):
        amount["amount"] = "1.00"  # out of range: a 422 (see the regressions below)
    if case.operation.path.endswith("/performance-reports") \
            and isinstance(body.get("period"), str) and isinstance(body.get("values"), list):
        form = re.sub(r"[^WQ]", "", body["period"])[:1]
        for value in body["values"]:
            if isinstance(value, dict) and "metric_id" in value \
                    and not _keep_generated(value["metric_id"]):
                value["metric_id"] = METRIC_BY_PERIOD_FORM[form]


ADMIN_ACTS = ("/dispute", "/responses", "/termination")  # the admin's (vendor's) own


@schema.include(path_regex=CONTRACT_PATH.pattern).parametrize()
@HYPOTHESIS_SETTINGS
def test_every_operation_conforms_on_an_existing_contract(
    case: schemathesis.Case, app: Flask, fuzz_client: FlaskClient, fuzz_api: Api,
    fuzz_admin: Api, contract_for: Callable[[str], Target],
) -> None:
    """Every contract operation on a contract fit for it, mostly at its current version
    and naming what the contract holds: the acts run."""
    target = contract_for(case.operation.label)
    _aim_at(case, target)
    if case.headers is not None and "If-Match" in case.headers:
        stale = str(case.headers["If-Match"])
        case.headers["If-Match"] = stale if stale.endswith('3"') else f'"{target.version}"'
    api = fuzz_admin if case.operation.path.endswith(ADMIN_ACTS) else fuzz_api
    if case.operation.path in PAGED:
        # The audit view has seen the contract (else the answer is a 404).
        ledger = app.extensions["ledger"]
        app.extensions["views"]["audit"].wait_for(ledger.recorder.max_notification_id(), 10)
        _aim_at_views(case, app, fuzz_client, api, target.contract_id)
    target.changed = _call_and_validate(case, app, fuzz_client, api) < 300


# -- every event type, every state ----------------------------------------------------------

def _conforms(response: TestResponse, path: str) -> Any:
    assert response.status_code == 200, response.json
    schema[path]["GET"].validate_response(response)
    return response.json


def test_every_event_type_and_state_conforms(fresh_api: Api,
                                             fresh_ledger: ContractLedger) -> None:
    """A contract walked through every act and every outcome, on a store of its own (the
    time-based triggers are evaluated over the whole store): each event, the contract and
    its credit statement match the documented shapes."""
    api = fresh_api
    admin = Api(api.client, create_api_key(fresh_ledger.tables, "admin")[1])

    def evaluate(day: date) -> int:
        # What `ledger evaluate` does: the overdue finding and health check fire (as `system`).
        fired = fresh_ledger.evaluate_time_triggers(
            day, Provenance("ledger-evaluate", "system", "evaluate-test"))
        assert fired == 2
        return fired

    def check(stage: str, contract_id: str) -> None:
        base = f"/v1/contracts/{contract_id}"
        if stage == walk.DISPUTES_OPEN:
            _conforms(api.get(f"{base}/credits"), "/v1/contracts/{contract_id}/credits")
        elif stage == walk.CREDITS_SETTLED:
            credits = _conforms(api.get(f"{base}/credits"), "/v1/contracts/{contract_id}/credits")
            assert sorted(p["status"] for p in credits["penalties"]) == [
                "adjusted", "earned_back", "reversed", "waived"]
            assert [i["status"] for i in credits["incentives"]] == ["reversed"]
        elif stage == walk.BEFORE_TERMINATION:
            contract = _conforms(api.get(f"{base}?as_of_date=2025-09-01"),
                                 "/v1/contracts/{contract_id}")
            assert contract["exit"]["budget"]["over_budget"]
            assert contract["governance"]["overdue_findings"] == ["backups"]

    last = walk.walk_every_event(api, admin, evaluate=evaluate, checkpoint=check)
    base = f"/v1/contracts/{last.json['id']}"
    _conforms(api.get(base), "/v1/contracts/{contract_id}")
    events = _conforms(api.get(f"{base}/events?limit=1000"),
                       "/v1/contracts/{contract_id}/events")["events"]
    assert sorted({e["type"] for e in events}) == sorted(_enum("EventType"))
    assert {e["actor"]["role"] for e in events} == {"procurement", "admin", "system"}


# -- regressions: service bugs once found by fuzzing -----------------------------------------

def test_amending_a_rule_with_the_other_kinds_fields_is_a_422(api: Api) -> None:
    target = _new_contract(api, WIDE_TERM, active=True)
    version = _act(api, target.contract_id, target.version, [("rules", PENALTY_RULE)])
    response = api.post(
        f"/v1/contracts/{target.contract_id}/rules/{PENALTY_RULE['rule_id']}/amendments",
        {"changes": {"consecutive_periods": 2, "effective_from": "2026-01-01"},
         "rationale": "wrong kind"}, version=version)
    assert response.status_code == 422, response.json


def test_a_report_in_a_term_reaching_9999_is_not_a_server_error(api: Api) -> None:
    target = _new_contract(api, WIDE_TERM, active=True)
    response = api.post(f"/v1/contracts/{target.contract_id}/performance-reports", {
        "period": "9999-05", "values": [{"metric_id": "availability", "value": "99"}],
        "source": "monitoring"}, version=target.version)
    assert response.status_code == 200, response.json


def test_a_credit_on_a_huge_contract_value_is_not_a_server_error(api: Api) -> None:
    contract_id = api.draft(value={"amount": "1E+30", "currency": "EUR"}).json["id"]
    version = _act(api, contract_id, 1, [
        ("sla-metrics", SLA_METRIC), ("point-of-contact", POINT_OF_CONTACT),
        ("exit-plan", EXIT_PLAN), ("activation", {"effective_date": "2026-01-01"}),
        ("rules", {**PENALTY_RULE, "effective_from": "2026-01-01"}),
        ("performance-reports", {"period": "2026-01", "source": "monitoring",
                                 "values": [{"metric_id": "availability", "value": "99"}]})])
    assert version > 1


def test_periods_are_written_in_ascii_digits(api: Api) -> None:
    target = _new_contract(api, {**WIDE_TERM, "start": "2026-01-01"}, active=True)
    response = api.post(f"/v1/contracts/{target.contract_id}/performance-reports", {
        "period": "\uff12\uff10\uff12\uff16-01",  # fullwidth digits: 2026-01 once more
        "values": [{"metric_id": "availability", "value": "99"}], "source": "monitoring"},
        version=target.version)
    assert response.status_code == 422, response.json


@pytest.mark.parametrize(("path", "query"), [("", "version"), ("/events", "after")])
def test_versions_beyond_64_bits_are_invalid_not_a_server_error(
    api: Api, path: str, query: str,
) -> None:
    # Regression: SQLite raised OverflowError (a 500) beyond the documented maximum.
    contract_id = api.draft().json["id"]
    response = api.get(f"/v1/contracts/{contract_id}{path}?{query}={2**63}")
    assert response.status_code == 422, response.json
    assert [e["pointer"] for e in response.json["errors"]] == [f"/{query}"]


def test_a_review_at_the_end_of_the_calendar_leaves_the_contract_readable(api: Api) -> None:
    target = _new_contract(api, WIDE_TERM, active=True)
    base = f"/v1/contracts/{target.contract_id}"
    response = api.post(f"{base}/governance-cadence", {"cadences": [
        {"kind": "operational", "every": 1, "unit": "weeks"}]}, version=target.version)
    review = api.post(f"{base}/reviews", {
        "review_id": "last", "kind": "operational", "held_on": "9999-12-31", "period": "x",
        "attendees": ["Ana"]}, version=response.json["version"])
    assert (review.status_code, api.get(base).status_code) == (200, 200), review.json


def test_a_huge_exit_spend_leaves_the_contract_readable(api: Api) -> None:
    target = _new_contract(api, WIDE_TERM, active=True)
    base = f"/v1/contracts/{target.contract_id}"
    version = _act(api, target.contract_id, target.version, [("exit", {"reason": "go"})])
    spend = api.post(f"{base}/exit/spend", {
        "amount": {"amount": "1E+1000000", "currency": "EUR"}, "description": "x",
        "spent_on": "2026-01-01"}, version=version)
    assert spend.status_code in (200, 422), spend.json
    assert api.get(base).status_code == 200


# -- hostile input: text no store can hold, deep nesting, exotic numbers, odd headers -------

# Digits of other scripts (Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali,
# fullwidth, mathematical bold): str.isdigit() and Decimal() take them all.
FOREIGN_ZEROS = (0x0660, 0x06F0, 0x0966, 0x09E6, 0xFF10, 0x1D7CE)
UNSTORABLE = st.one_of(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                       st.just("\x00"))
SPACES = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2003", "\u3000"])
RAW_TOKEN = "\x01raw\x01"  # a leaf replaced by raw JSON text after encoding


def exotic_numbers(text: str) -> st.SearchStrategy[str]:
    """text (a number, or any digits) written in ways Python reads but the API must not."""
    digits = text if any(c.isdigit() for c in text) else "1000"
    return st.one_of(
        st.sampled_from(FOREIGN_ZEROS).map(
            lambda zero: "".join(chr(zero + int(c)) if c.isdigit() else c for c in digits)),
        st.just(digits[:1] + "_" + digits[1:] if len(digits) > 1 else f"{digits}_0"),
        st.tuples(SPACES, st.booleans()).map(
            lambda pair: pair[0] + digits if pair[1] else digits + pair[0]),
        st.sampled_from(["-0", "-0.00", "-0E+2", "NaN", "-Infinity", "\u00b2", "1\u2044"]),
    )


def unstorable_text(text: str) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, len(text)), UNSTORABLE).map(
        lambda pair: text[:pair[0]] + pair[1] + text[pair[0]:])


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(document, dict):
        items: Any = document.items()
    elif isinstance(document, list):
        items = enumerate(document)
    else:
        return found
    for key, value in items:
        found += _leaves(value, (*path, key))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy: Any = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replaced(document[path[0]], path[1:], value)
    return copy


@st.composite
def hostile_bodies(draw: st.DrawFn, example: Any) -> str:
    """The example body with one place made hostile: a lone surrogate or NUL in a string
    or key, nesting far deeper than any request needs, exotic digits in a number's text,
    or NaN, Infinity and out-of-range numbers where JSON numbers go."""
    path = draw(st.sampled_from(_leaves(example)))
    value = _at(example, path)
    raw = None
    choices = ["deep", "constant"]
    if isinstance(value, str):
        choices += ["unstorable", "digits"]
    if isinstance(value, dict) and value:
        choices.append("key")
    kind = draw(st.sampled_from(choices))
    if kind == "unstorable":
        body = _replaced(example, path, draw(unstorable_text(value)))
    elif kind == "digits":
        body = _replaced(example, path, draw(exotic_numbers(value)))
    elif kind == "key":
        key = draw(st.sampled_from(sorted(value)))
        renamed = {(draw(unstorable_text(k)) if k == key else k): v for k, v in value.items()}
        body = _replaced(example, path, renamed)
    else:
        body = _replaced(example, path, RAW_TOKEN)
        if kind == "deep":
            depth = draw(st.sampled_from([31, 33, 200, 1000, 5000, 100_000]))
            raw = draw(st.sampled_from(["[", '{"a":'])) * depth
            raw += ("]" if raw.startswith("[") else "}") * depth
        else:
            raw = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1E999",
                                        "9" * 5000]))
    text = json.dumps(body)  # ensure_ascii: surrogates and NUL go as \u escapes
    return text.replace(json.dumps(RAW_TOKEN), raw) if raw is not None else text


HEADER_VALUES = st.one_of(
    st.sampled_from(["", "*", " ", '""', '"' + "9" * 19 + '"', '"-1"', '"1", "2"', 'W/""',
                     '"\u0661"', "\u00bd", "lgr_" + "x" * 300]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300),
)
QUERY_VALUES = st.one_of(
    exotic_numbers("12"),
    st.sampled_from(["%ED%A0%80", "%00", "a%00b", "%FF%FE", "9" * 30, "9" * 5000, "-1",
                     "1e3", "0x10", "%C2%A0", "2026-01-01%00", "true%00"]),
    st.text(max_size=20).map(lambda t: quote(t, safe="", errors="surrogatepass")),
)


def _url(path: str, operation: dict[str, Any], target: Target) -> str:
    ids = {"slug": "not-found", "filename": "docs.js", "vendor_id": "acme", **target.ids}
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return _example_path(path.replace("{contract_id}", target.contract_id), operation,
                         target.contract_id)


def _answers_as_documented(response: TestResponse, path: str, method: str) -> None:
    if response.status_code == 503 and response.json["type"] == "/problems/view-not-ready":
        return
    assert response.status_code < 500, (method, path, response.json)
    schema[path][method].validate_response(response)


BODY_OPERATIONS = sorted((p, m) for p, m in _spec_operations()
                         if "requestBody" in SPEC["paths"][p][m.lower()])


@pytest.mark.parametrize(("path", "method"), BODY_OPERATIONS)
def test_every_body_with_hostile_text_nesting_or_numbers_is_a_problem_not_an_error(
    path: str, method: str, app: Flask, fuzz_api: Api, fuzz_admin: Api,
    contract_for: Callable[[str], Target],
) -> None:
    """Each act's example body, made hostile in one place, on a contract fit for the act:
    answered with a documented problem (never a 500), and a refused act records nothing."""
    operation = SPEC["paths"][path][method.lower()]
    label = f"{method} {path}"
    api = fuzz_admin if path.endswith(ADMIN_ACTS) else fuzz_api

    @given(text=hostile_bodies(_example_body(operation)))
    @HYPOTHESIS_SETTINGS
    def fuzz(text: str) -> None:
        target = contract_for(label)
        response = api.client.open(
            _url(path, operation, target), method=method, data=text,
            headers=api.headers({"Content-Type": "application/json",
                                 "If-Match": f'"{target.version}"'}))
        _answers_as_documented(response, path, method)
        target.changed = response.status_code < 300
        if not target.changed and CONTRACT_PATH.search(path):
            current = api.get(f"/v1/contracts/{target.contract_id}").json["version"]
            assert current == target.version, (label, text[:200], response.json)

    fuzz()


@pytest.mark.parametrize(("path", "method"), sorted(_spec_operations()))
def test_every_query_and_header_with_hostile_values_is_a_problem_not_an_error(
    path: str, method: str, app: Flask, fuzz_client: FlaskClient, fuzz_api: Api,
    contract_for: Callable[[str], Target],
) -> None:
    """Each operation with one query parameter or header (If-Match, Idempotency-Key,
    X-Request-ID, Authorization) given an exotic value: percent-encoded surrogates and NUL,
    other scripts' digits, huge integers, Latin-1 oddities."""
    operation = SPEC["paths"][path][method.lower()]
    names = sorted({p["name"] for p in (
        SPEC["components"]["parameters"].get(q.get("$ref", "").rsplit("/", 1)[-1], q)
        for q in operation.get("parameters", [])) if p["in"] == "query"})
    headers = ["If-Match", "Idempotency-Key", "X-Request-ID", "Authorization"]
    target = contract_for(f"{method} {path}") if CONTRACT_PATH.search(path) \
        else Target("00000000-0000-4000-8000-000000000000", 1)

    @given(where=st.sampled_from([*names, *headers]), value=st.one_of(QUERY_VALUES,
                                                                        HEADER_VALUES))
    @HYPOTHESIS_SETTINGS
    def fuzz(where: str, value: str) -> None:
        url = _url(path, operation, target)
        sent = fuzz_api.headers({"If-Match": f'"{target.version}"'})
        if where in headers:
            value = unquote(value, errors="replace")
            # What HTTP can carry in a header at all: Latin-1, no line breaks or NUL, no
            # leading whitespace (a server strips it).
            assume(all(ord(c) < 256 and c not in "\r\n\x00" for c in value)
                   and not re.match(r"\s", value))
            sent[where] = value
        else:
            url += ("&" if "?" in url else "?") + f"{where}={value}"
        body = _example_body(operation) if method == "POST" else None
        response = fuzz_client.open(url, method=method, headers=sent, json=body)
        _answers_as_documented(response, path, method)
        target.changed = target.changed or response.status_code < 300

    fuzz()
