"""SLA: metrics and their amendments."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from domain.values import SlaMetric, SlaTargetChange
from service.use_cases.base import CommandContext, CommandResult, UseCases


class SlaUseCases(UseCases):
    def define_sla_metric(self, contract_id: UUID, expected_version: int, *, metric: SlaMetric,
                          ctx: CommandContext) -> CommandResult:
        """Define an SLA metric."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.define_sla_metric(metric, ctx.provenance)))

    def amend_sla(self, contract_id: UUID, expected_version: int, *,
                  target_changes: tuple[SlaTargetChange, ...], retired_metric_ids: tuple[str, ...],
                  effective_from: date, rationale: str, ctx: CommandContext) -> CommandResult:
        """Change SLA targets or retire SLA metrics from an effective date."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.amend_sla(
            target_changes, retired_metric_ids, effective_from, rationale, ctx.provenance))
