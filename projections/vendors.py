"""Vendors and the portfolio: what is spent with whom, and how concentrated it is.

Folded from no events of its own: it sums the contracts view's rows, so the portfolio
and the contract list can never disagree. Spend is the value of the contracts in force
(active, including those being exited), per currency (values in different currencies
are never added up); sums are exact decimals, done here rather than in SQL because
SQLite sums NUMERIC columns as floating point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domain.money import money_data
from domain.values import ContractStatus
from projections.contracts import ContractsView
from projections.session import Session

SHARE = Decimal("0.0001")


def portfolio_rows(view: ContractsView, session: Session,
                   vendor_id: str | None = None) -> list[dict[str, Any]]:
    """The columns the portfolio needs, of every contract (or one vendor's)."""
    where, params = ("WHERE vendor_id = %s", (vendor_id,)) if vendor_id else ("", ())
    return session.execute(
        "SELECT vendor_id, vendor_name, status, service_scope, currency, value_text "
        f"FROM {{contracts}} {where} ORDER BY vendor_id", params)


def portfolio(rows: Iterable[Mapping[str, Any]], *, with_shares: bool = True) -> dict[str, Any]:
    """Vendors (contracts by status, spend and share per currency, service scopes) and the
    totals per currency (spend by service scope, concentration: the largest vendor's share
    and the Herfindahl-Hirschman index of the vendors' shares, 0 to 1)."""
    vendors: dict[str, dict[str, Any]] = {}
    spend: dict[str, dict[str, Decimal]] = {}  # currency -> vendor -> value in force
    scopes: dict[str, dict[str, Decimal]] = {}  # currency -> service scope -> value
    for row in rows:
        vendor = vendors.setdefault(row["vendor_id"], {
            "vendor_id": row["vendor_id"], "name": row["vendor_name"],
            "contracts": {s.value: 0 for s in ContractStatus}, "service_scopes": set()})
        vendor["contracts"][row["status"]] += 1
        vendor["service_scopes"].add(row["service_scope"])
        if row["status"] == ContractStatus.ACTIVE.value:
            value = Decimal(row["value_text"])
            by_vendor = spend.setdefault(row["currency"], {})
            by_vendor[row["vendor_id"]] = by_vendor.get(row["vendor_id"], Decimal(0)) + value
            by_scope = scopes.setdefault(row["currency"], {})
            by_scope[row["service_scope"]] = (by_scope.get(row["service_scope"], Decimal(0))
                                              + value)
    totals = {currency: sum(by_vendor.values(), Decimal(0))
              for currency, by_vendor in spend.items()}

    def share(part: Decimal, currency: str) -> str | None:
        if not with_shares or not totals[currency]:
            return None
        return str((part / totals[currency]).quantize(SHARE))

    items = []
    for vendor_id, vendor in sorted(vendors.items()):
        items.append({
            **vendor, "service_scopes": sorted(vendor["service_scopes"]),
            "spend": [{"currency": currency,
                       "value_in_force": money_data(by_vendor[vendor_id], currency),
                       "share": share(by_vendor[vendor_id], currency)}
                      for currency, by_vendor in sorted(spend.items())
                      if vendor_id in by_vendor]})
    summary = []
    if with_shares:
        for currency, by_vendor in sorted(spend.items()):
            shares = [v / totals[currency] for v in by_vendor.values()] \
                if totals[currency] else []
            summary.append({
                "currency": currency,
                "value_in_force": money_data(totals[currency], currency),
                "vendors": len(by_vendor),
                "largest_vendor_share": str(max(shares).quantize(SHARE)) if shares else None,
                "herfindahl_index": str(sum((s * s for s in shares), Decimal(0))
                                        .quantize(SHARE)) if shares else None,
                "by_service_scope": [
                    {"service_scope": scope, "value_in_force": money_data(value, currency),
                     "share": share(value, currency)}
                    for scope, value in sorted(scopes[currency].items())],
            })
    return {"vendors": items, "totals": summary}
