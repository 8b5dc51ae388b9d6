"""Bad input never yields a 500: each endpoint answers a problem and records nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, Api, contract_body

VALID: dict[str, Any] = {
    "amendments": {"changes": {"title": "Renamed"}, "rationale": "clarity",
                   "effective_date": "2026-06-01"},
    "point-of-contact": POINT_OF_CONTACT,
    "sla-metrics": SLA_METRIC,
    "sla-amendments": {"target_changes": [{"metric_id": "availability", "target": "99.5"}],
                       "effective_from": "2026-03-01", "rationale": "relaxed"},
    "exit-plan": EXIT_PLAN,
    "activation": {"effective_date": "2026-01-01"},
    "renewal": {"new_end": "2029-12-31", "reason": "met targets"},
    "termination": {"reason": "insourced", "effective_date": "2026-12-31"},
}

# endpoint -> [(body, pointer expected among the errors)]
INVALID: dict[str, list[tuple[Any, str]]] = {
    "amendments": [
        ({"changes": {}, "rationale": "x", "effective_date": "2026-06-01"}, "/changes"),
        ({"changes": {"value": {"amount": 5.5, "currency": "EUR"}}, "rationale": "x",
          "effective_date": "2026-06-01"}, "/changes/value/amount"),
        ({"changes": {"title": "x"}, "rationale": "x", "effective_date": "01/06/2026"},
         "/effective_date"),
    ],
    "point-of-contact": [
        ({"name": "Ana", "email": "not-an-email"}, "/email"),
        ({"email": "ana@acme.example"}, "/name"),
    ],
    "sla-metrics": [
        ({**SLA_METRIC, "target": 99.9}, "/target"),
        ({**SLA_METRIC, "direction": "sideways"}, "/direction"),
        ({**SLA_METRIC, "measurement_period": "daily"}, "/measurement_period"),
        ({**SLA_METRIC, "metric_id": "Not A Slug"}, "/metric_id"),
    ],
    "sla-amendments": [
        ({"effective_from": "2026-03-01", "rationale": "nothing"}, "/"),
        ({"target_changes": [{"metric_id": "availability", "target": "high"}],
          "effective_from": "2026-03-01", "rationale": "x"}, "/target_changes/0/target"),
    ],
    "exit-plan": [
        ({**EXIT_PLAN, "steps": []}, "/steps"),
        ({**EXIT_PLAN, "budget": {"amount": "-1.00", "currency": "EUR"}}, "/"),
        ({**EXIT_PLAN, "transition_period_days": "90"}, "/transition_period_days"),
    ],
    "activation": [({"effective_date": "tomorrow"}, "/effective_date")],
    "renewal": [({"new_end": "2029-12-31"}, "/reason")],
    "termination": [({"reason": "", "effective_date": "2026-12-31"}, "/reason")],
}

DRAFT_INVALID: list[tuple[dict[str, Any], str]] = [
    (contract_body(value={"amount": 1200000.0, "currency": "EUR"}), "/value/amount"),
    (contract_body(value={"amount": "1200000.00", "currency": "EURO"}), "/value/currency"),
    (contract_body(value={"amount": "100.001", "currency": "EUR"}), "/value"),
    (contract_body(value={"amount": "-5.00", "currency": "EUR"}), "/"),
    (contract_body(term={"start": "2026-01-01", "end": "2025-01-01", "notice_period_days": 0,
                         "renewal": "none"}), "/term"),
    (contract_body(term={"start": "2026-01-01", "end": "2027-01-01", "notice_period_days": 1.5,
                         "renewal": "none"}), "/term/notice_period_days"),
    (contract_body(service_scope="catering"), "/service_scope"),
    (contract_body(sourcing_model="outsourced"), "/sourcing_model"),
    (contract_body(delivery_location="moon"), "/delivery_location"),
    (contract_body(vendor={"vendor_id": "ACME Inc", "name": "Acme"}), "/vendor/vendor_id"),
    (contract_body(title=""), "/title"),
    (contract_body(surprise=True), "/surprise"),
    ([1, 2, 3], "/"),
]


def events_of(api: Api, contract_id: str) -> int:
    return len(api.get(f"/v1/contracts/{contract_id}/events").json["events"])


class TestDraft:
    @pytest.mark.parametrize(("body", "pointer"), DRAFT_INVALID)
    def test_invalid_draft_is_a_422_naming_the_field(self, api: Api, body: Any,
                                                     pointer: str) -> None:
        response = api.post("/v1/contracts", body)
        assert response.status_code == 422, response.json
        assert response.mimetype == "application/problem+json"
        assert response.json["type"] == "/problems/validation-failed"
        assert pointer in [e["pointer"] for e in response.json["errors"]]

    @pytest.mark.parametrize(("body", "pointer"), [
        (contract_body(title="Managed\x00network"), "/title"),
        (contract_body(objectives=["ok", "n\x00ul"]), "/objectives/1"),
        (contract_body(vendor={"vendor_id": "acme\n", "name": "Acme"}), "/vendor/vendor_id"),
    ])
    def test_text_no_database_can_store_is_a_422(self, api: Api, body: Any,
                                                 pointer: str) -> None:
        # NUL cannot be stored in PostgreSQL text (a view would choke on it); a slug with a
        # trailing newline is no slug.
        response = api.post("/v1/contracts", body)
        assert response.status_code == 422, response.json
        assert pointer in [e["pointer"] for e in response.json["errors"]]

    def test_malformed_json_is_a_400(self, api: Api) -> None:
        response = api.client.post("/v1/contracts", data='{"title": ',
                                   headers=api.headers({"Content-Type": "application/json"}))
        assert response.status_code == 400
        assert response.json["type"] == "/problems/malformed-request"

    def test_wrong_content_type_is_a_415(self, api: Api) -> None:
        response = api.client.post("/v1/contracts", data=json.dumps(contract_body()),
                                   headers=api.headers({"Content-Type": "text/plain"}))
        assert response.status_code == 415

    def test_a_body_over_the_limit_is_a_413(self, api: Api) -> None:
        response = api.client.post(
            "/v1/contracts", data=json.dumps(contract_body(title="x" * 2_000_000)),
            headers=api.headers({"Content-Type": "application/json"}))
        assert response.status_code == 413
        assert response.json["type"] == "/problems/payload-too-large"

    def test_wrong_method_is_a_405_with_allow(self, api: Api) -> None:
        response = api.client.delete("/v1/contracts", headers=api.headers())
        assert response.status_code == 405
        assert "POST" in response.headers["Allow"]
        assert response.mimetype == "application/problem+json"

    def test_a_malformed_request_id_is_a_400(self, api: Api) -> None:
        response = api.get("/healthz", **{"X-Request-ID": "bad id with spaces"})
        assert response.status_code == 400


class TestCommands:
    @pytest.mark.parametrize(("endpoint", "body", "pointer"),
                             [(e, b, p) for e, cases in INVALID.items() for b, p in cases])
    def test_invalid_body_is_a_422_and_records_nothing(self, api: Api, endpoint: str,
                                                       body: Any, pointer: str) -> None:
        contract_id = api.active_contract()
        response = api.post(f"/v1/contracts/{contract_id}/{endpoint}", body, version=5)
        assert response.status_code == 422, response.json
        assert pointer in [e["pointer"] for e in response.json["errors"]]
        assert events_of(api, contract_id) == 5

    @pytest.mark.parametrize("endpoint", sorted(VALID))
    def test_every_command_needs_if_match(self, api: Api, endpoint: str) -> None:
        contract_id = api.draft().json["id"]
        response = api.post(f"/v1/contracts/{contract_id}/{endpoint}", VALID[endpoint])
        assert response.status_code == 428
        assert response.json["type"] == "/problems/precondition-required"
        assert events_of(api, contract_id) == 1

    @pytest.mark.parametrize("endpoint", sorted(VALID))
    @pytest.mark.parametrize("if_match", ['"7"', '"abc"', "1", "*"])
    def test_a_stale_or_unusable_if_match_is_a_412(self, api: Api, endpoint: str,
                                                   if_match: str) -> None:
        contract_id = api.draft().json["id"]
        response = api.post(f"/v1/contracts/{contract_id}/{endpoint}", VALID[endpoint],
                            headers={"If-Match": if_match})
        assert response.status_code == 412
        assert events_of(api, contract_id) == 1

    @pytest.mark.parametrize("endpoint", sorted(VALID))
    def test_an_unknown_contract_is_a_404(self, api: Api, endpoint: str) -> None:
        response = api.post(f"/v1/contracts/{uuid.uuid4()}/{endpoint}", VALID[endpoint],
                            version=1)
        assert response.status_code == 404
        assert response.json["type"] == "/problems/not-found"

    @pytest.mark.parametrize("endpoint", sorted(VALID))
    def test_malformed_json_is_a_400_on_every_command(self, api: Api, endpoint: str) -> None:
        contract_id = api.draft().json["id"]
        response = api.client.post(
            f"/v1/contracts/{contract_id}/{endpoint}", data="[",
            headers=api.headers({"Content-Type": "application/json", "If-Match": '"1"'}))
        assert response.status_code == 400

    def test_a_domain_rule_broken_is_a_409_and_records_nothing(self, api: Api) -> None:
        contract_id = api.active_contract()
        response = api.post(f"/v1/contracts/{contract_id}/amendments", {
            "changes": {"title": "x"}, "rationale": "backdated",
            "effective_date": "2025-06-01"}, version=5)
        assert response.status_code == 409
        assert response.json["rule"] == "EffectiveDateOutOfTerm"
        assert events_of(api, contract_id) == 5


class TestReads:
    def test_an_unknown_contract_is_a_404(self, api: Api) -> None:
        assert api.get(f"/v1/contracts/{uuid.uuid4()}").status_code == 404
        assert api.get(f"/v1/contracts/{uuid.uuid4()}/events").status_code == 404
        assert api.get(f"/v1/contracts/{uuid.uuid4()}/events?after=1").status_code == 404

    def test_a_path_that_is_not_a_uuid_is_a_404(self, api: Api) -> None:
        assert api.get("/v1/contracts/42").json["type"] == "/problems/not-found"

    @pytest.mark.parametrize("query", ["version=abc", "version=0", "colour=red"])
    def test_bad_query_on_get_is_a_422(self, api: Api, query: str) -> None:
        contract_id = api.draft().json["id"]
        assert api.get(f"/v1/contracts/{contract_id}?{query}").status_code == 422

    def test_a_version_beyond_the_latest_is_a_404(self, api: Api) -> None:
        contract_id = api.draft().json["id"]
        assert api.get(f"/v1/contracts/{contract_id}?version=9").status_code == 404

    @pytest.mark.parametrize("query", ["limit=0", "limit=1001", "after=-1", "after=x"])
    def test_bad_query_on_events_is_a_422(self, api: Api, query: str) -> None:
        contract_id = api.draft().json["id"]
        assert api.get(f"/v1/contracts/{contract_id}/events?{query}").status_code == 422
