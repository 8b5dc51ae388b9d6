"""The vendor scorecard view: SLA compliance, credits, findings and reviews per vendor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any

from domain.contract import Contract
from domain.credits import CreditStatus, DisputeStatus
from domain.money import money_data
from domain.periods import period_of_label
from projections.base import LedgerProjection, View
from projections.session import Rows, Session, Table

TABLES = {
    "contracts": Table(("contract_id TEXT NOT NULL", "vendor_id TEXT NOT NULL",
                        "vendor_name TEXT NOT NULL", "title TEXT NOT NULL"),
                       key=("contract_id",)),
    "compliance": Table(("contract_id TEXT NOT NULL", "metric_id TEXT NOT NULL",
                         "period TEXT NOT NULL", "vendor_id TEXT NOT NULL",
                         "month TEXT NOT NULL",  # the period's first month: trends mix kinds
                         "met INTEGER NOT NULL", "missing INTEGER NOT NULL",
                         "value TEXT", "target TEXT NOT NULL"),
                        key=("contract_id", "metric_id", "period")),
    "credits": Table(("contract_id TEXT NOT NULL", "credit_id TEXT NOT NULL",
                      "vendor_id TEXT NOT NULL", "kind TEXT NOT NULL",
                      "metric_id TEXT NOT NULL", "period TEXT NOT NULL",
                      "currency TEXT NOT NULL", "amount TEXT NOT NULL", "owed TEXT NOT NULL",
                      "status TEXT NOT NULL", "dispute TEXT"),
                     key=("contract_id", "credit_id")),
    "findings": Table(("contract_id TEXT NOT NULL", "finding_id TEXT NOT NULL",
                       "vendor_id TEXT NOT NULL", "severity TEXT NOT NULL",
                       "category TEXT NOT NULL", "status TEXT NOT NULL",
                       "due_date TEXT NOT NULL"),
                      key=("contract_id", "finding_id")),
    "reviews": Table(("contract_id TEXT NOT NULL", "review_id TEXT NOT NULL",
                      "vendor_id TEXT NOT NULL", "kind TEXT NOT NULL",
                      "held_on TEXT NOT NULL", "period TEXT NOT NULL",
                      "scorecard_average TEXT"),
                     key=("contract_id", "review_id")),
}

_CREDIT_CHANGES = (Contract.PenaltyEarnedBack, Contract.PenaltyReversed,
                   Contract.IncentiveReversed, Contract.PenaltyWaived, Contract.PenaltyDisputed,
                   Contract.DisputeResolved)
_FINDING_CHANGES = (Contract.FindingResolved, Contract.FindingRiskAccepted)


def _credit_id(event: Any) -> str:
    return str(event.incentive_id if isinstance(event, Contract.IncentiveReversed)
               else event.penalty_id)


class ScorecardView(View):
    name = "scorecard"
    tables = TABLES
    indexes = {
        "contracts_vendor": "contracts(vendor_id)",
        "compliance_vendor": "compliance(vendor_id, month)",
        "credits_vendor": "credits(vendor_id)",
        "findings_vendor": "findings(vendor_id, status)",
        "reviews_vendor": "reviews(vendor_id, held_on)",
    }

    def scorecard(self, session: Session, vendor_id: str, *, months: int = 12,
                  reviews: int = 5) -> dict[str, Any] | None:
        """Everything the scorecard shows for one vendor; None if it has no contracts."""
        contracts = session.execute(
            "SELECT contract_id, vendor_name, title FROM {contracts} WHERE vendor_id = %s "
            "ORDER BY contract_id", (vendor_id,))
        if not contracts:
            return None
        compliance = session.execute(
            "SELECT contract_id, metric_id, period, met, missing, value, target "
            "FROM {compliance} WHERE vendor_id = %s ORDER BY contract_id, metric_id, period",
            (vendor_id,))
        trend = session.execute(
            "SELECT month, COUNT(*) AS evaluated, SUM(met) AS met FROM {compliance} "
            "WHERE vendor_id = %s GROUP BY month ORDER BY month DESC LIMIT %s",
            (vendor_id, months))
        credits = session.execute(
            "SELECT kind, currency, status, dispute, amount, owed FROM {credits} "
            "WHERE vendor_id = %s", (vendor_id,))
        findings = session.execute(
            "SELECT severity, COUNT(*) AS n FROM {findings} "
            "WHERE vendor_id = %s AND status = 'open' GROUP BY severity", (vendor_id,))
        last_reviews = session.execute(
            "SELECT contract_id, review_id, kind, held_on, period, scorecard_average "
            "FROM {reviews} WHERE vendor_id = %s ORDER BY held_on DESC, review_id DESC "
            "LIMIT %s", (vendor_id, reviews))
        return {
            "vendor": {"vendor_id": vendor_id, "name": contracts[0]["vendor_name"]},
            "contracts": [{"id": c["contract_id"], "title": c["title"]} for c in contracts],
            "sla_compliance": _compliance(compliance),
            "credits": _credit_totals(credits),
            "open_findings": {severity: next((int(f["n"]) for f in findings
                                              if f["severity"] == severity), 0)
                              for severity in ("critical", "high", "medium", "low")},
            "last_reviews": [dict(r) for r in last_reviews],
            "trend": _trend(list(reversed(trend))),
        }


def _compliance(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    metrics: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        metric = metrics.setdefault((row["contract_id"], row["metric_id"]), {
            "contract_id": row["contract_id"], "metric_id": row["metric_id"],
            "periods_evaluated": 0, "periods_met": 0, "periods": []})
        metric["periods_evaluated"] += 1
        metric["periods_met"] += int(row["met"])
        metric["periods"].append({"period": row["period"], "met": bool(row["met"]),
                                  "missing": bool(row["missing"]), "value": row["value"],
                                  "target": row["target"]})
    for metric in metrics.values():
        metric["compliance_rate"] = _rate(metric["periods_met"], metric["periods_evaluated"])
    return list(metrics.values())


def _credit_totals(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Decimal]] = {}
    zero = Decimal(0)
    for row in rows:
        bucket = totals.setdefault(row["currency"], {})
        owed, amount = Decimal(row["owed"]), Decimal(row["amount"])
        if row["kind"] == "penalty":
            if row["status"] != CreditStatus.REVERSED:  # a corrected report withdrew the assessment
                bucket["penalties_assessed"] = bucket.get("penalties_assessed", zero) + amount
            bucket["credits_owed_by_vendor"] = bucket.get("credits_owed_by_vendor", zero) + owed
            if row["status"] == CreditStatus.WAIVED:
                bucket["waived"] = bucket.get("waived", zero) + amount
            if row["dispute"] == DisputeStatus.OPEN:
                bucket["in_dispute"] = bucket.get("in_dispute", zero) + owed
        else:
            bucket["incentives_owed_to_vendor"] = (bucket.get("incentives_owed_to_vendor", zero)
                                                   + owed)
    columns = ("penalties_assessed", "credits_owed_by_vendor", "waived", "in_dispute",
               "incentives_owed_to_vendor")
    return [{"currency": currency,
             **{c: money_data(bucket.get(c, zero), currency) for c in columns}}
            for currency, bucket in sorted(totals.items())]


def _trend(months: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    points = [{"month": m["month"], "periods_evaluated": int(m["evaluated"]),
               "periods_met": int(m["met"] or 0),
               "compliance_rate": _rate(int(m["met"] or 0), int(m["evaluated"]))}
              for m in months]
    # Direction: the last three months against the three before them.
    recent, before = points[-3:], points[-6:-3]
    direction = "insufficient_data"
    if recent and before:
        now = _pooled(recent)
        then = _pooled(before)
        direction = "improving" if now > then else "declining" if now < then else "steady"
    return {"direction": direction, "months": points}


def _pooled(points: Sequence[Mapping[str, Any]]) -> Decimal:
    evaluated = sum(p["periods_evaluated"] for p in points)
    return Decimal(sum(p["periods_met"] for p in points)) / evaluated


def _rate(met: int, evaluated: int) -> str | None:
    if not evaluated:
        return None
    return str((Decimal(met) / evaluated).quantize(Decimal("0.0001")))


class ScorecardProjection(LedgerProjection[ScorecardView]):
    name = "scorecard"
    # Its topics are those of the events its fold handlers below take (LedgerProjection).

    def begin(self, session: Session, events: Sequence[Any]) -> Mapping[str, Rows]:
        rows = {table: session.rows(table) for table in TABLES}
        rows["contracts"].prefetch("contract_id", {str(e.originator_id) for e in events})
        # The credits and findings the batch changes, in one query each rather than one
        # per event (they were recorded by earlier batches, most of them).
        rows["credits"].prefetch_keys(
            (str(e.originator_id), _credit_id(e)) for e in events
            if isinstance(e, _CREDIT_CHANGES))
        rows["findings"].prefetch_keys((str(e.originator_id), e.finding_id) for e in events
                                       if isinstance(e, _FINDING_CHANGES))
        return rows

    @singledispatchmethod
    def fold(self, event: Any, rows: Mapping[str, Rows]) -> None:
        pass

    @fold.register
    def _(self, event: Contract.ContractDrafted, rows: Mapping[str, Rows]) -> None:
        rows["contracts"].put({"contract_id": str(event.originator_id),
                               "vendor_id": event.vendor.vendor_id,
                               "vendor_name": event.vendor.name, "title": event.title})

    @fold.register
    def _(self, event: Contract.TermsAmended, rows: Mapping[str, Rows]) -> None:
        if event.changes.title is not None:
            rows["contracts"].update(str(event.originator_id), title=event.changes.title)

    @fold.register
    def _(self, event: Contract.SlaMet, rows: Mapping[str, Rows]) -> None:
        self._evaluated(event, rows, met=True, value=event.value, missing=False)

    @fold.register
    def _(self, event: Contract.SlaBreached, rows: Mapping[str, Rows]) -> None:
        self._evaluated(event, rows, met=False, value=event.value, missing=event.missing)

    def _evaluated(self, event: Any, rows: Mapping[str, Rows], *, met: bool,
                   value: Decimal | None, missing: bool) -> None:
        # A corrected report evaluates its period again: the latest evaluation stands.
        rows["compliance"].put({
            **self._owner(event, rows), "metric_id": event.metric_id, "period": event.period,
            "month": period_of_label(event.period).start.isoformat()[:7], "met": int(met),
            "missing": int(missing), "value": None if value is None else str(value),
            "target": str(event.target)})

    @fold.register
    def _(self, event: Contract.PenaltyAssessed, rows: Mapping[str, Rows]) -> None:
        self._credit(event, rows, event.penalty_id, "penalty", CreditStatus.ASSESSED.value)

    @fold.register
    def _(self, event: Contract.IncentiveEarned, rows: Mapping[str, Rows]) -> None:
        self._credit(event, rows, event.incentive_id, "incentive", CreditStatus.EARNED.value)

    def _credit(self, event: Any, rows: Mapping[str, Rows], credit_id: str, kind: str,
                status: str) -> None:
        rows["credits"].put({
            **self._owner(event, rows), "credit_id": credit_id, "kind": kind,
            "metric_id": event.metric_id, "period": event.period,
            "currency": event.amount.currency, "amount": str(event.amount.amount),
            "owed": str(event.amount.amount), "status": status, "dispute": None})

    @fold.register
    def _(self, event: Contract.PenaltyEarnedBack, rows: Mapping[str, Rows]) -> None:
        rows["credits"].update(str(event.originator_id), event.penalty_id,
                               status=CreditStatus.EARNED_BACK.value, owed="0")

    @fold.register
    def _(self, event: Contract.PenaltyReversed, rows: Mapping[str, Rows]) -> None:
        rows["credits"].update(str(event.originator_id), event.penalty_id,
                               status=CreditStatus.REVERSED.value, owed="0")

    @fold.register
    def _(self, event: Contract.IncentiveReversed, rows: Mapping[str, Rows]) -> None:
        rows["credits"].update(str(event.originator_id), event.incentive_id,
                               status=CreditStatus.REVERSED.value, owed="0")

    @fold.register
    def _(self, event: Contract.PenaltyWaived, rows: Mapping[str, Rows]) -> None:
        credit = rows["credits"].get(str(event.originator_id), event.penalty_id)
        dispute = credit and credit["dispute"] and DisputeStatus.WITHDRAWN_BY_WAIVER.value
        rows["credits"].update(str(event.originator_id), event.penalty_id,
                               status=CreditStatus.WAIVED.value, owed="0", dispute=dispute or None)

    @fold.register
    def _(self, event: Contract.PenaltyDisputed, rows: Mapping[str, Rows]) -> None:
        rows["credits"].update(str(event.originator_id), event.penalty_id,
                               dispute=DisputeStatus.OPEN.value)

    @fold.register
    def _(self, event: Contract.DisputeResolved, rows: Mapping[str, Rows]) -> None:
        rows["credits"].update(str(event.originator_id), event.penalty_id,
                               dispute=event.outcome, owed=str(event.amount.amount))

    @fold.register
    def _(self, event: Contract.FindingRecorded, rows: Mapping[str, Rows]) -> None:
        finding = event.finding
        rows["findings"].put({
            **self._owner(event, rows), "finding_id": finding.finding_id,
            "severity": finding.severity.value, "category": finding.category.value,
            "status": "open", "due_date": finding.due_date.isoformat()})

    @fold.register
    def _(self, event: Contract.FindingResolved, rows: Mapping[str, Rows]) -> None:
        rows["findings"].update(str(event.originator_id), event.finding_id, status="resolved")

    @fold.register
    def _(self, event: Contract.FindingRiskAccepted, rows: Mapping[str, Rows]) -> None:
        rows["findings"].update(str(event.originator_id), event.finding_id,
                                status="risk_accepted")

    @fold.register
    def _(self, event: Contract.ReviewHeld, rows: Mapping[str, Rows]) -> None:
        average = event.scorecard.average() if event.scorecard is not None else None
        rows["reviews"].put({
            **self._owner(event, rows), "review_id": event.review_id, "kind": event.kind.value,
            "held_on": event.held_on.isoformat(), "period": event.period,
            "scorecard_average": None if average is None else str(average)})

    @staticmethod
    def _owner(event: Any, rows: Mapping[str, Rows]) -> dict[str, Any]:
        contract = rows["contracts"].get(str(event.originator_id))
        vendor_id = contract["vendor_id"] if contract else ""
        return {"contract_id": str(event.originator_id), "vendor_id": vendor_id}
