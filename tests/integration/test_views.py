"""The read side on both stores: what each view folds from a scripted event history, the
contract search, exactly-once and resumable runners, rebuilds, gaps in the notification
ids, and the audit trail's JSON Patches (service.history.changes)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

import jsonpatch
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from domain.credits import IncentiveRule, MetricValue, MissingData, PenaltyRule, Tier
from domain.governance import (
    FindingCategory,
    FindingSpec,
    HealthRating,
    ReviewKind,
    Scorecard,
    ScorecardEntry,
    Severity,
)
from domain.money import Money
from domain.values import (
    DeliveryLocation,
    Direction,
    ExitPlan,
    ExitStep,
    MeasurementPeriod,
    PointOfContact,
    Provenance,
    RenewalOption,
    ServiceScope,
    SlaMetric,
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
)
from projections.audit import AuditFilter, AuditView
from projections.base import View, instant
from projections.contracts import SORTS, ContractFilter, ContractsView, present_row
from projections.database import PostgresDatabase
from projections.scorecard import ScorecardView
from projections.session import PositionMoved, Session
from projections.vendors import portfolio, portfolio_rows
from service.app import build_ledger
from service.application import SNAPSHOT_INTERVAL, CommandContext, CommandResult, ContractLedger
from service.config import Settings
from service.history import UNDIFFED, changes
from service.runner import (
    VIEWS,
    Catcher,
    Follower,
    ProjectionRunner,
    build_projections,
    build_views,
    rebuild,
)
from tests.conftest import POSTGRES_URL

START, END = date(2026, 1, 1), date(2028, 12, 31)
MONTHLY_METRIC = SlaMetric("availability", "Network availability", "percent",
                           Direction.HIGHER_IS_BETTER, Decimal("99.9"),
                           MeasurementPeriod.MONTHLY, START)
EXIT_PLAN = ExitPlan(steps=(ExitStep("handover", "Hand over runbooks", mandatory=True),),
                     budget=Money(Decimal("50000.00"), "EUR"), transition_period_days=90,
                     data_return="Configs as JSON")
# 5% of the period fee below 99.9, 10% below 99.0.
PENALTY_RULE = PenaltyRule("availability-credit", "availability",
                           (Tier(Decimal("99.9"), Decimal(5)), Tier(Decimal("99.0"), Decimal(10))),
                           None, None, 0, MissingData.BREACH, START)
# 2% of the period fee at 99.95 or better.
INCENTIVE_RULE = IncentiveRule("availability-bonus", "availability",
                               (Tier(Decimal("99.95"), Decimal(2)),), 1, None, None, START)


# -- driving the ledger ------------------------------------------------------------------


class Script:
    """Drives the ledger through its use cases, keeping each contract's current version."""

    def __init__(self, ledger: ContractLedger):
        self.ledger = ledger
        self.versions: dict[UUID, int] = {}
        self._requests = 0

    def ctx(self, actor: str = "ana", role: str = "procurement",
            correlation: str | None = None) -> CommandContext:
        self._requests += 1
        return CommandContext(Provenance(actor, role, correlation or f"req-{self._requests}"),
                              actor)

    def draft(self, title: str = "Managed network services", *, vendor: str = "acme",
              vendor_name: str | None = None, scope: ServiceScope = ServiceScope.NETWORK,
              model: SourcingModel = SourcingModel.MANAGED_SERVICE,
              amount: str = "1200000.00", currency: str = "EUR", start: date = START,
              end: date = END, notice: int = 90,
              renewal: RenewalOption = RenewalOption.OPTIONAL, actor: str = "ana",
              correlation: str | None = None) -> UUID:
        result = self.ledger.draft_contract(
            title=title, vendor=Vendor(vendor, vendor_name or vendor.title()),
            service_scope=scope, sourcing_model=model,
            delivery_location=DeliveryLocation.NEARSHORE,
            value=Money(Decimal(amount), currency),
            term=Term(start, end, notice, renewal), objectives=("Keep it running",),
            ctx=self.ctx(actor, correlation=correlation))
        contract_id = UUID(result.contract["id"])
        self.versions[contract_id] = result.version
        return contract_id

    def act(self, use_case: str, contract_id: UUID, *, actor: str = "ana",
            role: str = "procurement", correlation: str | None = None,
            **arguments: Any) -> CommandResult:
        """Run a use case on the contract's current version."""
        method: Callable[..., CommandResult] = getattr(self.ledger, use_case)
        result = method(contract_id, self.versions[contract_id],
                        ctx=self.ctx(actor, role, correlation), **arguments)
        self.versions[contract_id] = result.version
        return result

    def ready(self, contract_id: UUID, metric: SlaMetric = MONTHLY_METRIC) -> None:
        self.act("designate_point_of_contact", contract_id,
                 point_of_contact=PointOfContact("Ana Souza", "ana@acme.example"))
        self.act("define_sla_metric", contract_id, metric=metric)
        self.act("define_exit_plan", contract_id, exit_plan=EXIT_PLAN)

    def activate(self, contract_id: UUID, on: date = START) -> CommandResult:
        return self.act("activate", contract_id, effective_date=on)

    def active(self, title: str = "Managed network services", **draft: Any) -> UUID:
        contract_id = self.draft(title, **draft)
        self.ready(contract_id)
        self.activate(contract_id)
        return contract_id

    def amend(self, contract_id: UUID, *, rationale: str = "Two more sites",
              effective: date = date(2026, 7, 1), **changes: Any) -> CommandResult:
        return self.act("amend_terms", contract_id, changes=TermChanges(**changes),
                        rationale=rationale, effective_date=effective)

    def exit(self, contract_id: UUID) -> CommandResult:
        return self.act("initiate_exit", contract_id, reason="Moving to a new provider",
                        trigger_id=None)

    def terminate(self, contract_id: UUID, on: date = date(2026, 11, 30)) -> CommandResult:
        return self.act("terminate", contract_id, reason="Service ended", effective_date=on,
                        override_reason="Handover done outside the plan")

    def report(self, contract_id: UUID, period: str, value: str,
               correction: str | None = None) -> CommandResult:
        return self.act("report_performance", contract_id, period=period,
                        values=(MetricValue("availability", Decimal(value)),),
                        source="vendor portal", evidence_ref=None,
                        correction_reason=correction)

    def penalty(self, contract_id: UUID, period: str) -> dict[str, Any]:
        """The contract's standing (not reversed) penalty for a period, as the domain has it."""
        (penalty,) = [p for p in self.ledger.credits(contract_id)["penalties"]
                      if p["period"] == period and p["status"] != "reversed"]
        return penalty


@pytest.fixture
def script(fresh_ledger: ContractLedger) -> Script:
    return Script(fresh_ledger)


# -- reading the views -------------------------------------------------------------------


def caught_up(ledger: ContractLedger, batch_size: int = 1000) -> dict[str, View]:
    """Every view, folded up to the head of the ledger by a new runner."""
    views = build_views(ledger)
    ProjectionRunner(ledger, build_projections(views), batch_size=batch_size).catch_up()
    return views


def dump(view: View) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the view's active generation, in key order."""
    def query(session: Session) -> dict[str, list[dict[str, Any]]]:
        return {table: session.execute(
            f"SELECT * FROM {{{table}}} ORDER BY {', '.join(definition.key)}")
            for table, definition in view.tables.items()}
    return cast(dict[str, list[dict[str, Any]]], view.read(query))


def dump_all(views: dict[str, View]) -> dict[str, Any]:
    return {name: {"position": view.position(), "rows": dump(view)}
            for name, view in views.items()}


def rebuilt(ledger: ContractLedger) -> dict[str, Any]:
    """The dumps of every view rebuilt from position zero."""
    views = build_views(ledger)
    for projection in build_projections(views):
        rebuild(ledger, projection, batch_size=7)
    return dump_all(views)


def head(ledger: ContractLedger) -> int:
    return int(ledger.recorder.max_notification_id() or 0)


def notification_ids(ledger: ContractLedger) -> list[int]:
    return [n.id for n in ledger.recorder.select_notifications(start=1, limit=100_000)]


def contract_row(views: dict[str, View], contract_id: UUID) -> dict[str, Any]:
    view = views["contracts"]
    rows = view.read(lambda s: s.execute("SELECT * FROM {contracts} WHERE contract_id = %s",
                                         (str(contract_id),)))
    assert len(rows) == 1
    return present_row(rows[0])


ANY_CONTRACT = ContractFilter()
EVERY_ENTRY = AuditFilter()


def search(views: dict[str, View], where: ContractFilter = ANY_CONTRACT, *,
           sort: str = "drafted_at", limit: int = 1000,
           after: tuple[Any, str] | None = None) -> list[dict[str, Any]]:
    view = cast(ContractsView, views["contracts"])
    return cast(list[dict[str, Any]], view.read(
        lambda s: view.search(s, where, sort=sort, limit=limit, after=after)))


