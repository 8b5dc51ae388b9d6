"""The projection-backed reads: contract lists, vendors, scorecards and the audit timeline,
each read after a write with min_position (read your writes)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from threading import Barrier
from typing import Any
from urllib.parse import urlencode

import jsonpatch
import pytest
from flask import Flask
from werkzeug.test import TestResponse

from service.app import create_app
from service.application import ContractLedger
from service.auth import create_api_key
from service.config import Settings
from service.runner import ProjectionRunner, build_projections, follower_for
from tests.conftest import Tokens
from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, Api
from tests.support.bodies import HEALTH_CHECK, INCENTIVE_RULE, PENALTY_RULE, SCORECARD
from tests.support.paging import ok, walk

FAR_AHEAD = 10**12
"""A position no test session reaches."""

AUDIT_ENTRY_KEYS = {"position", "contract_id", "version", "type", "actor", "recorded_at",
                    "effective_date", "reason", "correlation_id", "contract_at_version",
                    "changes"}
LIST_ITEM_KEYS = {"id", "version", "status", "exiting", "title", "vendor", "service_scope",
                  "sourcing_model", "delivery_location", "value", "term", "notice_deadline",
                  "activated_on", "terminated_on", "created_at", "updated_at"}


# -- helpers ---------------------------------------------------------------------------------

def token() -> str:
    """A word no other test uses (titles are searched for it)."""
    return f"rs{uuid.uuid4().hex[:12]}"


def vendor(vendor_id: str | None = None) -> dict[str, str]:
    vendor_id = vendor_id or f"v{uuid.uuid4().hex[:12]}"
    return {"vendor_id": vendor_id, "name": f"Vendor {vendor_id}"}


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def version_of(response: TestResponse) -> int:
    assert response.status_code in (200, 201), response.json
    return int(response.json["version"])


def amend_value(api: Api, contract_id: str, version: int, amount: str,
                **headers: str) -> TestResponse:
    response = api.post(f"/v1/contracts/{contract_id}/amendments", {
        "changes": {"value": money(amount)}, "rationale": "Scope grew to two more sites",
        "effective_date": "2026-06-01"}, version=version, headers=headers)
    assert response.status_code == 200, response.json
    return response


def search(api: Api, after: TestResponse | int | None = None, **params: Any) -> list[str]:
    """The ids a contract search answers, in order."""
    body = ok(api.read(f"/v1/contracts?{urlencode(params)}", after))
    return [item["id"] for item in body["items"]]


def tampered(cursor: str, key: Any) -> str:
    """A cursor the API issued, with its keyset position replaced by key."""
    document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    document["k"] = key
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def pointers(response: TestResponse) -> list[str]:
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "/problems/validation-failed"
    return [e["pointer"] for e in response.json["errors"]]


def audit(api: Api, contract_id: str, after: TestResponse | int | None = None,
          **params: Any) -> list[dict[str, Any]]:
    """A contract's audit entries (one page)."""
    query = f"?{urlencode(params)}" if params else ""
    entries: list[dict[str, Any]] = ok(
        api.read(f"/v1/contracts/{contract_id}/audit{query}", after))["items"]
    return entries


def with_rules(api: Api, **overrides: Any) -> tuple[str, int]:
    """An active contract worth 1,000.00 EUR a day with a penalty and an incentive rule."""
    contract_id = api.active_contract(value=money("1096000.00"), **overrides)
    for version, rule in enumerate((PENALTY_RULE, INCENTIVE_RULE), start=5):
        response = api.post(f"/v1/contracts/{contract_id}/rules", rule, version=version)
        assert response.status_code == 200, response.json
    return contract_id, 7


def report(api: Api, contract_id: str, version: int, period: str, value: str,
           **extra: Any) -> TestResponse:
    response = api.post(f"/v1/contracts/{contract_id}/performance-reports", {
        "period": period, "values": [{"metric_id": "availability", "value": value}],
        "source": "vendor monitoring", **extra}, version=version)
    assert response.status_code == 200, response.json
    return response


def activated(api: Api, **overrides: Any) -> TestResponse:
    """Activate a ready contract (version 5); answer the activation's response."""
    contract_id = api.ready_contract(**overrides)
    response = api.post(f"/v1/contracts/{contract_id}/activation",
                        {"effective_date": "2026-01-01"}, version=4)
    assert response.status_code == 200, response.json
    return response


def exiting(api: Api, contract_id: str) -> TestResponse:
    """Fire a manual exit trigger on an active contract (version 5) and start the exit."""
    fired = api.post(f"/v1/contracts/{contract_id}/exit-triggers", {
        "trigger_id": "board", "kind": "manual", "reason": "strategic insourcing"}, version=5)
    response = api.post(f"/v1/contracts/{contract_id}/exit",
                        {"reason": "board decision", "trigger_id": "board"},
                        version=version_of(fired))
    assert response.status_code == 200, response.json
    return response


@pytest.fixture
def impatient_app(app: Flask, store_url: str) -> Flask:
    """An app on the session's store and ledger that waits only 50 ms for a view."""
    flask_app = create_app(Settings(database_url=store_url, read_wait_seconds=0.05),
                           app.extensions["ledger"])
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def impatient(impatient_app: Flask, tokens: Tokens) -> Api:
    """Procurement, on the impatient app."""
    return Api(impatient_app.test_client(), tokens.by_role["procurement"])


@pytest.fixture
def portfolio_app(fresh_store_url: str,
                  fresh_ledger: ContractLedger) -> Iterator[Callable[..., Api]]:
    """Clients (by role, or a vendor's) of an app on a store of its own, with its own
    projection runner: for totals that no other test's contracts may disturb."""
    flask_app = create_app(Settings(database_url=fresh_store_url), fresh_ledger)
    flask_app.config["TESTING"] = True
    runner = ProjectionRunner(fresh_ledger, build_projections(flask_app.extensions["views"]),
                              poll_interval=0.01)
    thread = runner.start(follower_for(fresh_ledger))

    def client(role: str, vendor_id: str | None = None) -> Api:
        key = create_api_key(fresh_ledger.tables, role, vendor_id, f"portfolio {role}")[1]
        return Api(flask_app.test_client(), key)

    yield client
    runner.stop()
    thread.join(10)


@pytest.fixture
def unprojected(fresh_store_url: str,
                fresh_ledger: ContractLedger) -> tuple[Api, ProjectionRunner]:
    """Procurement on an app on a store of its own whose views move only when the test
    catches them up: every write made before folds in one batch."""
    flask_app = create_app(Settings(database_url=fresh_store_url), fresh_ledger)
    flask_app.config["TESTING"] = True
    runner = ProjectionRunner(fresh_ledger, build_projections(flask_app.extensions["views"]))
    key = create_api_key(fresh_ledger.tables, "procurement")[1]
    return Api(flask_app.test_client(), key), runner


# -- GET /v1/contracts -----------------------------------------------------------------------

