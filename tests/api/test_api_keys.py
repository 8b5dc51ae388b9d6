"""API keys: listed, revoked everywhere within a second, expiring, and failed
authentication limited per client address (`ledger apikey ...` and the API)."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from service.application import ContractLedger
from service.auth import create_api_key, hash_token
from service.cli import main
from service.config import ConfigError, Settings
from tests.conftest import POSTGRES_URL, postgres_schema

# A worker checks for revocations at most this often (Authenticator's default).
REVOCATION_CHECK_SECONDS = 0.5


def ledger_cli(store_url: str, *args: str) -> Result:
    """Run `ledger ...` against a store, as an operator would."""
    return CliRunner().invoke(main, list(args), env={"LEDGER_DATABASE_URL": store_url},
                              catch_exceptions=False)


def worker(store_url: str, **settings: object) -> FlaskClient:
    """One web worker: an app with its own ledger and its own authentication cache."""
    app = create_app(Settings(database_url=store_url, **settings))  # type: ignore[arg-type]
    return app.test_client()


def created_token(result: Result) -> tuple[str, str]:
    """The key id and token that `ledger apikey create` printed."""
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    key_id = re.fullmatch(r"lgr_([0-9a-f]{16})_\S+", token)
    assert key_id, result.stdout
    return key_id[1], token


def get(client: FlaskClient, token: str, address: str = "127.0.0.1") -> tuple[int, dict]:
    response = client.get("/v1/contracts", headers={"Authorization": f"Bearer {token}"},
                          environ_base={"REMOTE_ADDR": address})
    return response.status_code, response.json or {}


def listed(store_url: str) -> dict[str, dict[str, str]]:
    """`ledger apikey list`, read back as {key id: {column: value}}."""
    result = ledger_cli(store_url, "apikey", "list")
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    # Columns are aligned: each starts where its title does (titles hold single spaces).
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    assert names == ["id", "role", "vendor", "label", "created", "expires", "last used",
                     "revoked"]
    rows = {}
    for line in lines:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


class TestListing:
    def test_list_shows_id_role_vendor_label_created_and_last_used_never_a_token(
        self, fresh_store_url: str
    ) -> None:
        admin_id, admin = created_token(
            ledger_cli(fresh_store_url, "apikey", "create", "--role", "admin", "--label", "ops"))
        vendor_id, _ = created_token(ledger_cli(
            fresh_store_url, "apikey", "create", "--role", "vendor", "--vendor", "acme",
            "--label", "acme portal", "--expires", "90d"))
        before = listed(fresh_store_url)
        assert before[admin_id]["role"] == "admin"
        assert before[admin_id]["vendor"] == "-"
        assert before[admin_id]["label"] == "ops"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", before[admin_id]["created"])
        assert before[admin_id]["last used"] == "-"
        assert before[admin_id]["expires"] == "-"
        assert before[vendor_id]["vendor"] == "acme"
        assert before[vendor_id]["label"] == "acme portal"
        assert before[vendor_id]["expires"] > before[vendor_id]["created"]
        assert get(worker(fresh_store_url), admin)[0] == 200
        after = listed(fresh_store_url)
        assert after[admin_id]["last used"] >= after[admin_id]["created"]
        assert after[vendor_id]["last used"] == "-"
        assert "lgr_" not in ledger_cli(fresh_store_url, "apikey", "list").stdout

    def test_last_use_is_written_at_most_once_a_minute_per_key(
        self, fresh_store_url: str, fresh_ledger: ContractLedger
    ) -> None:
        key_id, token = create_api_key(fresh_ledger.tables, "auditor")
        client = worker(fresh_store_url, auth_cache_seconds=0.0)  # every request looks up
        assert get(client, token)[0] == 200
        first = _last_used_at(fresh_ledger, key_id)
        assert first is not None
        for _ in range(5):
            assert get(client, token)[0] == 200
        assert _last_used_at(fresh_ledger, key_id) == first  # to the microsecond: no write


def _last_used_at(ledger: ContractLedger, key_id: str) -> str | None:
    return next(k["last_used_at"] for k in ledger.tables.list_api_keys() if k["key_id"] == key_id)


class TestRevocation:
    def test_a_revoked_key_is_refused_by_every_worker_within_a_second(
        self, fresh_store_url: str
    ) -> None:
        key_id, token = created_token(
            ledger_cli(fresh_store_url, "apikey", "create", "--role", "auditor"))
        workers = [worker(fresh_store_url), worker(fresh_store_url)]
        assert [get(w, token)[0] for w in workers] == [200, 200]  # both have it cached now
        result = ledger_cli(fresh_store_url, "apikey", "revoke", key_id)
        assert result.exit_code == 0, result.output
        assert f"key {key_id} (auditor) revoked at" in result.stdout
        time.sleep(REVOCATION_CHECK_SECONDS + 0.1)
        for w in workers:
            status, body = get(w, token)
            assert status == 401
            assert body["type"] == "/problems/unauthenticated"
            assert body["detail"] == "the bearer token has been revoked"

    def test_revocation_is_kept_as_a_fact_and_happens_once(self, fresh_store_url: str) -> None:
        key_id, _ = created_token(
            ledger_cli(fresh_store_url, "apikey", "create", "--role", "auditor"))
        ledger_cli(fresh_store_url, "apikey", "revoke", key_id)
        revoked_at = listed(fresh_store_url)[key_id]["revoked"]
        assert revoked_at != "-"
        again = ledger_cli(fresh_store_url, "apikey", "revoke", key_id)
        assert again.exit_code == 0
        assert "was already revoked" in again.stdout
        assert listed(fresh_store_url)[key_id]["revoked"] == revoked_at  # still listed

    def test_revoking_an_unknown_key_fails_and_says_so(self, fresh_store_url: str) -> None:
        result = CliRunner().invoke(main, ["apikey", "revoke", "0123456789abcdef"],
                                    env={"LEDGER_DATABASE_URL": fresh_store_url})
        assert result.exit_code == 1
        assert "no API key '0123456789abcdef'" in result.output

    def test_other_keys_keep_working(self, fresh_store_url: str) -> None:
        revoked_id, revoked = created_token(
            ledger_cli(fresh_store_url, "apikey", "create", "--role", "auditor"))
        _, kept = created_token(
            ledger_cli(fresh_store_url, "apikey", "create", "--role", "auditor"))
        client = worker(fresh_store_url)
        assert get(client, kept)[0] == get(client, revoked)[0] == 200
        ledger_cli(fresh_store_url, "apikey", "revoke", revoked_id)
        time.sleep(REVOCATION_CHECK_SECONDS + 0.1)
        assert get(client, revoked)[0] == 401
        assert get(client, kept)[0] == 200


class TestExpiry:
    def test_an_expired_key_is_401_cached_or_not(self, fresh_store_url: str) -> None:
        _, token = created_token(ledger_cli(
            fresh_store_url, "apikey", "create", "--role", "auditor", "--expires", "1s"))
        cached = worker(fresh_store_url)
        assert get(cached, token)[0] == 200
        time.sleep(1.1)
        for client in (cached, worker(fresh_store_url)):
            status, body = get(client, token)
            assert status == 401
            assert body["type"] == "/problems/unauthenticated"
            assert body["detail"].startswith("the bearer token expired at ")

    @pytest.mark.parametrize("expires", ["2099-01-01T00:00:00Z", "2099-01-01T02:00:00+02:00",
                                         "30d", "12h", "P90D", "PT1H"])
    def test_expires_takes_an_instant_or_a_duration(self, fresh_store_url: str,
                                                    expires: str) -> None:
        key_id, token = created_token(ledger_cli(
            fresh_store_url, "apikey", "create", "--role", "auditor", "--expires", expires))
        assert get(worker(fresh_store_url), token)[0] == 200
        assert listed(fresh_store_url)[key_id]["expires"] != "-"

    @pytest.mark.parametrize(("expires", "says"), [
        ("2020-01-01T00:00:00Z", "not in the future"),
        ("2099-01-01T00:00:00", "needs a UTC offset"),
        ("0d", "longer than zero"),
        ("soon", "neither an ISO 8601 instant nor a duration"),
        ("P999999999W", "too long"),
        ("", "neither an ISO 8601 instant nor a duration"),
    ])
    def test_a_bad_expiry_is_refused_and_creates_nothing(
        self, fresh_store_url: str, expires: str, says: str
    ) -> None:
        result = CliRunner().invoke(main, ["apikey", "create", "--role", "auditor",
                                           "--expires", expires],
                                    env={"LEDGER_DATABASE_URL": fresh_store_url})
        assert result.exit_code == 2
        assert says in result.output
        assert "lgr_" not in result.output
        assert listed(fresh_store_url) == {}


class TestFailedAuthenticationLimit:
    @pytest.fixture
    def limited(self, fresh_store_url: str, fresh_ledger: ContractLedger) -> FlaskClient:
        settings = Settings(database_url=fresh_store_url, auth_failure_burst=5,
                            auth_failures_per_minute=2)
        return create_app(settings, fresh_ledger).test_client()

    def test_too_many_bad_tokens_from_one_address_are_429_with_retry_after(
        self, limited: FlaskClient
    ) -> None:
        statuses = [get(limited, f"lgr_nope_{n}", "198.51.100.7")[0] for n in range(8)]
        assert statuses == [401] * 5 + [429] * 3
        response = limited.get("/v1/contracts", headers={"Authorization": "Bearer lgr_x"},
                               environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert response.status_code == 429
        assert response.mimetype == "application/problem+json"
        assert response.json["type"] == "/problems/too-many-failed-authentications"
        assert 1 <= int(response.headers["Retry-After"]) <= 30  # one failure back: 30 s

    def test_once_limited_no_token_is_looked_up_not_even_a_valid_one(
        self, limited: FlaskClient, fresh_ledger: ContractLedger
    ) -> None:
        _, valid = create_api_key(fresh_ledger.tables, "auditor")
        for n in range(5):
            get(limited, f"lgr_nope_{n}", "198.51.100.8")
        # A lookup would have found this key: refused unread, the database was spared.
        assert get(limited, valid, "198.51.100.8")[0] == 429
        assert get(limited, valid, "198.51.100.9")[0] == 200  # another address is not limited

    def test_a_token_this_worker_knows_still_works_from_a_limited_address(
        self, limited: FlaskClient, fresh_ledger: ContractLedger
    ) -> None:
        _, valid = create_api_key(fresh_ledger.tables, "auditor")
        assert get(limited, valid, "198.51.100.10")[0] == 200
        for n in range(6):
            get(limited, f"lgr_nope_{n}", "198.51.100.10")
        assert get(limited, valid, "198.51.100.10")[0] == 200

    def test_good_tokens_use_up_nothing(self, limited: FlaskClient,
                                        fresh_ledger: ContractLedger) -> None:
        tokens = [create_api_key(fresh_ledger.tables, "auditor")[1] for _ in range(10)]
        assert [get(limited, t, "198.51.100.11")[0] for t in tokens] == [200] * 10
        assert [get(limited, f"lgr_nope_{n}", "198.51.100.11")[0] for n in range(6)] == \
            [401] * 5 + [429]

    def test_valid_keys_looked_up_at_once_are_never_limited(
        self, fresh_store_url: str, fresh_ledger: ContractLedger,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Given more valid keys than the burst, unknown to this worker, sent at once from one
        # address (a proxy after a restart): every lookup is in flight before any answers.
        settings = Settings(database_url=fresh_store_url, auth_failure_burst=2,
                            auth_failures_per_minute=1)
        app = create_app(settings, fresh_ledger)
        tokens = [create_api_key(fresh_ledger.tables, "auditor")[1] for _ in range(6)]
        find = fresh_ledger.tables.find_api_key

        def slow_find(digest: str) -> Any:
            time.sleep(0.5)  # the others ask meanwhile
            return find(digest)

        monkeypatch.setattr(fresh_ledger.tables, "find_api_key", slow_find)
        with ThreadPoolExecutor(len(tokens)) as pool:
            statuses = list(pool.map(
                lambda token: get(app.test_client(), token, "198.51.100.20")[0], tokens))
        assert statuses == [200] * len(tokens)

    def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
        self, limited: FlaskClient
    ) -> None:
        def from_proxy(n: int) -> int:
            return limited.get("/v1/contracts", headers={
                "Authorization": f"Bearer lgr_nope_{n}",
                "X-Forwarded-For": f"203.0.113.{n}"},  # a client could write anything here
                environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code
        assert [from_proxy(n) for n in range(6)] == [401] * 5 + [429]

    def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
        self, fresh_store_url: str, fresh_ledger: ContractLedger
    ) -> None:
        settings = Settings.from_env({"LEDGER_DATABASE_URL": fresh_store_url,
                                      "LEDGER_AUTH_FAILURE_BURST": "2",
                                      "LEDGER_TRUSTED_PROXIES": "192.0.2.0/24"})
        client = create_app(settings, fresh_ledger).test_client()

        def via_proxy(client_address: str) -> int:
            return client.get("/v1/contracts", headers={
                "Authorization": "Bearer lgr_nope",
                # the client's claim, then the address our proxy saw and appended
                "X-Forwarded-For": f"10.9.9.9, {client_address}"},
                environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code
        assert [via_proxy("203.0.113.1") for _ in range(3)] == [401, 401, 429]
        assert [via_proxy("203.0.113.2") for _ in range(3)] == [401, 401, 429]

    def test_a_missing_or_malformed_header_costs_no_lookup_and_is_not_limited(
        self, limited: FlaskClient
    ) -> None:
        for _ in range(8):
            assert limited.get("/v1/contracts", headers={"Authorization": "Basic eDp5"},
                               environ_base={"REMOTE_ADDR": "198.51.100.12"}).status_code == 401
        assert get(limited, "lgr_nope", "198.51.100.12")[0] == 401

    def test_the_limit_can_be_turned_off(self, fresh_store_url: str,
                                         fresh_ledger: ContractLedger) -> None:
        settings = Settings(database_url=fresh_store_url, auth_failure_burst=0)
        client = create_app(settings, fresh_ledger).test_client()
        assert {get(client, f"lgr_nope_{n}", "198.51.100.13")[0] for n in range(30)} == {401}

    def test_the_session_app_limits_with_the_defaults(self, app: Flask) -> None:
        client = app.test_client()
        defaults = Settings()
        statuses = [get(client, f"lgr_nope_{n}", "198.51.100.14")[0]
                    for n in range(defaults.auth_failure_burst + 1)]
        assert statuses == [401] * defaults.auth_failure_burst + [429]


# -- `ledger migrate` upgrades an API key table created before these columns ----------

OLD_API_KEYS = ("CREATE TABLE {table} (key_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL "
                "UNIQUE, role TEXT NOT NULL, vendor_id TEXT, label TEXT, "
                "created_at TEXT NOT NULL)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A store whose API key table has the first release's columns, with one key in it:
    its URL and that key's token."""
    token = "lgr_00112233aabbccdd_from-before"
    row = ("00112233aabbccdd", hash_token(token), "auditor", None, "old",
           "2025-01-01T00:00:00+00:00")
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        with sqlite3.connect(path) as conn:
            conn.execute(OLD_API_KEYS.format(table="ledger_api_keys"))
            conn.execute("INSERT INTO ledger_api_keys VALUES (?, ?, ?, ?, ?, ?)", row)
        yield f"sqlite:///{path}", token
        return
    with postgres_schema("ledger_old") as url:
        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(OLD_API_KEYS.format(table=f'"{schema}".ledger_api_keys'))
            conn.execute(f'INSERT INTO "{schema}".ledger_api_keys VALUES '
                         "(%s, %s, %s, %s, %s, %s)", row)
        yield url, token


def test_migrate_upgrades_an_old_api_key_table_idempotently(
    old_store: tuple[str, str],
) -> None:
    url, token = old_store
    for _ in range(2):  # twice: idempotent
        result = ledger_cli(url, "migrate")
        assert result.exit_code == 0, result.output
    assert get(worker(url), token)[0] == 200  # the old key works, and its use is recorded
    keys = listed(url)
    assert keys["00112233aabbccdd"]["label"] == "old"
    assert keys["00112233aabbccdd"]["last used"] != "-"
    assert ledger_cli(url, "apikey", "revoke", "00112233aabbccdd").exit_code == 0
    assert get(worker(url), token)[0] == 401
    _, new = created_token(ledger_cli(url, "apikey", "create", "--role", "auditor",
                                      "--expires", "1h"))
    assert get(worker(url), new)[0] == 200


def test_settings_name_what_the_limit_variables_accept() -> None:
    for name, value in [("LEDGER_AUTH_FAILURE_BURST", "-1"),
                        ("LEDGER_AUTH_FAILURES_PER_MINUTE", "0"),
                        ("LEDGER_TRUSTED_PROXIES", "10.0.0.0/33"),
                        ("LEDGER_TRUSTED_PROXIES", "proxy.example")]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})
