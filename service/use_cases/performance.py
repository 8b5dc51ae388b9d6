"""Performance: reports, their corrections and evaluation, period close."""

from __future__ import annotations

from uuid import UUID

from domain.credits import MetricValue
from domain.values import MeasurementPeriod
from service.use_cases.base import CommandContext, CommandResult, UseCases


class PerformanceUseCases(UseCases):
    def report_performance(self, contract_id: UUID, expected_version: int, *, period: str,
                           values: tuple[MetricValue, ...], source: str,
                           evidence_ref: str | None, correction_reason: str | None,
                           ctx: CommandContext) -> CommandResult:
        """Report (or correct) measured values for a period; evaluate them at once."""
        report_id = ctx.provenance.correlation_id
        today = self.clock.today()
        if correction_reason is None:
            return self._execute(contract_id, expected_version, ctx, lambda c: (
                c.report_performance(report_id, period, values, source, evidence_ref,
                                     today, ctx.provenance)))
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.correct_performance(report_id, period, values, source, evidence_ref,
                                  correction_reason, today, ctx.provenance)))

    def close_period(self, contract_id: UUID, expected_version: int, *, period: str,
                     measurement_period: MeasurementPeriod,
                     ctx: CommandContext) -> CommandResult:
        """Close a period: evaluate metrics nobody reported by their rules' policy."""
        today = self.clock.today()
        return self._execute(contract_id, expected_version, ctx, lambda c: c.close_period(
            period, measurement_period, today, ctx.provenance))
