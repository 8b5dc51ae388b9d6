"""Withdrawing an improvement proposal, specified without I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.contract import Contract
from domain.exceptions import (
    ContractTerminated,
    IllegalProposalTransition,
    InvalidValue,
    NotTheProposer,
    UnknownProposal,
)
from domain.governance import ProposalDecision
from domain.money import Money
from domain.values import (
    DeliveryLocation,
    Provenance,
    RenewalOption,
    ServiceScope,
    SourcingModel,
    Term,
    Vendor,
)

PROCUREMENT = Provenance(actor_id="key-1", actor_role="procurement", correlation_id="req-1")
VENDOR = Provenance(actor_id="key-2", actor_role="vendor", correlation_id="req-2")


def proposed(by: Provenance) -> Contract:
    """A draft contract with one improvement proposal, "p", made by `by`."""
    contract = Contract.draft(
        contract_id=uuid4(), title="Managed network services",
        vendor=Vendor("acme", "Acme Networks"), service_scope=ServiceScope.NETWORK,
        sourcing_model=SourcingModel.MANAGED_SERVICE,
        delivery_location=DeliveryLocation.NEARSHORE,
        value=Money(Decimal("1200000.00"), "EUR"),
        term=Term(date(2026, 1, 1), date(2028, 12, 31), 90, RenewalOption.OPTIONAL),
        objectives=("Cut run cost by 15%",), provenance=PROCUREMENT)
    contract.propose_improvement("p", "Self-service portal", "fewer tickets", None, by)
    return contract


class TestWithdrawal:
    def test_a_proposed_proposal_is_withdrawn_with_its_reason(self) -> None:
        contract = proposed(by=VENDOR)
        contract.withdraw_proposal("p", "superseded by new tooling", VENDOR)
        assert contract.proposals["p"]["status"] == "withdrawn"
        assert contract.proposals["p"]["decision_reason"] == "superseded by new tooling"
        (withdrawn,) = [e for e in contract.collect_events()
                        if isinstance(e, Contract.ProposalWithdrawn)]
        assert (withdrawn.proposal_id, withdrawn.reason) == ("p", "superseded by new tooling")

    def test_procurement_withdraws_the_vendors_proposal(self) -> None:
        contract = proposed(by=VENDOR)
        contract.withdraw_proposal("p", "out of scope", PROCUREMENT)
        assert contract.proposals["p"]["status"] == "withdrawn"

    def test_a_vendor_does_not_withdraw_procurements_proposal(self) -> None:
        contract = proposed(by=PROCUREMENT)
        with pytest.raises(NotTheProposer):
            contract.withdraw_proposal("p", "not wanted", VENDOR)
        assert contract.proposals["p"]["status"] == "proposed"

    def test_a_withdrawn_proposal_is_not_withdrawn_again_nor_decided(self) -> None:
        contract = proposed(by=VENDOR)
        contract.withdraw_proposal("p", "superseded", VENDOR)
        with pytest.raises(IllegalProposalTransition):
            contract.withdraw_proposal("p", "again", VENDOR)
        with pytest.raises(IllegalProposalTransition):
            contract.decide_proposal("p", ProposalDecision.ACCEPTED, "funded", PROCUREMENT)

    @pytest.mark.parametrize("decision", list(ProposalDecision))
    def test_a_decided_proposal_is_not_withdrawn(self, decision: ProposalDecision) -> None:
        # Deferred too: once decided, the decision stands until decided again.
        contract = proposed(by=VENDOR)
        contract.decide_proposal("p", decision, "considered", PROCUREMENT)
        with pytest.raises(IllegalProposalTransition):
            contract.withdraw_proposal("p", "changed our mind", VENDOR)

    def test_an_unknown_proposal_is_named(self) -> None:
        with pytest.raises(UnknownProposal):
            proposed(by=VENDOR).withdraw_proposal("nope", "why", VENDOR)

    def test_the_reason_is_required(self) -> None:
        with pytest.raises(InvalidValue):
            proposed(by=VENDOR).withdraw_proposal("p", " ", VENDOR)

    def test_nothing_is_withdrawn_from_a_terminated_contract(self) -> None:
        contract = proposed(by=VENDOR)
        contract.terminate("cancelled", date(2026, 1, 1), PROCUREMENT)
        with pytest.raises(ContractTerminated):
            contract.withdraw_proposal("p", "moot", PROCUREMENT)

    def test_its_topic_follows_the_contract_class(self) -> None:
        # The slice's event is copied onto Contract, so the stored topic names Contract.
        assert Contract.ProposalWithdrawn.__qualname__ == "Contract.ProposalWithdrawn"
        assert Contract.ProposalWithdrawn.__module__ == "domain.contract"
