"""The Contract aggregate, specified without I/O."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest

from domain.chain import GENESIS_HASH
from domain.exceptions import (
    ActivationRequirementsMissing,
    ContractAlreadyActive,
    ContractNotActive,
    ContractTerminated,
    EffectiveDateOutOfTerm,
    EmptyAmendment,
    ExitPlanIncomplete,
    InvalidRenewal,
    InvalidTerm,
    InvalidValue,
    NoticeDeadlinePassed,
    SlaMetricAlreadyDefined,
    SlaMetricRetired,
    UnknownSlaMetric,
)
from domain.money import Money
from domain.values import (
    ExitPlan,
    ExitStep,
    PointOfContact,
    RenewalOption,
    SlaTargetChange,
    Term,
    TermChanges,
)
from tests.support.domain import BY, EXIT_PLAN, active, draft, eur, metric, ready


class TestDrafting:
    def test_a_drafted_contract_is_a_draft_at_version_one(self) -> None:
        contract = draft()
        assert contract.status.value == "draft"
        assert contract.version == 1

    def test_term_must_end_after_it_starts(self) -> None:
        with pytest.raises(InvalidTerm):
            Term(date(2026, 1, 1), date(2026, 1, 1), 0, RenewalOption.NONE)

    def test_notice_period_must_be_shorter_than_the_term(self) -> None:
        with pytest.raises(InvalidTerm):
            Term(date(2026, 1, 1), date(2026, 3, 1), 59, RenewalOption.NONE)

    def test_money_is_never_a_float(self) -> None:
        with pytest.raises(InvalidValue):
            Money(1200.5, "EUR")  # type: ignore[arg-type]

    def test_money_has_at_most_the_currency_minor_unit(self) -> None:
        with pytest.raises(InvalidValue):
            Money(Decimal("10.001"), "EUR")
        assert Money(Decimal("10.001"), "KWD").amount == Decimal("10.001")
        with pytest.raises(InvalidValue):
            Money(Decimal("10.5"), "JPY")

    def test_currency_must_be_iso_4217(self) -> None:
        with pytest.raises(InvalidValue):
            Money(Decimal("1"), "XYZ")

    def test_contract_value_must_not_be_negative(self) -> None:
        with pytest.raises(InvalidValue):
            draft(value=eur("-1.00"))

    def test_title_must_not_be_blank(self) -> None:
        with pytest.raises(InvalidValue):
            draft(title="   ")


class TestHashChain:
    def test_first_event_links_to_the_genesis_hash(self) -> None:
        (event,) = draft().collect_events()
        assert event.previous_hash == GENESIS_HASH  # type: ignore[attr-defined]

    def test_each_event_links_to_its_predecessor(self) -> None:
        events = ready().collect_events()
        for before, after in itertools.pairwise(events):
            assert after.previous_hash == before.event_hash  # type: ignore[attr-defined]

    def test_every_event_records_who_and_under_which_request(self) -> None:
        for event in ready().collect_events():
            assert event.provenance == BY  # type: ignore[attr-defined]

    def test_hashes_differ_when_content_differs(self) -> None:
        a = draft(title="A").collect_events()[0]
        b = draft(title="B").collect_events()[0]
        assert a.event_hash != b.event_hash  # type: ignore[attr-defined]


class TestActivation:
    def test_cannot_activate_without_exit_plan_sla_metric_and_point_of_contact(self) -> None:
        with pytest.raises(ActivationRequirementsMissing) as error:
            draft().activate(date(2026, 1, 1), BY)
        assert error.value.missing == ["exit plan", "SLA metric in force on 2026-01-01",
                                       "point of contact"]

    def test_cannot_activate_when_every_sla_metric_is_retired(self) -> None:
        contract = ready()
        contract.amend_sla((), ("availability",), date(2026, 1, 1), "replaced", BY)
        with pytest.raises(ActivationRequirementsMissing):
            contract.activate(date(2026, 1, 1), BY)

    def test_a_metric_that_takes_effect_after_the_activation_date_does_not_count(
        self
    ) -> None:
        # Given the only SLA metric takes effect on 1 March
        contract = ready()
        contract.amend_sla((), ("availability",), date(2026, 1, 1), "replaced", BY)
        contract.define_sla_metric(metric("latency", effective_from=date(2026, 3, 1)), BY)
        # Then going live on 1 February is refused, naming what is missing ...
        with pytest.raises(ActivationRequirementsMissing) as error:
            contract.activate(date(2026, 2, 1), BY)
        assert error.value.missing == ["SLA metric in force on 2026-02-01"]
        # ... and on the metric's first day it is accepted.
        contract.activate(date(2026, 3, 1), BY)
        assert contract.activated_on == date(2026, 3, 1)

    def test_a_metric_retired_by_the_activation_date_does_not_count(self) -> None:
        contract = ready()
        contract.amend_sla((), ("availability",), date(2026, 6, 1), "replaced", BY)
        with pytest.raises(ActivationRequirementsMissing):
            contract.activate(date(2026, 6, 1), BY)
        contract.activate(date(2026, 5, 31), BY)

    def test_activation_with_all_requirements_goes_live(self) -> None:
        contract = active()
        assert contract.status.value == "active"
        assert contract.activated_on == date(2026, 1, 1)

    def test_cannot_activate_twice(self) -> None:
        with pytest.raises(ContractAlreadyActive):
            active().activate(date(2026, 2, 1), BY)

    def test_cannot_activate_outside_the_term(self) -> None:
        with pytest.raises(EffectiveDateOutOfTerm):
            ready().activate(date(2025, 12, 31), BY)


class TestAmendments:
    def test_amendment_changes_the_terms_and_is_remembered(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(value=eur("1300000.00"), notice_period_days=120),
                             "scope grew", date(2026, 6, 1), BY)
        assert contract.value == eur("1300000.00")
        assert contract.term.notice_period_days == 120
        assert contract.amendments[-1]["rationale"] == "scope grew"

    def test_amendment_cannot_take_effect_before_the_term_starts(self) -> None:
        with pytest.raises(EffectiveDateOutOfTerm):
            active().amend_terms(TermChanges(title="New"), "why", date(2025, 12, 31), BY)

    def test_amendment_must_change_something(self) -> None:
        with pytest.raises(EmptyAmendment):
            active().amend_terms(TermChanges(), "why", date(2026, 6, 1), BY)

    def test_amendment_cannot_make_the_term_impossible(self) -> None:
        with pytest.raises(InvalidTerm):
            active().amend_terms(TermChanges(end=date(2025, 6, 1)), "why", date(2026, 6, 1), BY)


class TestSla:
    def test_metric_ids_are_unique(self) -> None:
        with pytest.raises(SlaMetricAlreadyDefined):
            ready().define_sla_metric(metric(), BY)

    def test_sla_amendment_changes_the_target_and_keeps_the_history(self) -> None:
        contract = active()
        contract.amend_sla((SlaTargetChange("availability", Decimal("99.95")),), (),
                           date(2026, 7, 1), "tighter", BY)
        assert contract.sla_metrics["availability"].target == Decimal("99.95")
        assert [h["target"] for h in contract.sla_history] == [Decimal("99.9"), Decimal("99.95")]

    def test_cannot_amend_an_unknown_metric(self) -> None:
        with pytest.raises(UnknownSlaMetric):
            active().amend_sla((SlaTargetChange("latency", Decimal("1")),), (),
                               date(2026, 7, 1), "why", BY)

    def test_cannot_amend_a_retired_metric(self) -> None:
        contract = active()
        contract.define_sla_metric(metric("latency"), BY)
        contract.amend_sla((), ("latency",), date(2026, 7, 1), "dropped", BY)
        with pytest.raises(SlaMetricRetired):
            contract.amend_sla((SlaTargetChange("latency", Decimal("1")),), (),
                               date(2026, 8, 1), "why", BY)

    def test_sla_amendment_cannot_precede_the_metric(self) -> None:
        contract = active()
        contract.define_sla_metric(metric("latency", date(2026, 6, 1)), BY)
        with pytest.raises(EffectiveDateOutOfTerm):
            contract.amend_sla((SlaTargetChange("latency", Decimal("2")),), (),
                               date(2026, 5, 1), "why", BY)

    def test_a_metric_may_appear_once_per_amendment(self) -> None:
        with pytest.raises(InvalidValue):
            active().amend_sla((SlaTargetChange("availability", Decimal("99")),),
                               ("availability",), date(2026, 7, 1), "why", BY)


class TestExitPlan:
    def test_revising_the_exit_plan_counts_revisions(self) -> None:
        contract = ready()
        contract.define_exit_plan(EXIT_PLAN, BY)
        assert contract.exit_plan_revision == 2

    def test_exit_plan_needs_a_step_and_unique_step_ids(self) -> None:
        with pytest.raises(InvalidValue):
            ExitPlan((), eur("1.00"), 30, "x")
        step = ExitStep("a", "b", mandatory=True)
        with pytest.raises(InvalidValue):
            ExitPlan((step, step), eur("1.00"), 30, "x")


class TestRenewalAndTermination:
    def test_renewal_extends_the_term(self) -> None:
        contract = active()
        contract.renew(date(2029, 12, 31), "met targets", date(2028, 9, 1), BY)
        assert contract.term.end == date(2029, 12, 31)

    def test_renewal_must_extend_the_term(self) -> None:
        with pytest.raises(InvalidRenewal):
            active().renew(date(2028, 12, 31), "why", date(2028, 9, 1), BY)

    def test_only_an_active_contract_can_be_renewed(self) -> None:
        with pytest.raises(ContractNotActive):
            ready().renew(date(2029, 12, 31), "why", date(2028, 9, 1), BY)

    def test_a_terminated_contract_accepts_no_further_act(self) -> None:
        contract = active()
        contract.terminate("insourced", date(2027, 1, 1), BY, override_reason="board decision")
        for act in (
            lambda: contract.renew(date(2030, 1, 1), "why", date(2027, 1, 2), BY),
            lambda: contract.amend_terms(TermChanges(title="x"), "why", date(2027, 2, 1), BY),
            lambda: contract.designate_point_of_contact(PointOfContact("B", "b@x.example"), BY),
            lambda: contract.define_exit_plan(EXIT_PLAN, BY),
            lambda: contract.terminate("again", date(2027, 2, 1), BY),
        ):
            with pytest.raises(ContractTerminated):
                act()

    def test_an_active_contract_terminates_within_its_term(self) -> None:
        with pytest.raises(EffectiveDateOutOfTerm):
            active().terminate("why", date(2030, 1, 1), BY, override_reason="x")

    def test_a_draft_can_be_abandoned(self) -> None:
        contract = draft()
        contract.terminate("never signed", date(2025, 11, 1), BY)
        assert contract.status.value == "terminated"


class TestNoticeAndExitRules:
    def test_the_notice_deadline_is_the_end_minus_the_notice_period(self) -> None:
        assert active().notice_deadline() == date(2028, 10, 2)  # 90 days before 2028-12-31

    def test_renewal_after_the_notice_deadline_needs_an_override(self) -> None:
        contract = active()
        with pytest.raises(NoticeDeadlinePassed):
            contract.renew(date(2029, 12, 31), "late", date(2028, 10, 3), BY)
        contract.renew(date(2029, 12, 31), "late", date(2028, 10, 3), BY,
                       override_reason="vendor agreed to waive notice")
        names = [type(e).__name__ for e in contract.collect_events()]
        assert names[-2:] == ["RenewalDeadlineOverridden", "ContractRenewed"]

    def test_renewal_on_the_deadline_day_needs_no_override(self) -> None:
        active().renew(date(2029, 12, 31), "on time", date(2028, 10, 2), BY)

    def test_an_active_contract_terminates_only_after_its_mandatory_exit_steps(self) -> None:
        contract = active()
        with pytest.raises(ExitPlanIncomplete):
            contract.terminate("insourced", date(2027, 1, 1), BY)
        contract.initiate_exit("insourcing", None, date(2026, 9, 1), BY)
        contract.start_exit_step("handover", date(2026, 9, 2), BY)
        contract.complete_exit_step("handover", date(2026, 12, 1), "runbooks received", BY)
        contract.terminate("insourced", date(2027, 1, 1), BY)
        assert contract.status.value == "terminated"

    def test_an_override_is_recorded_with_the_steps_it_skipped(self) -> None:
        contract = active()
        contract.terminate("vendor insolvent", date(2027, 1, 1), BY,
                           override_reason="vendor ceased trading")
        overridden = [e for e in contract.collect_events()
                      if type(e).__name__ == "ExitPlanOverridden"]
        assert overridden[0].incomplete_steps == ("handover",)  # type: ignore[attr-defined]