@pytest.mark.usefixtures("runner")
class TestListingContracts:
    def test_a_draft_is_listed_as_its_representation_shows_it(self, api: Api) -> None:
        drafted = api.draft(title=f"Managed network {token()}")
        contract = drafted.json
        body = ok(api.read(f"/v1/contracts?{urlencode({'q': contract['title']})}", drafted))
        (item,) = body["items"]
        assert set(item) == LIST_ITEM_KEYS
        for key in LIST_ITEM_KEYS - {"exiting", "terminated_on"}:
            assert item[key] == contract[key], key
        assert item["exiting"] is False
        assert item["terminated_on"] is None
        assert body["next_cursor"] is None
        assert body["position"] >= int(drafted.headers["Ledger-Position"])

    def test_an_active_contract_is_listed_with_its_version_and_activation_day(
        self, api: Api
    ) -> None:
        word = token()
        active = activated(api, title=f"Active {word}")
        (item,) = ok(api.read(f"/v1/contracts?q={word}", active))["items"]
        assert item["status"] == "active"
        assert item["version"] == 5
        assert item["activated_on"] == "2026-01-01"
        assert item["updated_at"] == active.json["updated_at"]

    def test_filters_by_status(self, api: Api) -> None:
        word = token()
        draft = api.draft(title=f"Draft {word}").json["id"]
        active = activated(api, title=f"Active {word}")
        assert search(api, active, q=word, status="draft") == [draft]
        assert search(api, active, q=word, status="active") == [active.json["id"]]
        assert search(api, active, q=word, status="terminated") == []

    def test_filters_by_vendor_service_scope_and_sourcing_model(self, api: Api) -> None:
        word = token()
        network = api.draft(title=f"Network {word}", vendor=vendor()).json
        security = api.draft(title=f"Security {word}", vendor=vendor(),
                             service_scope="security", sourcing_model="project")
        security_id = security.json["id"]
        assert search(api, security, q=word, vendor=network["vendor"]["vendor_id"]) == [
            network["id"]]
        assert search(api, security, q=word, service_scope="security") == [security_id]
        assert search(api, security, q=word, sourcing_model="project") == [security_id]
        assert search(api, security, q=word, sourcing_model="managed_service") == [
            network["id"]]

    def test_filters_by_a_value_range_within_one_currency(self, api: Api) -> None:
        word = token()
        ids = {amount: api.draft(title=f"{word} {amount}", value=money(amount)).json["id"]
               for amount in ("900.00", "1000.00", "25000.50")}
        dollars = api.draft(title=f"{word} dollars", value=money("1000.00", "USD"))
        found = search(api, dollars, q=word, currency="EUR", value_min="1000",
                       value_max="25000.50", sort="value")
        assert found == [ids["1000.00"], ids["25000.50"]]  # both bounds inclusive
        assert search(api, dollars, q=word, currency="EUR", value_max="999.99") == [
            ids["900.00"]]
        assert search(api, dollars, q=word, currency="USD") == [dollars.json["id"]]

    def test_filters_by_term_end_and_notice_deadline_strictly_before_a_day(
        self, api: Api
    ) -> None:
        word = token()

        def term(end: str, notice: int) -> dict[str, Any]:
            return {"start": "2026-01-01", "end": end, "notice_period_days": notice,
                    "renewal": "optional"}

        early = api.draft(title=f"{word} early", term=term("2027-06-30", 30)).json
        late = api.draft(title=f"{word} late", term=term("2029-12-31", 400)).json
        last = api.draft(title=f"{word} mid", term=term("2028-12-31", 90))
        mid = last.json
        assert [early["notice_deadline"], mid["notice_deadline"], late["notice_deadline"]] == [
            "2027-05-31", "2028-10-02", "2028-11-26"]
        assert search(api, last, q=word, ends_before="2027-06-30") == []
        assert search(api, last, q=word, ends_before="2027-07-01") == [early["id"]]
        assert search(api, last, q=word, ends_before="2029-01-01", sort="term_end") == [
            early["id"], mid["id"]]
        assert search(api, last, q=word, notice_deadline_before="2028-12-01",
                      sort="notice_deadline") == [early["id"], mid["id"], late["id"]]
        assert search(api, last, q=word, notice_deadline_before="2028-10-02") == [early["id"]]

    def test_filters_contracts_being_exited(self, api: Api) -> None:
        word = token()
        staying = api.active_contract(title=f"Staying {word}")
        leaving = api.active_contract(title=f"Leaving {word}")
        exited = exiting(api, leaving)
        assert search(api, exited, q=word, exiting="true") == [leaving]
        assert search(api, exited, q=word, exiting="false") == [staying]
        (item,) = ok(api.read(f"/v1/contracts?q={word}&exiting=true", exited))["items"]
        assert (item["status"], item["exiting"]) == ("active", True)

    def test_a_terminated_contract_leaves_the_exiting_ones(self, api: Api,
                                                           as_role: Callable[[str], Api]) -> None:
        word = token()
        contract_id = api.active_contract(title=f"Ending {word}")
        in_exit = exiting(api, contract_id)
        assert search(api, in_exit, q=word, exiting="true") == [contract_id]
        ended = as_role("admin").post(f"/v1/contracts/{contract_id}/termination", {
            "reason": "insourced", "effective_date": "2026-12-31",
            "override_reason": "board decision: exit at once"}, version=version_of(in_exit))
        assert ended.status_code == 200, ended.json
        (item,) = ok(api.read(f"/v1/contracts?q={word}", ended))["items"]
        assert (item["status"], item["exiting"], item["terminated_on"]) == (
            "terminated", False, "2026-12-31")
        assert search(api, ended, q=word, status="terminated") == [contract_id]

    def test_q_matches_titles_ignoring_case_and_taking_wildcards_literally(
        self, api: Api
    ) -> None:
        word = token()
        percent = api.draft(title=f"Über {word} 100% uptime").json["id"]
        digits = api.draft(title=f"Über {word} 1000 uptime").json["id"]
        last = api.draft(title=f"Über {word}_x")
        assert search(api, last, q=f"über {word.upper()}", sort="title") == [
            percent, digits, last.json["id"]]
        assert search(api, last, q=f"{word} 100%") == [percent]
        assert search(api, last, q=f"{word}_") == [last.json["id"]]

    def test_amended_terms_show_in_the_list_as_in_the_representation(self, api: Api) -> None:
        before, after = token(), token()
        contract_id = api.draft(title=f"Before {before}").json["id"]
        amended = api.post(f"/v1/contracts/{contract_id}/amendments", {
            "changes": {"title": f"After {after}", "end": "2030-12-31",
                        "notice_period_days": 30, "service_scope": "security",
                        "delivery_location": "offshore", "renewal": "automatic"},
            "rationale": "Renegotiated", "effective_date": "2026-06-01"}, version=1)
        assert amended.status_code == 200, amended.json
        assert search(api, amended, q=before) == []
        (item,) = ok(api.read(f"/v1/contracts?q={after}&service_scope=security"
                              "&ends_before=2031-01-01", amended))["items"]
        for key in LIST_ITEM_KEYS - {"exiting", "terminated_on"}:
            assert item[key] == amended.json[key], key
        assert item["notice_deadline"] == "2030-12-01"

    def test_a_renewal_moves_the_term_end_and_notice_deadline(self, api: Api) -> None:
        word = token()
        contract_id = api.active_contract(title=f"Renewed {word}")
        renewed = api.post(f"/v1/contracts/{contract_id}/renewal",
                           {"new_end": "2029-12-31", "reason": "met targets"}, version=5)
        assert renewed.status_code == 200, renewed.json
        (item,) = ok(api.read(f"/v1/contracts?q={word}", renewed))["items"]
        assert item["term"] == renewed.json["term"]
        assert item["term"]["end"] == "2029-12-31"
        assert item["notice_deadline"] == renewed.json["notice_deadline"] == "2029-10-02"
        assert search(api, renewed, q=word, ends_before="2029-01-01") == []

    def test_an_amendment_moves_a_contract_between_searches(self, api: Api) -> None:
        word = token()
        drafted = api.draft(title=f"Amended {word}", value=money("1000.00"))
        contract_id = drafted.json["id"]
        assert search(api, drafted, q=word, currency="EUR", value_min="2000") == []
        amended = amend_value(api, contract_id, 1, "3000.00")
        assert search(api, amended, q=word, currency="EUR", value_min="2000") == [contract_id]
        (item,) = ok(api.read(f"/v1/contracts?q={word}", amended))["items"]
        assert item["value"] == money("3000.00")
        assert item["version"] == 2


class TestListingAfterOneBatch:
    def test_every_act_moves_the_listed_version_and_time_on(
        self, unprojected: tuple[Api, ProjectionRunner]
    ) -> None:
        # Given acts on two contracts, interleaved, most of which change no listed column
        api, runner = unprojected
        first = api.draft().json["id"]
        second = api.draft(title="Second").json["id"]
        api.post(f"/v1/contracts/{first}/point-of-contact", POINT_OF_CONTACT, version=1)
        api.post(f"/v1/contracts/{second}/exit-plan", EXIT_PLAN, version=1)
        api.post(f"/v1/contracts/{second}/point-of-contact", POINT_OF_CONTACT, version=2)
        last = api.post(f"/v1/contracts/{first}/sla-metrics", SLA_METRIC, version=2)
        assert last.status_code == 200, last.json
        # When the views fold them all in one batch
        runner.catch_up()
        # Then each contract is listed at its last version, as it reads now
        items = {i["id"]: i for i in ok(api.read("/v1/contracts", last))["items"]}
        for contract_id in (first, second):
            contract = api.get(f"/v1/contracts/{contract_id}").json
            assert items[contract_id]["version"] == contract["version"] == 3
            assert items[contract_id]["updated_at"] == contract["updated_at"]

    def test_the_timeline_and_scorecard_hold_every_act_of_the_batch(
        self, unprojected: tuple[Api, ProjectionRunner]
    ) -> None:
        api, runner = unprojected
        contract_id = api.active_contract(vendor=vendor("solo"))
        last = api.post(f"/v1/contracts/{contract_id}/health-checks", HEALTH_CHECK, version=5)
        runner.catch_up()
        entries = audit(api, contract_id, last, changes="false")
        assert [e["version"] for e in entries] == list(range(1, 8))
        card = ok(api.read("/v1/vendors/solo/scorecard", last))
        assert card["open_findings"]["critical"] == 1


