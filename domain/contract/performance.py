"""Performance reports, their evaluation, corrections and period close."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid5

from eventsourcing.domain import event

from domain.chain import plain_value
from domain.contract.base import ContractEvent, ContractState, _anniversary, _key
from domain.contract.fees import charge, daily_rates, days_in_term
from domain.credits import (
    CreditStatus,
    Fees,
    MetricValue,
    MissingData,
    assess_incentive,
    assess_penalty,
    is_met,
)
from domain.exceptions import (
    EffectiveDateOutOfTerm,
    InvalidValue,
    NothingToCorrect,
    PerformanceAlreadyReported,
    PeriodAlreadyClosed,
    PeriodNotInService,
    PeriodNotOver,
    SlaMetricNotInForce,
    UnknownSlaMetric,
    WrongMeasurementPeriod,
)
from domain.money import Money
from domain.periods import Period
from domain.values import MeasurementPeriod, Provenance, check_text


class Performance(ContractState):
    """The Contract aggregate's performance: events, commands and appliers (joined in base.py)."""

    class PerformanceReported(ContractEvent):
        report_id: str
        period: str
        values: tuple[MetricValue, ...]
        source: str
        evidence_ref: str | None

    def report_performance(self, report_id: str, period: str, values: tuple[MetricValue, ...],
                           source: str, evidence_ref: str | None, today: date,
                           provenance: Provenance) -> None:
        """Record measured values for a period and evaluate them, all in one append."""
        self._check_live()
        periods = self._check_report(period, values, source)
        for value in values:
            key = _key(value.metric_id, period)
            if key in self.reports:
                raise PerformanceAlreadyReported(
                    f"{value.metric_id} was reported for {period} already; send a correction")
            if period in self.closed_periods:
                raise PeriodAlreadyClosed(f"period {period} was closed; send a correction")
        self._performance_reported(report_id=report_id, period=period, values=values,
                                   source=source, evidence_ref=evidence_ref, provenance=provenance)
        for value in values:
            self._evaluate(value.metric_id, periods[value.metric_id], value.value, today,
                           provenance)

    def _check_report(self, period: str, values: tuple[MetricValue, ...],
                      source: str) -> dict[str, Period]:
        check_text(source, "source", 200)
        if not values:
            raise InvalidValue("a report needs at least one metric value", "/values")
        ids = [v.metric_id for v in values]
        if len(set(ids)) != len(ids):
            repeat = next(n for n, metric_id in enumerate(ids) if metric_id in ids[:n])
            raise InvalidValue("each metric may appear only once in a report",
                               f"/values/{repeat}/metric_id")
        return {v.metric_id: self._parse_period(period, v.metric_id) for v in values}

    def _parse_period(self, label: str, metric_id: str) -> Period:
        if metric_id not in self.sla_metrics:
            raise UnknownSlaMetric(f"no SLA metric {metric_id!r} on this contract")
        kind = self.sla_metrics[metric_id].measurement_period
        try:
            period = Period.parse(label, kind)
        except InvalidValue:
            raise WrongMeasurementPeriod(
                f"SLA metric {metric_id!r} is measured {kind.value}; {label!r} is not "
                f"a {kind.value} period") from None
        if period.end < self.term.start or period.start > self.term.end:
            raise EffectiveDateOutOfTerm(f"period {label} is outside the contract term")
        first = self._check_in_service(period)
        if self.target_on(metric_id, first) is None:
            raise SlaMetricNotInForce(
                f"SLA metric {metric_id!r} is not in force in {label} (on {first})")
        return period

    @event(PerformanceReported)
    def _performance_reported(self, report_id: str, period: str, values: tuple[MetricValue, ...],
                              source: str, evidence_ref: str | None,
                              provenance: Provenance) -> None:
        for value in values:
            self.reports[_key(value.metric_id, period)] = {
                "report_id": report_id, "value": value.value, "version": self.version + 1}

    class PerformanceCorrected(ContractEvent):
        report_id: str
        period: str
        values: tuple[MetricValue, ...]
        source: str
        evidence_ref: str | None
        reason: str

    def correct_performance(self, report_id: str, period: str, values: tuple[MetricValue, ...],
                            source: str, evidence_ref: str | None, reason: str, today: date,
                            provenance: Provenance) -> None:
        """Replace reported values: reverse what they caused and evaluate them anew."""
        self._check_live()
        check_text(reason, "reason")
        periods = self._check_report(period, values, source)
        for value in values:
            if _key(value.metric_id, period) not in self.evaluations:
                raise NothingToCorrect(f"{value.metric_id} was never evaluated for {period}")
        self._performance_corrected(report_id=report_id, period=period, values=values,
                                    source=source, evidence_ref=evidence_ref, reason=reason,
                                    provenance=provenance)
        for value in values:
            self._reverse_consequences(value.metric_id, period, f"corrected by {report_id}",
                                       provenance)
            self._evaluate(value.metric_id, periods[value.metric_id], value.value, today,
                           provenance)

    @event(PerformanceCorrected)
    def _performance_corrected(self, report_id: str, period: str,
                               values: tuple[MetricValue, ...], source: str,
                               evidence_ref: str | None, reason: str,
                               provenance: Provenance) -> None:
        for value in values:
            self.reports[_key(value.metric_id, period)] = {
                "report_id": report_id, "value": value.value, "version": self.version + 1,
                "corrects": True}

    class PeriodClosed(ContractEvent):
        period: str
        measurement_period: MeasurementPeriod

    class PerformanceReportMissing(ContractEvent):
        metric_id: str
        period: str

    def close_period(self, period: str, measurement_period: MeasurementPeriod, today: date,
                     provenance: Provenance) -> None:
        """Close a period: metrics with no report are evaluated by their rules' policy."""
        self._check_live()
        closing = Period.parse(period, measurement_period)
        if closing.end >= today:
            raise PeriodNotOver(f"period {period} ends on {closing.end}; close it afterwards")
        if period in self.closed_periods:
            raise PeriodAlreadyClosed(f"period {period} is closed already")
        if closing.end < self.term.start or closing.start > self.term.end:
            raise EffectiveDateOutOfTerm(f"period {period} is outside the contract term")
        first = self._check_in_service(closing)
        self._period_closed(period=period, measurement_period=measurement_period,
                            provenance=provenance)
        for metric in self.sla_metrics.values():
            key = _key(metric.metric_id, period)
            if (metric.measurement_period is not measurement_period or key in self.evaluations
                    or self.target_on(metric.metric_id, first) is None):
                continue
            rules = self._rules_in_force(self.penalty_rules, metric.metric_id, first)
            if any(r.missing_data is MissingData.BREACH for r in rules):
                self._evaluate(metric.metric_id, closing, None, today, provenance)
            else:
                self._performance_report_missing(metric_id=metric.metric_id, period=period,
                                                 provenance=provenance)

    @event(PeriodClosed)
    def _period_closed(self, period: str, measurement_period: MeasurementPeriod,
                       provenance: Provenance) -> None:
        self.closed_periods[period] = measurement_period.value

    @event(PerformanceReportMissing)
    def _performance_report_missing(self, metric_id: str, period: str,
                                    provenance: Provenance) -> None:
        pass  # the gap itself is the fact; nothing is owed

    class SlaMet(ContractEvent):
        metric_id: str
        period: str
        value: Decimal
        target: Decimal

    class SlaBreached(ContractEvent):
        metric_id: str
        period: str
        value: Decimal | None
        target: Decimal
        missing: bool

    class PenaltyAssessed(ContractEvent):
        penalty_id: str
        rule_id: str
        metric_id: str
        period: str
        contract_year: int
        amount: Money
        assessed_on: date
        calculation: dict[str, Any]

    class IncentiveEarned(ContractEvent):
        incentive_id: str
        rule_id: str
        metric_id: str
        period: str
        contract_year: int
        amount: Money
        calculation: dict[str, Any]

    def _evaluate(self, metric_id: str, period: Period, value: Decimal | None, today: date,
                  provenance: Provenance) -> None:
        metric = self.sla_metrics[metric_id]
        first = self._first_day_in_service(period)
        assert first is not None  # checked when the period was parsed or closed
        target = self.target_on(metric_id, first)
        assert target is not None  # likewise
        if value is not None and is_met(metric.direction, target, value):
            self._sla_met(metric_id=metric_id, period=period.label, value=value, target=target,
                          provenance=provenance)
        else:
            self._sla_breached(metric_id=metric_id, period=period.label, value=value,
                               target=target, missing=value is None, provenance=provenance)
        fees, year = self._fees(period)
        for rule in self._rules_in_force(self.penalty_rules, metric_id, first):
            if value is not None and is_met(metric.direction, target, value):
                continue
            if value is None and rule.missing_data is not MissingData.BREACH:
                continue
            calculation = assess_penalty(rule, metric.direction, target, value, fees,
                                         self._credited(year))
            self._penalty_assessed(
                penalty_id=str(uuid5(self.id, f"penalty/{rule.rule_id}/{period.label}/"
                                              f"{self.version + 1}")),
                rule_id=rule.rule_id, metric_id=metric_id, period=period.label,
                contract_year=year, amount=calculation.amount, assessed_on=today,
                calculation=_calculation_record(rule, calculation), provenance=provenance)
        self._earn_incentives(metric_id, period, provenance)
        # A period evaluated late may complete the run of periods that a later period's
        # bonus needs: the later periods it is part of a run with are judged again.
        longest = max((r.consecutive_periods for versions in self.incentive_rules.values()
                       for r in versions), default=1)
        later = period.next()
        for _ in range(longest - 1):
            if later is None or _key(metric_id, later.label) not in self.evaluations:
                break
            self._earn_incentives(metric_id, later, provenance)
            later = later.next()
        self._grant_earn_backs(metric_id, provenance)
        self._fire_triggers(metric_id, period, provenance)

    def _earn_incentives(self, metric_id: str, period: Period, provenance: Provenance) -> None:
        # Each incentive rule in force earns its bonus for a period once (a correction
        # reverses it first, so the period is judged anew).
        first = self._first_day_in_service(period)
        if first is None:
            return
        direction = self.sla_metrics[metric_id].direction
        fees, year = self._fees(period)
        for incentive_rule in self._rules_in_force(self.incentive_rules, metric_id, first):
            if any(i["rule_id"] == incentive_rule.rule_id and i["period"] == period.label
                   and i["status"] != CreditStatus.REVERSED for i in self.incentives.values()):
                continue
            values = self._recent_values(metric_id, period, incentive_rule.consecutive_periods)
            earned = assess_incentive(incentive_rule, direction, values, fees,
                                      self._earned(year))
            if earned is not None and earned.amount.amount > 0:
                self._incentive_earned(
                    incentive_id=str(uuid5(self.id, f"incentive/{incentive_rule.rule_id}/"
                                                    f"{period.label}/{self.version + 1}")),
                    rule_id=incentive_rule.rule_id, metric_id=metric_id, period=period.label,
                    contract_year=year, amount=earned.amount,
                    calculation=_calculation_record(incentive_rule, earned),
                    provenance=provenance)

    @event(SlaMet)
    def _sla_met(self, metric_id: str, period: str, value: Decimal, target: Decimal,
                 provenance: Provenance) -> None:
        self.evaluations[_key(metric_id, period)] = {
            "metric_id": metric_id, "period": period, "met": True, "value": value,
            "target": target, "missing": False, "version": self.version + 1}

    @event(SlaBreached)
    def _sla_breached(self, metric_id: str, period: str, value: Decimal | None,
                      target: Decimal, missing: bool, provenance: Provenance) -> None:
        self.evaluations[_key(metric_id, period)] = {
            "metric_id": metric_id, "period": period, "met": False, "value": value,
            "target": target, "missing": missing, "version": self.version + 1}

    @event(PenaltyAssessed)
    def _penalty_assessed(self, penalty_id: str, rule_id: str, metric_id: str, period: str,
                          contract_year: int, amount: Money, assessed_on: date,
                          calculation: dict[str, Any], provenance: Provenance) -> None:
        self.penalties[penalty_id] = {
            "penalty_id": penalty_id, "rule_id": rule_id, "metric_id": metric_id,
            "period": period, "contract_year": contract_year, "amount": amount,
            "owed": amount, "status": CreditStatus.ASSESSED, "dispute": None,
            "assessed_on": assessed_on,
            "calculation": calculation, "version": self.version + 1}

    @event(IncentiveEarned)
    def _incentive_earned(self, incentive_id: str, rule_id: str, metric_id: str, period: str,
                          contract_year: int, amount: Money, calculation: dict[str, Any],
                          provenance: Provenance) -> None:
        self.incentives[incentive_id] = {
            "incentive_id": incentive_id, "rule_id": rule_id, "metric_id": metric_id,
            "period": period, "contract_year": contract_year, "amount": amount,
            "owed": amount, "status": CreditStatus.EARNED, "calculation": calculation,
            "version": self.version + 1}

    def _credited(self, year: int) -> Decimal:
        return sum((p["owed"].amount for p in self.penalties.values()
                    if p["contract_year"] == year), Decimal(0))

    def _earned(self, year: int) -> Decimal:
        return sum((i["owed"].amount for i in self.incentives.values()
                    if i["contract_year"] == year), Decimal(0))

    def _recent_values(self, metric_id: str, period: Period, count: int) -> list[Decimal]:
        values: list[Decimal] = []
        current: Period | None = period
        for _ in range(count):
            if current is None:
                break
            evaluation = self.evaluations.get(_key(metric_id, current.label))
            if evaluation is None or evaluation["value"] is None:
                break
            values.insert(0, evaluation["value"])
            current = current.previous()
        return values

    def contract_year_of(self, day: date) -> int:
        """Return the contract year (0 for the first) that day falls in."""
        year = max(0, day.year - self.term.start.year)
        while year > 0 and _anniversary(self.term.start, year) > day:
            year -= 1
        return year

    def _fees(self, period: Period) -> tuple[Fees, int]:
        # What the term charges for the period's days and its contract year's days inside
        # the term: a period or year the term covers in part is charged for that part only.
        rates = daily_rates(self.term, self._drafted_value.amount, self.amendments)
        year_first, year_last = self._contract_year_span(period.start)
        return Fees(
            period_fee=charge(rates, self.term, period.start, period.end),
            year_fee=charge(rates, self.term, year_first, year_last),
            currency=self.value.currency,
            period_days=period.days,
            period_days_in_term=days_in_term(self.term, period.start, period.end),
            year_days=(year_last - year_first).days + 1,
            year_days_in_term=days_in_term(self.term, year_first, year_last),
        ), self.contract_year_of(period.start)

    def _contract_year_span(self, day: date) -> tuple[date, date]:
        # The first and last day of the contract year day falls in (the first year for a
        # day before the term); years count from the term start.
        years = max(0, day.year - self.term.start.year)
        while years > 0 and _anniversary(self.term.start, years) > day:
            years -= 1
        following = _anniversary(self.term.start, years + 1)
        last = date.max if following == date.max else following - timedelta(days=1)
        return _anniversary(self.term.start, years), last

    def _first_day_in_service(self, period: Period) -> date | None:
        """Return the first day of period on which the contract was in service (active:
        from the activation date, within the term, before the termination took effect),
        or None if it was in service on none of its days."""
        if self.activated_on is None:
            return None
        first = max(period.start, self.activated_on, self.term.start)
        last = min(period.end, self.term.end)
        if self.termination is not None:
            last = min(last, self.termination["effective_date"] - timedelta(days=1))
        return first if first <= last else None

    def _check_in_service(self, period: Period) -> date:
        # No credit and no bonus for a period in which the contract was not in service.
        first = self._first_day_in_service(period)
        if first is None:
            raise PeriodNotInService(
                f"the contract was not in service in {period.label}: it is in service from "
                f"its activation date ({self.activated_on})"
                + (f" until its termination ({self.termination['effective_date']})"
                   if self.termination is not None else ""))
        return first




def _calculation_record(rule: Any, calculation: Any) -> dict[str, Any]:
    """What an auditor needs to recompute an amount: inputs, rule version, tier, caps."""
    return {
        "rule_id": rule.rule_id,
        "rule_effective_from": rule.effective_from,
        "tier": plain_value(calculation.tier),
        "gross": calculation.gross,
        "caps_applied": list(calculation.caps_applied),
        "period_cap": plain_value(rule.period_cap),
        "year_cap": plain_value(rule.year_cap),
        "inputs": plain_value(calculation.inputs),
        "amount": plain_value(calculation.amount),
        "rounding": "half-up to the currency's minor unit",
    }
