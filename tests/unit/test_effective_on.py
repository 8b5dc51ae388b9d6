"""What applied on a day (effective time), as a version of the contract knew it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Snapshot

from domain.contract import Contract
from domain.credits import IncentiveRule, Tier
from domain.values import (
    ContractStatus,
    DeliveryLocation,
    RenewalOption,
    SlaTargetChange,
    TermChanges,
)
from tests.support.domain import BY, TIERS, active, eur, metric, penalty_rule, ready

# The contract of tests.support.domain: term 2026-01-01 to 2028-12-31, 90 days'
# notice, 1,200,000.00 EUR, SLA metric "availability" (target 99.9 from 2026-01-01).
TODAY = date(2026, 6, 1)  # before the notice deadline (2028-10-02)


def on(contract: Contract, day: str) -> dict[str, Any]:
    return contract.in_force_on(date.fromisoformat(day))


def metric_ids(in_force: dict[str, Any]) -> list[str]:
    return [m["metric_id"] for m in in_force["sla_metrics"]]


def as_known_at(events: Sequence[Any], version: int) -> Contract:
    """The contract as the ledger knew it once version was recorded."""
    contract: Any = None
    for event in events[:version]:
        contract = event.mutate(contract)
    assert isinstance(contract, Contract)
    return contract


class TestStatusOnADay:
    def test_before_its_activation_date_the_contract_was_a_draft(self) -> None:
        contract = ready()
        contract.activate(date(2026, 3, 1), BY)
        assert on(contract, "2026-02-28")["status"] is ContractStatus.DRAFT
        assert on(contract, "2026-03-01")["status"] is ContractStatus.ACTIVE

    def test_a_contract_never_activated_is_a_draft_on_every_day(self) -> None:
        assert on(ready(), "2027-01-01")["status"] is ContractStatus.DRAFT

    def test_from_the_termination_effective_date_it_is_terminated_and_nothing_applies(
        self
    ) -> None:
        contract = active()
        contract.terminate("insourced", date(2026, 12, 31), BY, override_reason="board")
        before = on(contract, "2026-12-30")
        assert before["status"] is ContractStatus.ACTIVE
        assert metric_ids(before) == ["availability"]
        ended = on(contract, "2026-12-31")
        assert ended["status"] is ContractStatus.TERMINATED
        assert ended["in_term"]  # the term runs on; the contract no longer does
        assert (ended["sla_metrics"], ended["rules"]) == ([], [])

    def test_a_draft_abandoned_is_terminated_from_its_termination_date(self) -> None:
        contract = ready()
        contract.terminate("not pursued", date(2026, 2, 1), BY)
        assert on(contract, "2026-01-31")["status"] is ContractStatus.DRAFT
        assert on(contract, "2026-02-01")["status"] is ContractStatus.TERMINATED


class TestAmendedTerms:
    def test_the_day_before_an_amendment_takes_effect_has_the_old_terms(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(value=eur("1300000.00"), title="Network II",
                                         delivery_location=DeliveryLocation.OFFSHORE),
                             "two more sites", date(2026, 6, 1), BY)
        before = on(contract, "2026-05-31")
        assert before["value"] == eur("1200000.00")
        assert before["terms"]["title"] == "Managed network services"
        assert before["terms"]["delivery_location"] is DeliveryLocation.NEARSHORE
        assert before["amendments_applied"] == []

    def test_on_its_effective_date_an_amendment_applies(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(value=eur("1300000.00"), title="Network II",
                                         objectives=("Zero outages",)),
                             "two more sites", date(2026, 6, 1), BY)
        applied = on(contract, "2026-06-01")
        assert applied["value"] == eur("1300000.00")
        assert applied["terms"]["title"] == "Network II"
        assert applied["terms"]["objectives"] == ("Zero outages",)
        assert applied["terms"]["service_scope"].value == "network"  # not amended
        assert applied["amendments_applied"] == [6]

    def test_amendments_apply_in_effective_date_order_whatever_order_they_were_recorded(
        self
    ) -> None:
        contract = active()
        contract.amend_terms(TermChanges(value=eur("1400000.00")), "from autumn",
                             date(2026, 9, 1), BY)
        contract.amend_terms(TermChanges(value=eur("1300000.00")), "from summer",
                             date(2026, 6, 1), BY)
        assert on(contract, "2026-07-01")["value"] == eur("1300000.00")
        assert on(contract, "2026-09-01")["value"] == eur("1400000.00")
        assert on(contract, "2026-09-01")["amendments_applied"] == [7, 6]

    def test_an_amended_end_applies_from_the_amendment_s_effective_date(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(end=date(2027, 12, 31), notice_period_days=60),
                             "shortened", date(2026, 6, 1), BY)
        before = on(contract, "2026-05-31")["term"]
        assert (before["end"], before["notice_period_days"]) == (date(2028, 12, 31), 90)
        after = on(contract, "2026-06-01")["term"]
        assert (after["end"], after["notice_period_days"]) == (date(2027, 12, 31), 60)
        assert after["renewal"] is RenewalOption.OPTIONAL


class TestTheTermOnADay:
    def test_a_day_before_the_term_starts_is_outside_it_and_nothing_applies(self) -> None:
        early = on(active(), "2025-12-31")
        assert not early["in_term"]
        assert (early["sla_metrics"], early["rules"]) == ([], [])

    def test_its_first_and_last_days_are_within_the_term(self) -> None:
        contract = active()
        assert on(contract, "2026-01-01")["in_term"]
        assert on(contract, "2028-12-31")["in_term"]

    def test_after_the_term_ends_nothing_applies_though_the_contract_is_still_active(
        self
    ) -> None:
        late = on(active(), "2029-01-01")
        assert not late["in_term"]
        assert late["status"] is ContractStatus.ACTIVE
        assert (late["sla_metrics"], late["rules"]) == ([], [])

    def test_a_renewal_extends_the_term_on_every_day(self) -> None:
        contract = active()
        contract.renew(date(2030, 12, 31), "extended", TODAY, BY)
        assert on(contract, "2026-06-01")["term"]["end"] == date(2030, 12, 31)
        extended = on(contract, "2029-06-01")
        assert extended["in_term"]
        assert metric_ids(extended) == ["availability"]

    def test_a_renewal_recorded_after_an_end_amendment_extends_the_amended_end(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(end=date(2027, 12, 31)), "shortened",
                             date(2026, 6, 1), BY)
        contract.renew(date(2029, 12, 31), "extended after all", TODAY, BY)
        assert on(contract, "2026-03-01")["term"]["end"] == date(2029, 12, 31)
        assert on(contract, "2028-06-01")["term"]["end"] == date(2029, 12, 31)

    def test_an_end_amendment_recorded_after_a_renewal_wins_from_its_effective_date(
        self
    ) -> None:
        contract = active()
        contract.renew(date(2030, 12, 31), "extended", TODAY, BY)
        contract.amend_terms(TermChanges(end=date(2029, 6, 30)), "renegotiated",
                             date(2027, 1, 1), BY)
        assert on(contract, "2026-12-31")["term"]["end"] == date(2030, 12, 31)
        assert on(contract, "2027-01-01")["term"]["end"] == date(2029, 6, 30)
        assert not on(contract, "2029-07-01")["in_term"]


class TestSlaTargetsOnADay:
    def test_a_target_amended_mid_term_applies_from_its_effective_date(self) -> None:
        contract = active()
        contract.amend_sla((SlaTargetChange("availability", Decimal("99.95")),), (),
                           date(2026, 7, 1), "after the upgrade", BY)
        (before,) = on(contract, "2026-06-30")["sla_metrics"]
        assert (before["target"], before["target_from"]) == (Decimal("99.9"), date(2026, 1, 1))
        (after,) = on(contract, "2026-07-01")["sla_metrics"]
        assert (after["target"], after["target_from"]) == (Decimal("99.95"), date(2026, 7, 1))
        assert after["name"] == "Availability"

    def test_a_metric_retired_on_a_day_is_not_in_force_that_day(self) -> None:
        contract = active()
        contract.define_sla_metric(metric("latency"), BY)
        contract.amend_sla((), ("latency",), date(2026, 9, 1), "no longer measured", BY)
        day_before = on(contract, "2026-08-31")["sla_metrics"]
        assert [(m["metric_id"], m["retired_from"]) for m in day_before] == [
            ("availability", None), ("latency", date(2026, 9, 1))]
        assert metric_ids(on(contract, "2026-09-01")) == ["availability"]

    def test_a_metric_defined_from_a_later_date_is_not_yet_in_force(self) -> None:
        contract = active()
        contract.define_sla_metric(metric("latency", effective_from=date(2026, 4, 1)), BY)
        assert metric_ids(on(contract, "2026-03-31")) == ["availability"]
        assert metric_ids(on(contract, "2026-04-01")) == ["availability", "latency"]


class TestRulesOnADay:
    def test_an_amended_rule_applies_its_new_version_from_its_effective_date(self) -> None:
        contract = active()
        contract.define_penalty_rule(penalty_rule(), BY)
        stricter = (Tier(Decimal("99.9"), Decimal("7")),)
        contract.amend_penalty_rule(
            penalty_rule(tiers=stricter, effective_from=date(2026, 6, 1)), "renegotiated", BY)
        (before,) = on(contract, "2026-05-31")["rules"]
        assert (before["kind"], before["rule_id"]) == ("penalty", "availability-credit")
        assert before["version"].tiers == TIERS
        (after,) = on(contract, "2026-06-01")["rules"]
        assert after["version"].tiers == stricter
        assert after["version"].effective_from == date(2026, 6, 1)

    def test_a_rule_is_not_in_force_before_its_first_version_takes_effect(self) -> None:
        contract = active()
        contract.define_penalty_rule(penalty_rule(effective_from=date(2026, 3, 1)), BY)
        assert on(contract, "2026-02-28")["rules"] == []
        assert len(on(contract, "2026-03-01")["rules"]) == 1

    def test_a_retired_rule_is_not_in_force_from_its_retirement_date(self) -> None:
        contract = active()
        contract.define_incentive_rule(IncentiveRule(
            "availability-bonus", "availability", (Tier(Decimal("99.99"), Decimal("2")),), 1,
            None, None, date(2026, 1, 1)), BY)
        contract.retire_rule("availability-bonus", date(2026, 10, 1), "replaced", BY)
        (bonus,) = on(contract, "2026-09-30")["rules"]
        assert (bonus["kind"], bonus["retired_from"]) == ("incentive", date(2026, 10, 1))
        assert on(contract, "2026-10-01")["rules"] == []

    def test_a_rule_whose_metric_is_retired_no_longer_applies(self) -> None:
        contract = active()
        contract.define_penalty_rule(penalty_rule(), BY)
        contract.define_sla_metric(metric("latency"), BY)
        contract.amend_sla((), ("availability",), date(2026, 9, 1), "replaced", BY)
        assert [r["rule_id"] for r in on(contract, "2026-08-31")["rules"]] == [
            "availability-credit"]
        assert on(contract, "2026-09-01")["rules"] == []


class TestBitemporal:
    def test_an_amendment_recorded_later_changes_what_applied_on_an_earlier_day(self) -> None:
        contract = active()  # version 5
        contract.amend_terms(TermChanges(value=eur("1100000.00")), "retroactive discount",
                             date(2026, 3, 1), BY)  # version 6
        events = contract.collect_events()
        before_it_was_recorded = as_known_at(events, 5)
        assert before_it_was_recorded.in_force_on(date(2026, 4, 1))["value"] == \
            eur("1200000.00")
        now = as_known_at(events, 6)
        assert now.in_force_on(date(2026, 4, 1))["value"] == eur("1100000.00")

    def test_a_target_change_recorded_later_changes_the_target_known_for_an_earlier_day(
        self
    ) -> None:
        contract = active()
        contract.amend_sla((SlaTargetChange("availability", Decimal("99.5")),), (),
                           date(2026, 2, 1), "relaxed retroactively", BY)  # version 6
        events = contract.collect_events()
        (then,) = as_known_at(events, 5).in_force_on(date(2026, 3, 1))["sla_metrics"]
        (now,) = as_known_at(events, 6).in_force_on(date(2026, 3, 1))["sla_metrics"]
        assert (then["target"], now["target"]) == (Decimal("99.9"), Decimal("99.5"))

    def test_before_a_renewal_was_recorded_a_day_past_the_old_end_was_outside_the_term(
        self
    ) -> None:
        contract = active()
        contract.renew(date(2030, 12, 31), "extended", TODAY, BY)  # version 6
        events = contract.collect_events()
        assert not as_known_at(events, 5).in_force_on(date(2029, 6, 1))["in_term"]
        assert as_known_at(events, 6).in_force_on(date(2029, 6, 1))["in_term"]


class TestSnapshotsTakenBeforeTheDraftedTermsWereKept:
    def test_a_contract_restored_from_one_does_not_guess_what_applied(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(title="Network II"), "renamed", date(2026, 6, 1), BY)
        snapshot = Snapshot.take(contract)
        old_state = {k: v for k, v in snapshot.state.items()
                     if k not in ("_drafted_terms", "class_version")}
        restored: Any = replace(snapshot, state=old_state).mutate(None)
        assert restored.drafted_terms is None
        with pytest.raises(LookupError):
            restored.in_force_on(date(2026, 5, 1))

    def test_a_contract_restored_from_a_current_snapshot_knows_what_applied(self) -> None:
        contract = active()
        contract.amend_terms(TermChanges(title="Network II"), "renamed", date(2026, 6, 1), BY)
        restored: Any = Snapshot.take(contract).mutate(None)
        assert restored.in_force_on(date(2026, 5, 1)) == contract.in_force_on(date(2026, 5, 1))
