"""The ledger's clock: commands that record "today" ask it, so tests can freeze it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Protocol


class Clock(Protocol):
    """Where the ledger's use cases get the current day and instant."""

    def today(self) -> date: ...

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class SystemClock:
    """The wall clock, in UTC (the ledger's days are UTC days)."""

    def today(self) -> date:
        return self.now().date()

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    """A clock stopped at one instant (midnight UTC of a day, unless given)."""

    instant: datetime

    @classmethod
    def on(cls, day: date) -> FixedClock:
        return cls(datetime.combine(day, time(), UTC))

    def today(self) -> date:
        return self.instant.date()

    def now(self) -> datetime:
        return self.instant
