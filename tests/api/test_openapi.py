"""openapi.yaml is the public contract: it is valid, it names exactly the routes the app
serves, and the app's answers (to generated requests, good and bad) conform to it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from domain.contract import Contract
from domain.credits import MissingData, TriggerKind
from domain.money import MINOR_UNITS
from domain.values import (
    ContractStatus,
    DeliveryLocation,
    Direction,
    MeasurementPeriod,
    RenewalOption,
    ServiceScope,
    SourcingModel,
)
from service.auth import ROLES, create_api_key
from service.http.operations import STATIC_DIR
from service.http.problems import PROBLEM_BASE, PROBLEM_TYPES
from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, Api

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
CHECKS = [
    not_a_server_error,
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
    assert len(ids) == len(set(ids))


def test_spec_vocabulary_matches_the_domain() -> None:
    assert sorted(_enum("Currency")) == sorted(MINOR_UNITS)
    for name, enum in [("ServiceScope", ServiceScope), ("SourcingModel", SourcingModel),
                       ("DeliveryLocation", DeliveryLocation), ("RenewalOption", RenewalOption),
                       ("Direction", Direction), ("MeasurementPeriod", MeasurementPeriod),
                       ("ContractStatus", ContractStatus)]:
        assert _enum(name) == [member.value for member in enum], name
    assert _enum("Role") == list(ROLES)
    schemas = SPEC["components"]["schemas"]
    assert schemas["PenaltyRuleVersion"]["properties"]["missing_data"]["enum"] == [
        member.value for member in MissingData]
    assert schemas["ExitTriggerState"]["properties"]["kind"]["enum"] == [
        member.value for member in TriggerKind]
    event_types = [name for name, kind in vars(Contract).items()
                   if isinstance(kind, type) and issubclass(kind, Contract.Event)
                   and kind is not Contract.Event and name != "Created"]  # Created: unused
    assert _enum("EventType") == event_types


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
def fuzz_api(app: Flask) -> Api:
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
                       api: Api) -> None:
    _distinct_idempotency_key(case)
    case.call_and_validate(app=app, session=client, headers=api.headers(), checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS_SETTINGS
def test_every_operation_conforms(case: schemathesis.Case, app: Flask, fuzz_client: FlaskClient,
                                  fuzz_api: Api) -> None:
    """Random ids mostly reach 404 on contract paths; the next test reaches deeper."""
    _call_and_validate(case, app, fuzz_client, fuzz_api)


# Terms so long that most generated dates fall within them; renewals start from an end so
# early that most generated new ends are later.
WIDE_TERM = {"start": "1900-01-01", "end": "9999-12-31", "notice_period_days": 90,
             "renewal": "optional"}
RENEWABLE_TERM = {**WIDE_TERM, "end": "1900-12-31"}


def _new_contract(api: Api, term: dict[str, Any], *, active: bool) -> tuple[str, int]:
    contract_id: str = api.draft(term=term).json["id"]
    acts = [("point-of-contact", POINT_OF_CONTACT),
            ("sla-metrics", {**SLA_METRIC, "effective_from": term["start"]}),
            ("exit-plan", EXIT_PLAN)]
    if active:
        acts.append(("activation", {"effective_date": term["start"]}))
    for version, (act, body) in enumerate(acts, start=1):
        response = api.post(f"/v1/contracts/{contract_id}/{act}", body, version=version)
        assert response.status_code == 200, response.json
    return contract_id, len(acts) + 1


@pytest.fixture(scope="module")
def contract_for(fuzz_api: Api) -> Callable[[str], tuple[str, int]]:
    """An existing contract fit for an operation (id, current version), one per operation,
    replaced when an earlier example moved it out of the state the act needs."""
    current: dict[str, str] = {}

    def fit(label: str) -> tuple[str, int]:
        wanted = "draft" if label.endswith("/activation") else "active"
        renewing = label.endswith("/renewal")
        contract_id = current.get(label)
        if contract_id is not None:
            contract = fuzz_api.get(f"/v1/contracts/{contract_id}").json
            if contract["status"] == wanted and not (renewing and contract["renewals"]):
                return contract_id, contract["version"]
        contract_id, version = _new_contract(
            fuzz_api, RENEWABLE_TERM if renewing else WIDE_TERM, active=wanted == "active")
        current[label] = contract_id
        return contract_id, version

    return fit


@schema.include(path_regex=CONTRACT_PATH.pattern).parametrize()
@HYPOTHESIS_SETTINGS
def test_every_operation_conforms_on_an_existing_contract(
    case: schemathesis.Case, app: Flask, fuzz_client: FlaskClient, fuzz_api: Api,
    contract_for: Callable[[str], tuple[str, int]],
) -> None:
    """The same on a contract that exists, mostly at its current version: the acts run."""
    contract_id, version = contract_for(case.operation.label)
    case.path_parameters = {**(case.path_parameters or {}), "contract_id": contract_id}
    if case.headers is not None and "If-Match" in case.headers:
        stale = str(case.headers["If-Match"])
        case.headers["If-Match"] = stale if stale.endswith('3"') else f'"{version}"'
    _call_and_validate(case, app, fuzz_client, fuzz_api)


@pytest.mark.parametrize(("path", "query"), [("", "version"), ("/events", "after")])
def test_versions_beyond_64_bits_are_invalid_not_a_server_error(
    api: Api, path: str, query: str,
) -> None:
    # Regression: SQLite raised OverflowError (a 500) beyond the documented maximum.
    contract_id = api.draft().json["id"]
    response = api.get(f"/v1/contracts/{contract_id}{path}?{query}={2**63}")
    assert response.status_code == 422, response.json
    assert [e["pointer"] for e in response.json["errors"]] == [f"/{query}"]
