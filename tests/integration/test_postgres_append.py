"""PostgreSQL appends: one call of `<schema>.ledger_append`, atomic with idempotency keys."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from click.testing import CliRunner
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.values import PointOfContact, Provenance
from service.app import build_ledger, create_app
from service.application import CommandContext, ContractLedger
from service.auth import create_api_key
from service.cli import main as ledger_cli
from service.config import Settings
from service.integrity import verify_chains
from service.storage import APPEND_FUNCTION, IdempotencyCompletion, LedgerPostgresRecorder
from tests.conftest import POSTGRES_URL, migrate, postgres_schema
from tests.support import Api

pytestmark = pytest.mark.postgres

TOPIC = "tests:Event"
PROVENANCE = Provenance("key-1", "procurement", "req-1")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL schema of this test's own."""
    with postgres_schema("ledger_append") as url:
        migrate(url)
        yield url


@pytest.fixture
def pg_ledger(pg_url: str) -> Iterator[ContractLedger]:
    ledger = build_ledger(Settings(database_url=pg_url))
    yield ledger
    ledger.close()


def recorder_of(ledger: ContractLedger) -> LedgerPostgresRecorder:
    assert isinstance(ledger.recorder, LedgerPostgresRecorder)
    return ledger.recorder


def schema_of(url: str) -> str:
    return url.split("schema=")[1]


def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def events_in(url: str) -> list[tuple[UUID, int, int]]:
    return [(UUID(str(r[0])), r[1], r[2]) for r in query(
        f'SELECT originator_id, originator_version, notification_id FROM "{schema_of(url)}"'
        ".ledger_events ORDER BY notification_id")]


def idempotency_row(url: str, principal: str, key: str) -> tuple[Any, ...]:
    rows = query(
        f'SELECT contract_id, contract_version, status_code FROM "{schema_of(url)}"'
        ".ledger_idempotency_keys WHERE principal_id = %s AND idempotency_key = %s",
        (principal, key))
    assert len(rows) == 1
    return rows[0]


def event(originator_id: UUID, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=version, topic=TOPIC,
                       state=state)


def test_ids_are_returned_in_the_order_of_the_events(pg_ledger: ContractLedger,
                                                      pg_url: str) -> None:
    recorder = recorder_of(pg_ledger)
    a, b, c = uuid4(), uuid4(), uuid4()
    batch = [event(c, 1), event(a, 1), event(b, 1), event(a, 2), event(c, 2), event(a, 3)]
    ids = recorder.insert_events(batch)
    assert ids is not None
    assert len(ids) == len(batch)
    assert list(ids) == sorted(set(ids))
    assert [recorder.notification_id_of(e.originator_id, e.originator_version)
            for e in batch] == list(ids)
    later = recorder.insert_events([event(b, 2), event(c, 3)])
    assert later is not None
    assert min(later) > max(ids)
    assert [(n.originator_id, n.originator_version) for n in
            recorder.select_notifications(start=1, limit=100)] == \
        [(e.originator_id, e.originator_version) for e in batch] + [(b, 2), (c, 3)]


def test_states_are_stored_byte_for_byte(pg_ledger: ContractLedger) -> None:
    recorder = recorder_of(pg_ledger)
    originator = uuid4()
    states = [bytes(range(256)), b"", b"\\x00\x00'\"{}"]
    recorder.insert_events([event(originator, v, s) for v, s in enumerate(states, start=1)])
    assert [e.state for e in recorder.select_events(originator)] == states


def test_nothing_to_append_is_a_no_op(pg_ledger: ContractLedger, pg_url: str) -> None:
    assert recorder_of(pg_ledger).insert_events([]) == []
    assert events_in(pg_url) == []


def test_concurrent_appends_get_distinct_increasing_ids(pg_ledger: ContractLedger,
                                                        pg_url: str) -> None:
    recorder = recorder_of(pg_ledger)
    returned: list[list[tuple[UUID, int, int]]] = []
    errors: list[BaseException] = []

    def append() -> None:
        try:
            originator = uuid4()
            for start in range(1, 31, 3):
                batch = [event(originator, v) for v in range(start, start + 3)]
                ids = recorder.insert_events(batch)
                assert ids is not None
                returned.append([(e.originator_id, e.originator_version, i)
                                 for e, i in zip(batch, ids, strict=True)])
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=append) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for call in returned:
        assert [i for _, _, i in call] == sorted(i for _, _, i in call)
    stored = events_in(pg_url)
    assert len(stored) == 8 * 30
    assert sorted(r for call in returned for r in call) == sorted(stored)


