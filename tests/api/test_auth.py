"""Who may do what: every endpoint against every role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, Api, contract_body

# endpoint -> (setup that returns (contract id, version) using procurement, body)
WRITES: dict[str, tuple[str, Any]] = {
    "amendments": ("active", {"changes": {"title": "Renamed"}, "rationale": "clarity",
                              "effective_date": "2026-06-01"}),
    "point-of-contact": ("draft", POINT_OF_CONTACT),
    "sla-metrics": ("draft", SLA_METRIC),
    "sla-amendments": ("active", {"target_changes": [{"metric_id": "availability",
                                                      "target": "99.5"}],
                                  "effective_from": "2026-03-01", "rationale": "relaxed"}),
    "exit-plan": ("draft", EXIT_PLAN),
    "activation": ("ready", {"effective_date": "2026-01-01"}),
    "renewal": ("active", {"new_end": "2029-12-31", "reason": "met targets"}),
    "termination": ("draft", {"reason": "never signed", "effective_date": "2026-12-31"}),
}
VERSIONS = {"draft": 1, "ready": 4, "active": 5}

WRITERS = ("admin", "procurement")
NON_WRITERS = ("auditor", "vendor", "integration")


def setup(api: Api, state: str) -> str:
    return {"draft": lambda: api.draft().json["id"], "ready": api.ready_contract,
            "active": api.active_contract}[state]()  # type: ignore[no-any-return]


@pytest.mark.parametrize("role", WRITERS)
@pytest.mark.parametrize("endpoint", sorted(WRITES))
def test_writers_may_use_every_command(
    endpoint: str, role: str, api: Api, as_role: Callable[[str], Api]
) -> None:
    state, body = WRITES[endpoint]
    contract_id = setup(api, state)
    response = as_role(role).post(f"/v1/contracts/{contract_id}/{endpoint}", body,
                                  version=VERSIONS[state])
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("role", NON_WRITERS)
@pytest.mark.parametrize("endpoint", sorted(WRITES))
def test_other_roles_may_not_write_and_nothing_is_recorded(
    endpoint: str, role: str, api: Api, as_role: Callable[[str], Api]
) -> None:
    state, body = WRITES[endpoint]
    contract_id = setup(api, state)
    response = as_role(role).post(f"/v1/contracts/{contract_id}/{endpoint}", body,
                                  version=VERSIONS[state])
    assert response.status_code == 403
    assert response.json["type"] == "/problems/forbidden"
    assert api.get(f"/v1/contracts/{contract_id}").json["version"] == VERSIONS[state]


@pytest.mark.parametrize("role", ["admin", "procurement", "auditor", "vendor", "integration"])
def test_only_writers_may_draft(role: str, as_role: Callable[[str], Api]) -> None:
    response = as_role(role).post("/v1/contracts", contract_body())
    assert response.status_code == (201 if role in WRITERS else 403)


@pytest.mark.parametrize(("role", "contract", "events"), [
    ("admin", 200, 200), ("procurement", 200, 200), ("auditor", 200, 200),
    ("vendor", 200, 200), ("integration", 403, 200),
])
def test_read_access_by_role(role: str, contract: int, events: int, api: Api,
                             as_role: Callable[[str], Api]) -> None:
    contract_id = api.draft().json["id"]  # vendor "acme", the vendor token's own
    reader = as_role(role)
    assert reader.get(f"/v1/contracts/{contract_id}").status_code == contract
    assert reader.get(f"/v1/contracts/{contract_id}/events").status_code == events


@pytest.mark.parametrize("path", ["", "/events", "?version=1"])
def test_a_vendor_cannot_see_another_vendors_contract(
    path: str, api: Api, as_vendor: Callable[[str], Api]
) -> None:
    contract_id = api.draft().json["id"]  # belongs to acme
    response = as_vendor("globex").get(f"/v1/contracts/{contract_id}{path}")
    assert response.status_code == 404  # indistinguishable from a contract that does not exist
    assert as_vendor("acme").get(f"/v1/contracts/{contract_id}{path}").status_code == 200


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/v1/contracts/{id}"), ("get", "/v1/contracts/{id}/events"),
    ("post", "/v1/contracts"), *[("post", f"/v1/contracts/{{id}}/{e}") for e in sorted(WRITES)],
])
@pytest.mark.parametrize("authorization", [None, "Bearer lgr_nope_nope", "Basic dXNlcjpwdw=="])
def test_every_endpoint_needs_a_valid_token(method: str, path: str, authorization: str | None,
                                            api: Api) -> None:
    contract_id = api.draft().json["id"]
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(api.client, method)(path.format(id=contract_id), json={}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["type"] == "/problems/unauthenticated"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.yaml", "/docs"])
def test_operations_endpoints_need_no_token(path: str, anonymous: Api) -> None:
    response = anonymous.get(path)
    response.close()  # /docs streams a file
    assert response.status_code == 200
