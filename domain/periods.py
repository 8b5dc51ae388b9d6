"""Measurement periods: an ISO week ("2026-W10"), a month ("2026-03") or a quarter ("2026-Q1")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from domain.exceptions import InvalidValue
from domain.values import MeasurementPeriod

_FORMATS = {
    MeasurementPeriod.WEEKLY: (re.compile(r"^([0-9]{4})-W([0-9]{2})\Z"), "YYYY-Www, e.g. 2026-W09"),
    MeasurementPeriod.MONTHLY: (re.compile(r"^([0-9]{4})-([0-9]{2})\Z"), "YYYY-MM, e.g. 2026-03"),
    MeasurementPeriod.QUARTERLY: (re.compile(r"^([0-9]{4})-Q([1-4])\Z"), "YYYY-Qn, e.g. 2026-Q1"),
}


@dataclass(frozen=True, order=True)
class Period:
    """One measurement period: its first and last day (inclusive) and its label."""

    start: date
    end: date
    kind: MeasurementPeriod
    label: str

    @classmethod
    def parse(cls, label: str, kind: MeasurementPeriod) -> Period:
        """Return the period a label names, or raise InvalidValue."""
        pattern, example = _FORMATS[kind]
        match = pattern.match(label)
        if match is None:
            raise InvalidValue(f"a {kind.value} period is written {example}")
        year, number = int(match.group(1)), int(match.group(2))
        if not 1900 <= year <= 9999:
            raise InvalidValue("periods lie in the years 1900 to 9999")
        try:
            if kind is MeasurementPeriod.WEEKLY:
                start = date.fromisocalendar(year, number, 1)
                return cls(start, start + timedelta(days=6), kind, label)
            if kind is MeasurementPeriod.MONTHLY:
                start = date(year, number, 1)
                return cls(start, _month_after(start) - timedelta(days=1), kind, label)
            start = date(year, 3 * number - 2, 1)
            return cls(start, _month_after(_month_after(_month_after(start))) - timedelta(days=1),
                       kind, label)
        except ValueError:
            raise InvalidValue(f"{label!r} is not a {kind.value} period ({example})") from None

    @classmethod
    def containing(cls, day: date, kind: MeasurementPeriod) -> Period:
        """Return the period of this kind that contains day."""
        if kind is MeasurementPeriod.WEEKLY:
            year, week, _ = day.isocalendar()
            return cls.parse(f"{year}-W{week:02d}", kind)
        if kind is MeasurementPeriod.MONTHLY:
            return cls.parse(f"{day.year}-{day.month:02d}", kind)
        return cls.parse(f"{day.year}-Q{(day.month - 1) // 3 + 1}", kind)

    def next(self) -> Period | None:
        """Return the period that follows this one (None after the calendar's end)."""
        if self.end == date.max:
            return None
        return Period.containing(self.end + timedelta(days=1), self.kind)

    def previous(self) -> Period | None:
        """Return the period before this one (None before 1900)."""
        day = self.start - timedelta(days=1)
        return Period.containing(day, self.kind) if day.year >= 1900 else None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _month_after(first_of_month: date) -> date:
    if first_of_month.month == 12:
        return date(first_of_month.year + 1, 1, 1)
    return date(first_of_month.year, first_of_month.month + 1, 1)


@lru_cache(maxsize=4096)
def period_of_label(label: str) -> Period:
    """Return the period a label names, whatever its kind (the formats differ)."""
    for kind in MeasurementPeriod:
        if _FORMATS[kind][0].match(label):
            return Period.parse(label, kind)
    raise InvalidValue(f"{label!r} is not a period label")
