"""The read side for run.py's `projections` phase: a ledger to rebuild, and the timings.

Building: a ledger of 100,000 events and more through the HTTP API would take minutes
here, so, as for the long streams (bench/longstreams.py), the Contract aggregate makes
the events itself, in a few processes at once, and commits them through the
application's group committer, the events of 50 contracts interleaved (one event of
each per commit, in turn), so that a contract's events lie apart in the log as in a
ledger whose contracts live side by side. Every contract lives
a realistic life, so that every view has work: drafted, set up (point of contact, SLA
metric, exit plan, penalty and incentive rules), activated, then 36 monthly SLA
reports (met, breached with a penalty, or earning an incentive), some penalties waived
or disputed and the dispute resolved, a health check with findings (one resolved
after a corrective action, one accepted as a risk), quarterly reviews (scorecard
reviews carry a balanced scorecard), a title amendment, a renewal (one contract in four),
a few changes of contact, and for one in ten a termination. About 130 events per
contract, spread over 40 vendors.

Lag: `TrackingSampler` polls the views' positions (the tracking table, active
generations only) every few milliseconds from its own connection and keeps the time
each position was first seen; `lag_figures` matches them with the writes the load
generator recorded (response time, Ledger-Position) and gives, per view, how long after
the write's response the view had processed it.

Rebuild timings: `service.runner.rebuild()` of each view, then of all views in one pass
(what `ledger rebuild` does), on the application `ledger rebuild` builds; and
the floor they are measured against: reading the whole notification log the way
rebuild reads it (`select_notifications`, same page size) and decoding every event
(`mapper.to_domain_event`).
"""

from __future__ import annotations

import concurrent.futures
import cProfile
import gc
import io
import math
import multiprocessing as mp
import pstats
import random
import sqlite3
import threading
import time
from bisect import bisect_left
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
_LEDGER: Any = None  # one application per build process

VENDORS = 40
MONTHS = [f"{y}-{m:02d}" for y in (2026, 2027, 2028) for m in range(1, 13)]
REPORTED_ON = date(2029, 1, 10)  # after every period; disputes are raised the same day


def settings_for(url: str, environ: Mapping[str, str]) -> Any:
    from service.config import Settings

    return Settings.from_env({**environ, "LEDGER_DATABASE_URL": url})


# -- building ---------------------------------------------------------------------------


def _init_builder(url: str, environ: dict[str, str]) -> None:
    global _LEDGER
    import atexit

    from service.app import build_ledger

    _LEDGER = build_ledger(settings_for(url, environ))
    atexit.register(_LEDGER.close)


