"""The hierarchy of a national log: the units read model rebuilt alone, then today's hierarchy read from it.

    .venv/bin/python bench/units_at_scale.py --store DIR_OR_URL [--read-models DIR] [--repeat 3]

--store: a log made by bench/big_log.py (a SQLite directory or a PostgreSQL URL). --read-models: where the SQLite
read models go (default: a directory under the temporary directory, so that a shared log's directory is left as it
is); on PostgreSQL they go beside the events, as the app keeps them.

Prints the rebuild (events/s over the whole log, decoding only the units' events) and `hierarchy_as_of(today)`
(median and worst of --repeat calls, with the number of units), the load average beside each figure. The CLI's
`dossierflow units` needs every read model caught up first (it catches up all of them): that is the rebuild's
figure, not this one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import open_bench_store

from projections.catalog import all_projections
from projections.log import RecorderLog
from projections.models.units import hierarchy_as_of
from projections.readside import ReadSide
from projections.store import make_engine, read_models_url, sqlite_url


def load() -> str:
    return "load " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def rebuild(side: ReadSide, head: int, progress: Any) -> None:
    started = time.perf_counter()
    result = side.rebuild(["units"], progress=progress)
    seconds = time.perf_counter() - started
    print(f"  units rebuilt alone over {head:,} events in {seconds:,.0f} s: {head / seconds:,.0f} events/s "
          f"[{load()}]" + (f"; failures {result.failures}" if result.failures else ""), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--read-models", type=Path, default=Path(tempfile.gettempdir()) / "dossierflow-units-at-scale")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="no rebuild if the units read model is at the head")
    args = parser.parse_args()
    bench = open_bench_store(args.store)
    engine = bench.engine()
    if bench.database_url:
        url, sqlite_file = read_models_url(bench.database_url, bench.data_dir), None
    else:
        args.read_models.mkdir(parents=True, exist_ok=True)
        sqlite_file = args.read_models / "read-models.sqlite"
        url = sqlite_url(sqlite_file)
    side = ReadSide(
        make_engine(url, derived=True),
        all_projections(),
        RecorderLog(engine.recorder, engine.mapper),
        sqlite_file=sqlite_file,
    )
    try:
        head = engine.recorder.max_notification_id() or 0
        print(f"  {bench.describe()}: {head:,} events; read models in {url}", flush=True)
        shown = [time.perf_counter(), time.perf_counter()]

        def progress(name: str, position: int, total: int) -> None:
            now = time.perf_counter()
            if now - shown[0] >= 30:
                shown[0] = now
                rate = position / (now - shown[1])
                print(f"    {name}: {position:,} of {total:,} ({rate:,.0f} events/s)", flush=True)

        live = side.store.live_generation("units", refresh=True)
        at = next(t.position for t in side.store.trackings() if t.name == "units" and t.generation == live)
        if args.keep and at >= head:
            print("  units read model already at the head: kept (--keep)", flush=True)
        else:
            rebuild(side, head, progress)
        # Indexes the read model declares that its tables do not have yet (a log rebuilt by an earlier version).
        side.store.create_indexes("units", side.store.live_generation("units", refresh=True))
        today = date.today()
        times, cpu, size = [], [], 0
        for _ in range(args.repeat):
            begun, begun_cpu = time.perf_counter(), time.process_time()
            size = len(hierarchy_as_of(side.store, today))
            times.append(time.perf_counter() - begun)
            # This process's own work (SQLite's included, in-process), which the machine's queue does not inflate.
            cpu.append(time.process_time() - begun_cpu)
        print(f"  hierarchy_as_of({today}): {size:,} units, median {statistics.median(times):.2f} s "
              f"(CPU {statistics.median(cpu):.2f} s), worst {max(times):.2f} s of {args.repeat} [{load()}]", flush=True)
    finally:
        side.close()
        side.store.engine.dispose()
        engine.close()


if __name__ == "__main__":
    main()
