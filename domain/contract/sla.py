"""SLA metrics and their amendments: the targets in force from a day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from eventsourcing.domain import event

from domain.contract.base import ContractEvent, ContractState
from domain.exceptions import (
    EffectiveDateOutOfTerm,
    EmptyAmendment,
    InvalidValue,
    SlaMetricAlreadyDefined,
    SlaMetricRetired,
    UnknownSlaMetric,
)
from domain.values import Provenance, SlaMetric, SlaTargetChange, check_text


class Sla(ContractState):
    """The Contract aggregate's SLA: events, commands and appliers (joined in base.py)."""

    class SlaMetricDefined(ContractEvent):
        metric: SlaMetric

    def define_sla_metric(self, metric: SlaMetric, provenance: Provenance) -> None:
        """Define a new SLA metric, in force from its effective date."""
        self._check_not_terminated()
        if metric.metric_id in self.sla_metrics:
            raise SlaMetricAlreadyDefined(f"SLA metric {metric.metric_id!r} is already defined")
        self._check_within_term(metric.effective_from, "effective from")
        self._sla_metric_defined(metric=metric, provenance=provenance)

    @event(SlaMetricDefined)
    def _sla_metric_defined(self, metric: SlaMetric, provenance: Provenance) -> None:
        self.sla_metrics[metric.metric_id] = metric
        self.sla_history.append(
            {
                "metric_id": metric.metric_id,
                "target": metric.target,
                "effective_from": metric.effective_from,
            }
        )

    class SlaAmended(ContractEvent):
        target_changes: tuple[SlaTargetChange, ...]
        retired_metric_ids: tuple[str, ...]
        effective_from: date
        rationale: str

    def amend_sla(
        self,
        target_changes: tuple[SlaTargetChange, ...],
        retired_metric_ids: tuple[str, ...],
        effective_from: date,
        rationale: str,
        provenance: Provenance,
    ) -> None:
        """Change SLA targets and retire SLA metrics from an effective date."""
        self._check_not_terminated()
        if not target_changes and not retired_metric_ids:
            raise EmptyAmendment("an SLA amendment must change or retire at least one metric")
        check_text(rationale, "rationale")
        self._check_within_term(effective_from, "effective from")
        named = [c.metric_id for c in target_changes] + list(retired_metric_ids)
        if len(set(named)) != len(named):
            repeat = next(n for n, metric_id in enumerate(named) if metric_id in named[:n])
            raise InvalidValue(
                "each metric may appear only once in an SLA amendment",
                f"/target_changes/{repeat}/metric_id" if repeat < len(target_changes)
                else f"/retired_metric_ids/{repeat - len(target_changes)}")
        for metric_id in named:
            self._check_metric_amendable(metric_id, effective_from)
        self._sla_amended(
            target_changes=tuple(target_changes),
            retired_metric_ids=tuple(retired_metric_ids),
            effective_from=effective_from,
            rationale=rationale,
            provenance=provenance,
        )

    def _check_metric_amendable(self, metric_id: str, effective_from: date) -> None:
        if metric_id not in self.sla_metrics:
            raise UnknownSlaMetric(f"no SLA metric {metric_id!r} on this contract")
        if metric_id in self.retired_metrics:
            raise SlaMetricRetired(f"SLA metric {metric_id!r} was retired")
        if effective_from < self.sla_metrics[metric_id].effective_from:
            raise EffectiveDateOutOfTerm(
                f"SLA metric {metric_id!r} is only in force from "
                f"{self.sla_metrics[metric_id].effective_from}"
            )

    @event(SlaAmended)
    def _sla_amended(
        self,
        target_changes: tuple[SlaTargetChange, ...],
        retired_metric_ids: tuple[str, ...],
        effective_from: date,
        rationale: str,
        provenance: Provenance,
    ) -> None:
        for change in target_changes:
            metric = self.sla_metrics[change.metric_id]
            self.sla_metrics[change.metric_id] = SlaMetric(
                metric_id=metric.metric_id,
                name=metric.name,
                unit=metric.unit,
                direction=metric.direction,
                target=change.target,
                measurement_period=metric.measurement_period,
                effective_from=metric.effective_from,
            )
            self.sla_history.append(
                {
                    "metric_id": change.metric_id,
                    "target": change.target,
                    "effective_from": effective_from,
                    "rationale": rationale,
                }
            )
        for metric_id in retired_metric_ids:
            self.retired_metrics[metric_id] = effective_from

    def metrics_in_force(self) -> list[SlaMetric]:
        """Return the SLA metrics not retired."""
        return [m for k, m in self.sla_metrics.items() if k not in self.retired_metrics]

    def target_on(self, metric_id: str, day: date) -> Decimal | None:
        """Return the SLA target in force on day (None if the metric was not in force)."""
        retired = self.retired_metrics.get(metric_id)
        if retired is not None and retired <= day:
            return None
        entries = [h for h in self.sla_history
                   if h["metric_id"] == metric_id and h["effective_from"] <= day]
        if not entries:
            return None
        return max(enumerate(entries), key=lambda e: (e[1]["effective_from"], e[0]))[1]["target"]
