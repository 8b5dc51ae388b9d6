"""Request schemas of the governance blueprint: cadence, health checks, findings,
reviews, proposals and exit."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load, validate

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
from service.http.schemas.common import SHORT_TEXT, SLUG, TEXT, MoneySchema, StrictSchema, build

NAMES = fields.List(fields.String(validate=SHORT_TEXT), validate=validate.Length(min=1, max=50))


class CadenceItemSchema(StrictSchema):
    kind = fields.Enum(CadenceKind, by_value=True, required=True)
    every = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=24))
    unit = fields.Enum(IntervalUnit, by_value=True, required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Cadence:
        return build(Cadence, data)


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
        return build(FindingSpec, data)


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
        return build(ScorecardEntry, data)


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


class ProposalWithdrawalSchema(StrictSchema):
    reason = fields.String(required=True, validate=TEXT)


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
