"""A contract's whole life over the API."""

from tests.support import Api


def test_contract_goes_from_draft_to_terminated(api: Api) -> None:
    contract_id = api.active_contract()
    renewed = api.post(f"/v1/contracts/{contract_id}/renewal",
                       {"new_end": "2029-12-31", "reason": "met every target"}, version=5)
    assert renewed.status_code == 200
    ended = api.post(f"/v1/contracts/{contract_id}/termination",
                     {"reason": "service insourced", "effective_date": "2027-06-30"}, version=6)
    assert ended.status_code == 200
    assert ended.json["status"] == "terminated"
    assert ended.headers["ETag"] == '"7"'
