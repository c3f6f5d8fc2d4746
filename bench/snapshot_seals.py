"""Snapshot seals before and after the seal chains, side by side in one run: verify's speed and a snapshot's load.

    .venv/bin/python bench/snapshot_seals.py [--history 10000] [--dossiers 20] [--postgres URL | --no-postgres]

Per backend, two stores are written alike (a dossier with a long history, as figure 4 of issue 5 writes it, and
some shorter ones): one with seals of the first format (one signature per snapshot, checked one by one: "before"),
one with chained seals ("after"). Then, interleaved:

- verify (the engine's, as `dossierflow verify`) in events/s on each store, and the floor beside it: a bare SELECT
  and a chained sha256 over the same rows (issue 5's figure 5);
- a snapshot's load through the sealed recorder (its SELECT, its seal's SELECT, the signature check) in µs, on each
  store, beside the library's own SELECT of the same snapshot without any seal ("unsealed").

Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_POSTGRES_URL, District, Store, district, stores
from issue5_figures import bare_verify, long_history

from workflow.store.snapshots import SealedSnapshots

FORMATS = {"before": 1, "after": 2}


def build(store: Store, seal_format: int, history: int, dossiers: int) -> tuple[District, list[tuple[UUID, int]]]:
    """A district written with seals of one format, and the (dossier, version) of every snapshot written."""
    d = district(store)
    assert d.engine.snapshots is not None
    recorder = d.engine.snapshots.recorder
    assert isinstance(recorder, SealedSnapshots)
    recorder.seal_format = seal_format
    histories = [long_history(d, "history-big", history)[0]]
    histories += [long_history(d, f"history-{n}", max(history // 20, 26))[0] for n in range(dossiers)]
    snapshots = [(did, s.originator_version) for did in histories for s in d.engine.snapshots.get(did)]
    return d, snapshots


def run(
    store_factory: Callable[[], AbstractContextManager[Store]], args: argparse.Namespace
) -> list[tuple[str, float, float, float]]:
    with ExitStack() as stack:
        built: dict[str, tuple[Store, District, list[tuple[UUID, int]]]] = {}
        for name, seal_format in FORMATS.items():
            store = stack.enter_context(store_factory())
            d, snapshots = build(store, seal_format, args.history, args.dossiers)
            stack.callback(d.engine.close)
            built[name] = (store, d, snapshots)
        rows: list[tuple[str, float, float, float]] = []

        verify_s = {name: float("inf") for name in FORMATS}
        verify_cpu = {name: float("inf") for name in FORMATS}
        bare_s = {name: float("inf") for name in FORMATS}
        events = 0
        for _ in range(args.rounds):
            for name, (store, d, _) in built.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                report = d.engine.verify()
                verify_s[name] = min(verify_s[name], time.perf_counter() - started)
                verify_cpu[name] = min(verify_cpu[name], time.process_time() - started_cpu)
                assert report.ok, (report.first_break, report.findings)
                events = report.events_checked
                started = time.perf_counter()
                bare_verify(store)
                bare_s[name] = min(bare_s[name], time.perf_counter() - started)
        for name in FORMATS:
            rows.append((f"verify, {name} (ev/s over {events:,}, vs SELECT+sha256)", events / verify_s[name],
                         events / bare_s[name], bare_s[name] / verify_s[name]))
        rows.append(("verify, after ÷ before (ev/s)", events / verify_s["after"], events / verify_s["before"],
                     verify_s["before"] / verify_s["after"]))
        # This process's CPU time: on a machine shared with other jobs, steadier than the wall clock (for PostgreSQL
        # it leaves out the server's share, which both formats read alike).
        rows.append(("verify, CPU ms of this process, after vs before", verify_cpu["after"] * 1000,
                     verify_cpu["before"] * 1000, verify_cpu["after"] / verify_cpu["before"]))

        loads: dict[str, list[float]] = {name: [] for name in FORMATS}
        unsealed: dict[str, list[float]] = {name: [] for name in FORMATS}
        rng = random.Random(5)
        for _ in range(args.loads):
            # Which store goes first changes every time: a neighbour's burst must not fall on one side only.
            for name, (_, d, snapshots) in rng.sample(list(built.items()), len(built)):
                assert d.engine.snapshots is not None
                recorder = d.engine.snapshots.recorder
                assert isinstance(recorder, SealedSnapshots)
                did, version = rng.choice(snapshots)
                started = time.perf_counter()
                [loaded] = recorder.select_events(did, lte=version, desc=True, limit=1)
                loads[name].append(time.perf_counter() - started)
                assert loaded.originator_version == version
                started = time.perf_counter()
                # The library's SELECT alone, below the seal check: what a load would cost with no seal at all.
                super(SealedSnapshots, recorder).select_events(did, lte=version, desc=True, limit=1)  # type: ignore[misc]
                unsealed[name].append(time.perf_counter() - started)
        for name in FORMATS:
            load, plain = statistics.median(loads[name]) * 1e6, statistics.median(unsealed[name]) * 1e6
            rows.append((f"a snapshot's load, {name} (µs, median, vs unsealed)", load, plain, load / plain))
        before, after = statistics.median(loads["before"]), statistics.median(loads["after"])
        rows.append(("a snapshot's load, after ÷ before (µs, median)", after * 1e6, before * 1e6, after / before))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=10_000, help="events of the long history (default 10000)")
    parser.add_argument("--dossiers", type=int, default=20, help="shorter histories beside it (each history/20)")
    parser.add_argument("--rounds", type=int, default=9, help="verify runs per store, the best kept")
    parser.add_argument("--loads", type=int, default=1000, help="snapshot loads per store")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL, help="server URL; databases are made and dropped")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    results: dict[str, list[tuple[str, float, float, float]]] = {}
    for name, make_store in stores(None if args.no_postgres else args.postgres):
        print(f"  [{name}] writing two stores, {args.history} + {args.dossiers} × {args.history // 20} events each",
              flush=True)
        results[name] = run(make_store, args)

    print()
    print(f"{'figure':<60}" + "".join(f"{name:>34}" for name in results))
    print(" " * 60 + "".join(f"{'this / other = ratio':>34}" for _ in results))
    for i, (figure, *_rest) in enumerate(next(iter(results.values()))):
        cells = "".join(f"{rows[i][1]:>14,.1f} /{rows[i][2]:>11,.1f} ={rows[i][3]:>6.2f}" for rows in results.values())
        print(f"{figure:<60}{cells}")


if __name__ == "__main__":
    main()
