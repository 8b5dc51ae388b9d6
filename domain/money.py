"""Money: a Decimal amount in an ISO 4217 currency, never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from domain.exceptions import InvalidValue

_TWO_DIGITS = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR
LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD
PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG
"""
_ZERO_DIGITS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE_DIGITS = "BHD IQD JOD KWD LYD OMR TND"

# ISO 4217 active codes and their minor units (digits after the decimal point).
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO_DIGITS.split(), 2),
    **dict.fromkeys(_ZERO_DIGITS.split(), 0),
    **dict.fromkeys(_THREE_DIGITS.split(), 3),
}


MAX_MAGNITUDE = 30
"""Amounts stay below 1E+31: enough for any contract, and exact in Decimal arithmetic."""


@dataclass(frozen=True)
class Money:
    """An amount of a currency. Amounts carry at most the currency's minor unit digits."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or isinstance(self.amount, bool):
            # Floats would silently round: money is always given as a decimal string.
            raise InvalidValue(f"amount must be a Decimal, not {type(self.amount).__name__}")
        if not self.amount.is_finite():
            raise InvalidValue("amount must be a finite number", "/amount")
        if self.currency not in MINOR_UNITS:
            raise InvalidValue(f"currency {self.currency!r} is not an ISO 4217 code", "/currency")
        if self.amount.adjusted() > MAX_MAGNITUDE:
            raise InvalidValue(f"amount must be below 1E+{MAX_MAGNITUDE + 1}", "/amount")
        exponent = self.amount.as_tuple().exponent
        assert isinstance(exponent, int)  # finite, checked above
        if -exponent > MINOR_UNITS[self.currency]:
            raise InvalidValue(
                f"{self.currency} amounts have at most {MINOR_UNITS[self.currency]} decimal places",
                "/amount")

    def is_negative(self) -> bool:
        """Tell whether the amount is below zero."""
        return self.amount < 0


def money_data(amount: Decimal, currency: str) -> dict[str, str]:
    """Money as the API writes it: the amount with exactly the currency's minor-unit
    digits (nothing in EUR is "0.00", never "0" or "1.5E+3")."""
    quantum = Decimal(1).scaleb(-MINOR_UNITS[currency])
    # Enough precision for the largest amount Money accepts, whatever the thread's context.
    written = amount.quantize(quantum, context=Context(prec=64, rounding=ROUND_HALF_UP))
    return {"amount": f"{written.copy_abs() if written.is_zero() else written:f}",
            "currency": currency}


def with_minor_units(data: Any) -> Any:
    """Plain data (as chain.plain_value gives it) with every money value in it, an
    {amount, currency} pair, written in the currency's minor units."""
    if isinstance(data, dict):
        if data.keys() == {"amount", "currency"} and isinstance(data["amount"], str) \
                and data["currency"] in MINOR_UNITS:
            return money_data(Decimal(data["amount"]), data["currency"])
        return {k: with_minor_units(v) for k, v in data.items()}
    if isinstance(data, list):
        return [with_minor_units(v) for v in data]
    return data
