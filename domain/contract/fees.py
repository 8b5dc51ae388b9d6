"""What the term charges: the contract value spread over the term's days."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from domain.credits import FEE_CONTEXT
from domain.values import Term


def daily_rates(term: Term, drafted_value: Decimal,
                 amendments: list[dict[str, Any]]) -> list[tuple[date, Fraction]]:
    """Return what each day of the term is charged, as (from day, daily rate) steps.

    The contract value is what the whole term costs. The drafted value is spread evenly
    over the days of the term; an amendment of the value, from its effective date,
    spreads the difference it makes over the days left in the term. So the days of the
    term always add up to the value in force on its last day, and what was charged
    before an amendment stands. An amendment effective after the term's end changes
    nothing. Exact fractions: the rounding rule applies to amounts, not to fees.
    """
    value = drafted_value
    rate = Fraction(value) / ((term.end - term.start).days + 1)
    steps = [(term.start, rate)]
    for amendment in sorted(amendments, key=lambda a: (a["effective_date"], a["version"])):
        new_value = amendment["changes"].get("value")
        since = amendment["effective_date"]
        if new_value is None or since > term.end:
            continue
        rate += (Fraction(new_value.amount) - Fraction(value)) / ((term.end - since).days + 1)
        value = new_value.amount
        steps.append((since, rate))
    return steps


def charge(rates: list[tuple[date, Fraction]], term: Term, first: date, last: date) -> Decimal:
    """Return what the term charges for the days from first to last (both included)."""
    total = Fraction(0)
    for index, (since, rate) in enumerate(rates):
        until = rates[index + 1][0] - timedelta(days=1) if index + 1 < len(rates) else term.end
        start, end = max(first, since, term.start), min(last, until, term.end)
        if start <= end:
            total += rate * ((end - start).days + 1)
    return FEE_CONTEXT.divide(Decimal(total.numerator), Decimal(total.denominator))


def days_in_term(term: Term, first: date, last: date) -> int:
    return max(0, (min(last, term.end) - max(first, term.start)).days + 1)