@pytest.mark.usefixtures("runner")
class TestSortingContracts:
    @pytest.fixture
    def three(self, api: Api) -> tuple[str, list[str], TestResponse]:
        """Three contracts (drafted in this order) that sort differently by each key."""
        word = token()
        ids, last = [], None
        for title, amount, end in (("alpha", "25000.50", "2028-12-31"),
                                   ("Bravo", "900.00", "2027-12-31"),
                                   ("charlie", "1000.00", "2029-12-31")):
            last = api.draft(title=f"{word} {title}", value=money(amount),
                             term={"start": "2026-01-01", "end": end,
                                   "notice_period_days": 90, "renewal": "optional"})
            ids.append(last.json["id"])
        assert last is not None
        return word, ids, last

    @pytest.mark.parametrize(("sort", "order"), [
        ("-drafted_at", [2, 1, 0]), ("drafted_at", [0, 1, 2]),
        ("title", [0, 1, 2]), ("-title", [2, 1, 0]),  # case-insensitive: Bravo after alpha
        ("value", [1, 2, 0]), ("-value", [0, 2, 1]),  # as numbers, not text
        ("term_end", [1, 0, 2]), ("-term_end", [2, 0, 1]),
        ("notice_deadline", [1, 0, 2]), ("-notice_deadline", [2, 0, 1]),
    ])
    def test_sorts_by_each_key_both_ways(self, api: Api, three: Any, sort: str,
                                         order: list[int]) -> None:
        word, ids, last = three
        assert search(api, last, q=word, sort=sort) == [ids[i] for i in order]

    def test_the_default_order_is_newest_draft_first(self, api: Api, three: Any) -> None:
        word, ids, last = three
        assert search(api, last, q=word) == ids[::-1]

    def test_sorts_by_last_change(self, api: Api, three: Any) -> None:
        word, ids, _ = three
        amended = amend_value(api, ids[0], 1, "30000.00")
        assert search(api, amended, q=word, sort="-updated_at") == [ids[0], ids[2], ids[1]]
        assert search(api, amended, q=word, sort="updated_at") == [ids[1], ids[2], ids[0]]


