"""Bad configuration, through the real `ledger` entry point: exit status 1 and one line on
stderr that names the variable and what it accepts, never a traceback; nothing starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.e2e import free_port, ledger_command

pytestmark = [pytest.mark.e2e]

README = Path(__file__).resolve().parents[2] / "README.md"

# variable, a value it cannot take, what the one line must say it accepts.
BAD_VALUES = [
    ("LEDGER_DATABASE_URL", "mysql://root:secret@db/ledger", "sqlite:///path or postgresql://"),
    ("LEDGER_DATABASE_URL", "postgresql://u:secret@db:99999/ledger", "port from 1 to 65535"),
    ("LEDGER_DATABASE_URL", "postgresql://u@db/ledger?schema=a;drop", "?schema= must be a name"),
    ("LEDGER_DATABASE_URL", "sqlite://", "sqlite:///relative/path"),
    ("LEDGER_DATABASE_URL", "sqlite:////etc/hostname/ledger.db", "cannot be created"),
    ("LEDGER_BIND", "localhost", "HOST:PORT"),
    ("LEDGER_BIND", "127.0.0.1:70000", "port 0-65535"),
    ("LEDGER_WORKERS", "abc", "whole number of at least 1"),
    ("LEDGER_WORKERS", "0", "whole number of at least 1"),
    ("LEDGER_THREADS", "-4", "whole number of at least 1"),
    ("LEDGER_DB_POOL_SIZE", "1.5", "whole number of at least 1"),
    ("LEDGER_COMMIT_BATCH_SIZE", "0", "whole number of at least 1"),
    ("LEDGER_AGGREGATE_CACHE_SIZE", "1_000", "whole number of at least 0"),
    ("LEDGER_MAX_BODY_BYTES", "1MB", "whole number of at least 1"),
    ("LEDGER_IDEMPOTENCY_LEASE_SECONDS", "0", "number of seconds (more than 0"),
    ("LEDGER_AUTH_CACHE_SECONDS", "-1", "number of seconds (0 or more"),
    ("LEDGER_AUTH_FAILURE_BURST", "-1", "whole number of at least 0"),
    ("LEDGER_AUTH_FAILURES_PER_MINUTE", "0", "whole number of at least 1"),
    ("LEDGER_TRUSTED_PROXIES", "10.0.0.0/33", "IP addresses or networks"),
    ("LEDGER_DISPUTE_WINDOW_DAYS", "٣٠", "whole number of at least 0"),  # Arabic-Indic 30
    ("LEDGER_READ_WAIT_SECONDS", "nan", "number of seconds (0 or more"),
    ("LEDGER_READ_WAITERS", "many", "whole number of at least 1"),
    ("LEDGER_PROJECTION_POLL_SECONDS", "inf", "number of seconds (more than 0"),
    ("LEDGER_PROJECTION_BATCH_SIZE", " 100", "whole number of at least 1"),
    ("LEDGER_ACCESS_LOG", "/no/such/directory/access.log", "- (standard output) or a file"),
    ("LEDGER_LOG_LEVEL", "verbose", "one of debug, info, warning, error, critical"),
]
# Read by gunicorn.conf.py: checked by the commands that start gunicorn.
SERVER_VARIABLES = {"LEDGER_BIND", "LEDGER_WORKERS", "LEDGER_THREADS", "LEDGER_ACCESS_LOG",
                    "LEDGER_LOG_LEVEL"}
# Any text will do: gunicorn creates the control socket's directory itself.
ANY_TEXT = {"LEDGER_CONTROL_SOCKET"}


def documented_variables() -> set[str]:
    table = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(LEDGER_[A-Z_]+)` \|", table, flags=re.MULTILINE))


def test_every_documented_variable_has_a_bad_value_here() -> None:
    assert documented_variables() - ANY_TEXT - {name for name, _, _ in BAD_VALUES} == set()


def run_ledger(tmp_path: Path, variable: str, value: str,
               *command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db",
               LEDGER_BIND=f"127.0.0.1:{free_port()}", XDG_RUNTIME_DIR=str(tmp_path))
    env[variable] = value
    # Should a bad value be taken, `serve` would start gunicorn: stop it (and fail).
    with subprocess.Popen([ledger_command(), *command], env=env, cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"`ledger {' '.join(command)}` started with {variable}={value!r}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize(("variable", "value", "accepts"), BAD_VALUES,
                         ids=[f"{name}={value}" for name, value, _ in BAD_VALUES])
def test_a_bad_value_stops_the_command_with_one_line(tmp_path: Path, variable: str, value: str,
                                                     accepts: str) -> None:
    command = ("serve",) if variable in SERVER_VARIABLES else ("migrate",)
    done = run_ledger(tmp_path, variable, value, *command)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert variable in lines[0]
    assert accepts in lines[0]
    assert "secret" not in done.stderr, "a password is never echoed"
    assert not (tmp_path / "ledger.db").exists(), "nothing was created"


@pytest.mark.parametrize("command", [("up",), ("project",), ("apikey", "create", "--role",
                                                             "admin"), ("verify",)])
def test_every_command_checks_the_configuration_first(tmp_path: Path,
                                                      command: tuple[str, ...]) -> None:
    done = run_ledger(tmp_path, "LEDGER_DB_POOL_SIZE", "abc", *command)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "Error: LEDGER_DB_POOL_SIZE must be a whole number of at least 1, got 'abc'"]


def test_a_store_that_cannot_be_opened_is_one_line_too(tmp_path: Path) -> None:
    # A directory where the SQLite file should be: the URL parses, the store cannot open.
    (tmp_path / "ledger.db").mkdir()
    done = run_ledger(tmp_path, "LEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db",
                      "migrate")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "LEDGER_DATABASE_URL" in done.stderr
