"""A small closed-loop load generator: processes x threads, one keep-alive connection each.

Every thread owns one connection (HTTP over a raw socket, or a psycopg connection for
the raw-insert baseline) and one `Scenario`, and issues requests back to back from
the moment all processes are ready until the end of the run. Only requests that
complete inside the measurement window (after the warm-up) are counted. The HTTP
client is deliberately minimal (pre-built request bytes, regex header parsing) so the
generator spends as little CPU as possible on a machine it shares with the server.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import re
import resource
import socket
import threading
import time
import traceback
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.I)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.I)
_ETAG = re.compile(rb'\r\netag:[ \t]*(?:W/)?"(\d+)"', re.I)
_LOCATION = re.compile(rb"\r\nlocation:[ \t]*\S*/v1/contracts/([0-9a-fA-F-]{36})", re.I)
_POSITION = re.compile(rb"\r\nledger-position:[ \t]*(\d+)", re.I)


class HttpConn:
    """One HTTP/1.1 keep-alive connection; request() sends pre-built bytes."""

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.buf = b""
        self.reconnects = 0

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None

    def request(self, data: bytes) -> tuple[int, bytes, bytes]:
        """Send one request; return (status, header block, body)."""
        fresh = self.sock is None
        if fresh:
            self.connect()
        try:
            return self._exchange(data)
        except (ConnectionError, BrokenPipeError) as error:
            if fresh or getattr(error, "response_started", False):
                raise
            # The server closed an idle keep-alive connection before reading this
            # request: nothing was processed, so sending it again is safe.
            self.reconnects += 1
            self.connect()
            return self._exchange(data)

    def _exchange(self, data: bytes) -> tuple[int, bytes, bytes]:
        sock = self.sock
        assert sock is not None
        sock.sendall(data)
        buf = self.buf
        recv = sock.recv
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = recv(65536)
            if not chunk:
                self.close()
                error = ConnectionError("connection closed by the server")
                error.response_started = bool(buf)  # type: ignore[attr-defined]
                raise error
            buf += chunk
        head = buf[: end + 2]
        status = int(buf[9:12])
        start = end + 4
        match = _CONTENT_LENGTH.search(head)
        if match is not None:
            stop = start + int(match.group(1))
            while len(buf) < stop:
                chunk = recv(65536)
                if not chunk:
                    self.close()
                    raise ConnectionError("connection closed mid-body")
                buf += chunk
            body = buf[start:stop]
            self.buf = buf[stop:]
        elif _CHUNKED.search(head):
            body, self.buf = self._read_chunked(buf[start:])
        elif status in (204, 304) or 100 <= status < 200:
            body, self.buf = b"", buf[start:]
        else:  # body delimited by the end of the connection
            parts = [buf[start:]]
            while chunk := recv(65536):
                parts.append(chunk)
            body = b"".join(parts)
            self.close()
            return status, head, body
        if _CLOSE.search(head):
            self.close()
        return status, head, body

    def _read_chunked(self, buf: bytes) -> tuple[bytes, bytes]:
        assert self.sock is not None
        body = []
        while True:
            while (eol := buf.find(b"\r\n")) < 0:
                buf += self.sock.recv(65536)
            size = int(buf[:eol].split(b";")[0], 16)
            need = eol + 2 + size + 2
            while len(buf) < need:
                buf += self.sock.recv(65536)
            body.append(buf[eol + 2: eol + 2 + size])
            buf = buf[need:]
            if size == 0:
                return b"".join(body), buf


def build_request(method: str, path: str, host: str, token: str | None = None,
                  body: bytes | None = None, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    for name, value in (extra or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def etag_version(head: bytes) -> int | None:
    match = _ETAG.search(head)
    return int(match.group(1)) if match else None


def ledger_position(head: bytes) -> int | None:
    match = _POSITION.search(head)
    return int(match.group(1)) if match else None


def location_id(head: bytes) -> str | None:
    match = _LOCATION.search(head)
    return match.group(1).decode() if match else None


# -- scenarios ------------------------------------------------------------------------
#
# A scenario is built inside the load process from a plain, picklable spec dict. step()
# performs one request and returns (kind, status, ok, detail); detail describes a
# failure (kept as a sample for the report).

Step = tuple[str, int, bool, str]


class Scenario:
    def __init__(self, spec: dict[str, Any], index: int):
        self.spec = spec
        self.index = index

    def setup(self) -> None:
        pass

    def step(self) -> Step:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget per-connection state after a failed exchange."""

    def close(self) -> None:
        pass

    @property
    def reconnects(self) -> int:
        return 0


