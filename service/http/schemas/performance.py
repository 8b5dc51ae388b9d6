"""Request schemas of the performance blueprint: rules, reports, credits and exit
triggers."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load, validate

from domain.credits import (
    DISPUTE_OUTCOMES,
    Cap,
    DisputeStatus,
    ExitTrigger,
    IncentiveRule,
    MetricValue,
    MissingData,
    PenaltyRule,
    Tier,
    TriggerKind,
)
from service.http.schemas.common import (
    SHORT_TEXT,
    SLUG,
    TEXT,
    DecimalString,
    MoneySchema,
    StrictSchema,
    build,
)


class TierSchema(StrictSchema):
    threshold = DecimalString(required=True)
    percent = DecimalString(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Tier:
        return build(Tier, data)


class CapSchema(StrictSchema):
    percent_of_fee = DecimalString()
    amount = fields.Nested(MoneySchema)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Cap:
        return build(Cap, data)


class _RuleFields(StrictSchema):
    tiers = fields.List(fields.Nested(TierSchema), validate=validate.Length(min=1, max=20))
    period_cap = fields.Nested(CapSchema, allow_none=True)
    year_cap = fields.Nested(CapSchema, allow_none=True)
    earn_back_periods = fields.Integer(strict=True, validate=validate.Range(min=0, max=24))
    missing_data = fields.Enum(MissingData, by_value=True)
    consecutive_periods = fields.Integer(strict=True, validate=validate.Range(min=1, max=24))
    effective_from = fields.Date()


class RuleSchema(_RuleFields):
    kind = fields.String(required=True, validate=validate.OneOf(["penalty", "incentive"]))
    rule_id = fields.String(required=True, validate=SLUG)
    metric_id = fields.String(required=True, validate=SLUG)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        kind = data.pop("kind")
        for name in ("tiers", "effective_from"):
            if name not in data:
                raise ValidationError("Missing data for required field.", name)
        data["tiers"] = tuple(data["tiers"])
        data.setdefault("period_cap", None)
        data.setdefault("year_cap", None)
        if kind == "penalty":
            if "consecutive_periods" in data:
                raise ValidationError("only incentive rules count consecutive periods",
                                      "consecutive_periods")
            data.setdefault("earn_back_periods", 0)
            data.setdefault("missing_data", MissingData.BREACH)
            return {"rule": build(PenaltyRule, data)}
        for name in ("earn_back_periods", "missing_data"):
            if name in data:
                raise ValidationError("only penalty rules have this field", name)
        data.setdefault("consecutive_periods", 1)
        return {"rule": build(IncentiveRule, data)}


class RuleAmendmentSchema(StrictSchema):
    changes = fields.Nested(_RuleFields, required=True)
    rationale = fields.String(required=True, validate=TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        changes = data["changes"]
        if "effective_from" not in changes:
            raise ValidationError({"effective_from": ["an amendment needs its effective date"]},
                                  "changes")
        if "tiers" in changes:
            changes["tiers"] = tuple(changes["tiers"])
        return data


class RuleRetirementSchema(StrictSchema):
    effective_from = fields.Date(required=True)
    reason = fields.String(required=True, validate=TEXT)


class MetricValueSchema(StrictSchema):
    metric_id = fields.String(required=True, validate=SLUG)
    value = DecimalString(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> MetricValue:
        return build(MetricValue, data)


class CorrectionSchema(StrictSchema):
    reason = fields.String(required=True, validate=TEXT)


class PerformanceReportSchema(StrictSchema):
    period = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9]{4}-(W[0-9]{2}|Q[1-4]|[0-9]{2})\Z", error="must be YYYY-Www, YYYY-MM or YYYY-Qn"))
    values = fields.List(fields.Nested(MetricValueSchema), required=True,
                         validate=validate.Length(min=1, max=100))
    source = fields.String(required=True, validate=SHORT_TEXT)
    evidence_ref = fields.String(validate=validate.Length(min=1, max=500), load_default=None)
    correction = fields.Nested(CorrectionSchema, load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        correction = data.pop("correction")
        return {**data, "values": tuple(data["values"]),
                "correction_reason": correction["reason"] if correction else None}


class WaiverSchema(StrictSchema):
    reason = fields.String(required=True, validate=TEXT)
    approver = fields.String(required=True, validate=SHORT_TEXT)


class DisputeSchema(StrictSchema):
    reason = fields.String(required=True, validate=TEXT)
    evidence = fields.String(validate=validate.Length(min=1, max=2000), load_default=None)


class DisputeResolutionSchema(StrictSchema):
    outcome = fields.String(required=True,
                            validate=validate.OneOf([o.value for o in DISPUTE_OUTCOMES]))
    amount = fields.Nested(MoneySchema, load_default=None)
    reason = fields.String(required=True, validate=TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if (data["outcome"] == DisputeStatus.ADJUSTED) != (data["amount"] is not None):
            raise ValidationError("an amount is given with, and only with, outcome 'adjusted'",
                                  "amount")
        return data


class ExitTriggerSchema(StrictSchema):
    trigger_id = fields.String(required=True, validate=SLUG)
    kind = fields.Enum(TriggerKind, by_value=True, required=True)
    metric_id = fields.String(validate=SLUG, load_default=None)
    periods = fields.Integer(strict=True, validate=validate.Range(min=1, max=36),
                             load_default=None)
    amount = fields.Nested(MoneySchema, load_default=None)
    days = fields.Integer(strict=True, validate=validate.Range(min=0, max=730),
                          load_default=None)
    reason = fields.String(validate=TEXT, load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"trigger": build(ExitTrigger, data)}
