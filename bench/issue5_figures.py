"""The five figures of issue 5 ("the engine keeps its promises under pressure"), on SQLite and PostgreSQL.

    .venv/bin/python bench/issue5_figures.py [--quick] [--postgres URL | --no-postgres]

1. engine ÷ bare, commands/s over the five steps open → record answers → submit → endorse → approve
   ("bare": a plain eventsourcing Application, no chain, no rules, no authorization, recording events of the same
   payload sizes with the library's cheapest reads: its cache fast-forwarded, no copies);
2. a cell's approval with 1,000 cells under its committee ÷ with 10 (the decision book full in both);
3. a committee's endorse, approve and evaluate with 1,000 cells under it ÷ with 10;
4. Engine.dossier_as_of on a 10,000-event history ÷ on a 100-event one;
5. verify ÷ a bare SELECT + sha256 over the same rows (events/s).

Each ratio is measured side by side in one run on one backend, the two sides interleaved in small chunks.
Figures, not a pass/fail test: the "wanted" column is printed beside each figure for the reader.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DEFAULT_POSTGRES_URL,
    YEAR,
    District,
    Stopwatch,
    Store,
    chunks,
    district,
    stores,
)

from domain.actor import Actor
from domain.ids import person_id
from domain.values import Answer, Grade, Role, UnitKind

STEPS = ("open", "record_answers", "submit", "endorse", "approve")


# --- 1. engine ÷ bare ---------------------------------------------------------------------------------------------


class BareDossier(Aggregate):
    @event("Opened")
    def __init__(self, blob: str) -> None:
        self.blob = blob

    @event("Stepped")
    def step(self, blob: str) -> None:
        self.blob = blob


class BareBook(Aggregate):
    @event("Started")
    def __init__(self, blob: str) -> None:
        self.entries: dict[str, str] = {}

    @event("Recorded")
    def record(self, unit: str, blob: str) -> None:
        self.entries[unit] = blob


class BareApplication(Application[UUID]):
    name = "bare"
    env = {  # noqa: RUF012
        "AGGREGATE_CACHE_MAXSIZE": "100000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }


def payload_sizes(d: District) -> dict[str, int]:
    """Bytes of state per step's events, as the engine stored them for the first dossier of a run."""
    sizes: dict[str, list[int]] = defaultdict(list)
    for notification in d.engine.recorder.select_notifications(start=1, limit=100_000):
        sizes[notification.topic.rsplit(".", 1)[-1]].append(len(notification.state))
    names = {"open": "Opened", "record_answers": "AnswersRecorded", "submit": "Submitted", "endorse": "Endorsed",
             "approve": "Approved", "book": "DecisionsRecorded", "proposal": "ProposalRecorded"}
    return {step: int(statistics.mean(sizes[topic])) for step, topic in names.items() if sizes[topic]}


