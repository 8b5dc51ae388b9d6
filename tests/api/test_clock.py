"""The ledger's clock comes from its settings: commands that record "today" record the
clock's day, so a frozen clock makes them independent of the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from service.app import build_ledger, create_app
from service.application import ContractLedger
from service.auth import create_api_key
from service.clock import FixedClock
from service.config import Settings
from tests.support import Api

FROZEN_DAY = date(2027, 3, 15)  # not the wall clock's day when these tests were written


@pytest.fixture
def frozen_ledger(fresh_store_url: str) -> Iterator[ContractLedger]:
    ledger = build_ledger(Settings(database_url=fresh_store_url,
                                   clock=FixedClock.on(FROZEN_DAY)))
    yield ledger
    ledger.close()


@pytest.fixture
def frozen_api(fresh_store_url: str, frozen_ledger: ContractLedger) -> Api:
    """Procurement, talking to an app whose clock is stopped on FROZEN_DAY."""
    settings = Settings(database_url=fresh_store_url, clock=frozen_ledger.clock)
    return Api(create_app(settings, frozen_ledger).test_client(),
               create_api_key(frozen_ledger.tables, "procurement")[1])


class TestAFrozenClock:
    def test_an_activation_without_a_date_takes_effect_on_the_clocks_day(
            self, frozen_api: Api) -> None:
        contract_id = frozen_api.ready_contract()
        response = frozen_api.post(f"/v1/contracts/{contract_id}/activation", {}, version=4)
        assert response.status_code == 200, response.json
        assert response.json["activated_on"] == FROZEN_DAY.isoformat()

    def test_an_exit_is_initiated_on_the_clocks_day(self, frozen_api: Api) -> None:
        contract_id = frozen_api.active_contract()
        response = frozen_api.post(f"/v1/contracts/{contract_id}/exit",
                                   {"reason": "Moving the service in-house"}, version=5)
        assert response.status_code == 200, response.json
        assert response.json["exit"]["initiated_on"] == FROZEN_DAY.isoformat()

    def test_a_period_closes_only_once_it_has_ended_by_the_clock(self, frozen_api: Api) -> None:
        contract_id = frozen_api.active_contract()
        # The clock's own month has not ended; the month before it has.
        march = frozen_api.post(f"/v1/contracts/{contract_id}/periods/2027-03/close", {},
                                version=5)
        assert (march.status_code, march.json["rule"]) == (409, "PeriodNotOver")
        february = frozen_api.post(f"/v1/contracts/{contract_id}/periods/2027-02/close", {},
                                   version=5)
        assert february.status_code == 200, february.json
        assert {"period": "2027-02", "measurement_period": "monthly"} in \
            february.json["closed_periods"]

    def test_the_governance_status_is_judged_as_of_the_clocks_day(
            self, frozen_api: Api) -> None:
        contract_id = frozen_api.active_contract()
        contract = frozen_api.get(f"/v1/contracts/{contract_id}").json
        assert contract["governance"]["as_of"] == FROZEN_DAY.isoformat()
