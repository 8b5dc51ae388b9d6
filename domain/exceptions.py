"""Named domain errors: every broken business rule raises one of these."""

from __future__ import annotations


class ContractError(Exception):
    """A business rule of the contract ledger was broken."""


class InvalidValue(ContractError):
    """A value does not make sense in the business (a negative fee, an unknown currency)."""


class InvalidTerm(ContractError):
    """The contract term is impossible (it ends before it starts, notice longer than term)."""


class ContractNotFound(ContractError):
    """No contract has this id."""


class ContractTerminated(ContractError):
    """The contract was terminated: nothing but reads are allowed."""


class ContractNotActive(ContractError):
    """The act needs an active contract."""


class ContractAlreadyActive(ContractError):
    """The contract is already active."""


class ActivationRequirementsMissing(ContractError):
    """Going live needs an exit plan, at least one SLA metric and a point of contact."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__("cannot activate: missing " + ", ".join(missing))


class EffectiveDateOutOfTerm(ContractError):
    """An amendment or act takes effect outside the contract term."""


class SlaMetricAlreadyDefined(ContractError):
    """An SLA metric with this id already exists on the contract."""


class UnknownSlaMetric(ContractError):
    """No SLA metric with this id is defined on the contract."""


class SlaMetricRetired(ContractError):
    """The SLA metric was retired and cannot be amended."""


class InvalidRenewal(ContractError):
    """A renewal must extend the term."""


class EmptyAmendment(ContractError):
    """An amendment must change something."""
