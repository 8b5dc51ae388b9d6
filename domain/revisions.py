"""Decisions the API's commands leave to the contract: which kind of rule a definition or
an amendment is, what a finding's closing outcome means, and how a rule is revised."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from domain.credits import IncentiveRule, PenaltyRule
from domain.exceptions import InvalidValue, UnknownRule
from domain.values import Provenance

if TYPE_CHECKING:  # the aggregate's modules do not import this one
    from domain.contract import Contract

R = TypeVar("R", PenaltyRule, IncentiveRule)


def define_rule(contract: Contract, rule: PenaltyRule | IncentiveRule,
                provenance: Provenance) -> None:
    """Define a penalty (service credit) or an incentive (bonus) rule, by its kind."""
    if isinstance(rule, PenaltyRule):
        contract.define_penalty_rule(rule, provenance)
    else:
        contract.define_incentive_rule(rule, provenance)


def amend_rule(contract: Contract, rule_id: str, changes: dict[str, Any], rationale: str,
               provenance: Provenance) -> None:
    """Amend whichever rule has this id: its latest version with `changes` applied."""
    if rule_id in contract.penalty_rules:
        contract.amend_penalty_rule(revised(contract.penalty_rules[rule_id][-1], changes),
                                    rationale, provenance)
    elif rule_id in contract.incentive_rules:
        contract.amend_incentive_rule(revised(contract.incentive_rules[rule_id][-1], changes),
                                      rationale, provenance)
    else:
        raise UnknownRule(f"no rule {rule_id!r} on this contract")


def revised(rule: R, changes: dict[str, Any]) -> R:
    """The rule with the named fields replaced; a field the rule lacks is invalid."""
    foreign = sorted(set(changes) - {f.name for f in fields(rule)})
    if foreign:
        kind = "penalty" if isinstance(rule, PenaltyRule) else "incentive"
        raise InvalidValue(f"a {kind} rule has no {', '.join(foreign)}")
    return replace(rule, **changes)


def close_finding(contract: Contract, finding_id: str, outcome: str, *, evidence: str | None,
                  resolved_on: date, approver: str | None, reason: str | None,
                  provenance: Provenance) -> None:
    """Close a finding: "resolved" with evidence on a day, otherwise its risk accepted."""
    if outcome == "resolved":
        contract.resolve_finding(finding_id, evidence or "", resolved_on, provenance)
    else:
        contract.accept_finding_risk(finding_id, approver or "", reason or "", provenance)
