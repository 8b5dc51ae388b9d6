"""What every use case is given and returns, and what it needs from the application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.contract import Contract
from domain.exceptions import ContractNotFound
from domain.values import Provenance
from service.clock import Clock


class StaleVersion(Exception):
    """The command was based on a version of the contract that is no longer current."""

    def __init__(self, expected: int, current: int | None):
        self.expected = expected
        self.current = current
        now = f"; it is now at version {current}" if current is not None else ""
        super().__init__(f"the contract is not at version {expected}{now}")


class IdempotencyClaimLost(Exception):
    """The request ran past its idempotency lease and another request took the key."""


@dataclass(frozen=True)
class CommandContext:
    """Who asks, under which request, and the idempotency key that guards it."""

    provenance: Provenance
    principal_id: str
    idempotency_key: str | None = None
    claimed_at: float = 0.0  # when this request claimed its idempotency key
    status_code: int = 200
    vendor_scope: str | None = None  # a vendor may act only on its own contracts


@dataclass(frozen=True)
class CommandResult:
    contract: dict[str, Any]
    version: int
    position: int


def check_scope(contract: Contract, vendor_scope: str | None) -> None:
    """A vendor's token must not even learn that other vendors' contracts exist."""
    if vendor_scope is not None and contract.vendor.vendor_id != vendor_scope:
        raise ContractNotFound(f"no contract {contract.id}")


class UseCases:
    """The part of the application the use case modules rely on; ContractLedger
    (service.application) provides it with the library's repository and committer."""

    clock: Clock
    dispute_window_days: int

    def _load(self, contract_id: UUID, version: int | None = None) -> Contract:
        raise NotImplementedError

    def _execute(self, contract_id: UUID, expected_version: int, ctx: CommandContext,
                 act: Callable[[Contract], None]) -> CommandResult:
        raise NotImplementedError

    def _commit(self, contract: Contract, ctx: CommandContext) -> CommandResult:
        raise NotImplementedError
