"""Long contract streams for run.py's `long` phase: build them, time cold loads.

Building: 10,000 events through the HTTP API (or one use-case call per event) would
take minutes on a small machine, since every command is its own request and commit.
So the streams are built in-process, in a few processes at once, by the Contract
aggregate itself (the same events, hashes and chain links a command makes), committed
through the application's group committer a snapshot interval at a time, and
snapshotted by the application's own rule (`ContractLedger._snapshot_if_due`, the
one every command runs). The build is checked: every long contract must have its
latest snapshot at the last multiple of SNAPSHOT_INTERVAL.

Cold loads: an application object without an aggregate cache (the
AGGREGATE_CACHE_MAXSIZE setting left empty; note that the library takes 0 as
"unbounded", not "off") reconstructs a contract from the store on every
`repository.get`: latest snapshot plus the events after it. That is what the first
request on a contract pays after a worker restart or a cache eviction.

Hot commands: the application as a web worker builds it (with the cache), one
command at a time, so the CPU time of a command is measured without HTTP and without
other requests competing for the machine.
"""

from __future__ import annotations

import concurrent.futures
import gc
import multiprocessing as mp
import statistics
import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

_LEDGER: Any = None  # one application per build process


def settings_for(url: str, environ: Mapping[str, str]) -> Any:
    from service.config import Settings

    return Settings.from_env({**environ, "LEDGER_DATABASE_URL": url})


def uncached_ledger(settings: Any, *, snapshots: bool = True) -> Any:
    """The application as build_ledger makes it, but with no aggregate cache."""
    from service.application import ContractLedger

    env = {**settings.persistence_env(), "AGGREGATE_CACHE_MAXSIZE": ""}
    if not snapshots:
        env["IS_SNAPSHOTTING_ENABLED"] = "n"
    ledger = ContractLedger(env, commit_batch_size=settings.commit_batch_size,
                            dispute_window_days=settings.dispute_window_days)
    assert ledger.repository.cache is None, "the aggregate cache is still on"
    return ledger


def _contact(version: int) -> Any:
    from domain.values import PointOfContact

    # Fixed width, like the load generator's: the state does not grow.
    return PointOfContact(f"Contact {version:07d}", f"contact.{version:07d}@acme.example")


def _provenance() -> Any:
    from domain.values import Provenance

    return Provenance("bench-build", "procurement", "bench-build")


def _draft() -> Any:
    from domain.contract import Contract
    from service.http import schemas
    from tests.support import contract_body  # the body the test suite drafts with

    data = schemas.DraftContractSchema().load(contract_body())
    return Contract.draft(contract_id=uuid4(), provenance=_provenance(), **data)


def _grow(ledger: Any, contracts: list[Any], target: int) -> None:
    """Add point-of-contact events until every contract is at `target`, committing at
    most one snapshot interval of each contract per transaction."""
    from service.application import SNAPSHOT_INTERVAL

    provenance = _provenance()
    while contracts and contracts[0].version < target:
        batch = []
        for contract in contracts:
            # The draft is still pending at version 1; stop at the next multiple.
            room = SNAPSHOT_INTERVAL - contract.version % SNAPSHOT_INTERVAL
            for _ in range(min(room, target - contract.version)):
                contract.designate_point_of_contact(_contact(contract.version + 1), provenance)
            events = contract.collect_events()
            batch.append((contract, len(events)))
            ledger.committer.commit(events)
        for contract, new_events in batch:
            ledger._snapshot_if_due(contract, new_events)  # the service's own snapshot rule


def _init_builder(url: str, environ: dict[str, str]) -> None:
    global _LEDGER
    import atexit

    from service.app import build_ledger

    _LEDGER = build_ledger(settings_for(url, environ))
    atexit.register(_LEDGER.close)


def _build_long(target: int) -> tuple[str, int, float]:
    t0 = time.monotonic()
    contract = _draft()
    _grow(_LEDGER, [contract], target)
    return str(contract.id), contract.version, time.monotonic() - t0


def _build_fresh(count: int, events: int) -> list[tuple[str, int]]:
    contracts = [_draft() for _ in range(count)]
    if events > 1:
        _grow(_LEDGER, contracts, events)
    else:
        _LEDGER.committer.commit([e for c in contracts for e in c.collect_events()])
    return [(str(c.id), c.version) for c in contracts]