@pytest.mark.usefixtures("runner")
class TestPagingContracts:
    @pytest.fixture
    def seven(self, api: Api) -> tuple[str, list[str], TestResponse]:
        """Seven contracts with many ties in value, title and term end."""
        word = token()
        ids, last = [], None
        for n, amount in enumerate(("100.00", "100.00", "100.00", "200.00", "200.00",
                                    "300.50", "300.50")):
            last = api.draft(title=f"Same {word}" if n % 2 else f"same {word} {n}",
                             value=money(amount))
            ids.append(last.json["id"])
        assert last is not None
        return word, ids, last

    @pytest.mark.parametrize("sort", ["-drafted_at", "value", "-value", "title", "-title",
                                      "term_end", "-updated_at"])
    def test_pages_walk_every_match_once_in_order(self, api: Api, seven: Any,
                                                  sort: str) -> None:
        word, ids, last = seven
        whole = search(api, last, q=word, sort=sort, limit=200)
        assert sorted(whole) == sorted(ids)
        walked = [item["id"] for item in walk(api, "/v1/contracts", last, q=word, sort=sort,
                                              limit=2)]
        assert walked == whole

    def test_a_page_of_exactly_the_rest_has_no_next_cursor(self, api: Api, seven: Any) -> None:
        word, _, last = seven
        first = ok(api.read(f"/v1/contracts?q={word}&limit=4", last))
        second = ok(api.read(f"/v1/contracts?q={word}&limit=3&cursor={first['next_cursor']}",
                             last))
        assert len(second["items"]) == 3
        assert second["next_cursor"] is None

    def test_a_cursor_may_change_the_page_size(self, api: Api, seven: Any) -> None:
        word, ids, last = seven
        first = ok(api.read(f"/v1/contracts?q={word}&limit=2", last))
        rest = ok(api.read(f"/v1/contracts?q={word}&limit=10&cursor={first['next_cursor']}",
                           last))
        assert [i["id"] for i in first["items"] + rest["items"]] == ids[::-1]

    @pytest.mark.parametrize("change", [{"status": "draft"}, {"sort": "value"},
                                        {"q": "other"}])
    def test_a_cursor_reused_with_other_filters_is_a_422_naming_the_cursor(
        self, api: Api, seven: Any, change: dict[str, str]
    ) -> None:
        word, _, last = seven
        cursor = ok(api.read(f"/v1/contracts?q={word}&limit=2", last))["next_cursor"]
        query = urlencode({"q": word, "limit": 2, **change, "cursor": cursor})
        assert pointers(api.get(f"/v1/contracts?{query}")) == ["/cursor"]

    def test_a_cursor_of_another_list_is_a_422(self, api: Api, seven: Any) -> None:
        word, _, last = seven
        cursor = ok(api.read(f"/v1/contracts?q={word}&limit=2", last))["next_cursor"]
        assert pointers(api.get(f"/v1/vendors?cursor={cursor}")) == ["/cursor"]

    @pytest.mark.parametrize("cursor", [
        "garbage", "!!!!", base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"k": 1}').decode(), "x" * 2001])
    def test_a_garbage_cursor_is_a_422(self, api: Api, cursor: str) -> None:
        assert pointers(api.get(f"/v1/contracts?cursor={cursor}")) == ["/cursor"]

    @pytest.mark.parametrize("key", [42, ["only-one"]])
    def test_a_tampered_cursor_is_a_422_not_a_500(self, api: Api, seven: Any,
                                                   key: Any) -> None:
        word, _, last = seven
        cursor = ok(api.read(f"/v1/contracts?q={word}&limit=2", last))["next_cursor"]
        response = api.get(f"/v1/contracts?q={word}&limit=2&cursor={tampered(cursor, key)}")
        assert pointers(response) == ["/cursor"]

    @pytest.mark.parametrize("key", [["1", "not-a-contract-id"], ["1", "\x00"]])
    def test_a_value_sorted_cursor_with_a_bad_contract_id_is_a_422(self, api: Api, seven: Any,
                                                                   key: Any) -> None:
        word, _, last = seven
        query = f"/v1/contracts?q={word}&limit=2&sort=value"
        cursor = ok(api.read(query, last))["next_cursor"]
        assert pointers(api.get(f"{query}&cursor={tampered(cursor, key)}")) == ["/cursor"]


class TestContractListErrors:
    @pytest.mark.parametrize(("query", "pointer"), [
        ("status=archived", "/status"),
        ("service_scope=space", "/service_scope"),
        ("sourcing_model=freelance", "/sourcing_model"),
        ("vendor=ACME!", "/vendor"),
        ("q=", "/q"),
        ("currency=eur", "/currency"),
        ("value_min=10", "/currency"),  # values in different currencies do not compare
        ("value_max=10", "/currency"),
        ("currency=EUR&value_min=ten", "/value_min"),
        ("currency=EUR&value_min=10&value_max=5", "/value_min"),
        ("ends_before=2026-02-30", "/ends_before"),
        ("notice_deadline_before=soon", "/notice_deadline_before"),
        ("exiting=perhaps", "/exiting"),
        ("sort=vendor", "/sort"),
        ("limit=0", "/limit"),
        ("limit=201", "/limit"),
        ("limit=ten", "/limit"),
        ("min_position=-1", "/min_position"),
        ("colour=red", "/colour"),
    ])
    def test_a_bad_filter_is_a_422_naming_it(self, api: Api, query: str,
                                             pointer: str) -> None:
        assert pointers(api.get(f"/v1/contracts?{query}")) == [pointer]

    def test_the_page_size_bounds_are_accepted(self, api: Api) -> None:
        for limit in (1, 200):
            assert api.get(f"/v1/contracts?limit={limit}&q={token()}").status_code == 200


@pytest.mark.usefixtures("runner")
class TestListingAccess:
    def test_a_vendor_sees_only_its_own_contracts(self, api: Api,
                                                  as_vendor: Callable[[str], Api]) -> None:
        word = token()
        mine = api.draft(title=f"Acme {word}").json["id"]
        theirs = api.draft(title=f"Globex {word}",
                           vendor={"vendor_id": "globex", "name": "Globex"})
        assert search(as_vendor("acme"), theirs, q=word) == [mine]
        assert search(as_vendor("globex"), theirs, q=word) == [theirs.json["id"]]

    def test_a_vendor_asking_for_another_vendor_gets_an_empty_list(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        word = token()
        api.draft(title=f"Acme {word}")
        theirs = api.draft(title=f"Globex {word}",
                           vendor={"vendor_id": "globex", "name": "Globex"})
        body = ok(as_vendor("acme").read(f"/v1/contracts?q={word}&vendor=globex", theirs))
        assert body["items"] == []
        assert body["next_cursor"] is None
        assert len(search(as_vendor("acme"), theirs, q=word, vendor="acme")) == 1

    def test_an_auditor_lists_every_vendors_contracts(self, api: Api,
                                                      as_role: Callable[[str], Api]) -> None:
        word = token()
        api.draft(title=f"Acme {word}")
        theirs = api.draft(title=f"Globex {word}",
                           vendor={"vendor_id": "globex", "name": "Globex"})
        assert len(search(as_role("auditor"), theirs, q=word)) == 2

    def test_the_integration_role_may_not_list_contracts(
        self, as_role: Callable[[str], Api]
    ) -> None:
        response = as_role("integration").get("/v1/contracts")
        assert response.status_code == 403
        assert response.json["type"] == "/problems/forbidden"

    def test_an_anonymous_request_is_a_401(self, anonymous: Api) -> None:
        response = anonymous.get("/v1/contracts")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- GET /v1/vendors -------------------------------------------------------------------------

class TestPortfolio:
    """On a store of its own, so that the totals are exactly those of these contracts."""

    @pytest.fixture
    def landscape(self, portfolio_app: Callable[..., Api]) -> TestResponse:
        """va: 600 EUR in force; vb: 300 EUR in force, a draft and a terminated contract;
        vc: 100 EUR and 50 USD in force. Answers the last write."""
        api = portfolio_app("procurement")
        for vendor_id, scope, amount in (("va", "network", "600.00"),
                                         ("vb", "security", "300.00"),
                                         ("vc", "network", "100.00")):
            api.active_contract(vendor=vendor(vendor_id), service_scope=scope,
                                value=money(amount))
        api.draft(vendor=vendor("vb"), service_scope="web", value=money("100.00"))
        ended = api.active_contract(vendor=vendor("vb"), value=money("5000.00"))
        assert portfolio_app("admin").post(f"/v1/contracts/{ended}/termination", {
            "reason": "insourced", "effective_date": "2026-12-31",
            "override_reason": "board decision"}, version=5).status_code == 200
        return activated(api, vendor=vendor("vc"), service_scope="backup",
                         value=money("50.00", "USD"))

    def test_totals_sum_the_value_in_force_per_currency_with_concentration(
        self, portfolio_app: Callable[..., Api], landscape: TestResponse
    ) -> None:
        body = ok(portfolio_app("auditor").read("/v1/vendors", landscape))
        assert body["totals"] == [
            {"currency": "EUR", "value_in_force": money("1000.00"), "vendors": 3,
             "largest_vendor_share": "0.6000", "herfindahl_index": "0.4600",
             "by_service_scope": [
                 {"service_scope": "network", "value_in_force": money("700.00"),
                  "share": "0.7000"},
                 {"service_scope": "security", "value_in_force": money("300.00"),
                  "share": "0.3000"}]},
            {"currency": "USD", "value_in_force": money("50.00", "USD"), "vendors": 1,
             "largest_vendor_share": "1.0000", "herfindahl_index": "1.0000",
             "by_service_scope": [
                 {"service_scope": "backup", "value_in_force": money("50.00", "USD"),
                  "share": "1.0000"}]},
        ]

    def test_each_vendor_shows_its_contracts_scopes_spend_and_share(
        self, portfolio_app: Callable[..., Api], landscape: TestResponse
    ) -> None:
        items = ok(portfolio_app("procurement").read("/v1/vendors", landscape))["items"]
        by_id = {item["vendor_id"]: item for item in items}
        assert list(by_id) == ["va", "vb", "vc"]
        assert by_id["va"]["name"] == "Vendor va"
        assert by_id["va"]["spend"] == [
            {"currency": "EUR", "value_in_force": money("600.00"), "share": "0.6000"}]
        assert {k: v for k, v in by_id["vb"]["contracts"].items() if v} == {
            "draft": 1, "active": 1, "terminated": 1}
        assert by_id["vb"]["service_scopes"] == ["network", "security", "web"]
        assert by_id["vb"]["spend"] == [
            {"currency": "EUR", "value_in_force": money("300.00"), "share": "0.3000"}]
        assert by_id["vc"]["service_scopes"] == ["backup", "network"]
        assert by_id["vc"]["spend"] == [
            {"currency": "EUR", "value_in_force": money("100.00"), "share": "0.1000"},
            {"currency": "USD", "value_in_force": money("50.00", "USD"), "share": "1.0000"}]

    def test_a_vendor_sees_its_own_entry_without_totals_or_shares(
        self, portfolio_app: Callable[..., Api], landscape: TestResponse
    ) -> None:
        body = ok(portfolio_app("vendor", "vb").read("/v1/vendors", landscape))
        assert body["totals"] == []
        (entry,) = body["items"]
        assert entry["vendor_id"] == "vb"
        assert entry["spend"] == [{"currency": "EUR", "value_in_force": money("300.00"),
                                   "share": None}]

    def test_vendors_page_in_id_order(self, portfolio_app: Callable[..., Api],
                                      landscape: TestResponse) -> None:
        api = portfolio_app("procurement")
        first = ok(api.read("/v1/vendors?limit=1", landscape))
        assert first["totals"][0]["currency"] == "EUR"
        walked = walk(api, "/v1/vendors", landscape, limit=1)
        assert [v["vendor_id"] for v in walked] == ["va", "vb", "vc"]

    def test_an_empty_ledger_has_no_vendors(self, portfolio_app: Callable[..., Api]) -> None:
        body = ok(portfolio_app("procurement").get("/v1/vendors"))
        assert (body["items"], body["totals"], body["next_cursor"]) == ([], [], None)


@pytest.mark.usefixtures("runner")
class TestVendors:
    def test_a_vendor_token_sees_only_its_own_entry(self, api: Api,
                                                    as_vendor: Callable[[str], Api]) -> None:
        api.active_contract(vendor={"vendor_id": "globex", "name": "Globex"})
        last = activated(api)  # acme
        body = ok(as_vendor("acme").read("/v1/vendors", last))
        assert [v["vendor_id"] for v in body["items"]] == ["acme"]
        assert body["totals"] == []
        assert all(s["share"] is None for s in body["items"][0]["spend"])
        everyone = walk(api, "/v1/vendors", last, limit=200)
        assert {"acme", "globex"} <= {v["vendor_id"] for v in everyone}

    def test_procurement_sees_every_vendor_with_totals(self, api: Api) -> None:
        mine = vendor()
        last = activated(api, vendor=mine, value=money("1234.56"))
        body = ok(api.read("/v1/vendors?limit=200", last))
        assert any(t["currency"] == "EUR" for t in body["totals"])
        (entry,) = [v for v in walk(api, "/v1/vendors", last, limit=200)
                    if v["vendor_id"] == mine["vendor_id"]]
        (spend,) = entry["spend"]
        assert spend["value_in_force"] == money("1234.56")
        assert spend["share"] is not None

    @pytest.mark.parametrize(("query", "pointer"), [
        ("limit=0", "/limit"), ("limit=201", "/limit"), ("status=active", "/status"),
        ("min_position=x", "/min_position"), ("cursor=garbage", "/cursor")])
    def test_a_bad_parameter_is_a_422_naming_it(self, api: Api, query: str,
                                                pointer: str) -> None:
        assert pointers(api.get(f"/v1/vendors?{query}")) == [pointer]

    def test_a_tampered_cursor_is_a_422_not_a_500(self, api: Api) -> None:
        api.draft(vendor=vendor())
        last = api.draft(vendor=vendor())
        cursor = ok(api.read("/v1/vendors?limit=1", last))["next_cursor"]
        assert pointers(api.get(f"/v1/vendors?limit=1&cursor={tampered(cursor, 42)}")) == [
            "/cursor"]

    def test_the_integration_role_may_not_read_vendors(
        self, as_role: Callable[[str], Api]
    ) -> None:
        assert as_role("integration").get("/v1/vendors").status_code == 403

    def test_an_anonymous_request_is_a_401(self, anonymous: Api) -> None:
        assert anonymous.get("/v1/vendors").status_code == 401


# -- GET /v1/vendors/{vendor_id}/scorecard ---------------------------------------------------

@pytest.mark.usefixtures("runner")
class TestScorecard:
    def test_the_scorecard_shows_compliance_credits_findings_and_reviews(self,
                                                                         api: Api) -> None:
        # Given a vendor of its own with one contract worth 1,000.00 EUR a day
        mine = vendor()
        contract_id, version = with_rules(api, vendor=mine)
        base = f"/v1/contracts/{contract_id}"
        # When it breaches, excels, breaches badly (waived), is checked and reviewed
        version = version_of(report(api, contract_id, version, "2026-01", "99.8"))
        version = version_of(report(api, contract_id, version, "2026-02", "99.995"))
        version = version_of(report(api, contract_id, version, "2026-03", "99.0"))
        march = next(p for p in api.get(f"{base}/credits").json["penalties"]
                     if p["period"] == "2026-03")
        version = version_of(api.post(f"{base}/penalties/{march['penalty_id']}/waiver", {
            "reason": "goodwill after the upgrade", "approver": "Head of procurement"},
            version=version))
        version = version_of(api.post(f"{base}/health-checks", HEALTH_CHECK, version=version))
        last = api.post(f"{base}/reviews", {
            "review_id": "q1", "kind": "scorecard", "held_on": "2026-03-31",
            "period": "2026-Q1", "attendees": ["Ana", "Acme"], "decisions": ["keep"],
            "scorecard": SCORECARD}, version=version)
        assert last.status_code == 200, last.json
        # Then the scorecard shows each of them
        card = ok(api.read(f"/v1/vendors/{mine['vendor_id']}/scorecard", last))
        assert card["vendor"] == mine
        assert card["contracts"] == [{"id": contract_id, "title": "Managed network services"}]
        (metric,) = card["sla_compliance"]
        assert (metric["contract_id"], metric["metric_id"]) == (contract_id, "availability")
        assert (metric["periods_evaluated"], metric["periods_met"]) == (3, 1)
        assert metric["compliance_rate"] == "0.3333"
        assert [(p["period"], p["met"], p["value"]) for p in metric["periods"]] == [
            ("2026-01", False, "99.8"), ("2026-02", True, "99.995"), ("2026-03", False, "99.0")]
        (credits,) = card["credits"]
        assert credits["currency"] == "EUR"
        assert {k: v for k, v in credits.items() if k != "currency"} == {
            "penalties_assessed": money("4650.00"), "credits_owed_by_vendor": money("1550.00"),
            "waived": money("3100.00"), "in_dispute": money("0.00"),
            "incentives_owed_to_vendor": money("560.00")}
        assert card["open_findings"] == {"critical": 1, "high": 0, "medium": 0, "low": 0}
        (review,) = card["last_reviews"]
        assert review == {"contract_id": contract_id, "review_id": "q1", "kind": "scorecard",
                          "held_on": "2026-03-31", "period": "2026-Q1",
                          "scorecard_average": "4"}
        assert [m["month"] for m in card["trend"]["months"]] == ["2026-01", "2026-02",
                                                                 "2026-03"]
        assert card["trend"]["direction"] == "insufficient_data"

    def test_a_renamed_contract_shows_its_new_title(self, api: Api) -> None:
        mine = vendor()
        contract_id = api.draft(vendor=mine).json["id"]
        renamed = api.post(f"/v1/contracts/{contract_id}/amendments", {
            "changes": {"title": "Managed security services"}, "rationale": "scope moved",
            "effective_date": "2026-06-01"}, version=1)
        card = ok(api.read(f"/v1/vendors/{mine['vendor_id']}/scorecard", renamed))
        assert card["contracts"] == [{"id": contract_id, "title": "Managed security services"}]
        assert card["sla_compliance"] == card["credits"] == card["last_reviews"] == []
        assert card["trend"] == {"direction": "insufficient_data", "months": []}

    def test_a_closed_period_without_a_report_shows_as_missing(self, api: Api) -> None:
        mine = vendor()
        contract_id, version = with_rules(api, vendor=mine)
        closed = api.post(f"/v1/contracts/{contract_id}/periods/2026-02/close", {},
                          version=version)
        assert closed.status_code == 200, closed.json
        card = ok(api.read(f"/v1/vendors/{mine['vendor_id']}/scorecard", closed))
        (metric,) = card["sla_compliance"]
        assert metric["periods"] == [{"period": "2026-02", "met": False, "missing": True,
                                      "value": None, "target": "99.9"}]
        assert metric["compliance_rate"] == "0.0000"
        (credits,) = card["credits"]
        assert Decimal(credits["credits_owed_by_vendor"]["amount"]) > 0

    def test_a_resolved_finding_is_no_longer_open(self, api: Api) -> None:
        mine = vendor()
        contract_id = api.active_contract(vendor=mine)
        checked = api.post(f"/v1/contracts/{contract_id}/health-checks", HEALTH_CHECK,
                           version=5)
        base = f"/v1/contracts/{contract_id}/findings/patching"
        path = f"/v1/vendors/{mine['vendor_id']}/scorecard"
        assert ok(api.read(path, checked))["open_findings"]["critical"] == 1
        resolved = api.post(f"{base}/resolution", {
            "outcome": "risk_accepted", "approver": "CISO", "reason": "legacy estate"},
            version=version_of(checked))
        assert resolved.status_code == 200, resolved.json
        assert ok(api.read(path, resolved))["open_findings"]["critical"] == 0

    def test_a_disputed_penalty_shows_as_in_dispute(self, api: Api,
                                                    as_vendor: Callable[[str], Api]) -> None:
        acme = as_vendor("acme")
        contract_id, version = with_rules(api)  # vendor acme: other tests' credits too
        reported = report(api, contract_id, version, "2026-01", "99.8")
        before = ok(acme.read("/v1/vendors/acme/scorecard", reported))
        penalty = api.get(f"/v1/contracts/{contract_id}/credits").json["penalties"][0]
        disputed = acme.post(
            f"/v1/contracts/{contract_id}/penalties/{penalty['penalty_id']}/dispute",
            {"reason": "the outage was the customer's change"}, version=version_of(reported))
        assert disputed.status_code == 200, disputed.json
        after = ok(acme.read("/v1/vendors/acme/scorecard", disputed))

        def in_dispute(card: dict[str, Any]) -> Decimal:
            return sum((Decimal(c["in_dispute"]["amount"]) for c in card["credits"]
                        if c["currency"] == "EUR"), Decimal(0))

        assert in_dispute(after) - in_dispute(before) == Decimal("1550.00")

    def test_a_corrected_report_counts_only_the_assessment_that_stands(self,
                                                                      api: Api) -> None:
        mine = vendor()
        contract_id, version = with_rules(api, vendor=mine)
        first = report(api, contract_id, version, "2026-01", "99.0")  # 10%: 3,100.00
        corrected = report(api, contract_id, version_of(first), "2026-01", "99.7",
                           correction={"reason": "monitoring double-counted an outage"})
        card = ok(api.read(f"/v1/vendors/{mine['vendor_id']}/scorecard", corrected))
        (metric,) = card["sla_compliance"]
        assert [(p["period"], p["value"]) for p in metric["periods"]] == [("2026-01", "99.7")]
        (credits,) = card["credits"]
        assert credits["credits_owed_by_vendor"] == money("1550.00")  # 5%
        assert credits["waived"] == money("0.00")
        assert credits["penalties_assessed"] == money("1550.00")

    def test_an_unknown_vendor_is_a_404(self, api: Api) -> None:
        last = api.draft()
        response = api.read(f"/v1/vendors/nobody-{uuid.uuid4().hex[:8]}/scorecard", last)
        assert response.status_code == 404
        assert response.json["type"] == "/problems/not-found"

    @pytest.mark.parametrize("vendor_id", ["%00", "Not%20A%20Slug", "acme%0A"])
    def test_a_vendor_id_no_vendor_can_have_is_a_404(self, api: Api, vendor_id: str) -> None:
        response = api.get(f"/v1/vendors/{vendor_id}/scorecard")
        assert response.status_code == 404
        assert response.json["type"] == "/problems/not-found"

    def test_a_vendor_reads_its_own_scorecard_only(self, api: Api,
                                                   as_vendor: Callable[[str], Api]) -> None:
        api.draft()
        last = api.draft(vendor={"vendor_id": "globex", "name": "Globex"})
        acme = as_vendor("acme")
        assert acme.read("/v1/vendors/acme/scorecard", last).status_code == 200
        hidden = acme.read("/v1/vendors/globex/scorecard", last)
        assert hidden.status_code == 404  # as if globex had no contracts at all
        assert hidden.json["type"] == "/problems/not-found"
        assert as_vendor("globex").read("/v1/vendors/acme/scorecard", last).status_code == 404

    def test_an_auditor_reads_any_scorecard(self, api: Api,
                                            as_role: Callable[[str], Api]) -> None:
        last = api.draft(vendor={"vendor_id": "globex", "name": "Globex"})
        card = ok(as_role("auditor").read("/v1/vendors/globex/scorecard", last))
        assert card["vendor"]["vendor_id"] == "globex"

    @pytest.mark.parametrize(("query", "pointer"), [
        ("min_position=soon", "/min_position"), ("min_position=-1", "/min_position"),
        ("limit=5", "/limit")])
    def test_a_bad_parameter_is_a_422_naming_it(self, api: Api, query: str,
                                                pointer: str) -> None:
        assert pointers(api.get(f"/v1/vendors/acme/scorecard?{query}")) == [pointer]

    def test_the_integration_role_may_not_read_a_scorecard(
        self, as_role: Callable[[str], Api]
    ) -> None:
        assert as_role("integration").get("/v1/vendors/acme/scorecard").status_code == 403

    def test_an_anonymous_request_is_a_401(self, anonymous: Api) -> None:
        assert anonymous.get("/v1/vendors/acme/scorecard").status_code == 401


# -- GET /v1/contracts/{id}/audit ------------------------------------------------------------

@pytest.mark.usefixtures("runner")
class TestContractAudit:
    @pytest.fixture
    def amended(self, api: Api) -> TestResponse:
        """An active contract amended (version 6) with a request id of its own."""
        contract_id = api.active_contract()
        return amend_value(api, contract_id, 5, "1300000.00",
                           **{"X-Request-ID": f"audit-{uuid.uuid4()}"})

    def test_entries_come_in_version_order_with_who_when_and_why(
        self, api: Api, amended: TestResponse
    ) -> None:
        entries = audit(api, amended.json["id"], amended)
        assert [(e["version"], e["type"]) for e in entries] == [
            (1, "ContractDrafted"), (2, "PointOfContactDesignated"), (3, "SlaMetricDefined"),
            (4, "ExitPlanDefined"), (5, "ContractActivated"), (6, "TermsAmended")]
        assert all(set(e) == AUDIT_ENTRY_KEYS for e in entries)
        assert all(e["contract_id"] == amended.json["id"] for e in entries)
        assert all(e["actor"]["role"] == "procurement" and e["actor"]["id"] for e in entries)
        assert [e["recorded_at"] for e in entries] == sorted(e["recorded_at"] for e in entries)
        positions = [e["position"] for e in entries]
        assert positions == sorted(set(positions))
        assert entries[4]["effective_date"] == "2026-01-01"
        amendment = entries[5]
        assert amendment["position"] == int(amended.headers["Ledger-Position"])
        assert amendment["reason"] == "Scope grew to two more sites"
        assert amendment["effective_date"] == "2026-06-01"
        assert amendment["correlation_id"] == amended.headers["X-Request-ID"]
        assert amendment["recorded_at"] == amended.json["updated_at"]

    def test_an_amendments_patch_replaces_the_value(self, api: Api,
                                                    amended: TestResponse) -> None:
        amendment = audit(api, amended.json["id"], amended)[-1]
        assert {"op": "replace", "path": "/value/amount",
                "value": "1300000.00"} in amendment["changes"]
        assert not any(op["path"].startswith(("/version", "/updated_at"))
                       for op in amendment["changes"])

    def test_the_patches_replayed_in_order_rebuild_every_version(
        self, api: Api, amended: TestResponse
    ) -> None:
        state: Any = {}
        for entry in audit(api, amended.json["id"], amended):
            state = jsonpatch.apply_patch(state, entry["changes"])
            day = entry["recorded_at"][:10]  # the day the patch was judged on
            then = api.get(f"{entry['contract_at_version']}&as_of_date={day}").json
            assert state == {k: v for k, v in then.items()
                             if k not in ("version", "updated_at")}, entry["version"]

    def test_patches_hold_across_a_long_history_and_page_boundaries(self, api: Api) -> None:
        # Given two amendments with 30 other acts between them (past snapshot intervals)
        contract_id = api.active_contract()
        last = amend_value(api, contract_id, 5, "1000001.00")
        for n in range(30):
            last = api.post(f"/v1/contracts/{contract_id}/point-of-contact", {
                "name": f"Contact {n}", "email": f"c{n}@acme.example"},
                version=version_of(last))
        last = amend_value(api, contract_id, version_of(last), "1000002.00")
        # Then each amendment's patch is its own change, not what lay between
        body = ok(api.read(f"/v1/audit?contract={contract_id}&type=TermsAmended", last))
        for entry, amount in zip(body["items"], ("1000001.00", "1000002.00"), strict=True):
            assert {"op": "replace", "path": "/value/amount",
                    "value": amount} in entry["changes"]
            assert not any(op["path"].startswith("/point_of_contact")
                           for op in entry["changes"])
        # And the patches of every page replayed in order rebuild the contract
        state: Any = {}
        for entry in walk(api, f"/v1/contracts/{contract_id}/audit", last, limit=7):
            state = jsonpatch.apply_patch(state, entry["changes"])
        day = entry["recorded_at"][:10]
        now = api.get(f"/v1/contracts/{contract_id}?as_of_date={day}").json
        assert now["version"] == 37
        assert state == {k: v for k, v in now.items() if k not in ("version", "updated_at")}

    def test_changes_false_leaves_the_patches_out(self, api: Api,
                                                  amended: TestResponse) -> None:
        entries = audit(api, amended.json["id"], amended, changes="false")
        assert len(entries) == 6
        assert all(set(e) == AUDIT_ENTRY_KEYS - {"changes"} for e in entries)

    def test_each_entry_links_to_the_contract_at_its_version(self, api: Api,
                                                             amended: TestResponse) -> None:
        for entry in audit(api, amended.json["id"], amended, changes="false"):
            response = api.get(entry["contract_at_version"])
            assert response.status_code == 200, entry["contract_at_version"]
            assert response.headers["ETag"] == f'"{entry["version"]}"'
            assert response.json["id"] == amended.json["id"]
        value = api.get(audit(api, amended.json["id"], amended)[4]["contract_at_version"])
        assert value.json["value"]["amount"] == "1200000.00"  # before the amendment

    def test_the_timeline_pages_with_a_cursor(self, api: Api, amended: TestResponse) -> None:
        path = f"/v1/contracts/{amended.json['id']}/audit"
        first = ok(api.read(f"{path}?limit=2", amended))
        assert [e["version"] for e in first["items"]] == [1, 2]
        walked = walk(api, path, amended, limit=4, changes="false")
        assert [e["version"] for e in walked] == [1, 2, 3, 4, 5, 6]
        last = ok(api.read(f"{path}?limit=6", amended))
        assert last["next_cursor"] is None

    def test_a_cursor_of_another_contract_is_a_422(self, api: Api,
                                                   amended: TestResponse) -> None:
        cursor = ok(api.read(f"/v1/contracts/{amended.json['id']}/audit?limit=2",
                             amended))["next_cursor"]
        other = api.draft().json["id"]
        response = api.get(f"/v1/contracts/{other}/audit?limit=2&cursor={cursor}")
        assert pointers(response) == ["/cursor"]

    def test_a_vendor_reads_its_own_contracts_timeline_only(
        self, api: Api, as_vendor: Callable[[str], Api], amended: TestResponse
    ) -> None:
        path = f"/v1/contracts/{amended.json['id']}/audit"  # vendor acme
        assert len(ok(as_vendor("acme").read(path, amended))["items"]) == 6
        hidden = as_vendor("globex").read(path, amended)
        assert hidden.status_code == 404
        assert hidden.json["type"] == "/problems/not-found"

    def test_an_auditor_reads_any_timeline(self, api: Api, as_role: Callable[[str], Api],
                                           amended: TestResponse) -> None:
        entries = audit(as_role("auditor"), amended.json["id"], amended)
        assert entries[-1]["type"] == "TermsAmended"

    def test_an_unknown_contract_is_a_404(self, api: Api) -> None:
        last = api.draft()
        response = api.read(f"/v1/contracts/{uuid.uuid4()}/audit", last)
        assert response.status_code == 404
        assert response.json["type"] == "/problems/not-found"

    def test_a_malformed_contract_id_is_a_404(self, api: Api) -> None:
        assert api.get("/v1/contracts/not-a-uuid/audit").status_code == 404

    @pytest.mark.parametrize(("query", "pointer"), [
        ("type=ContractRenamed", "/type"), ("changes=perhaps", "/changes"),
        ("recorded_from=yesterday", "/recorded_from"),
        ("recorded_to=2026-01-01T00:00:00", "/recorded_to"),  # no offset: ambiguous
        ("limit=0", "/limit"), ("limit=201", "/limit"), ("cursor=garbage", "/cursor"),
        ("min_position=-1", "/min_position"), ("sort=version", "/sort")])
    def test_a_bad_parameter_is_a_422_naming_it(self, api: Api, query: str,
                                                pointer: str) -> None:
        contract_id = api.draft().json["id"]
        assert pointers(api.get(f"/v1/contracts/{contract_id}/audit?{query}")) == [pointer]

    def test_the_integration_role_may_not_read_a_timeline(
        self, api: Api, as_role: Callable[[str], Api]
    ) -> None:
        drafted = api.draft()
        response = as_role("integration").read(f"/v1/contracts/{drafted.json['id']}/audit",
                                               drafted)
        assert response.status_code == 403

    def test_an_anonymous_request_is_a_401(self, anonymous: Api) -> None:
        assert anonymous.get(f"/v1/contracts/{uuid.uuid4()}/audit").status_code == 401


# -- GET /v1/audit ---------------------------------------------------------------------------

def to_offset(recorded_at: str, hours: int) -> str:
    """The same instant written with another UTC offset."""
    moment = datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))
    return moment.astimezone(timezone(timedelta(hours=hours))).isoformat()


