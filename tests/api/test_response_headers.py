"""Response headers: nothing is sniffed, nothing answered for a token is stored by a
cache, and /docs runs under a Content-Security-Policy that still lets it work."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service.http.operations import STATIC_DIR
from tests.support import Api


def fetch(app: Flask, path: str, **headers: str) -> TestResponse:
    response = app.test_client().get(path, headers=headers)
    response.get_data()
    response.close()  # static files are streamed from an open file
    return response


PUBLIC = ["/healthz", "/readyz", "/openapi.yaml", "/docs", "/docs/docs.js",
          "/docs/swagger-ui.css", "/problems/not-found", "/problems/nope"]
AUTHENTICATED = ["/v1/contracts", "/v1/vendors", "/v1/audit", "/v1/contracts/{id}",
                 "/v1/contracts/{id}/events", "/v1/contracts/{id}/audit",
                 "/v1/contracts/{id}/credits", "/v1/vendors/acme/scorecard",
                 "/v1/contracts/00000000-0000-4000-8000-000000000000", "/v1/contracts?limit=0"]


@pytest.fixture
def contract_id(api: Api) -> str:
    return str(api.draft().json["id"])


@pytest.mark.parametrize("path", [*PUBLIC, *AUTHENTICATED, "/no/such/route"])
@pytest.mark.parametrize("token", [True, False])
def test_no_response_may_be_sniffed(path: str, token: bool, app: Flask, contract_id: str,
                                    as_role: Callable[[str], Api]) -> None:
    headers = as_role("auditor").headers() if token else {}
    response = fetch(app, path.format(id=contract_id), **headers)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", AUTHENTICATED)
@pytest.mark.parametrize("role", ["admin", "auditor", "vendor", "integration"])
def test_answers_for_a_token_are_never_stored(path: str, role: str, app: Flask,
                                              contract_id: str,
                                              as_role: Callable[[str], Api]) -> None:
    # Successes and refusals alike (an integration token is 403 on most of these).
    response = fetch(app, path.format(id=contract_id), **as_role(role).headers())
    assert response.headers["Cache-Control"] == "no-store"


def test_writes_and_their_refusals_are_never_stored(api: Api, contract_id: str,
                                                    anonymous: Api) -> None:
    written = api.post(f"/v1/contracts/{contract_id}/point-of-contact",
                       {"name": "Ana", "email": "ana@acme.example"}, version=1)
    refused = api.post(f"/v1/contracts/{contract_id}/point-of-contact", {}, version=1)
    unauthenticated = anonymous.get("/v1/contracts")
    for response in (api.draft(), written, refused, unauthenticated):
        assert response.headers["Cache-Control"] == "no-store", response.status_code


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_is_never_stored_either(path: str, app: Flask) -> None:
    assert fetch(app, path).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/openapi.yaml", "/docs", "/docs/swagger-ui-bundle.js"])
def test_the_public_contract_and_docs_may_be_kept_but_are_revalidated(path: str,
                                                                       app: Flask) -> None:
    cache_control = fetch(app, path).headers.get("Cache-Control", "")
    assert "no-store" not in cache_control
    assert "immutable" not in cache_control


def policy(response: TestResponse) -> dict[str, list[str]]:
    directives = [d.split() for d in response.headers["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.styles: list[str] = []
        self.inline_styles = 0
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self.scripts.append(attributes.get("src"))
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.styles.append(attributes["href"] or "")
        if tag == "style" or "style" in attributes:
            self.inline_styles += 1


def test_docs_run_under_a_policy_that_allows_exactly_what_the_page_loads(app: Flask) -> None:
    response = fetch(app, "/docs")
    csp = policy(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval
    assert csp["frame-ancestors"] == ["'none'"]
    page = _Page()
    page.feed(response.get_data(as_text=True))
    # Every script the page runs is a file of this server (allowed by 'self')...
    assert page.scripts
    assert all(src and src.startswith("/docs/") for src in page.scripts)
    assert page.handlers == []
    # ...as is every stylesheet; the page's inline style is allowed too.
    assert page.styles
    assert all(href.startswith("/docs/") for href in page.styles)
    assert "'self'" in csp["style-src"]
    assert page.inline_styles == 0 or "'unsafe-inline'" in csp["style-src"]
    # The stylesheet's icons are data: images; docs.js fetches /openapi.yaml from here.
    css = (STATIC_DIR / "swagger-ui.css").read_text()
    assert "data:image" in css
    assert "data:" in csp["img-src"]
    assert re.search(r'url:\s*"/openapi.yaml"', (STATIC_DIR / "docs.js").read_text())
    assert csp["connect-src"] == ["'self'"]
    for asset in page.scripts + page.styles:
        assert fetch(app, asset or "").status_code == 200, asset


@pytest.mark.parametrize("path", ["/v1/contracts", "/healthz", "/openapi.yaml", "/nope"])
def test_everything_but_the_docs_may_load_nothing_at_all(path: str, app: Flask,
                                                         api: Api) -> None:
    csp = policy(fetch(app, path, **api.headers()))
    assert csp == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}


def test_the_docs_assets_have_one_address_only(client: FlaskClient) -> None:
    # Flask's default /static route would serve them again, undocumented.
    with client.get("/docs/docs.js") as served:
        assert served.status_code == 200
    with client.get("/static/docs.js") as again:
        assert again.status_code == 404