def build(url: str, environ: dict[str, str], *, long_targets: list[int], fresh_count: int,
          fresh_events: int, processes: int) -> dict[str, Any]:
    """Build the long contracts (one per target length) and the fresh ones, in parallel.

    Returns ids and versions, timings, and the snapshot check."""
    t0 = time.monotonic()
    ctx = mp.get_context("spawn")
    chunk = 32
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=max(1, processes), mp_context=ctx, initializer=_init_builder,
            initargs=(url, environ)) as pool:
        # Longest first, so that the processes finish together.
        longs = [pool.submit(_build_long, t) for t in sorted(long_targets, reverse=True)]
        freshes = [pool.submit(_build_fresh, min(chunk, fresh_count - i), fresh_events)
                   for i in range(0, fresh_count, chunk)]
        long = [f.result() for f in longs]
        fresh = [c for f in freshes for c in f.result()]
    seconds = time.monotonic() - t0
    events = sum(v for _, v, _ in long) + sum(v for _, v in fresh)
    result: dict[str, Any] = {
        "long": [{"id": i, "version": v} for i, v, _ in long],
        "fresh": [{"id": i, "version": v} for i, v in fresh],
        "seconds": seconds,
        "events": events,
        "events_per_s": events / seconds if seconds else None,
        "processes": processes,
    }
    result["snapshot_check"] = check_snapshots(url, environ, [i for i, _, _ in long])
    if not result["snapshot_check"]["ok"]:
        raise RuntimeError(f"long contracts not snapshotted as expected: "
                           f"{result['snapshot_check']}")
    return result


