"""Lifecycle: draft, terms, point of contact, activation, renewal, termination."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from domain.contract import Contract
from domain.money import Money
from domain.values import (
    DeliveryLocation,
    PointOfContact,
    ServiceScope,
    SourcingModel,
    Term,
    TermChanges,
    Vendor,
)
from service.use_cases.base import CommandContext, CommandResult, UseCases


class LifecycleUseCases(UseCases):
    def draft_contract(
        self,
        *,
        title: str,
        vendor: Vendor,
        service_scope: ServiceScope,
        sourcing_model: SourcingModel,
        delivery_location: DeliveryLocation,
        value: Money,
        term: Term,
        objectives: tuple[str, ...],
        ctx: CommandContext,
    ) -> CommandResult:
        """Draft a new contract."""
        contract = Contract.draft(
            contract_id=uuid4(),
            title=title,
            vendor=vendor,
            service_scope=service_scope,
            sourcing_model=sourcing_model,
            delivery_location=delivery_location,
            value=value,
            term=term,
            objectives=objectives,
            provenance=ctx.provenance,
        )
        return self._commit(contract, ctx)

    def amend_terms(self, contract_id: UUID, expected_version: int, *, changes: TermChanges,
                    rationale: str, effective_date: date, ctx: CommandContext) -> CommandResult:
        """Amend a contract's terms."""
        return self._execute(contract_id, expected_version, ctx, lambda c: c.amend_terms(
            changes, rationale, effective_date, ctx.provenance))

    def designate_point_of_contact(self, contract_id: UUID, expected_version: int, *,
                                   point_of_contact: PointOfContact,
                                   ctx: CommandContext) -> CommandResult:
        """Designate the contract's single point of contact."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.designate_point_of_contact(point_of_contact, ctx.provenance)))

    def activate(self, contract_id: UUID, expected_version: int, *, effective_date: date | None,
                 ctx: CommandContext) -> CommandResult:
        """Put the contract live (today, by the clock, unless an effective date is given)."""
        day = effective_date or self.clock.today()
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.activate(day, ctx.provenance)))

    def renew(self, contract_id: UUID, expected_version: int, *, new_end: date, reason: str,
              override_reason: str | None, ctx: CommandContext) -> CommandResult:
        """Renew the contract to a later end date (after the notice deadline: override)."""
        today = self.clock.today()
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.renew(new_end, reason, today, ctx.provenance, override_reason)))

    def terminate(self, contract_id: UUID, expected_version: int, *, reason: str,
                  effective_date: date, override_reason: str | None,
                  ctx: CommandContext) -> CommandResult:
        """Terminate the contract (an incomplete exit plan needs an override)."""
        return self._execute(contract_id, expected_version, ctx, lambda c: (
            c.terminate(reason, effective_date, ctx.provenance, override_reason)))
