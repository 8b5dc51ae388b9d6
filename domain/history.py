"""What an auditor asks of any event: when it took effect in the business, and why."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields, is_dataclass
from datetime import date
from functools import cache
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
    for kind, name in _plan(event.__class__).dates:
        value = state.get(name)
        if kind == "nested":
            value = getattr(value, "effective_from", None)
        elif kind == "period" and isinstance(value, str):
            with contextlib.suppress(InvalidValue):
                return period_of_label(value).start
            continue
        if isinstance(value, date):
            return value
    return None


def reason_of(event: Any) -> str | None:
    """Why a person decided what the event records, if they had to say (also a reason
    inside what it defines, such as a manual exit trigger's)."""
    state = vars(event)
    for nested, name in _plan(event.__class__).reasons:
        value = getattr(state.get(nested), name, None) if nested else state.get(name)
        if isinstance(value, str):
            return value
    return None


@dataclass(frozen=True)
class _Plan:
    dates: tuple[tuple[str, str], ...]  # (how to read it, field), in order of precedence
    reasons: tuple[tuple[str, str], ...]  # (nested field or "", field)


@cache
def _plan(event_class: Any) -> _Plan:
    # Which of the candidate fields an event class has: worked out once per class, as
    # views ask it of every event (of a class that declares no fields: every candidate).
    names = {f.name for f in fields(event_class)} if is_dataclass(event_class) else {
        *_EFFECTIVE_FIELDS, *_NESTED, "period", *_HAPPENED_FIELDS, *_REASON_FIELDS}
    dates = [("own", n) for n in _EFFECTIVE_FIELDS if n in names]
    dates += [("nested", n) for n in _NESTED if n in names]
    dates += [("period", "period")] if "period" in names else []
    dates += [("own", n) for n in _HAPPENED_FIELDS if n in names]
    reasons = [("", n) for n in _REASON_FIELDS if n in names]
    reasons += [(nested, n) for nested in _NESTED if nested in names for n in _REASON_FIELDS]
    return _Plan(tuple(dates), tuple(reasons))

EVENT_TYPES: frozenset[str] = frozenset(
    name for name, member in vars(Contract).items()
    if isinstance(member, type) and issubclass(member, Contract.Event)
    and name not in ("Event", "Created"))  # the base classes: ContractDrafted is the creation
"""The names of every event a contract records."""
