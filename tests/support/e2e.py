"""What the end-to-end modules share: the `ledger` console script, a migrated store, and
gunicorn started on a free port and stopped by its process group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

STARTUP_SECONDS = 60
STOP_SECONDS = 30


def ledger_command() -> str:
    """The `ledger` console script of this environment (e.g. .venv/bin/ledger)."""
    beside = Path(sys.executable).with_name("ledger")
    if beside.is_file():
        return str(beside)
    found = shutil.which("ledger")
    if found is None:
        pytest.fail("the `ledger` console script is not installed: run `make install`")
    return found


def ledger(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ledger_command(), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Store:
    url: str
    schema: str
    env: dict[str, str]
    cwd: Path


@dataclass
class Server:
    base: str
    procurement: str
    auditor: str
    log: Path

    def url(self, path: str) -> str:
        return self.base + path


def create_key(store: Store, role: str) -> str:
    created = ledger(store.env, store.cwd, "apikey", "create", "--role", role,
                     "--label", f"e2e {role}")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("lgr_"), created.stdout
    assert "\n" not in token, "stdout must hold the token alone (scripts capture it)"
    return token


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM gunicorn's whole process group; SIGKILL it if it will not go."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_SECONDS)


def start(store: Store, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `ledger serve` on a free port; retry if another process took the port."""
    for _ in range(3):
        port = free_port()
        env = {**store.env, "LEDGER_BIND": f"127.0.0.1:{port}", "LEDGER_WORKERS": "2",
               "LEDGER_THREADS": "4"}
        with log.open("ab") as out:
            process = subprocess.Popen([ledger_command(), "serve"], env=env, cwd=store.cwd,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    return process, base
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow under load
                pass
            time.sleep(0.2)
        stop(process)
        if "Address already in use" not in log.read_text(errors="replace"):
            break
    pytest.fail(f"gunicorn did not become ready:\n{log.read_text(errors='replace')[-4000:]}")


def call(server: Server, method: str, path: str, token: str | None, body: Any = None,
         version: int | None = None, **headers: str) -> requests.Response:
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if version is not None:
        sent["If-Match"] = f'"{version}"'
    return requests.request(method, server.url(path), json=body, headers=sent, timeout=30)