@pytest.mark.usefixtures("runner")
class TestLedgerAudit:
    def test_filtered_by_actor(self, api: Api, as_vendor: Callable[[str], Api]) -> None:
        # Given a contract procurement set up and its vendor reported on
        contract_id = api.active_contract()
        reported = report(as_vendor("acme"), contract_id, 5, "2026-01", "99.95")
        entries = audit(api, contract_id, reported, changes="false")
        procurement = entries[0]["actor"]["id"]
        (first_by_vendor, *_) = [e for e in entries if e["actor"]["role"] == "vendor"]
        acme = first_by_vendor["actor"]["id"]
        assert acme != procurement
        assert first_by_vendor["effective_date"] == "2026-01-01"  # the period's first day
        # When the ledger's timeline is filtered by the vendor's key since its report
        mine = ok(api.read("/v1/audit?" + urlencode({
            "actor": acme, "recorded_from": first_by_vendor["recorded_at"]}), reported))
        # Then it holds that report's entries only
        assert [(e["contract_id"], e["version"], e["type"]) for e in mine["items"]] == [
            (contract_id, 6, "PerformanceReported"), (contract_id, 7, "SlaMet")]
        assert {e["actor"]["id"] for e in mine["items"]} == {acme}
        theirs = ok(api.read("/v1/audit?" + urlencode({
            "actor": procurement, "contract": contract_id}), reported))
        assert [e["version"] for e in theirs["items"]] == [1, 2, 3, 4, 5]

    def test_an_actor_with_no_entries_has_an_empty_timeline(self, api: Api) -> None:
        body = ok(api.read(f"/v1/audit?actor=nobody-{token()}", api.draft()))
        assert (body["items"], body["next_cursor"]) == ([], None)

    def test_filtered_by_type(self, api: Api) -> None:
        contract_id = api.active_contract()
        amended = amend_value(api, contract_id, 5, "1300000.00")
        (entry,) = [e for e in audit(api, contract_id, amended) if e["version"] == 6]
        since = ok(api.read("/v1/audit?" + urlencode({
            "type": "TermsAmended", "recorded_from": entry["recorded_at"]}), amended))
        assert since["items"] == [entry]
        anywhen = ok(api.read("/v1/audit?type=ContractActivated&limit=20", amended))
        assert anywhen["items"]
        assert {e["type"] for e in anywhen["items"]} == {"ContractActivated"}

    def test_filtered_by_a_recorded_time_range_from_inclusive_to_exclusive(
        self, api: Api
    ) -> None:
        last = activated(api)
        contract_id = last.json["id"]
        entries = audit(api, contract_id, last, changes="false")
        window = {"contract": contract_id, "recorded_from": entries[1]["recorded_at"],
                  "recorded_to": entries[3]["recorded_at"], "changes": "false"}
        found = ok(api.read(f"/v1/audit?{urlencode(window)}", last))["items"]
        assert found == entries[1:3]
        shifted = {**window, "recorded_from": to_offset(entries[1]["recorded_at"], 2),
                   "recorded_to": to_offset(entries[3]["recorded_at"], -5)}
        assert ok(api.read(f"/v1/audit?{urlencode(shifted)}", last))["items"] == found

    def test_filtered_by_contract_it_is_that_contracts_timeline(self, api: Api) -> None:
        last = activated(api)
        contract_id = last.json["id"]
        ledger_wide = ok(api.read(f"/v1/audit?contract={contract_id}", last))["items"]
        assert ledger_wide == audit(api, contract_id, last)

    def test_pages_walk_every_entry_once(self, api: Api) -> None:
        last = activated(api)
        entries = audit(api, last.json["id"], last, changes="false")
        walked = walk(api, "/v1/audit", last, contract=last.json["id"], limit=2,
                      changes="false")
        assert walked == entries

    def test_a_cursor_reused_with_another_actor_is_a_422(self, api: Api) -> None:
        last = activated(api)
        cursor = ok(api.read(f"/v1/audit?contract={last.json['id']}&limit=2",
                             last))["next_cursor"]
        response = api.get(f"/v1/audit?contract={last.json['id']}&limit=2&actor=x"
                           f"&cursor={cursor}")
        assert pointers(response) == ["/cursor"]

    @pytest.mark.parametrize("key", [[1], "x"])
    def test_a_tampered_cursor_is_a_422_not_a_500(self, api: Api, key: Any) -> None:
        last = activated(api)
        query = f"contract={last.json['id']}&limit=2"
        cursor = ok(api.read(f"/v1/audit?{query}", last))["next_cursor"]
        assert pointers(api.get(f"/v1/audit?{query}&cursor={tampered(cursor, key)}")) == [
            "/cursor"]

    def test_a_vendor_sees_only_its_own_contracts_entries(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        acme = api.draft()
        globex = api.draft(vendor={"vendor_id": "globex", "name": "Globex"})
        (drafted,) = audit(api, acme.json["id"], globex)
        since = f"/v1/audit?recorded_from={drafted['recorded_at']}&changes=false"
        assert {e["contract_id"] for e in ok(as_vendor("acme").read(since, globex))[
            "items"]} == {acme.json["id"]}
        assert {e["contract_id"] for e in ok(api.read(since, globex))["items"]} == {
            acme.json["id"], globex.json["id"]}
        hidden = as_vendor("acme").read(f"/v1/audit?contract={globex.json['id']}", globex)
        assert hidden.status_code == 404

    @pytest.mark.parametrize(("query", "pointer"), [
        ("type=ContractRenamed", "/type"), ("type=", "/type"), ("contract=42", "/contract"),
        ("actor=", "/actor"), ("recorded_from=2026-13-01T00:00:00Z", "/recorded_from"),
        ("recorded_to=tomorrow", "/recorded_to"), ("changes=2", "/changes"),
        ("limit=201", "/limit"), ("min_position=9223372036854775808", "/min_position")])
    def test_a_bad_parameter_is_a_422_naming_it(self, api: Api, query: str,
                                                pointer: str) -> None:
        assert pointers(api.get(f"/v1/audit?{query}")) == [pointer]

    def test_the_integration_role_may_not_read_the_audit_timeline(
        self, as_role: Callable[[str], Api]
    ) -> None:
        assert as_role("integration").get("/v1/audit").status_code == 403

    def test_an_anonymous_request_is_a_401(self, anonymous: Api) -> None:
        assert anonymous.get("/v1/audit").status_code == 401


# -- read your writes ------------------------------------------------------------------------

@pytest.mark.usefixtures("runner")
class TestReadYourWrites:
    def test_the_contract_list_reflects_the_write_just_made(self, api: Api) -> None:
        word = token()
        drafted = api.draft(title=f"Fresh {word}")
        body = ok(api.read(f"/v1/contracts?q={word}", drafted))
        assert [i["id"] for i in body["items"]] == [drafted.json["id"]]
        assert body["position"] >= int(drafted.headers["Ledger-Position"])
        amended = amend_value(api, drafted.json["id"], 1, "1200007.00")
        (item,) = ok(api.read(f"/v1/contracts?q={word}", amended))["items"]
        assert (item["version"], item["value"]["amount"]) == (2, "1200007.00")

    def test_the_vendors_reflect_the_write_just_made(self, api: Api) -> None:
        mine = vendor()
        drafted = api.draft(vendor=mine)
        body = ok(api.read("/v1/vendors?limit=200", drafted))
        assert body["position"] >= int(drafted.headers["Ledger-Position"])
        (entry,) = [v for v in walk(api, "/v1/vendors", drafted, limit=200)
                    if v["vendor_id"] == mine["vendor_id"]]
        assert entry["contracts"]["draft"] == 1

    def test_the_scorecard_reflects_the_write_just_made(self, api: Api) -> None:
        mine = vendor()
        contract_id = api.active_contract(vendor=mine)
        checked = api.post(f"/v1/contracts/{contract_id}/health-checks", HEALTH_CHECK,
                           version=5)
        card = ok(api.read(f"/v1/vendors/{mine['vendor_id']}/scorecard", checked))
        assert card["position"] >= int(checked.headers["Ledger-Position"])
        assert card["open_findings"]["critical"] == 1

    def test_the_contracts_timeline_reflects_the_write_just_made(self, api: Api) -> None:
        drafted = api.draft()
        amended = amend_value(api, drafted.json["id"], 1, "1200008.00")
        body = ok(api.read(f"/v1/contracts/{drafted.json['id']}/audit", amended))
        assert body["position"] >= int(amended.headers["Ledger-Position"])
        assert [e["type"] for e in body["items"]] == ["ContractDrafted", "TermsAmended"]

    def test_the_ledgers_timeline_reflects_the_write_just_made(self, api: Api) -> None:
        drafted = api.draft()
        amended = amend_value(api, drafted.json["id"], 1, "1200009.00")
        body = ok(api.read(f"/v1/audit?contract={drafted.json['id']}&type=TermsAmended",
                           amended))
        assert body["position"] >= int(amended.headers["Ledger-Position"])
        assert [e["version"] for e in body["items"]] == [2]

    def test_a_vendor_reads_its_own_write(self, api: Api,
                                          as_vendor: Callable[[str], Api]) -> None:
        acme = as_vendor("acme")
        contract_id = api.active_contract()
        reported = report(acme, contract_id, 5, "2026-01", "99.95")
        entries = ok(acme.read(f"/v1/contracts/{contract_id}/audit", reported))["items"]
        assert [e["type"] for e in entries][-2:] == ["PerformanceReported", "SlaMet"]

    @pytest.mark.parametrize("path", [
        "/v1/contracts", "/v1/vendors", "/v1/vendors/acme/scorecard",
        "/v1/contracts/{id}/audit", "/v1/audit"])
    def test_a_position_beyond_the_head_is_refused_at_once(
        self, api: Api, impatient: Api, path: str
    ) -> None:
        # No write answered with it: waiting would only hold a thread (a view that is
        # merely behind answers 503 view-not-ready: see test_read_waits.py).
        contract_id = api.draft().json["id"]
        response = impatient.read(path.format(id=contract_id), FAR_AHEAD)
        assert response.status_code == 422, response.json
        assert response.mimetype == "application/problem+json"
        assert [e["pointer"] for e in response.json["errors"]] == ["/min_position"]

    def test_a_page_holds_nothing_beyond_the_position_it_names(
        self, api: Api, app: Flask, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        drafted = api.draft()
        contract_id = drafted.json["id"]
        view = app.extensions["views"]["audit"]
        original = view.entries
        writer = Api(app.test_client(), tokens.by_role["procurement"])

        def entries_after_another_write(session: Any, where: Any, limit: int) -> Any:
            # Another client's write commits and is projected while this read runs.
            with ThreadPoolExecutor(1) as pool:
                amended = pool.submit(amend_value, writer, contract_id, 1, "1200005.00").result()
            view.wait_for(int(amended.headers["Ledger-Position"]), 10)
            return original(session, where, limit)

        monkeypatch.setattr(view, "entries", entries_after_another_write)
        body = ok(api.read(f"/v1/audit?contract={contract_id}&changes=false", drafted))
        monkeypatch.undo()
        assert [e["position"] for e in body["items"] if e["position"] > body["position"]] == []
        later = ok(api.read(f"/v1/audit?contract={contract_id}&changes=false", drafted))
        assert [e["type"] for e in later["items"]] == ["ContractDrafted", "TermsAmended"]

    def test_a_vendor_filtering_by_another_vendor_still_honours_min_position(
        self, impatient_app: Flask, tokens: Tokens
    ) -> None:
        acme = Api(impatient_app.test_client(), tokens.vendors["acme"])
        assert acme.read("/v1/contracts?vendor=acme", FAR_AHEAD).status_code == 422
        response = acme.read("/v1/contracts?vendor=globex", FAR_AHEAD)
        assert response.status_code == 422, response.json

    def test_min_position_zero_does_not_wait(self, impatient: Api) -> None:
        assert ok(impatient.read("/v1/contracts?limit=1", 0))["position"] >= 0

    def test_concurrent_writers_each_read_their_own_write(self, app: Flask,
                                                          tokens: Tokens) -> None:
        writers = 8
        word = token()
        start = Barrier(writers)

        def write_then_read(n: int) -> tuple[list[dict[str, Any]], list[str]]:
            me = Api(app.test_client(), tokens.by_role["procurement"])
            start.wait()
            drafted = me.draft(title=f"Writer {n} {word}")
            amended = amend_value(me, drafted.json["id"], 1, f"12{n + 1}0000.00")
            listed = ok(me.read(f"/v1/contracts?q=writer {n} {word}", amended))["items"]
            timeline = ok(me.read(f"/v1/contracts/{drafted.json['id']}/audit?changes=false",
                                  amended))["items"]
            return listed, [e["type"] for e in timeline]

        with ThreadPoolExecutor(writers) as pool:
            results = list(pool.map(write_then_read, range(writers)))
        for n, (listed, types) in enumerate(results):
            (item,) = listed
            assert (item["version"], item["value"]["amount"]) == (2, f"12{n + 1}0000.00")
            assert types == ["ContractDrafted", "TermsAmended"]


class TestReadiness:
    def test_readiness_says_how_far_behind_each_view_is(self, api: Api, anonymous: Api,
                                                        runner: Any) -> None:
        # Given a write the views have processed
        written = api.draft()
        ok(api.read("/v1/audit?limit=1&changes=false", written))
        # When anyone asks whether the service is ready
        ready = anonymous.get("/readyz")
        # Then each view says its position and how many positions it is behind the head
        assert ready.status_code == 200
        body = ready.json
        assert body["status"] == "ready"
        assert body["position"] >= int(written.headers["Ledger-Position"])
        assert set(body["views"]) == {"contracts", "scorecard", "audit"}
        for view in body["views"].values():
            assert view["position"] >= int(written.headers["Ledger-Position"])
            assert view["behind"] == max(0, body["position"] - view["position"])