def _life(index: int, rng: random.Random) -> Any:
    """One contract's whole life (the aggregate, its events still pending)."""
    from domain.contract import Contract
    from domain.credits import IncentiveRule, MetricValue, MissingData, PenaltyRule, Tier
    from domain.governance import (
        FindingCategory,
        FindingSpec,
        HealthRating,
        ReviewKind,
        Scorecard,
        ScorecardEntry,
        Severity,
    )
    from domain.money import Money
    from domain.values import (
        DeliveryLocation,
        Direction,
        ExitPlan,
        ExitStep,
        MeasurementPeriod,
        PointOfContact,
        Provenance,
        RenewalOption,
        ServiceScope,
        SlaMetric,
        SourcingModel,
        Term,
        TermChanges,
        Vendor,
    )

    by = Provenance("bench-build", "procurement", f"bench-{index}")
    vendor_no = index % VENDORS
    contract = Contract.draft(
        contract_id=uuid4(), title=f"Managed services lot {index}",
        vendor=Vendor(f"vendor-{vendor_no:02d}", f"Vendor {vendor_no:02d}"),
        service_scope=rng.choice(list(ServiceScope)),
        sourcing_model=rng.choice(list(SourcingModel)),
        delivery_location=rng.choice(list(DeliveryLocation)),
        value=Money(Decimal("1096000.00"), "EUR"),
        term=Term(date(2026, 1, 1), date(2028, 12, 31), 90, RenewalOption.OPTIONAL),
        objectives=("Cut run cost by 15%",), provenance=by)
    contract.designate_point_of_contact(PointOfContact("Ana", "ana@vendor.example"), by)
    contract.define_sla_metric(SlaMetric(
        "availability", "Availability", "percent", Direction.HIGHER_IS_BETTER, Decimal("99.9"),
        MeasurementPeriod.MONTHLY, date(2026, 1, 1)), by)
    contract.define_exit_plan(ExitPlan(
        steps=(ExitStep("handover", "Hand over runbooks", mandatory=True),),
        budget=Money(Decimal("50000.00"), "EUR"), transition_period_days=90,
        data_return="Configs as JSON"), by)
    contract.define_penalty_rule(PenaltyRule(
        "availability-credit", "availability",
        (Tier(Decimal("99.9"), Decimal("5")), Tier(Decimal("99.5"), Decimal("10"))),
        None, None, 0, MissingData.BREACH, date(2026, 1, 1)), by)
    contract.define_incentive_rule(IncentiveRule(
        "availability-bonus", "availability", (Tier(Decimal("99.99"), Decimal("2")),), 1,
        None, None, date(2026, 1, 1)), by)
    contract.activate(date(2026, 1, 1), by)
    for month_no, month in enumerate(MONTHS):
        roll = rng.random()
        value = "99.995" if roll < 0.25 else "99.7" if roll < 0.45 else "99.2" if roll < 0.5 \
            else "99.95"
        contract.report_performance(f"r-{month}", month,
                                    (MetricValue("availability", Decimal(value)),),
                                    "vendor portal", None, REPORTED_ON, by)
        if month_no % 3 == 2:
            quarter = f"{month[:4]}-Q{month_no % 12 // 3 + 1}"
            scorecard = month_no % 6 == 5
            contract.hold_review(
                f"review-{month}", ReviewKind.SCORECARD if scorecard else ReviewKind.SLA_REVIEW,
                date(int(month[:4]), int(month[5:]), 28), quarter, ("Ana", "Ben"),
                ("carry on",),
                Scorecard(*(ScorecardEntry(rng.randint(1, 5), "noted") for _ in range(4)))
                if scorecard else None, by)
    for n, penalty_id in enumerate(list(contract.penalties)):
        if n % 3 == 0:
            contract.waive_penalty(penalty_id, "goodwill", "CFO", by)
        elif n % 3 == 1:
            contract.dispute_penalty(penalty_id, "maintenance window", None, REPORTED_ON, 30,
                                     by)
            contract.resolve_dispute(penalty_id, "upheld", None, "as assessed", by)
    contract.conduct_health_check(
        "hc-2027", date(2027, 6, 30), ("Ana", "Ben"), "security and delivery",
        HealthRating.AMBER,
        (FindingSpec("f1", FindingCategory.SECURITY, Severity.HIGH, "Patching lags",
                     "Vendor security lead", date(2027, 9, 30)),
         FindingSpec("f2", FindingCategory.DELIVERY, Severity.MEDIUM, "Slow changes",
                     "Vendor delivery lead", date(2027, 12, 31))), by)
    contract.plan_corrective_action("f1", "patch", "Patch monthly", "Ops", date(2027, 8, 1), by)
    contract.complete_corrective_action("f1", "patch", date(2027, 8, 1), "done", by)
    contract.resolve_finding("f1", "clean scan report", date(2027, 8, 2), by)
    contract.accept_finding_risk("f2", "CIO", "change board in 2028", by)
    contract.amend_terms(TermChanges(title=f"Managed services lot {index} (renegotiated)"),
                         "renegotiated", date(2027, 1, 1), by)
    if index % 4 == 0:
        contract.renew(date(2029, 12, 31), "extended a year", date(2028, 6, 1), by)
    for n in range(3):
        contract.designate_point_of_contact(
            PointOfContact(f"Contact {n}", f"contact.{n}@vendor.example"), by)
    if index % 10 == 3:
        contract.terminate("vendor exit", date(2028, 12, 1), by, override_reason="board")
    return contract


def _build_chunk(first: int, count: int, seed: int) -> tuple[int, dict[str, int]]:
    """Build contracts first..first+count-1 and commit their events interleaved, one event
    of each contract per commit in turn, as if they had lived side by side (a contract's
    events then lie far apart in the log, as they do in a real ledger); return the number
    of events and their types."""
    rng = random.Random(seed)
    kinds: dict[str, int] = {}
    lives = [list(_life(index, rng).collect_events()) for index in range(first, first + count)]
    events = 0
    step = 0
    while lives:
        batch = [life[step] for life in lives]
        lives = [life for life in lives if len(life) > step + 1]
        step += 1
        for event in batch:
            name = type(event).__name__
            kinds[name] = kinds.get(name, 0) + 1
        _LEDGER.committer.commit(batch)
        events += len(batch)
    return events, kinds


