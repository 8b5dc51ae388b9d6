"""Penalty (service-credit) and incentive (bonus) rules, versioned by effective date."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.domain import event

from domain.contract.base import ContractEvent, ContractState
from domain.credits import IncentiveRule, PenaltyRule
from domain.exceptions import (
    EffectiveDateOutOfTerm,
    InvalidValue,
    RuleAlreadyDefined,
    RuleRetired,
    UnknownRule,
    UnknownSlaMetric,
)
from domain.values import Provenance, check_text


class Rules(ContractState):
    """The Contract aggregate's rules: events, commands and appliers (joined in base.py)."""

    class PenaltyRuleDefined(ContractEvent):
        rule: PenaltyRule

    def define_penalty_rule(self, rule: PenaltyRule, provenance: Provenance) -> None:
        """Define a service-credit rule bound to an SLA metric."""
        self._check_new_rule(rule)
        self._penalty_rule_defined(rule=rule, provenance=provenance)

    @event(PenaltyRuleDefined)
    def _penalty_rule_defined(self, rule: PenaltyRule, provenance: Provenance) -> None:
        self.penalty_rules[rule.rule_id] = [rule]

    class PenaltyRuleAmended(ContractEvent):
        rule: PenaltyRule
        rationale: str

    def amend_penalty_rule(self, rule: PenaltyRule, rationale: str,
                           provenance: Provenance) -> None:
        """Add a new version of a penalty rule, in force from a later date."""
        self._check_rule_revision(self.penalty_rules, rule, rationale)
        self._penalty_rule_amended(rule=rule, rationale=rationale, provenance=provenance)

    @event(PenaltyRuleAmended)
    def _penalty_rule_amended(self, rule: PenaltyRule, rationale: str,
                              provenance: Provenance) -> None:
        self.penalty_rules[rule.rule_id].append(rule)

    class IncentiveRuleDefined(ContractEvent):
        rule: IncentiveRule

    def define_incentive_rule(self, rule: IncentiveRule, provenance: Provenance) -> None:
        """Define a bonus rule bound to an SLA metric."""
        self._check_new_rule(rule)
        self._incentive_rule_defined(rule=rule, provenance=provenance)

    @event(IncentiveRuleDefined)
    def _incentive_rule_defined(self, rule: IncentiveRule, provenance: Provenance) -> None:
        self.incentive_rules[rule.rule_id] = [rule]

    class IncentiveRuleAmended(ContractEvent):
        rule: IncentiveRule
        rationale: str

    def amend_incentive_rule(self, rule: IncentiveRule, rationale: str,
                             provenance: Provenance) -> None:
        """Add a new version of an incentive rule, in force from a later date."""
        self._check_rule_revision(self.incentive_rules, rule, rationale)
        self._incentive_rule_amended(rule=rule, rationale=rationale, provenance=provenance)

    @event(IncentiveRuleAmended)
    def _incentive_rule_amended(self, rule: IncentiveRule, rationale: str,
                                provenance: Provenance) -> None:
        self.incentive_rules[rule.rule_id].append(rule)

    class RuleRetired(ContractEvent):
        rule_id: str
        effective_from: date
        reason: str

    def retire_rule(self, rule_id: str, effective_from: date, reason: str,
                    provenance: Provenance) -> None:
        """Stop applying a rule to periods starting on or after effective_from."""
        self._check_not_terminated()
        check_text(reason, "reason")
        versions = self.penalty_rules.get(rule_id) or self.incentive_rules.get(rule_id)
        if versions is None:
            raise UnknownRule(f"no rule {rule_id!r} on this contract")
        if rule_id in self.retired_rules:
            raise RuleRetired(f"rule {rule_id!r} was retired already")
        if effective_from <= versions[-1].effective_from:
            raise EffectiveDateOutOfTerm("a rule is retired after its latest version took effect")
        self._check_within_term(effective_from, "effective from")
        self._rule_retired(rule_id=rule_id, effective_from=effective_from, reason=reason,
                           provenance=provenance)

    @event(RuleRetired)
    def _rule_retired(self, rule_id: str, effective_from: date, reason: str,
                      provenance: Provenance) -> None:
        self.retired_rules[rule_id] = effective_from

    def _check_new_rule(self, rule: PenaltyRule | IncentiveRule) -> None:
        self._check_not_terminated()
        self._check_rule_id_free(rule.rule_id)
        self._check_rule_target(rule.metric_id, rule.effective_from)
        self._check_caps_currency(rule)

    def _check_rule_revision(self, rules: dict[str, list[Any]],
                             rule: PenaltyRule | IncentiveRule, rationale: str) -> None:
        self._check_not_terminated()
        check_text(rationale, "rationale")
        self._check_rule_amendable(rules, rule)
        self._check_rule_target(rule.metric_id, rule.effective_from)
        self._check_caps_currency(rule)

    def _check_rule_target(self, metric_id: str, effective_from: date) -> None:
        if metric_id not in self.sla_metrics:
            raise UnknownSlaMetric(f"no SLA metric {metric_id!r} on this contract")
        self._check_within_term(effective_from, "effective from")
        if effective_from < self.sla_metrics[metric_id].effective_from:
            raise EffectiveDateOutOfTerm(
                f"SLA metric {metric_id!r} is only in force from "
                f"{self.sla_metrics[metric_id].effective_from}")

    def _check_rule_amendable(self, rules: dict[str, list[Any]], rule: Any) -> None:
        if rule.rule_id not in rules:
            raise UnknownRule(f"no rule {rule.rule_id!r} of this kind on this contract")
        if rule.rule_id in self.retired_rules:
            raise RuleRetired(f"rule {rule.rule_id!r} was retired")
        latest = rules[rule.rule_id][-1]
        if rule.metric_id != latest.metric_id:
            raise InvalidValue("an amended rule stays bound to its SLA metric")
        if rule.effective_from <= latest.effective_from:
            raise EffectiveDateOutOfTerm(
                f"an amendment takes effect after the version in force from "
                f"{latest.effective_from}")

    def _check_rule_id_free(self, rule_id: str) -> None:
        if rule_id in self.penalty_rules or rule_id in self.incentive_rules:
            raise RuleAlreadyDefined(f"rule {rule_id!r} is already defined")

    def _check_caps_currency(self, rule: Any) -> None:
        for name, cap in (("period_cap", rule.period_cap), ("year_cap", rule.year_cap)):
            if cap is not None and cap.amount is not None \
                    and cap.amount.currency != self.value.currency:
                raise InvalidValue(f"cap amounts must be in {self.value.currency}",
                                   f"/{name}/amount/currency")

    def _rules_in_force(self, rules: dict[str, list[Any]], metric_id: str,
                        day: date) -> list[Any]:
        in_force = []
        for rule_id, versions in rules.items():
            retired = self.retired_rules.get(rule_id)
            if retired is not None and retired <= day:
                continue
            applicable = [v for v in versions if v.effective_from <= day]
            if applicable and applicable[-1].metric_id == metric_id:
                in_force.append(applicable[-1])
        return in_force
