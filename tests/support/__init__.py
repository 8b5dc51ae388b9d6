"""Test helpers: valid request bodies, a client that speaks as one principal, and (in
tests.support.walk) a contract walked through an event of every type."""

from __future__ import annotations

import copy
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def contract_body(**overrides: Any) -> dict[str, Any]:
    """A valid draft request; overrides replace top-level fields."""
    body: dict[str, Any] = {
        "title": "Managed network services",
        "vendor": {"vendor_id": "acme", "name": "Acme Networks"},
        "service_scope": "network",
        "sourcing_model": "managed_service",
        "delivery_location": "nearshore",
        "value": {"amount": "1200000.00", "currency": "EUR"},
        "term": {"start": "2026-01-01", "end": "2028-12-31", "notice_period_days": 90,
                 "renewal": "optional"},
        "objectives": ["Cut network run cost by 15%", "99.9% availability"],
    }
    body.update(copy.deepcopy(overrides))
    return body


POINT_OF_CONTACT = {"name": "Ana Souza", "email": "ana.souza@acme.example",
                    "title": "Service manager"}
SLA_METRIC = {"metric_id": "availability", "name": "Network availability", "unit": "percent",
              "direction": "higher_is_better", "target": "99.9", "measurement_period": "monthly",
              "effective_from": "2026-01-01"}
EXIT_PLAN = {"steps": [{"step_id": "handover", "description": "Hand over runbooks and configs",
                        "mandatory": True, "owner": "Acme"},
                       {"step_id": "shadow", "description": "Shadow the new provider",
                        "mandatory": False}],
             "budget": {"amount": "50000.00", "currency": "EUR"},
             "transition_period_days": 90,
             "data_return": "All configuration and tickets exported as JSON within 30 days"}


class Api:
    """A test client speaking as one principal."""

    def __init__(self, client: FlaskClient, token: str | None):
        self.client = client
        self.token = token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def get(self, path: str, **headers: str) -> TestResponse:
        return self.client.get(path, headers=self.headers(headers))

    def post(self, path: str, body: Any = None, *, version: int | None = None,
             headers: dict[str, str] | None = None) -> TestResponse:
        extra = dict(headers or {})
        if version is not None:
            extra["If-Match"] = f'"{version}"'
        return self.client.post(path, json=body, headers=self.headers(extra))

    def read(self, path: str, after: TestResponse | int | None = None) -> TestResponse:
        """GET a projection-backed resource once its view reflects a write (the response
        of the write, or a position)."""
        if after is not None:
            position = after if isinstance(after, int) else after.headers["Ledger-Position"]
            path += f"{'&' if '?' in path else '?'}min_position={position}"
        return self.get(path)

    def draft(self, **overrides: Any) -> TestResponse:
        response = self.post("/v1/contracts", contract_body(**overrides))
        assert response.status_code == 201, response.json
        return response

    def ready_contract(self, **overrides: Any) -> str:
        """Draft a contract with point of contact, SLA metric and exit plan (version 4)."""
        contract_id = self.draft(**overrides).json["id"]
        for version, (path, body) in enumerate(
            [("point-of-contact", POINT_OF_CONTACT), ("sla-metrics", SLA_METRIC),
             ("exit-plan", EXIT_PLAN)], start=1):
            response = self.post(f"/v1/contracts/{contract_id}/{path}", body, version=version)
            assert response.status_code == 200, response.json
        return contract_id

    def active_contract(self, **overrides: Any) -> str:
        """A contract activated on 2026-01-01 (version 5)."""
        contract_id = self.ready_contract(**overrides)
        response = self.post(f"/v1/contracts/{contract_id}/activation",
                             {"effective_date": "2026-01-01"}, version=4)
        assert response.status_code == 200, response.json
        return contract_id
