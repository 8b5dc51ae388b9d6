"""What an auditor asks of any event: when it took effect in the business, and why."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Any

from domain.contract import Contract
from domain.exceptions import InvalidValue
from domain.periods import period_of_label

_EFFECTIVE_FIELDS = ("effective_date", "effective_from")
_HAPPENED_FIELDS = ("conducted_on", "held_on", "initiated_on", "started_on", "completed_on",
                    "resolved_on", "spent_on", "assessed_on")
_REASON_FIELDS = ("reason", "rationale")
_NESTED = ("rule", "metric", "trigger")


def effective_date_of(event: Any) -> date | None:
    """The business date an event takes effect on, where it has one: its own effective
    date, a rule's or metric's start, the first day of the measurement period it is
    about, or else the day the thing it records happened. None for acts with no business
    date (a renewal, say: its new end applies on every day)."""
    state = vars(event)
    for name in _EFFECTIVE_FIELDS:
        if isinstance(state.get(name), date):
            return state[name]
    for name in _NESTED:
        start = getattr(state.get(name), "effective_from", None)
        if isinstance(start, date):
            return start
    label = state.get("period")
    if isinstance(label, str):
        with contextlib.suppress(InvalidValue):
            return period_of_label(label).start
    for name in _HAPPENED_FIELDS:
        if isinstance(state.get(name), date):
            return state[name]
    return None


def reason_of(event: Any) -> str | None:
    """Why a person decided what the event records, if they had to say (also a reason
    inside what it defines, such as a manual exit trigger's)."""
    state = vars(event)
    for holder in (state, *(vars(state[n]) for n in _NESTED
                           if hasattr(state.get(n), "__dict__"))):
        for name in _REASON_FIELDS:
            if isinstance(holder.get(name), str):
                return str(holder[name])
    return None

EVENT_TYPES: frozenset[str] = frozenset(
    name for name, member in vars(Contract).items()
    if isinstance(member, type) and issubclass(member, Contract.Event)
    and name not in ("Event", "Created"))  # the base classes: ContractDrafted is the creation
"""The names of every event a contract records."""
