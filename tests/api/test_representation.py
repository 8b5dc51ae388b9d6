"""What the API presents: every money value as {amount, currency} in the currency's minor
units, contract years counted from 1, a penalty's status after its dispute, and an audit
diff that shows every change an event makes to the contract's representation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonpatch
import pytest
from werkzeug.test import TestResponse

from domain.history import EVENT_TYPES
from domain.money import MINOR_UNITS
from tests.support import Api
from tests.support.bodies import PENALTY_RULE
from tests.support.paging import walk
from tests.support.walk import walk_every_event

NOTHING_PRESENTED = {"PerformanceReportMissing"}
"""Events that change nothing the contract presents (the gap is the fact they record)."""

MONEY_FIELDS = {"amount", "owed", "budget", "spent", "estimated_saving",
                "realised_saving", "value_in_force", "penalties_assessed", "waived",
                "in_dispute", "credits_owed_by_vendor", "incentives_owed_to_vendor"}
"""Names under which responses hold money (each must be an {amount, currency} object)."""


def act(api: Api, contract_id: str, version: int,
        acts: list[tuple[str, dict[str, Any]]]) -> TestResponse:
    """Post each act in turn; answer the last response."""
    for path, body in acts:
        response = api.post(f"/v1/contracts/{contract_id}/{path}", body, version=version)
        assert response.status_code == 200, (path, response.json)
        version = response.json["version"]
    return response


def report(period: str, value: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("performance-reports", {
        "period": period, "values": [{"metric_id": "availability", "value": value}],
        "source": "monitoring", **extra})


def penalty_of(api: Api, contract_id: str, period: str) -> str:
    credits = api.get(f"/v1/contracts/{contract_id}/credits").json
    return next(p["penalty_id"] for p in credits["penalties"]
                if p["period"] == period and p["status"] == "assessed")


@pytest.fixture
def admin(as_role: Callable[[str], Api]) -> Api:
    return as_role("admin")


@pytest.fixture
def walked(api: Api, admin: Api) -> TestResponse:
    return walk_every_event(api, admin)


def shown(representation: dict[str, Any]) -> dict[str, Any]:
    """A representation as the audit diffs it (every event changes these two)."""
    return {k: v for k, v in representation.items() if k not in ("version", "updated_at")}


def money_values(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every value held under a money field's name, with its JSON pointer."""
    if isinstance(data, dict) and "currency" in data and isinstance(data.get("amount"), str):
        yield path, data  # money under another name (a contract's value, say)
    elif isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}/{key}"
            if key in MONEY_FIELDS and (isinstance(value, str) or (
                    isinstance(value, dict) and "currency" in value)):
                yield here, value
            else:
                yield from money_values(value, here)
    elif isinstance(data, list):
        for n, value in enumerate(data):
            yield from money_values(value, f"{path}/{n}")


def assert_money_in_minor_units(body: Any) -> int:
    """Every money value is {amount, currency} with exactly the currency's minor-unit
    digits; answer how many there were."""
    count = 0
    for pointer, value in money_values(body):
        assert isinstance(value, dict), (pointer, value)
        assert set(value) == {"amount", "currency"}, (pointer, value)
        digits = MINOR_UNITS[value["currency"]]
        pattern = rf"^-?[0-9]+\.[0-9]{{{digits}}}$" if digits else r"^-?[0-9]+$"
        assert re.match(pattern, value["amount"]), (pointer, value)
        count += 1
    return count


# -- item 7: the audit diff shows every change ----------------------------------------------

@pytest.mark.usefixtures("runner")
class TestAuditChanges:
    def test_every_event_type_changes_what_the_contract_presents(
        self, api: Api, walked: TestResponse
    ) -> None:
        contract_id = walked.json["id"]
        entries = walk(api, f"/v1/contracts/{contract_id}/audit", walked, limit=200)
        assert {e["type"] for e in entries} == EVENT_TYPES
        before: dict[str, Any] = {}
        for entry in entries:
            day = entry["recorded_at"][:10]  # both sides judged as of the recording day
            after = shown(api.get(f"{entry['contract_at_version']}&as_of_date={day}").json)
            if entry["version"] > 1:
                before = shown(api.get(f"/v1/contracts/{contract_id}?version="
                                       f"{entry['version'] - 1}&as_of_date={day}").json)
            label = (entry["version"], entry["type"])
            # The patch is exactly the change, and an event that records anything the
            # contract presents changes it: only a recorded gap has nothing to show.
            assert jsonpatch.apply_patch(before, entry["changes"]) == after, label
            assert (after != before) == bool(entry["changes"]), label
            assert bool(entry["changes"]) == (entry["type"] not in NOTHING_PRESENTED), label

    def test_a_report_and_a_dispute_show_what_they_changed(
        self, api: Api, as_vendor: Callable[[str], Api]
    ) -> None:
        contract_id = api.active_contract(value={"amount": "1096000.00", "currency": "EUR"})
        version = act(api, contract_id, 5, [("rules", PENALTY_RULE),
                                            report("2026-01", "99.8")]).json["version"]
        penalty_id = penalty_of(api, contract_id, "2026-01")
        disputed = as_vendor("acme").post(
            f"/v1/contracts/{contract_id}/penalties/{penalty_id}/dispute",
            {"reason": "the outage followed our change"}, version=version)
        assert disputed.status_code == 200, disputed.json
        entries = {e["type"]: e for e in api.read(
            f"/v1/contracts/{contract_id}/audit", disputed).json["items"]}
        reported = entries["PerformanceReported"]["changes"]
        assert [(op["op"], op["path"]) for op in reported] == [("add", "/performance_reports/0")]
        assert reported[0]["value"]["value"] == "99.8"
        breached = entries["SlaBreached"]["changes"]
        assert [op["path"] for op in breached if op["op"] == "add"] == ["/sla_evaluations/0"]
        assert entries["PenaltyDisputed"]["changes"] == [{
            "op": "replace", "path": "/penalties/0/dispute",
            "value": {"status": "open", "reason": "the outage followed our change",
                      "evidence": None}}]

    def test_the_contract_presents_the_credit_statements_penalties_and_incentives(
        self, api: Api, walked: TestResponse
    ) -> None:
        contract_id = walked.json["id"]
        contract = api.get(f"/v1/contracts/{contract_id}").json
        credits = api.get(f"/v1/contracts/{contract_id}/credits").json
        for kind in ("penalties", "incentives"):
            assert contract[kind] == [{k: v for k, v in item.items() if k != "calculation"}
                                      for item in credits[kind]]


