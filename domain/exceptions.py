"""Named domain errors: every broken business rule raises one of these."""

from __future__ import annotations


class ContractError(Exception):
    """A business rule of the contract ledger was broken."""


class InvalidValue(ContractError):
    """A value does not make sense in the business (a negative fee, an unknown currency).

    `pointer` is the JSON pointer (RFC 6901) of the offending field, relative to what the
    value or command was given ("" for the whole): "/values/1/metric_id"."""

    def __init__(self, message: str, pointer: str = "") -> None:
        super().__init__(message)
        self.pointer = pointer

    def within(self, prefix: str) -> InvalidValue:
        """The same error, pointing from an enclosing document ("/changes" + "/tiers")."""
        return type(self)(str(self), prefix + self.pointer)


class InvalidTerm(InvalidValue):
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


class SlaMetricNotInForce(ContractError):
    """The SLA metric is not in force for that period (not yet defined, or retired)."""


class WrongMeasurementPeriod(ContractError):
    """A value was reported for a period of another kind than the metric's."""


class PerformanceAlreadyReported(ContractError):
    """This metric was reported for this period already: send a correction instead."""


class NothingToCorrect(ContractError):
    """A correction names a metric and period that were never reported."""


class PeriodAlreadyClosed(ContractError):
    """The period was closed; its missing reports were evaluated already."""


class PeriodNotInService(ContractError):
    """The contract was not in service in that period (before its activation date, or
    once its termination took effect): it earns no credit and no bonus."""


class PeriodNotOver(ContractError):
    """A period can only be closed after its last day."""


class RuleAlreadyDefined(ContractError):
    """A rule with this id exists already: amend it instead."""


class UnknownRule(ContractError):
    """No rule with this id is defined on the contract."""


class RuleRetired(ContractError):
    """The rule was retired."""


class UnknownPenalty(ContractError):
    """No penalty with this id was assessed on the contract."""


class IllegalCreditTransition(ContractError):
    """The penalty is not in a state that allows this act (e.g. waiving a reversed one)."""


class DisputeWindowClosed(ContractError):
    """The window for disputing this penalty has passed."""


class TriggerAlreadyDefined(ContractError):
    """An exit trigger with this id exists already."""


class UnknownFinding(ContractError):
    """No finding with this id on the contract."""


class FindingClosed(ContractError):
    """The finding was resolved or accepted as a risk: it takes no further act."""


class UnknownCorrectiveAction(ContractError):
    """No corrective action with this id on the finding."""


class CorrectiveActionClosed(ContractError):
    """The corrective action was completed."""


class CorrectiveActionsOpen(ContractError):
    """A finding is resolved only when its corrective actions are completed."""


class DuplicateId(ContractError):
    """An id (health check, finding, review, proposal, action) is used already."""


class UnknownProposal(ContractError):
    """No improvement proposal with this id."""


class IllegalProposalTransition(ContractError):
    """The proposal is not in a state that allows this act."""


class NotTheProposer(ContractError):
    """A vendor withdraws only a proposal a vendor made, not procurement's."""


class UnknownTrigger(ContractError):
    """No exit trigger with this id."""


class TriggerNotFired(ContractError):
    """Only a fired trigger can be dismissed."""


class ExitNotInitiated(ContractError):
    """The act needs an initiated exit."""


class ExitAlreadyInitiated(ContractError):
    """The exit was initiated already."""


class IllegalExitStepTransition(ContractError):
    """The exit step is not in a state that allows this act."""


class ExitPlanIncomplete(ContractError):
    """Termination needs the exit plan's mandatory steps completed (or an admin override)."""


class NoticeDeadlinePassed(ContractError):
    """The notice deadline has passed: renewal needs an explicit override with reason."""
