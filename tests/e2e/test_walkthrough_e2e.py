"""The README's examples run as written: they are quoted from examples/walkthrough.sh, and
the script runs against `ledger up` (gunicorn and the projection runner) on both stores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import STORES, postgres_schema
from tests.support.e2e import free_port, ledger_command, stop

pytestmark = [pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "walkthrough.sh"
README = REPO / "README.md"
STARTUP_SECONDS = 60


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


def api_examples() -> list[str]:
    """The README's shell examples that talk to the API."""
    return [block for block in shell_blocks(README.read_text())
            if "/v1/" in block or "curl " in block]


def test_the_readme_quotes_its_api_examples_from_the_script_verbatim() -> None:
    script = SCRIPT.read_text()
    examples = api_examples()
    assert len(examples) >= 3, "the quick start, SLA and read-side examples"
    for block in examples:
        assert block in script, f"README block not in {SCRIPT.name}:\n{block}"


def test_the_quick_start_value_is_the_one_the_sla_arithmetic_uses() -> None:
    # 1,096 days (2026-2028) at 1,000.00 EUR a day; January's fee is 31,000.00 EUR.
    readme = README.read_text()
    assert "1,096,000.00 EUR over" in readme
    assert '"value": {"amount": "1096000.00", "currency": "EUR"}' in SCRIPT.read_text()
    assert "1200000.00" not in "".join(api_examples())


def test_the_script_defines_every_variable_it_uses() -> None:
    script = SCRIPT.read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", code))
    assigned = set(re.findall(r"(?<![\w$])([A-Za-z_]\w*)=", code))
    for names in re.findall(r"^\s*local ([A-Za-z_ ]+)$", code, flags=re.MULTILINE):
        assigned |= set(names.split())
    assert used - assigned == set()
    assert 'If-Match: "' not in script, "If-Match comes from the last ETag, never a literal"


@pytest.fixture(params=STORES)
def live_service(request: pytest.FixtureRequest,
                 tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`ledger up` on a fresh store, with a procurement and an acme vendor token."""
    if request.param == "postgres":
        with postgres_schema("ledger_walk") as url:
            yield from _serve(url, tmp_path)
    else:
        yield from _serve(f"sqlite:///{tmp_path}/ledger.db", tmp_path)


def _serve(url: str, cwd: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    port = free_port()
    env.update(LEDGER_DATABASE_URL=url, LEDGER_BIND=f"127.0.0.1:{port}", LEDGER_WORKERS="2",
               LEDGER_THREADS="4", XDG_RUNTIME_DIR=str(cwd))

    def ledger(*args: str) -> str:
        done = subprocess.run([ledger_command(), *args], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    ledger("migrate")
    tokens = {"TOKEN": ledger("apikey", "create", "--role", "procurement"),
              "VENDOR_TOKEN": ledger("apikey", "create", "--role", "vendor", "--vendor", "acme")}
    log = cwd / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen([ledger_command(), "up"], env=env, cwd=cwd, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while up.poll() is None and time.monotonic() < deadline:
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow under load
                time.sleep(0.2)
        else:
            pytest.fail(f"`ledger up` did not become ready:\n{log.read_text()[-4000:]}")
        yield base, tokens
    finally:
        stop(up)  # type: ignore[arg-type]


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")),
                    reason="the walkthrough needs curl and jq")
def test_the_walkthrough_runs_as_written(live_service: tuple[str, dict[str, str]],
                                         tmp_path: Path) -> None:
    base, tokens = live_service
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(tokens)
    done = subprocess.run(["bash", str(SCRIPT), base], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    # The figures the README states, checked by the script against the answers.
    assert "  .penalties[0].amount.amount = 1550.00" in done.stderr
    assert "  .totals.overall.credits_owed_by_vendor.amount = 775.00" in done.stderr
    statuses = [line.split()[0] for line in done.stderr.splitlines()
                if line[:1].isdigit()]
    assert statuses[0] == "201", done.stderr
    assert set(statuses[1:]) == {"200"}, done.stderr
    # Every write was sent with the ETag the one before answered: versions only grow.
    etags = [int(m) for m in re.findall(r'^\d+ POST \S+  ETag: "(\d+)"$', done.stderr,
                                        flags=re.MULTILINE)]
    assert etags == sorted(set(etags)), etags
    assert (etags[0], etags[-1]) == (1, 17), etags
