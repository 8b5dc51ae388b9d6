"""Read-only: what applied on a day, as far as this version of the contract knows."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.contract.base import ContractState
from domain.money import Money
from domain.values import ContractStatus, TermChanges


class InForce(ContractState):
    """The Contract aggregate's what-applied-on-a-day queries: its queries (joined in base.py)."""

    def value_on(self, day: date) -> Money:
        """Return the contract value in force on day (amendments apply from their date)."""
        value = self._drafted_value
        for amendment in sorted(self.amendments, key=lambda a: a["effective_date"]):
            if amendment["effective_date"] <= day and "value" in amendment["changes"]:
                value = amendment["changes"]["value"]
        return value

    @property
    def drafted_terms(self) -> TermChanges | None:
        """The amendable terms as drafted; None on a contract restored from a snapshot
        taken before they were kept (replay its events to know them)."""
        return self._drafted_terms

    def status_on(self, day: date) -> ContractStatus:
        """Return the status on day: terminated from the termination's effective date,
        active from the activation date, a draft before (or if never activated)."""
        if self.termination is not None and self.termination["effective_date"] <= day:
            return ContractStatus.TERMINATED
        if self.activated_on is not None and self.activated_on <= day:
            return ContractStatus.ACTIVE
        return ContractStatus.DRAFT

    def terms_on(self, day: date) -> dict[str, Any]:
        """Return the amendable terms in force on day: the drafted terms with every
        amendment effective on or before day applied in effective-date order (on the same
        date the later recorded wins), and the term's end extended by each renewal
        recorded after the amendment that set it (a renewal has no effective date: its
        new end applies on every day)."""
        if self._drafted_terms is None:
            raise LookupError("the drafted terms are unknown: replay the contract's events")
        terms: dict[str, Any] = dict(vars(self._drafted_terms))
        end_set_by = 1  # the version that set the end in force: the draft, an amendment
        applied = []
        for amendment in sorted(self.amendments,
                                key=lambda a: (a["effective_date"], a["version"])):
            if amendment["effective_date"] > day:
                continue
            terms.update(amendment["changes"])
            applied.append(amendment["version"])
            if "end" in amendment["changes"]:
                end_set_by = amendment["version"]
        for renewal in self.renewals:
            if renewal["version"] > end_set_by:
                terms["end"] = renewal["new_end"]
        terms["amendments"] = applied
        return terms

    def in_force_on(self, day: date) -> dict[str, Any]:
        """Return what applied on day, as far as this version of the contract knows.

        The status on the day; the term (start, and the end as amended by then and
        extended by every renewal) and whether day falls within it; the value and the
        other amendable terms in force; the SLA metrics in force with their target that
        day; and the penalty and incentive rule versions in force (the latest version in
        force from day or before, not retired on or before day, bound to a metric in
        force). On a day the contract was not in service (outside the term, before the
        activation date, once the termination took effect) no SLA metric and no rule
        applies: no period is judged by such a day (see _first_day_in_service).
        """
        terms = self.terms_on(day)
        status = self.status_on(day)
        term = {"start": self.term.start, "end": terms["end"],
                "notice_period_days": terms["notice_period_days"],
                "renewal": terms["renewal"]}
        in_term = self.term.start <= day <= terms["end"]
        metrics: list[dict[str, Any]] = []
        rules: list[dict[str, Any]] = []
        if in_term and status is ContractStatus.ACTIVE:
            metrics = self._metrics_on(day)
            rules = self._rules_on(day, {m["metric_id"] for m in metrics})
        return {
            "date": day,
            "status": status,
            "in_term": in_term,
            "term": term,
            "value": self.value_on(day),
            "terms": {name: terms[name] for name in
                      ("title", "service_scope", "delivery_location", "objectives")},
            "amendments_applied": terms["amendments"],
            "sla_metrics": metrics,
            "rules": rules,
        }

    def _metrics_on(self, day: date) -> list[dict[str, Any]]:
        metrics = []
        for metric_id, metric in self.sla_metrics.items():
            target = self.target_on(metric_id, day)
            if target is None:  # not yet defined, or retired on or before day
                continue
            target_from = max(h["effective_from"] for h in self.sla_history
                              if h["metric_id"] == metric_id and h["effective_from"] <= day)
            metrics.append({**vars(metric), "target": target, "target_from": target_from,
                            "retired_from": self.retired_metrics.get(metric_id)})
        return metrics

    def _rules_on(self, day: date, metric_ids: set[str]) -> list[dict[str, Any]]:
        # As _rules_in_force decides for a period first in service on day.
        rules = []
        for kind, rules_of_kind in (("penalty", self.penalty_rules),
                                    ("incentive", self.incentive_rules)):
            for rule_id, versions in rules_of_kind.items():
                retired = self.retired_rules.get(rule_id)
                if retired is not None and retired <= day:
                    continue
                applicable = [v for v in versions if v.effective_from <= day]
                if applicable and applicable[-1].metric_id in metric_ids:
                    rules.append({"kind": kind, "rule_id": rule_id,
                                  "metric_id": applicable[-1].metric_id,
                                  "version": applicable[-1], "retired_from": retired})
        return rules
