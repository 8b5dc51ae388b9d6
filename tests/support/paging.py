"""Reading a projection-backed list over the test client, page by page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from werkzeug.test import TestResponse

from tests.support import Api


def ok(response: TestResponse) -> Any:
    """The JSON of a 200 answer that names its position in body and header alike."""
    assert response.status_code == 200, response.json
    assert response.headers["Ledger-Position"] == str(response.json["position"])
    return response.json


def walk(api: Api, path: str, after: TestResponse | int | None = None,
         **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page by page, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = ok(api.read(f"{path}?{urlencode(query)}", after))
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ran out")
