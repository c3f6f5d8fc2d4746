"""A season at scale: N units loaded and their dossiers played to approval, on SQLite and PostgreSQL.

    .venv/bin/python bench/season.py [--units 5000] [--quick] [--postgres URL | --no-postgres]

The units are grassroots committees of 49 cells each under one district (the last committee takes the rest).
Phases, each timed over all its commands: load the units (a unit, its secretary and the secretary's grant),
open, record answers, submit, endorse, approve the cells (by their committee), then the committees' own dossiers
played through (by the district). Prints commands/s per phase. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_POSTGRES_URL, YEAR, District, Store, district, stores

from domain.actor import Actor
from domain.ids import person_id
from domain.values import Role, UnitKind

CELLS_PER_COMMITTEE = 49


def timed(rates: dict[str, float], phase: str, calls: Sequence[Callable[[], object]]) -> None:
    started = time.perf_counter()
    for call in calls:
        call()
    rates[phase] = len(calls) / (time.perf_counter() - started)
    print(f"    {phase:<28}{rates[phase]:>10,.0f} commands/s", flush=True)


def play(d: District, units: int) -> dict[str, float]:
    engine, rates = d.engine, {}
    for username, role in (("reviewer", Role.REVIEWER), ("approver", Role.APPROVER)):
        d.person(username, [(role, d.root)])
    d.person("c-reviewer", [])
    d.person("c-approver", [])
    committees: list[tuple[UUID, Actor]] = []
    cells: list[tuple[UUID, Actor]] = []

    def load(n: int) -> None:
        if n % (CELLS_PER_COMMITTEE + 1) == 0:
            uid, secretary = d.unit(f"committee-{n}", UnitKind.GRASSROOTS_COMMITTEE, d.root)
            for username, role in (("c-reviewer", Role.REVIEWER), ("c-approver", Role.APPROVER)):
                engine.grant_role(d.admin, person_id(username), role=role, unit_id=uid, valid_from=date(2020, 1, 1))
            committees.append((uid, secretary))
        else:
            cells.append(d.unit(f"cell-{n}", UnitKind.PARTY_CELL, committees[-1][0]))

    started = time.perf_counter()
    for n in range(units):
        load(n)
    # Three commands a unit (the unit, its secretary, the grant), two more per committee (its staff's grants).
    commands = 3 * units + 2 * len(committees)
    rates["load units (3 commands each)"] = commands / (time.perf_counter() - started)
    print(f"    {'load units (3 commands each)':<28}{rates['load units (3 commands each)']:>10,.0f} commands/s")

    dossiers: dict[UUID, UUID] = {}
    parent_of = {uid: engine.unit(uid).parent_id or d.root for uid, _ in cells}

    def open_(secretary: Actor) -> None:
        dossiers[secretary.unit_id] = engine.open_dossier(secretary, secretary.unit_id, YEAR).value

    timed(rates, "open (cells)", [lambda s=s: open_(s) for _, s in cells])
    timed(rates, "record answers (cells)", [
        lambda s=s: engine.record_answers(s, dossiers[s.unit_id], answers=d.answers, facts=d.facts) for _, s in cells
    ])
    timed(rates, "submit (cells)", [lambda s=s: engine.submit(s, dossiers[s.unit_id]) for _, s in cells])
    timed(rates, "endorse (cells)", [
        lambda u=u: engine.endorse(d.actor("c-reviewer", Role.REVIEWER, parent_of[u]), dossiers[u]) for u, _ in cells
    ])
    timed(rates, "approve (cells)", [
        lambda u=u: engine.approve(d.actor("c-approver", Role.APPROVER, parent_of[u]), dossiers[u]) for u, _ in cells
    ])
    reviewer, approver = d.actor("reviewer", Role.REVIEWER, d.root), d.actor("approver", Role.APPROVER, d.root)
    timed(rates, "committees: open to submit", [
        lambda s=s: dossiers.__setitem__(s.unit_id, d.submitted(s, committee=True)) for _, s in committees
    ])
    rates["committees: open to submit"] *= 3
    timed(rates, "endorse (committees)", [lambda u=u: engine.endorse(reviewer, dossiers[u]) for u, _ in committees])
    timed(rates, "approve (committees)", [lambda u=u: engine.approve(approver, dossiers[u]) for u, _ in committees])
    return rates


def run(store: Store, units: int) -> dict[str, float]:
    d = district(store)
    try:
        started = time.perf_counter()
        rates = play(d, units)
        rates["wall clock (s)"] = time.perf_counter() - started
        return rates
    finally:
        d.engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=None, help="units to load (default 5000, quick 500)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    units = args.units or (500 if args.quick else 5000)
    results: dict[str, dict[str, float]] = {}
    for name, make_store in stores(None if args.no_postgres else args.postgres):
        print(f"  [{name}] {units} units", flush=True)
        with make_store() as store:
            results[name] = run(store, units)
    print()
    print(f"{'phase (commands/s)':<32}" + "".join(f"{name:>14}" for name in results))
    for phase in next(iter(results.values())):
        print(f"{phase:<32}" + "".join(f"{rates[phase]:>14,.1f}" for rates in results.values()))


if __name__ == "__main__":
    main()
