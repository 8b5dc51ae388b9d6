"""The package as it ships: a wheel installed into a fresh virtual environment serves its
API contract and docs; its metadata (version, licence, dependencies) tells the truth;
`make run` installs only what the service needs.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.e2e import free_port, ledger_command, stop

pytestmark = [pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
DISTRIBUTION = PYPROJECT["name"]
STARTUP_SECONDS = 60
# Copied to build the wheel from: the checkout minus what a build never reads.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "var", "build", "dist",
                                    "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
                                    "bench", "tests")


def requirements(names: list[str]) -> list[Requirement]:
    return [Requirement(name) for name in names]


def installed_closure(roots: list[Requirement]) -> set[str]:
    """Every distribution these requirements pull in, as installed here (extras followed)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = list(roots)
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.distribution(requirement.name).requires or []:
            needed = Requirement(text)
            marker = needed.marker
            if marker is None or any(marker.evaluate({"extra": extra})
                                     for extra in requirement.extras or {""}):
                todo.append(needed)
    return {name for name, _ in seen}


def pinned() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


# -- metadata ---------------------------------------------------------------------------

def test_the_package_version_is_the_api_version_and_ledger_version_prints_it() -> None:
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text())
    assert spec["info"]["version"] == PYPROJECT["version"]
    assert metadata.version(DISTRIBUTION) == PYPROJECT["version"], (
        "the installed metadata is stale: reinstall the package (make install)")
    printed = subprocess.run([ledger_command(), "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
    assert printed.stdout.strip() == f"ledger, version {PYPROJECT['version']}"


def test_the_licence_file_holds_the_declared_licence_in_full() -> None:
    assert PYPROJECT["license"] == "Apache-2.0"
    assert PYPROJECT["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0,")
    for clause in ("1. Definitions.", "4. Redistribution.", "9. Accepting Warranty",
                   "END OF TERMS AND CONDITIONS", "APPENDIX: How to apply the Apache License"):
        assert clause in text


def imported_distributions() -> set[str]:
    """The distributions whose modules domain/, projections/ and service/ import."""
    ours = {"domain", "projections", "service"}
    modules: set[str] = set()
    for package in ours:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    owners = metadata.packages_distributions()
    return {canonicalize_name(owners[m][0]) for m in modules - stdlib - ours}


def test_the_dependencies_are_exactly_what_the_code_imports() -> None:
    declared = {canonicalize_name(r.name) for r in requirements(PYPROJECT["dependencies"])}
    # gunicorn is run (python -m gunicorn), not imported.
    assert declared == imported_distributions() | {"gunicorn"}


def test_constraints_pin_every_installed_dependency_and_nothing_else() -> None:
    runtime = requirements(PYPROJECT["dependencies"])
    test_tools = requirements(PYPROJECT["optional-dependencies"]["test"])
    needed = installed_closure(runtime + test_tools)
    pins = pinned()
    assert sorted(needed - pins.keys()) == [], "installed but not pinned"
    assert sorted(pins.keys() - needed) == [], "pinned but nothing needs it"
    for name in needed:
        assert metadata.version(name) == pins[name], f"{name} is not at its pinned version"


def make_dry_run(target: str, venv: Path) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True).stdout


def test_make_run_installs_the_runtime_dependencies_only(tmp_path: Path) -> None:
    run = make_dry_run("run", tmp_path / "venv")
    installs = [line for line in run.splitlines() if " install " in line]
    assert installs, run
    assert all("[test]" not in line for line in installs), run
    test = make_dry_run("test", tmp_path / "venv")
    assert any("'.[test]'" in line for line in test.splitlines()), test


# -- the wheel --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout (parallel builds share no build/)."""
    source = tmp_path_factory.mktemp("source") / "src"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                            "--wheel-dir", str(out), str(source)], capture_output=True,
                           text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    [found] = out.glob("*.whl")
    return found


def test_the_wheel_ships_the_api_contract_and_the_licence(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("service/openapi.yaml") == (REPO / "openapi.yaml").read_bytes()
        dist_info = f"vendor_contract_ledger-{PYPROJECT['version']}.dist-info"
        assert archive.read(f"{dist_info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
    static = {f"service/static/{p.name}" for p in (REPO / "service" / "static").iterdir()}
    assert static <= names


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; its dependencies come from this environment's
    site-packages through a .pth line (so nothing is downloaded, and the checkout, which
    this environment has installed in editable mode, is not on its path)."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                             text=True, check=True, timeout=60).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--quiet",
                           str(wheel)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    return venv


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path,
                                                             tmp_path: Path) -> None:
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import service; print(service.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout


@pytest.fixture(scope="module")
def wheel_server(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ledger serve` of the installed wheel, run outside the checkout, on SQLite in tmp."""
    cwd = tmp_path_factory.mktemp("wheel_server")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LEDGER_", "PYTHON", "VIRTUAL_ENV"))}
    port = free_port()
    env.update(LEDGER_DATABASE_URL=f"sqlite:///{cwd}/ledger.db",
               LEDGER_BIND=f"127.0.0.1:{port}", LEDGER_WORKERS="1", LEDGER_THREADS="4",
               XDG_RUNTIME_DIR=str(cwd), PATH=f"{installed / 'bin'}:{env.get('PATH', '')}")
    ledger = str(installed / "bin" / "ledger")
    migrated = subprocess.run([ledger, "migrate"], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    log = cwd / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([ledger, "serve"], env=env, cwd=cwd, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow under load
                time.sleep(0.2)
        else:
            pytest.fail(f"the installed `ledger serve` did not start:\n{log.read_text()}")
        yield base
    finally:
        stop(process)  # type: ignore[arg-type]


def test_the_installed_wheel_serves_its_contract_docs_and_assets(wheel_server: str) -> None:
    spec = requests.get(wheel_server + "/openapi.yaml", timeout=30)
    assert spec.status_code == 200, spec.text
    assert spec.headers["Content-Type"].startswith("application/yaml")
    assert spec.content == (REPO / "openapi.yaml").read_bytes()
    docs = requests.get(wheel_server + "/docs", timeout=30)
    assert docs.status_code == 200, docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "docs.js"):
        assert f"/docs/{asset}" in docs.text
        served = requests.get(f"{wheel_server}/docs/{asset}", timeout=30)
        assert served.status_code == 200, asset
        assert served.content == (REPO / "service" / "static" / asset).read_bytes()
