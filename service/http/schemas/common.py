"""What every request schema shares: strict bodies, the field types the HTTP edge
reads (decimal strings, ASCII-digit query integers, hyphenated UUIDs), money, and
value objects whose broken invariant becomes a field error."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from domain.exceptions import ContractError, InvalidValue
from domain.money import Money

SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z",
                       error="must be 1-64 lower-case letters, digits, '_', '.' or '-'")
TEXT = validate.Length(min=1, max=2000)
SHORT_TEXT = validate.Length(min=1, max=200)


_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_INTEGER = re.compile(r"-?[0-9]+\Z")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}\Z")


class QueryInteger(fields.Integer):
    """An integer query parameter in ASCII digits (int() also reads "1_000", " 5 " and
    other scripts' digits)."""

    def __init__(self, **kwargs: Any):
        super().__init__(strict=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not _INTEGER.match(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryUUID(fields.UUID):
    """A UUID in its hyphenated form (uuid.UUID also reads other digits, underscores,
    braces and URNs)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not _UUID.match(value):
            raise self.make_error("invalid_uuid")
        return super()._deserialize(value, attr, data, **kwargs)


class DecimalString(fields.Field):
    """A decimal number written as a JSON string ("1200.50"); JSON numbers are refused
    because most JSON parsers turn them into binary floats."""

    default_error_messages = {
        "invalid": 'must be a decimal number written as a string in ASCII digits, e.g. '
                   '"1200.50"',
        "negative_zero": 'must not be negative zero: write "0"',
        "range": "must be between 1E-30 and 1E+30 in size",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        # Decimal() also reads "1_000", " 5 ", non-ASCII digits, "NaN" and "Infinity":
        # only the documented pattern is a number here.
        if not isinstance(value, str) or len(value) > 50 or not _DECIMAL.match(value):
            raise self.make_error("invalid")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self.make_error("invalid") from None
        if number.is_zero() and number.is_signed():
            raise self.make_error("negative_zero")
        if number and not -30 <= number.adjusted() <= 30:
            raise self.make_error("range")
        return number


def build(factory: Callable[..., Any], data: dict[str, Any]) -> Any:
    # Value objects check their own invariants; report a broken one as a field error.
    try:
        return factory(**data)
    except InvalidValue as error:
        # At the field it names, below this schema's place in the body.
        raise ValidationError(_nested(error.pointer, str(error))) from None
    except ContractError as error:
        raise ValidationError(str(error)) from None


def _nested(pointer: str, message: str) -> Any:
    # "/amount/currency" -> {"amount": {"currency": [message]}}; "" -> [message].
    messages: Any = [message]
    for name in reversed([p for p in pointer.split("/") if p]):
        messages = {name: messages}
    return messages


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class MoneySchema(StrictSchema):
    amount = DecimalString(required=True)
    currency = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z]{3}\Z", error="must be an ISO 4217 code such as EUR"))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Money:
        return build(Money, data)


MAX_VERSION = 2**63 - 1  # stores keep versions as signed 64-bit integers
