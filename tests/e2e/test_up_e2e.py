"""End to end: `ledger up` (what `make run` and the image run) on the embedded SQLite store.

Web and projection runner start together; a write is readable from a list at once (with
its position); a runner that dies is started again; SIGTERM stops both, cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import contract_body
from tests.support.e2e import free_port, ledger_command

pytestmark = [pytest.mark.e2e]

STARTUP_SECONDS = 60


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def runner_of(up: subprocess.Popen[bytes]) -> int | None:
    found = [p for p in children(up.pid) if "service.cli project" in command_line(p)]
    return found[0] if found else None


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    port = free_port()
    env.update(LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db",
               LEDGER_BIND=f"127.0.0.1:{port}", LEDGER_WORKERS="1", LEDGER_THREADS="4",
               XDG_RUNTIME_DIR=str(tmp_path))
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "timeout": 120}
    assert subprocess.run([ledger_command(), "migrate"], check=False, **run).returncode == 0
    token = subprocess.run([ledger_command(), "apikey", "bootstrap"], check=True,
                           **run).stdout.strip()
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen([ledger_command(), "up"], env=env, cwd=tmp_path, stdout=log,
                          stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow under load
            time.sleep(0.2)
    try:
        yield up, base, token
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(30)
        log.close()


def draft_and_list(base: str, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    drafted = requests.post(base + "/v1/contracts", json=contract_body(), headers=auth,
                            timeout=30)
    assert drafted.status_code == 201, drafted.text
    position = drafted.headers["Ledger-Position"]
    listed = requests.get(f"{base}/v1/contracts?min_position={position}", headers=auth,
                          timeout=30)
    assert listed.status_code == 200, listed.text
    assert drafted.json()["id"] in [item["id"] for item in listed.json()["items"]]


def test_web_and_runner_run_together_and_a_dead_runner_is_restarted(
        service: tuple[subprocess.Popen[bytes], str, str]) -> None:
    up, base, token = service
    # Given both running: a write is in the list as soon as the runner folded it
    draft_and_list(base, token)
    # When the runner dies
    runner = runner_of(up)
    assert runner is not None
    os.kill(runner, signal.SIGKILL)
    # Then another takes its place, and lists follow the writes again
    deadline = time.monotonic() + STARTUP_SECONDS
    while runner_of(up) in (None, runner) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runner_of(up) not in (None, runner)
    draft_and_list(base, token)
    # And SIGTERM stops both, as a success
    up.send_signal(signal.SIGTERM)
    assert up.wait(60) == 0
