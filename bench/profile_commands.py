"""Profile the ledger's request path in-process (Flask test client, no HTTP server).

    .venv/bin/python bench/profile_commands.py                      # 2,000 commands on PostgreSQL
    .venv/bin/python bench/profile_commands.py --workload gets --store sqlite

One request at a time, so the figures are the CPU cost of one request without any
contention: the request thread and the group-commit thread are profiled separately
(cProfile sees one thread each). Prints wall and CPU time per request, database calls
per request, and the top functions. A fresh PostgreSQL schema (or SQLite file) is
made and dropped.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from service.app import build_ledger, create_app  # noqa: E402
from service.auth import create_api_key  # noqa: E402
from service.committer import GroupCommitter  # noqa: E402
from service.config import Settings  # noqa: E402
from tests.support import contract_body  # noqa: E402

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--workload", choices=("commands", "gets"), default="commands")
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("--commands-per-contract", type=int, default=20)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--mode", choices=("sample", "cprofile", "time"), default="sample",
                        help="sample: CPU-time sampler, group commit done in the request "
                        "thread so every CPU second is attributed; cprofile: deterministic "
                        "per-function profile of both threads (inflates small calls); time: "
                        "timing only")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    args = parser.parse_args()

    schema = f"bench_prof_{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix="ledger-prof-"))
    url = (f"{args.pg_url}?schema={schema}" if args.store == "postgres"
           else f"sqlite:///{tmp}/ledger.db")
    settings = Settings.from_env({"LEDGER_DATABASE_URL": url})
    ledger = None
    try:
        # Migrate exactly as operators do; then build the application as a web worker does.
        subprocess.run([str(Path(sys.executable).parent / "ledger"), "migrate"], check=True,
                       env={**os.environ, "LEDGER_DATABASE_URL": url}, capture_output=True)
        ledger = build_ledger(settings)
        _, token = create_api_key(ledger.tables, "procurement", label="profile")
        app = create_app(settings, ledger)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        committer_profile = cProfile.Profile()
        if args.mode == "cprofile":
            _profile_committer(ledger.committer, committer_profile)
        elif args.mode == "sample":
            _commit_in_caller(ledger.committer)

        state: dict[str, Any] = {"id": None, "version": 0, "done": 0, "n": 0}

        def command() -> None:
            if state["id"] is None or state["done"] >= args.commands_per_contract:
                response = client.post("/v1/contracts", json=contract_body(), headers=headers)
                assert response.status_code == 201, response.json
                state.update(id=(response.json or {})["id"], version=1, done=0)
                return
            state["n"] += 1
            n = state["n"]
            if n % 2:
                path, body = "amendments", {"changes": {"title": f"Managed services rev {n}"},
                                            "rationale": "benchmark amendment",
                                            "effective_date": "2026-06-01"}
            else:
                path, body = "point-of-contact", {"name": f"Contact {n}",
                                                  "email": f"contact.{n}@acme.example"}
            response = client.post(f"/v1/contracts/{state['id']}/{path}", json=body,
                                   headers={**headers, "If-Match": f'"{state["version"]}"'})
            assert response.status_code == 200, response.json
            state["version"] += 1
            state["done"] += 1

        ids: list[str] = []
        if args.workload == "gets":
            for _ in range(64):
                state["id"] = None
                for _ in range(15):
                    command()
                ids.append(state["id"])

        def get() -> None:
            state["n"] += 1
            response = client.get(f"/v1/contracts/{ids[state['n'] % len(ids)]}",
                                  headers=headers)
            assert response.status_code == 200, response.json

        request = command if args.workload == "commands" else get
        for _ in range(100):  # warm caches, prepared statements, the pool
            request()
        calls = _count_db_calls()
        profile = cProfile.Profile()
        sampler = CpuSampler()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if args.mode == "cprofile":
            profile.enable()
        elif args.mode == "sample":
            sampler.start()
        for _ in range(args.requests):
            request()
        profile.disable()
        sampler.stop()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        ledger.committer.close()
        counts = calls.stop()
        note = {"cprofile": " (under cProfile: times inflated)",
                "sample": " (group commit in the request thread, sampled every ms of CPU)",
                "time": ""}[args.mode]
        print(f"# {args.requests} {args.workload} on {args.store}, one at a time{note}")
        print(f"wall {wall / args.requests * 1000:.3f} ms/request "
              f"({args.requests / wall:,.0f}/s), CPU {cpu / args.requests * 1000:.3f} ms/request "
              f"(all threads)")
        print("database calls per request: " + json.dumps(
            {k: round(v / args.requests, 2) for k, v in counts.items()}))
        if args.mode == "sample":
            print(sampler.report(args.top, cpu / args.requests * 1000))
        if args.mode == "cprofile":
            print(f"\n## request thread, top {args.top} by {args.sort}\n")
            print(_stats(profile, args.sort, args.top))
            print(f"\n## group-commit thread, top {args.top} by {args.sort}\n")
            print(_stats(committer_profile, args.sort, args.top))
    finally:
        if ledger is not None:
            ledger.close()
        if args.store == "postgres":
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


def _profile_committer(committer: GroupCommitter, profile: cProfile.Profile) -> None:
    """Run the committer thread's loop under its own profiler (cProfile is per thread)."""
    run = committer._run

    def profiled_run() -> None:
        profile.enable()
        try:
            run()
        finally:
            profile.disable()

    committer._run = profiled_run  # type: ignore[method-assign]