def test_a_conflicting_append_raises_integrity_error_and_writes_nothing(
    pg_ledger: ContractLedger, pg_url: str
) -> None:
    recorder = recorder_of(pg_ledger)
    existing = uuid4()
    recorder.insert_events([event(existing, 1)])
    claimed = time.time()
    assert recorder.claim_idempotency_key("key-1", "idem-1", "fp", claimed, 30) is None
    before = events_in(pg_url)
    fresh = uuid4()
    with pytest.raises(IntegrityError):
        recorder.insert_events(
            [event(fresh, 1), event(existing, 1), event(fresh, 2)],
            idempotency=[IdempotencyCompletion("key-1", "idem-1", claimed, fresh, 2, 201)])
    assert events_in(pg_url) == before
    assert idempotency_row(pg_url, "key-1", "idem-1") == (None, None, None)
    # and the store is still writable, with the ids still increasing
    ids = recorder.insert_events([event(fresh, 1)],
                                 idempotency=[IdempotencyCompletion("key-1", "idem-1", claimed,
                                                                    fresh, 1, 201)])
    assert ids is not None
    assert ids[0] > before[-1][2]
    assert idempotency_row(pg_url, "key-1", "idem-1") == (str(fresh), 1, 201)


def test_idempotency_completions_are_written_with_the_events(
    pg_ledger: ContractLedger, pg_url: str
) -> None:
    recorder = recorder_of(pg_ledger)
    first, second = uuid4(), uuid4()
    claimed = time.time()
    for key in ("idem-a", "idem-b", "idem-untouched"):
        assert recorder.claim_idempotency_key("key-1", key, "fp", claimed, 30) is None
    ids = recorder.insert_events(
        [event(first, 1), event(second, 1), event(second, 2)],
        idempotency=[IdempotencyCompletion("key-1", "idem-a", claimed, first, 1, 201),
                     IdempotencyCompletion("key-1", "idem-b", claimed, second, 2, 200)])
    assert ids is not None
    assert len(ids) == 3
    assert idempotency_row(pg_url, "key-1", "idem-a") == (str(first), 1, 201)
    assert idempotency_row(pg_url, "key-1", "idem-b") == (str(second), 2, 200)
    assert idempotency_row(pg_url, "key-1", "idem-untouched") == (None, None, None)


def procurement_api(ledger: ContractLedger, url: str) -> tuple[str, Api]:
    key_id, token = create_api_key(ledger.tables, "procurement")
    return key_id, Api(create_app(Settings(database_url=url), ledger).test_client(), token)


def test_a_command_under_an_idempotency_key_completes_it(pg_ledger: ContractLedger,
                                                         pg_url: str) -> None:
    key_id, api = procurement_api(pg_ledger, pg_url)
    contract_id = api.draft().json["id"]
    for _ in range(2):
        response = api.post(f"/v1/contracts/{contract_id}/point-of-contact",
                            {"name": "Ana", "email": "ana@acme.example"}, version=1,
                            headers={"Idempotency-Key": "poc-1"})
        assert response.status_code == 200, response.json
        assert idempotency_row(pg_url, key_id, "poc-1") == (contract_id, 2, 200)
    assert response.headers["Idempotent-Replayed"] == "true"
    assert len(events_in(pg_url)) == 2


def test_the_losing_command_of_a_race_records_nothing(pg_ledger: ContractLedger,
                                                      pg_url: str) -> None:
    _, api = procurement_api(pg_ledger, pg_url)
    contract_id = UUID(api.draft().json["id"])
    other = build_ledger(Settings(database_url=pg_url))  # another worker process
    try:
        # The other process acts on version 1 while this one commits version 2.
        stale = other._load(contract_id)
        stale.designate_point_of_contact(PointOfContact("Bo", "b@acme.example"), PROVENANCE)
        ctx = CommandContext(PROVENANCE, "key-1")
        pg_ledger.designate_point_of_contact(
            contract_id, 1, point_of_contact=PointOfContact("Ana", "a@acme.example"), ctx=ctx)
        claimed = time.time()
        assert other.tables.claim_idempotency_key("key-1", "late", "fp", claimed, 30) is None
        with pytest.raises(IntegrityError):
            other.committer.commit(stale.collect_events(), [
                IdempotencyCompletion("key-1", "late", claimed, contract_id, 2, 200)])
        assert [v for c, v, _ in events_in(pg_url) if c == contract_id] == [1, 2]
        assert idempotency_row(pg_url, "key-1", "late") == (None, None, None)
        assert pg_ledger.get_contract(contract_id)["point_of_contact"]["name"] == "Ana"
        assert verify_chains(pg_ledger.recorder, pg_ledger.mapper.transcoder).ok
    finally:
        other.close()