class HttpScenario(Scenario):
    def __init__(self, spec: dict[str, Any], index: int):
        super().__init__(spec, index)
        self.host = spec["host"]
        self.conn = HttpConn(spec["host"], spec["port"])

    def setup(self) -> None:
        self.conn.connect()

    def reset(self) -> None:
        self.conn.close()

    def close(self) -> None:
        self.conn.close()

    @property
    def reconnects(self) -> int:
        return self.conn.reconnects


class GetScenario(HttpScenario):
    """GET a fixed set of paths round-robin (each connection starts at its own offset)."""

    def __init__(self, spec: dict[str, Any], index: int):
        super().__init__(spec, index)
        self.requests = [build_request("GET", p, self.host, spec.get("token"))
                         for p in spec["paths"]]
        self.kind = spec.get("kind", "get")
        self.i = index * 7919

    def step(self) -> Step:
        self.i += 1
        status, _, body = self.conn.request(self.requests[self.i % len(self.requests)])
        if 200 <= status < 300:
            return self.kind, status, True, ""
        return self.kind, status, False, body[:300].decode(errors="replace")


class CommandScenario(HttpScenario):
    """Draft a contract, then post commands to it with If-Match from the last ETag.

    After `commands_per_contract` commands the connection drafts a fresh contract, so
    that every request works on a contract of realistic length (the response carries
    the whole contract, whose amendment history would otherwise grow without bound).
    With commands_per_contract == 0 every request is a draft.

    With spec["record_positions"], every successful write records when its response
    arrived (time.monotonic(), one clock for all processes) and the ledger position it
    answered with (the Ledger-Position header): run.py measures the projection lag from
    them.
    """

    def __init__(self, spec: dict[str, Any], index: int):
        super().__init__(spec, index)
        token = spec["token"]
        self.draft_request = build_request("POST", "/v1/contracts", self.host, token,
                                           spec["draft_body"].encode())
        self.per_contract = int(spec["commands_per_contract"])
        self.prefix = f"Authorization: Bearer {token}\r\nHost: {self.host}\r\n".encode()
        self.contract_id: str | None = None
        self.version = 0
        self.done_on_contract = 0
        self.n = 0
        self.recording = bool(spec.get("record_positions"))
        self.written_at = array("d")
        self.positions = array("q")

    def reset(self) -> None:
        super().reset()
        self.contract_id = None

    def _record(self, head: bytes) -> None:
        now = time.monotonic()
        position = ledger_position(head)
        if position is not None:
            self.written_at.append(now)
            self.positions.append(position)

    def _draft(self) -> Step:
        status, head, body = self.conn.request(self.draft_request)
        if status != 201:
            self.contract_id = None
            return "draft", status, False, body[:300].decode(errors="replace")
        contract_id, version = location_id(head), etag_version(head)
        if contract_id is None or version is None:
            self.contract_id = None
            return "draft", status, False, "201 without Location or ETag"
        self.contract_id, self.version, self.done_on_contract = contract_id, version, 0
        if self.recording:
            self._record(head)
        return "draft", status, True, ""

    def step(self) -> Step:
        if self.contract_id is None or self.per_contract == 0 or (
                self.done_on_contract >= self.per_contract):
            return self._draft()
        self.n += 1
        if self.n % 2:
            path = "amendments"
            body = (b'{"changes":{"title":"Managed network services rev %d"},'
                    b'"rationale":"benchmark amendment","effective_date":"2026-06-01"}' % self.n)
        else:
            path = "point-of-contact"
            body = (b'{"name":"Contact %d","email":"contact.%d@acme.example"}'
                    % (self.n, self.n))
        request = b"".join((
            b"POST /v1/contracts/", self.contract_id.encode(), b"/", path.encode(),
            b" HTTP/1.1\r\n", self.prefix,
            b'If-Match: "%d"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n'
            % (self.version, len(body)),
            body,
        ))
        status, head, resp = self.conn.request(request)
        self.done_on_contract += 1
        if status != 200:
            # Start again on a fresh contract (a 412 here would mean a harness bug).
            self.contract_id = None
            return "command", status, False, f"{path}: " + resp[:300].decode(errors="replace")
        version = etag_version(head)
        if version != self.version + 1:
            self.contract_id = None
            return "command", status, False, f"{path}: ETag {version} after {self.version}"
        self.version = version
        if self.recording:
            self._record(head)
        return "command", status, True, ""


