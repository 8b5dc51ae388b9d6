"""Query schemas of the projection-backed reads: paging, filters and sorts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate

from domain.history import EVENT_TYPES
from domain.values import ContractStatus, ServiceScope, SourcingModel
from service.http.schemas.common import (
    MAX_VERSION,
    SHORT_TEXT,
    SLUG,
    DecimalString,
    QueryInteger,
    QueryUUID,
    StrictSchema,
)

CONTRACT_SORTS = [f"{sign}{key}" for key in ("drafted_at", "updated_at", "title", "value",
                                             "term_end", "notice_deadline")
                  for sign in ("", "-")]


def _no_nul(text: str) -> None:
    # PostgreSQL text cannot hold NUL: a search for one would fail in the database.
    if "\x00" in text:
        raise ValidationError("must not contain NUL characters")


def _utc_representable(moment: datetime) -> None:
    # 9999-12-31T23:00:00-05:00 is a valid instant, but not one in year 9999 in UTC.
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError("must be an instant between years 1 and 9999 in UTC") from None


class ViewQuerySchema(StrictSchema):
    """What every projection-backed list accepts: paging and read-your-writes."""

    cursor = fields.String(validate=validate.Length(min=1, max=2000))
    limit = QueryInteger(load_default=50, validate=validate.Range(min=1, max=200))
    min_position = QueryInteger(validate=validate.Range(min=0, max=MAX_VERSION))


class ContractListQuerySchema(ViewQuerySchema):
    status = fields.Enum(ContractStatus, by_value=True)
    vendor = fields.String(validate=SLUG)
    service_scope = fields.Enum(ServiceScope, by_value=True)
    sourcing_model = fields.Enum(SourcingModel, by_value=True)
    q = fields.String(validate=[SHORT_TEXT, _no_nul])
    currency = fields.String(validate=validate.Regexp(
        r"^[A-Z]{3}\Z", error="must be an ISO 4217 code such as EUR"))
    value_min = DecimalString()
    value_max = DecimalString()
    ends_before = fields.Date()
    notice_deadline_before = fields.Date()
    exiting = fields.Boolean()
    sort = fields.String(load_default="-drafted_at", validate=validate.OneOf(CONTRACT_SORTS))

    @post_load
    def check(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        ranged = [k for k in ("value_min", "value_max") if k in data]
        if ranged and "currency" not in data:
            # Values in different currencies do not compare.
            raise ValidationError(f"{ranged[0]} needs a currency", "currency")
        if len(ranged) == 2 and data["value_min"] > data["value_max"]:
            raise ValidationError("must not exceed value_max", "value_min")
        return data


class AuditQuerySchema(ViewQuerySchema):
    actor = fields.String(validate=[validate.Length(min=1, max=128), _no_nul])
    type = fields.String(validate=validate.OneOf(sorted(EVENT_TYPES)))
    recorded_from = fields.AwareDateTime(format="iso", validate=_utc_representable)
    recorded_to = fields.AwareDateTime(format="iso", validate=_utc_representable)
    changes = fields.Boolean(load_default=True)

    @post_load
    def check(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("recorded_to", datetime.max.replace(tzinfo=UTC)) < \
                data.get("recorded_from", datetime.min.replace(tzinfo=UTC)):
            raise ValidationError("must not be before recorded_from", "recorded_to")
        return data


class ScorecardQuerySchema(StrictSchema):
    min_position = QueryInteger(validate=validate.Range(min=0, max=MAX_VERSION))


class LedgerAuditQuerySchema(AuditQuerySchema):
    """The ledger-wide timeline can also be narrowed to one contract."""

    contract = QueryUUID()
