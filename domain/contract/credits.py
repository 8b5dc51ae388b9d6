"""What becomes of an assessed credit or bonus: earned back, reversed, waived, disputed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from domain.contract.base import ContractEvent, ContractState, _key
from domain.credits import CreditStatus, DisputeStatus
from domain.exceptions import (
    DisputeWindowClosed,
    IllegalCreditTransition,
    InvalidValue,
    UnknownPenalty,
)
from domain.money import Money
from domain.periods import Period
from domain.values import Provenance, check_text


class Credits(ContractState):
    """The Contract aggregate's credits: events, commands and appliers (joined in base.py)."""

    class PenaltyEarnedBack(ContractEvent):
        penalty_id: str
        periods_met: tuple[str, ...]

    def _grant_earn_backs(self, metric_id: str, provenance: Provenance) -> None:
        kind = self.sla_metrics[metric_id].measurement_period
        for penalty in list(self.penalties.values()):
            if penalty["metric_id"] != metric_id or penalty["status"] != CreditStatus.ASSESSED \
                    or penalty["owed"].amount == 0:
                continue
            rule = self.penalty_rules[penalty["rule_id"]]
            # The version the penalty was judged by: in force on the period's first day
            # in service (which may be after its first day).
            judged_on = Period.parse(penalty["period"], kind)
            judged_from = self._first_day_in_service(judged_on) or judged_on.start
            versions = [r for r in rule if r.effective_from <= judged_from]
            periods_needed = versions[-1].earn_back_periods if versions else 0
            if periods_needed == 0:
                continue
            following = []
            current: Period | None = Period.parse(penalty["period"], kind)
            for _ in range(periods_needed):
                current = current.next() if current else None
                if current is None:  # the calendar ends first: it cannot be earned back
                    break
                following.append(current.label)
            if len(following) < periods_needed:
                continue
            evaluations = [self.evaluations.get(_key(metric_id, label)) for label in following]
            if all(e is not None and e["met"] for e in evaluations):
                self._penalty_earned_back(penalty_id=penalty["penalty_id"],
                                          periods_met=tuple(following), provenance=provenance)

    @event(PenaltyEarnedBack)
    def _penalty_earned_back(self, penalty_id: str, periods_met: tuple[str, ...],
                             provenance: Provenance) -> None:
        penalty = self.penalties[penalty_id]
        penalty["status"] = CreditStatus.EARNED_BACK
        penalty["owed"] = Money(Decimal(0), penalty["amount"].currency)

    class PenaltyReversed(ContractEvent):
        penalty_id: str
        reason: str

    class IncentiveReversed(ContractEvent):
        incentive_id: str
        reason: str

    def _reverse_consequences(self, metric_id: str, period: str, reason: str,
                              provenance: Provenance) -> None:
        for penalty in list(self.penalties.values()):
            if (penalty["metric_id"], penalty["period"]) == (metric_id, period) \
                    and penalty["status"] != CreditStatus.REVERSED:
                self._penalty_reversed(penalty_id=penalty["penalty_id"], reason=reason,
                                       provenance=provenance)
        for incentive in list(self.incentives.values()):
            if (incentive["metric_id"], incentive["period"]) == (metric_id, period) \
                    and incentive["status"] != CreditStatus.REVERSED:
                self._incentive_reversed(incentive_id=incentive["incentive_id"], reason=reason,
                                         provenance=provenance)

    @event(PenaltyReversed)
    def _penalty_reversed(self, penalty_id: str, reason: str, provenance: Provenance) -> None:
        penalty = self.penalties[penalty_id]
        penalty["status"] = CreditStatus.REVERSED
        penalty["owed"] = Money(Decimal(0), penalty["amount"].currency)

    @event(IncentiveReversed)
    def _incentive_reversed(self, incentive_id: str, reason: str,
                            provenance: Provenance) -> None:
        incentive = self.incentives[incentive_id]
        incentive["status"] = CreditStatus.REVERSED
        incentive["owed"] = Money(Decimal(0), incentive["amount"].currency)

    def _penalty(self, penalty_id: str) -> dict[str, Any]:
        try:
            return self.penalties[penalty_id]
        except KeyError:
            raise UnknownPenalty(f"no penalty {penalty_id} on this contract") from None

    class PenaltyWaived(ContractEvent):
        penalty_id: str
        reason: str
        approver: str

    def waive_penalty(self, penalty_id: str, reason: str, approver: str,
                      provenance: Provenance) -> None:
        """Forgive an assessed penalty (procurement's decision, with approver)."""
        self._check_not_terminated()
        penalty = self._penalty(penalty_id)
        if penalty["status"] != CreditStatus.ASSESSED:
            raise IllegalCreditTransition(f"a {penalty['status']} penalty cannot be waived")
        if penalty["dispute"] is not None and penalty["dispute"]["status"] != DisputeStatus.OPEN:
            raise IllegalCreditTransition("a penalty whose dispute was resolved cannot be waived")
        check_text(reason, "reason")
        check_text(approver, "approver", 200)
        self._penalty_waived(penalty_id=penalty_id, reason=reason, approver=approver,
                             provenance=provenance)

    @event(PenaltyWaived)
    def _penalty_waived(self, penalty_id: str, reason: str, approver: str,
                        provenance: Provenance) -> None:
        penalty = self.penalties[penalty_id]
        penalty["status"] = CreditStatus.WAIVED
        penalty["owed"] = Money(Decimal(0), penalty["amount"].currency)
        if penalty["dispute"] is not None:
            penalty["dispute"] = {**penalty["dispute"], "status": DisputeStatus.WITHDRAWN_BY_WAIVER}

    class PenaltyDisputed(ContractEvent):
        penalty_id: str
        reason: str
        evidence: str | None

    def dispute_penalty(self, penalty_id: str, reason: str, evidence: str | None, today: date,
                        window_days: int, provenance: Provenance) -> None:
        """The vendor disputes an assessed penalty within the dispute window."""
        self._check_not_terminated()
        penalty = self._penalty(penalty_id)
        if penalty["status"] != CreditStatus.ASSESSED:
            raise IllegalCreditTransition(f"a {penalty['status']} penalty cannot be disputed")
        if penalty["dispute"] is not None:
            raise IllegalCreditTransition("this penalty was disputed already")
        if (today - penalty["assessed_on"]).days > window_days:
            raise DisputeWindowClosed(
                f"penalties can be disputed within {window_days} days of assessment "
                f"({penalty['assessed_on']})")
        check_text(reason, "reason")
        self._penalty_disputed(penalty_id=penalty_id, reason=reason, evidence=evidence,
                               provenance=provenance)

    @event(PenaltyDisputed)
    def _penalty_disputed(self, penalty_id: str, reason: str, evidence: str | None,
                          provenance: Provenance) -> None:
        self.penalties[penalty_id]["dispute"] = {"status": DisputeStatus.OPEN, "reason": reason,
                                                  "evidence": evidence}

    class DisputeResolved(ContractEvent):
        penalty_id: str
        outcome: str
        amount: Money
        reason: str

    def resolve_dispute(self, penalty_id: str, outcome: str, adjusted_amount: Money | None,
                        reason: str, provenance: Provenance) -> None:
        """Decide a dispute: upheld (owed as assessed), overturned (nothing), or adjusted."""
        self._check_not_terminated()
        penalty = self._penalty(penalty_id)
        if penalty["dispute"] is None or penalty["dispute"]["status"] != DisputeStatus.OPEN:
            raise IllegalCreditTransition("only an open dispute can be resolved")
        check_text(reason, "reason")
        original: Money = penalty["amount"]
        if outcome == DisputeStatus.UPHELD:
            amount = original
        elif outcome == DisputeStatus.OVERTURNED:
            amount = Money(Decimal(0), original.currency)
        elif outcome == DisputeStatus.ADJUSTED:
            if adjusted_amount is None or adjusted_amount.currency != original.currency:
                raise InvalidValue(f"an adjusted outcome needs an amount in {original.currency}",
                                   "/amount" if adjusted_amount is None else "/amount/currency")
            if not Decimal(0) <= adjusted_amount.amount < original.amount:
                raise InvalidValue("an adjusted amount is below the assessed one, and not negative",
                                   "/amount/amount")
            amount = adjusted_amount
        else:
            raise InvalidValue("outcome is upheld, overturned or adjusted", "/outcome")
        self._dispute_resolved(penalty_id=penalty_id, outcome=outcome, amount=amount, reason=reason,
                               provenance=provenance)

    @event(DisputeResolved)
    def _dispute_resolved(self, penalty_id: str, outcome: str, amount: Money, reason: str,
                          provenance: Provenance) -> None:
        penalty = self.penalties[penalty_id]
        penalty["dispute"] = {**penalty["dispute"], "status": DisputeStatus(outcome),
                              "resolution": reason}
        penalty["owed"] = amount
