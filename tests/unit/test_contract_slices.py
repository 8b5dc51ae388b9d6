"""Contract is one aggregate with one stream, built from one slice per capability
(domain/contract/): each slice's events are stored under the contract's topics and its
appliers run when the stream is replayed."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

import domain.contract
from domain.contract import Contract
from domain.contract.base import ContractEvent, ContractState
from domain.values import PointOfContact
from tests.support.domain import active


def slices() -> list[type[ContractState]]:
    """Every capability slice defined in the domain.contract package."""
    found = []
    for module_info in pkgutil.iter_modules(domain.contract.__path__):
        module = importlib.import_module(f"domain.contract.{module_info.name}")
        found += [member for member in vars(module).values()
                  if inspect.isclass(member) and issubclass(member, ContractState)
                  and member is not ContractState and not issubclass(member, Aggregate)
                  and member.__module__ == module.__name__]
    return found


def events_of(piece: type) -> dict[str, type]:
    return {name: value for name, value in vars(piece).items()
            if isinstance(value, type) and issubclass(value, ContractEvent)}


class TestOneAggregateOfSlices:
    def test_every_capability_slice_is_part_of_the_contract(self) -> None:
        found = slices()
        assert len(found) == 8  # lifecycle, sla, rules, performance, credits, ...
        assert set(found) <= set(Contract.__bases__)

    def test_every_event_of_a_slice_is_stored_under_the_contracts_topic(self) -> None:
        for piece in slices():
            for name, declared in events_of(piece).items():
                used = getattr(Contract, name)
                assert issubclass(used, declared)
                assert get_topic(used) == f"domain.contract:Contract.{name}"
                assert resolve_topic(get_topic(used)) is used

    def test_replaying_the_stream_rebuilds_the_state_every_slice_recorded(self) -> None:
        contract = active()
        events = contract.collect_events()
        replayed: Any = None
        for recorded in events:
            replayed = recorded.mutate(replayed)
        assert {type(e).__module__ for e in events} == {"domain.contract"}
        assert vars(replayed) == vars(contract)
        assert replayed.point_of_contact == PointOfContact("Ana", "ana@acme.example")
        assert replayed.exit_plan_revision == 1

    def test_a_name_two_slices_define_is_refused(self) -> None:
        class First(ContractState):
            class Noted(ContractEvent):
                note: str

        class Second(ContractState):
            class Noted(ContractEvent):
                note: str

        with pytest.raises(TypeError, match="Noted is defined twice"):
            class Twice(First, Second, Aggregate):  # type: ignore[misc]  # the conflict on trial
                pass
