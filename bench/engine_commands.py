"""Engine commands per second on SQLite and PostgreSQL, measured side by side in one run.

Each command is a whole use case: load the aggregates, authorize against the grants, apply the rules,
save atomically (hash-chained). Usage: python bench/engine_commands.py [--units N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import sample_answers

from domain.actor import Actor
from domain.ids import person_id
from domain.values import Classification, Role, UnitKind
from workflow.clock import SimulatedClock
from workflow.engine import Engine
from workflow.store import application_env

STEPS = ("open", "record_answers", "submit", "endorse", "approve")


def season(engine: Engine, clock: SimulatedClock, units: int) -> dict[str, float]:
    """Set up a district of `units` grassroots cells, then time each step of the procedure over all of them."""
    admin = engine.install(
        root_code="bench", root_name="Huyện ủy", established_on=date(2000, 1, 1), admin_username="admin",
        admin_name="Admin",
    ).value
    district = admin.unit_id
    reviewer = engine.register_person(admin, username="reviewer", full_name="Ban Tổ chức").value
    approver = engine.register_person(admin, username="approver", full_name="Thường trực").value
    engine.grant_role(admin, reviewer, role=Role.REVIEWER, unit_id=district, valid_from=date(2020, 1, 1))
    engine.grant_role(admin, approver, role=Role.APPROVER, unit_id=district, valid_from=date(2020, 1, 1))
    secretaries = []
    for n in range(units):
        uid = engine.register_unit(
            admin, code=f"cell-{n}", name=f"Chi bộ {n}", kind=UnitKind.GRASSROOTS_CELL, parent_id=district,
            established_on=date(2010, 1, 1),
        ).value
        pid = engine.register_person(admin, username=f"sec-{n}", full_name=f"Bí thư {n}").value
        engine.grant_role(admin, pid, role=Role.SECRETARY, unit_id=uid, valid_from=date(2020, 1, 1))
        secretaries.append(Actor(pid, Role.SECRETARY, uid))
    engine.open_period(admin, year=2024, deadlines={}, recognition_models=["four-good-cell-LC2024"])
    clock.set(datetime(2024, 11, 1, tzinfo=UTC))
    rule_set = engine.rule_book.rule_set("QD124-2023")
    model = engine.rule_book.recognition("four-good-cell-LC2024")
    answers, facts = sample_answers(rule_set, model, Classification.GOOD)
    review = Actor(person_id("reviewer"), Role.REVIEWER, district)
    decide = Actor(person_id("approver"), Role.APPROVER, district)
    dossiers = []

    def timed(step: Callable[[int], None]) -> float:
        started = time.perf_counter()
        for n in range(units):
            step(n)
        return units / (time.perf_counter() - started)

    rates = {
        "open": timed(
            lambda n: dossiers.append(engine.open_dossier(secretaries[n], secretaries[n].unit_id, 2024).value)
        ),
        "record_answers": timed(lambda n: engine.record_answers(secretaries[n], dossiers[n], answers=answers,
                                                                facts=facts)),
        "submit": timed(lambda n: engine.submit(secretaries[n], dossiers[n])),
        "endorse": timed(lambda n: engine.endorse(review, dossiers[n])),
        "approve": timed(lambda n: engine.approve(decide, dossiers[n])),
    }
    started = time.perf_counter()
    report = engine.verify()
    rates["verify (events/s)"] = report.events_checked / (time.perf_counter() - started)
    assert report.ok
    return rates


def run_sqlite(units: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        clock = SimulatedClock(datetime(2024, 1, 2, tzinfo=UTC))
        env = application_env(None, Path(tmp) / "events.sqlite", signing_key=Path(tmp) / "signing-key.pem")
        engine = Engine(env, clock=clock)
        try:
            return season(engine, clock, units)
        finally:
            engine.close()


def run_postgres(units: int, server_url: str) -> dict[str, float]:
    name = f"dossierflow_bench_{uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        clock = SimulatedClock(datetime(2024, 1, 2, tzinfo=UTC))
        url = server_url.rsplit("/", 1)[0] + f"/{name}"
        keys = Path(tempfile.mkdtemp())
        env = application_env(url, keys / "unused.sqlite", signing_key=keys / "signing-key.pem")
        engine = Engine(env, clock=clock)
        try:
            return season(engine, clock, units)
        finally:
            engine.close()
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DOSSIERFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    print(f"{args.units} dossiers, each step timed over all of them (commands/s; higher is better)")
    sqlite = run_sqlite(args.units)
    try:
        postgres: dict[str, float] | None = run_postgres(args.units, args.postgres)
    except psycopg.OperationalError as error:
        print(f"PostgreSQL not reachable ({error}); SQLite only")
        postgres = None
    print(f"{'command':<20}{'SQLite':>12}{'PostgreSQL':>12}{'SQLite/PG':>11}")
    for step in sqlite:
        pg = postgres[step] if postgres else float("nan")
        print(f"{step:<20}{sqlite[step]:>12,.0f}{pg:>12,.0f}{sqlite[step] / pg:>10.2f}x")
    whole = {k: v for k, v in sqlite.items() if k in STEPS}
    mean = len(whole) / sum(1 / v for v in whole.values())
    pg_mean = len(whole) / sum(1 / postgres[k] for k in whole) if postgres else float("nan")
    print(f"{'all five steps':<20}{mean:>12,.0f}{pg_mean:>12,.0f}{mean / pg_mean:>10.2f}x")


if __name__ == "__main__":
    main()