# -- item 5: money, contract years, statuses ------------------------------------------------

class TestPenaltyStatus:
    @pytest.mark.parametrize(("outcome", "amount", "status", "owed"), [
        ("adjusted", {"amount": "775", "currency": "EUR"}, "adjusted", "775.00"),
        ("overturned", None, "overturned", "0.00"),
        ("upheld", None, "assessed", "1550.00")])
    def test_a_resolved_dispute_shows_in_the_penaltys_status(
        self, api: Api, as_vendor: Callable[[str], Api], outcome: str, amount: Any,
        status: str, owed: str
    ) -> None:
        contract_id = api.active_contract(value={"amount": "1096000.00", "currency": "EUR"})
        version = act(api, contract_id, 5, [("rules", PENALTY_RULE),
                                            report("2026-01", "99.8")]).json["version"]
        penalty_id = penalty_of(api, contract_id, "2026-01")
        act(as_vendor("acme"), contract_id, version, [
            (f"penalties/{penalty_id}/dispute", {"reason": "a planned outage"})])
        act(api, contract_id, version + 1, [
            (f"penalties/{penalty_id}/dispute-resolution", {
                "outcome": outcome, "reason": "decided", **({"amount": amount} if amount else {})}),
        ])
        penalty = api.get(f"/v1/contracts/{contract_id}/credits").json["penalties"][0]
        assert (penalty["status"], penalty["dispute"]["status"]) == (status, outcome)
        assert penalty["owed"] == {"amount": owed, "currency": "EUR"}
        assert api.get(f"/v1/contracts/{contract_id}").json["penalties"][0]["status"] == status


class TestContractYears:
    def test_contract_years_are_numbered_from_one_everywhere(self, api: Api) -> None:
        # Given penalties in the first and the second contract year (the term starts 2026)
        contract_id = api.active_contract(value={"amount": "1096000.00", "currency": "EUR"})
        act(api, contract_id, 5, [("rules", PENALTY_RULE), report("2026-01", "99.8"),
                                  report("2027-01", "99.8")])
        # Then the statement, its totals, the contract and the events count them from 1
        credits = api.get(f"/v1/contracts/{contract_id}/credits").json
        assert [p["contract_year"] for p in credits["penalties"]] == [1, 2]
        assert [y["contract_year"] for y in credits["totals"]["by_contract_year"]] == [1, 2]
        contract = api.get(f"/v1/contracts/{contract_id}").json
        assert [p["contract_year"] for p in contract["penalties"]] == [1, 2]
        events = api.get(f"/v1/contracts/{contract_id}/events").json["events"]
        assert [e["data"]["contract_year"] for e in events
                if e["type"] == "PenaltyAssessed"] == [1, 2]


@pytest.mark.usefixtures("runner")
class TestMoney:
    def test_every_money_value_in_every_response_is_an_amount_in_minor_units(
        self, api: Api, admin: Api
    ) -> None:
        # Given a contract walked through every event, with amounts given without cents
        vendor_id = f"v{uuid.uuid4().hex[:12]}"
        last = walk_every_event(api, admin, vendor_id=vendor_id)
        contract_id, version = last.json["id"], last.json["version"]
        base = f"/v1/contracts/{contract_id}"
        position = int(last.headers["Ledger-Position"])
        # Then every response writes each money value as {amount, currency}, in cents
        bodies = {
            "contract": api.get(base).json,
            "contract then": api.get(f"{base}?version={version - 1}&effective_on=2024-06-01").json,
            "credits": api.get(f"{base}/credits").json,
            "events": api.get(f"{base}/events?limit=1000").json,
            "audit": api.read(f"{base}/audit?limit=200", position).json,
            "scorecard": api.read(f"/v1/vendors/{vendor_id}/scorecard", position).json,
            "vendors": api.read("/v1/vendors?limit=200", position).json,
            "list": api.read(f"/v1/contracts?vendor={vendor_id}", position).json,
        }
        for name, body in bodies.items():
            assert assert_money_in_minor_units(body) > 0, name
        assert bodies["contract"]["value"] == {"amount": "731000.00", "currency": "EUR"}
        assert bodies["list"]["items"][0]["value"] == {"amount": "731000.00", "currency": "EUR"}
        credits = bodies["scorecard"]["credits"][0]
        assert credits["in_dispute"] == {"amount": "0.00", "currency": "EUR"}

    def test_a_zero_decimal_currency_is_written_without_decimals(self, api: Api) -> None:
        contract_id = api.draft(value={"amount": "1.5E+6", "currency": "JPY"}).json["id"]
        contract = api.get(f"/v1/contracts/{contract_id}").json
        assert contract["value"] == {"amount": "1500000", "currency": "JPY"}
        assert contract["credit_totals"]["credits_owed_by_vendor"] == {"amount": "0",
                                                                       "currency": "JPY"}
