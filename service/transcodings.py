"""How domain values are stored: JSON transcodings for dates, enums and value objects."""

from __future__ import annotations

import dataclasses
from datetime import date
from enum import Enum
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.credits import CREDIT_ENUM_TYPES, CREDIT_VALUE_TYPES
from domain.governance import GOVERNANCE_ENUM_TYPES, GOVERNANCE_VALUE_TYPES
from domain.values import ENUM_TYPES, VALUE_TYPES


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EnumAsValue(Transcoding):
    """Stores an enum member by its value, under the enum's class name."""

    def __init__(self, enum_type: type[Enum]):
        self.type = enum_type
        self.name = enum_type.__name__

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self.type(data)


class DataclassAsDict(Transcoding):
    """Stores a frozen value object as a dict of its fields, under its class name."""

    def __init__(self, value_type: type):
        self.type = value_type
        self.name = value_type.__name__
        self._fields = dataclasses.fields(value_type)

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        # Stored facts must always load, even if today's validation is stricter than
        # the rules they were recorded under: so bypass __post_init__.
        obj: Any = object.__new__(self.type)
        for f in self._fields:
            if f.name in data:
                value = data[f.name]
                # JSON has no tuples: value objects hold tuples, so turn arrays back.
                value = tuple(value) if isinstance(value, list) else value
            elif f.default is not dataclasses.MISSING:  # a field added after it was stored
                value = f.default
            else:
                raise ValueError(f"stored {self.name} lacks field {f.name!r}")
            object.__setattr__(obj, f.name, value)
        return obj


def register_ledger_transcodings(transcoder: JSONTranscoder) -> None:
    """Register every domain value type on the transcoder."""
    transcoder.register(DateAsISO())
    for enum_type in ENUM_TYPES + CREDIT_ENUM_TYPES + GOVERNANCE_ENUM_TYPES:
        transcoder.register(EnumAsValue(enum_type))
    for value_type in VALUE_TYPES + CREDIT_VALUE_TYPES + GOVERNANCE_VALUE_TYPES:
        transcoder.register(DataclassAsDict(value_type))
