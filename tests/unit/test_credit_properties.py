"""Properties of the credit maths, checked over generated histories (hypothesis)."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contract import Contract
from domain.credits import Cap, MetricValue, PenaltyRule, round_money
from domain.exceptions import EffectiveDateOutOfTerm, InvalidValue
from domain.money import Money
from domain.periods import Period
from domain.statement import credit_statement
from domain.values import MeasurementPeriod, RenewalOption, Term, TermChanges
from tests.support.domain import BY, FULL_TIER, TODAY, contract_with, live, penalty_rule

MONTHS = [f"2026-{m:02d}" for m in range(1, 13)] + [f"2027-{m:02d}" for m in range(1, 13)]
values = st.decimals(min_value=Decimal("95"), max_value=Decimal("100"), places=2)
caps = st.one_of(st.none(), st.builds(lambda p: Cap(percent_of_fee=p),
                                      st.decimals(min_value=1, max_value=20, places=1)),
                 st.builds(lambda a: Cap(amount=Money(a, "EUR")),
                           st.decimals(min_value=0, max_value=5000, places=2)))


def report(contract: Contract, period: str, value: Decimal) -> None:
    contract.report_performance(f"r-{period}", period, (MetricValue("availability", value),),
                                "portal", None, TODAY, BY)


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=24), caps, caps)
def test_credits_never_exceed_their_caps(reported: list[Decimal], period_cap: Cap | None,
                                         year_cap: Cap | None) -> None:
    contract = contract_with(penalty_rule(period_cap=period_cap, year_cap=year_cap))
    for period, value in zip(MONTHS, reported, strict=False):
        report(contract, period, value)
    for penalty in contract.penalties.values():
        fee = Decimal(penalty["calculation"]["inputs"]["period_fee"])
        if period_cap is not None:
            assert penalty["amount"].amount <= period_cap.limit(fee) + Decimal("0.005")
    if year_cap is not None:
        for year in (0, 1):
            credits = [p for p in contract.penalties.values() if p["contract_year"] == year]
            if credits:
                fee = Decimal(credits[0]["calculation"]["inputs"]["year_fee"])
                total = sum(p["owed"].amount for p in credits)
                # each amount is rounded half-up once, so allow a cent per credit
                assert total <= year_cap.limit(fee) + Decimal("0.005") * len(credits)


def corrected_and_direct(rule: PenaltyRule, reported: list[Decimal], corrected: Decimal,
                         which: int) -> tuple[Contract, Contract]:
    # One contract reported a wrong value and corrected it ...
    a = contract_with(rule)
    for period, value in zip(MONTHS, reported, strict=False):
        report(a, period, value)
    a.correct_performance("fix", MONTHS[which], (MetricValue("availability", corrected),),
                          "portal", None, "wrong export", TODAY, BY)
    # ... the other reported the corrected value in the first place.
    b = contract_with(rule)
    for period, value in zip(MONTHS, reported, strict=False):
        report(b, period, corrected if period == MONTHS[which] else value)
    return a, b


def owed_by_period(contract: Contract) -> dict[str, Decimal]:
    owed: dict[str, Decimal] = {}
    for penalty in contract.penalties.values():
        owed[penalty["period"]] = owed.get(penalty["period"], Decimal(0)) + \
            penalty["owed"].amount
    return {period: amount for period, amount in owed.items() if amount}


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=6), values, st.integers(0, 5), caps)
def test_reversal_and_reassessment_equals_assessing_the_corrected_value(
    reported: list[Decimal], corrected: Decimal, which: int, period_cap: Cap | None
) -> None:
    a, b = corrected_and_direct(penalty_rule(period_cap=period_cap), reported, corrected,
                                which % len(reported))
    assert owed_by_period(a) == owed_by_period(b)
    assert credit_statement(a)["totals"]["overall"] == credit_statement(b)["totals"]["overall"]


@settings(max_examples=40, deadline=None)
@given(st.lists(values, min_size=1, max_size=6), values, caps)
def test_correcting_the_latest_period_under_a_year_cap_equals_assessing_it_directly(
    reported: list[Decimal], corrected: Decimal, year_cap: Cap | None
) -> None:
    # With a contract-year cap, a period's credit depends on what was credited before it,
    # so the equivalence holds for the latest period (earlier ones keep their order).
    a, b = corrected_and_direct(penalty_rule(year_cap=year_cap), reported, corrected,
                                len(reported) - 1)
    assert owed_by_period(a) == owed_by_period(b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(values, st.sampled_from(["none", "waive", "dispute", "correct"])),
                min_size=1, max_size=12))
def test_totals_equal_the_sum_of_their_events(history: list[tuple[Decimal, str]]) -> None:
    contract = contract_with(penalty_rule(earn_back_periods=1))
    for period, (value, act) in zip(MONTHS, history, strict=False):
        report(contract, period, value)
        latest = [p for p in contract.penalties.values()
                  if p["period"] == period and p["status"] == "assessed"]
        if latest and act == "waive":
            contract.waive_penalty(latest[0]["penalty_id"], "goodwill", "CFO", BY)
        elif latest and act == "dispute":
            contract.dispute_penalty(latest[0]["penalty_id"], "not ours", None, TODAY, 30, BY)
            contract.resolve_dispute(latest[0]["penalty_id"], "adjusted",
                                     Money(Decimal("1.00"), "EUR"), "split", BY)
        elif act == "correct":
            contract.correct_performance(f"fix-{period}", period,
                                         (MetricValue("availability", Decimal("99.95")),),
                                         "portal", None, "restated", TODAY, BY)
    # Fold the events independently of the aggregate's own bookkeeping.
    owed: dict[str, Decimal] = {}
    for event in contract.collect_events():
        name = type(event).__name__
        if name == "PenaltyAssessed":
            owed[event.penalty_id] = event.amount.amount  # type: ignore[attr-defined]
        elif name in ("PenaltyReversed", "PenaltyWaived", "PenaltyEarnedBack"):
            owed[event.penalty_id] = Decimal(0)  # type: ignore[attr-defined]
        elif name == "DisputeResolved":
            owed[event.penalty_id] = event.amount.amount  # type: ignore[attr-defined]
    totals = credit_statement(contract)["totals"]["overall"]
    assert Decimal(totals["credits_owed_by_vendor"]["amount"]) == sum(owed.values(), Decimal(0))


def test_year_boundaries_follow_the_term_start() -> None:
    contract = contract_with()
    assert contract.contract_year_of(date(2026, 12, 31)) == 0
    assert contract.contract_year_of(date(2027, 1, 1)) == 1


amounts = st.decimals(min_value=0, max_value=Decimal("10000000"), places=2)


@settings(max_examples=40, deadline=None)
@given(start=st.dates(date(2025, 1, 1), date(2030, 12, 31)), days=st.integers(31, 1300),
       value=amounts,
       amendments=st.lists(st.tuples(st.floats(0, 1), amounts), max_size=4),
       new_end=st.one_of(st.none(), st.floats(0, 1.5)))
def test_the_period_fees_of_a_whole_term_add_up_to_its_value(
    start: date, days: int, value: Decimal, amendments: list[tuple[float, Decimal]],
    new_end: float | None,
) -> None:
    # Given a term, its value amended from random days, and maybe its end moved
    term = Term(start, start + timedelta(days=days - 1), 0, RenewalOption.NONE)
    contract = live(term, f"{value}", rule=penalty_rule(
        tiers=FULL_TIER, effective_from=start))
    for share, amount in amendments:
        effective = start + timedelta(days=int(share * (days - 1)))
        with contextlib.suppress(InvalidValue):  # below what the term charged by then
            contract.amend_terms(TermChanges(value=Money(amount, "EUR")), "repriced",
                                 effective, BY)
    if new_end is not None:
        end = start + timedelta(days=max(1, int(new_end * days)))
        with contextlib.suppress(InvalidValue, EffectiveDateOutOfTerm):
            contract.amend_terms(TermChanges(end=end), "term moved", start, BY)
    # When every month the term touches is breached in full (a credit of its whole fee)
    month: Period | None = Period.containing(contract.term.start, MeasurementPeriod.MONTHLY)
    while month is not None and month.start <= contract.term.end:
        report(contract, month.label, Decimal("0"))
        month = month.next()
    # Then the months' fees add up to the value in force on the term's last day, and
    # the credits, each rounded once, to within half a cent each
    credits = list(contract.penalties.values())
    fees = sum(Decimal(p["calculation"]["inputs"]["period_fee"]) for p in credits)
    total = contract.value_on(contract.term.end)
    assert round_money(fees, "EUR") == total
    assert abs(sum(p["amount"].amount for p in credits) - total.amount) <= \
        Decimal("0.005") * len(credits)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["99.995", "99.95", "99.7", "99.0"]), min_size=1, max_size=8),
       st.data())
def test_the_order_of_reports_does_not_change_what_is_owed(reported: list[str],
                                                           data: st.DataObject) -> None:
    # Without caps, a period's credit or bonus depends only on the values, not on when
    # each was reported: late reports are judged as if they had come in calendar order.
    periods = list(zip(MONTHS, reported, strict=False))
    shuffled = data.draw(st.permutations(periods))
    in_order, out_of_order = (contract_with(**{"consecutive_periods": 2}) for _ in range(2))
    for contract, sequence in ((in_order, periods), (out_of_order, shuffled)):
        for period, value in sequence:
            report(contract, period, Decimal(value))

    def owed(contract: Contract) -> dict[tuple[str, str], Decimal]:
        items = [*contract.penalties.values(), *contract.incentives.values()]
        return {(i["rule_id"], i["period"]): i["owed"].amount for i in items}

    assert owed(out_of_order) == owed(in_order)
