"""Revising a rule: its latest version with the named fields replaced, nothing else."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.credits import MissingData, PenaltyRule, Tier
from domain.exceptions import InvalidValue
from domain.revisions import revised

RULE = PenaltyRule(rule_id="availability-credit", metric_id="availability",
                   tiers=(Tier(Decimal("99.9"), Decimal("5")),), period_cap=None,
                   year_cap=None, earn_back_periods=0, missing_data=MissingData.BREACH,
                   effective_from=date(2026, 1, 1))


def test_a_revision_replaces_only_the_named_fields() -> None:
    revision = revised(RULE, {"earn_back_periods": 3, "effective_from": date(2026, 7, 1)})
    assert (revision.earn_back_periods, revision.effective_from) == (3, date(2026, 7, 1))
    assert (revision.rule_id, revision.tiers) == (RULE.rule_id, RULE.tiers)


def test_a_field_the_rule_does_not_have_is_named() -> None:
    with pytest.raises(InvalidValue, match="a penalty rule has no consecutive_periods"):
        revised(RULE, {"consecutive_periods": 2})


def test_a_revision_is_checked_like_a_new_rule() -> None:
    with pytest.raises(InvalidValue):
        revised(RULE, {"earn_back_periods": 25})