def found(views: dict[str, View], **where: Any) -> set[UUID]:
    return {UUID(r["contract_id"]) for r in search(views, ContractFilter(**where))}


def in_eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def in_usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def scorecard_of(views: dict[str, View], vendor_id: str = "acme") -> dict[str, Any]:
    view = cast(ScorecardView, views["scorecard"])
    card = view.read(lambda s: view.scorecard(s, vendor_id))
    assert card is not None
    return cast(dict[str, Any], card)


def entries(views: dict[str, View], where: AuditFilter = EVERY_ENTRY,
            limit: int = 10_000) -> list[dict[str, Any]]:
    view = cast(AuditView, views["audit"])
    return cast(list[dict[str, Any]], view.read(lambda s: view.entries(s, where, limit)))


def portfolio_of(views: dict[str, View], vendor_id: str | None = None,
                 with_shares: bool = True) -> dict[str, Any]:
    view = cast(ContractsView, views["contracts"])
    return portfolio(view.read(lambda s: portfolio_rows(view, s, vendor_id)),
                     with_shares=with_shares)


def physical_tables(view: View) -> set[str]:
    """The names of the view's tables in the database, of every generation."""
    with view.db.transaction(write=False) as cursor:
        if isinstance(view.db, PostgresDatabase):
            cursor.execute("SELECT table_name AS name FROM information_schema.tables "
                           "WHERE table_schema = %s", (view.db.schema,))
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        names = {str(row["name"]) for row in cursor.fetchall()}
    return {n for n in names if n.startswith(f"view_{view.name}_")}


def active_generation(view: View) -> int:
    return int(view.read(lambda s: s.generation))


# -- 1. each view folded from a scripted history -------------------------------------------


class TestContractsView:
    def test_a_drafted_contract_is_a_row_in_draft(self, script: Script) -> None:
        # Given a drafted contract
        contract_id = script.draft("Managed network services", amount="1200000.00")
        # When the views catch up
        row = contract_row(caught_up(script.ledger), contract_id)
        # Then its row is a draft with the drafted terms
        assert row == {
            **row,
            "id": str(contract_id), "version": 1, "status": "draft", "exiting": False,
            "title": "Managed network services",
            "vendor": {"vendor_id": "acme", "name": "Acme"},
            "service_scope": "network", "sourcing_model": "managed_service",
            "delivery_location": "nearshore",
            "value": in_eur("1200000.00"),
            "term": {"start": "2026-01-01", "end": "2028-12-31", "notice_period_days": 90,
                     "renewal": "optional"},
            "notice_deadline": "2028-10-02", "activated_on": None, "terminated_on": None,
        }

    def test_activation_makes_the_row_active_from_its_date(self, script: Script) -> None:
        contract_id = script.draft()
        script.ready(contract_id)
        script.activate(contract_id, on=date(2026, 2, 1))
        row = contract_row(caught_up(script.ledger), contract_id)
        assert (row["status"], row["activated_on"], row["version"]) == ("active", "2026-02-01", 5)

    def test_a_terms_amendment_changes_value_title_end_and_notice_deadline(
            self, script: Script) -> None:
        contract_id = script.active()
        script.amend(contract_id, title="Managed network and Wi-Fi",
                     value=Money(Decimal("1350000.00"), "EUR"), end=date(2029, 6, 30),
                     notice_period_days=120, renewal=RenewalOption.AUTOMATIC,
                     service_scope=ServiceScope.SECURITY)
        row = contract_row(caught_up(script.ledger), contract_id)
        assert row["title"] == "Managed network and Wi-Fi"
        assert row["value"] == in_eur("1350000.00")
        assert row["term"] == {"start": "2026-01-01", "end": "2029-06-30",
                               "notice_period_days": 120, "renewal": "automatic"}
        assert row["notice_deadline"] == "2029-03-02"
        assert row["service_scope"] == "security"
        assert row["version"] == 6

    def test_an_amendment_of_the_notice_period_alone_moves_the_notice_deadline(
            self, script: Script) -> None:
        contract_id = script.active()
        script.amend(contract_id, notice_period_days=30)
        row = contract_row(caught_up(script.ledger), contract_id)
        assert (row["term"]["end"], row["notice_deadline"]) == ("2028-12-31", "2028-12-01")

    def test_a_renewal_moves_the_end_and_the_notice_deadline(self, script: Script) -> None:
        contract_id = script.active()
        script.act("renew", contract_id, new_end=date(2030, 12, 31), reason="Good service",
                   override_reason=None)
        row = contract_row(caught_up(script.ledger), contract_id)
        assert (row["term"]["end"], row["notice_deadline"]) == ("2030-12-31", "2030-10-02")

    def test_initiating_the_exit_marks_the_row_exiting(self, script: Script) -> None:
        contract_id = script.active()
        script.exit(contract_id)
        row = contract_row(caught_up(script.ledger), contract_id)
        assert (row["status"], row["exiting"]) == ("active", True)

    def test_termination_marks_the_row_terminated_and_no_longer_exiting(
            self, script: Script) -> None:
        contract_id = script.active()
        script.exit(contract_id)
        script.terminate(contract_id, on=date(2026, 11, 30))
        row = contract_row(caught_up(script.ledger), contract_id)
        assert (row["status"], row["exiting"], row["terminated_on"]) == (
            "terminated", False, "2026-11-30")

    def test_an_event_without_a_column_of_its_own_moves_version_and_updated_at(
            self, script: Script) -> None:
        contract_id = script.draft()
        before = contract_row(caught_up(script.ledger), contract_id)
        script.act("designate_point_of_contact", contract_id,
                   point_of_contact=PointOfContact("Bo", "bo@acme.example"))
        after = contract_row(caught_up(script.ledger), contract_id)
        assert after["version"] == 2
        assert after["updated_at"] > before["updated_at"]
        assert {k: v for k, v in after.items() if k not in ("version", "updated_at")} == \
            {k: v for k, v in before.items() if k not in ("version", "updated_at")}

    def test_the_row_agrees_with_the_aggregate_after_every_act(self, script: Script) -> None:
        ledger = script.ledger
        contract_id = script.draft()
        acts: list[Callable[[], Any]] = [
            lambda: script.ready(contract_id),
            lambda: script.activate(contract_id),
            lambda: script.amend(contract_id, value=Money(Decimal("1299999.50"), "EUR"),
                                 title="Überwachung"),
            lambda: script.act("renew", contract_id, new_end=date(2031, 1, 31),
                               reason="Good service", override_reason=None),
            lambda: script.exit(contract_id),
            lambda: script.terminate(contract_id),
        ]
        for act in acts:
            act()
            row = contract_row(caught_up(ledger), contract_id)
            contract = ledger.get_contract(contract_id)
            for field in ("id", "version", "status", "title", "vendor", "service_scope",
                          "sourcing_model", "delivery_location", "value", "term",
                          "notice_deadline", "activated_on"):
                assert row[field] == contract[field], field
            assert row["exiting"] == (contract["exit"] is not None
                                      and contract["status"] == "active")
            termination = contract["termination"]
            assert row["terminated_on"] == (termination and termination["effective_date"])
            for field in ("created_at", "updated_at"):
                assert datetime.fromisoformat(row[field]) == \
                    datetime.fromisoformat(contract[field])


