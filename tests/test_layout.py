"""The test tree's layout: what several test modules share lives in tests/support (or a
conftest.py), so no test module imports another, and the unit tests' builders stay pure."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

IO_MODULES = {"flask", "werkzeug", "marshmallow", "psycopg", "sqlite3", "requests", "socket",
              "subprocess", "os", "pathlib", "service", "projections", "tests"}
"""Roots a pure domain builder has no business importing: the web, storage, the OS, the
service's edges (and other test helpers, which may do any of these)."""


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imports_of(source: str, module: str) -> Iterator[tuple[int, str]]:
    """Each module the source of module imports, as (line, dotted name); `from p import n`
    yields p.n as well, since n may be a module."""
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb from the module's package
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def imported(path: Path) -> Iterator[tuple[int, str]]:
    return imports_of(path.read_text(), module_name(path))


def is_test_module(name: str) -> bool:
    return name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")


def test_no_test_module_imports_another_test_module() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                 for path in sorted(TESTS.rglob("*.py"))
                 for line, name in imported(path)
                 if is_test_module(name)]
    assert offenders == [], "move what they share into tests/support:\n" + "\n".join(offenders)


def test_every_way_of_importing_a_test_module_is_seen() -> None:
    for source in ("import tests.api.test_x", "from tests.api.test_x import thing",
                   "from tests.api import test_x", "from ..api.test_x import thing",
                   "from ..api import test_x", "from . import test_y"):
        names = [name for _, name in imports_of(source, "tests.unit.probe")]
        assert any(is_test_module(name) for name in names), source
    support = [name for _, name in imports_of("from tests.support import Api\n"
                                              "from ..support.bodies import PENALTY_RULE",
                                              "tests.unit.probe")]
    assert not any(is_test_module(name) for name in support)


def test_the_unit_test_builders_do_no_io() -> None:
    builders = TESTS / "support" / "domain.py"
    roots = {name.split(".", 1)[0] for _, name in imported(builders)}
    assert roots & IO_MODULES == set()