class ContactScenario(HttpScenario):
    """POST point-of-contact round-robin over contracts this connection alone owns.

    spec["contracts"] holds one list of contract ids per connection (connection i owns
    list i) and spec["kinds"], if given, the request kind each connection reports (so
    that one run can compare two sets of contracts under the same conditions). The
    body has a fixed width, and a point of contact replaces the previous one, so
    request and response keep one size however long the contract gets. Each contract's
    current version is read with a GET in setup() (before the run starts) and again
    after any failure.
    """

    def __init__(self, spec: dict[str, Any], index: int):
        super().__init__(spec, index)
        owned = spec["contracts"]
        if index >= len(owned):
            raise ValueError(f"connection {index} owns no contracts ({len(owned)} lists)")
        self.ids = [str(c) for c in owned[index]]
        self.versions: list[int | None] = [None] * len(self.ids)
        self.kind = spec["kinds"][index] if "kinds" in spec else spec.get("kind", "command")
        token = spec["token"]
        self.prefix = f"Authorization: Bearer {token}\r\nHost: {self.host}\r\n".encode()
        self.gets = [build_request("GET", f"/v1/contracts/{i}", self.host, token)
                     for i in self.ids]
        self.j = 0
        self.n = index * 1_000_000

    def setup(self) -> None:
        super().setup()
        for j in range(len(self.ids)):
            self._resync(j)

    def _resync(self, j: int) -> None:
        status, head, body = self.conn.request(self.gets[j])
        if status != 200:
            raise RuntimeError(f"GET contract {self.ids[j]}: {status} {body[:200]!r}")
        self.versions[j] = etag_version(head)

    def step(self) -> Step:
        j = self.j
        self.j = (j + 1) % len(self.ids)
        if self.versions[j] is None:
            self._resync(j)
        version = self.versions[j]
        assert version is not None
        self.n += 1
        n = self.n % 10_000_000
        body = b'{"name":"Contact %07d","email":"contact.%07d@acme.example"}' % (n, n)
        request = b"".join((
            b"POST /v1/contracts/", self.ids[j].encode(), b"/point-of-contact HTTP/1.1\r\n",
            self.prefix,
            b'If-Match: "%d"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n'
            % (version, len(body)),
            body,
        ))
        status, head, resp = self.conn.request(request)
        if status != 200:
            self.versions[j] = None  # read it again before the next command on it
            return self.kind, status, False, resp[:300].decode(errors="replace")
        new_version = etag_version(head)
        if new_version != version + 1:
            self.versions[j] = None
            return self.kind, status, False, f"ETag {new_version} after {version}"
        self.versions[j] = new_version
        return self.kind, status, True, ""


class PgInsertScenario(Scenario):
    """Raw psycopg baseline: one single-row INSERT and COMMIT per step."""

    def setup(self) -> None:
        import psycopg

        self.conn = psycopg.connect(self.spec["dsn"], autocommit=False)
        self.sql = (f'INSERT INTO "{self.spec["schema"]}"."{self.spec["table"]}" '
                    "(originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)")
        self.originator = uuid.uuid4()
        self.version = 0
        self.state = os.urandom(self.spec.get("state_bytes", 600))
        self.cursor = self.conn.cursor()

    def step(self) -> Step:
        self.version += 1
        try:
            self.cursor.execute(self.sql, (self.originator, self.version,
                                           "bench:RawEvent", self.state), prepare=True)
            self.conn.commit()
        except Exception as error:
            self.conn.rollback()
            return "insert", 0, False, repr(error)[:300]
        return "insert", 0, True, ""

    def close(self) -> None:
        self.conn.close()


SCENARIOS: dict[str, type[Scenario]] = {
    "get": GetScenario,
    "commands": CommandScenario,
    "contact": ContactScenario,
    "pg_insert": PgInsertScenario,
}


# -- the load processes ---------------------------------------------------------------


@dataclass
class KindStats:
    latencies: array = field(default_factory=lambda: array("d"))
    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    warmup_ok: int = 0
    warmup_errors: int = 0


