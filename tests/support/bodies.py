"""Request bodies several API test modules post: the rules, a health check, a scorecard.

The draft, point of contact, SLA metric and exit plan live in tests.support itself.
"""

from __future__ import annotations

from typing import Any

PENALTY_RULE: dict[str, Any] = {
    "kind": "penalty", "rule_id": "availability-credit", "metric_id": "availability",
    "tiers": [{"threshold": "99.9", "percent": "5"}, {"threshold": "99.5", "percent": "10"}],
    "period_cap": {"percent_of_fee": "10"}, "year_cap": {"amount": {"amount": "50000.00",
                                                                     "currency": "EUR"}},
    "earn_back_periods": 0, "missing_data": "breach", "effective_from": "2026-01-01",
}
INCENTIVE_RULE: dict[str, Any] = {
    "kind": "incentive", "rule_id": "availability-bonus", "metric_id": "availability",
    "tiers": [{"threshold": "99.99", "percent": "2"}], "consecutive_periods": 1,
    "effective_from": "2026-01-01",
}
HEALTH_CHECK: dict[str, Any] = {
    "check_id": "hc-2026-h1", "conducted_on": "2026-06-30", "assessors": ["Ana", "Ben"],
    "scope": "delivery and security", "overall_rating": "amber",
    "findings": [{"finding_id": "patching", "category": "security", "severity": "critical",
                  "description": "Patching lags 60 days", "owner": "Acme security lead",
                  "due_date": "2026-09-30"}],
}
SCORECARD: dict[str, Any] = {p: {"score": 4, "comment": "steady"} for p in
                             ("financial", "customer", "internal_process", "learning_growth")}