def engine_vs_bare(store: Store, d: District, units: int) -> tuple[dict[str, Stopwatch], dict[str, Stopwatch]]:
    engine = d.engine
    reviewer = d.actor("reviewer", Role.REVIEWER, d.root)
    approver = d.actor("approver", Role.APPROVER, d.root)
    d.person("reviewer", [(Role.REVIEWER, d.root)])
    d.person("approver", [(Role.APPROVER, d.root)])
    secretaries = [d.unit(f"cell-{n}", UnitKind.GRASSROOTS_CELL, d.root)[1] for n in range(units)]
    # Payload sizes from a first dossier played through, so that the bare events weigh what the engine's weigh.
    probe = d.submitted(secretaries[0])
    engine.endorse(reviewer, probe)
    engine.approve(approver, probe)
    size = payload_sizes(d)
    blob = {step: "x" * size[step] for step in size}

    bare = BareApplication(store.bare_env)
    book = BareBook(blob="x")
    bare.save(book)
    dossiers: list[UUID] = []
    bare_ids: list[UUID] = []

    def bare_step(n: int, step: str) -> None:
        dossier = bare.repository.get(bare_ids[n])
        dossier.step(blob=blob[step])
        bare.save(dossier)

    def bare_with_book(n: int, step: str, book_step: str) -> None:
        # The engine writes the superior's decision book beside the dossier at endorsement (the proposal counts
        # in the quota's base) and at approval: the bare application records the same two events.
        dossier, decisions = bare.repository.get(bare_ids[n]), bare.repository.get(book.id)
        dossier.step(blob=blob[step])
        decisions.record(unit=str(n), blob=blob[book_step])
        bare.save(dossier, decisions)

    def bare_open(n: int) -> None:
        dossier = BareDossier(blob=blob["open"])
        bare.save(dossier)
        bare_ids.append(dossier.id)

    sec = secretaries[1:]
    engine_steps: dict[str, Callable[[int], object]] = {
        "open": lambda n: dossiers.append(engine.open_dossier(sec[n], sec[n].unit_id, YEAR).value),
        "record_answers": lambda n: engine.record_answers(sec[n], dossiers[n], answers=d.answers, facts=d.facts),
        "submit": lambda n: engine.submit(sec[n], dossiers[n]),
        "endorse": lambda n: engine.endorse(reviewer, dossiers[n]),
        "approve": lambda n: engine.approve(approver, dossiers[n]),
    }
    bare_steps: dict[str, Callable[[int], object]] = {
        "open": bare_open,
        "record_answers": lambda n: bare_step(n, "record_answers"),
        "submit": lambda n: bare_step(n, "submit"),
        "endorse": lambda n: bare_with_book(n, "endorse", "proposal"),
        "approve": lambda n: bare_with_book(n, "approve", "book"),
    }
    timed_engine = {step: Stopwatch() for step in STEPS}
    timed_bare = {step: Stopwatch() for step in STEPS}
    try:
        for step in STEPS:
            for chunk in chunks(len(sec), 20):
                for n in chunk:
                    timed_engine[step].time(partial(engine_steps[step], n))
                for n in chunk:
                    timed_bare[step].time(partial(bare_steps[step], n))
    finally:
        bare.close()
    return timed_engine, timed_bare


# --- 2 and 3. a committee of 1,000 cells against one of 10 --------------------------------------------------------


@dataclass
class Committee:
    uid: UUID
    secretary: Actor
    cells: list[UUID]


def committee(d: District, code: str, cells: int) -> Committee:
    uid, secretary = d.unit(code, UnitKind.GRASSROOTS_COMMITTEE, d.root)
    for username, role in (("c-reviewer", Role.REVIEWER), ("c-approver", Role.APPROVER)):
        d.engine.grant_role(d.admin, person_id(username), role=role, unit_id=uid, valid_from=date(2020, 1, 1))
    reviewer = d.actor("c-reviewer", Role.REVIEWER, uid)
    dossiers = []
    for n in range(cells):
        _, cell_secretary = d.unit(f"{code}-{n}", UnitKind.PARTY_CELL, uid)
        did = d.submitted(cell_secretary)
        d.engine.endorse(reviewer, did)
        dossiers.append(did)
    return Committee(uid, secretary, dossiers)


