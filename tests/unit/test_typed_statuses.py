"""Credit and dispute statuses are StrEnum members, stored as their plain strings."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)

from domain.chain import canonical_form, plain_value
from domain.contract import Contract
from domain.credits import CreditStatus, DisputeStatus, MetricValue
from service.transcodings import register_ledger_transcodings
from tests.support.domain import BY, TODAY, contract_with


def _plain(value: Any) -> Any:
    """The value with every status member replaced by the bare string it stands for."""
    if isinstance(value, (CreditStatus, DisputeStatus)):
        return str.__str__(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _penalised() -> tuple[Contract, str]:
    contract = contract_with()
    contract.report_performance("r-2026-01", "2026-01",
                                (MetricValue("availability", Decimal("99.0")),),
                                "vendor portal", None, TODAY, BY)
    return contract, next(iter(contract.penalties))


def _mapper() -> Mapper[Any]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_ledger_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def test_statuses_are_enum_members_after_commands() -> None:
    contract, penalty_id = _penalised()
    penalty = contract.penalties[penalty_id]
    assert penalty["status"] is CreditStatus.ASSESSED
    contract.dispute_penalty(penalty_id, "outage was yours", None, TODAY, 30, BY)
    assert penalty["dispute"]["status"] is DisputeStatus.OPEN
    contract.waive_penalty(penalty_id, "goodwill", "CFO", BY)
    assert penalty["status"] is CreditStatus.WAIVED
    assert penalty["dispute"]["status"] is DisputeStatus.WITHDRAWN_BY_WAIVER


def test_a_resolved_dispute_records_its_outcome_as_a_member() -> None:
    contract, penalty_id = _penalised()
    contract.dispute_penalty(penalty_id, "outage was yours", None, TODAY, 30, BY)
    contract.resolve_dispute(penalty_id, "upheld", None, "fair", BY)
    assert contract.penalties[penalty_id]["dispute"]["status"] is DisputeStatus.UPHELD
    resolved = [e for e in contract.collect_events() if isinstance(e, Contract.DisputeResolved)]
    assert type(resolved[0].outcome) is str  # the event attribute stays a bare string


def test_a_snapshot_stores_statuses_exactly_as_plain_strings() -> None:
    contract, penalty_id = _penalised()
    contract.dispute_penalty(penalty_id, "outage was yours", None, TODAY, 30, BY)
    snapshot = Snapshot.take(contract)
    mapper = _mapper()
    stored = mapper.to_stored_event(snapshot)
    state = dict(snapshot.state)
    plain_state = _plain(state)
    assert plain_state["penalties"][penalty_id]["status"].__class__ is str
    # byte for byte the form a bare-string state has always had
    assert mapper.transcoder.encode(state) == mapper.transcoder.encode(plain_state)
    assert b'"status":"assessed"' in stored.state
    assert b'"status":"open"' in stored.state
    # and a snapshot of bare strings (as older ones hold) loads, its values equal to members
    loaded = mapper.to_domain_event(stored)
    assert isinstance(loaded, Snapshot)
    penalty = loaded.state["penalties"][penalty_id]
    assert penalty["status"] == CreditStatus.ASSESSED
    assert penalty["dispute"]["status"] == DisputeStatus.OPEN


def test_the_hash_chain_canonical_form_is_unchanged() -> None:
    member = {"status": CreditStatus.EARNED_BACK, "dispute": {"status": DisputeStatus.ADJUSTED}}
    bare = {"status": "earned_back", "dispute": {"status": "adjusted"}}
    assert plain_value(member) == bare
    assert type(plain_value(CreditStatus.REVERSED)) is str
    originator = uuid4()
    assert canonical_form("t", originator, 1, member) == canonical_form("t", originator, 1, bare)
    assert json.dumps(member) == json.dumps(bare)
