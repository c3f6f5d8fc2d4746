"""Queries of the units, dossiers and access read models on a synthetic national-scale store.

    .venv/bin/python bench/read_model_queries.py [--cells 300000] [--postgres URL | --no-postgres] [--no-analyze]

Rows are written straight into the read models' tables (no events): a country of 5 provinces, 10 districts each,
60 grassroots committees per district and `cells` cells in all (300,000: 100 per committee), a dossier per cell and
committee for 2024 in a spread of states, a secretary per unit, a reviewer per committee and district, an approver
per district and province (about 300,000 grants in all, of which the bench measures a few persons'). Prints the
median and worst of repeated calls of each query, in milliseconds, on SQLite and PostgreSQL. Figures, not a test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql
from sqlalchemy import insert, text

from domain.ids import dossier_id, person_id, unit_id
from domain.values import DossierState, Role
from projections.models.access import AccessProjection, queues
from projections.models.dossiers import DossiersProjection, list_dossiers, micros
from projections.models.units import UnitsProjection, hierarchy_as_of
from projections.store import ReadModelStore, make_engine, sqlite_url
from tests.integration.read_models_world import rules_from_spec
from workflow.spec import SPECS

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
YEAR = 2024
TODAY = date(2024, 12, 10)
# Cells' dossiers on 10 December: most still with their units or the committees, some decided.
STATES = [
    (DossierState.DRAFT, 0.30),
    (DossierState.SUBMITTED, 0.20),
    (DossierState.RETURNED_TO_UNIT, 0.05),
    (DossierState.ENDORSED, 0.20),
    (DossierState.APPROVED, 0.23),
    (DossierState.NOT_RATED, 0.02),
]
STEP = {DossierState.DRAFT: "self_assessment", DossierState.RETURNED_TO_UNIT: "self_assessment",
        DossierState.SUBMITTED: "review", DossierState.ENDORSED: "decision"}
DEADLINES = {"self_assessment": date(2024, 12, 15), "review": date(2024, 12, 25), "decision": date(2025, 1, 15)}


def hierarchy(cells: int) -> Iterator[tuple[str, str, str | None, int]]:
    """(code, kind, parent code, depth) of every unit, parents first."""
    yield "vn", "superior_committee", None, 0
    per_committee = max(1, cells // (5 * 10 * 60))
    for p in range(5):
        province = f"p{p}"
        yield province, "superior_committee", "vn", 1
        for d in range(10):
            district = f"{province}-d{d}"
            yield district, "superior_committee", province, 2
            for c in range(60):
                committee = f"{district}-c{c}"
                yield committee, "grassroots_committee", district, 3
                for x in range(per_committee):
                    yield f"{committee}-x{x}", "party_cell", committee, 4


def fill(store: ReadModelStore, cells: int) -> None:
    rng = random.Random(7)
    u = store.live_tables(UnitsProjection.name)
    d = store.live_tables(DossiersProjection.name)
    a = store.live_tables(AccessProjection.name)
    started = datetime(2024, 11, 1, tzinfo=UTC)
    batches: dict[Any, list[dict[str, Any]]] = {}

    def add(table: Any, row: dict[str, Any]) -> None:
        rows = batches.setdefault(table, [])
        rows.append(row)
        if len(rows) >= 20_000:
            flush(table)

    def flush(table: Any) -> None:
        rows = batches.pop(table, [])
        if rows:
            with store.engine.begin() as conn:
                conn.execute(insert(table), rows)

    ancestors: dict[str, list[UUID]] = {}
    weights = [w for _, w in STATES]
    for position, (code, kind, parent, _depth) in enumerate(hierarchy(cells), start=1):
        uid = unit_id(code)
        parent_id = unit_id(parent) if parent else None
        above = [parent_id, *ancestors[parent]] if parent and parent_id else []
        if kind != "party_cell":
            ancestors[code] = above
        add(u["units"], {
            "unit_id": uid, "code": code, "name": f"Đơn vị {code}", "kind": kind, "grp": kind, "parent_id": parent_id,
            "established_on": date(2010, 1, 1), "dissolved_on": None, "active": True,
            "changed_on": date(2010, 1, 1), "position": position,
        })
        add(u["unit_versions"], {
            "unit_id": uid, "effective_from": date(2010, 1, 1), "name": f"Đơn vị {code}", "parent_id": parent_id,
            "active": True,
        })
        add(u["unit_closure"], {"unit_id": uid, "ancestor_id": uid, "depth": 0})
        for n, ancestor in enumerate(above, start=1):
            add(u["unit_closure"], {"unit_id": uid, "ancestor_id": ancestor, "depth": n})
        secretary = person_id(f"sec-{code}")
        add(a["persons"], {"person_id": secretary, "username": f"sec-{code}", "full_name": f"Bí thư {code}"})
        grants = [(secretary, Role.SECRETARY)]
        if kind != "party_cell":
            for role in (Role.REVIEWER, Role.APPROVER):
                holder = person_id(f"{role.value}-{code}")
                add(a["persons"], {"person_id": holder, "username": f"{role.value}-{code}", "full_name": code})
                grants.append((holder, role))
        for holder, role in grants:
            add(a["grants"], {
                "grant_id": uuid4(), "person_id": holder, "role": role.value, "unit_id": uid,
                "valid_from": date(2023, 1, 1), "valid_to": None, "revoked_on": None, "basis": "bench",
                "revoke_reason": None,
            })
        if parent is None:
            continue
        state = rng.choices([s for s, _ in STATES], weights)[0]
        since = started + timedelta(seconds=rng.randrange(0, 40 * 86400))
        did = dossier_id(uid, YEAR)
        step = STEP.get(state)
        add(d["dossiers"], {
            "dossier_id": did, "unit_id": uid, "unit_code": code, "parent_id": parent_id, "year": YEAR,
            "rule_set_id": "QD124-2023", "workflow_version": 1, "recognition_model_id": None, "state": state.value,
            "state_since_us": micros(since), "round": 1, "suggested_level": None, "proposed_level": None,
            "final_level": None, "four_good": None, "recognition_suspended": False, "points": None,
            "submitters": "" if state is DossierState.DRAFT else str(secretary), "last_actor_id": secretary,
            "last_role": "secretary", "last_unit_id": uid, "last_on_behalf_of": None, "last_at_us": micros(since),
            "opened_at_us": micros(started), "submitted_at_us": None, "decided_at_us": None,
            "waiting_step": step, "deadline": DEADLINES[step] if step else None,
        })
        if state is not DossierState.DRAFT:
            add(d["dossier_submitters"], {"dossier_id": did, "person_id": secretary})
        add(d["dossier_states"], {
            "dossier_id": did, "position": position, "at_us": micros(since), "trigger": "open", "from_state": None,
            "to_state": state.value, "actor_id": secretary, "role": "secretary", "actor_unit_id": uid,
            "on_behalf_of": None, "grant_id": None, "delegation_id": None, "reason": None,
        })
    with store.engine.begin() as conn:
        conn.execute(insert(d["dossier_periods"]), {
            "year": YEAR, "rule_set_id": "QD124-2023", "rule_set_version": 1, **DEADLINES, "closed_at_us": None,
        })
    for table in list(batches):
        flush(table)


def timed(what: str, call: Callable[[], object], repeat: int = 15) -> dict[str, float]:
    call()  # warm: the first call pays for the caches, as a running app's first request does
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    figures = {"median": statistics.median(times), "worst": max(times)}
    print(f"    {what:<58}{figures['median']:>9.1f} ms median {figures['worst']:>9.1f} ms worst", flush=True)
    return figures


def measure(store: ReadModelStore) -> None:
    rules = rules_from_spec(SPECS[1])
    for who in ("approver-p0", "approver-vn", "approver-p0-d3", "reviewer-p0-d3-c7", "sec-p0-d3-c7-x5"):
        found = queues(store, person_id(who), TODAY, rules)
        counts = ", ".join(f"{q.role.value} {q.count:,}" for q in found)
        timed(f"queues of {who} ({counts})", lambda who=who: queues(store, person_id(who), TODAY, rules))
    first = list_dossiers(store, year=YEAR)
    timed(f"list_dossiers {YEAR}, first page (of {first.total:,})", lambda: list_dossiers(store, year=YEAR))
    province = unit_id("p0")
    below = list_dossiers(store, year=YEAR, unit_below=province)
    timed(f"list_dossiers below a province, first page (of {below.total:,})",
          lambda: list_dossiers(store, year=YEAR, unit_below=province))
    district = unit_id("p0-d3")
    timed("list_dossiers below a district, submitted, first page",
          lambda: list_dossiers(store, year=YEAR, unit_below=district, states=[DossierState.SUBMITTED]))
    timed("list_dossiers overdue on 16 Dec, first page",
          lambda: list_dossiers(store, year=YEAR, overdue_on=date(2024, 12, 16)))
    timed("list_dossiers, page 100", lambda: list_dossiers(store, year=YEAR, offset=5000))
    timed("hierarchy_as_of today (every unit)", lambda: hierarchy_as_of(store, TODAY), repeat=3)


def run_on(name: str, url: str, cells: int, analyze: bool) -> None:
    print(f"{name}:", flush=True)
    models = [UnitsProjection(), DossiersProjection(), AccessProjection()]
    store = ReadModelStore(make_engine(url, derived=True), models)
    started = time.perf_counter()
    fill(store, cells)
    print(f"    filled in {time.perf_counter() - started:,.0f} s", flush=True)
    if analyze:
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    measure(store)
    store.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=300_000)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-analyze", action="store_true", help="leave the planners without table statistics")
    args = parser.parse_args()
    analyze = not args.no_analyze
    with tempfile.TemporaryDirectory() as tmp:
        run_on("SQLite", sqlite_url(Path(tmp) / "read-models.sqlite"), args.cells, analyze)
    if args.no_postgres:
        return
    name = f"dossierflow_bench_{uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        rest = args.postgres.split("://", 1)[1].rsplit("/", 1)[0]
        run_on("PostgreSQL", f"postgresql+psycopg://{rest}/{name}", args.cells, analyze)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