def build(url: str, environ: dict[str, str], *, min_events: int,
          processes: int) -> dict[str, Any]:
    """Build contracts until the ledger holds at least min_events events (counted in the
    store afterwards)."""
    # One contract has about 140 events; ask a first one how many exactly.
    probe = _life(0, random.Random(0))
    per_contract = len(probe.collect_events())
    contracts = -(-min_events * 105 // 100 // per_contract)  # 5 % to spare (random lives)
    chunk = 50
    t0 = time.monotonic()
    ctx = mp.get_context("spawn")
    kinds: dict[str, int] = {}
    events = 0
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=max(1, processes), mp_context=ctx, initializer=_init_builder,
            initargs=(url, environ)) as pool:
        futures = [pool.submit(_build_chunk, first, min(chunk, contracts - first), first)
                   for first in range(0, contracts, chunk)]
        for future in futures:
            n, k = future.result()
            events += n
            for name, c in k.items():
                kinds[name] = kinds.get(name, 0) + c
    seconds = time.monotonic() - t0
    stored = count_events(url, environ)
    if stored < min_events or stored != events:
        raise RuntimeError(f"built {events} events, the store holds {stored}; wanted "
                           f"at least {min_events}")
    return {"contracts": contracts, "events": stored, "vendors": VENDORS,
            "events_per_contract": stored / contracts, "seconds": seconds,
            "events_per_s": stored / seconds, "processes": processes,
            "event_types": dict(sorted(kinds.items(), key=lambda kv: -kv[1]))}


def count_events(url: str, environ: dict[str, str]) -> int:
    """COUNT(*) of the store's events (not max(notification_id): ids may have gaps)."""
    from service.app import build_ledger

    ledger = build_ledger(settings_for(url, environ))
    try:
        recorder: Any = ledger.recorder
        datastore = recorder.datastore
        if hasattr(datastore, "schema"):
            with datastore.transaction(commit=False) as curs:
                curs.execute(f'SELECT COUNT(*) AS n FROM "{datastore.schema}".'
                             f'"{recorder.events_table_name}"')
                return int(curs.fetchone()["n"])
        with datastore.transaction(commit=False) as c:
            c.execute(f"SELECT COUNT(*) FROM {recorder.events_table_name}")
            return int(c.fetchone()[0])
    finally:
        ledger.close()


# -- projection lag ---------------------------------------------------------------------


class TrackingSampler(threading.Thread):
    """Polls every view's position (active generation) every `interval` seconds and
    records (time the poll returned, position) whenever a position changes."""

    def __init__(self, url: str, interval: float):
        super().__init__(name="tracking-sampler", daemon=True)
        self.url, self.interval = url, interval
        self.samples: dict[str, tuple[list[float], list[int]]] = {}
        self.polls = 0
        self.query_seconds: list[float] = []
        self.gaps: list[float] = []  # between the ends of consecutive polls
        self.error: BaseException | None = None
        self._stop_event = threading.Event()
        self.ready = threading.Event()

    def _query(self) -> Any:
        from projections.session import TRACKING_TABLE, VIEWS_TABLE

        if self.url.startswith("sqlite"):
            path = self.url.split("sqlite:///", 1)[1]
            conn = sqlite3.connect(path, timeout=5, isolation_level=None)
            sql = (f"SELECT t.view, t.notification_id FROM {TRACKING_TABLE} t JOIN "
                   f"{VIEWS_TABLE} v ON v.view = t.view AND v.generation = t.generation")
            return conn, lambda: conn.execute(sql).fetchall()
        import psycopg

        base, _, query = self.url.partition("?")
        schema = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("schema",
                                                                                 "public")
        conn = psycopg.connect(base, autocommit=True)
        sql = (f'SELECT t.view, t.notification_id FROM "{schema}"."{TRACKING_TABLE}" t JOIN '
               f'"{schema}"."{VIEWS_TABLE}" v ON v.view = t.view AND v.generation = t.generation')
        return conn, lambda: conn.execute(sql, prepare=True).fetchall()

    def run(self) -> None:
        try:
            conn, query = self._query()
        except BaseException as error:
            self.error = error
            self.ready.set()
            return
        clock = time.monotonic
        last: dict[str, int] = {}
        previous_end = None
        try:
            while not self._stop_event.is_set():
                t0 = clock()
                rows = query()
                t1 = clock()
                self.polls += 1
                self.query_seconds.append(t1 - t0)
                if previous_end is not None:
                    self.gaps.append(t1 - previous_end)
                previous_end = t1
                for view, position in rows:
                    position = int(position)
                    if last.get(view) != position:
                        last[view] = position
                        times, positions = self.samples.setdefault(view, ([], []))
                        times.append(t1)
                        positions.append(position)
                self.ready.set()
                self._stop_event.wait(max(0.0, self.interval - (clock() - t0)))
        except BaseException as error:
            self.error = error
        finally:
            self.ready.set()
            conn.close()

    def positions(self) -> dict[str, int]:
        return {view: positions[-1] for view, (_, positions) in self.samples.items()}

    def wait_for(self, position: int, timeout: float) -> float | None:
        """Wait until every view is at position or beyond; return when (monotonic), None
        after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise RuntimeError(f"tracking sampler failed: {self.error!r}")
            current = self.positions()
            if current and min(current.values()) >= position:
                return max(self.samples[v][0][bisect_left(self.samples[v][1], position)]
                           for v in current)
            time.sleep(0.01)
        return None

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        gaps, queries = sorted(self.gaps), sorted(self.query_seconds)
        return {"polls": self.polls, "interval_ms": self.interval * 1000,
                "poll_gap_ms_median": gaps[len(gaps) // 2] * 1000 if gaps else None,
                "poll_gap_ms_p99": gaps[int(len(gaps) * 0.99)] * 1000 if gaps else None,
                "query_ms_median": queries[len(queries) // 2] * 1000 if queries else None}


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a non-empty ascending list (as loadgen.percentile)."""
    rank = max(1, math.ceil(q * len(ordered) / 100))
    return ordered[min(rank, len(ordered)) - 1]


