"""The Contract aggregate: one event stream per vendor contract.

One capability per module, each with its events, commands and appliers side by side:
lifecycle, sla, rules, performance, credits, governance, exit, and in_force (read-only).
`Contract` joins them into one aggregate with one stream; see base.py for how.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from domain.contract.base import ContractEvent
from domain.contract.credits import Credits
from domain.contract.exit import Exit
from domain.contract.governance import Governance
from domain.contract.in_force import InForce
from domain.contract.lifecycle import Lifecycle
from domain.contract.performance import Performance
from domain.contract.rules import Rules
from domain.contract.sla import Sla


class Contract(Lifecycle, Sla, Rules, Performance, Credits, Governance, Exit, InForce,
               Aggregate):
    """A vendor contract, from draft through activation to termination.

    Invariants:
    - the term ends after it starts, and the notice period is shorter than the term;
    - the contract value is never negative and never a float;
    - activation needs an exit plan, an SLA metric in force on the activation date and a
      point of contact;
    - a period earns credits and bonuses only if the contract was in service in it, and is
      judged by what applied on its first day in service;
    - fees follow the term: the value is charged over the term's days, and nothing else;
    - amendments and SLA changes take effect within the term, never before it starts;
    - a terminated contract accepts no further act;
    - every event links to its predecessor by SHA-256 (a hash chain per contract).
    """

    class Event(ContractEvent):
        """Every contract event (eventsourcing derives each slice's events from it)."""

    chain_head: str  # set by every event's mutate(); not a constructor argument

    class_version: ClassVar[int] = 2  # of the snapshotted state (events have their own)

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        # v2 keeps the terms as drafted (for what was in force on a day). A v1 snapshot
        # cannot know them once amended: None says "replay the events to find out".
        state["_drafted_terms"] = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Contract:
        # The repository copies cached contracts before every command. All state is
        # dicts and lists of immutable values (frozen value objects, Decimal, date,
        # enums), so copying the containers is a full copy, several times faster than
        # copy.deepcopy's generic walk.
        clone = object.__new__(type(self))
        clone.__dict__.update(_copy_containers(self.__dict__))
        return clone

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Link every new event to the hash of the event before it."""
        super().trigger_event(event_class, previous_hash=self.chain_head, **kwargs)


def _copy_containers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_containers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_containers(v) for v in value]
    return value
