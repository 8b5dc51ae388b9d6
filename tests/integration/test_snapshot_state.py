"""A contract rich in every kind of state loads the same from a snapshot as from events."""

from __future__ import annotations

from uuid import UUID

from service.app import build_ledger
from service.application import SNAPSHOT_INTERVAL, ContractLedger
from service.config import Settings
from tests.support import Api
from tests.support.bodies import HEALTH_CHECK, INCENTIVE_RULE, PENALTY_RULE, SCORECARD


def test_every_kind_of_state_round_trips_through_a_snapshot(
    fresh_api: Api, fresh_ledger: ContractLedger, fresh_store_url: str
) -> None:
    api = fresh_api
    contract_id = api.active_contract(value={"amount": "1096000.00", "currency": "EUR"})
    base = f"/v1/contracts/{contract_id}"
    version = 5

    def act(path: str, body: object) -> None:
        nonlocal version
        response = api.post(f"{base}/{path}", body, version=version)
        assert response.status_code == 200, (path, response.json)
        version = response.json["version"]

    act("rules", PENALTY_RULE)
    act("rules", INCENTIVE_RULE)
    act("exit-triggers", {"trigger_id": "chronic", "kind": "consecutive_breaches",
                          "metric_id": "availability", "periods": 2})
    act("governance-cadence", {"cadences": [{"kind": "scorecard", "every": 3, "unit": "months"},
                                            {"kind": "health_check", "every": 6,
                                             "unit": "months"}]})
    act("health-checks", HEALTH_CHECK)
    act("findings/patching/corrective-actions", {
        "action_id": "monthly", "description": "Patch", "owner": "Ops", "due_date": "2026-08-31"})
    act("reviews", {"review_id": "q1", "kind": "scorecard", "held_on": "2026-03-31",
                    "period": "2026-Q1", "attendees": ["Ana"], "scorecard": SCORECARD})
    act("improvement-proposals", {"proposal_id": "p", "title": "Idea",
                                  "expected_benefit": "b"})
    for month in range(1, 7):
        act("performance-reports", {
            "period": f"2026-{month:02d}", "source": "monitoring",
            "values": [{"metric_id": "availability",
                        "value": "99.0" if month % 3 else "99.995"}]})
    penalty_id = api.get(f"{base}/credits").json["penalties"][0]["penalty_id"]
    act(f"penalties/{penalty_id}/waiver", {"reason": "goodwill", "approver": "CFO"})
    act("exit", {"reason": "chronic outages", "trigger_id": "chronic"})
    act("exit/steps/handover/start", {})
    assert version > SNAPSHOT_INTERVAL  # at least one snapshot was taken
    assert fresh_ledger.snapshots is not None
    assert list(fresh_ledger.snapshots.get(UUID(contract_id)))

    from_snapshot = build_ledger(Settings(database_url=fresh_store_url,
                                          aggregate_cache_size=0))
    from_events = ContractLedger({**Settings(database_url=fresh_store_url,
                                             aggregate_cache_size=0).persistence_env(),
                                  "IS_SNAPSHOTTING_ENABLED": "n"})
    try:
        assert from_snapshot.get_contract(UUID(contract_id)) == \
            from_events.get_contract(UUID(contract_id))
        assert from_snapshot.credits(UUID(contract_id)) == from_events.credits(UUID(contract_id))
        # and the contract still takes commands from its snapshot
        done = api.post(f"{base}/exit/steps/handover/completion", {"note": "done"},
                        version=version)
        assert done.status_code == 200, done.json
    finally:
        from_snapshot.close()
        from_events.close()
