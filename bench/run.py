"""Benchmark the ledger against baselines measured in the same run (`make bench`).

Measured one after another, never two servers under load at once:

  hello      a Flask hello-world under gunicorn with the ledger's gunicorn settings
  postgres   the ledger (`ledger serve`) on a fresh PostgreSQL schema: commands,
             contract GETs and drafts
  raw        single-row INSERT + COMMIT loops with psycopg on the same PostgreSQL
  sqlite     the ledger on a fresh SQLite file: commands, GETs and drafts
  long       long contract streams (10,000 events, snapshots) vs fresh contracts on
             PostgreSQL and SQLite: commands through the server, hot commands and
             cold loads in-process
  projections  the read side on PostgreSQL and SQLite: projection lag (`ledger project`
             beside the server under the command load) and rebuild throughput (a
             ledger of 100,000+ events, rebuild() of each view vs reading and
             decoding the log)

Only some phases: --phases (or --only) projections,postgres

Writes bench/results/latest.json, bench/results/<UTC timestamp>.json and
bench/results/latest.md, then prints the Markdown. See bench/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import contextlib
import datetime as dt
import json
import math
import os
import platform
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(ROOT))

import longstreams  # noqa: E402
import readside  # noqa: E402
from loadgen import CommandScenario, HttpConn, build_request, merge_runs, run_load  # noqa: E402

VENV_BIN = Path(sys.executable).parent
LEDGER = str(VENV_BIN / "ledger")
GUNICORN_CONF = ROOT / "service" / "gunicorn.conf.py"
DEFAULT_PG_URL = os.environ.get("LEDGER_BENCH_POSTGRES_URL",
                                "postgresql://postgres@127.0.0.1:5432/test")
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_COMMANDS_PER_S = 1500.0
TARGET_GET_RATIO = 0.60
TARGET_P99_MS = 25.0
TARGET_CONNECTIONS = 16
TARGET_LONG_RATIO = 1.2  # a command on a long contract costs at most this x a fresh one's
TARGET_LAG_P99_MS = 250.0  # projection lag under the command load, every view
TARGET_REBUILD_PER_S = 50_000.0  # ledger events per second a view rebuild goes through

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


# -- processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_pids(pgid: int) -> list[int]:
    """The live processes of one process group (read from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _proc_stat(int(entry))
        # Zombies do not count: PID 1 of a container does not always reap orphans.
        if stat is not None and int(stat[2]) == pgid and stat[0] != "Z":
            pids.append(int(entry))
    return pids


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def _proc_comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class Server:
    """A gunicorn server (or another long-running process, such as the projection runner)
    in a process group of its own, killed as a group."""

    live: set[Server] = set()

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path,
                 stop_signal: signal.Signals = signal.SIGQUIT):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.stop_signal = stop_signal  # QUIT: gunicorn's quick shutdown
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log(f"starting {self.name}: {' '.join(self.argv)}")
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        Server.live.add(self)

    @property
    def pgid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, host: str, port: int, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        request = build_request("GET", path, f"{host}:{port}")
        last = ""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            conn = HttpConn(host, port, timeout=5)
            try:
                status, _, body = conn.request(request)
                # Wait until every worker has booted, so none boots inside a window.
                if status == 200 and self.workers_booted():
                    return
                last = f"{status} {body[:200]!r}"
            except OSError as error:
                last = repr(error)
            finally:
                conn.close()
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s ({last}):\n"
                           f"{self.log_tail()}")

    def workers_booted(self) -> bool:
        expected = self.env.get("_BENCH_WORKERS")
        if not expected:
            return True
        return self.log_path.read_text(errors="replace").count("Booting worker") >= int(expected)

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.pgid
        for sig, wait in ((self.stop_signal, 10.0), (signal.SIGKILL, 10.0)):
            if not group_pids(pgid) and self.proc.poll() is not None:
                break
            try:
                os.killpg(pgid, sig)  # the whole group: gunicorn's master and workers
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and (group_pids(pgid) or self.proc.poll() is None):
                if self.proc.poll() is None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(timeout=0.1)
                else:
                    time.sleep(0.05)
        Server.live.discard(self)
        self.proc = None
        log(f"stopped {self.name}")


def _stop_all_servers() -> None:
    for server in list(Server.live):
        try:
            server.stop()
        except Exception as error:
            log(f"could not stop {server.name}: {error!r}")


# -- CPU accounting ---------------------------------------------------------------------