class TestScorecardView:
    @pytest.fixture
    def contract_id(self, script: Script) -> UUID:
        """An active contract of acme's with a penalty and an incentive rule."""
        contract_id = script.active()
        script.act("define_rule", contract_id, rule=PENALTY_RULE)
        script.act("define_rule", contract_id, rule=INCENTIVE_RULE)
        return contract_id

    def test_each_reported_period_is_met_or_breached(self, script: Script,
                                                     contract_id: UUID) -> None:
        script.report(contract_id, "2026-01", "99.95")
        script.report(contract_id, "2026-02", "99.5")
        (metric,) = scorecard_of(caught_up(script.ledger))["sla_compliance"]
        assert metric == {
            "contract_id": str(contract_id), "metric_id": "availability",
            "periods_evaluated": 2, "periods_met": 1, "compliance_rate": "0.5000",
            "periods": [
                {"period": "2026-01", "met": True, "missing": False, "value": "99.95",
                 "target": "99.9"},
                {"period": "2026-02", "met": False, "missing": False, "value": "99.5",
                 "target": "99.9"},
            ]}

    def test_a_corrected_report_replaces_the_periods_evaluation(self, script: Script,
                                                                contract_id: UUID) -> None:
        script.report(contract_id, "2026-03", "98.0")
        script.report(contract_id, "2026-03", "99.92", correction="Probe was misconfigured")
        (metric,) = scorecard_of(caught_up(script.ledger))["sla_compliance"]
        assert (metric["periods_evaluated"], metric["periods_met"]) == (1, 1)
        assert metric["periods"] == [{"period": "2026-03", "met": True, "missing": False,
                                      "value": "99.92", "target": "99.9"}]

    def test_an_assessed_penalty_is_assessed_and_owed(self, script: Script,
                                                      contract_id: UUID) -> None:
        script.report(contract_id, "2026-02", "99.5")
        amount = script.penalty(contract_id, "2026-02")["amount"]["amount"]
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        assert credits == {"currency": "EUR", "penalties_assessed": in_eur(amount),
                           "credits_owed_by_vendor": in_eur(amount), "waived": in_eur("0.00"),
                           "in_dispute": in_eur("0.00"),
                           "incentives_owed_to_vendor": in_eur("0.00")}

    def test_a_waived_penalty_is_owed_no_more_and_counts_as_waived(
            self, script: Script, contract_id: UUID) -> None:
        script.report(contract_id, "2026-03", "98.0")
        penalty = script.penalty(contract_id, "2026-03")
        script.act("waive_penalty", contract_id, penalty_id=penalty["penalty_id"],
                   reason="Outage caused by our own change", approver="CFO")
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        amount = penalty["amount"]["amount"]
        assert (credits["penalties_assessed"], credits["credits_owed_by_vendor"],
                credits["waived"]) == (in_eur(amount), in_eur("0.00"), in_eur(amount))

    def test_a_disputed_penalty_is_in_dispute(self, script: Script,
                                              contract_id: UUID) -> None:
        script.report(contract_id, "2026-04", "99.0")
        penalty = script.penalty(contract_id, "2026-04")
        script.act("dispute_penalty", contract_id, penalty_id=penalty["penalty_id"],
                   reason="Planned maintenance", evidence=None, actor="acme", role="vendor")
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        amount = penalty["amount"]["amount"]
        assert (credits["in_dispute"], credits["credits_owed_by_vendor"]) == (in_eur(amount),
                                                                              in_eur(amount))

    def test_a_dispute_resolved_with_an_adjusted_amount_owes_that_amount(
            self, script: Script, contract_id: UUID) -> None:
        script.report(contract_id, "2026-05", "99.2")
        penalty = script.penalty(contract_id, "2026-05")
        script.act("dispute_penalty", contract_id, penalty_id=penalty["penalty_id"],
                   reason="Planned maintenance", evidence=None)
        script.act("resolve_dispute", contract_id, penalty_id=penalty["penalty_id"],
                   outcome="adjusted", amount=Money(Decimal("100.00"), "EUR"),
                   reason="Half of the outage was planned")
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        assert (credits["penalties_assessed"], credits["credits_owed_by_vendor"],
                credits["in_dispute"]) == (penalty["amount"], in_eur("100.00"), in_eur("0.00"))

    def test_an_earned_incentive_is_owed_to_the_vendor(self, script: Script,
                                                       contract_id: UUID) -> None:
        script.report(contract_id, "2026-01", "99.97")
        (incentive,) = script.ledger.credits(contract_id)["incentives"]
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        assert credits["incentives_owed_to_vendor"]["amount"] == incentive["amount"]["amount"]
        assert credits["penalties_assessed"]["amount"] == "0.00"

    def test_credits_add_up_over_periods_like_the_contracts_own_statement(
            self, script: Script, contract_id: UUID) -> None:
        for period, value in (("2026-01", "99.97"), ("2026-02", "99.5"), ("2026-03", "98.0"),
                              ("2026-04", "99.95")):
            script.report(contract_id, period, value)
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        totals = script.ledger.credits(contract_id)["totals"]["overall"]
        assert credits["credits_owed_by_vendor"] == totals["credits_owed_by_vendor"]
        assert credits["incentives_owed_to_vendor"] == totals["incentives_owed_to_vendor"]

    def test_a_disputed_penalty_waived_is_no_longer_in_dispute(self, script: Script,
                                                               contract_id: UUID) -> None:
        script.report(contract_id, "2026-04", "99.0")
        penalty = script.penalty(contract_id, "2026-04")
        script.act("dispute_penalty", contract_id, penalty_id=penalty["penalty_id"],
                   reason="Planned maintenance", evidence=None)
        script.act("waive_penalty", contract_id, penalty_id=penalty["penalty_id"],
                   reason="Goodwill", approver="CFO")
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        assert (credits["in_dispute"], credits["waived"], credits["credits_owed_by_vendor"]) \
            == (in_eur("0.00"), penalty["amount"], in_eur("0.00"))

    def test_a_penalty_earned_back_is_owed_no_more(self, script: Script) -> None:
        contract_id = script.active()
        script.act("define_rule", contract_id, rule=PenaltyRule(
            "earn-back", "availability", (Tier(Decimal("99.9"), Decimal(5)),), None, None, 1,
            MissingData.BREACH, START))
        script.report(contract_id, "2026-02", "99.5")
        amount = script.penalty(contract_id, "2026-02")["amount"]["amount"]
        script.report(contract_id, "2026-03", "99.95")  # the next period met: earned back
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        assert (credits["penalties_assessed"], credits["credits_owed_by_vendor"]) == (
            in_eur(amount), in_eur("0.00"))

    def test_a_period_closed_without_a_report_is_a_missing_breach(
            self, script: Script, contract_id: UUID) -> None:
        script.act("close_period", contract_id, period="2026-10",
                   measurement_period=MeasurementPeriod.MONTHLY)
        card = scorecard_of(caught_up(script.ledger))
        (metric,) = card["sla_compliance"]
        assert metric["periods"] == [{"period": "2026-10", "met": False, "missing": True,
                                      "value": None, "target": "99.9"}]
        penalty = script.penalty(contract_id, "2026-10")  # at the worst tier
        assert card["credits"][0]["credits_owed_by_vendor"]["amount"] == penalty["amount"]["amount"]

    def test_a_penalty_reversed_by_a_correction_is_no_longer_assessed(
            self, script: Script, contract_id: UUID) -> None:
        # Given a breach corrected to a smaller breach: the first penalty is reversed
        script.report(contract_id, "2026-06", "98.0")
        script.report(contract_id, "2026-06", "99.5", correction="Probe was misconfigured")
        standing = script.penalty(contract_id, "2026-06")["amount"]["amount"]
        # Then only the penalty that stands counts as assessed
        (credits,) = scorecard_of(caught_up(script.ledger))["credits"]
        assert credits["credits_owed_by_vendor"]["amount"] == standing
        assert credits["penalties_assessed"]["amount"] == standing

    def test_a_finding_counts_as_open_until_it_is_resolved(self, script: Script,
                                                           contract_id: UUID) -> None:
        findings = tuple(
            FindingSpec(finding_id, FindingCategory.SECURITY, severity, "Unencrypted backups",
                        "Acme", date(2026, 9, 30))
            for finding_id, severity in (("f-critical", Severity.CRITICAL),
                                         ("f-high", Severity.HIGH),
                                         ("f-high-2", Severity.HIGH)))
        script.act("conduct_health_check", contract_id, check_id="hc-1",
                   conducted_on=date(2026, 6, 30), assessors=("Ana",), scope="all",
                   overall_rating=HealthRating.RED, findings=findings)
        opened = scorecard_of(caught_up(script.ledger))["open_findings"]
        script.act("close_finding", contract_id, finding_id="f-high", outcome="resolved",
                   evidence="Backups encrypted", resolved_on=date(2026, 8, 1), approver=None,
                   reason=None)
        resolved = scorecard_of(caught_up(script.ledger))["open_findings"]
        assert opened == {"critical": 1, "high": 2, "medium": 0, "low": 0}
        assert resolved == {"critical": 1, "high": 1, "medium": 0, "low": 0}

    def test_a_finding_accepted_as_a_risk_is_not_open(self, script: Script,
                                                      contract_id: UUID) -> None:
        script.act("conduct_health_check", contract_id, check_id="hc-1",
                   conducted_on=date(2026, 6, 30), assessors=("Ana",), scope="all",
                   overall_rating=HealthRating.AMBER, findings=(FindingSpec(
                       "f-medium", FindingCategory.DELIVERY, Severity.MEDIUM, "Slow tickets",
                       "Acme", date(2026, 9, 30)),))
        script.act("close_finding", contract_id, finding_id="f-medium", outcome="risk_accepted",
                   evidence=None, resolved_on=None, approver="CIO", reason="Low impact")
        assert scorecard_of(caught_up(script.ledger))["open_findings"] == {
            "critical": 0, "high": 0, "medium": 0, "low": 0}

    def test_a_review_shows_its_scorecard_average(self, script: Script,
                                                  contract_id: UUID) -> None:
        card = Scorecard(ScorecardEntry(4, "On budget"), ScorecardEntry(3, "Slow tickets"),
                         ScorecardEntry(4, "Good change process"),
                         ScorecardEntry(4, "Trains staff"))
        script.act("hold_review", contract_id, review_id="q2", kind=ReviewKind.SCORECARD,
                   held_on=date(2026, 7, 10), period="2026-Q2", attendees=("Ana", "Bo"),
                   decisions=("Keep",), scorecard=card)
        script.act("hold_review", contract_id, review_id="ops-7", kind=ReviewKind.OPERATIONAL,
                   held_on=date(2026, 7, 20), period="2026-07", attendees=("Ana",),
                   decisions=(), scorecard=None)
        reviews = scorecard_of(caught_up(script.ledger))["last_reviews"]
        assert reviews == [
            {"contract_id": str(contract_id), "review_id": "ops-7", "kind": "operational",
             "held_on": "2026-07-20", "period": "2026-07", "scorecard_average": None},
            {"contract_id": str(contract_id), "review_id": "q2", "kind": "scorecard",
             "held_on": "2026-07-10", "period": "2026-Q2", "scorecard_average": "3.75"},
        ]

    def test_the_trend_has_a_point_per_month_and_improves_when_the_last_months_do(
            self, script: Script, contract_id: UUID) -> None:
        for month, value in enumerate(("99.95", "99.5", "99.5", "99.95", "99.95", "99.2"),
                                      start=1):
            script.report(contract_id, f"2026-{month:02d}", value)
        trend = scorecard_of(caught_up(script.ledger))["trend"]
        assert [(p["month"], p["periods_met"], p["compliance_rate"]) for p in trend["months"]] \
            == [("2026-01", 1, "1.0000"), ("2026-02", 0, "0.0000"), ("2026-03", 0, "0.0000"),
                ("2026-04", 1, "1.0000"), ("2026-05", 1, "1.0000"), ("2026-06", 0, "0.0000")]
        assert trend["direction"] == "improving"  # 2 of 3 met against 1 of 3

    def test_the_trend_declines_when_the_last_months_do(self, script: Script,
                                                        contract_id: UUID) -> None:
        for month, value in enumerate(("99.95", "99.95", "99.95", "99.95", "99.5", "99.5"),
                                      start=1):
            script.report(contract_id, f"2026-{month:02d}", value)
        assert scorecard_of(caught_up(script.ledger))["trend"]["direction"] == "declining"

    def test_the_trend_needs_more_than_three_months_for_a_direction(
            self, script: Script, contract_id: UUID) -> None:
        for month in (1, 2, 3):
            script.report(contract_id, f"2026-{month:02d}", "99.95")
        trend = scorecard_of(caught_up(script.ledger))["trend"]
        assert (len(trend["months"]), trend["direction"]) == (3, "insufficient_data")

    def test_the_trend_shows_the_last_twelve_months(self, script: Script,
                                                    contract_id: UUID) -> None:
        for month in range(14):
            script.report(contract_id, f"{2026 + month // 12}-{month % 12 + 1:02d}", "99.95")
        months = [p["month"] for p in scorecard_of(caught_up(script.ledger))["trend"]["months"]]
        assert months == [f"2026-{m:02d}" for m in range(3, 13)] + ["2027-01", "2027-02"]

    def test_a_vendor_without_contracts_has_no_scorecard(self, script: Script) -> None:
        script.draft(vendor="acme")
        view = cast(ScorecardView, caught_up(script.ledger)["scorecard"])
        assert view.read(lambda s: view.scorecard(s, "globex")) is None

    def test_a_title_amendment_renames_the_contract_on_the_scorecard(
            self, script: Script, contract_id: UUID) -> None:
        script.amend(contract_id, title="Netzwerk-Überwachung")
        assert scorecard_of(caught_up(script.ledger))["contracts"] == [
            {"id": str(contract_id), "title": "Netzwerk-Überwachung"}]


