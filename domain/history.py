"""What an auditor asks of any event: when it took effect in the business, and why."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.contract import Contract
from domain.exceptions import InvalidValue
from domain.periods import period_of_label

_DATE_FIELDS = ("effective_date", "effective_from", "conducted_on", "held_on", "initiated_on",
                "started_on", "completed_on", "resolved_on", "spent_on", "assessed_on",
                "new_end")
_REASON_FIELDS = ("reason", "rationale")


def effective_date_of(event: Any) -> date | None:
    """The business date an event takes effect on, where it has one: its own effective
    date, the date a thing happened, a rule's or metric's start, or the first day of the
    measurement period it is about. None for acts with no business date."""
    state = vars(event)
    for name in _DATE_FIELDS:
        if isinstance(state.get(name), date):
            return state[name]
    for name in ("rule", "metric"):
        start = getattr(state.get(name), "effective_from", None)
        if isinstance(start, date):
            return start
    label = state.get("period")
    if isinstance(label, str):
        try:
            return period_of_label(label).start
        except InvalidValue:
            return None
    return None


def reason_of(event: Any) -> str | None:
    """Why a person decided what the event records, if they had to say."""
    state = vars(event)
    for name in _REASON_FIELDS:
        if isinstance(state.get(name), str):
            return str(state[name])
    return None


EVENT_TYPES: frozenset[str] = frozenset(
    name for name, member in vars(Contract).items()
    if isinstance(member, type) and issubclass(member, Contract.Event) and member is not
    Contract.Event)
"""The names of every event a contract records."""