def check_snapshots(url: str, environ: dict[str, str], ids: list[str]) -> dict[str, Any]:
    """Is every contract's latest snapshot at the last multiple of SNAPSHOT_INTERVAL?"""
    from service.application import SNAPSHOT_INTERVAL

    ledger = uncached_ledger(settings_for(url, environ))
    try:
        rows = []
        for contract_id in ids:
            uid = UUID(contract_id)
            version = ledger.repository.get(uid).version
            latest = list(ledger.snapshots.get(uid, desc=True, limit=1))
            snap = latest[0].originator_version if latest else None
            rows.append({"id": contract_id, "version": version, "snapshot_version": snap,
                         "expected": version // SNAPSHOT_INTERVAL * SNAPSHOT_INTERVAL or None})
        bad = [r for r in rows if r["snapshot_version"] != r["expected"]]
        return {"ok": not bad, "contracts": len(rows), "wrong": bad[:5],
                "versions": [r["version"] for r in rows],
                "events_after_snapshot": [r["version"] - (r["snapshot_version"] or 0)
                                          for r in rows]}
    finally:
        ledger.close()


# -- cold loads -----------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"n": len(ordered), "median_ms": statistics.median(ordered) * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000, "min_ms": ordered[0] * 1000,
            "p90_ms": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000,
            "max_ms": ordered[-1] * 1000}


def _timed(func: Any) -> tuple[float, float, Any]:
    w0, c0 = time.perf_counter(), time.process_time()
    value = func()
    return time.perf_counter() - w0, time.process_time() - c0, value


def _fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares y = a + b x; None when x does not vary."""
    xs = [x for x, _ in points]
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(y for _, y in points)
    b = (sum((x - mx) * (y - my) for x, y in points)
         / sum((x - mx) ** 2 for x in xs))
    return my - b * mx, b


def measure_in_process(url: str, environ: dict[str, str], long_ids: list[str],
                       fresh_ids: list[str], *, rounds: int, command_rounds: int,
                       hot_commands: int) -> dict[str, Any]:
    """In this process, one call at a time, long and fresh contracts alternating:

    - cold loads (`repository.get` without cache) and cold first commands;
    - one full replay of a long contract with snapshots off (what snapshots save);
    - hot commands: `hot_commands` point-of-contact commands per contract on an
      application with the aggregate cache, as a web worker runs them (cache hit,
      fast-forward, copy, command, group commit, snapshot when due, response data).
    """
    from domain.values import Provenance
    from service.app import build_ledger
    from service.application import SNAPSHOT_INTERVAL, CommandContext

    settings = settings_for(url, environ)
    ctx = CommandContext(Provenance("bench-cold", "procurement", "bench-cold"), "bench-cold")
    long_uids, fresh_uids = [UUID(i) for i in long_ids], [UUID(i) for i in fresh_ids]
    pairs = list(zip(long_uids, fresh_uids, strict=False))
    out: dict[str, Any] = {}

    def commands(ledger: Any, n: int) -> dict[str, Any]:
        versions = {uid: ledger.repository.get(uid).version for uid in long_uids + fresh_uids}
        times: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []}
                                                   for k in ("long", "fresh")}
        snapshots = {"long": 0, "fresh": 0}  # commands that also wrote a snapshot
        gc.collect()
        for _ in range(n):
            for lu, fu in pairs:
                for kind, uid in (("long", lu), ("fresh", fu)):
                    version = versions[uid]
                    wall, cpu, result = _timed(lambda uid=uid, v=version: (
                        ledger.designate_point_of_contact(
                            uid, v, point_of_contact=_contact(v + 1), ctx=ctx)))
                    versions[uid] = result.version
                    snapshots[kind] += result.version % SNAPSHOT_INTERVAL == 0
                    times[kind]["wall"].append(wall)
                    times[kind]["cpu"].append(cpu)
        return {k: {"wall": _stats(v["wall"]), "cpu": _stats(v["cpu"]),
                    "snapshots_written": snapshots[k]} for k, v in times.items()}

    ledger = uncached_ledger(settings)
    try:
        for uid in (fresh_uids[0], long_uids[0]):  # connections, prepared statements, imports
            ledger.repository.get(uid)

        # Events replayed after the snapshot, per long contract.
        after: dict[UUID, int] = {}
        for uid in long_uids:
            latest = list(ledger.snapshots.get(uid, desc=True, limit=1))
            version = ledger.repository.get(uid).version
            after[uid] = version - (latest[0].originator_version if latest else 0)
        fresh_versions = [ledger.repository.get(uid).version for uid in fresh_uids]

        loads: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []}
                                                   for k in ("long", "fresh")}
        per_contract: dict[UUID, list[float]] = {uid: [] for uid in long_uids}
        gc.collect()
        for _ in range(rounds):
            for lu, fu in pairs:
                for kind, uid in (("long", lu), ("fresh", fu)):
                    wall, cpu, _ = _timed(lambda uid=uid: ledger.repository.get(uid))
                    loads[kind]["wall"].append(wall)
                    loads[kind]["cpu"].append(cpu)
                    if kind == "long":
                        per_contract[uid].append(wall)
        out["load"] = {k: {"wall": _stats(v["wall"]), "cpu": _stats(v["cpu"])}
                       for k, v in loads.items()}
        fit = _fit([(after[uid], statistics.median(ts)) for uid, ts in per_contract.items()])
        out["load_model"] = None if fit is None else {"fixed_ms": fit[0] * 1000,
                                                      "per_event_ms": fit[1] * 1000}
        out["events_after_snapshot"] = {"min": min(after.values()), "max": max(after.values()),
                                        "mean": statistics.fmean(after.values())}
        out["fresh_events"] = {"min": min(fresh_versions), "max": max(fresh_versions)}

        # The first command after a restart: cold load + command + commit + response data.
        out["command"] = commands(ledger, command_rounds)
    finally:
        ledger.close()

    # What the snapshots save: one long contract replayed from its first event.
    plain = uncached_ledger(settings, snapshots=False)
    try:
        plain.repository.get(fresh_uids[0])
        gc.collect()
        wall, cpu, contract = _timed(lambda: plain.repository.get(long_uids[0]))
        out["full_replay"] = {"events": contract.version, "wall_ms": wall * 1000,
                              "cpu_ms": cpu * 1000}
    finally:
        plain.close()

    # Hot: the web worker's application, its cache warmed by one command per contract.
    cached = build_ledger(settings)
    try:
        commands(cached, 1)
        out["hot"] = commands(cached, hot_commands)
        out["hot_commands_per_contract"] = hot_commands
    finally:
        cached.close()

    def ratio(key: str, clock: str, stat: str) -> float:
        return out[key]["long"][clock][stat] / max(out[key]["fresh"][clock][stat], 1e-9)

    out["ratios"] = {
        "load_wall": ratio("load", "wall", "median_ms"),
        "load_cpu": ratio("load", "cpu", "median_ms"),
        "command_wall": ratio("command", "wall", "median_ms"),
        "command_cpu": ratio("command", "cpu", "median_ms"),
        # means: a snapshot is written on one command in SNAPSHOT_INTERVAL
        "hot_wall": ratio("hot", "wall", "mean_ms"),
        "hot_cpu": ratio("hot", "cpu", "mean_ms"),
    }
    return out