def cpu_snapshot(server_pgid: int | None,
                 groups: dict[str, int] | None = None) -> dict[str, Any]:
    """CPU seconds so far: the machine (busy), the server's process group, PostgreSQL, and
    other process groups by name (groups: name -> process group id)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields[:8]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    snap: dict[str, Any] = {"machine_busy": (sum(ticks) - idle) / CLK_TCK,
                            "machine_total": sum(ticks) / CLK_TCK,
                            "server_pids": {}, "postgres_pids": {},
                            **{f"{name}_pids": {} for name in groups or {}}}
    by_group = {pgid: f"{name}_pids" for name, pgid in (groups or {}).items()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        stat = _proc_stat(pid)
        if stat is None:
            continue
        seconds = (int(stat[11]) + int(stat[12])) / CLK_TCK  # utime + stime
        if server_pgid is not None and int(stat[2]) == server_pgid:
            snap["server_pids"][pid] = seconds
        elif int(stat[2]) in by_group:
            snap[by_group[int(stat[2])]][pid] = seconds
        elif _proc_comm(pid) == "postgres":
            snap["postgres_pids"][pid] = seconds
    return snap


def cpu_breakdown(start: dict[str, Any], end: dict[str, Any], client_cpu: float,
                  seconds: float) -> dict[str, Any]:
    """Average cores used in the window, by whom."""
    def cores(key: str) -> float:
        if key.endswith("_pids"):  # processes that ended inside the window are not counted
            return sum(v - start[key].get(pid, 0.0) for pid, v in end[key].items()) / seconds
        return float(end[key] - start[key]) / seconds

    busy = cores("machine_busy")
    result: dict[str, Any] = {
        "server_cores": cores("server_pids"),
        "postgres_cores": cores("postgres_pids"),  # every backend of the (shared) server
        "client_cores": client_cpu / seconds,
        "machine_busy_cores": busy,
        "machine_cores": os.cpu_count() or 0,
    }
    groups = [key[:-5] for key in end if key.endswith("_pids")
              and key not in ("server_pids", "postgres_pids")]
    for name in groups:  # e.g. the projection runner
        result[f"{name}_cores"] = cores(f"{name}_pids")
    result["other_cores"] = max(0.0, busy - result["server_cores"] - result["postgres_cores"]
                                - result["client_cores"]
                                - sum(result[f"{name}_cores"] for name in groups))
    # per server process (gunicorn master first if it used anything): shows an uneven
    # spread of connections over the workers
    result["server_cores_by_process"] = sorted(
        (round((end["server_pids"][pid] - start["server_pids"].get(pid, 0.0)) / seconds, 3)
         for pid in end["server_pids"]), reverse=True)
    return result


# -- PostgreSQL ---------------------------------------------------------------------------


def pg_base_dsn(url: str) -> str:
    """The URL without its ?schema= query (psycopg does not know that parameter)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def pg_available(url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(pg_base_dsn(url), connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.Error as error:
        log(f"PostgreSQL not reachable at {url}: {error}")
        return None


class Postgres:
    def __init__(self, base_url: str, schema: str):
        self.base_url, self.schema = base_url, schema
        self.dsn = pg_base_dsn(base_url)
        self.url = f"{self.dsn}?schema={schema}"
        self.dropped = False

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def events_table(self) -> str:
        rows = self.execute("SELECT table_name FROM information_schema.columns "
                            "WHERE table_schema = %s AND column_name = 'notification_id'",
                            (self.schema,))
        if not rows:
            raise RuntimeError(f"no events table in schema {self.schema}")
        return str(rows[0][0])

    def max_notification_id(self, table: str) -> int:
        rows = self.execute("SELECT COALESCE(MAX(notification_id), 0) "
                            f'FROM "{self.schema}"."{table}"')
        return int(rows[0][0])

    def batch_sizes(self, table: str, after: int, upto: int, seconds: float) -> dict[str, Any]:
        """Events per transaction among rows after..upto, from their xmin."""
        rows = self.execute(
            f'SELECT n, COUNT(*) FROM (SELECT COUNT(*) AS n FROM "{self.schema}"."{table}" '
            "WHERE notification_id > %s AND notification_id <= %s GROUP BY xmin::text) t "
            "GROUP BY n ORDER BY n", (after, upto))
        histogram = {int(n): int(c) for n, c in rows}
        transactions = sum(histogram.values())
        events = sum(n * c for n, c in histogram.items())
        if not transactions:
            return {"transactions": 0, "events": 0}
        ordered = [n for n, c in sorted(histogram.items()) for _ in range(c)]
        buckets: dict[str, int] = {}
        for n, c in histogram.items():
            low = 1 << (n.bit_length() - 1)
            label = str(low) if low == 1 else f"{low}-{2 * low - 1}"
            buckets[label] = buckets.get(label, 0) + c
        return {
            "transactions": transactions,
            "events": events,
            "transactions_per_s": transactions / seconds,
            "mean_events_per_txn": events / transactions,
            "median_events_per_txn": ordered[len(ordered) // 2],
            # the batch size the average command shares its transaction with
            "event_weighted_mean": sum(n * n * c for n, c in histogram.items()) / events,
            "max_events_per_txn": max(histogram),
            "histogram": buckets,
        }

    def drop(self) -> None:
        import psycopg

        if self.dropped:
            return
        for attempt in range(6):  # the server may be out of connections for a moment
            try:
                self.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
                break
            except psycopg.OperationalError as error:
                if attempt == 5:
                    raise
                log(f"could not drop schema {self.schema} yet ({error}); retrying")
                time.sleep(2.0)
        self.dropped = True
        log(f"dropped schema {self.schema}")


# -- phases -----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.gunicorn = runpy.run_path(str(GUNICORN_CONF))

    def server_env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, **extra, "_BENCH_WORKERS": str(self.gunicorn["workers"])}
        env.pop("LEDGER_ACCESS_LOG", None)  # no per-request logging in the figures
        return env

    def measure(self, label: str, spec: dict[str, Any], server: Server | None,
                duration: float, hooks: dict[str, Callable[[], None]] | None = None,
                *, connections: int | None = None, warmup: float | None = None,
                keep_latencies: bool = False,
                groups: dict[str, int] | None = None) -> dict[str, Any]:
        """One load phase: warm-up, then `duration` seconds measured (groups: other process
        groups whose CPU time is accounted apart, name -> process group id)."""
        args = self.args
        connections = args.connections if connections is None else connections
        warmup = args.warmup if warmup is None else warmup
        snaps: dict[str, dict[str, float]] = {}
        pgid = server.pgid if server is not None else None

        def on_window(edge: str) -> None:
            snaps[edge] = cpu_snapshot(pgid, groups)
            if hooks and edge in hooks:
                hooks[edge]()

        log(f"{label}: {connections} connections, {warmup:g}s warm-up + "
            f"{duration:g}s measured")
        if server is not None and server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} died:\n{server.log_tail()}")
        result = run_load(spec, connections=connections, processes=args.client_procs,
                          warmup=warmup, duration=duration, on_window=on_window,
                          keep_latencies=keep_latencies)
        result["cpu"] = cpu_breakdown(snaps["start"], snaps["end"],
                                      result.pop("client_cpu_seconds"), duration)
        total = result["kinds"].get("_total", {})
        log(f"{label}: {total.get('rate_per_s', 0):,.0f}/s, p50 {_ms(total.get('p50_ms'))}, "
            f"p99 {_ms(total.get('p99_ms'))}, errors {total.get('errors', 0)}")
        for message in result["fatal"]:
            log(f"{label}: {message}")
        return result

    # -- hello-world baseline

    def hello(self) -> dict[str, Any]:
        port = free_port()
        server = Server("hello-world", [sys.executable, "-m", "gunicorn", "--config",
                                        str(GUNICORN_CONF), "--bind", f"{self.host}:{port}",
                                        "--pythonpath", str(BENCH), "hello_app:app"],
                        self.server_env({}), self.workdir / "hello.log")
        server.start()
        try:
            server.wait_ready(self.host, port, "/hello")
            spec = {"scenario": "get", "host": self.host, "port": port, "paths": ["/hello"],
                    "kind": "get"}
            return {"get": self.measure("hello-world GET /hello", spec, server,
                                        self.args.duration)}
        finally:
            server.stop()

    # -- raw psycopg baseline

    def raw_insert(self, pg: Postgres) -> dict[str, Any]:
        table = "bench_raw_insert"
        pg.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg.schema}"')
        pg.execute(f'CREATE TABLE IF NOT EXISTS "{pg.schema}"."{table}" ('
                   "notification_id BIGSERIAL, originator_id UUID NOT NULL, "
                   "originator_version BIGINT NOT NULL, topic TEXT, state BYTEA, "
                   "PRIMARY KEY (originator_id, originator_version))")
        pg.execute(f'CREATE UNIQUE INDEX IF NOT EXISTS bench_raw_insert_nid '
                   f'ON "{pg.schema}"."{table}" (notification_id)')
        spec = {"scenario": "pg_insert", "dsn": pg.dsn, "schema": pg.schema, "table": table,
                "state_bytes": 600}
        result = self.measure("raw psycopg INSERT+COMMIT", spec, None, self.args.duration)
        return {"insert": result}

    # -- the ledger

    def migrate(self, url: str) -> dict[str, str]:
        """Create the store's tables (`ledger migrate`); return the servers' environment."""
        env = self.server_env({"LEDGER_DATABASE_URL": url})
        subprocess.run([LEDGER, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
        return env

    def serve_ledger(self, name: str, env: dict[str, str]) -> tuple[Server, dict[str, Any]]:
        """Start `ledger serve` with a fresh procurement API key; return it and the base spec
        (the caller stops it)."""
        created = subprocess.run([LEDGER, "apikey", "create", "--role", "procurement",
                                  "--label", "bench"], env=env, cwd=ROOT, check=True,
                                 capture_output=True, text=True)
        token = created.stdout.strip().splitlines()[-1]
        port = free_port()
        server = Server(f"ledger ({name})", [LEDGER, "serve", "--bind", f"{self.host}:{port}"],
                        env, self.workdir / f"ledger-{name}.log")
        server.start()
        try:
            server.wait_ready(self.host, port, "/readyz")
        except BaseException:
            server.stop()
            raise
        return server, {"host": self.host, "port": port, "token": token}

    def ledger(self, store: str, url: str, pg: Postgres | None) -> dict[str, Any]:
        args = self.args
        env = self.migrate(url)
        server, base = self.serve_ledger(store, env)
        out: dict[str, Any] = {}
        try:
            ids = self.preload(base)
            table = pg.events_table() if pg is not None else None

            marks: dict[str, int] = {}
            hooks: dict[str, Callable[[], None]] | None = None
            if pg is not None and table is not None:
                def mark(edge: str, pg: Postgres = pg, table: str = table) -> Callable[[], None]:
                    return lambda: marks.__setitem__(edge, pg.max_notification_id(table))

                hooks = {edge: mark(edge) for edge in ("start", "end")}

            draft_body = json.dumps(_contract_body())
            spec = {**base, "scenario": "commands", "draft_body": draft_body,
                    "commands_per_contract": args.commands_per_contract}
            out["commands"] = self.measure(f"{store} commands", spec, server, args.duration,
                                           hooks)
            if pg is not None and table is not None and marks:
                out["commands"]["batches"] = pg.batch_sizes(table, marks["start"], marks["end"],
                                                            args.duration)

            spec = {**base, "scenario": "get", "paths": [f"/v1/contracts/{i}" for i in ids],
                    "kind": "get"}
            out["gets"] = self.measure(f"{store} GET contract", spec, server, args.duration)

            if args.drafts_duration > 0:
                marks.clear()
                spec = {**base, "scenario": "commands", "draft_body": draft_body,
                        "commands_per_contract": 0}
                out["drafts"] = self.measure(f"{store} drafts", spec, server,
                                             args.drafts_duration, hooks)
                if pg is not None and table is not None and marks:
                    out["drafts"]["batches"] = pg.batch_sizes(
                        table, marks["start"], marks["end"], args.drafts_duration)
            out["preloaded_contracts"] = len(ids)
        finally:
            server.stop()
        if server.log_tail().count("Traceback"):
            out["server_log_tail"] = server.log_tail(60)
        return out

    # -- long streams

    def long_streams(self, store: str, url: str) -> dict[str, Any]:
        """Commands on contracts of `long_events` events vs fresh ones, hot and cold."""
        args = self.args
        conns = args.long_connections
        env = self.migrate(url)
        ledger_env = {k: v for k, v in env.items() if k.startswith("LEDGER_")}
        # Lengths spread over one snapshot interval, so that cold loads replay 0..99
        # events after the latest snapshot (about 50 on average, like a random contract).
        from service.application import SNAPSHOT_INTERVAL

        span = SNAPSHOT_INTERVAL - 1
        targets = [args.long_events + (round(i * span / (conns - 1)) if conns > 1 else 0)
                   for i in range(conns)]
        fresh_count = conns * args.fresh_per_connection
        log(f"{store} long streams: building {conns} contracts of {targets[0]:,}-"
            f"{targets[-1]:,} events and {fresh_count} of {args.fresh_events}")
        built = longstreams.build(url, ledger_env, long_targets=targets, fresh_count=fresh_count,
                                  fresh_events=args.fresh_events,
                                  processes=max(1, min(os.cpu_count() or 1, 4)))
        log(f"{store} long streams: built {built['events']:,} events in "
            f"{built['seconds']:.1f}s ({built['events_per_s']:,.0f}/s)")
        long_ids = [c["id"] for c in built["long"]]
        fresh_ids = [c["id"] for c in built["fresh"]]
        built["fresh"] = {"contracts": len(fresh_ids), "events": args.fresh_events}  # not 256 ids
        t0 = time.monotonic()
        inproc = longstreams.measure_in_process(
            url, ledger_env, long_ids, fresh_ids[:conns], rounds=args.cold_rounds,
            command_rounds=max(1, args.cold_rounds // 3), hot_commands=args.hot_commands)
        log(f"{store} in-process ({time.monotonic() - t0:.1f}s): hot command CPU long "
            f"{inproc['hot']['long']['cpu']['mean_ms']:.2f} vs fresh "
            f"{inproc['hot']['fresh']['cpu']['mean_ms']:.2f} ms (mean); cold load long "
            f"{inproc['load']['long']['wall']['median_ms']:.2f} vs fresh "
            f"{inproc['load']['fresh']['wall']['median_ms']:.2f} ms, first command "
            f"{inproc['command']['long']['wall']['median_ms']:.2f} vs "
            f"{inproc['command']['fresh']['wall']['median_ms']:.2f} ms (medians); full replay of "
            f"{inproc['full_replay']['events']:,} events {inproc['full_replay']['wall_ms']:.0f} ms")

        # Through the server: long and fresh connections side by side in one window, so
        # that whatever else the machine does hits both alike. Even connections own a long
        # contract each, odd ones cycle through their own fresh contracts.
        server, base = self.serve_ledger(f"{store}-long", env)
        contracts, kinds = [], []
        for c in range(conns):
            contracts += [[long_ids[c]], fresh_ids[c::conns]]
            kinds += ["long", "fresh"]
        spec = {**base, "scenario": "contact", "contracts": contracts, "kinds": kinds}
        runs: list[dict[str, Any]] = []
        try:
            for r in range(args.long_rounds):
                runs.append(self.measure(
                    f"{store} long + fresh contracts, round {r + 1}/{args.long_rounds}", spec,
                    server, args.long_duration, connections=2 * conns,
                    warmup=args.long_warmup, keep_latencies=True))
        finally:
            server.stop()
        served = merge_runs(runs)
        served["cpu"] = _merge_cpu([run["cpu"] for run in runs],
                                   [run["window_seconds"] for run in runs])
        served["rounds"] = [{kind: {k: run["kinds"][kind][k] for k in
                                    ("rate_per_s", "p50_ms", "p99_ms", "mean_ms", "errors")}
                             for kind in ("long", "fresh") if kind in run["kinds"]}
                            | {"server_cores": run["cpu"]["server_cores"]} for run in runs]
        out: dict[str, Any] = {"build": built, "in_process": inproc, "served": served}
        after = longstreams.check_snapshots(url, ledger_env, long_ids)
        out["after"] = {
            "long_versions": after["versions"],
            "snapshots_ok": after["ok"],
            "fresh_versions": _fresh_versions(url, ledger_env, fresh_ids),
        }
        if not after["ok"]:
            log(f"{store} long streams: snapshots out of step after the run: {after['wrong']}")
        out["summary"] = long_summary(out)
        log(f"{store} long streams: ratios long/fresh " + ", ".join(
            f"{k} {v:.2f}" for k, v in out["summary"]["ratios"].items() if v is not None))
        if server.log_tail().count("Traceback"):
            out["server_log_tail"] = server.log_tail(60)
        return out

    # -- the read side: projection lag and rebuild throughput

    def read_side(self, store: str, url: Callable[[str], str]) -> dict[str, Any]:
        """Projection lag under the command load, then rebuild throughput; each on a
        fresh store made by url(purpose) (dropped or deleted by the caller)."""
        out: dict[str, Any] = {}
        if "lag" in self.args.read_side:
            out["lag"] = self.projection_lag(store, url("lag"))
        if "rebuild" in self.args.read_side:
            out["rebuild"] = self.rebuild_throughput(store, url("rebuild"))
        return out

    def projection_lag(self, store: str, url: str) -> dict[str, Any]:
        """The command load of the `postgres`/`sqlite` phases with `ledger project`
        running beside the server: how long after a write's response each view has
        processed it."""
        from service.config import Settings

        args = self.args
        env = self.migrate(url)
        settings = Settings.from_env(env)
        server, base = self.serve_ledger(f"{store}-lag", env)
        runner = Server(f"projection runner ({store})", [LEDGER, "project"], env,
                        self.workdir / f"runner-{store}.log", stop_signal=signal.SIGTERM)
        sampler = readside.TrackingSampler(url, args.lag_poll_ms / 1000)
        out: dict[str, Any] = {"settings": {
            "poll_seconds": settings.projection_poll_seconds,
            "batch_size": settings.projection_batch_size,
            "sampler_interval_ms": args.lag_poll_ms}}
        try:
            runner.start()
            deadline = time.monotonic() + 30
            while "projecting" not in runner.log_tail():
                if runner.proc is not None and runner.proc.poll() is not None:
                    raise RuntimeError(f"the projection runner exited:\n{runner.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the projection runner did not start:\n"
                                       f"{runner.log_tail()}")
                time.sleep(0.1)
            sampler.start()
            sampler.ready.wait(10)
            if sampler.error is not None or not sampler.positions():
                raise RuntimeError(f"cannot read the views' positions: {sampler.error!r}")
            spec = {**base, "scenario": "commands", "draft_body": json.dumps(_contract_body()),
                    "commands_per_contract": args.commands_per_contract,
                    "record_positions": True}
            load = self.measure(f"{store} commands with the projection runner", spec, server,
                                args.duration, groups={"runner": runner.pgid})
            written = load.pop("written", [])
            head = max((p for _, p in written), default=0)
            if sampler.wait_for(head, timeout=120) is None:
                log(f"{store}: the views did not reach position {head} within 120 s")
        finally:
            sampler.stop()
            runner.stop()
            server.stop()
        out["load"] = load
        out["views"] = readside.lag_figures(written, sampler.samples)
        out["sampler"] = sampler.summary()
        out["head"] = head
        for name, proc in (("server", server), ("runner", runner)):
            if proc.log_tail().count("Traceback"):
                out[f"{name}_log_tail"] = proc.log_tail(60)
        every = out["views"].get("_all", {})
        log(f"{store} projection lag over {every.get('writes', 0):,} writes: " + ", ".join(
            f"{view} p50 {_ms(f.get('p50_ms'))} p99 {_ms(f.get('p99_ms'))}"
            for view, f in out["views"].items()) + f"; runner "
            f"{load['cpu'].get('runner_cores', 0):.2f} cores")
        return out

    def rebuild_throughput(self, store: str, url: str) -> dict[str, Any]:
        """Build a ledger of at least --rebuild-events mixed events, then time rebuild()
        of each view and of all views against reading and decoding the log."""
        args = self.args
        env = self.migrate(url)
        ledger_env = {k: v for k, v in env.items() if k.startswith("LEDGER_")}
        log(f"{store} rebuild: building a ledger of ≥ {args.rebuild_events:,} events")
        built = readside.build(url, ledger_env, min_events=args.rebuild_events,
                               processes=max(1, min(os.cpu_count() or 1, 4)))
        log(f"{store} rebuild: built {built['events']:,} events of {built['contracts']:,} "
            f"contracts in {built['seconds']:.1f}s ({built['events_per_s']:,.0f}/s)")
        t0 = time.monotonic()
        out = readside.measure_rebuilds(url, ledger_env, repeats=args.rebuild_repeats,
                                        profile=args.rebuild_profile)
        out["build"] = built
        out["seconds"] = time.monotonic() - t0
        floor = out["floor"]["read_decode"]
        log(f"{store} rebuild ({out['seconds']:.0f}s): " + ", ".join(
            f"{name} {f['events_per_s']:,.0f}/s" for name, f in out["views"].items())
            + f", all {out['all']['events_per_s']:,.0f}/s; read + decode "
            f"{floor['events_per_s']:,.0f}/s")
        return out

    def preload(self, base: dict[str, Any]) -> list[str]:
        """Create the contracts the GET phase reads (each with events_per_get_contract events)."""
        args = self.args
        n, events = args.get_contracts, args.events_per_get_contract
        spec = {**base, "draft_body": json.dumps(_contract_body()),
                "commands_per_contract": events - 1}
        t0 = time.monotonic()

        def make(index: int) -> list[str]:
            scenario = CommandScenario(spec, index)
            ids: list[str | None] = []
            try:
                for _ in range(index, n, 8):
                    scenario.contract_id = None
                    for _ in range(events):
                        kind, status, ok, detail = scenario.step()
                        if not ok:
                            raise RuntimeError(f"preload {kind} failed: {status} {detail}")
                    ids.append(scenario.contract_id)
            finally:
                scenario.close()
            return [i for i in ids if i]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            ids: list[str] = [i for chunk in pool.map(make, range(8)) for i in chunk]
        log(f"preloaded {len(ids)} contracts x {events} events in {time.monotonic() - t0:.1f}s")
        return ids


def _contract_body() -> dict[str, Any]:
    from tests.support import contract_body  # the body the test suite drafts with

    return contract_body()


def _merge_cpu(cpus: list[dict[str, Any]], seconds: list[float]) -> dict[str, Any]:
    """Time-weighted average of several windows' CPU breakdowns."""
    total = sum(seconds)
    merged: dict[str, Any] = {}
    for key, value in cpus[0].items():
        if isinstance(value, (int, float)) and key != "machine_cores":
            merged[key] = sum(c[key] * s for c, s in zip(cpus, seconds, strict=True)) / total
        else:
            merged[key] = value
    return merged


def _fresh_versions(url: str, environ: dict[str, str], ids: list[str]) -> dict[str, int]:
    """Lowest and highest version among the fresh contracts (after the run)."""
    from uuid import UUID

    ledger = longstreams.uncached_ledger(longstreams.settings_for(url, environ))
    try:
        versions = [ledger.repository.get(UUID(i)).version for i in ids]
    finally:
        ledger.close()
    return {"min": min(versions), "max": max(versions)}


def long_summary(out: dict[str, Any]) -> dict[str, Any]:
    """Ratios long ÷ fresh as costs: above 1 means a command on a long contract costs more."""
    inproc, kinds = out["in_process"], out["served"]["kinds"]
    ratios: dict[str, float | None] = {
        "hot_cpu_in_process": inproc["ratios"]["hot_cpu"],
        "hot_wall_in_process": inproc["ratios"]["hot_wall"],
    }
    f, g = kinds.get("fresh"), kinds.get("long")
    if f and g and f["requests"] and g["requests"]:
        ratios["served_throughput"] = f["rate_per_s"] / g["rate_per_s"]  # fresh/s ÷ long/s
        ratios["served_mean_latency"] = g["mean_ms"] / f["mean_ms"]
        ratios["served_p50"] = g["p50_ms"] / f["p50_ms"]
        ratios["served_p99"] = g["p99_ms"] / f["p99_ms"]
    ratios["cold_load_cpu"] = inproc["ratios"]["load_cpu"]
    ratios["cold_load_wall"] = inproc["ratios"]["load_wall"]
    ratios["cold_first_command_cpu"] = inproc["ratios"]["command_cpu"]
    ratios["cold_first_command_wall"] = inproc["ratios"]["command_wall"]
    # The target applies to these. In-process figures are judged on CPU time, which other
    # load on the machine does not inflate (wall time is shown beside it); the percentiles
    # through the server are shown, not judged (too noisy).
    judged = ("hot_cpu_in_process", "served_throughput", "cold_load_cpu",
              "cold_first_command_cpu")
    met: dict[str, bool | None] = {}
    for key in judged:
        value = ratios.get(key)
        met[key] = None if value is None else value <= TARGET_LONG_RATIO
    return {"ratios": ratios, "target": TARGET_LONG_RATIO, "met": met,
            "all_met": all(v for v in met.values() if v is not None)}


# -- report -------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms")


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _git(*argv: str) -> str:
    try:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine_info(pg_version: str | None) -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    from importlib import metadata

    for package in ("eventsourcing", "flask", "gunicorn", "psycopg", "werkzeug"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "loadavg_at_start": [round(x, 2) for x in load],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "postgresql": pg_version,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def headline(phase: dict[str, Any] | None, kind: str = "_total") -> dict[str, Any] | None:
    if not phase:
        return None
    return phase["kinds"].get(kind)


def compute_verdicts(results: dict[str, Any], connections: int) -> tuple[dict[str, Any],
                                                                          list[dict[str, Any]]]:
    hello = headline(results.get("hello", {}).get("get"))
    raw = headline(results.get("raw_insert", {}).get("insert"))
    ratios: dict[str, Any] = {}
    for store in ("postgres", "sqlite"):
        ledger = results.get(store)
        if not ledger:
            continue
        gets, cmds = headline(ledger.get("gets")), headline(ledger.get("commands"))
        if gets and hello and hello["rate_per_s"]:
            ratios[f"{store}_get_vs_hello"] = gets["rate_per_s"] / hello["rate_per_s"]
        if cmds and raw and raw["rate_per_s"]:
            ratios[f"{store}_commands_vs_raw_insert"] = cmds["rate_per_s"] / raw["rate_per_s"]
    targets: list[dict[str, Any]] = []
    pg = results.get("postgres") or {}
    cmds, gets = headline(pg.get("commands")), headline(pg.get("gets"))
    note = "" if connections == TARGET_CONNECTIONS else (
        f"measured at {connections} connections, target is at {TARGET_CONNECTIONS}")

    def target(name: str, value: float | None, goal: str, met: bool | None, unit: str) -> None:
        targets.append({"target": name, "value": value, "goal": goal, "unit": unit,
                        "met": met, "note": note})

    value = cmds["rate_per_s"] if cmds else None
    target("PostgreSQL commands/s", value, f"≥ {TARGET_COMMANDS_PER_S:,.0f}/s",
           None if value is None else value >= TARGET_COMMANDS_PER_S, "/s")
    value = ratios.get("postgres_get_vs_hello")
    target("PostgreSQL GET/s vs hello-world", value, f"≥ {TARGET_GET_RATIO:.0%}",
           None if value is None else value >= TARGET_GET_RATIO, "ratio")
    for label, figures in (("commands", cmds), ("GET", gets)):
        value = figures["p99_ms"] if figures else None
        target(f"PostgreSQL {label} p99", value, f"< {TARGET_P99_MS:g} ms",
               None if value is None else value < TARGET_P99_MS, "ms")
    for key, name in (("projections_postgres", "PostgreSQL"), ("projections_sqlite", "SQLite")):
        read = results.get(key)
        if not read:
            continue
        note = ""
        lags = {v: f.get("p99_ms") for v, f in read.get("lag", {}).get("views", {}).items()
                if v != "_all"}
        if lags and None not in lags.values():
            view = max(lags, key=lambda v: lags[v])
            value = lags[view]
            targets.append({"target": f"{name} projection lag p99 (slowest view: {view})",
                            "value": value, "goal": f"< {TARGET_LAG_P99_MS:g} ms", "unit": "ms",
                            "met": value < TARGET_LAG_P99_MS, "note": note})
        rates = {v: f["events_per_s"]
                 for v, f in read.get("rebuild", {}).get("views", {}).items()}
        if rates:
            view = min(rates, key=lambda v: rates[v])
            value = rates[view]
            targets.append({"target": f"{name} view rebuild events/s (slowest view: {view})",
                            "value": value, "goal": f"≥ {TARGET_REBUILD_PER_S:,.0f}/s",
                            "unit": "/s", "met": value >= TARGET_REBUILD_PER_S, "note": note})
    return ratios, targets


def render_markdown(report: dict[str, Any]) -> str:
    m, s, r = report["machine"], report["settings"], report["results"]
    lines = [
        f"# Ledger benchmark — {report['timestamp']}",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"load average at start {m['loadavg_at_start']}",
        f"- software: Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + (f", PostgreSQL {m['postgresql']} at {s.get('postgres')}" if m["postgresql"] else ""),
        f"- code: git {m['git_commit'][:12]}{' (uncommitted changes)' if m['git_dirty'] else ''}",
        f"- load: {s['connections']} connections from {s['client_procs']} load processes "
        f"(closed loop, keep-alive); {s['warmup_s']:g} s warm-up, {s['duration_s']:g} s measured"
        f" ({s['drafts_duration_s']:g} s for drafts)",
        f"- server: gunicorn {s['gunicorn']['worker_class']}, {s['gunicorn']['workers']} workers x "
        f"{s['gunicorn']['threads']} threads (service/gunicorn.conf.py; same for hello-world); "
        f"commit batch ≤ {s['ledger']['commit_batch_size']}, DB pool {s['ledger']['db_pool_size']}"
        f", aggregate cache {s['ledger']['aggregate_cache_size']}",
        f"- workload: commands alternate amendment / point-of-contact with If-Match, a fresh "
        f"draft every {s['commands_per_contract']} commands; GETs over {s['get_contracts']} "
        f"contracts of {s['events_per_get_contract']} events",
        "",
        "| system | workload | per second | p50 | p99 | max | errors | server CPU per request "
        "| CPU cores used: server / PostgreSQL / load gen / other |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]

    def row(system: str, workload: str, phase: dict[str, Any] | None, kind: str = "_total") -> None:
        figures = headline(phase, kind)
        if not figures:
            return
        cpu = phase["cpu"] if phase else {}
        # CPU per request only for the phase as a whole (kinds share the window)
        whole = headline(phase)
        rate = whole["rate_per_s"] if whole and kind == "_total" else 0
        busy = cpu.get("server_cores", 0) or cpu.get("postgres_cores", 0)
        per_request = _ms(busy / rate * 1000) if rate else ""
        if rate and not cpu.get("server_cores"):
            per_request += " (PostgreSQL)"
        lines.append(
            f"| {system} | {workload} | {_rate(figures['rate_per_s'])} | {_ms(figures['p50_ms'])}"
            f" | {_ms(figures['p99_ms'])} | {_ms(figures['max_ms'])} | {figures['errors']} | "
            f"{per_request} | "
            f"{cpu.get('server_cores', 0):.2f} / {cpu.get('postgres_cores', 0):.2f} / "
            f"{cpu.get('client_cores', 0):.2f} / {cpu.get('other_cores', 0):.2f} |")

    row("hello-world", "GET /hello", r.get("hello", {}).get("get"))
    for store, name in (("postgres", "ledger on PostgreSQL"), ("sqlite", "ledger on SQLite")):
        ledger = r.get(store)
        if not ledger:
            continue
        row(name, "commands (all writes)", ledger.get("commands"))
        row(name, "· of which amend / contact", ledger.get("commands"), "command")
        row(name, "· of which rollover drafts", ledger.get("commands"), "draft")
        row(name, "GET /v1/contracts/{id}", ledger.get("gets"))
        row(name, "drafts only (POST /v1/contracts)", ledger.get("drafts"))
        if store == "postgres":
            row("raw psycopg", "INSERT + COMMIT (1 row)", r.get("raw_insert", {}).get("insert"))
    if not r.get("postgres"):
        row("raw psycopg", "INSERT + COMMIT (1 row)", r.get("raw_insert", {}).get("insert"))

    lines += ["", "## Ratios", "", "| ratio | value |", "|---|---:|"]
    names = {
        "postgres_get_vs_hello": "ledger GET/s on PostgreSQL ÷ hello-world GET/s",
        "sqlite_get_vs_hello": "ledger GET/s on SQLite ÷ hello-world GET/s",
        "postgres_commands_vs_raw_insert": "ledger commands/s on PostgreSQL ÷ raw INSERT+COMMIT/s",
        "sqlite_commands_vs_raw_insert": "ledger commands/s on SQLite ÷ raw PostgreSQL "
                                         "INSERT+COMMIT/s",
    }
    for key, value in report["ratios"].items():
        lines.append(f"| {names.get(key, key)} | {value:.2f} |")

    lines += ["", "## Targets (from the issue)", "", "| target | goal | measured | met |",
              "|---|---|---:|---|"]
    for t in report["targets"]:
        value = t["value"]
        shown = "—" if value is None else (
            f"{value:.0%}" if t["unit"] == "ratio" else
            _ms(value) if t["unit"] == "ms" else f"{value:,.0f}/s")
        met = "n/a" if t["met"] is None else ("**met**" if t["met"] else "**not met**")
        lines.append(f"| {t['target']} | {t['goal']} | {shown} | {met}"
                     f"{' (' + t['note'] + ')' if t['note'] else ''} |")

    batches = [(store, phase, r[store][phase]["batches"]) for store in ("postgres",)
               for phase in ("commands", "drafts")
               if r.get(store) and r[store].get(phase, {}).get("batches", {}).get("transactions")]
    if batches:
        lines += ["", "## Group commit on PostgreSQL (events per transaction, from xmin)", "",
                  "| phase | transactions/s | mean | median | per-command mean | max "
                  "| histogram (events: transactions) |", "|---|---:|---:|---:|---:|---:|---|"]
        for _store, phase, b in batches:
            hist = ", ".join(f"{k}: {v}" for k, v in sorted(
                b["histogram"].items(), key=lambda kv: int(kv[0].split("-")[0])))
            lines.append(f"| {phase} | {b['transactions_per_s']:,.0f} | "
                         f"{b['mean_events_per_txn']:.1f} | {b['median_events_per_txn']} | "
                         f"{b['event_weighted_mean']:.1f} | {b['max_events_per_txn']} | {hist} |")

    lines += render_long_streams(report)
    lines += render_read_side(report)

    problems = []
    for system, phases in r.items():
        if not isinstance(phases, dict):
            continue
        for phase_name, phase in phases.items():
            if not isinstance(phase, dict) or "kinds" not in phase:
                continue
            for kind, figures in phase["kinds"].items():
                if kind != "_total" and (figures["errors"] or figures["warmup_errors"]):
                    problems.append(f"- {system} {phase_name} {kind}: {figures['errors']} errors "
                                    f"in the window ({figures['errors_by_status']}), "
                                    f"{figures['warmup_errors']} in warm-up; e.g. "
                                    f"{'; '.join(figures['error_samples'][:2])}")
            for message in phase.get("fatal", []):
                problems.append(f"- {system} {phase_name}: {message}")
    if problems:
        lines += ["", "## Errors", "", *problems]
    busy = []
    for system, phases in r.items():
        for phase_name, phase in (phases or {}).items():
            if isinstance(phase, dict) and phase.get("cpu", {}).get("other_cores", 0) > 0.25:
                busy.append(f"{system} {phase_name} ({phase['cpu']['other_cores']:.2f} cores)")
    if busy:
        lines += ["", f"**Noise:** other processes kept the machine busy during: {', '.join(busy)}"
                  " — those figures understate what the code can do; compare runs with care."]
    if report.get("skipped"):
        lines += ["", "## Skipped", "", *[f"- {x}" for x in report["skipped"]]]
    lines += ["", "p50/p99/max: latency of requests completed in the measured window, seen by "
              "the load generator (including its own scheduling delay). Server CPU per request: "
              "CPU seconds of all gunicorn processes ÷ requests (for raw psycopg: PostgreSQL's) — "
              "less sensitive to a busy machine than the rates. CPU cores: average over the "
              "window; 'other' is the rest of the machine's busy time (other tenants).", ""]
    return "\n".join(lines)


def render_read_side(report: dict[str, Any]) -> list[str]:
    r, s = report["results"], report["settings"].get("read_side", {})
    stores = [(name, r[key]) for key, name in (("projections_postgres", "PostgreSQL"),
                                              ("projections_sqlite", "SQLite")) if r.get(key)]
    if not stores:
        return []
    lag_target = s.get("target_lag_p99_ms", TARGET_LAG_P99_MS)
    rebuild_target = s.get("target_rebuild_events_per_s", TARGET_REBUILD_PER_S)
    sets = report["settings"]
    lines = ["", "## Read side (projections)"]
    lagged = [(name, out) for name, out in stores if out.get("lag")]
    rebuilt = [(name, out) for name, out in stores if out.get("rebuild")]
    if lagged:
        lines += _render_lag(lagged, r, sets, s.get("lag_sampler_interval_ms", 5), lag_target)
    if rebuilt:
        lines += _render_rebuild(rebuilt, rebuild_target)
    return lines


def _render_lag(stores: list[tuple[str, dict[str, Any]]], r: dict[str, Any],
                sets: dict[str, Any], interval: float, lag_target: float) -> list[str]:
    lines = [
        "", "### Projection lag under the command load", "",
        f"The `commands` workload ({sets['connections']} connections, "
        f"{sets['warmup_s']:g} s warm-up + {sets['duration_s']:g} s measured) against "
        "`ledger serve` on a fresh store, with `ledger project` running beside it as its own "
        "process. Lag: from a write's response (its Ledger-Position) until the view's "
        "position (tracking table, active generation) reaches it, for every write in the "
        f"window. A sampler reads the positions every {interval:g} "
        "ms from its own connection; each lag is an upper bound (the view got there between "
        "two polls). *all views*: until the last of the three had it.",
        "",
        f"| store | view | writes | p50 | p90 | p99 | max | mean | p99 < {lag_target:g} ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, out in stores:
        for view, f in out["lag"]["views"].items():
            if not f.get("writes"):
                lines.append(f"| {name} | {view} | 0 | | | | | | n/a |")
                continue
            met = "" if view == "_all" else (
                "**met**" if f["p99_ms"] < lag_target else "**not met**")
            lines.append(
                f"| {name} | {'all views' if view == '_all' else view} | {f['writes']:,} | "
                f"{_ms(f['p50_ms'])} | {_ms(f['p90_ms'])} | {_ms(f['p99_ms'])} | "
                f"{_ms(f['max_ms'])} | {_ms(f['mean_ms'])} | {met} |")
    lines += ["", "| store | commands/s with the runner | without (same run) | p99 | runner "
              "CPU cores | server / PostgreSQL / load gen / other | runner poll, batch "
              "| writes no view reached | sampler: polls, median gap |",
              "|---|---:|---:|---:|---:|---|---|---:|---|"]
    for name, out in stores:
        lag = out["lag"]
        load = headline(lag["load"]) or {}
        cpu = lag["load"]["cpu"]
        plain = headline((r.get("postgres" if name == "PostgreSQL" else "sqlite") or {})
                         .get("commands"))
        sampler = lag["sampler"]
        drained = lag["views"].get("_all", {}).get("not_reached", 0)
        lines.append(
            f"| {name} | {_rate(load.get('rate_per_s'))} | "
            f"{_rate(plain['rate_per_s']) if plain else '—'} | {_ms(load.get('p99_ms'))} | "
            f"{cpu.get('runner_cores', 0):.2f} | {cpu['server_cores']:.2f} / "
            f"{cpu['postgres_cores']:.2f} / {cpu['client_cores']:.2f} / "
            f"{cpu['other_cores']:.2f} | {lag['settings']['poll_seconds']:g} s"
            f"{' (NOTIFY)' if name == 'PostgreSQL' else ''}, {lag['settings']['batch_size']} | "
            f"{drained} | {sampler['polls']:,}, {_ms(sampler['poll_gap_ms_median'])} |")
    return lines


def _render_rebuild(stores: list[tuple[str, dict[str, Any]]],
                    rebuild_target: float) -> list[str]:
    first = stores[0][1]["rebuild"]
    build = first["build"]
    lines = [
        "", "### Rebuild throughput", "",
        f"A ledger of {build['events']:,} events ({build['contracts']:,} contracts of "
        f"{build['events_per_contract']:.0f} events over {build['vendors']} vendors: set-up, "
        "36 monthly SLA reports with penalties and incentives, waivers, disputes, a health "
        "check with findings, quarterly reviews, amendments, renewals, terminations; 50 "
        "contracts' events "
        "interleaved at a time), built in-process (bench/readside.py). Then, in one process, "
        "one call at a time: the floor — reading the notification log in rebuild's pages "
        f"({first['batch_size']:,} events), then reading and decoding every event "
        "(`mapper.to_domain_event`) — `rebuild()` of each view into a fresh generation, "
        f"{first['repeats']} times (median run; range), then all views in one pass over the "
        "log, each event decoded once (what `ledger rebuild` does). events/s: ledger events "
        "gone through per second of wall time.",
        "",
        f"| store | what | events | wall | events/s | range | CPU | rows written "
        f"| ≥ {rebuild_target:,.0f}/s |",
        "|---|---|---:|---:|---:|---|---:|---|---|",
    ]
    for name, out in stores:
        rb = out["rebuild"]
        rows: list[tuple[str, dict[str, Any], str, str]] = [
            ("floor: read the log", rb["floor"]["read"], "", ""),
            ("floor: read + decode every event", rb["floor"]["read_decode"], "", ""),
        ]
        for view, f in rb["views"].items():
            rows.append((f"rebuild `{view}`", f, ", ".join(
                f"{t} {n:,}" for t, n in f["rows"].items()),
                "**met**" if f["events_per_s"] >= rebuild_target else "**not met**"))
        rows.append(("rebuild all views in one pass (`ledger rebuild`)", rb["all"],
                     f"{sum(n for t in rb['all']['rows'].values() for n in t.values()):,}",
                     "**met**" if rb["all"]["events_per_s"] >= rebuild_target
                     else "**not met**"))
        for what, f, written, met in rows:
            spread = (f"{f['worst_events_per_s']:,.0f} to {f['best_events_per_s']:,.0f}"
                      if len(f.get("runs", ())) > 1 else "")
            lines.append(f"| {name} | {what} | {f['events']:,} | {f['wall_s']:.2f} s | "
                         f"{f['events_per_s']:,.0f} | {spread} | {f['cpu_s']:.2f} s | "
                         f"{written} | {met} |")
    profiled = [(name, out["rebuild"]["profile"]) for name, out in stores
                if out["rebuild"].get("profile")]
    if profiled:
        areas = sorted({a for _, prof in profiled for p in prof.values() for a in p["by_area"]})
        lines += ["", "Where a rebuild's CPU time goes (one rebuild of each view under cProfile,"
                  " own time by area, seconds; the profiler inflates the total; the top "
                  "functions are in the JSON):", "",
                  "| store | view | under cProfile | " + " | ".join(areas) + " |",
                  "|---|---|---:|" + "---:|" * len(areas)]
        for name, prof in profiled:
            for view, p in prof.items():
                lines.append(f"| {name} | {view} | {p['wall_s_under_profiler']:.2f} s | "
                             + " | ".join(f"{p['by_area'].get(a, 0):.2f}" for a in areas)
                             + " |")
    return lines


def render_long_streams(report: dict[str, Any]) -> list[str]:
    r, s = report["results"], report["settings"].get("long_streams", {})
    stores = [(name, r[key]) for key, name in (("long_postgres", "PostgreSQL"),
                                              ("long_sqlite", "SQLite")) if r.get(key)]
    if not stores:
        return []
    target = s.get("target_ratio", TARGET_LONG_RATIO)
    first = stores[0][1]["in_process"]
    cold_after = first["events_after_snapshot"]
    interval = s["snapshot_interval"]
    lines = [
        "", "## Long streams (snapshots)", "",
        f"Does a command on a contract of {s['events']:,} events cost what it costs on a fresh "
        f"one? Long: {s['connections']} contracts of {s['events']:,} to "
        f"{s['events'] + interval - 1:,} events (lengths spread over one snapshot interval of "
        f"{interval}), built in-process before the server starts (bench/longstreams.py). "
        f"Fresh: contracts of {s['fresh_events']} events. The command is `point-of-contact` "
        "(it replaces the contact, so request, state and response keep one size; each adds "
        "an event).",
        "",
        f"Through the server: {2 * s['connections']} connections in one window, "
        f"{s['connections']} each owning one long contract and {s['connections']} each cycling "
        f"through {s['fresh_per_connection']} fresh ones, back to back with If-Match; side by "
        "side, so that other load on the machine hits both alike. "
        f"{s['rounds']} run(s) of {s['warmup_s']:g} s warm-up + {s['duration_s']:g} s measured, "
        "pooled.",
        "",
        "| store | contracts | commands/s | p50 | p99 | mean | errors "
        "| CPU cores (whole run): server / PostgreSQL / load gen / other |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, out in stores:
        after = out.get("after", {})
        versions = after.get("long_versions") or []
        fresh_v = after.get("fresh_versions") or {}
        served = out["served"]
        cpu = served["cpu"]
        for kind in ("long", "fresh"):
            figures = served["kinds"].get(kind)
            if not figures:
                continue
            what = (f"fresh ({s['fresh_events']} → ≤ {fresh_v.get('max', '?')} events)"
                    if kind == "fresh" else
                    f"long ({s['events']:,} → ≤ {max(versions):,} events)" if versions
                    else "long")
            lines.append(
                f"| {name} | {what} | {_rate(figures['rate_per_s'])} | {_ms(figures['p50_ms'])} | "
                f"{_ms(figures['p99_ms'])} | {_ms(figures['mean_ms'])} | {figures['errors']} | "
                f"{cpu['server_cores']:.2f} / {cpu['postgres_cores']:.2f} / "
                f"{cpu['client_cores']:.2f} / {cpu['other_cores']:.2f} |")
    lines += [
        "",
        "In-process, one call at a time, long and fresh alternating (bench/longstreams.py). "
        f"Hot: {first['hot_commands_per_contract']} commands per contract on the application a "
        "web worker builds (aggregate cache warm; mean, so the snapshot written every "
        f"{interval} events is included: {first['hot']['long']['snapshots_written']} of "
        f"{first['hot']['long']['wall']['n']} long commands wrote one). Cold: an "
        "application without aggregate cache, which reconstructs the contract on every "
        "call — what the first request on a contract pays after a worker restart or a cache "
        "eviction; long = latest snapshot + "
        f"{cold_after['min']} to {cold_after['max']} events after it (mean "
        f"{cold_after['mean']:.0f}), fresh = {first['fresh_events']['max']} events and no "
        f"snapshot; {s['cold_rounds']} loads per contract, a third as many first commands "
        "(load + command + commit + response data); medians. Wall time (CPU time).",
        "",
        "| store | what | fresh | long | long ÷ fresh: wall / CPU "
        "| full replay, snapshots off | cost of a long cold load |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name, out in stores:
        inproc = out["in_process"]
        model = inproc.get("load_model")
        full = inproc["full_replay"]
        for what, key, stat in (("hot command (mean)", "hot", "mean_ms"),
                                ("cold load (`repository.get`)", "load", "median_ms"),
                                ("cold first command", "command", "median_ms")):
            fr, lo = inproc[key]["fresh"], inproc[key]["long"]
            extra = ("", "")
            if key == "load":
                extra = (f"{full['wall_ms']:,.0f} ms ({full['events']:,} events)",
                         f"{model['fixed_ms']:.2f} ms + {model['per_event_ms'] * 1000:.0f} µs "
                         "per event after the snapshot (least squares)" if model else "")
            lines.append(
                f"| {name} | {what} | {_ms(fr['wall'][stat])} ({_ms(fr['cpu'][stat])}) | "
                f"{_ms(lo['wall'][stat])} ({_ms(lo['cpu'][stat])}) | "
                f"{lo['wall'][stat] / fr['wall'][stat]:.2f} / "
                f"{lo['cpu'][stat] / max(fr['cpu'][stat], 1e-9):.2f} | {extra[0]} | {extra[1]} |")
    rows = (
        ("hot: CPU per command, in-process (mean)", "hot_cpu_in_process",
         lambda x: f"wall {x['hot_wall_in_process']:.2f}"),
        ("hot: commands/s through the server (fresh ÷ long)", "served_throughput",
         lambda x: (f"mean latency {x['served_mean_latency']:.2f}, p50 {x['served_p50']:.2f}, "
                    f"p99 {x['served_p99']:.2f}") if x.get("served_mean_latency") else ""),
        ("cold: load, CPU (median)", "cold_load_cpu",
         lambda x: f"wall {x['cold_load_wall']:.2f}"),
        ("cold: first command, CPU (median)", "cold_first_command_cpu",
         lambda x: f"wall {x['cold_first_command_wall']:.2f}"),
    )
    lines += ["", f"| store | long ÷ fresh | value | target ≤ {target:g} | not judged |",
              "|---|---|---:|---|---|"]
    for name, out in stores:
        summary = out["summary"]
        ratios = summary["ratios"]
        for label, key, also in rows:
            value = ratios.get(key)
            met = summary["met"].get(key)
            lines.append(f"| {name} | {label} | {'—' if value is None else f'{value:.2f}'} | "
                         f"{'n/a' if met is None else ('**met**' if met else '**not met**')} | "
                         f"{also(ratios) if value is not None else ''} |")
    notes = []
    for name, out in stores:
        build = out["build"]
        after = out.get("after", {})
        notes.append(f"{name}: built {build['events']:,} events in {build['seconds']:.1f} s "
                     f"({build['processes']} processes); every long contract's latest snapshot "
                     f"at its last multiple of {interval} after the run: "
                     f"{'yes' if after.get('snapshots_ok') else '**no**'}")
        fresh_max = (after.get("fresh_versions") or {}).get("max", 0)
        if fresh_max >= interval:
            notes.append(f"{name}: fresh contracts reached {fresh_max} events — past the first "
                         "snapshot, no longer fresh; raise --fresh-per-connection")
    lines += ["", *[f"- {n}" for n in notes]]
    return lines


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="short windows, no drafts-only phase (under a minute)")
    parser.add_argument("--duration", type=float, help="measured seconds per phase (default 15, "
                        "quick 4)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds before each measured "
                        "window (default 5, quick 1.5)")
    parser.add_argument("--drafts-duration", type=float, help="measured seconds of the "
                        "drafts-only phase; 0 skips it (default duration/2, quick 0)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--client-procs", type=int, default=2,
                        help="load generator processes (connections are spread over them)")
    parser.add_argument("--commands-per-contract", type=int, default=20,
                        help="commands per contract before a connection drafts a fresh one")
    parser.add_argument("--get-contracts", type=int, help="contracts read by the GET phase "
                        "(default 64, quick 32)")
    parser.add_argument("--events-per-get-contract", type=int, default=15)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL,
                        help="PostgreSQL database (a fresh bench_* schema is made and dropped)")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--phases", "--only", dest="phases",
                        default="hello,postgres,raw,sqlite,long,projections",
                        help="which of hello,postgres,raw,sqlite,long,projections to run "
                        "(comma-separated; long and projections run on PostgreSQL and SQLite "
                        "unless skipped)")
    long = parser.add_argument_group("long streams (the `long` phase)")
    long.add_argument("--long-events", type=int, help="events per long contract (default "
                      "10,000, quick 2,000); the contracts get 0-99 more, spread over one "
                      "snapshot interval")
    long.add_argument("--long-connections", type=int, default=8,
                      help="long contracts; the server run has as many connections on them, "
                      "each owning one, and as many again on fresh contracts")
    long.add_argument("--fresh-per-connection", type=int, default=32,
                      help="fresh contracts each connection cycles through")
    long.add_argument("--fresh-events", type=int, default=20,
                      help="events of a fresh contract when the phase starts")
    long.add_argument("--long-duration", type=float, help="measured seconds of each server "
                      "run (default 5, quick 3)")
    long.add_argument("--long-warmup", type=float, help="warm-up seconds of each run "
                      "(default 2, quick 1)")
    long.add_argument("--long-rounds", type=int, help="server runs, pooled (default 2, "
                      "quick 1)")
    long.add_argument("--cold-rounds", type=int, default=9,
                      help="cold loads per contract (cold first commands: a third as many)")
    long.add_argument("--hot-commands", type=int,
                      help="in-process hot commands per contract (default 50, quick 25)")
    read = parser.add_argument_group("read side (the `projections` phase)")
    read.add_argument("--read-side", default="lag,rebuild",
                      help="which parts of the projections phase to run: lag, rebuild")
    read.add_argument("--lag-poll-ms", type=float, default=5.0,
                      help="how often the lag sampler reads the views' positions")
    read.add_argument("--rebuild-events", type=int, help="events of the ledger rebuilt "
                      "(default 100,000, quick 20,000)")
    read.add_argument("--rebuild-repeats", type=int, help="timed rebuilds of each view, "
                      "median reported (default 3, quick 1)")
    read.add_argument("--no-rebuild-profile", dest="rebuild_profile", action="store_false",
                      help="skip the cProfile run of each view's rebuild")
    parser.add_argument("--output-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 4.0 if args.quick else 15.0
    if args.warmup is None:
        args.warmup = 1.5 if args.quick else 5.0
    if args.drafts_duration is None:
        args.drafts_duration = 0.0 if args.quick else args.duration / 2
    if args.get_contracts is None:
        args.get_contracts = 32 if args.quick else 64
    if args.long_events is None:
        args.long_events = 2000 if args.quick else 10_000
    if args.long_duration is None:
        args.long_duration = 3.0 if args.quick else 5.0
    if args.long_warmup is None:
        args.long_warmup = 1.0 if args.quick else 2.0
    if args.long_rounds is None:
        args.long_rounds = 1 if args.quick else 2
    if args.hot_commands is None:
        args.hot_commands = 25 if args.quick else 50
    if args.rebuild_events is None:
        args.rebuild_events = 20_000 if args.quick else 100_000
    if args.rebuild_repeats is None:
        args.rebuild_repeats = 1 if args.quick else 3
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if args.skip_postgres:
        args.phases -= {"postgres", "raw"}
    if args.skip_sqlite:
        args.phases.discard("sqlite")
    unknown = args.phases - {"hello", "postgres", "raw", "sqlite", "long", "projections"}
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if args.connections < 1 or args.client_procs < 1 or args.events_per_get_contract < 1:
        parser.error("--connections, --client-procs and --events-per-get-contract must be ≥ 1")
    if min(args.long_events, args.long_connections, args.fresh_per_connection,
           args.fresh_events, args.long_rounds, args.cold_rounds, args.hot_commands) < 1:
        parser.error("the long-stream counts must be ≥ 1")
    args.read_side = {p.strip() for p in args.read_side.split(",") if p.strip()}
    if args.read_side - {"lag", "rebuild"}:
        parser.error(f"unknown --read-side parts: {', '.join(sorted(args.read_side))}")
    if args.rebuild_events < 1 or args.rebuild_repeats < 1 or args.lag_poll_ms <= 0:
        parser.error("--rebuild-events, --rebuild-repeats and --lag-poll-ms must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    atexit.register(_stop_all_servers)
    started = dt.datetime.now(dt.UTC)
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    wants_pg = bool(args.phases & {"postgres", "raw"}) or (
        bool(args.phases & {"long", "projections"}) and not args.skip_postgres)
    pg_version = pg_available(args.pg_url) if wants_pg else None
    pg = Postgres(args.pg_url, f"bench_{secrets.token_hex(5)}") if pg_version else None
    if pg is not None:
        def drop_schema(pg: Postgres = pg) -> None:
            if not pg.dropped:
                _quietly(pg.drop)

        atexit.register(drop_schema)
    skipped = [f"{name} (not in --phases)" for name in ("hello", "postgres", "raw", "sqlite",
                                                          "long", "projections")
               if name not in args.phases]
    if "long" in args.phases and args.skip_postgres:
        skipped.append("long streams on PostgreSQL (--skip-postgres)")
    if "long" in args.phases and args.skip_sqlite:
        skipped.append("long streams on SQLite (--skip-sqlite)")
    for flag, name in ((args.skip_postgres, "PostgreSQL"), (args.skip_sqlite, "SQLite")):
        if "projections" in args.phases and flag:
            skipped.append(f"read side on {name} (--skip-{name.lower()})")
    if wants_pg and pg is None:
        skipped.append(f"PostgreSQL phases: no server at {args.pg_url}")

    bench = Bench(args, workdir)
    from service.config import Settings

    settings_env = Settings.from_env()
    results: dict[str, Any] = {}
    try:
        if "hello" in args.phases:
            results["hello"] = bench.hello()
        if pg is not None and "postgres" in args.phases:
            results["postgres"] = bench.ledger("postgres", pg.url, pg)
        if pg is not None and "raw" in args.phases:
            results["raw_insert"] = bench.raw_insert(pg)
        if "sqlite" in args.phases:
            results["sqlite"] = bench.ledger("sqlite", f"sqlite:///{workdir}/ledger.db", None)
        if "long" in args.phases:
            if pg is not None and not args.skip_postgres:
                results["long_postgres"] = bench.long_streams("postgres", pg.url)
            if not args.skip_sqlite:
                results["long_sqlite"] = bench.long_streams(
                    "sqlite", f"sqlite:///{workdir}/long.db")
        if "projections" in args.phases:
            if pg is not None and not args.skip_postgres:
                schemas: list[Postgres] = []

                def fresh_schema(purpose: str, pg: Postgres = pg) -> str:
                    schema = Postgres(pg.base_url, f"{pg.schema}_{purpose}")
                    atexit.register(lambda: None if schema.dropped else _quietly(schema.drop))
                    schemas.append(schema)
                    return schema.url

                try:
                    results["projections_postgres"] = bench.read_side("postgres", fresh_schema)
                finally:
                    for schema in schemas:
                        _quietly(schema.drop)
            if not args.skip_sqlite:
                results["projections_sqlite"] = bench.read_side(
                    "sqlite", lambda purpose: f"sqlite:///{workdir}/readside-{purpose}.db")
    finally:
        _stop_all_servers()
        if pg is not None:
            _quietly(pg.drop)
        if args.keep_logs:
            log(f"server logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    ratios, targets = compute_verdicts(results, args.connections)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    report = {
        "format": "ledger-bench/1",
        "timestamp": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "elapsed_s": round(time.monotonic() - _T0, 1),
        "machine": machine_info(pg_version),
        "settings": {
            "connections": args.connections,
            "client_procs": args.client_procs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "drafts_duration_s": args.drafts_duration,
            "quick": args.quick,
            "phases": sorted(args.phases),
            "commands_per_contract": args.commands_per_contract,
            "postgres": _without_password(args.pg_url) if wants_pg else None,
            "get_contracts": args.get_contracts,
            "events_per_get_contract": args.events_per_get_contract,
            "long_streams": {
                "events": args.long_events,
                "connections": args.long_connections,
                "fresh_per_connection": args.fresh_per_connection,
                "fresh_events": args.fresh_events,
                "duration_s": args.long_duration,
                "warmup_s": args.long_warmup,
                "rounds": args.long_rounds,
                "cold_rounds": args.cold_rounds,
                "hot_commands_per_contract": args.hot_commands,
                "snapshot_interval": _snapshot_interval(),
                "target_ratio": TARGET_LONG_RATIO,
            },
            "read_side": {
                "lag_sampler_interval_ms": args.lag_poll_ms,
                "rebuild_events": args.rebuild_events,
                "rebuild_repeats": args.rebuild_repeats,
                "rebuild_profile": args.rebuild_profile,
                "projection_poll_seconds": settings_env.projection_poll_seconds,
                "projection_batch_size": settings_env.projection_batch_size,
                "target_lag_p99_ms": TARGET_LAG_P99_MS,
                "target_rebuild_events_per_s": TARGET_REBUILD_PER_S,
            },
            "gunicorn": {k: bench.gunicorn.get(k) for k in
                         ("worker_class", "workers", "threads", "keepalive")},
            "ledger": {
                "commit_batch_size": settings_env.commit_batch_size,
                "db_pool_size": settings_env.db_pool_size,
                "aggregate_cache_size": settings_env.aggregate_cache_size,
                "auth_cache_seconds": settings_env.auth_cache_seconds,
            },
            "ledger_env": {k: v for k, v in os.environ.items() if k.startswith("LEDGER_")},
        },
        "results": results,
        "ratios": ratios,
        "targets": targets,
        "skipped": skipped,
    }
    markdown = render_markdown(report)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=_json_default)
    (args.output_dir / "latest.json").write_text(text + "\n")
    (args.output_dir / f"{stamp}.json").write_text(text + "\n")
    (args.output_dir / "latest.md").write_text(markdown)
    print(markdown)
    log(f"wrote {args.output_dir}/latest.json, {stamp}.json and latest.md "
        f"({report['elapsed_s']:.0f}s in all)")
    return 0


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    if len(netloc) == 2 and ":" in netloc[0]:
        parts = parts._replace(netloc=f"{netloc[0].split(':', 1)[0]}:***@{netloc[1]}")
    return urlunsplit(parts)


def _snapshot_interval() -> int:
    from service.application import SNAPSHOT_INTERVAL

    return SNAPSHOT_INTERVAL


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _quietly(func: Callable[[], Any]) -> None:
    try:
        func()
    except Exception as error:
        log(f"cleanup: {error!r}")


if __name__ == "__main__":
    sys.exit(main())