def _lag_stats(lags: list[float], before: int, missing: int) -> dict[str, Any]:
    ordered = sorted(lags)
    if not ordered:
        return {"writes": 0, "not_reached": missing}
    ms = 1000.0
    return {"writes": len(ordered), "p50_ms": _percentile(ordered, 50) * ms,
            "p90_ms": _percentile(ordered, 90) * ms, "p99_ms": _percentile(ordered, 99) * ms,
            "max_ms": ordered[-1] * ms, "mean_ms": sum(ordered) / len(ordered) * ms,
            "seen_before_response": before, "not_reached": missing}


def lag_figures(written: list[tuple[float, int]],
                samples: dict[str, tuple[list[float], list[int]]]) -> dict[str, Any]:
    """Per view, and for all views together (the last of them), the time from each
    write's response to the first poll that saw the view at its position or beyond.

    A poll that saw a view there before the response arrived counts as 0 (the view
    was there first; counted in seen_before_response). The figures are upper bounds:
    the view got there at some time between the poll before and the poll that saw it.
    """
    out: dict[str, Any] = {}
    per_write: list[list[float | None]] = [[] for _ in written]
    for view, (times, positions) in sorted(samples.items()):
        lags: list[float] = []
        before = missing = 0
        for i, (t_write, position) in enumerate(written):
            index = bisect_left(positions, position)
            if index == len(positions):
                missing += 1
                per_write[i].append(None)
                continue
            lag = times[index] - t_write
            if lag < 0:
                before += 1
                lag = 0.0
            lags.append(lag)
            per_write[i].append(lag)
        out[view] = _lag_stats(lags, before, missing)
    every = [max(x for x in lags if x is not None) for lags in per_write
             if lags and None not in lags]
    out["_all"] = _lag_stats(every, sum(1 for lags in per_write if lags and max(
        x for x in lags if x is not None) == 0 and None not in lags),
        sum(1 for lags in per_write if None in lags))
    return out


# -- rebuild timings --------------------------------------------------------------------


def _timed(func: Any) -> tuple[float, float, Any]:
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    value = func()
    return time.perf_counter() - w0, time.process_time() - c0, value


def _rows(view: Any) -> dict[str, int]:
    """Rows per table of the view's active generation."""
    return view.read(lambda s: {table: int(s.execute(f"SELECT COUNT(*) AS n FROM {{{table}}}")
                                           [0]["n"]) for table in view.tables})


def _floor(ledger: Any, batch_size: int, decode: bool) -> int:
    """Read the notification log page by page, as rebuild does (and decode every event)."""
    recorder, mapper = ledger.recorder, ledger.mapper
    position, count = 0, 0
    while notifications := recorder.select_notifications(start=position + 1, limit=batch_size):
        if decode:
            for notification in notifications:
                mapper.to_domain_event(notification)
        position = notifications[-1].id
        count += len(notifications)
    return count