def _thread_loop(scenario: Scenario, window: tuple[float, float],
                 stats: dict[str, KindStats], fatal: list[str]) -> None:
    t_measure, t_end = window
    clock = time.monotonic
    consecutive_failures = 0
    while True:
        t0 = clock()
        if t0 >= t_end:
            break
        try:
            kind, status, ok, detail = scenario.step()
        except Exception as error:
            kind, status, ok, detail = "io", 0, False, repr(error)[:300]
            scenario.reset()
        t1 = clock()
        entry = stats.get(kind)
        if entry is None:
            entry = stats[kind] = KindStats()
        if t_measure <= t1 < t_end:
            if ok:
                entry.ok += 1
                entry.latencies.append(t1 - t0)
            else:
                entry.errors[status] = entry.errors.get(status, 0) + 1
        elif ok:
            entry.warmup_ok += 1
        else:
            entry.warmup_errors += 1
        if ok:
            consecutive_failures = 0
        else:
            if len(entry.samples) < 5:
                entry.samples.append(f"{status}: {detail}")
            consecutive_failures += 1
            if consecutive_failures >= 200:
                fatal.append(f"giving up after 200 consecutive failures; last: {status} {detail}")
                return
            time.sleep(0.005)


def _child_main(spec: dict[str, Any], first_index: int, n_threads: int, pipe: Any) -> None:
    try:
        scenarios = [SCENARIOS[spec["scenario"]](spec, first_index + i) for i in range(n_threads)]
        for scenario in scenarios:
            scenario.setup()
        pipe.send(("ready", None))
        message = pipe.recv()
        if message[0] != "go":
            return
        t_measure, t_end = message[1]
        per_thread: list[dict[str, KindStats]] = [{} for _ in scenarios]
        fatal: list[str] = []
        threads = [threading.Thread(target=_thread_loop, args=(s, (t_measure, t_end), st, fatal),
                                    daemon=True)
                   for s, st in zip(scenarios, per_thread, strict=True)]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, t_measure - time.monotonic()))
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(max(0.0, t_end - time.monotonic()))
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        for thread in threads:
            thread.join(timeout=60)
        merged: dict[str, KindStats] = {}
        for stats in per_thread:
            for kind, entry in stats.items():
                into = merged.setdefault(kind, KindStats())
                into.latencies.extend(entry.latencies)
                into.ok += entry.ok
                into.warmup_ok += entry.warmup_ok
                into.warmup_errors += entry.warmup_errors
                for status, n in entry.errors.items():
                    into.errors[status] = into.errors.get(status, 0) + n
                into.samples.extend(entry.samples[: max(0, 5 - len(into.samples))])
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        reconnects = sum(s.reconnects for s in scenarios)
        written: list[tuple[float, int]] = []  # (response time, position) in the window
        for scenario in scenarios:
            times, positions = (getattr(scenario, "written_at", ()),
                                getattr(scenario, "positions", ()))
            written.extend((t, p) for t, p in zip(times, positions, strict=True)
                           if t_measure <= t < t_end)
        # Keep the connections (and the database backends behind them) until the parent
        # has read its end-of-window CPU counters: a backend that exits first is missed.
        if pipe.poll(30):
            message = pipe.recv()
            if message[0] != "close":
                return
        for scenario in scenarios:
            scenario.close()
        pipe.send(("done", {"stats": merged, "cpu_seconds": cpu, "fatal": fatal,
                            "reconnects": reconnects, "written": written}))
    except BaseException:
        pipe.send(("error", traceback.format_exc()))


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise(entry: KindStats, seconds: float) -> dict[str, Any]:
    lat = sorted(entry.latencies)
    errors = sum(entry.errors.values())
    ms = 1000.0
    return {
        "requests": entry.ok,
        "rate_per_s": entry.ok / seconds if seconds else 0.0,
        "p50_ms": percentile(lat, 50) * ms if lat else None,
        "p90_ms": percentile(lat, 90) * ms if lat else None,
        "p99_ms": percentile(lat, 99) * ms if lat else None,
        "max_ms": lat[-1] * ms if lat else None,
        "mean_ms": sum(lat) / len(lat) * ms if lat else None,
        "errors": errors,
        "errors_by_status": {str(k): v for k, v in sorted(entry.errors.items())},
        "warmup_requests": entry.warmup_ok,
        "warmup_errors": entry.warmup_errors,
        "error_samples": entry.samples,
    }


