"""A contract's whole life over the API."""

from tests.support import Api


def test_contract_goes_from_draft_to_terminated(api: Api) -> None:
    contract_id = api.active_contract()
    renewed = api.post(f"/v1/contracts/{contract_id}/renewal",
                       {"new_end": "2029-12-31", "reason": "met every target"}, version=5)
    assert renewed.status_code == 200
    base = f"/v1/contracts/{contract_id}"
    for version, (path, body) in enumerate([
        ("exit", {"reason": "service insourced"}),
        ("exit/steps/handover/start", {}),
        ("exit/steps/handover/completion", {"note": "runbooks received"}),
    ], start=6):
        response = api.post(f"{base}/{path}", body, version=version)
        assert response.status_code == 200, response.json
    ended = api.post(f"{base}/termination",
                     {"reason": "service insourced", "effective_date": "2027-06-30"}, version=9)
    assert ended.status_code == 200, ended.json
    assert ended.json["status"] == "terminated"
    assert ended.headers["ETag"] == '"10"'
