"""Long contract streams load from snapshots, with the same state and an intact chain."""

from __future__ import annotations

from uuid import UUID

from domain.values import PointOfContact, Provenance
from service.app import build_ledger
from service.application import SNAPSHOT_INTERVAL, CommandContext, ContractLedger
from service.config import Settings
from service.integrity import verify_chains
from tests.support import Api

CTX = CommandContext(Provenance("key-1", "procurement", "req-1"), "key-1")


def grow(fresh_ledger: ContractLedger, contract_id: UUID, events: int) -> None:
    for version in range(1, events):
        fresh_ledger.designate_point_of_contact(
            contract_id, version,
            point_of_contact=PointOfContact(f"Contact {version}", "c@acme.example"), ctx=CTX)


def test_a_snapshot_is_taken_every_interval(fresh_api: Api, fresh_ledger: ContractLedger) -> None:
    contract_id = UUID(fresh_api.draft().json["id"])
    grow(fresh_ledger, contract_id, 2 * SNAPSHOT_INTERVAL + 10)
    assert fresh_ledger.snapshots is not None
    snapshots = list(fresh_ledger.snapshots.get(contract_id))
    assert [s.originator_version for s in snapshots] == [SNAPSHOT_INTERVAL,
                                                         2 * SNAPSHOT_INTERVAL]


def test_a_contract_loaded_from_its_snapshot_equals_one_replayed_from_scratch(
    fresh_api: Api, fresh_ledger: ContractLedger, fresh_store_url: str
) -> None:
    contract_id = UUID(fresh_api.active_contract())
    grow_from = 5
    for version in range(grow_from, grow_from + SNAPSHOT_INTERVAL + 20):
        fresh_ledger.designate_point_of_contact(
            contract_id, version,
            point_of_contact=PointOfContact(f"Contact {version}", "c@acme.example"), ctx=CTX)
    from_snapshot = build_ledger(Settings(database_url=fresh_store_url))
    from_events = ContractLedger({**Settings(database_url=fresh_store_url).persistence_env(),
                                  "IS_SNAPSHOTTING_ENABLED": "n"})
    try:
        assert from_events.snapshots is None
        assert from_snapshot.get_contract(contract_id) == from_events.get_contract(contract_id)
        # and the next command still links to the chain
        from_snapshot.designate_point_of_contact(
            contract_id, grow_from + SNAPSHOT_INTERVAL + 20,
            point_of_contact=PointOfContact("Last", "l@acme.example"), ctx=CTX)
        assert verify_chains(from_snapshot.recorder, from_snapshot.mapper.transcoder).ok
    finally:
        from_snapshot.close()
        from_events.close()
