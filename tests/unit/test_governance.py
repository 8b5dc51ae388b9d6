"""Relationship governance and exit, specified without I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.contract import Contract
from domain.credits import ExitTrigger, TriggerKind
from domain.exceptions import (
    ContractNotActive,
    CorrectiveActionClosed,
    CorrectiveActionsOpen,
    DuplicateId,
    ExitAlreadyInitiated,
    ExitNotInitiated,
    FindingClosed,
    IllegalExitStepTransition,
    IllegalProposalTransition,
    InvalidValue,
    TriggerNotFired,
    UnknownFinding,
)
from domain.governance import (
    Cadence,
    CadenceKind,
    FindingCategory,
    FindingSpec,
    HealthRating,
    IntervalUnit,
    ProposalDecision,
    ReviewKind,
    Scorecard,
    ScorecardEntry,
    Severity,
    add_months,
)
from tests.support.domain import BY, EXIT_PLAN, active, eur, ready


def finding(finding_id: str = "f1", severity: Severity = Severity.HIGH,
            due: date = date(2026, 9, 30)) -> FindingSpec:
    return FindingSpec(finding_id, FindingCategory.SECURITY, severity,
                       "Patching lags 60 days behind", "Acme security lead", due)


def checked(*findings: FindingSpec) -> Contract:
    contract = active()
    contract.conduct_health_check("hc-2026-h1", date(2026, 6, 30), ("Ana", "Ben"),
                                  "security and delivery", HealthRating.AMBER,
                                  findings or (finding(),), BY)
    return contract


def names(contract: Contract) -> list[str]:
    return [type(e).__name__ for e in contract.collect_events()]


SCORECARD = Scorecard(*(ScorecardEntry(s, "noted") for s in (4, 3, 3, 2)))


class TestHealthChecks:
    def test_a_health_check_and_its_findings_are_one_event_set(self) -> None:
        contract = active()
        contract.collect_events()
        contract.conduct_health_check("hc-1", date(2026, 6, 30), ("Ana",), "all",
                                      HealthRating.RED, (finding("f1"), finding("f2")), BY)
        assert names(contract) == ["HealthCheckConducted", "FindingRecorded",
                                   "FindingRecorded"]

    def test_ids_are_unique(self) -> None:
        contract = checked()
        with pytest.raises(DuplicateId):
            contract.conduct_health_check("hc-2026-h1", date(2026, 12, 31), ("Ana",), "all",
                                          HealthRating.GREEN, (), BY)
        with pytest.raises(DuplicateId):
            contract.conduct_health_check("hc-2", date(2026, 12, 31), ("Ana",), "all",
                                          HealthRating.GREEN, (finding("f1"),), BY)

    def test_a_finding_cannot_be_due_before_the_check(self) -> None:
        with pytest.raises(InvalidValue):
            checked(finding(due=date(2026, 6, 1)))


class TestFindingLifecycle:
    def test_a_finding_is_resolved_after_its_actions_complete(self) -> None:
        contract = checked()
        contract.plan_corrective_action("f1", "patch", "Patch monthly", "Ops", date(2026, 8, 1),
                                        BY)
        contract.update_corrective_action("f1", "patch", "half the fleet done", None, BY)
        with pytest.raises(CorrectiveActionsOpen):
            contract.resolve_finding("f1", "scan report", date(2026, 8, 2), BY)
        contract.complete_corrective_action("f1", "patch", date(2026, 8, 1), "all done", BY)
        contract.resolve_finding("f1", "clean scan report SR-9", date(2026, 8, 2), BY)
        assert contract.findings["f1"]["status"] == "resolved"

    def test_a_finding_may_be_accepted_as_a_risk(self) -> None:
        contract = checked()
        contract.accept_finding_risk("f1", "CISO", "legacy system retires in Q4", BY)
        assert contract.findings["f1"]["status"] == "risk_accepted"

    @pytest.mark.parametrize("act", [
        lambda c: c.plan_corrective_action("f1", "x", "y", "z", date(2026, 9, 1), BY),
        lambda c: c.resolve_finding("f1", "again", date(2026, 9, 1), BY),
        lambda c: c.accept_finding_risk("f1", "CISO", "again", BY),
        lambda c: c.respond_to_finding("f1", "late reply", BY),
    ])
    def test_a_closed_finding_takes_no_further_act(self, act) -> None:  # type: ignore[no-untyped-def]
        contract = checked()
        contract.resolve_finding("f1", "fixed", date(2026, 7, 1), BY)
        with pytest.raises(FindingClosed):
            act(contract)

    def test_a_completed_action_cannot_be_updated_or_completed_again(self) -> None:
        contract = checked()
        contract.plan_corrective_action("f1", "patch", "Patch", "Ops", date(2026, 8, 1), BY)
        contract.complete_corrective_action("f1", "patch", date(2026, 7, 1), "done", BY)
        with pytest.raises(CorrectiveActionClosed):
            contract.update_corrective_action("f1", "patch", "more", None, BY)
        with pytest.raises(CorrectiveActionClosed):
            contract.complete_corrective_action("f1", "patch", date(2026, 7, 2), "again", BY)

    def test_an_unknown_finding_is_refused(self) -> None:
        with pytest.raises(UnknownFinding):
            checked().respond_to_finding("nope", "hello", BY)


class TestCadenceAndOverdue:
    def governed(self) -> Contract:
        contract = active()  # activated 2026-01-01
        contract.declare_cadence((
            Cadence(CadenceKind.OPERATIONAL, 1, IntervalUnit.WEEKS),
            Cadence(CadenceKind.SLA_REVIEW, 1, IntervalUnit.MONTHS),
            Cadence(CadenceKind.SCORECARD, 3, IntervalUnit.MONTHS),
            Cadence(CadenceKind.HEALTH_CHECK, 6, IntervalUnit.MONTHS)), BY)
        return contract

    def status(self, contract: Contract, day: date) -> dict[str, dict[str, object]]:
        return {c["kind"]: c for c in contract.governance_status(day)["cadences"]}

    def test_due_on_the_day_is_not_overdue_the_day_after_is(self) -> None:
        contract = self.governed()
        assert self.status(contract, date(2026, 2, 1))["sla_review"]["overdue"] is False
        assert self.status(contract, date(2026, 2, 2))["sla_review"]["overdue"] is True

    def test_holding_a_review_moves_the_next_due_date(self) -> None:
        contract = self.governed()
        contract.hold_review("r1", ReviewKind.SLA_REVIEW, date(2026, 1, 31), "2026-01",
                             ("Ana", "Acme"), ("keep targets",), None, BY)
        sla = self.status(contract, date(2026, 2, 20))["sla_review"]
        assert sla["last_held"] == date(2026, 1, 31)
        assert sla["next_due"] == date(2026, 2, 28)  # month-end clamps
        assert sla["overdue"] is False

    def test_a_health_check_is_overdue_six_months_after_activation(self) -> None:
        contract = self.governed()
        assert contract.governance_status(date(2026, 7, 1))["overdue_health_check"] is False
        assert contract.governance_status(date(2026, 7, 2))["overdue_health_check"] is True

    def test_overdue_corrective_actions_and_findings(self) -> None:
        contract = checked(finding(due=date(2026, 9, 30)))
        contract.plan_corrective_action("f1", "patch", "Patch", "Ops", date(2026, 8, 1), BY)
        status = contract.governance_status(date(2026, 8, 1))
        assert status["overdue_corrective_actions"] == []
        status = contract.governance_status(date(2026, 10, 1))
        assert status["overdue_corrective_actions"] == ["f1/patch"]
        assert status["overdue_findings"] == ["f1"]

    def test_a_health_check_cadence_is_six_to_twelve_months(self) -> None:
        with pytest.raises(InvalidValue):
            Cadence(CadenceKind.HEALTH_CHECK, 3, IntervalUnit.MONTHS)

    def test_a_scorecard_review_carries_a_scorecard_and_only_it(self) -> None:
        contract = self.governed()
        with pytest.raises(InvalidValue):
            contract.hold_review("r1", ReviewKind.SCORECARD, date(2026, 3, 31), "2026-Q1",
                                 ("Ana",), (), None, BY)
        with pytest.raises(InvalidValue):
            contract.hold_review("r1", ReviewKind.OPERATIONAL, date(2026, 3, 31), "2026-W13",
                                 ("Ana",), (), SCORECARD, BY)
        contract.hold_review("r1", ReviewKind.SCORECARD, date(2026, 3, 31), "2026-Q1",
                             ("Ana",), (), SCORECARD, BY)
        assert SCORECARD.average() == Decimal("3")

    def test_month_arithmetic_clamps_to_the_month_end(self) -> None:
        assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)


class TestProposals:
    def test_an_accepted_proposal_is_implemented_with_its_realised_benefit(self) -> None:
        contract = active()
        contract.propose_improvement("auto-patch", "Automate patching", "fewer incidents",
                                     eur("20000.00"), BY)
        contract.decide_proposal("auto-patch", ProposalDecision.DEFERRED, "budget next FY", BY)
        contract.decide_proposal("auto-patch", ProposalDecision.ACCEPTED, "funded", BY)
        contract.implement_proposal("auto-patch", "30% fewer incidents", eur("25000.00"), BY)
        assert contract.proposals["auto-patch"]["status"] == "implemented"

    def test_illegal_proposal_transitions(self) -> None:
        contract = active()
        contract.propose_improvement("p", "Idea", "benefit", None, BY)
        with pytest.raises(IllegalProposalTransition):
            contract.implement_proposal("p", "x", None, BY)
        contract.decide_proposal("p", ProposalDecision.REJECTED, "no", BY)
        with pytest.raises(IllegalProposalTransition):
            contract.decide_proposal("p", ProposalDecision.ACCEPTED, "changed mind", BY)


class TestExit:
    def test_a_critical_finding_overdue_fires_its_trigger_once(self) -> None:
        contract = checked(finding(severity=Severity.CRITICAL, due=date(2026, 9, 30)))
        contract.define_exit_trigger(ExitTrigger("critical-open",
                                                 TriggerKind.CRITICAL_FINDING_OVERDUE), BY)
        contract.collect_events()
        contract.evaluate_time_triggers(date(2026, 9, 30), BY)
        assert names(contract) == []  # due today: not overdue yet
        contract.evaluate_time_triggers(date(2026, 10, 1), BY)
        assert names(contract) == ["ExitTriggerFired"]
        contract.evaluate_time_triggers(date(2026, 10, 2), BY)
        assert names(contract) == []

    def test_a_dismissed_trigger_does_not_fire_again_for_the_same_condition(self) -> None:
        contract = checked(finding(severity=Severity.CRITICAL, due=date(2026, 9, 30)))
        contract.define_exit_trigger(ExitTrigger("critical-open",
                                                 TriggerKind.CRITICAL_FINDING_OVERDUE), BY)
        contract.evaluate_time_triggers(date(2026, 10, 1), BY)
        contract.dismiss_trigger("critical-open", "vendor fixing under supervision", BY)
        contract.collect_events()
        contract.evaluate_time_triggers(date(2026, 10, 5), BY)
        assert names(contract) == []
        with pytest.raises(TriggerNotFired):
            contract.dismiss_trigger("critical-open", "again", BY)

    def test_a_health_check_overdue_by_more_than_n_days_fires(self) -> None:
        contract = active()
        contract.declare_cadence((Cadence(CadenceKind.HEALTH_CHECK, 6, IntervalUnit.MONTHS),),
                                 BY)
        contract.define_exit_trigger(ExitTrigger("no-health-check",
                                                 TriggerKind.HEALTH_CHECK_OVERDUE, days=30), BY)
        contract.collect_events()
        contract.evaluate_time_triggers(date(2026, 7, 31), BY)  # due 2026-07-01: 30 days
        assert names(contract) == []
        contract.evaluate_time_triggers(date(2026, 8, 1), BY)
        assert names(contract) == ["ExitTriggerFired"]

    def test_a_manual_trigger_fires_when_defined(self) -> None:
        contract = active()
        contract.collect_events()
        contract.define_exit_trigger(ExitTrigger("board", TriggerKind.MANUAL,
                                                 reason="strategic insourcing"), BY)
        assert names(contract) == ["ExitTriggerDefined", "ExitTriggerFired"]

    def test_exit_steps_are_tracked_and_spend_compared_with_budget(self) -> None:
        contract = active()
        with pytest.raises(ExitNotInitiated):
            contract.start_exit_step("handover", date(2026, 9, 1), BY)
        contract.initiate_exit("insourcing", None, date(2026, 9, 1), BY)
        with pytest.raises(ExitAlreadyInitiated):
            contract.initiate_exit("again", None, date(2026, 9, 1), BY)
        with pytest.raises(IllegalExitStepTransition):
            contract.complete_exit_step("handover", date(2026, 9, 2), "skipped start", BY)
        contract.start_exit_step("handover", date(2026, 9, 2), BY)
        contract.record_exit_spend(eur("60000.00"), "parallel run", date(2026, 9, 30), BY)
        budget = contract.exit_budget()
        assert budget is not None
        assert budget["over_budget"] is True
        assert budget["remaining"] == eur("-10000.00")

    def test_only_an_active_contract_is_exited(self) -> None:
        with pytest.raises(ContractNotActive):
            ready().initiate_exit("why", None, date(2026, 9, 1), BY)


def test_the_exit_plan_cannot_change_once_the_exit_is_under_way() -> None:
    contract = active()
    contract.initiate_exit("insourcing", None, date(2026, 9, 1), BY)
    with pytest.raises(ExitAlreadyInitiated):
        contract.define_exit_plan(EXIT_PLAN, BY)