def run_load(spec: dict[str, Any], *, connections: int, processes: int, warmup: float,
             duration: float, on_window: Callable[[str], None] | None = None,
             keep_latencies: bool = False) -> dict[str, Any]:
    """Run spec's scenario on `connections` connections; return figures per request kind.

    on_window("start") and on_window("end") are called in this process at the window's
    boundaries (to snapshot CPU counters, database positions, ...). keep_latencies adds
    every request's latency (seconds) per kind, so that merge_runs() can pool runs.
    A scenario that records its writes (spec["record_positions"]) adds "written": the
    (response time, ledger position) of every write completed in the window.
    """
    ctx = mp.get_context("spawn")
    processes = max(1, min(processes, connections))
    shares = [connections // processes + (1 if i < connections % processes else 0)
              for i in range(processes)]
    children = []
    first = 0
    try:
        for share in shares:
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_child_main, args=(spec, first, share, child_end),
                               daemon=True)
            proc.start()
            children.append((proc, parent_end))
            first += share
        for _, pipe in children:
            if not pipe.poll(60):
                raise RuntimeError("a load process did not get ready within 60 s")
            kind, payload = pipe.recv()
            if kind != "ready":
                raise RuntimeError(f"a load process failed to start:\n{payload}")
        t_measure = time.monotonic() + warmup
        t_end = t_measure + duration
        for _, pipe in children:
            pipe.send(("go", (t_measure, t_end)))
        time.sleep(max(0.0, t_measure - time.monotonic()))
        if on_window:
            on_window("start")
        time.sleep(max(0.0, t_end - time.monotonic()))
        if on_window:
            on_window("end")
        for _, pipe in children:
            pipe.send(("close", None))
        merged: dict[str, KindStats] = {}
        client_cpu = 0.0
        fatal: list[str] = []
        reconnects = 0
        written: list[tuple[float, int]] = []
        for proc, pipe in children:
            if not pipe.poll(120):
                raise RuntimeError("a load process did not report within 120 s of the end")
            kind, payload = pipe.recv()
            if kind != "done":
                raise RuntimeError(f"a load process failed:\n{payload}")
            client_cpu += payload["cpu_seconds"]
            fatal.extend(payload["fatal"])
            reconnects += payload["reconnects"]
            written.extend(payload.get("written", ()))
            for name, entry in payload["stats"].items():
                into = merged.setdefault(name, KindStats())
                into.latencies.extend(entry.latencies)
                into.ok += entry.ok
                into.warmup_ok += entry.warmup_ok
                into.warmup_errors += entry.warmup_errors
                for status, n in entry.errors.items():
                    into.errors[status] = into.errors.get(status, 0) + n
                into.samples.extend(entry.samples[: max(0, 5 - len(into.samples))])
            proc.join(timeout=10)
    finally:
        for proc, pipe in children:
            if proc.is_alive():
                with contextlib.suppress(OSError):
                    pipe.send(("stop", None))
                proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
    total = KindStats()
    for entry in merged.values():
        total.latencies.extend(entry.latencies)
        total.ok += entry.ok
        total.warmup_ok += entry.warmup_ok
        total.warmup_errors += entry.warmup_errors
        for status, n in entry.errors.items():
            total.errors[status] = total.errors.get(status, 0) + n
        total.samples.extend(entry.samples[: max(0, 5 - len(total.samples))])
    kinds = {"_total": summarise(total, duration)}
    kinds.update((name, summarise(entry, duration)) for name, entry in sorted(merged.items()))
    result: dict[str, Any] = {
        "kinds": kinds,
        "client_cpu_seconds": client_cpu,
        "fatal": fatal,
        "reconnects": reconnects,
        "window_seconds": duration,
    }
    if spec.get("record_positions"):
        result["written"] = sorted(written)
    if keep_latencies:
        result["latencies"] = {"_total": list(total.latencies)}
        result["latencies"].update((name, list(entry.latencies))
                                   for name, entry in merged.items())
    return result


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool several runs of one workload (each made with keep_latencies) into one result.

    Counts add up, percentiles are recomputed over every request of every run, rates
    are per second of all the measured windows together; the latencies are dropped.
    """
    seconds = sum(r["window_seconds"] for r in runs)
    names = sorted({k for r in runs for k in r["kinds"]})
    kinds: dict[str, Any] = {}
    for name in names:
        entry = KindStats()
        for run in runs:
            figures = run["kinds"].get(name)
            if figures is None:
                continue
            entry.latencies.extend(run["latencies"].get(name, []))
            entry.ok += figures["requests"]
            entry.warmup_ok += figures["warmup_requests"]
            entry.warmup_errors += figures["warmup_errors"]
            for status, n in figures["errors_by_status"].items():
                entry.errors[int(status)] = entry.errors.get(int(status), 0) + n
            entry.samples.extend(figures["error_samples"][: max(0, 5 - len(entry.samples))])
        kinds[name] = summarise(entry, seconds)
    return {
        "kinds": kinds,
        "fatal": [m for r in runs for m in r["fatal"]],
        "reconnects": sum(r["reconnects"] for r in runs),
        "window_seconds": seconds,
        "runs": len(runs),
    }