def _commit_in_caller(committer: GroupCommitter) -> None:
    """Run each commit's transaction in the calling thread (same code, no hand-off)."""
    from service.committer import _Command

    def commit(events: Any, idempotency: Any = ()) -> Any:
        command = _Command(list(events), list(idempotency))
        committer._save_batch([command])
        return command.future.result()

    committer.commit = commit  # type: ignore[method-assign]


# Stages of a request, each marked by functions ("Class.method" or a method name) or
# files ("@package/module.py"). Walking a sampled stack from the innermost frame out,
# the first frame that marks a stage gets the sample.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("test client (not in production)", ("@werkzeug/test.py", "@flask/testing.py")),
    ("DB: pool checkout pre-ping (POSTGRES_PRE_PING)", ("check_connection",)),
    ("DB: SELECT events (psycopg)", ("select_events", "select_notifications",
                                      "max_notification_id", "notification_id_of")),
    ("DB: INSERT events transaction (psycopg, lock, notify)", ("insert_events",)),
    ("DB: API key / idempotency queries", ("LedgerPostgresRecorder._execute",
                                            "LedgerSQLiteRecorder._execute")),
    ("DB: pool checkout / return", ("PostgresDatastore.get_connection",
                                     "SQLiteDatastore.transaction", "ConnectionPool.getconn",
                                     "ConnectionPool.putconn")),
    ("events -> stored (mapper, JSON transcoder)", ("to_stored_event",)),
    ("stored -> events (mapper, JSON transcoder)", ("to_domain_event",)),
    ("aggregate cache deepcopy", ("deepcopy",)),
    ("domain: new event + hash chain", ("trigger_event", "_create")),
    ("domain: command checks", ("@domain/contract/", "@domain/values.py")),
    ("present() contract as dict", ("present",)),
    ("JSON response (jsonify)", ("jsonify", "contract_response")),
    ("request body: marshmallow schemas", ("parse_body", "parse_query")),
    ("auth (token hash + cache)", ("authenticate",)),
    ("load: repository, projection", ("Repository.get", "ContractLedger._load")),
    ("group commit bookkeeping", ("@service/committer.py", "ContractLedger._commit")),
    ("service glue (views, plumbing, hooks)", ("@service/http/", "@service/app.py",
                                                "@service/application.py",
                                                "@service/use_cases/")),
    ("Flask/Werkzeug routing, request, response", ("@flask/", "@werkzeug/")),
]