def test_an_append_waits_for_the_table_lock(pg_ledger: ContractLedger, pg_url: str) -> None:
    recorder = recorder_of(pg_ledger)
    done = threading.Event()
    with psycopg.connect(POSTGRES_URL) as conn:
        conn.execute(f'LOCK TABLE "{schema_of(pg_url)}".ledger_events IN EXCLUSIVE MODE')
        thread = threading.Thread(
            target=lambda: (recorder.insert_events([event(uuid4(), 1)]), done.set()))
        thread.start()
        assert not done.wait(0.5)
        conn.commit()
    thread.join(10)
    assert done.is_set()
    assert len(events_in(pg_url)) == 1


def test_the_function_applies_its_lock_timeout(pg_url: str) -> None:
    schema = schema_of(pg_url)
    with psycopg.connect(POSTGRES_URL) as holder, \
            psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        holder.execute(f'LOCK TABLE "{schema}".ledger_events IN EXCLUSIVE MODE')
        started = time.monotonic()
        with pytest.raises(psycopg.errors.LockNotAvailable):
            conn.execute(
                f'SELECT * FROM "{schema}".{APPEND_FUNCTION}(%s::uuid[], %s::bigint[], '
                "%s::text[], %s::bytea[], '{}', '{}', '{}', '{}', '{}', '{}', '200ms')",
                ([uuid4()], [1], [TOPIC], [b"{}"]))
        assert time.monotonic() - started < 5
        holder.rollback()
    assert events_in(pg_url) == []


def test_subscribers_are_notified_of_appends(pg_ledger: ContractLedger) -> None:
    recorder = recorder_of(pg_ledger)
    recorder.insert_events([event(uuid4(), 1)])
    originator = uuid4()
    with recorder.subscribe(gt=1) as subscription:
        # The subscription pulls once, then only when notified: without a NOTIFY it would
        # wait for ever, so it is stopped after a while (and then yields nothing).
        give_up = threading.Timer(10, subscription.stop)
        give_up.start()
        try:
            time.sleep(0.3)  # let it LISTEN before the append
            recorder.insert_events([event(originator, 1)])
            received = next(iter(subscription), None)
        finally:
            give_up.cancel()
        assert received is not None, "no NOTIFY received"
        assert (received.id, received.originator_id) == (2, originator)


def test_migrate_twice_is_fine(pg_url: str) -> None:
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(ledger_cli, ["migrate"], env={"LEDGER_DATABASE_URL": pg_url})
        assert result.exit_code == 0, result.output
    assert query("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                 "WHERE p.proname = %s AND n.nspname = %s",
                 (APPEND_FUNCTION, schema_of(pg_url))) == [(1,)]


def test_each_schema_has_its_own_function(pg_url: str) -> None:
    with postgres_schema("ledger_append_other") as other_url:
        migrate(other_url)
        ledgers = [build_ledger(Settings(database_url=u)) for u in (pg_url, other_url)]
        try:
            one, two = (recorder_of(ledger) for ledger in ledgers)
            a, b = uuid4(), uuid4()
            assert one.insert_events([event(a, 1), event(a, 2)]) == [1, 2]
            assert two.insert_events([event(b, 1)]) == [1]
            assert one.insert_events([event(a, 3)]) == [3]
            assert [(o, v) for o, v, _ in events_in(pg_url)] == [(a, 1), (a, 2), (a, 3)]
            assert [(o, v) for o, v, _ in events_in(other_url)] == [(b, 1)]
            # The function names its tables with their schema: it needs no search_path.
            for url in (pg_url, other_url):
                (definition,), = query(
                    "SELECT pg_get_functiondef(p.oid) FROM pg_proc p "
                    "JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE p.proname = %s AND n.nspname = %s",
                    (APPEND_FUNCTION, schema_of(url)))
                assert f'"{schema_of(url)}"."ledger_events"' in definition
                assert f'"{schema_of(url)}"."ledger_idempotency_keys"' in definition
        finally:
            for ledger in ledgers:
                ledger.close()


def test_a_request_that_lost_its_claim_records_nothing(pg_ledger: ContractLedger,
                                                       pg_url: str) -> None:
    # Given a request whose lease ran out and a retry that took the key over
    recorder = recorder_of(pg_ledger)
    assert recorder.claim_idempotency_key("key-1", "slow", "fp", 1.0, 30) is None
    assert recorder.claim_idempotency_key("key-1", "slow", "fp", 100.0, 30) is None
    before = events_in(pg_url)
    # When the slow request finally commits under its old claim
    with pytest.raises(IntegrityError):
        recorder.insert_events([event(uuid4(), 1)], idempotency=[
            IdempotencyCompletion("key-1", "slow", 1.0, uuid4(), 1, 201)])
    # Then nothing is recorded, and the retry still holds the key
    assert events_in(pg_url) == before
    assert recorder.holds_claim("key-1", "slow", 100.0)