class TestAuditView:
    @pytest.fixture
    def history(self, script: Script) -> dict[str, UUID]:
        """Two vendors' contracts, acted on by two people."""
        acme = script.draft(vendor="acme", actor="ana", correlation="draft-acme")
        script.ready(acme)
        script.activate(acme)
        script.act("amend_terms", acme, actor="bo", correlation="amend-acme",
                   changes=TermChanges(value=Money(Decimal("1350000.00"), "EUR")),
                   rationale="Two more sites", effective_date=date(2026, 7, 1))
        globex = script.draft(vendor="globex", actor="bo", correlation="draft-globex")
        return {"acme": acme, "globex": globex}

    def events_in_order(self, ledger: ContractLedger) -> list[tuple[int, Any]]:
        return [(n.id, ledger.mapper.to_domain_event(n))
                for n in ledger.recorder.select_notifications(start=1, limit=10_000)]

    def test_every_event_is_one_entry_at_its_position(self, script: Script,
                                                      history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        expected = [(position, str(event.originator_id), event.originator_version,
                     type(event).__name__)
                    for position, event in self.events_in_order(script.ledger)]
        assert [(e["position"], e["contract_id"], e["version"], e["event_type"])
                for e in entries(views)] == expected
        assert len(expected) == 7

    def test_an_entry_says_who_did_it_when_and_under_which_request(
            self, script: Script, history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        by_position = {e["position"]: e for e in entries(views)}
        for position, event in self.events_in_order(script.ledger):
            entry = by_position[position]
            assert (entry["actor_id"], entry["actor_role"], entry["correlation_id"]) == (
                event.provenance.actor_id, event.provenance.actor_role,
                event.provenance.correlation_id)
            assert entry["recorded_at"] == instant(event.timestamp)
        amendment = next(e for e in by_position.values() if e["event_type"] == "TermsAmended")
        assert (amendment["actor_id"], amendment["correlation_id"]) == ("bo", "amend-acme")

    def test_an_entry_says_when_it_took_effect_and_why(self, script: Script,
                                                       history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        found_entries = {e["event_type"]: e for e in entries(views)
                         if e["contract_id"] == str(history["acme"])}
        assert (found_entries["TermsAmended"]["effective_date"],
                found_entries["TermsAmended"]["reason"]) == ("2026-07-01", "Two more sites")
        assert (found_entries["ContractActivated"]["effective_date"],
                found_entries["ContractActivated"]["reason"]) == ("2026-01-01", None)
        assert found_entries["SlaMetricDefined"]["effective_date"] == "2026-01-01"
        assert (found_entries["PointOfContactDesignated"]["effective_date"],
                found_entries["PointOfContactDesignated"]["reason"]) == (None, None)

    def test_a_corrections_entry_gives_its_reason_and_period(self, script: Script) -> None:
        contract_id = script.active()
        script.report(contract_id, "2026-03", "98.0")
        script.report(contract_id, "2026-03", "99.95", correction="Probe was misconfigured")
        (corrected,) = entries(caught_up(script.ledger),
                               AuditFilter(event_type="PerformanceCorrected"))
        assert (corrected["reason"], corrected["effective_date"]) == (
            "Probe was misconfigured", "2026-03-01")

    def test_entries_filter_by_actor(self, script: Script, history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert [(e["event_type"], e["correlation_id"])
                for e in entries(views, AuditFilter(actor_id="bo"))] == [
            ("TermsAmended", "amend-acme"), ("ContractDrafted", "draft-globex")]

    def test_entries_filter_by_event_type(self, script: Script,
                                          history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert [e["contract_id"]
                for e in entries(views, AuditFilter(event_type="ContractDrafted"))] == [
            str(history["acme"]), str(history["globex"])]

    def test_entries_filter_by_vendor(self, script: Script, history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        acme = entries(views, AuditFilter(vendor_id="acme"))
        assert {e["contract_id"] for e in acme} == {str(history["acme"])}
        assert len(acme) == 6
        assert [e["version"] for e in entries(views, AuditFilter(vendor_id="globex"))] == [1]

    def test_entries_filter_by_contract(self, script: Script,
                                        history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert [e["version"] for e in entries(
            views, AuditFilter(contract_id=str(history["acme"])))] == [1, 2, 3, 4, 5, 6]

    def test_entries_filter_by_a_time_range_from_inclusive_to_exclusive(
            self, script: Script, history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        everything = entries(views)
        start, end = everything[2]["recorded_at"], everything[6]["recorded_at"]
        window = entries(views, AuditFilter(recorded_from=start, recorded_to=end))
        assert [e["position"] for e in window] == [
            e["position"] for e in everything if start <= e["recorded_at"] < end]
        assert window[0] == everything[2]
        assert everything[6] not in window

    def test_entries_page_after_a_position(self, script: Script,
                                           history: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        everything = entries(views)
        pages: list[dict[str, Any]] = []
        after = 0
        while page := entries(views, AuditFilter(after_position=after), limit=3):
            pages.extend(page)
            after = page[-1]["position"]
        assert pages == everything


class TestPortfolio:
    @pytest.fixture
    def contracts(self, script: Script) -> dict[str, UUID]:
        """EUR: acme 600k (network 500k, security 100k), globex 300k (network), initech
        100k (web, being exited); USD: globex 250k (backup); acme also has a draft and a
        terminated contract."""
        ids = {
            "acme-net": script.active(vendor="acme", amount="500000.00"),
            "acme-sec": script.active(vendor="acme", amount="100000.00",
                                      scope=ServiceScope.SECURITY),
            "globex-net": script.active(vendor="globex", amount="300000.00"),
            "globex-usd": script.active(vendor="globex", amount="250000.00", currency="USD",
                                        scope=ServiceScope.BACKUP),
            "initech-web": script.active(vendor="initech", amount="100000.00",
                                         scope=ServiceScope.WEB),
            "acme-draft": script.draft(vendor="acme", amount="7000000.00"),
            "acme-ended": script.active(vendor="acme", amount="9000000.00"),
        }
        script.exit(ids["initech-web"])
        script.terminate(ids["acme-ended"])
        return ids

    def test_spend_is_the_value_in_force_per_vendor_and_currency(
            self, script: Script, contracts: dict[str, UUID]) -> None:
        vendors = {v["vendor_id"]: v for v in portfolio_of(caught_up(script.ledger))["vendors"]}
        assert vendors["acme"]["spend"] == [
            {"currency": "EUR", "value_in_force": in_eur("600000.00"), "share": "0.6000"}]
        assert vendors["globex"]["spend"] == [
            {"currency": "EUR", "value_in_force": in_eur("300000.00"), "share": "0.3000"},
            {"currency": "USD", "value_in_force": in_usd("250000.00"), "share": "1.0000"}]
        assert vendors["initech"]["spend"] == [  # being exited is still in force
            {"currency": "EUR", "value_in_force": in_eur("100000.00"), "share": "0.1000"}]

    def test_drafts_and_terminated_contracts_are_counted_but_not_spend(
            self, script: Script, contracts: dict[str, UUID]) -> None:
        (acme, *_) = portfolio_of(caught_up(script.ledger))["vendors"]
        assert acme["vendor_id"] == "acme"
        assert acme["contracts"] == {"draft": 1, "active": 2, "terminated": 1}
        assert acme["spend"][0]["value_in_force"]["amount"] == "600000.00"

    def test_totals_give_the_concentration_per_currency(self, script: Script,
                                                        contracts: dict[str, UUID]) -> None:
        eur, usd = portfolio_of(caught_up(script.ledger))["totals"]
        assert eur == {
            "currency": "EUR", "value_in_force": in_eur("1000000.00"), "vendors": 3,
            "largest_vendor_share": "0.6000",
            "herfindahl_index": "0.4600",  # 0.6² + 0.3² + 0.1²
            "by_service_scope": [
                {"service_scope": "network", "value_in_force": in_eur("800000.00"),
                 "share": "0.8000"},
                {"service_scope": "security", "value_in_force": in_eur("100000.00"),
                 "share": "0.1000"},
                {"service_scope": "web", "value_in_force": in_eur("100000.00"), "share": "0.1000"},
            ]}
        assert usd == {
            "currency": "USD", "value_in_force": in_usd("250000.00"), "vendors": 1,
            "largest_vendor_share": "1.0000", "herfindahl_index": "1.0000",
            "by_service_scope": [{"service_scope": "backup", "value_in_force": in_usd("250000.00"),
                                  "share": "1.0000"}]}

    def test_an_amended_value_changes_the_spend(self, script: Script,
                                                contracts: dict[str, UUID]) -> None:
        script.amend(contracts["globex-net"], value=Money(Decimal("1300000.00"), "EUR"))
        eur, _ = portfolio_of(caught_up(script.ledger))["totals"]
        assert (eur["value_in_force"]["amount"], eur["largest_vendor_share"]) == (
            "2000000.00", "0.6500")

    def test_one_vendors_portfolio_without_shares_shows_no_totals(
            self, script: Script, contracts: dict[str, UUID]) -> None:
        mine = portfolio_of(caught_up(script.ledger), "globex", with_shares=False)
        assert mine["totals"] == []
        (globex,) = mine["vendors"]
        assert globex["spend"] == [
            {"currency": "EUR", "value_in_force": in_eur("300000.00"), "share": None},
            {"currency": "USD", "value_in_force": in_usd("250000.00"), "share": None}]
        assert globex["service_scopes"] == ["backup", "network"]


# -- 2. search ---------------------------------------------------------------------------


class TestSearch:
    @pytest.fixture
    def contracts(self, script: Script) -> dict[str, UUID]:
        ids = {
            "net": script.active("Managed network services", vendor="acme",
                                 amount="1200000.00", end=date(2028, 12, 31), notice=90),
            "soc": script.active("Netzwerk-Überwachung (SOC)", vendor="globex",
                                 scope=ServiceScope.SECURITY,
                                 model=SourcingModel.DEDICATED_CENTRE, amount="300000.00",
                                 end=date(2027, 6, 30), notice=60),
            "wild": script.draft("100% uptime_guarantee", vendor="initech",
                                 scope=ServiceScope.WEB, model=SourcingModel.PROJECT,
                                 amount="50000.00", currency="USD", end=date(2027, 3, 31),
                                 notice=30),
            "tame": script.draft("Backup service guarantee for 1000 sites", vendor="acme",
                                 scope=ServiceScope.BACKUP,
                                 model=SourcingModel.STAFF_AUGMENTATION, amount="80000.00",
                                 end=date(2027, 12, 31), notice=30),
            "street": script.active("Straßenbeleuchtung", vendor="globex",
                                    scope=ServiceScope.OTHER, model=SourcingModel.FUNCTIONAL,
                                    amount="300000.00", end=date(2029, 12, 31), notice=180),
        }
        script.exit(ids["soc"])
        script.terminate(ids["street"])
        return ids

    def test_by_status(self, script: Script, contracts: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert found(views, status="active") == {contracts["net"], contracts["soc"]}
        assert found(views, status="draft") == {contracts["wild"], contracts["tame"]}
        assert found(views, status="terminated") == {contracts["street"]}

    def test_by_vendor(self, script: Script, contracts: dict[str, UUID]) -> None:
        assert found(caught_up(script.ledger), vendor_id="acme") == {
            contracts["net"], contracts["tame"]}

    def test_by_service_scope(self, script: Script, contracts: dict[str, UUID]) -> None:
        assert found(caught_up(script.ledger), service_scope="security") == {contracts["soc"]}

    def test_by_sourcing_model(self, script: Script, contracts: dict[str, UUID]) -> None:
        assert found(caught_up(script.ledger), sourcing_model="staff_augmentation") == {
            contracts["tame"]}

    def test_by_text_in_the_title_whatever_its_case(self, script: Script,
                                                    contracts: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert found(views, text="NETWORK") == {contracts["net"]}
        assert found(views, text="guarantee") == {contracts["wild"], contracts["tame"]}

    @pytest.mark.parametrize("text", ["Überwachung", "überwachung", "ÜBERWACHUNG"])
    def test_by_non_ascii_text_whatever_its_case(self, script: Script,
                                                 contracts: dict[str, UUID], text: str) -> None:
        assert found(caught_up(script.ledger), text=text) == {contracts["soc"]}

    def test_by_text_folding_sharp_s(self, script: Script, contracts: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert found(views, text="STRASSE") == {contracts["street"]}
        assert found(views, text="straße") == {contracts["street"]}

    def test_a_percent_sign_in_the_text_is_literal(self, script: Script,
                                                   contracts: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert found(views, text="100%") == {contracts["wild"]}  # not "1000 sites"
        assert found(views, text="%") == {contracts["wild"]}

    def test_an_underscore_in_the_text_is_literal(self, script: Script,
                                                  contracts: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert found(views, text="e_g") == {contracts["wild"]}  # not "service guarantee"
        assert found(views, text="_") == {contracts["wild"]}

    def test_a_backslash_in_the_text_is_literal(self, script: Script,
                                                contracts: dict[str, UUID]) -> None:
        assert found(caught_up(script.ledger), text="\\") == set()

    def test_by_value_range_in_a_currency_bounds_included(
            self, script: Script, contracts: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert found(views, currency="EUR", value_min="80000.00", value_max="300000") == {
            contracts["soc"], contracts["tame"], contracts["street"]}
        assert found(views, currency="EUR", value_min="300000.01") == {contracts["net"]}
        assert found(views, currency="USD", value_max="1200000") == {contracts["wild"]}

    def test_by_end_before_a_day(self, script: Script, contracts: dict[str, UUID]) -> None:
        assert found(caught_up(script.ledger), ends_before=date(2027, 6, 30)) == {
            contracts["wild"]}  # soc ends on the day itself

    def test_by_notice_deadline_before_a_day(self, script: Script,
                                             contracts: dict[str, UUID]) -> None:
        # Deadlines: wild 2027-03-01, soc 2027-05-01, tame 2027-12-01, net 2028-10-02,
        # street 2029-07-04.
        assert found(caught_up(script.ledger), notice_deadline_before=date(2027, 12, 1)) == {
            contracts["wild"], contracts["soc"]}

    def test_by_exiting(self, script: Script, contracts: dict[str, UUID]) -> None:
        views = caught_up(script.ledger)
        assert found(views, exiting=True) == {contracts["soc"]}
        assert found(views, exiting=False) == set(contracts.values()) - {contracts["soc"]}

    def test_filters_combine(self, script: Script, contracts: dict[str, UUID]) -> None:
        assert found(caught_up(script.ledger), vendor_id="globex", status="active",
                     text="soc") == {contracts["soc"]}

    @pytest.mark.parametrize("sort", [*SORTS, *(f"-{s}" for s in SORTS)])
    def test_every_sort_orders_by_its_column_then_by_id(
            self, script: Script, contracts: dict[str, UUID], sort: str) -> None:
        rows = search(caught_up(script.ledger), sort=sort)
        assert len(rows) == 5
        keys = [(sort_key(row, sort), row["contract_id"]) for row in rows]
        assert keys == sorted(keys, reverse=sort.startswith("-"))


def sort_key(row: dict[str, Any], sort: str) -> Any:
    """A row's value in a sort's order, computed in Python."""
    name = sort.lstrip("-")
    if name == "value":
        return Decimal(row["value_text"])
    if name == "title":
        return row["title"].casefold()
    return row[SORTS[name]]


class TestKeysetPagination:
    @pytest.fixture
    def contracts(self, script: Script) -> list[UUID]:
        """Eleven contracts with ties in every sortable column but the timestamps."""
        ids = []
        for n in range(11):
            ids.append(script.draft(
                ("Alpha", "alpha", "Beta", "Über")[n % 4], amount=("1000.00", "999.99",
                                                                   "1000")[n % 3],
                end=(date(2027, 12, 31), date(2028, 6, 30))[n % 2], notice=30 * (n % 2)))
        for contract_id in ids[::3]:  # and updated_at out of drafting order
            script.act("designate_point_of_contact", contract_id,
                       point_of_contact=PointOfContact("Ana", "ana@acme.example"))
        return ids

    @pytest.mark.parametrize("sort", [*SORTS, *(f"-{s}" for s in SORTS)])
    def test_walking_the_pages_visits_every_row_exactly_once_in_order(
            self, script: Script, contracts: list[UUID], sort: str) -> None:
        views = caught_up(script.ledger)
        everything = [r["contract_id"] for r in search(views, sort=sort)]
        assert sorted(everything) == sorted(str(c) for c in contracts)
        for limit in (1, 2, 3, 4):
            assert walk(views, ANY_CONTRACT, sort, limit) == everything, limit

    @pytest.mark.parametrize("sort", ["value", "-value", "title", "-title"])
    def test_walking_a_filtered_search_visits_its_rows_exactly_once(
            self, script: Script, contracts: list[UUID], sort: str) -> None:
        views = caught_up(script.ledger)
        where = ContractFilter(value_min="1000", ends_before=date(2028, 1, 1))
        everything = [r["contract_id"] for r in search(views, where, sort=sort)]
        assert walk(views, where, sort, 2) == everything
        assert len(everything) == 4  # n = 0, 2, 6, 8 (1000.00 or 1000, ends in 2027)


def walk(views: dict[str, View], where: ContractFilter, sort: str, limit: int) -> list[str]:
    """The ids of every page in turn, each page after the last row of the one before."""
    walked: list[str] = []
    after: tuple[Any, str] | None = None
    while page := search(views, where, sort=sort, limit=limit, after=after):
        assert len(page) <= limit
        walked.extend(r["contract_id"] for r in page)
        after = (ContractsView.sort_value(page[-1], sort), page[-1]["contract_id"])
        assert len(walked) <= 100, "the walk does not end"
    return walked


# -- 3. exactly once, resumable ----------------------------------------------------------


def a_history(script: Script, contracts: int = 4) -> list[UUID]:
    """A few contracts with some of everything the views fold."""
    ids = []
    for n in range(contracts):
        contract_id = script.active(f"Contract {n}", vendor=("acme", "globex")[n % 2],
                                    amount=f"{100000 * (n + 1)}.00")
        script.act("define_rule", contract_id, rule=PENALTY_RULE)
        script.report(contract_id, "2026-01", "99.5")
        script.report(contract_id, "2026-02", "99.95")
        script.amend(contract_id, title=f"Contract {n} (amended)")
        ids.append(contract_id)
    script.exit(ids[0])
    script.draft("A draft")
    return ids


class TestExactlyOnce:
    def test_catching_up_twice_changes_nothing(self, script: Script) -> None:
        a_history(script)
        views = caught_up(script.ledger)
        before = dump_all(views)
        again = ProjectionRunner(script.ledger, build_projections(views)).catch_up()
        assert again == 0
        assert dump_all(views) == before

    def test_every_view_ends_at_the_head_of_the_ledger(self, script: Script) -> None:
        a_history(script)
        views = caught_up(script.ledger, batch_size=5)
        assert {name: view.position() for name, view in views.items()} == \
            dict.fromkeys(VIEWS, head(script.ledger))

    def test_a_batch_applied_a_second_time_is_refused(self, script: Script) -> None:
        # Given views that folded the first batch
        a_history(script, contracts=1)
        views = build_views(script.ledger)
        runner = ProjectionRunner(script.ledger, build_projections(views), batch_size=5)
        runner.run_once()
        before = dump_all(views)
        # When the same batch is applied again from where it started
        catcher = Catcher(script.ledger, batch_size=5)
        batch = catcher.select(0)
        for projection in runner.projections:
            with pytest.raises(PositionMoved):
                catcher.apply(projection, batch, 0, {})
        # Then nothing changed
        assert dump_all(views) == before
        assert {v["position"] for v in before.values()} == {batch[-1].id}

    def test_an_event_processed_again_through_the_library_interface_is_refused(
            self, script: Script) -> None:
        a_history(script, contracts=1)
        views = caught_up(script.ledger)
        before = dump_all(views)
        (notification,) = script.ledger.recorder.select_notifications(start=1, limit=1)
        event = script.ledger.mapper.to_domain_event(notification)
        for projection in build_projections(views):
            with pytest.raises(PositionMoved):
                projection.process_event(event, Tracking(script.ledger.name, notification.id))
        assert dump_all(views) == before

    def test_a_runner_stopped_half_way_resumes_to_the_same_rows_as_a_rebuild(
            self, script: Script) -> None:
        # Given a runner that folded two small batches and stopped
        a_history(script)
        views = build_views(script.ledger)
        stopped = ProjectionRunner(script.ledger, build_projections(views), batch_size=4)
        assert stopped.run_once() == 4
        assert stopped.run_once() == 4
        assert {view.position() for view in views.values()} == {notification_ids(
            script.ledger)[7]}
        # When a new runner (a restarted process) catches up
        resumed = caught_up(script.ledger, batch_size=3)
        # Then every view has exactly the rows a rebuild from zero gives
        assert dump_all(resumed) == rebuilt(script.ledger)

    def test_views_at_different_positions_each_resume_from_their_own(
            self, script: Script) -> None:
        # Given only the audit view folded a first batch
        a_history(script)
        views = build_views(script.ledger)
        ProjectionRunner(script.ledger, [VIEWS["audit"][1](views["audit"])],
                         batch_size=6).run_once()
        # When all catch up together
        ProjectionRunner(script.ledger, build_projections(views), batch_size=4).catch_up()
        # Then they end as a rebuild does
        assert dump_all(views) == rebuilt(script.ledger)

    def test_a_runner_whose_batch_another_applied_first_reads_it_again(
            self, script: Script, other_ledger: ContractLedger,
            monkeypatch: pytest.MonkeyPatch) -> None:
        # Given two runners at position zero, the first about to apply its first batch
        a_history(script, contracts=2)
        first = ProjectionRunner(script.ledger, build_projections(build_views(script.ledger)),
                                 batch_size=3)
        second = ProjectionRunner(other_ledger, build_projections(build_views(other_ledger)),
                                  batch_size=5)
        apply = first.catcher.apply
        outcomes: list[str] = []

        def apply_after_the_other(*args: Any, **kwargs: Any) -> int:
            if not outcomes:
                second.run_once()  # when the second applies a longer batch first
            try:
                position = apply(*args, **kwargs)
            except PositionMoved:
                outcomes.append("moved")
                raise
            outcomes.append("applied")
            return position

        monkeypatch.setattr(first.catcher, "apply", apply_after_the_other)
        first.catch_up()
        # Then the first runner's stale batches were refused, and it went on from the
        # second's position to the same rows as a rebuild
        assert outcomes[:len(VIEWS)] == ["moved"] * len(VIEWS)
        assert "applied" in outcomes
        assert dump_all(build_views(script.ledger)) == rebuilt(script.ledger)

    def test_two_runners_racing_give_the_same_rows_as_a_rebuild(
            self, script: Script, fresh_store_url: str) -> None:
        # Given a history and two runners, each as in a process of its own
        a_history(script, contracts=6)
        other = build_ledger(Settings(database_url=fresh_store_url))
        try:
            runners = [ProjectionRunner(ledger, build_projections(build_views(ledger)),
                                        batch_size=3) for ledger in (script.ledger, other)]
            # When both catch up at the same time
            run_all(runner.catch_up for runner in runners)
        finally:
            other.close()
        # Then the views are as a rebuild from zero makes them
        assert dump_all(build_views(script.ledger)) == rebuilt(script.ledger)


def run_all(work: Iterable[Callable[[], Any]]) -> None:
    """Run each in a thread of its own, started together; raise the first error."""
    tasks = list(work)
    barrier = threading.Barrier(len(tasks))
    errors: list[BaseException] = []

    def run(task: Callable[[], Any]) -> None:
        try:
            barrier.wait(30)
            task()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]


# -- 4. rebuild --------------------------------------------------------------------------


class TestRebuild:
    def test_a_rebuild_gives_a_new_generation_with_the_same_rows(self, script: Script) -> None:
        a_history(script)
        views = caught_up(script.ledger)
        before = dump_all(views)
        for projection in build_projections(views):
            rebuild(script.ledger, projection, batch_size=5)
        assert {name: active_generation(view) for name, view in views.items()} == \
            dict.fromkeys(VIEWS, 2)
        assert dump_all(views) == before

    def test_a_rebuild_drops_the_old_generations_tables(self, script: Script) -> None:
        a_history(script, contracts=1)
        views = caught_up(script.ledger)
        for name, view in views.items():
            assert physical_tables(view) == {f"view_{name}_{t}_g1" for t in view.tables}
            rebuild(script.ledger, VIEWS[name][1](view))
            assert physical_tables(view) == {f"view_{name}_{t}_g2" for t in view.tables}

    def test_readers_see_the_old_rows_until_the_swap(self, script: Script) -> None:
        # Given a live view that has folded only its first few events
        a_history(script)
        view = build_views(script.ledger)["contracts"]
        projection = VIEWS["contracts"][1](view)
        ProjectionRunner(script.ledger, [projection], batch_size=6).run_once()
        old = dump(view)
        old_position = view.position()
        # When it is rebuilt, reading it between the rebuild's batches
        seen: list[tuple[int, Any]] = []
        new_table = view.db.qualify(view.physical_name("contracts", 2))

        def read_meanwhile(_: int) -> None:
            with view.db.transaction(write=False) as cursor:
                cursor.execute(f"SELECT COUNT(*) AS n FROM {new_table}")
                row = cursor.fetchone()
            assert row is not None
            assert int(row["n"]) > 0  # the new generation is filling up
            seen.append((view.position(), dump(view)))

        rebuild(script.ledger, projection, batch_size=4, on_progress=read_meanwhile)
        # Then readers saw the old rows every time, and afterwards the complete ones
        assert len(seen) > 2
        assert seen == [(old_position, old)] * len(seen)
        assert view.position() == head(script.ledger)
        complete = dump(view)
        assert complete != old
        assert complete == rebuilt(script.ledger)["contracts"]["rows"]

    def test_an_aborted_rebuild_leaves_readers_on_the_old_generation(
            self, script: Script) -> None:
        # Given a rebuild that died after its first batch
        a_history(script, contracts=2)
        view = caught_up(script.ledger)["contracts"]
        before = dump(view)

        def die(_: int) -> None:
            raise Crash

        with pytest.raises(Crash):
            rebuild(script.ledger, VIEWS["contracts"][1](view), batch_size=3, on_progress=die)
        # Then readers still use the old generation, which a runner keeps up to date
        assert active_generation(view) == 1
        assert dump(view) == before
        contract_id = script.draft("Drafted after the crash")
        assert contract_row(caught_up(script.ledger), contract_id)["version"] == 1

    def test_the_next_rebuild_clears_what_an_aborted_one_left(self, script: Script) -> None:
        a_history(script, contracts=2)
        view = caught_up(script.ledger)["contracts"]
        projection = VIEWS["contracts"][1](view)

        def die(_: int) -> None:
            raise Crash

        with pytest.raises(Crash):
            rebuild(script.ledger, projection, batch_size=3, on_progress=die)
        before = dump(view)
        rebuild(script.ledger, projection, batch_size=3)
        assert active_generation(view) == 2
        assert physical_tables(view) == {"view_contracts_contracts_g2"}
        assert dump(view) == before

    def test_a_read_whose_generation_is_swapped_out_under_it_reads_one_whole_generation(
            self, script: Script, fresh_store_url: str) -> None:
        # Given a view behind the ledger, and a read that has found its generation
        a_history(script, contracts=2)
        view = build_views(script.ledger)["contracts"]
        projection = VIEWS["contracts"][1](view)
        ProjectionRunner(script.ledger, [projection], batch_size=5).run_once()
        old = dump(view)
        calls: list[int] = []

        def query(session: Session) -> list[dict[str, Any]]:
            calls.append(session.generation)
            if len(calls) == 1:
                # When a rebuild swaps the view and drops that generation meanwhile
                thread = threading.Thread(target=rebuild, args=(script.ledger, projection))
                thread.start()
                thread.join(60)
                assert not thread.is_alive()
            return session.execute("SELECT * FROM {contracts} ORDER BY contract_id")

        seen = view.read(query)
        # Then it reads again from the new generation (PostgreSQL: the table is gone), or
        # keeps reading the snapshot it began with (SQLite's WAL): never a mix, no error
        new = dump(view)
        assert new != old
        if fresh_store_url.startswith("postgresql"):
            assert (calls, seen) == ([1, 2], new["contracts"])
        else:
            assert (calls, seen) == ([1], old["contracts"])

    def test_a_rebuild_while_writes_continue_ends_as_a_fresh_rebuild(
            self, script: Script, other_ledger: ContractLedger) -> None:
        # Given a ledger being written to meanwhile (by a web process, say)
        a_history(script, contracts=3)
        views = caught_up(script.ledger)
        with Writer(other_ledger) as writer:
            # When the views are rebuilt meanwhile (the first batches wait for a write)
            for projection in build_projections(views):
                rebuild(script.ledger, projection, batch_size=3,
                        on_progress=writer.wait_for_writes(calls=2))
        assert writer.writes >= 2 * len(VIEWS)
        # Then, after a final catch-up, they are as a rebuild from scratch makes them
        ProjectionRunner(script.ledger, build_projections(views)).catch_up()
        assert dump_all(views) == rebuilt(script.ledger)

    def test_a_rebuild_beside_a_running_runner_and_writers_ends_as_a_fresh_rebuild(
            self, script: Script, other_ledger: ContractLedger, fresh_store_url: str) -> None:
        # Given a runner following the ledger and a writer, each in a process of its own
        a_history(script, contracts=3)
        views = build_views(script.ledger)
        runner_ledger = build_ledger(Settings(database_url=fresh_store_url))
        runner = ProjectionRunner(runner_ledger, build_projections(build_views(runner_ledger)),
                                  batch_size=2, poll_interval=0.001)
        thread = runner.start(Follower())
        try:
            # When the views are rebuilt meanwhile
            with Writer(other_ledger) as writer:
                for projection in build_projections(views):
                    rebuild(script.ledger, projection, batch_size=3,
                            on_progress=writer.wait_for_writes(calls=2))
        finally:
            runner.stop()
            thread.join(60)
            runner_ledger.close()
        assert not thread.is_alive()
        # Then, after a final catch-up, they are as a rebuild from scratch makes them
        ProjectionRunner(script.ledger, build_projections(views)).catch_up()
        assert dump_all(views) == rebuilt(script.ledger)

    def test_commands_of_the_rebuilding_process_succeed_while_it_rebuilds(
            self, script: Script) -> None:
        # Given a process that keeps appending commands (on SQLite its connection pool
        # has one writer connection, which the rebuild's swap needs too)
        a_history(script, contracts=1)
        view = build_views(script.ledger)["contracts"]
        errors: list[BaseException] = []
        stop = threading.Event()

        def keep_drafting() -> None:
            for _ in range(40):  # bounded: a rebuild ends once it overtakes the writes
                if stop.is_set():
                    return
                try:
                    Script(script.ledger).draft("Drafted during the rebuild")
                except BaseException as error:
                    errors.append(error)
                    return

        command = threading.Thread(target=keep_drafting)
        command.start()
        # When it rebuilds the view several times meanwhile
        try:
            for _ in range(3):
                rebuild(script.ledger, VIEWS["contracts"][1](view), batch_size=5)
        finally:
            stop.set()
            command.join(60)
        # Then every command and every rebuild succeeded, and the view is whole
        assert errors == []
        ProjectionRunner(script.ledger, [VIEWS["contracts"][1](view)]).catch_up()
        assert dump(view) == rebuilt(script.ledger)["contracts"]["rows"]


class Crash(Exception):
    """The process running a rebuild died."""


@pytest.fixture
def other_ledger(fresh_store_url: str) -> Iterator[ContractLedger]:
    """The application in another process on the same store."""
    ledger = build_ledger(Settings(database_url=fresh_store_url))
    yield ledger
    ledger.close()


class Writer:
    """A thread that keeps drafting and amending contracts until the block ends."""

    def __init__(self, ledger: ContractLedger):
        self.script = Script(ledger)
        self.writes = 0
        self.wrote = threading.Condition()
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, name="writer")

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(60)
        assert not self.thread.is_alive()
        if self.errors:
            raise self.errors[0]

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                contract_id = self.script.draft(f"Written meanwhile {self.writes}",
                                                vendor="initech")
                self.script.amend(contract_id, value=Money(Decimal("1.00"), "EUR"),
                                  effective=date(2026, 1, 1))
                with self.wrote:
                    self.writes += 1
                    self.wrote.notify_all()
        except BaseException as error:
            self.errors.append(error)
            with self.wrote:
                self.wrote.notify_all()

    def wait_for_writes(self, calls: int) -> Callable[[int], None]:
        """An on_progress callback: each of its first calls waits for a new write (it must
        not wait later: on SQLite the swap holds the write lock while it reports)."""
        count = 0

        def on_progress(_: int) -> None:
            nonlocal count
            count += 1
            if count > calls:
                return
            with self.wrote:
                target = self.writes + 1
                assert self.wrote.wait_for(
                    lambda: self.writes >= target or bool(self.errors), timeout=60)
        return on_progress


# -- 5. gaps in the notification ids ------------------------------------------------------
#
# Only PostgreSQL has them: its ids come from a sequence, and a rolled-back append has
# consumed its ids for good. SQLite's ids are rowids, max(rowid) + 1 at each insert, so
# a rolled-back append leaves no gap there, and no gap can be made without deleting
# recorded events.


@pytest.fixture
def pg_script(script: Script, fresh_store_url: str) -> Script:
    if not fresh_store_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL skips notification ids (see above)")
    return script


def skip_ids(url: str, count: int) -> None:
    """Consume ids of the events table's sequence, as rolled-back appends do."""
    schema = url.split("schema=")[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for _ in range(count):
            conn.execute("SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))",
                         (f'"{schema}".ledger_events',))


class TestGaps:
    def test_the_views_pass_a_gap_left_by_a_failed_append(self, pg_script: Script) -> None:
        # Given an append that lost a race (its ids are consumed, its events not recorded)
        ledger = pg_script.ledger
        contract_id = pg_script.draft()
        stale = ledger.load_contract(contract_id)
        stale.designate_point_of_contact(PointOfContact("Bo", "bo@acme.example"),
                                         Provenance("bo", "procurement", "lost"))
        pg_script.act("designate_point_of_contact", contract_id,
                      point_of_contact=PointOfContact("Ana", "ana@acme.example"))
        with pytest.raises(IntegrityError):
            ledger.committer.commit(stale.collect_events())
        pg_script.act("define_sla_metric", contract_id, metric=MONTHLY_METRIC)
        ids = notification_ids(ledger)
        assert len(ids) == 3
        assert ids[-1] > ids[-2] + 1  # the gap
        # When the views catch up
        views = caught_up(ledger)
        # Then they are past the gap, with the event after it folded
        assert {view.position() for view in views.values()} == {ids[-1]}
        assert contract_row(views, contract_id)["version"] == 3
        assert [e["position"] for e in entries(views)] == ids

    def test_the_views_pass_gaps_at_and_across_batch_boundaries(
            self, pg_script: Script, fresh_store_url: str) -> None:
        # Given gaps after the first, between the 3rd and 4th and before the last event
        ledger = pg_script.ledger
        contract_id = pg_script.draft()
        skip_ids(fresh_store_url, 5)
        pg_script.act("designate_point_of_contact", contract_id,
                      point_of_contact=PointOfContact("Ana", "ana@acme.example"))
        pg_script.act("define_sla_metric", contract_id, metric=MONTHLY_METRIC)
        skip_ids(fresh_store_url, 1)
        pg_script.act("define_exit_plan", contract_id, exit_plan=EXIT_PLAN)
        pg_script.activate(contract_id)
        skip_ids(fresh_store_url, 3)
        pg_script.amend(contract_id, title="After the gaps")
        ids = notification_ids(ledger)
        assert len(ids) == 6
        assert ids[-1] == 6 + 5 + 1 + 3
        # When a runner with batches of two catches up
        views = build_views(ledger)
        runner = ProjectionRunner(ledger, build_projections(views), batch_size=2)
        assert [runner.run_once() for _ in range(4)] == [2, 2, 2, 0]
        # Then every view is at the last id, as a rebuild makes it
        assert {view.position() for view in views.values()} == {ids[-1]}
        assert contract_row(views, contract_id)["title"] == "After the gaps"
        assert dump_all(views) == rebuilt(ledger)

    def test_a_gap_at_the_head_is_not_waited_for(self, pg_script: Script,
                                                 fresh_store_url: str) -> None:
        contract_id = pg_script.draft()
        skip_ids(fresh_store_url, 4)
        views = caught_up(pg_script.ledger)
        assert {view.position() for view in views.values()} == {1}
        pg_script.act("designate_point_of_contact", contract_id,
                      point_of_contact=PointOfContact("Ana", "ana@acme.example"))
        views = caught_up(pg_script.ledger)
        assert {view.position() for view in views.values()} == {6}
        assert contract_row(views, contract_id)["version"] == 2


# -- 7. what each version changed (service.history.changes) --------------------------------


class TestChanges:
    def test_an_amendments_patch_replaces_the_value_amount(self, script: Script) -> None:
        contract_id = script.active()
        result = script.amend(contract_id, value=Money(Decimal("1350000.00"), "EUR"))
        patch = changes(script.ledger, contract_id, [result.version])[result.version]
        assert {"op": "replace", "path": "/value/amount", "value": "1350000.00"} in patch
        assert not any(op["path"].startswith(("/version", "/updated_at")) for op in patch)

    def test_the_first_versions_patch_adds_the_whole_state(self, script: Script) -> None:
        contract_id = script.draft()
        patch = changes(script.ledger, contract_id, [1])[1]
        assert {op["op"] for op in patch} == {"add"}
        contract = script.ledger.get_contract(contract_id)
        state = jsonpatch.apply_patch({}, patch)
        assert state == {k: v for k, v in contract.items() if k not in UNDIFFED}

    def test_applying_every_patch_in_turn_gives_the_current_state(
            self, script: Script) -> None:
        contract_id = script.active()
        script.amend(contract_id, title="Renamed")
        versions = range(1, script.versions[contract_id] + 1)
        state: dict[str, Any] = {}
        for _, patch in sorted(changes(script.ledger, contract_id, versions).items()):
            state = jsonpatch.apply_patch(state, patch)
        contract = script.ledger.get_contract(contract_id)
        assert state == {k: v for k, v in contract.items() if k not in UNDIFFED}

    def test_versions_far_apart_give_the_same_patches_as_walking_them_all(
            self, script: Script) -> None:
        # Given a contract of more than three snapshot intervals, amended on the way
        contract_id = script.active()
        for n in range(3 * SNAPSHOT_INTERVAL):
            if n % 20 == 7:
                script.amend(contract_id, value=Money(Decimal(f"{1_300_000 + n}.00"), "EUR"))
            else:
                script.act("designate_point_of_contact", contract_id,
                           point_of_contact=PointOfContact(f"Contact {n}", "c@acme.example"))
        last = script.versions[contract_id]
        everything = changes(script.ledger, contract_id, range(1, last + 1))
        assert len(everything) == last
        # When far apart versions are asked for (each more than an interval from the last)
        sparse = [1, 2 + SNAPSHOT_INTERVAL, 3 + 2 * SNAPSHOT_INTERVAL, last]
        assert all(b - a > SNAPSHOT_INTERVAL for a, b in itertools.pairwise(sparse))
        # Then their patches are the ones the walk found
        assert changes(script.ledger, contract_id, sparse) == {v: everything[v] for v in sparse}

    def test_versions_around_a_snapshot_have_the_walks_patches(self, script: Script) -> None:
        # Given a contract renamed just after its first snapshot
        contract_id = script.draft()
        for n in range(2 * SNAPSHOT_INTERVAL):
            if n == SNAPSHOT_INTERVAL - 1:  # version SNAPSHOT_INTERVAL + 1
                script.amend(contract_id, title="Renamed after the snapshot")
            else:
                script.act("designate_point_of_contact", contract_id,
                           point_of_contact=PointOfContact(f"Contact {n}", "c@acme.example"))
        last = script.versions[contract_id]
        everything = changes(script.ledger, contract_id, range(1, last + 1))
        # Then each version asked for alone has the patch the walk found
        for version in (SNAPSHOT_INTERVAL, SNAPSHOT_INTERVAL + 1, 2 * SNAPSHOT_INTERVAL, last):
            assert changes(script.ledger, contract_id, [version]) == \
                {version: everything[version]}, version
        assert {"op": "replace", "path": "/title", "value": "Renamed after the snapshot"} in \
            everything[SNAPSHOT_INTERVAL + 1]
