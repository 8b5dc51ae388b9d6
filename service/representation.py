"""What the API presents: a contract's state, what applied on a day, and a stored event,
as plain data (the audit's diffs compare these representations too)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from domain.chain import HASH_FIELD, plain_value
from domain.contract import Contract
from domain.money import with_minor_units
from domain.statement import contract_year_number, credit_statement
from domain.values import Provenance, RenewalOption

META_FIELDS = ("originator_id", "originator_version", "timestamp", "provenance",
               "previous_hash", HASH_FIELD)


def present(contract: Contract, as_of: date, effective_on: date | None = None) -> dict[str, Any]:
    """Return the contract's state as plain data, its overdue items judged as of a day;
    with effective_on, what applied on that day too."""
    metrics = []
    for metric in contract.sla_metrics.values():
        item = plain_value(metric)
        item["retired_from"] = plain_value(contract.retired_metrics.get(metric.metric_id))
        item["compliance"] = _compliance(contract, metric.metric_id)
        metrics.append(item)
    rules = [
        {"kind": kind, "rule_id": rule_id, "metric_id": versions[-1].metric_id,
         "versions": plain_value(versions),
         "retired_from": plain_value(contract.retired_rules.get(rule_id))}
        for kind, rules_of_kind in (("penalty", contract.penalty_rules),
                                    ("incentive", contract.incentive_rules))
        for rule_id, versions in rules_of_kind.items()
    ]
    triggers = [{**plain_value(t),
                 "firings": plain_value(contract.trigger_firings.get(t.trigger_id, []))}
                for t in contract.exit_triggers.values()]
    exit_plan = None
    if contract.exit_plan is not None:
        exit_plan = {**plain_value(contract.exit_plan), "revision": contract.exit_plan_revision}
    credits = credit_statement(contract, calculations=False)  # built once for both uses
    representation: dict[str, Any] = {
        "id": str(contract.id),
        "version": contract.version,
        "status": contract.status.value,
        "title": contract.title,
        "vendor": plain_value(contract.vendor),
        "service_scope": contract.service_scope.value,
        "sourcing_model": contract.sourcing_model.value,
        "delivery_location": contract.delivery_location.value,
        "value": plain_value(contract.value),
        "term": plain_value(contract.term),
        "objectives": list(contract.objectives),
        "point_of_contact": plain_value(contract.point_of_contact),
        "sla_metrics": metrics,
        "sla_history": plain_value(contract.sla_history),
        "exit_plan": exit_plan,
        "amendments": plain_value(contract.amendments),
        "activated_on": plain_value(contract.activated_on),
        "renewals": [{k: plain_value(v) for k, v in r.items() if k != "version"}
                     for r in contract.renewals],
        "renewal_overrides": plain_value(contract.renewal_overrides),
        "termination": plain_value(contract.termination),
        "exit_plan_overrides": plain_value(contract.exit_overrides),
        "rules": rules,
        "exit_triggers": triggers,
        "credit_totals": credits["totals"]["overall"],
        # What performance records and the credits it decides, so that the audit's diff of
        # this representation shows every change an event makes (their calculations are
        # in the credit statement).
        **_performance(contract),
        "penalties": credits["penalties"],
        "incentives": credits["incentives"],
        "notice_deadline": plain_value(contract.notice_deadline()),
        "renews_automatically": contract.term.renewal is RenewalOption.AUTOMATIC,
        "governance": plain_value(contract.governance_status(as_of)),
        "health_checks": plain_value(list(contract.health_checks.values())),
        "findings": [{**plain_value({k: v for k, v in f.items() if k != "actions"}),
                      "corrective_actions": plain_value(list(f["actions"].values()))}
                     for f in contract.findings.values()],
        "reviews": [{**plain_value(r), "scorecard_average": plain_value(
            r["scorecard"].average() if r["scorecard"] else None)}
            for r in contract.reviews.values()],
        "improvement_proposals": plain_value(list(contract.proposals.values())),
        "exit": None if contract.exit is None else {
            **plain_value(contract.exit), "steps": [
                {"step_id": k, **plain_value(v)} for k, v in contract.exit["steps"].items()],
            "budget": plain_value(contract.exit_budget())},
        "created_at": _instant(contract.created_on),
        "updated_at": _instant(contract.modified_on),
    }
    if effective_on is not None:
        representation["effective_on"] = present_in_force(contract, effective_on)
    written: dict[str, Any] = with_minor_units(representation)
    return written


def present_in_force(contract: Contract, day: date) -> dict[str, Any]:
    """Return what applied on day (terms, SLA targets, rules) as plain data."""
    in_force: dict[str, Any] = plain_value(contract.in_force_on(day))
    return in_force


def _performance(contract: Contract) -> dict[str, Any]:
    reports = []
    for key, report in contract.reports.items():
        metric_id, period = key.split("@", 1)
        reports.append({"metric_id": metric_id, "period": period,
                        "value": plain_value(report["value"]), "report_id": report["report_id"],
                        "corrected": bool(report.get("corrects")),
                        "reported_in_version": report["version"]})
    evaluations = [{"metric_id": e["metric_id"], "period": e["period"], "met": e["met"],
                    "missing": e["missing"], "value": plain_value(e["value"]),
                    "target": plain_value(e["target"]), "evaluated_in_version": e["version"]}
                   for e in contract.evaluations.values()]
    return {
        "performance_reports": reports,
        "sla_evaluations": evaluations,
        "closed_periods": [{"period": period, "measurement_period": kind}
                           for period, kind in contract.closed_periods.items()],
    }


def _compliance(contract: Contract, metric_id: str) -> dict[str, Any]:
    evaluations = sorted((e for e in contract.evaluations.values()
                          if e["metric_id"] == metric_id), key=lambda e: e["period"])
    last = evaluations[-1] if evaluations else None
    return {
        "periods_evaluated": len(evaluations),
        "periods_met": sum(1 for e in evaluations if e["met"]),
        "last_period": last["period"] if last else None,
        "last_met": last["met"] if last else None,
    }


def present_event(event: Any) -> dict[str, Any]:
    """Return one stored event as plain data: type, who, when, links and payload."""
    state = vars(event)
    provenance: Provenance = state["provenance"]
    return {
        "contract_id": str(event.originator_id),
        "version": event.originator_version,
        "type": type(event).__name__,
        "recorded_at": _instant(event.timestamp),
        "actor": {"id": provenance.actor_id, "role": provenance.actor_role},
        "correlation_id": provenance.correlation_id,
        "previous_hash": state["previous_hash"],
        "hash": state[HASH_FIELD],
        "data": with_minor_units(_numbered_years({
            k: plain_value(v) for k, v in state.items()
            if k not in META_FIELDS and k != "originator_topic"})),
    }


def _numbered_years(data: dict[str, Any]) -> dict[str, Any]:
    # Events record a contract year's index (0 for the first); the API numbers years
    # from 1 everywhere, as the credit statement does.
    if isinstance(data.get("contract_year"), int):
        return {**data, "contract_year": contract_year_number(data["contract_year"])}
    return data


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
