"""Request schemas: the HTTP edge turns JSON into domain values, or names every bad field."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from domain.credits import (
    Cap,
    ExitTrigger,
    IncentiveRule,
    MetricValue,
    MissingData,
    PenaltyRule,
    Tier,
    TriggerKind,
)
from domain.exceptions import ContractError, InvalidValue
from domain.governance import (
    Cadence,
    CadenceKind,
    FindingCategory,
    FindingSpec,
    HealthRating,
    IntervalUnit,
    ProposalDecision,
    ReviewKind,
    Scorecard,
    ScorecardEntry,
    Severity,
)
from domain.history import EVENT_TYPES
from domain.money import Money
from domain.values import (
    ContractStatus,
    DeliveryLocation,
    Direction,
    ExitPlan,
    ExitStep,
    MeasurementPeriod,
    PointOfContact,
    RenewalOption,
    ServiceScope,
    SlaMetric,
    SlaTargetChange,
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
)

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


def _build(factory: Callable[..., Any], data: dict[str, Any]) -> Any:
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
        return _build(Money, data)


class VendorSchema(StrictSchema):
    vendor_id = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=SHORT_TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Vendor:
        return _build(Vendor, data)


class TermSchema(StrictSchema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    notice_period_days = fields.Integer(required=True, strict=True,
                                        validate=validate.Range(min=0, max=36500))
    renewal = fields.Enum(RenewalOption, by_value=True, required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Term:
        return _build(Term, data)


class DraftContractSchema(StrictSchema):
    title = fields.String(required=True, validate=SHORT_TEXT)
    vendor = fields.Nested(VendorSchema, required=True)
    service_scope = fields.Enum(ServiceScope, by_value=True, required=True)
    sourcing_model = fields.Enum(SourcingModel, by_value=True, required=True)
    delivery_location = fields.Enum(DeliveryLocation, by_value=True, required=True)
    value = fields.Nested(MoneySchema, required=True)
    term = fields.Nested(TermSchema, required=True)
    objectives = fields.List(fields.String(validate=validate.Length(min=1, max=500)),
                             load_default=list, validate=validate.Length(max=50))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**data, "objectives": tuple(data["objectives"])}


class TermChangesSchema(StrictSchema):
    title = fields.String(validate=SHORT_TEXT)
    value = fields.Nested(MoneySchema)
    end = fields.Date()
    notice_period_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=36500))
    renewal = fields.Enum(RenewalOption, by_value=True)
    service_scope = fields.Enum(ServiceScope, by_value=True)
    delivery_location = fields.Enum(DeliveryLocation, by_value=True)
    objectives = fields.List(fields.String(validate=validate.Length(min=1, max=500)),
                             validate=validate.Length(max=50))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> TermChanges:
        if not data:
            raise ValidationError("an amendment must change at least one term")
        if "objectives" in data:
            data["objectives"] = tuple(data["objectives"])
        return TermChanges(**data)


class AmendmentSchema(StrictSchema):
    changes = fields.Nested(TermChangesSchema, required=True)
    rationale = fields.String(required=True, validate=TEXT)
    effective_date = fields.Date(required=True)


class PointOfContactSchema(StrictSchema):
    name = fields.String(required=True, validate=SHORT_TEXT)
    email = fields.Email(required=True, validate=validate.Length(max=320))
    title = fields.String(validate=SHORT_TEXT, load_default=None)
    phone = fields.String(validate=validate.Length(min=3, max=50), load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"point_of_contact": _build(PointOfContact, data)}


class SlaMetricSchema(StrictSchema):
    metric_id = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=SHORT_TEXT)
    unit = fields.String(required=True, validate=validate.Length(min=1, max=50))
    direction = fields.Enum(Direction, by_value=True, required=True)
    target = DecimalString(required=True)
    measurement_period = fields.Enum(MeasurementPeriod, by_value=True, required=True)
    effective_from = fields.Date(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"metric": _build(SlaMetric, data)}


class SlaTargetChangeSchema(StrictSchema):
    metric_id = fields.String(required=True, validate=SLUG)
    target = DecimalString(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> SlaTargetChange:
        return _build(SlaTargetChange, data)


class SlaAmendmentSchema(StrictSchema):
    target_changes = fields.List(fields.Nested(SlaTargetChangeSchema), load_default=list,
                                 validate=validate.Length(max=100))
    retired_metric_ids = fields.List(fields.String(validate=SLUG), load_default=list,
                                     validate=validate.Length(max=100))
    effective_from = fields.Date(required=True)
    rationale = fields.String(required=True, validate=TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if not data["target_changes"] and not data["retired_metric_ids"]:
            raise ValidationError("name at least one target change or retired metric")
        return {**data, "target_changes": tuple(data["target_changes"]),
                "retired_metric_ids": tuple(data["retired_metric_ids"])}


class ExitStepSchema(StrictSchema):
    step_id = fields.String(required=True, validate=SLUG)
    description = fields.String(required=True, validate=TEXT)
    mandatory = fields.Boolean(required=True)
    owner = fields.String(validate=SHORT_TEXT, load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> ExitStep:
        return _build(ExitStep, data)


class ExitPlanSchema(StrictSchema):
    steps = fields.List(fields.Nested(ExitStepSchema), required=True,
                        validate=validate.Length(min=1, max=200))
    budget = fields.Nested(MoneySchema, required=True)
    transition_period_days = fields.Integer(required=True, strict=True,
                                            validate=validate.Range(min=1, max=3650))
    data_return = fields.String(required=True, validate=TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"exit_plan": _build(ExitPlan, {**data, "steps": tuple(data["steps"])})}


class ActivationSchema(StrictSchema):
    effective_date = fields.Date(load_default=None)


class RenewalSchema(StrictSchema):
    new_end = fields.Date(required=True)
    reason = fields.String(required=True, validate=TEXT)
    override_reason = fields.String(validate=TEXT, load_default=None)


class TerminationSchema(StrictSchema):
    reason = fields.String(required=True, validate=TEXT)
    effective_date = fields.Date(required=True)
    override_reason = fields.String(validate=TEXT, load_default=None)


MAX_VERSION = 2**63 - 1  # stores keep versions as signed 64-bit integers


class ContractQuerySchema(StrictSchema):
    version = QueryInteger(validate=validate.Range(min=1, max=MAX_VERSION))
    as_of = fields.AwareDateTime(format="iso")
    as_of_date = fields.Date()
    effective_on = fields.Date()

    @post_load
    def check(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "version" in data and "as_of" in data:
            raise ValidationError("give version or as_of, not both", "as_of")
        return data


class EventsQuerySchema(StrictSchema):
    after = QueryInteger(load_default=0, validate=validate.Range(min=0, max=MAX_VERSION))
    limit = QueryInteger(load_default=100, validate=validate.Range(min=1, max=1000))


# -- performance, credits and exit triggers ----------------------------------------------

class TierSchema(StrictSchema):
    threshold = DecimalString(required=True)
    percent = DecimalString(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Tier:
        return _build(Tier, data)


class CapSchema(StrictSchema):
    percent_of_fee = DecimalString()
    amount = fields.Nested(MoneySchema)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Cap:
        return _build(Cap, data)


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
            return {"rule": _build(PenaltyRule, data)}
        for name in ("earn_back_periods", "missing_data"):
            if name in data:
                raise ValidationError("only penalty rules have this field", name)
        data.setdefault("consecutive_periods", 1)
        return {"rule": _build(IncentiveRule, data)}


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
        return _build(MetricValue, data)


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
                            validate=validate.OneOf(["upheld", "overturned", "adjusted"]))
    amount = fields.Nested(MoneySchema, load_default=None)
    reason = fields.String(required=True, validate=TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if (data["outcome"] == "adjusted") != (data["amount"] is not None):
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
        return {"trigger": _build(ExitTrigger, data)}


# -- governance and exit -------------------------------------------------------------------

NAMES = fields.List(fields.String(validate=SHORT_TEXT), validate=validate.Length(min=1, max=50))


class CadenceItemSchema(StrictSchema):
    kind = fields.Enum(CadenceKind, by_value=True, required=True)
    every = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=24))
    unit = fields.Enum(IntervalUnit, by_value=True, required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Cadence:
        return _build(Cadence, data)


class CadenceSchema(StrictSchema):
    cadences = fields.List(fields.Nested(CadenceItemSchema), required=True,
                           validate=validate.Length(min=1, max=4))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"cadences": tuple(data["cadences"])}


class FindingSchema(StrictSchema):
    finding_id = fields.String(required=True, validate=SLUG)
    category = fields.Enum(FindingCategory, by_value=True, required=True)
    severity = fields.Enum(Severity, by_value=True, required=True)
    description = fields.String(required=True, validate=TEXT)
    owner = fields.String(required=True, validate=SHORT_TEXT)
    due_date = fields.Date(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> FindingSpec:
        return _build(FindingSpec, data)


class HealthCheckSchema(StrictSchema):
    check_id = fields.String(required=True, validate=SLUG)
    conducted_on = fields.Date(required=True)
    assessors = NAMES
    scope = fields.String(required=True, validate=TEXT)
    overall_rating = fields.Enum(HealthRating, by_value=True, required=True)
    findings = fields.List(fields.Nested(FindingSchema), load_default=list,
                           validate=validate.Length(max=100))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "assessors" not in data:
            raise ValidationError("Missing data for required field.", "assessors")
        return {**data, "assessors": tuple(data["assessors"]),
                "findings": tuple(data["findings"])}


class CorrectiveActionSchema(StrictSchema):
    action_id = fields.String(required=True, validate=SLUG)
    description = fields.String(required=True, validate=TEXT)
    owner = fields.String(required=True, validate=SHORT_TEXT)
    due_date = fields.Date(required=True)


class CorrectiveActionUpdateSchema(StrictSchema):
    progress = fields.String(required=True, validate=TEXT)
    due_date = fields.Date(load_default=None)


class CorrectiveActionCompletionSchema(StrictSchema):
    completed_on = fields.Date(required=True)
    note = fields.String(required=True, validate=TEXT)


class FindingResolutionSchema(StrictSchema):
    outcome = fields.String(required=True,
                            validate=validate.OneOf(["resolved", "risk_accepted"]))
    evidence = fields.String(validate=TEXT, load_default=None)
    resolved_on = fields.Date(load_default=None)
    approver = fields.String(validate=SHORT_TEXT, load_default=None)
    reason = fields.String(validate=TEXT, load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        needed = (("evidence",) if data["outcome"] == "resolved" else ("approver", "reason"))
        for name in needed:
            if data[name] is None:
                raise ValidationError(f"required when the outcome is {data['outcome']}", name)
        return data


class FindingResponseSchema(StrictSchema):
    response = fields.String(required=True, validate=TEXT)


class ScorecardEntrySchema(StrictSchema):
    score = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(required=True, validate=TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> ScorecardEntry:
        return _build(ScorecardEntry, data)


class ScorecardSchema(StrictSchema):
    financial = fields.Nested(ScorecardEntrySchema, required=True)
    customer = fields.Nested(ScorecardEntrySchema, required=True)
    internal_process = fields.Nested(ScorecardEntrySchema, required=True)
    learning_growth = fields.Nested(ScorecardEntrySchema, required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Scorecard:
        return Scorecard(**data)


class ReviewSchema(StrictSchema):
    review_id = fields.String(required=True, validate=SLUG)
    kind = fields.Enum(ReviewKind, by_value=True, required=True)
    held_on = fields.Date(required=True)
    period = fields.String(required=True, validate=validate.Length(min=1, max=50))
    attendees = NAMES
    decisions = fields.List(fields.String(validate=TEXT), load_default=list,
                            validate=validate.Length(max=100))
    scorecard = fields.Nested(ScorecardSchema, load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "attendees" not in data:
            raise ValidationError("Missing data for required field.", "attendees")
        return {**data, "attendees": tuple(data["attendees"]),
                "decisions": tuple(data["decisions"])}


class ProposalSchema(StrictSchema):
    proposal_id = fields.String(required=True, validate=SLUG)
    title = fields.String(required=True, validate=SHORT_TEXT)
    expected_benefit = fields.String(required=True, validate=TEXT)
    estimated_saving = fields.Nested(MoneySchema, load_default=None)


class ProposalDecisionSchema(StrictSchema):
    decision = fields.Enum(ProposalDecision, by_value=True, required=True)
    reason = fields.String(required=True, validate=TEXT)


class ProposalImplementationSchema(StrictSchema):
    realised_benefit = fields.String(required=True, validate=TEXT)
    realised_saving = fields.Nested(MoneySchema, load_default=None)


class TriggerDismissalSchema(StrictSchema):
    reason = fields.String(required=True, validate=TEXT)


class ExitInitiationSchema(StrictSchema):
    reason = fields.String(required=True, validate=TEXT)
    trigger_id = fields.String(validate=SLUG, load_default=None)


class ExitStepCompletionSchema(StrictSchema):
    note = fields.String(required=True, validate=TEXT)


class ExitSpendSchema(StrictSchema):
    amount = fields.Nested(MoneySchema, required=True)
    description = fields.String(required=True, validate=TEXT)
    spent_on = fields.Date(required=True)


# -- projection-backed reads --------------------------------------------------------------

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
