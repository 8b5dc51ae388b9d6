"""Bad input never yields a 500: each endpoint answers a problem and records nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
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
    (contract_body(value={"amount": "100.001", "currency": "EUR"}), "/value/amount"),
    (contract_body(value={"amount": "-5.00", "currency": "EUR"}), "/value/amount"),
    (contract_body(term={"start": "2026-01-01", "end": "2025-01-01", "notice_period_days": 0,
                         "renewal": "none"}), "/term/end"),
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
    @pytest.mark.parametrize("if_match", ['"7"', '"0"', 'W/"2"'])
    def test_a_stale_if_match_is_a_412(self, api: Api, endpoint: str, if_match: str) -> None:
        contract_id = api.draft().json["id"]
        response = api.post(f"/v1/contracts/{contract_id}/{endpoint}", VALID[endpoint],
                            headers={"If-Match": if_match})
        assert response.status_code == 412
        assert events_of(api, contract_id) == 1

    @pytest.mark.parametrize("endpoint", sorted(VALID))
    @pytest.mark.parametrize("if_match", [
        "", "*", '"1234567890123456789"', '"abc"', "1", '"1", "2"',
        '"\u0661"',  # an Arabic-Indic one: a digit to \\d, not to If-Match
    ])
    def test_a_malformed_if_match_is_a_400(self, api: Api, endpoint: str,
                                           if_match: str) -> None:
        contract_id = api.draft().json["id"]
        response = api.post(f"/v1/contracts/{contract_id}/{endpoint}", VALID[endpoint],
                            headers={"If-Match": if_match})
        assert response.status_code == 400, response.json
        assert response.json["type"] == "/problems/malformed-request"
        assert "If-Match" in response.json["detail"]
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


# -- text no store can hold, nesting, numbers ----------------------------------------------

def post_raw(api: Api, path: str, data: str | bytes, version: int | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return api.client.post(path, data=data, headers=api.headers(headers))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


REPORT = {"period": "2026-01", "values": [{"metric_id": "availability", "value": "99.95"}],
          "source": "monitoring", "evidence_ref": "dash-1"}


class TestUnstorableText:
    """A lone surrogate has no UTF-8 form: neither the hash chain nor a store can take it."""

    @pytest.mark.parametrize(("body", "pointer"), [
        (contract_body(title="Managed\ud800network"), "/title"),
        (contract_body(objectives=["ok", "\udfff"]), "/objectives/1"),
        (contract_body(vendor={"vendor_id": "acme", "name": "Acme \udc00"}), "/vendor/name"),
        ({**contract_body(), "\ud83d": True}, "/"),  # a name is pointed at by its object
        (contract_body(vendor={"vendor_id": "acme", "name": "Acme", "\x00": 1}), "/vendor"),
    ])
    def test_a_lone_surrogate_in_a_draft_is_a_422(self, api: Api, body: Any,
                                                  pointer: str) -> None:
        response = post_raw(api, "/v1/contracts", json.dumps(body))  # escaped: \ud800
        assert response.status_code == 422, response.json
        assert [e["pointer"] for e in response.json["errors"]] == [pointer]

    @pytest.mark.parametrize(("field", "value", "pointer"), [
        ("source", "monitoring \ud800", "/source"),
        ("evidence_ref", "\udbff", "/evidence_ref"),
        ("values", [{"metric_id": "availability", "value": "99\ud800"}], "/values/0/value"),
    ])
    def test_a_lone_surrogate_in_a_vendors_report_is_a_422_and_records_nothing(
        self, api: Api, as_vendor: Any, field: str, value: Any, pointer: str,
    ) -> None:
        contract_id = api.active_contract()  # acme's
        response = post_raw(as_vendor("acme"), f"/v1/contracts/{contract_id}/performance-reports",
                            json.dumps({**REPORT, field: value}), version=5)
        assert response.status_code == 422, response.json
        assert [e["pointer"] for e in response.json["errors"]] == [pointer]
        assert events_of(api, contract_id) == 5

    def test_a_surrogate_encoded_in_the_bytes_is_a_400(self, api: Api) -> None:
        # UTF-8 has no encoding for U+D800: these bytes are not UTF-8 at all.
        data = json.dumps(contract_body(title="XX")).encode().replace(b"XX", b"\xed\xa0\x80")
        response = post_raw(api, "/v1/contracts", data)
        assert response.status_code == 400, response.json
        assert response.json["type"] == "/problems/malformed-request"

    def test_a_paired_surrogate_escape_is_the_character_it_spells(self, api: Api) -> None:
        response = post_raw(api, "/v1/contracts", json.dumps(contract_body(title="Net \U0001f680")))
        assert response.status_code == 201, response.json
        assert response.json["title"] == "Net \U0001f680"


class TestNesting:
    @pytest.mark.parametrize("depth", [33, 1000, 100_000])
    def test_json_nested_too_deep_is_a_400(self, api: Api, depth: int) -> None:
        # ~1,000 levels once raised RecursionError (a 500) in the JSON parser.
        response = post_raw(api, "/v1/contracts",
                            json.dumps(contract_body(title="T")).replace('"T"', nested(depth)))
        assert response.status_code == 400, response.json
        assert response.json["type"] == "/problems/malformed-request"
        assert "deeper than 32" in response.json["detail"]

    def test_a_deep_body_on_a_command_is_a_400_and_records_nothing(self, api: Api) -> None:
        contract_id = api.active_contract()
        response = post_raw(api, f"/v1/contracts/{contract_id}/renewal",
                            '{"new_end": "2029-12-31", "reason": ' + nested(5000) + "}", 5)
        assert response.status_code == 400, response.json
        assert events_of(api, contract_id) == 5

    def test_nesting_within_the_limit_is_judged_by_the_schema(self, api: Api) -> None:
        response = post_raw(api, "/v1/contracts",
                            json.dumps(contract_body(title="T")).replace('"T"', nested(31)))
        assert response.status_code == 422, response.json
        assert [e["pointer"] for e in response.json["errors"]] == ["/title"]


class TestNumbers:
    @pytest.mark.parametrize("amount", [
        "1_000.00", "\uff11\uff10\uff10\uff10.00", "\u0661\u0660\u0660\u0660",
        "\u0967\u0966\u0966\u0966", " 1000.00", "1000.00 ", "\t1000.00", "1000.00\n",
        "-0.00", "-0", "-0E+2", "NaN", "Infinity", "-Infinity", "sNaN", "1,000.00", "0x10",
    ])
    def test_an_amount_is_plain_ascii_decimal_text(self, api: Api, amount: str) -> None:
        response = api.post("/v1/contracts", contract_body(value={"amount": amount,
                                                                  "currency": "EUR"}))
        assert response.status_code == 422, response.json
        assert [e["pointer"] for e in response.json["errors"]] == ["/value/amount"]

    @pytest.mark.parametrize("value", ["99\u00b795", "\u0669\u0669", "99_9", " 99.9", "-0"])
    def test_a_reported_value_is_plain_ascii_decimal_text(self, api: Api, as_vendor: Any,
                                                          value: str) -> None:
        contract_id = api.active_contract()
        response = as_vendor("acme").post(
            f"/v1/contracts/{contract_id}/performance-reports",
            {**REPORT, "values": [{"metric_id": "availability", "value": value}]}, version=5)
        assert response.status_code == 422, response.json
        assert [e["pointer"] for e in response.json["errors"]] == ["/values/0/value"]
        assert events_of(api, contract_id) == 5

    @pytest.mark.parametrize("amount", ["1200000.00", "1200000", "1.2E+6", "+1200000.00",
                                        "0", "0.00"])
    def test_plain_amounts_are_accepted(self, api: Api, amount: str) -> None:
        response = api.post("/v1/contracts", contract_body(value={"amount": amount,
                                                                  "currency": "EUR"}))
        assert response.status_code == 201, response.json

    @pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1E999"])
    def test_json_nan_and_infinity_are_refused(self, api: Api, number: str) -> None:
        body = json.dumps(contract_body()).replace('"notice_period_days": 90',
                                                   f'"notice_period_days": {number}')
        response = post_raw(api, "/v1/contracts", body)
        assert response.status_code == 400, response.json
        assert response.json["type"] == "/problems/malformed-request"


class TestQueries:
    @pytest.mark.parametrize(("path", "query"), [
        ("", "version=\u0661"), ("", "version=1_0"), ("", "version=%201"),
        ("", "version=%EF%BC%91"), ("/events", "after=\u0661"), ("/events", "limit=1_0"),
        ("/events", "limit=+5"), ("/audit", "limit=%D9%A1"), ("/audit", "min_position=1_0"),
    ])
    def test_integers_in_a_query_are_ascii_digits(self, api: Api, path: str,
                                                  query: str) -> None:
        contract_id = api.draft().json["id"]
        name = query.split("=")[0]
        response = api.get(f"/v1/contracts/{contract_id}{path}?{query}")
        assert response.status_code == 422, response.json
        assert [e["pointer"] for e in response.json["errors"]] == [f"/{name}"]

    @pytest.mark.parametrize("spell", [
        "{%s}".__mod__, "urn:uuid:%s".__mod__, "%s-".__mod__, " %s".__mod__,
        lambda id: id.replace("-", ""), lambda id: id.replace(id[0], "\uff11", 1)])
    def test_a_contract_filter_is_a_hyphenated_uuid(self, api: Api,
                                                    spell: Callable[[str], str]) -> None:
        # uuid.UUID reads all of these (and other scripts' digits) as some id.
        contract_id = api.draft().json["id"]
        response = api.get(f"/v1/audit?contract={spell(contract_id)}")
        assert response.status_code == 422, response.json
        assert [e["pointer"] for e in response.json["errors"]] == ["/contract"]

    @pytest.mark.parametrize(("path", "params", "key"), [
        ("/v1/contracts", [("sort", "title")], ["Net\ud800", str(uuid.UUID(int=1))]),
        ("/v1/contracts", [("sort", "title")], ["Net\x00", str(uuid.UUID(int=1))]),
        ("/v1/contracts", [("sort", "-drafted_at")], json.loads(nested(600))),
        ("/v1/vendors", [], "acme\udfff"),
        ("/v1/audit", [("changes", "True")], json.loads(nested(600))),
    ])
    def test_a_forged_cursor_holding_unstorable_text_or_nesting_is_a_422(
        self, api: Api, path: str, params: list[tuple[str, str]], key: Any,
    ) -> None:
        # Cursors are opaque, not signed: one can be forged for any query. A lone surrogate
        # in a title cursor once reached the database (a 500).
        fingerprint = hashlib.sha256(json.dumps([path, sorted(params)]).encode()).hexdigest()
        cursor = base64.urlsafe_b64encode(json.dumps(
            {"k": key, "q": fingerprint[:16]}).encode()).decode().rstrip("=")
        query = "".join(f"{name}={value}&" for name, value in params if name == "sort")
        response = api.get(f"{path}?{query}cursor={cursor}")
        assert response.status_code == 422, response.json
        assert [e["pointer"] for e in response.json["errors"]] == ["/cursor"]