def committees(d: District, big_cells: int, rounds: int) -> dict[str, tuple[Stopwatch, Stopwatch]]:
    engine = d.engine
    d.clock.set(datetime(2024, 11, 2, tzinfo=UTC))
    d.person("c-reviewer", [])
    d.person("c-approver", [])
    big = committee(d, "big", big_cells)
    small = committee(d, "small", 10)

    def approver(c: Committee) -> Actor:
        return d.actor("c-approver", Role.APPROVER, c.uid)

    for did in big.cells[:-10]:
        engine.approve(approver(big), did)
    figures: dict[str, tuple[Stopwatch, Stopwatch]] = {}
    cell_approval = figures["a cell's approval"] = (Stopwatch(), Stopwatch())
    for n in range(10):
        for c, watch in zip((big, small), cell_approval, strict=True):
            watch.time(partial(engine.approve, approver(c), c.cells[-10 + n]))
    for _ in range(rounds - 1):
        for n in range(10):
            for c, watch in zip((big, small), cell_approval, strict=True):
                did = c.cells[-10 + n]
                engine.reopen(approver(c), did, legal_basis="Kết luận kiểm tra")
                watch.time(partial(engine.approve, approver(c), did, reason="xếp loại lại theo kết luận kiểm tra"))

    district_reviewer = d.actor("reviewer", Role.REVIEWER, d.root)
    district_approver = d.actor("approver", Role.APPROVER, d.root)
    own = {c.uid: d.submitted(c.secretary, committee=True) for c in (big, small)}
    for what in ("evaluate", "endorse", "approve"):
        figures[f"a committee's {what}"] = (Stopwatch(), Stopwatch())
    for _ in range(rounds):
        for what, call in (
            ("evaluate", lambda did: engine.evaluate(did)),
            ("endorse", lambda did: engine.endorse(district_reviewer, did)),
            ("approve", lambda did: engine.approve(district_approver, did)),
        ):
            for c, watch in zip((big, small), figures[f"a committee's {what}"], strict=True):
                watch.time(partial(call, own[c.uid]))
        for c in (big, small):
            engine.reopen(district_approver, own[c.uid], legal_basis="Kết luận kiểm tra")
            engine.return_to_committee(district_approver, own[c.uid], reason="thẩm định lại")
    return figures


# --- 4. a dossier as of a date ------------------------------------------------------------------------------------


def long_history(d: District, code: str, events: int) -> tuple[UUID, datetime, datetime]:
    """A dossier with `events` events a minute apart, written in batches (setup, not what is measured)."""
    _, secretary = d.unit(code, UnitKind.GRASSROOTS_CELL, d.root)
    did = d.engine.open_dossier(secretary, secretary.unit_id, YEAR).value
    first = d.engine.dossier(did).created_on
    criterion = next(iter(d.answers))
    written = 1
    while written < events:
        dossier = d.engine.dossier(did)
        for _ in range(min(250, events - written)):
            d.clock.advance(minutes=1)
            grade = Grade.GOOD if written % 2 else Grade.EXCELLENT
            dossier.record_answers(
                d.engine.workflow, answers={criterion: Answer(grade=grade, comment=f"lần {written}")}, facts={},
                actor=secretary, timestamp=d.clock(),
            )
            written += 1
        d.engine._save(dossier)
    return did, first, d.clock()


def as_of(d: District, big_events: int, probes: int) -> tuple[Stopwatch, Stopwatch]:
    d.clock.set(max(d.clock.now, datetime(2024, 12, 1, tzinfo=UTC)))
    histories = [long_history(d, "history-big", big_events), long_history(d, "history-small", 100)]
    watches = (Stopwatch(), Stopwatch())
    for k in range(probes):
        fraction = (k + 0.5) / probes
        for (did, first, last), watch in zip(histories, watches, strict=True):
            moment = first + timedelta(seconds=(last - first).total_seconds() * fraction)
            watch.time(partial(d.engine.dossier_as_of, did, moment))
    return watches


# --- 5. verify ----------------------------------------------------------------------------------------------------


def bare_verify(store: Store) -> int:
    """A SELECT over every stored event and a chained sha256 over each row: the floor any verifier stands on."""
    after, rows, digest = 0, 0, "0" * 64
    while True:
        page = store.raw_rows(after, 1000)
        for notification_id, originator_id, version, topic, state in page:
            h = hashlib.sha256(digest.encode())
            for part in (str(notification_id).encode(), str(originator_id).encode(), str(version).encode(),
                         topic.encode(), bytes(state)):
                h.update(len(part).to_bytes(8, "big"))
                h.update(part)
            digest = h.hexdigest()
        rows += len(page)
        if len(page) < 1000:
            return rows
        after = page[-1][0]


def verify(store: Store, d: District) -> tuple[float, float, int]:
    best_engine = best_bare = float("inf")
    checked = 0
    for _ in range(2):
        started = time.perf_counter()
        report = d.engine.verify()
        best_engine = min(best_engine, time.perf_counter() - started)
        assert report.ok, report.first_break
        checked = report.events_checked
        started = time.perf_counter()
        rows = bare_verify(store)
        best_bare = min(best_bare, time.perf_counter() - started)
        assert rows >= checked
    return checked / best_engine, checked / best_bare, checked


