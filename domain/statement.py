"""The credit statement: what is owed each way, per period, contract year and overall."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.chain import plain_value
from domain.contract import Contract
from domain.credits import CreditStatus, DisputeStatus, round_money

COLUMNS = ("credits_owed_by_vendor", "incentives_owed_to_vendor")


def credit_statement(contract: Contract, *, calculations: bool = True) -> dict[str, Any]:
    """Every penalty and incentive (with how each amount was worked out, unless not
    calculations), and totals owed each way per period, year and overall."""
    return {
        "penalties": [_credit_view(p, calculations) for p in contract.penalties.values()],
        "incentives": [_credit_view(i, calculations) for i in contract.incentives.values()],
        "totals": credit_totals(contract),
    }


def credit_totals(contract: Contract) -> dict[str, Any]:
    """Totals owed each way: overall, per period and per contract year."""
    currency = contract.value.currency
    zero = Decimal(0)
    by_period: dict[str, dict[str, Decimal]] = {}
    by_year: dict[int, dict[str, Decimal]] = {}
    overall = dict.fromkeys(COLUMNS, zero)
    for items, column in zip((contract.penalties, contract.incentives), COLUMNS, strict=True):
        for item in items.values():
            owed = item["owed"].amount
            for bucket in (by_period.setdefault(item["period"], {}),
                           by_year.setdefault(item["contract_year"], {}), overall):
                bucket[column] = bucket.get(column, zero) + owed

    def money(bucket: dict[str, Decimal]) -> dict[str, Any]:
        return {column: plain_value(round_money(bucket.get(column, zero), currency))
                for column in COLUMNS}

    return {
        "overall": money(overall),
        "by_period": [{"period": p, **money(b)} for p, b in sorted(by_period.items())],
        "by_contract_year": [{"contract_year": contract_year_number(y), **money(b)}
                             for y, b in sorted(by_year.items())],
    }


def contract_year_number(index: int) -> int:
    """The contract year as people count it, from 1; events record its index (0 first)."""
    return index + 1


RESOLVED_STATUSES = (DisputeStatus.ADJUSTED, DisputeStatus.OVERTURNED)
"""Dispute outcomes that change what a penalty owes, and so its status."""


def _credit_view(item: dict[str, Any], calculations: bool) -> dict[str, Any]:
    view = {k: plain_value(v) for k, v in item.items() if calculations or k != "calculation"}
    view["assessed_in_version"] = view.pop("version")
    view["contract_year"] = contract_year_number(item["contract_year"])
    # A dispute decided with another amount leaves the penalty owing that amount: its
    # status says so (an upheld one stays `assessed`; later earn-backs or reversals win).
    dispute = item.get("dispute")
    if item["status"] == CreditStatus.ASSESSED and dispute \
            and dispute["status"] in RESOLVED_STATUSES:
        view["status"] = dispute["status"]
    return view