def _repeat(func: Any, repeats: int) -> dict[str, Any]:
    """Run func (which returns the events it went through) `repeats` times; the figure is
    the median run by events/s, the others are kept."""
    runs = []
    for _ in range(repeats):
        wall, cpu, count = _timed(func)
        runs.append({"events": count, "wall_s": wall, "cpu_s": cpu,
                     "events_per_s": count / wall if wall else None})
    ordered = sorted(runs, key=lambda r: r["events_per_s"] or 0)
    return {**ordered[(len(ordered) - 1) // 2], "runs": runs,
            "best_events_per_s": ordered[-1]["events_per_s"],
            "worst_events_per_s": ordered[0]["events_per_s"]}


def measure_rebuilds(url: str, environ: dict[str, str], *, repeats: int = 3,
                     profile: bool = True, profile_top: int = 25) -> dict[str, Any]:
    """In this process, one call at a time: the floor (read the log; read and decode it),
    rebuild() of each view `repeats` times, then of all views in one pass once
    (what `ledger rebuild` does), and one rebuild of each view under cProfile."""
    from service.app import build_ledger
    from service.runner import VIEWS, build_projections, build_views, rebuild

    settings = settings_for(url, environ)
    ledger = build_ledger(settings)
    out: dict[str, Any] = {"views": {}, "repeats": repeats}
    try:
        projections = {p.name: p for p in build_projections(build_views(ledger))}
        batch_size = rebuild.__kwdefaults__["batch_size"]  # type: ignore[index]
        out["batch_size"] = batch_size
        out["head"] = ledger.recorder.max_notification_id() or 0
        # Warm up: connections, prepared statements, imports.
        ledger.recorder.select_notifications(start=1, limit=10)
        out["floor"] = {
            "read": _repeat(lambda: _floor(ledger, batch_size, False), repeats),
            "read_decode": _repeat(lambda: _floor(ledger, batch_size, True), repeats),
        }
        for name in VIEWS:
            result = _repeat(lambda name=name: rebuild(ledger, projections[name]), repeats)
            result["rows"] = _rows(projections[name].view)
            out["views"][name] = result

        def rebuild_all() -> int:  # what `ledger rebuild` does: one pass for all views
            return rebuild(ledger, *(projections[name] for name in VIEWS))

        wall, cpu, events = _timed(rebuild_all)
        out["all"] = {"events": events, "wall_s": wall, "cpu_s": cpu,
                      "events_per_s": events / wall,
                      "rows": {name: _rows(projections[name].view) for name in VIEWS}}
        if profile:
            out["profile"] = {name: _profile(lambda name=name: rebuild(
                ledger, projections[name]), profile_top) for name in VIEWS}
    finally:
        ledger.close()
    return out


def _profile(func: Any, top: int) -> dict[str, Any]:
    """cProfile one call: wall time under the profiler, and the top functions by own time
    and by cumulative time."""
    profiler = cProfile.Profile()
    gc.collect()
    t0 = time.perf_counter()
    profiler.runcall(func)
    wall = time.perf_counter() - t0
    stats = pstats.Stats(profiler, stream=io.StringIO())
    entries = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in \
            stats.stats.items():  # type: ignore[attr-defined]
        entries.append({"function": f"{_short(filename)}:{line}({function})", "calls": calls,
                        "tottime_s": round(tottime, 4), "cumtime_s": round(cumtime, 4)})
    total = sum(e["tottime_s"] for e in entries)
    return {
        "wall_s_under_profiler": wall,
        "total_tottime_s": total,
        "by_tottime": sorted(entries, key=lambda e: -e["tottime_s"])[:top],
        "by_cumtime": sorted(entries, key=lambda e: -e["cumtime_s"])[:top],
        "by_area": _areas(entries),
    }


AREAS = (  # first match wins: own time of functions, by where they live
    ("PostgreSQL driver (psycopg)", ("psycopg",)),
    ("SQLite driver", ("sqlite3", "{method 'execute",
                       "{method 'executemany", "{method 'fetchall")),
    ("decode: JSON, transcodings, event objects", ("eventsourcing/persistence", "json",
                                                    "transcodings", "eventsourcing/domain",
                                                    "uuid", "dataclasses", "decimal",
                                                    "domain/")),
    ("views: fold, rows, SQL text", ("projections/",)),
    ("runner: Catcher, rebuild", ("service/runner",)),
)


def _areas(entries: list[dict[str, Any]]) -> dict[str, float]:
    areas: dict[str, float] = {}
    for entry in entries:
        name = entry["function"]
        area = next((label for label, needles in AREAS if any(n in name for n in needles)),
                    "other (builtins, functools, ...)")
        areas[area] = areas.get(area, 0.0) + entry["tottime_s"]
    return {k: round(v, 3) for k, v in sorted(areas.items(), key=lambda kv: -kv[1])}


def _short(filename: str) -> str:
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
