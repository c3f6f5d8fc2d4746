"""The statistics and audit read models: query time at province scale, and apply speed against reading the log.

    .venv/bin/python bench/statistics_audit_speed.py [--dossiers 300000] [--units 2000] [--quick]
                                                     [--postgres URL | --no-postgres]

1. `statistics(province, year)` and `quota_meters` on a synthetic read model of about 300,000 dossiers below one
   province (10 districts, 50 committees each, 600 cells each), written straight into the tables with the
   projection's own contribution functions; median and worst of 200 calls, and the SQL plan, on each backend.
2. A season of `--units` units played through the engine (bench/season.py), its log rebuilt into each read model
   and into both together, page of 500, read models on a fresh SQLite file and on PostgreSQL; beside it, merely
   reading and decoding the same events (RecorderLog.read). The ratio is rebuild events/s ÷ read+decode events/s.
Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import statistics as stats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_POSTGRES_URL, district, sqlite_store
from season import play
from sqlalchemy import insert, text

from domain.ids import decision_book_id
from domain.values import Classification, DossierState, UnitKind
from projections.core import Projection
from projections.log import RecorderLog
from projections.models import statistics as st
from projections.models.audit import AuditProjection
from projections.models.statistics import StatisticsProjection, quota_meters, statistics
from projections.runner import Runner
from projections.store import ReadModelStore, make_engine

YEAR = 2024


# --- 1. the statistics of a province -------------------------------------------------------------------------


def synthetic(store: ReadModelStore, dossiers: int) -> str:
    """Fill the live statistics tables as the projection would after `dossiers` cells were played; the province."""
    tables = store.live_tables("statistics")
    province = str(uuid4())
    units: list[dict[str, Any]] = [
        {"unit_id": province, "parent_id": None, "kind": UnitKind.SUPERIOR_COMMITTEE.value, "ancestors": ""}
    ]
    rows: list[dict[str, Any]] = []
    counts: dict[tuple[str, int, str], int] = defaultdict(int)
    committees: dict[str, dict[str, int]] = {}
    per_committee = max(1, dossiers // 500)
    states = [DossierState.APPROVED.value] * 6 + [DossierState.ENDORSED.value, DossierState.SUBMITTED.value]
    levels = [Classification.GOOD.value] * 5 + [Classification.EXCELLENT.value, Classification.COMPLETED.value]
    n = 0
    for d in range(10):
        district_id = str(uuid4())
        units.append({"unit_id": district_id, "parent_id": province, "kind": "superior_committee",
                      "ancestors": province})
        for _ in range(50):
            committee = str(uuid4())
            above = [province, district_id]
            units.append({"unit_id": committee, "parent_id": district_id, "kind": "grassroots_committee",
                          "ancestors": "/".join(above)})
            figures = dict.fromkeys(("cells", "participants", "four_good", "good_or_better", "decided"), 0)
            for _ in range(per_committee):
                if n >= dossiers:
                    break
                n += 1
                cell = str(uuid4())
                units.append({"unit_id": cell, "parent_id": committee, "kind": "party_cell",
                              "ancestors": "/".join([*above, committee])})
                state = states[n % len(states)]
                level = levels[n % len(levels)] if state == "approved" else None
                row = {"dossier_id": str(uuid4()), "unit_id": cell, "year": YEAR, "kind": "party_cell",
                       "state": state, "level": level, "four_good": level in ("good", "excellent") and n % 3 == 0,
                       "participant": n % 4 == 0, "parent_id": committee,
                       "ancestors": "/".join([*above, committee])}
                rows.append(row)
                for unit in [*above, committee]:
                    for metric, k in st._contribution(row).items():
                        counts[(unit, YEAR, metric)] += k
                for column, k in st._cell_figures(row).items():
                    figures[column] += k
            committees[committee] = figures
            for unit in above:
                for metric, k in st._targets_met(figures).items():
                    counts[(unit, YEAR, metric)] += k
        del d
    with store.engine.begin() as conn:
        for table, data in (
            ("units", units),
            ("dossiers", rows),
            ("counts", [{"unit_id": u, "year": y, "metric": m, "n": k} for (u, y, m), k in counts.items()]),
            ("committees", [{"unit_id": c, "year": YEAR, **f} for c, f in committees.items()]),
            ("quota", [{"book_id": str(decision_book_id(uuid4(), YEAR)), "group": "party_cell", "good_or_better": 5,
                        "excellent": 1, "recorded": True, "cap": 1, "cap_base": 5}]),
        ):
            for start in range(0, len(data), 20_000):
                conn.execute(insert(tables[table]), data[start : start + 20_000])
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    else:
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return province


def timed(call: Callable[[], object], times: int = 200) -> tuple[float, float]:
    call()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return stats.median(samples), max(samples)


def plan(store: ReadModelStore, province: str) -> str:
    counts = store.live_tables("statistics")["counts"].name
    query = f"SELECT metric, n FROM {counts} WHERE unit_id = '{province}' AND year = {YEAR}"
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            return " / ".join(r[0] for r in conn.execute(text("EXPLAIN " + query)))
        return " / ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + query)))


def province_figures(name: str, url: str, dossiers: int) -> None:
    store = ReadModelStore(make_engine(url, derived=True), [StatisticsProjection()])
    started = time.perf_counter()
    province = synthetic(store, dossiers)
    from uuid import UUID

    found = statistics(store, UUID(province), YEAR)
    print(f"  [{name}] {found.dossiers:,} dossiers below the province written in {time.perf_counter() - started:.0f} s")
    median, worst = timed(lambda: statistics(store, UUID(province), YEAR))
    print(f"    statistics(province, {YEAR}): median {median:.2f} ms, worst of 200 {worst:.2f} ms")
    median, worst = timed(lambda: quota_meters(store, UUID(province), YEAR))
    print(f"    quota_meters(superior, {YEAR}): median {median:.2f} ms, worst of 200 {worst:.2f} ms")
    print(f"    plan: {plan(store, province)}")
    store.engine.dispose()


# --- 2. apply speed ------------------------------------------------------------------------------------------


def read_and_decode(log: RecorderLog) -> tuple[int, float]:
    started = time.perf_counter()
    position = count = 0
    while True:
        page = log.read(position, 500)
        if not page:
            return count, time.perf_counter() - started
        count += len(page)
        position = page[-1].position


def rebuild(log: RecorderLog, url: str, projections: list[Projection]) -> float:
    store = ReadModelStore(make_engine(url, derived=True), projections)
    started = time.perf_counter()
    Runner(store, log, page_size=500).catch_up()
    elapsed = time.perf_counter() - started
    store.engine.dispose()
    return elapsed


def apply_figures(units: int, postgres: str | None) -> None:
    with sqlite_store() as events:
        d = district(events)
        print(f"  playing a season of {units} units into a SQLite event store…", flush=True)
        play(d, units)
        log = RecorderLog(d.engine.recorder, d.engine.mapper)
        read_and_decode(log)  # warm the page cache alike for both sides
        targets: list[tuple[str, Callable[[], str]]] = []
        with tempfile.TemporaryDirectory() as tmp:
            counter = iter(range(1000))
            targets.append(("SQLite", lambda: f"sqlite:///{tmp}/read-{next(counter)}.sqlite"))
            if postgres:
                targets.append(("PostgreSQL", lambda: fresh_postgres(postgres)))
            for name, url in targets:
                for label, make in (
                    ("statistics", lambda: [StatisticsProjection()]),
                    ("audit", lambda: [AuditProjection()]),
                    ("both", lambda: [StatisticsProjection(), AuditProjection()]),
                ):
                    # Interleaved: read+decode, then the rebuild, each time, so that a neighbour's load falls alike.
                    count, reading = read_and_decode(log)
                    building = rebuild(log, url(), make())
                    print(
                        f"    [{name}] {label:<10} {count:,} events: read+decode {count / reading:>9,.0f} ev/s, "
                        f"rebuild {count / building:>9,.0f} ev/s, ratio {reading / building:.2f}",
                        flush=True,
                    )
        d.engine.close()


_databases: list[str] = []


def fresh_postgres(server: str) -> str:
    name = f"dossierflow_bench_{uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _databases.append(name)
    base = server.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_databases(server: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        for name in _databases:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=None, help="dossiers below the province (default 300000)")
    parser.add_argument("--units", type=int, default=None, help="units of the season replayed (default 2000)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    dossiers = args.dossiers or (30_000 if args.quick else 300_000)
    units = args.units or (300 if args.quick else 2000)
    postgres = None if args.no_postgres else args.postgres
    try:
        print("1. statistics of a province")
        with tempfile.TemporaryDirectory() as tmp:
            province_figures("SQLite", f"sqlite:///{tmp}/stats.sqlite", dossiers)
        if postgres:
            province_figures("PostgreSQL", fresh_postgres(postgres), dossiers)
        print("2. apply speed against reading and decoding the log")
        apply_figures(units, postgres)
    finally:
        if postgres:
            drop_databases(postgres)


if __name__ == "__main__":
    main()
