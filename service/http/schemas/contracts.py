"""Request schemas of the contracts blueprint: drafting, terms, SLA, exit plan, the
lifecycle and the contract reads."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load, validate

from domain.values import (
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
from service.http.schemas.common import (
    MAX_VERSION,
    SHORT_TEXT,
    SLUG,
    TEXT,
    DecimalString,
    MoneySchema,
    QueryInteger,
    StrictSchema,
    build,
)


class VendorSchema(StrictSchema):
    vendor_id = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=SHORT_TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Vendor:
        return build(Vendor, data)


class TermSchema(StrictSchema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    notice_period_days = fields.Integer(required=True, strict=True,
                                        validate=validate.Range(min=0, max=36500))
    renewal = fields.Enum(RenewalOption, by_value=True, required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Term:
        return build(Term, data)


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
        return {"point_of_contact": build(PointOfContact, data)}


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
        return {"metric": build(SlaMetric, data)}


class SlaTargetChangeSchema(StrictSchema):
    metric_id = fields.String(required=True, validate=SLUG)
    target = DecimalString(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> SlaTargetChange:
        return build(SlaTargetChange, data)


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
        return build(ExitStep, data)


class ExitPlanSchema(StrictSchema):
    steps = fields.List(fields.Nested(ExitStepSchema), required=True,
                        validate=validate.Length(min=1, max=200))
    budget = fields.Nested(MoneySchema, required=True)
    transition_period_days = fields.Integer(required=True, strict=True,
                                            validate=validate.Range(min=1, max=3650))
    data_return = fields.String(required=True, validate=TEXT)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"exit_plan": build(ExitPlan, {**data, "steps": tuple(data["steps"])})}


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