def _marks(frame: tuple[str, str], marks: tuple[str, ...]) -> bool:
    qualname, path = frame
    for mark in marks:
        if mark.startswith("@"):
            if mark[1:] in path:
                return True
        elif qualname == mark or qualname.endswith("." + mark):
            return True
    return False


class CpuSampler:
    """Samples the main thread's stack every millisecond of process CPU time (SIGPROF)."""

    def start(self) -> None:
        import signal

        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)

    def stop(self) -> None:
        import signal

        signal.setitimer(signal.ITIMER_PROF, 0, 0)

    def __init__(self) -> None:
        self.stacks: dict[tuple[tuple[str, str], ...], int] = {}

    def _sample(self, _signum: int, frame: Any) -> None:
        names = []
        while frame is not None:
            code = frame.f_code
            path = "/".join(code.co_filename.rsplit("/", 2)[-2:])
            names.append((getattr(code, "co_qualname", code.co_name), path))
            frame = frame.f_back
        key = tuple(names)  # innermost first
        self.stacks[key] = self.stacks.get(key, 0) + 1

    def report(self, top: int, cpu_ms: float) -> str:
        total = sum(self.stacks.values()) or 1
        stages: dict[str, int] = {}
        inclusive: dict[str, int] = {}
        leaves: dict[str, int] = {}
        for stack, n in self.stacks.items():
            stage = "other"
            for frame in stack:
                hit = next((name for name, marks in STAGES if _marks(frame, marks)), None)
                if hit is not None:
                    stage = hit
                    break
            stages[stage] = stages.get(stage, 0) + n
            names = [f"{q} ({p})" for q, p in stack]
            leaves[names[0]] = leaves.get(names[0], 0) + n
            for name in set(names):
                inclusive[name] = inclusive.get(name, 0) + n

        def table(counts: dict[str, int], limit: int) -> list[str]:
            return [f"| {100 * n / total:5.1f}% | {cpu_ms * n / total:6.3f} | {name} |"
                    for name, n in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]

        head = ["| share | ms/request | |", "|---:|---:|---|"]
        return "\n".join([
            f"\n## CPU by stage ({total} samples)\n", *head, *table(stages, 40),
            f"\n## CPU by function, inclusive (top {top})\n", *head, *table(inclusive, top),
            f"\n## CPU by function, self (top {top})\n", *head, *table(leaves, top)])


class _Counter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.undo: list[Any] = []

    def wrap(self, owner: Any, name: str, label: str,
             only: Any = None) -> None:
        original = getattr(owner, name)
        counts, lock = self.counts, self.lock

        def wrapper(*a: Any, **kw: Any) -> Any:
            if only is None or only(*a, **kw):
                with lock:
                    counts[label] = counts.get(label, 0) + 1
            return original(*a, **kw)

        setattr(owner, name, wrapper)
        self.undo.append((owner, name, original))

    def stop(self) -> dict[str, int]:
        for owner, name, original in reversed(self.undo):
            setattr(owner, name, original)
        return self.counts


def _count_db_calls() -> _Counter:
    counter = _Counter()
    counter.wrap(psycopg.Cursor, "execute", "psycopg execute")
    counter.wrap(psycopg.Connection, "commit", "psycopg commit")
    counter.wrap(psycopg.Connection, "pipeline", "psycopg pipeline")
    from psycopg_pool import ConnectionPool

    counter.wrap(ConnectionPool, "getconn", "pool checkout")
    # The pool's pre-ping (POSTGRES_PRE_PING) runs an empty query on every checkout.
    counter.wrap(psycopg.Connection, "execute", "pool pre-ping (empty query)",
                 only=lambda conn, query="", *a, **kw: query == "")
    import sqlite3

    del sqlite3  # sqlite3 cursors are C types: count the recorder's transactions instead
    from eventsourcing.sqlite import SQLiteDatastore

    counter.wrap(SQLiteDatastore, "transaction", "sqlite transaction")
    return counter


def _stats(profile: cProfile.Profile, sort: str, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(main())
