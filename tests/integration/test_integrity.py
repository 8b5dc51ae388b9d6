"""Hash chains over real stores: verification, tampering, and old event shapes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent

from domain.chain import HASH_FIELD, event_hash
from service.application import ContractLedger
from service.integrity import VerificationReport, verify_chains
from tests.conftest import POSTGRES_URL
from tests.support import Api


def verify(ledger: ContractLedger) -> VerificationReport:
    return verify_chains(ledger.recorder, ledger.mapper.transcoder, page_size=3)


def tamper(url: str, contract_id: str, version: int, old: bytes, new: bytes) -> None:
    """Alter one stored event in place, as an attacker with database access would."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            (state,) = conn.execute(
                "SELECT state FROM stored_events WHERE originator_id=? AND originator_version=?",
                (UUID(contract_id).hex, version)).fetchone()
            assert old in state
            conn.execute(
                "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
                (state.replace(old, new), UUID(contract_id).hex, version))
        return
    schema = url.split("schema=")[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        (state,) = conn.execute(
            f'SELECT state FROM "{schema}".ledger_events '
            "WHERE originator_id=%s AND originator_version=%s", (contract_id, version)).fetchone()
        assert old in bytes(state)
        conn.execute(
            f'UPDATE "{schema}".ledger_events SET state=%s '
            "WHERE originator_id=%s AND originator_version=%s",
            (bytes(state).replace(old, new), contract_id, version))


def test_verification_passes_on_an_untouched_store(
    fresh_api: Api, fresh_ledger: ContractLedger
) -> None:
    for _ in range(3):
        fresh_api.active_contract()
    report = verify(fresh_ledger)
    assert report.ok
    assert report.events_checked == 15
    assert report.contracts_checked == 3


def test_verification_names_the_event_whose_content_was_altered(
    fresh_api: Api, fresh_ledger: ContractLedger, fresh_store_url: str
) -> None:
    intact = fresh_api.active_contract()
    altered = fresh_api.active_contract()
    tamper(fresh_store_url, altered, 3, b"Network availability", b"Network availabilitX")
    report = verify(fresh_ledger)
    assert [(str(b.contract_id), b.version) for b in report.breaks] == [(altered, 3)]
    assert "altered" in report.breaks[0].reason
    assert intact not in {str(b.contract_id) for b in report.breaks}


def test_verification_catches_an_event_rewritten_with_a_fresh_hash(
    fresh_api: Api, fresh_ledger: ContractLedger, fresh_store_url: str
) -> None:
    # An attacker who also recomputes the altered event's own hash still breaks the
    # link from the next event.
    contract_id = fresh_api.active_contract()
    stored = fresh_ledger.recorder.select_events(UUID(contract_id), gt=2, lte=3)[0]
    old_hash = fresh_ledger.mapper.transcoder.decode(stored.state)[HASH_FIELD]
    raw = stored.state.replace(b'"99.9"', b'"90.0"')  # a lower SLA target, re-hashed below
    forged = fresh_ledger.mapper.transcoder.decode(raw)
    new_hash = event_hash(stored.topic, UUID(contract_id), 3, forged)
    tamper(fresh_store_url, contract_id, 3, stored.state,
           raw.replace(old_hash.encode(), new_hash.encode()))
    report = verify(fresh_ledger)
    assert [(str(b.contract_id), b.version) for b in report.breaks] == [(contract_id, 4)]
    assert "previous_hash" in report.breaks[0].reason


def test_a_point_of_contact_stored_in_the_v1_shape_still_loads(
    fresh_api: Api, fresh_ledger: ContractLedger
) -> None:
    # Given a contract whose point of contact was recorded before v2 nested it
    contract_id = UUID(fresh_api.draft().json["id"])
    head = fresh_ledger.recorder.select_events(contract_id, desc=True, limit=1)[0]
    previous = fresh_ledger.mapper.transcoder.decode(head.state)[HASH_FIELD]
    topic = "domain.contract:Contract.PointOfContactDesignated"
    v1_state = {
        "timestamp": datetime(2026, 1, 2, tzinfo=UTC),
        "provenance": {"actor_id": "key-0", "actor_role": "procurement", "correlation_id": "r0"},
        "previous_hash": previous,
        "name": "Ana Souza",
        "email": "ana@acme.example",
        "title": "Service manager",
    }
    v1_state[HASH_FIELD] = event_hash(topic, contract_id, 2, v1_state)
    encoded = json.dumps({**v1_state, "timestamp": {"_type_": "datetime_iso",
                                                     "_data_": v1_state["timestamp"].isoformat()},
                          "provenance": {"_type_": "Provenance", "_data_": v1_state["provenance"]}})
    fresh_ledger.recorder.insert_events([StoredEvent(contract_id, 2, topic, encoded.encode())])
    # When it is loaded today
    contract = fresh_ledger.get_contract(contract_id)
    # Then it has the v2 shape, and its chain still verifies against the stored bytes
    assert contract["point_of_contact"] == {"name": "Ana Souza", "email": "ana@acme.example",
                                            "title": "Service manager", "phone": None}
    assert verify(fresh_ledger).ok
    # and the next event links to it
    after = fresh_api.post(f"/v1/contracts/{contract_id}/sla-metrics", {
        "metric_id": "availability", "name": "Availability", "unit": "percent",
        "direction": "higher_is_better", "target": "99.9", "measurement_period": "monthly",
        "effective_from": "2026-01-01"}, version=2)
    assert after.status_code == 200, after.json
    assert verify(fresh_ledger).ok
