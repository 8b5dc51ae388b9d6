"""`ledger evaluate`: time-based exit triggers fire once per condition, however often it runs."""

from __future__ import annotations

from uuid import UUID

from click.testing import CliRunner

from service.application import ContractLedger
from service.cli import main
from tests.support import Api

CRITICAL = {
    "check_id": "hc-1", "conducted_on": "2026-06-30", "assessors": ["Ana"], "scope": "all",
    "overall_rating": "red",
    "findings": [{"finding_id": "breach", "category": "security", "severity": "critical",
                  "description": "Unencrypted backups", "owner": "Acme",
                  "due_date": "2026-09-30"}],
}


def evaluate(url: str, as_of: str) -> str:
    result = CliRunner().invoke(main, ["evaluate", "--as-of", as_of],
                                env={"LEDGER_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result.output


def fired(ledger: ContractLedger, contract_id: str) -> list[int]:
    return [e.originator_version for e in ledger.events.get(UUID(contract_id))
            if type(e).__name__ == "ExitTriggerFired"]


def test_evaluate_twice_records_a_trigger_once(fresh_api: Api, fresh_ledger: ContractLedger,
                                               fresh_store_url: str) -> None:
    # Given a critical finding due on 2026-09-30 and a trigger watching for it
    contract_id = fresh_api.active_contract()
    fresh_api.post(f"/v1/contracts/{contract_id}/health-checks", CRITICAL, version=5)
    fresh_api.post(f"/v1/contracts/{contract_id}/exit-triggers", {
        "trigger_id": "critical-open", "kind": "critical_finding_overdue"}, version=7)
    untouched = fresh_api.draft().json["id"]
    # When evaluation runs on its due date, then twice after it
    assert "0 exit trigger(s) fired" in evaluate(fresh_store_url, "2026-09-30")
    assert "1 exit trigger(s) fired" in evaluate(fresh_store_url, "2026-10-01")
    assert "0 exit trigger(s) fired" in evaluate(fresh_store_url, "2026-10-02")
    # Then the trigger fired exactly once, with its evidence, and nothing else moved
    assert fired(fresh_ledger, contract_id) == [9]
    contract = fresh_api.get(f"/v1/contracts/{contract_id}").json
    (firing,) = contract["exit_triggers"][0]["firings"]
    assert firing["evidence"][0]["finding_id"] == "breach"
    assert contract["status"] == "active"  # a trigger does not terminate
    assert fresh_api.get(f"/v1/contracts/{untouched}").json["version"] == 1
