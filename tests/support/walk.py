"""A contract walked through every act and every outcome: an event of every type.

One walk serves the tests that need every event type (the spec's shapes, the audit
diffs, money in minor units) and the recorder of the stored-events fixture. Amounts are
given without cents on purpose: responses must still write them in minor units.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from werkzeug.test import TestResponse

from tests.support import EXIT_PLAN, POINT_OF_CONTACT, SLA_METRIC, Api
from tests.support.bodies import INCENTIVE_RULE, PENALTY_RULE

Act = tuple[str, dict[str, Any]]

TERM = {"start": "2024-01-01", "end": "2025-12-31", "notice_period_days": 90,
        "renewal": "optional"}
"""The notice deadline (2025-10-02) has passed by the renewal: renewing needs an override."""
LATENCY = {"metric_id": "latency", "name": "Latency", "unit": "ms",
           "direction": "lower_is_better", "target": "200", "measurement_period": "monthly",
           "effective_from": "2024-01-01"}
# The shared rules, in force from the walk's 2024 term, with a period to earn a credit back
# and two in a row to earn the bonus; the recorded fixture holds these values.
WALK_PENALTY_RULE = {**PENALTY_RULE, "year_cap": {"amount": {"amount": "50000", "currency": "EUR"}},
                     "earn_back_periods": 1, "effective_from": "2024-01-01"}
WALK_INCENTIVE_RULE = {**INCENTIVE_RULE, "consecutive_periods": 2,
                       "effective_from": "2024-01-01"}
EVALUATED_ON = date(2025, 8, 1)
"""The day `ledger evaluate` runs in the walk: the backups finding and the health check
are overdue by then."""

# The stages after which a caller may look at the contract (Checkpoint).
DISPUTES_OPEN = "disputes open"
CREDITS_SETTLED = "credits settled"
BEFORE_TERMINATION = "before termination"

Checkpoint = Callable[[str, str], None]
"""Called with a stage's name and the contract's id."""
Evaluate = Callable[[date], int]
"""Runs the time-based triggers over the store as of a day: how many events they recorded."""


def act(api: Api, contract_id: str, version: int, acts: list[Act]) -> TestResponse:
    """Post each act in turn at the version the one before left; answer the last response."""
    for path, body in acts:
        response = api.post(f"/v1/contracts/{contract_id}/{path}", body, version=version)
        assert response.status_code == 200, (path, response.json)
        version = response.json["version"]
    return response


def report(period: str, value: str, **extra: Any) -> Act:
    return ("performance-reports", {
        "period": period, "values": [{"metric_id": "availability", "value": value}],
        "source": "monitoring", "evidence_ref": None, **extra})


def assessed_penalty(api: Api, contract_id: str, period: str) -> str:
    credits = api.get(f"/v1/contracts/{contract_id}/credits").json
    return next(p["penalty_id"] for p in credits["penalties"]
                if p["period"] == period and p["status"] == "assessed")


def walk_every_event(api: Api, admin: Api, *, vendor_id: str = "acme",
                     evaluate: Evaluate | None = None,
                     checkpoint: Checkpoint | None = None) -> TestResponse:
    """Walk a new contract through an event of every type, procurement acting but where
    only an admin may (disputes, a finding's response, the overriding termination).

    With evaluate, the overdue finding and health check fire as `ledger evaluate` fires
    them (over the whole store: give it a store of its own) and the exit follows one of
    them; without, the exit follows the chronic breaches. Answers the last act's response.
    """
    def at(stage: str) -> None:
        if checkpoint is not None:
            checkpoint(stage, contract_id)

    contract_id = api.draft(term=TERM, vendor={"vendor_id": vendor_id, "name": "Acme"},
                            value={"amount": "731000", "currency": "EUR"}).json["id"]
    version = act(api, contract_id, 1, [
        ("point-of-contact", POINT_OF_CONTACT),
        ("sla-metrics", {**SLA_METRIC, "effective_from": "2024-01-01"}),
        ("sla-metrics", LATENCY),
        ("exit-plan", {**EXIT_PLAN, "steps": [  # one mandatory step stays incomplete
            *EXIT_PLAN["steps"],
            {"step_id": "data-return", "description": "Return the data", "mandatory": True}]}),
        ("activation", {"effective_date": "2024-01-01"}),
        ("amendments", {"changes": {"title": "Managed network services II"},
                        "rationale": "renamed", "effective_date": "2024-01-01"}),
        ("sla-amendments", {"target_changes": [{"metric_id": "latency", "target": "250"}],
                            "effective_from": "2024-01-01", "rationale": "relaxed"}),
        ("rules", WALK_PENALTY_RULE),
        ("rules", WALK_INCENTIVE_RULE),
        (f"rules/{WALK_PENALTY_RULE['rule_id']}/amendments", {
            "changes": {"tiers": [{"threshold": "99.9", "percent": "7"}],
                        "effective_from": "2024-06-01"}, "rationale": "renegotiated"}),
        (f"rules/{WALK_INCENTIVE_RULE['rule_id']}/amendments", {
            "changes": {"consecutive_periods": 1, "effective_from": "2024-02-01"},
            "rationale": "renegotiated"}),
        (f"rules/{WALK_INCENTIVE_RULE['rule_id']}/retirement", {
            "effective_from": "2024-09-01", "reason": "replaced"}),
        ("exit-triggers", {"trigger_id": "chronic", "kind": "consecutive_breaches",
                           "metric_id": "availability", "periods": 2}),
        ("exit-triggers", {"trigger_id": "any-credit", "kind": "credits_exceed",
                           "amount": {"amount": "0", "currency": "EUR"}}),
        report("2024-01", "99.0"),  # a credit: credits_exceed fires
        report("2024-02", "99.0"),  # a second breach in a row: consecutive_breaches fires
        report("2024-03", "99.999"),  # met: a bonus, and February's credit earned back
        report("2024-03", "99.95", correction={"reason": "recount"}),  # the bonus reversed
        report("2024-01", "99.7", correction={"reason": "recount"}),  # credit reversed, anew
        ("periods/2024-04/close", {}),  # availability: a missing breach; latency: missing
    ]).json["version"]
    adjusted = assessed_penalty(api, contract_id, "2024-01")
    waived = assessed_penalty(api, contract_id, "2024-04")
    version = act(admin, contract_id, version, [
        (f"penalties/{adjusted}/dispute", {"reason": "planned outage", "evidence": "CHG-1"}),
        (f"penalties/{waived}/dispute", {"reason": "no monitoring data"})]).json["version"]
    at(DISPUTES_OPEN)
    version = act(api, contract_id, version, [
        (f"penalties/{adjusted}/dispute-resolution", {
            "outcome": "adjusted", "amount": {"amount": "100", "currency": "EUR"},
            "reason": "partly planned"}),
        (f"penalties/{waived}/waiver", {"reason": "goodwill", "approver": "Head of IT"}),
    ]).json["version"]
    at(CREDITS_SETTLED)

    finding = {"category": "security", "severity": "critical", "description": "Patching lags",
               "owner": "Acme"}
    check = {"assessors": ["Ana"], "scope": "all", "overall_rating": "amber"}
    version = act(api, contract_id, version, [
        ("governance-cadence", {"cadences": [
            {"kind": "sla_review", "every": 1, "unit": "months"},
            {"kind": "health_check", "every": 6, "unit": "months"}]}),
        ("health-checks", {**check, "check_id": "hc-1", "conducted_on": "2024-06-30",
                           "findings": [
                               {**finding, "finding_id": "patching", "due_date": "2024-09-30"},
                               {**finding, "finding_id": "minor", "severity": "low",
                                "due_date": "2024-07-30"}]}),
        ("findings/patching/corrective-actions", {
            "action_id": "monthly", "description": "Monthly patching", "owner": "Acme",
            "due_date": "2024-08-31"}),
        ("findings/patching/corrective-actions/monthly/updates", {
            "progress": "half of the fleet", "due_date": "2024-09-15"}),
        ("findings/patching/corrective-actions/monthly/completion", {
            "completed_on": "2024-09-10", "note": "all patched"}),
        ("findings/patching/resolution", {"outcome": "resolved", "evidence": "scan report",
                                          "resolved_on": "2024-09-20"}),
        ("findings/minor/resolution", {"outcome": "risk_accepted", "approver": "CIO",
                                       "reason": "cheap to live with"}),
        ("health-checks", {**check, "check_id": "hc-2", "conducted_on": "2024-12-01",
                           "findings": [{**finding, "finding_id": "backups",
                                         "due_date": "2024-12-31"}]}),
        ("reviews", {"review_id": "q1", "kind": "scorecard", "held_on": "2024-04-05",
                     "period": "2024-Q1", "attendees": ["Ana"], "decisions": ["carry on"],
                     "scorecard": {p: {"score": 3, "comment": "fair"} for p in (
                         "financial", "customer", "internal_process", "learning_growth")}}),
        ("reviews", {"review_id": "ops-1", "kind": "operational", "held_on": "2024-04-05",
                     "period": "March", "attendees": ["Ana"]}),
        ("improvement-proposals", {"proposal_id": "proposal-1", "title": "Self-service",
                                   "expected_benefit": "fewer",
                                   "estimated_saving": {"amount": "10", "currency": "EUR"}}),
        ("improvement-proposals/proposal-1/decision", {"decision": "accepted",
                                                       "reason": "worth it"}),
        ("improvement-proposals/proposal-1/implementation", {
            "realised_benefit": "fewer tickets", "realised_saving": None}),
        ("improvement-proposals", {"proposal_id": "proposal-2", "title": "Chatbot",
                                   "expected_benefit": "faster answers"}),
        ("improvement-proposals/proposal-2/withdrawal", {"reason": "the portal suffices"}),
        ("exit-triggers", {"trigger_id": "manual-1", "kind": "manual",
                           "reason": "loss of trust"}),  # fires at once
        ("exit-triggers/manual-1/dismissal", {"reason": "talked it through"}),
        ("exit-triggers", {"trigger_id": "critical-open", "kind": "critical_finding_overdue"}),
        ("exit-triggers", {"trigger_id": "check-overdue", "kind": "health_check_overdue",
                           "days": 10}),
    ]).json["version"]
    version = act(admin, contract_id, version, [
        ("findings/backups/responses", {"response": "restores are tested weekly now"}),
    ]).json["version"]
    if evaluate is not None:
        version += evaluate(EVALUATED_ON)
    version = act(api, contract_id, version, [
        ("exit", {"reason": "backups never fixed",
                  "trigger_id": "critical-open" if evaluate is not None else "chronic"}),
        ("exit/steps/handover/start", {}),
        ("exit/steps/handover/completion", {"note": "handed over"}),
        ("exit/spend", {"amount": {"amount": "60000", "currency": "EUR"},
                        "description": "migration", "spent_on": "2025-09-01"}),
        ("renewal", {"new_end": "2026-12-31", "reason": "bridge",
                     "override_reason": "the new provider is late"}),
    ]).json["version"]
    at(BEFORE_TERMINATION)
    return act(admin, contract_id, version, [
        ("termination", {"reason": "exited", "effective_date": "2025-12-31",
                         "override_reason": "data returned by courier"})])