# --- the run ------------------------------------------------------------------------------------------------------


def run(store: Store, args: argparse.Namespace) -> list[tuple[str, float, float, float, str]]:
    """Rows of (figure, this side, the other side, ratio, wanted)."""
    d = district(store)
    try:
        rows: list[tuple[str, float, float, float, str]] = []
        print(f"  [{store.backend}] 1. five steps, {args.units} dossiers", flush=True)
        engine, bare = engine_vs_bare(store, d, args.units)
        for step in STEPS:
            rows.append((f"1. {step} (cmd/s, engine vs bare)", engine[step].per_second, bare[step].per_second,
                         engine[step].per_second / bare[step].per_second, "≥ 0.8" if step == "approve" else ""))
        e_total = sum(w.count for w in engine.values()) / sum(w.seconds for w in engine.values())
        b_total = sum(w.count for w in bare.values()) / sum(w.seconds for w in bare.values())
        rows.append(("1. all five steps (cmd/s, engine vs bare)", e_total, b_total, e_total / b_total, "≥ 0.8"))

        print(f"  [{store.backend}] 2-3. committees of {args.big_committee} and 10 cells", flush=True)
        for name, (big, small) in committees(d, args.big_committee, args.rounds).items():
            rows.append((f"{'2' if 'cell' in name else '3'}. {name} (ms, {args.big_committee} vs 10 cells)",
                         big.mean * 1000, small.mean * 1000, big.mean / small.mean, "≤ 2"))

        print(f"  [{store.backend}] 4. dossier_as_of, {args.history} events vs 100", flush=True)
        big_h, small_h = as_of(d, args.history, args.probes)
        rows.append((f"4. dossier_as_of (ms, {args.history} vs 100 events)", big_h.mean * 1000,
                     small_h.mean * 1000, big_h.mean / small_h.mean, "≤ 2"))

        print(f"  [{store.backend}] 5. verify", flush=True)
        engine_rate, bare_rate, checked = verify(store, d)
        rows.append((f"5. verify (events/s over {checked:,}, vs SELECT+sha256)", engine_rate, bare_rate,
                     engine_rate / bare_rate, "≥ 0.8"))
        return rows
    finally:
        d.engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a first look in well under a minute")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL, help="server URL; a database is made and dropped")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--units", type=int, default=None, help="dossiers in figure 1 (default 300, quick 100)")
    parser.add_argument("--big-committee", type=int, default=None, help="cells (default 1000, quick 200)")
    parser.add_argument("--history", type=int, default=None, help="events (default 10000, quick 2000)")
    args = parser.parse_args()
    args.units = args.units or (100 if args.quick else 300)
    args.big_committee = args.big_committee or (200 if args.quick else 1000)
    args.history = args.history or (2000 if args.quick else 10_000)
    args.rounds = 3 if args.quick else 5
    args.probes = 20 if args.quick else 40

    results: dict[str, list[tuple[str, float, float, float, str]]] = {}
    for name, make_store in stores(None if args.no_postgres else args.postgres):
        started = time.perf_counter()
        with make_store() as store:
            results[name] = run(store, args)
        print(f"  [{store.backend}] done in {time.perf_counter() - started:.0f} s", flush=True)

    print()
    header = f"{'figure':<58}" + "".join(f"{name:>30}" for name in results) + f"{'wanted':>8}"
    print(header)
    print(" " * 58 + "".join(f"{'this / other = ratio':>30}" for _ in results))
    for i, (figure, *_rest) in enumerate(next(iter(results.values()))):
        cells = ""
        for rows in results.values():
            _, this, other, ratio, _wanted = rows[i]
            cells += f"{this:>12,.1f} /{other:>9,.1f} ={ratio:>6.2f}"
        print(f"{figure:<58}{cells}{rows[i][4]:>8}")


if __name__ == "__main__":
    main()
