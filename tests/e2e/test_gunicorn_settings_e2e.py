"""`ledger serve` as an operator runs it: instances on one host share no path, and every
answer carries the security headers (over real HTTP, on SQLite)."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.e2e import free_port, ledger, ledger_command, stop

pytestmark = pytest.mark.e2e


def serve(tmp_path: Path, **extra: str) -> Iterator[str]:
    """Run `ledger serve` with a home directory of its own and no XDG_RUNTIME_DIR (where
    gunicorn would put its control socket by default); yield its base URL."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LEDGER_") and k != "XDG_RUNTIME_DIR"}
    env.update(HOME=str(home), LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db",
               LEDGER_WORKERS="1", LEDGER_THREADS="2", **extra)
    assert ledger(env, tmp_path, "migrate").returncode == 0
    port = free_port()
    env["LEDGER_BIND"] = f"127.0.0.1:{port}"
    with (tmp_path / "gunicorn.log").open("ab") as log:
        process = subprocess.Popen([ledger_command(), "serve"], env=env, cwd=tmp_path,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "ledger serve did not start"
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow under load
                time.sleep(0.2)
        yield base
    finally:
        stop(process)


@pytest.fixture
def home_server(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path)


def test_no_control_socket_is_bound_in_the_users_home(home_server: str,
                                                      tmp_path: Path) -> None:
    # gunicorn 25.1+ binds ~/.gunicorn/gunicorn.ctl by default: one path for every
    # instance of the user on the host.
    assert not (tmp_path / "home" / ".gunicorn").exists()
    assert list((tmp_path / "home").iterdir()) == []


def test_an_instance_may_ask_for_a_control_socket_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "control" / "ledger-a.ctl"
    for _ in serve(tmp_path, LEDGER_CONTROL_SOCKET=str(path)):
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert not (tmp_path / "home" / ".gunicorn").exists()


def test_headers_over_real_http(home_server: str) -> None:
    unauthenticated = requests.get(home_server + "/v1/contracts", timeout=5)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["X-Content-Type-Options"] == "nosniff"
    assert unauthenticated.headers["Cache-Control"] == "no-store"
    docs = requests.get(home_server + "/docs", timeout=5)
    assert docs.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in docs.headers["Content-Security-Policy"]
