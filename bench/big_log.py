"""A national-scale event log, generated fast: the events the engine records, written in big transactions.

    .venv/bin/python bench/big_log.py --store DIR_OR_URL [--events 3000000 | --quick] [--data-dir DIR]
                                      [--replace] [--check] [--seed 2024]

--store: a directory (the embedded SQLite store, DIR/events.sqlite, with its signing key and head file beside it,
as `DOSSIERFLOW_DATA_DIR` lays them out) or a postgresql:// URL (the database is created if missing; its signing
key and head file go to --data-dir, by default a directory named after the database in the temporary directory,
such as /tmp/dossierflow-bench/pg-NAME).
Point the CLI at the result with `DOSSIERFLOW_DATA_DIR=DIR [DATABASE_URL=URL] dossierflow status`.

Shape (a province, scaled to --events): 1 provincial committee → 60 districts → about 52,000 grassroots
organizations (grassroots committees with their party cells, and grassroots cells) → about 250,000 party cells
at 3 million events. People: a secretary for every unit, a reviewer and an approver for every committee, an
administrator per district. Dossiers for 2024 played through the season, November to January: most approved,
some endorsed, submitted, returned to the unit or to the committee, still drafts, or only opened; a quarter of the
districts finished (everything decided, the district too). "Lower levels first" and the quota of excellent hold as
the engine enforces them (an excellent refused by the quota is decided good, with a reason).

Why not the engine command by command: it manages 1-2 thousand commands a second, hours for this log. Here each
command is the engine's own, step for step: the aggregates of domain/ commanded with `workflow.spec.Workflow()` as
the transition table, the actor stamped with the grant the engine's authorization would find, the evaluation and
recognition records built by the rules as the engine builds them, the decision books proposed to and decided in,
the aggregates of one command collected in the order the engine saves them. Only the saving differs: the events
of thousands of commands go into one transaction of the real store (hash-chained, its head signed at each commit),
in command order, with the snapshots the engine would take (sealed to the chain). The memory held is one
district's subtree at a time.

--check, after generating (meant for a small log): opens the store with the real engine (build_engine, the
system clock), plays real commands on generated dossiers (answers, submit, endorse, approve), compares the events
they record with generated ones of the same kind, field by field, recomputes recorded decisions, and runs
engine.verify().
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BenchStore, open_bench_store

from domain.actor import Actor
from domain.claims import NameClaim
from domain.copying import copy_aggregate
from domain.decisions import DecisionBook, DecisionEntry
from domain.dossier import Dossier
from domain.errors import QuotaExceeded
from domain.ids import person_id
from domain.period import EvaluationPeriod
from domain.person import Person
from domain.unit import Unit
from domain.values import Answer, Classification, DossierState, Role, UnitKind, four_good_after
from workflow.clock import SimulatedClock, local_date
from workflow.engine import Engine
from workflow.rules import (
    Evaluation,
    Recognition,
    RecognitionModel,
    RuleSet,
    SubordinateSummary,
    classify,
    missing_answers,
    recognize,
    validate_answers,
)
from workflow.rules.samples import sample_answers
from workflow.spec import CURRENT_VERSION, Workflow

YEAR = 2024
DISTRICTS = 60
DEFAULT_EVENTS = 3_000_000
QUICK_EVENTS = 100_000
# Events a grassroots organization brings with it on average (its unit, people, cells, dossiers, decisions), as
# measured on generated logs: sizes the districts to the number of events asked for.
EVENTS_PER_GRASSROOTS_ORG = 70.0
COMMITTEE_SHARE = 0.55  # of grassroots organizations, the rest are grassroots cells (no cells below)
CELLS_PER_COMMITTEE = (2, 16)  # uniform: 9 on average
FINISHED_DISTRICTS = 0.25
BATCH_EVENTS = 10_000
# On PostgreSQL, a save of 10,000 events in one transaction was seen to hang for good: the library's pipelined
# executemany waited on the server, the server (holding the events table's lock) waited on the client. 2,000 do not.
POSTGRES_BATCH_EVENTS = 2_000
MANIFEST = "bench-manifest.json"  # in the data directory: what a benchmark needs to know of the generated log
MANIFEST_EDITABLE = 5_000
MODELS = ["four-good-cell-LC2024", "four-good-committee-LC2024"]
DEADLINES = {
    "self_assessment": date(2024, 12, 15),
    "review": date(2024, 12, 31),
    "decision": date(2025, 1, 15),
}
GRANTS_FROM = date(2020, 10, 1)  # the 2020-2025 term
LEVELS = (
    (Classification.EXCELLENT, 0.15),
    (Classification.GOOD, 0.65),
    (Classification.COMPLETED, 0.15),
    (Classification.NOT_COMPLETED, 0.05),
)
GRASSROOTS_GROUPS = ("xã", "phường", "cơ quan", "doanh nghiệp", "trường học")

# Where a dossier stops this season (unfinished districts). The rest are approved.
DRAFT_OPENED, DRAFT, SUBMITTED, RETURNED, ENDORSED, APPROVED = (
    "opened", "draft", "submitted", "returned_to_unit", "endorsed", "approved",
)
STOPS = ((DRAFT_OPENED, 0.01), (DRAFT, 0.02), (SUBMITTED, 0.03), (RETURNED, 0.015), (ENDORSED, 0.04))
RETURN_ROUND = 0.05  # returned to the unit, answered again and resubmitted, then on its way
RETURN_TO_COMMITTEE = 0.01  # sent back to the committee by the approver, endorsed again, then decided

_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
_MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Quang", "Ngọc", "Xuân", "Thu", "Hồng", "Công")
_GIVEN = ("An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hòa", "Hùng", "Hương", "Khánh", "Lan",
          "Linh", "Long", "Mai", "Nam", "Nga", "Phong", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Thắng", "Trang",
          "Trung", "Tuấn", "Vân", "Việt", "Yến")
_PLACES = ("An", "Bắc", "Bình", "Cao", "Đông", "Hà", "Hòa", "Hưng", "Kim", "Lạc", "Lâm", "Long", "Minh", "Nam",
           "Ngọc", "Phú", "Phúc", "Quang", "Sơn", "Tân", "Thạch", "Thanh", "Thịnh", "Thuận", "Tiên", "Trung",
           "Vạn", "Việt", "Vĩnh", "Xuân", "Yên")


def estimated_grassroots(events: int, districts: int = DISTRICTS) -> int:
    """Grassroots organizations per district for about `events` events in all."""
    return max(1, round(events / districts / EVENTS_PER_GRASSROOTS_ORG))


# --- writing: command order, big transactions -----------------------------------------------------------------------


class Writer:
    """Collects the events of the commands, in the order the engine would store them, and writes them in big
    transactions through the engine's own store (chain, signature, snapshots sealed to the chain)."""

    def __init__(self, engine: Engine, total: int, batch_events: int = BATCH_EVENTS) -> None:
        self.engine = engine
        self.batch_events = batch_events
        self.pending: list[Any] = []
        self.snapshots: list[Any] = []
        self.late_snapshots: list[tuple[UUID, int]] = []
        self.written = 0
        self.commands = 0
        self.transactions = 0
        self.total = total
        self.topics: Counter[str] = Counter()
        self.started = time.perf_counter()
        self._shown = self.started

    def command(self, *aggregates: Aggregate | None) -> None:
        """One engine command's save: the new events of these aggregates, in this order."""
        self.commands += 1
        for aggregate in aggregates:
            if aggregate is None:
                continue
            events = aggregate.collect_events()
            if not events:
                continue
            self.pending.extend(events)
            interval = self.engine.snapshot_interval(aggregate)
            if interval:
                for event in events:
                    version = event.originator_version
                    if version % interval:
                        continue
                    # As Engine._take_snapshots does: from the aggregate itself when it stands at that version
                    # (copied now: it changes before the batch is written), else rebuilt from the store.
                    if aggregate.version == version:
                        snapshot_class = cast(Any, type(aggregate)).Snapshot
                        self.snapshots.append(snapshot_class.take(copy_aggregate(aggregate)))
                    else:
                        self.late_snapshots.append((aggregate.id, version))
        if len(self.pending) >= self.batch_events:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        events, self.pending = self.pending, []
        # What Application.save does with these events (its snapshots are taken above, as the commands ran), minus
        # its per-event protocol checks: one transaction of the chained, signed recorder.
        self.engine.events.put(events)
        if self.snapshots and self.engine.snapshots is not None:
            self.engine.snapshots.put(self.snapshots)
        for aggregate_id, version in self.late_snapshots:
            self.engine.take_snapshot(aggregate_id, version=version)
        self.snapshots, self.late_snapshots = [], []
        self.written += len(events)
        self.transactions += 1
        for event in events:
            self.topics[type(event).__qualname__] += 1
        now = time.perf_counter()
        if now - self._shown >= 5:
            self._shown = now
            self.show_progress()

    def show_progress(self) -> None:
        elapsed = time.perf_counter() - self.started
        rate = self.written / elapsed if elapsed else 0.0
        left = max(0, self.total - self.written)
        eta = left / rate if rate else float("nan")
        print(
            f"    {self.written:>10,} events  {100 * self.written / max(1, self.total):5.1f}%  "
            f"{rate:>8,.0f} events/s  elapsed {elapsed:6.0f} s  ETA {eta:6.0f} s",
            flush=True,
        )


# --- the timeline -----------------------------------------------------------------------------------------------------


def window(start: datetime, end: datetime, n: int) -> Iterator[datetime]:
    """n moments spread evenly between start and end, strictly increasing."""
    step = (end - start) / max(1, n)
    for k in range(n):
        yield start + step * k + timedelta(microseconds=k % 1000)


def moment(year: int, month: int, day: int, hour: int = 1) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# Per district (each plays the same calendar; the province's own aggregates are touched in district order).
PHASES = {
    "open": (moment(2024, 11, 4), moment(2024, 11, 12)),
    "answers": (moment(2024, 11, 12), moment(2024, 12, 2)),
    "submit": (moment(2024, 12, 2), moment(2024, 12, 18)),
    "return_to_unit": (moment(2024, 12, 18), moment(2024, 12, 19)),
    "answers_again": (moment(2024, 12, 19), moment(2024, 12, 20)),
    "resubmit": (moment(2024, 12, 20), moment(2024, 12, 21)),
    "endorse": (moment(2024, 12, 21), moment(2024, 12, 27)),
    "return_to_committee": (moment(2024, 12, 27), moment(2024, 12, 28)),
    "endorse_again": (moment(2024, 12, 28), moment(2024, 12, 29)),
    "approve": (moment(2024, 12, 29), moment(2025, 1, 5)),
}
# The grassroots organizations' review and decision, after their cells'.
UPPER_PHASES = {
    "endorse": (moment(2025, 1, 5), moment(2025, 1, 8)),
    "return_to_committee": (moment(2025, 1, 8), moment(2025, 1, 9)),
    "endorse_again": (moment(2025, 1, 9), moment(2025, 1, 10)),
    "approve": (moment(2025, 1, 10), moment(2025, 1, 14)),
}
# The province's review and decision of a district (shifted by two hours a district, in district order).
ROOT_PHASES = {
    "endorse": (moment(2025, 1, 16), moment(2025, 1, 16, 2)),
    "return_to_committee": (moment(2025, 1, 17), moment(2025, 1, 17, 2)),
    "endorse_again": (moment(2025, 1, 18), moment(2025, 1, 18, 2)),
    "approve": (moment(2025, 1, 20), moment(2025, 1, 20, 2)),
}


# --- the plan of one dossier ------------------------------------------------------------------------------------------


@dataclass
class Staff:
    secretary: Actor
    reviewer: Actor | None = None  # over this unit: reviews the units directly below
    approver: Actor | None = None  # over this unit: decides the units directly below


@dataclass
class Plan:
    """A unit with its people and how far its dossier goes this season; the book of the units directly below it."""

    unit: Unit
    staff: Staff
    parent: Plan | None
    model: RecognitionModel | None
    level: Classification
    four_good: bool
    stop: str
    returned_round: bool = False
    returned_to_committee: bool = False
    dossier: Dossier | None = None
    book: DecisionBook | None = None
    children: list[Plan] = field(default_factory=list)

    @property
    def answers_key(self) -> tuple[Any, ...]:
        """Dossiers with the same key hold the same answers and facts once submitted."""
        return (self.model.id if self.model else None, self.level, self.four_good, self.returned_round)


class Generator:
    def __init__(self, engine: Engine, writer: Writer, grassroots: int, districts: int, seed: int) -> None:
        self.engine = engine
        self.writer = writer
        self.grassroots = grassroots
        self.districts = districts
        self.random = random.Random(seed)
        self.table = Workflow()
        self.rule_set: RuleSet = engine.rule_book.rule_set_for_year(YEAR)
        self._answers: dict[tuple[str | None, Classification, bool], tuple[dict[str, Answer], dict[str, Any]]] = {}
        self._evaluations: dict[tuple[Any, ...], tuple[Evaluation, Recognition | None]] = {}
        self._checked: dict[tuple[Any, ...], list[str]] = {}
        self.states: Counter[str] = Counter()
        # Dossiers a secretary can still edit (drafts, returned): what the benchmarks stream commands at.
        self.editable: list[tuple[str, str]] = []
        self.units = 0
        self.persons = 0

    # --- helpers ---------------------------------------------------------------------------------------------------

    def uuid4(self) -> UUID:
        return UUID(int=self.random.getrandbits(128), version=4)

    def full_name(self) -> str:
        r = self.random
        return f"{r.choice(_FAMILY)} {r.choice(_MIDDLE)} {r.choice(_GIVEN)}"

    def place(self) -> str:
        r = self.random
        return f"{r.choice(_PLACES)} {r.choice(_PLACES)}"

    def answers_for(
        self, model: RecognitionModel | None, level: Classification, four_good: bool
    ) -> tuple[dict[str, Answer], dict[str, Any]]:
        key = (model.id if model else None, level, four_good)
        if key not in self._answers:
            self._answers[key] = sample_answers(self.rule_set, model, level, four_good=four_good)
        return self._answers[key]

    def pick(self, choices: Sequence[tuple[Any, float]], otherwise: Any) -> Any:
        roll, acc = self.random.random(), 0.0
        for choice, share in choices:
            acc += share
            if roll < acc:
                return choice
        return otherwise

    # --- the people and the units (what the administrators do) -------------------------------------------------------

    def person(self, username: str, grants: Sequence[tuple[Role, UUID]], admin: Actor, at: datetime) -> list[Actor]:
        """register_person, then one grant_role per grant: the actors the person can act as, stamped with the grant
        the engine's authorization finds."""
        person = Person.register(username=username, full_name=self.full_name(), actor=admin, timestamp=at)
        # As the engine saves a registration: with its claim on the name in every case (domain/claims.py).
        claim = NameClaim.claim(kind="username", name=username, holder_id=person.id, actor=admin, timestamp=at)
        self.writer.command(person, claim)
        actors = []
        for n, (role, uid) in enumerate(grants, start=1):
            grant_id = self.uuid4()
            person.grant(
                grant_id=grant_id, role=role, unit_id=uid, valid_from=GRANTS_FROM, valid_to=None,
                basis=f"Quyết định {self.random.randint(1, 999)}-QĐ/TU", actor=admin,
                timestamp=at + timedelta(milliseconds=n),
            )
            self.writer.command(person)
            actors.append(Actor(person.id, role, uid, grant_id=grant_id))
        self.persons += 1
        return actors

    def unit(
        self, code: str, name: str, kind: UnitKind, parent: Unit | None, group: str, admin: Actor, at: datetime
    ) -> Unit:
        """register_unit: the unit, and the parent it is attached to, in one save."""
        established = date(self.random.randint(1960, 2022), self.random.randint(1, 12), self.random.randint(1, 28))
        if parent is not None and established < parent.established_on:
            # The engine refuses a unit placed under a parent from before the parent existed (Unit.attach_child).
            established = parent.established_on
        unit = Unit.register(
            code=code, name=name, kind=kind, parent_id=parent.id if parent else None, group=group,
            established_on=established, actor=admin, timestamp=at,
        )
        if parent is not None:
            parent.attach_child(child_id=unit.id, effective_from=established, actor=admin, timestamp=at)
        claim = NameClaim.claim(kind="code", name=code, holder_id=unit.id, actor=admin, timestamp=at)
        self.writer.command(unit, parent, claim)
        self.units += 1
        return unit

    def plan(self, unit: Unit, staff: Staff, parent: Plan, finished: bool) -> Plan:
        stop = APPROVED if finished else self.pick(STOPS, APPROVED)
        return Plan(
            unit, staff, parent, self.engine.rule_book.recognition_for(MODELS, unit.kind),
            self.pick(LEVELS, Classification.GOOD), self.random.random() < 0.7, stop,
            returned_round=stop not in (DRAFT_OPENED, DRAFT, RETURNED) and self.random.random() < RETURN_ROUND,
            returned_to_committee=stop == APPROVED and self.random.random() < RETURN_TO_COMMITTEE,
        )

    def staffed(
        self, code: str, name: str, kind: UnitKind, parent: Plan, group: str, admin: Actor, clock: Iterator[datetime],
        finished: bool,
    ) -> Plan:
        """A unit, its secretary, and for a committee its reviewer and approver."""
        unit = self.unit(code, name, kind, parent.unit, group, admin, next(clock))
        (secretary,) = self.person(f"bt-{code}", [(Role.SECRETARY, unit.id)], admin, next(clock))
        staff = Staff(secretary)
        if kind is not UnitKind.PARTY_CELL and kind is not UnitKind.GRASSROOTS_CELL:
            (staff.reviewer,) = self.person(f"tc-{code}", [(Role.REVIEWER, unit.id)], admin, next(clock))
            (staff.approver,) = self.person(f"tv-{code}", [(Role.APPROVER, unit.id)], admin, next(clock))
        return self.plan(unit, staff, parent, finished)

    # --- the province ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        clock = cast(SimulatedClock, self.engine.clock)
        clock.set(moment(2024, 9, 30))
        admin = self.engine.install(
            root_code="tinh", root_name="Đảng bộ tỉnh Bắc Trung", established_on=date(1945, 9, 2),
            admin_username="quantri", admin_name="Quản trị hệ thống",
        ).value
        clock.set(moment(2024, 9, 30, 3))
        self.engine.open_period(admin, year=YEAR, deadlines=DEADLINES, recognition_models=MODELS)
        self.writer.written = self.engine.recorder.max_notification_id() or 0
        period = self.engine.period(YEAR)
        root = self.engine.unit(admin.unit_id)
        at = moment(2024, 9, 30, 5)
        (secretary,) = self.person("bt-tinh", [(Role.SECRETARY, root.id)], admin, at)
        (reviewer,) = self.person("tc-tinh", [(Role.REVIEWER, root.id)], admin, at + timedelta(minutes=5))
        (approver,) = self.person("tv-tinh", [(Role.APPROVER, root.id)], admin, at + timedelta(minutes=10))
        province = Plan(root, Staff(secretary, reviewer, approver), None, None, Classification.GOOD, False, DRAFT)
        finished = set(self.random.sample(range(self.districts), round(self.districts * FINISHED_DISTRICTS)))
        for d in range(self.districts):
            district = self.district(d, province, admin, period, d in finished)
            # The province reviews and decides the district, after everything below it (the province's own
            # aggregates are touched in district order, so their events keep their order in time).
            province.children = [district]
            self.review([province], period, ROOT_PHASES, offset=timedelta(hours=2 * d))
        self.writer.flush()

    def district(self, d: int, province: Plan, root_admin: Actor, period: EvaluationPeriod, finished: bool) -> Plan:
        """A district's subtree: its units and people, then its season; all of it saved before the next district."""
        start = moment(2024, 10, 1) + timedelta(hours=10 * d)
        clock = (start + timedelta(seconds=k) for k in itertools.count())
        code = f"h{d + 1:02d}"
        unit = self.unit(
            code, f"Đảng bộ huyện {self.place()}", UnitKind.SUPERIOR_COMMITTEE, province.unit, "huyện", root_admin,
            next(clock),
        )
        (admin,) = self.person(f"qt-{code}", [(Role.ADMINISTRATOR, unit.id)], root_admin, next(clock))
        # The administrators' commands record the actor as given (the engine stamps the grant on dossier steps).
        admin = admin.claim()
        (secretary,) = self.person(f"bt-{code}", [(Role.SECRETARY, unit.id)], admin, next(clock))
        (reviewer,) = self.person(f"tc-{code}", [(Role.REVIEWER, unit.id)], admin, next(clock))
        (approver,) = self.person(f"tv-{code}", [(Role.APPROVER, unit.id)], admin, next(clock))
        top = Plan(
            unit, Staff(secretary, reviewer, approver), province, None,
            self.random.choice((Classification.GOOD, Classification.EXCELLENT)), False,
            APPROVED if finished else self.random.choice((SUBMITTED, ENDORSED, ENDORSED)),
        )
        for g in range(self.grassroots):
            committee = self.random.random() < COMMITTEE_SHARE
            group = self.random.choice(GRASSROOTS_GROUPS)
            gcode = f"{code}-{g + 1:04d}"
            grassroots = self.staffed(
                gcode, f"{'Đảng bộ' if committee else 'Chi bộ'} {group} {self.place()}",
                UnitKind.GRASSROOTS_COMMITTEE if committee else UnitKind.GRASSROOTS_CELL, top, group, admin, clock,
                finished,
            )
            top.children.append(grassroots)
            if committee:
                for c in range(self.random.randint(*CELLS_PER_COMMITTEE)):
                    grassroots.children.append(self.staffed(
                        f"{gcode}-{c + 1:02d}", f"Chi bộ thôn {self.place()}", UnitKind.PARTY_CELL, grassroots, "",
                        admin, clock, finished,
                    ))
        self.season(top, period)
        return top

    # --- the season of one district ----------------------------------------------------------------------------------

    def season(self, top: Plan, period: EvaluationPeriod) -> None:
        committees = [g for g in top.children if g.children]
        cells = [c for g in committees for c in g.children]
        self.unit_steps([top, *top.children, *cells], period)
        # The cells, reviewed and decided by their committees.
        self.review(committees, period, PHASES)
        # Lower levels first: a committee with a cell undecided is at most endorsed; a district likewise.
        for plan in committees:
            if plan.stop == APPROVED and any(c.stop != APPROVED for c in plan.children):
                plan.stop, plan.returned_to_committee = ENDORSED, False
        if top.stop == APPROVED and any(g.stop != APPROVED for g in top.children):
            top.stop = ENDORSED
        # The grassroots organizations, by the district.
        self.review([top], period, UPPER_PHASES)
        self.writer.flush()

    def unit_steps(self, plans: list[Plan], period: EvaluationPeriod) -> None:
        """The secretaries' part: open, record answers, submit; a return answered and resubmitted."""
        for p, at in zip(plans, window(*PHASES["open"], len(plans)), strict=True):
            # open_dossier records the actor as the secretary claims it (authorized, not stamped).
            p.dossier = Dossier(
                unit_id=p.unit.id, year=YEAR, workflow_version=CURRENT_VERSION, rule_set_id=period.rule_set_id,
                recognition_model_id=p.model.id if p.model else None, actor=p.staff.secretary.claim(), timestamp=at,
            )
            self.writer.command(p.dossier)
        answering = [p for p in plans if p.stop != DRAFT_OPENED]
        for p, at in zip(answering, window(*PHASES["answers"], len(answering)), strict=True):
            answers, facts = self.answers_for(p.model, p.level, p.four_good)
            if p.stop == DRAFT:
                answers = dict(list(answers.items())[: len(answers) // 2])  # a draft saved half-way
            self.record_answers(p, answers, facts, at)
        submitting = [p for p in answering if p.stop != DRAFT]
        for p, at in zip(submitting, window(*PHASES["submit"], len(submitting)), strict=True):
            self.submit(p, period, at)
        returned = [p for p in submitting if p.stop == RETURNED or p.returned_round]
        for p, at in zip(returned, window(*PHASES["return_to_unit"], len(returned)), strict=True):
            dossier = cast(Dossier, p.dossier)
            reviewer = cast(Actor, cast(Plan, p.parent).staff.reviewer)
            dossier.return_to_unit(
                self.table, reason="Đề nghị bổ sung minh chứng và làm rõ kết quả thực hiện chỉ tiêu", actor=reviewer,
                timestamp=at,
            )
            self.writer.command(dossier)
        again = [p for p in returned if p.returned_round]
        for p, at in zip(again, window(*PHASES["answers_again"], len(again)), strict=True):
            dossier = cast(Dossier, p.dossier)
            first = next(iter(dossier.answers))
            self.record_answers(p, {first: replace(dossier.answers[first], comment="Đã bổ sung minh chứng")}, {}, at)
        for p, at in zip(again, window(*PHASES["resubmit"], len(again)), strict=True):
            self.submit(p, period, at)

    def record_answers(self, p: Plan, answers: dict[str, Answer], facts: dict[str, Any], at: datetime) -> None:
        dossier = cast(Dossier, p.dossier)
        key = ("record", p.answers_key, p.stop == DRAFT, bool(dossier.answers))
        if key not in self._checked:
            # The engine's checks and the dossier's own (every text cleaned), once for each set of answers...
            validate_answers(self.rule_set, p.model, answers, facts, dossier.facts)
            self._checked[key] = []
            dossier.record_answers(self.table, answers=answers, facts=facts, actor=p.staff.secretary, timestamp=at)
        else:
            # ...then the event the command records, as it computes it (what changed), without cleaning the same
            # texts again: cleaning them was a tenth of the generation's time.
            self.table.destination(dossier.workflow_version, dossier.state, "record_answers")
            changed = {k: v for k, v in answers.items() if dossier.answers.get(k) != v}
            changed_facts = {k: v for k, v in facts.items() if dossier.facts.get(k) != v}
            if changed or changed_facts:
                cast(Any, dossier)._answers_recorded(
                    answers=changed, facts=changed_facts, actor=p.staff.secretary, timestamp=at
                )
        self.writer.command(dossier)

    def submit(self, p: Plan, period: EvaluationPeriod, at: datetime) -> None:
        dossier = cast(Dossier, p.dossier)
        key = ("submit", p.answers_key)
        if key not in self._checked:
            self._checked[key] = missing_answers(self.rule_set, p.model, dossier.answers, dossier.facts)
        missing = self._checked[key]
        late = period.is_late("self_assessment", local_date(at))
        command = dossier.resubmit if dossier.state is DossierState.RETURNED_TO_UNIT else dossier.submit
        command(self.table, missing=missing, late=late, actor=p.staff.secretary, timestamp=at)
        self.writer.command(dossier)

    # --- the committees' and the approvers' part ---------------------------------------------------------------------

    def review(
        self,
        superiors: list[Plan],
        period: EvaluationPeriod,
        phases: dict[str, tuple[datetime, datetime]],
        offset: timedelta = timedelta(0),
    ) -> None:
        """The units directly below each superior, reviewed and decided phase by phase (every superior's endorsements,
        then the returns to the committee, then the decisions), so the log goes forward in time."""

        def steps(phase: str, pairs: list[tuple[Plan, Plan]]) -> Iterator[tuple[Plan, Plan, datetime]]:
            start, end = phases[phase]
            for (superior, p), at in zip(pairs, window(start + offset, end + offset, len(pairs)), strict=True):
                yield superior, p, at

        reviewing = [(s, p) for s in superiors for p in s.children if p.stop in (ENDORSED, APPROVED)]
        for superior, p, at in steps("endorse", reviewing):
            self.endorse(superior, p, at)
        sent_back = [(s, p) for s, p in reviewing if p.returned_to_committee]
        for superior, p, at in steps("return_to_committee", sent_back):
            dossier = cast(Dossier, p.dossier)
            dossier.return_to_committee(
                self.table, reason="Đề nghị thẩm định lại tiêu chí lãnh đạo thực hiện nhiệm vụ chính trị",
                actor=cast(Actor, superior.staff.approver), timestamp=at,
            )
            self.writer.command(dossier)
        for superior, p, at in steps("endorse_again", sent_back):
            self.endorse(superior, p, at)
        # Goods first, so that the quota of excellent has room (as an approver orders a decision meeting).
        deciding = sorted(
            ((s, p) for s, p in reviewing if p.stop == APPROVED),
            key=lambda pair: cast(Dossier, pair[1].dossier).proposed_level is Classification.EXCELLENT,
        )
        deciding.sort(key=lambda pair: superiors.index(pair[0]))
        for superior, p, at in steps("approve", deciding):
            self.approve(superior, p, at)
        for superior in superiors:
            for p in superior.children:
                dossier = cast(Dossier, p.dossier)
                self.states[dossier.state.value] += 1
                editable = dossier.state in (DossierState.DRAFT, DossierState.RETURNED_TO_UNIT)
                if editable and len(self.editable) < MANIFEST_EDITABLE:
                    self.editable.append((str(dossier.id), p.unit.code))

    def subordinates(self, p: Plan) -> tuple[SubordinateSummary, tuple[UUID, ...]] | None:
        """Engine.subordinates, from the plan's own book (the decisions of the units directly below it)."""
        unit, book = p.unit, p.book
        if not unit.children:
            return None
        end = date(YEAR, 12, 31)
        if book is not None and book.decided["decided"] == unit.children_count_as_of(end):
            counts = book.decided
            return SubordinateSummary(counts["rated"], counts["completed"], counts["good"], counts["four_good"]), ()
        children = unit.children_as_of(end)
        if book is None:
            decided: list[DecisionEntry] = []
            undecided = tuple(children)
        else:
            standing = book.standing(children)
            decided, undecided = list(standing.decided), standing.undecided
        rated = [e for e in decided if e.level is not Classification.NOT_RATED]
        summary = SubordinateSummary(
            total=len(rated),
            completed_or_better=sum(e.level >= Classification.COMPLETED for e in rated),
            good_or_better=sum(e.level >= Classification.GOOD for e in rated),
            four_good=sum(bool(e.four_good) for e in rated),
        )
        return summary, undecided

    def evaluate(self, p: Plan) -> tuple[Evaluation, Recognition | None, Any, dict[str, Any]]:
        """Engine._evaluate and Engine._decision_record."""
        dossier = cast(Dossier, p.dossier)
        subs = self.subordinates(p)
        summary = subs[0] if subs else None
        age = p.unit.age_in_months(date(YEAR + 1, 1, 1))
        # The rules are pure, and a unit of six months or more is classified on its answers alone: one evaluation
        # serves every dossier with the same answers and the same standing of the units below.
        key = (p.answers_key, summary, age >= self.rule_set.age.min_months)
        found = self._evaluations.get(key)
        if found is None:
            found = (
                classify(self.rule_set, dossier.answers, dossier.facts, summary, age),
                recognize(p.model, dossier.answers, summary) if p.model else None,
            )
            self._evaluations[key] = found
        evaluation, recognition = found
        record = evaluation.as_record()
        record["inputs"] = {
            "answers": dict(dossier.answers),
            "facts": dict(dossier.facts),
            "unit_established_on": p.unit.established_on,
            "unit_age_months": age,
            "subordinates": None if subs is None else {
                "total": subs[0].total,
                "completed_or_better": subs[0].completed_or_better,
                "good_or_better": subs[0].good_or_better,
                "four_good": subs[0].four_good,
                "undecided": [str(u) for u in subs[1]],
            },
        }
        return evaluation, recognition, subs, record

    def endorse(self, superior: Plan, p: Plan, at: datetime) -> None:
        """Engine.endorse with the level the rules suggest: the dossier, then the superior's book."""
        reviewer = cast(Actor, superior.staff.reviewer)
        dossier = cast(Dossier, p.dossier)
        evaluation, recognition, _, record = self.evaluate(p)
        proposed = evaluation.level
        dossier.endorse(
            self.table, level=proposed, evaluation=record,
            recognition=recognition.as_record() if recognition else None, note="", reason="", actor=reviewer,
            timestamp=at,
        )
        if superior.book is None:
            superior.book = DecisionBook(superior_id=superior.unit.id, year=YEAR, actor=reviewer, timestamp=at)
        four_good = four_good_after(proposed, recognition.recognized) if recognition else None
        superior.book.propose(
            entry=DecisionEntry(p.unit.id, dossier.id, p.unit.group, proposed, four_good, decided=False),
            actor=reviewer, timestamp=at,
        )
        self.writer.command(dossier, superior.book)

    def approve(self, superior: Plan, p: Plan, at: datetime) -> None:
        """Engine.approve (a decision list of one); an excellent the quota refuses is decided good, with a reason."""
        approver = cast(Actor, superior.staff.approver)
        dossier = cast(Dossier, p.dossier)
        evaluation, recognition, subs, record = self.evaluate(p)
        if subs is not None and subs[1]:
            raise AssertionError(f"{p.unit.code} decided before the units below it")
        level = dossier.proposed_level or evaluation.level
        reason = ""
        if evaluation.level < level:
            level, reason = evaluation.level, "Xếp loại theo kết quả đánh giá lại của cấp trên"
        if superior.book is None:
            superior.book = DecisionBook(superior_id=superior.unit.id, year=YEAR, actor=approver, timestamp=at)
        book = superior.book
        while True:
            four_good = four_good_after(level, recognition.recognized) if recognition else None
            entry = DecisionEntry(p.unit.id, dossier.id, p.unit.group, level, four_good)
            try:
                figures = book.decide(entries=[entry], cap=self.rule_set.quota_cap, actor=approver, timestamp=at)
                break
            except QuotaExceeded:
                if level is not Classification.EXCELLENT:
                    raise
                level = Classification.GOOD
                reason = "Đã đủ tỷ lệ hoàn thành xuất sắc nhiệm vụ trong nhóm; xếp loại hoàn thành tốt nhiệm vụ"
        dossier.approve(
            self.table, level=level, evaluation=record, recognition=recognition.as_record() if recognition else None,
            decision_book_id=book.id, quota=figures[p.unit.group].as_record(), reason=reason, actor=approver,
            timestamp=at,
        )
        below = None
        if subs is not None:
            if p.book is None:
                p.book = DecisionBook(superior_id=p.unit.id, year=YEAR, actor=approver, timestamp=at)
            below = p.book
            below.note_superior_decided(level=level, four_good=four_good, actor=approver, timestamp=at)
        self.writer.command(book, dossier, below)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="a directory (SQLite) or a postgresql:// URL")
    parser.add_argument("--data-dir", type=Path, default=None, help="for a PostgreSQL store: where its key lives")
    parser.add_argument("--events", type=int, default=None, help=f"about this many events (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--quick", action="store_true", help=f"about {QUICK_EVENTS:,} events")
    parser.add_argument("--districts", type=int, default=DISTRICTS)
    parser.add_argument("--seed", type=int, default=YEAR)
    parser.add_argument(
        "--batch-events", type=int, default=None,
        help=f"events per transaction (default {BATCH_EVENTS:,}; {POSTGRES_BATCH_EVENTS:,} on PostgreSQL)",
    )
    parser.add_argument("--replace", action="store_true", help="empty the store first if it holds events")
    parser.add_argument("--check", action="store_true", help="then play real commands on it and verify it")
    args = parser.parse_args()
    events = args.events or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    grassroots = estimated_grassroots(events, args.districts)
    bench = open_bench_store(args.store, args.data_dir, replace=args.replace)
    print(f"  store: {bench.describe()}", flush=True)
    print(
        f"  shape: 1 province, {args.districts} districts, {grassroots} grassroots organizations each "
        f"(about {events:,} events)", flush=True,
    )
    engine = bench.engine(clock=SimulatedClock(moment(2024, 9, 1)))
    try:
        if not engine.is_empty():
            raise SystemExit(f"{bench.describe()} already holds events: --replace to start again")
        batch = args.batch_events or (POSTGRES_BATCH_EVENTS if bench.database_url else BATCH_EVENTS)
        writer = Writer(engine, events, batch)
        generator = Generator(engine, writer, grassroots, args.districts, args.seed)
        started = time.perf_counter()
        generator.run()
        seconds = time.perf_counter() - started
        writer.show_progress()
    finally:
        engine.close()
    head = writer.written
    print(
        f"  generated {head:,} events ({generator.units:,} units, {generator.persons:,} persons, "
        f"{sum(generator.states.values()):,} dossiers) in {seconds:,.0f} s: {head / seconds:,.0f} events/s, "
        f"{writer.commands:,} commands in {writer.transactions:,} transactions",
        flush=True,
    )
    print("  dossiers by state: " + ", ".join(f"{k} {v:,}" for k, v in generator.states.most_common()))
    manifest = {
        "events": head, "seconds": round(seconds, 1), "year": YEAR, "province": "tinh",
        "districts": [f"h{d + 1:02d}" for d in range(args.districts)], "editable": generator.editable,
    }
    (bench.data_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    print("  events by type: " + ", ".join(f"{k} {v:,}" for k, v in writer.topics.most_common()))
    if args.check:
        check(bench)


# --- the check against the engine -------------------------------------------------------------------------------------


def _shape(value: Any) -> Any:
    """What an event's field looks like, without its values that differ from one dossier to another."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items()) if not _volatile(k)}
    if isinstance(value, list | tuple):
        return [type(value).__name__, *sorted({repr(_shape(v)) for v in value})]
    return type(value).__name__


def _volatile(key: str) -> bool:
    # Keys that are ids (answers by criterion are stable; these name units and dossiers).
    try:
        UUID(key)
        return True
    except ValueError:
        return False


def _fields(event: Any) -> dict[str, Any]:
    skip = {"originator_id", "originator_version", "timestamp"}
    return {k: _shape(v) for k, v in sorted(vars(event).items()) if k not in skip}


def check(bench: BenchStore) -> None:
    """Real commands on the generated log, their events compared with generated ones; then verify."""
    print("  check: the real engine on the generated log", flush=True)
    engine = bench.engine()
    try:
        rule_set = engine.rule_book.rule_set_for_year(YEAR)
        by_state: dict[DossierState, list[Dossier]] = {}
        for did in engine.aggregate_ids(Dossier, "Opened"):
            dossier = engine.dossier(did)
            by_state.setdefault(dossier.state, []).append(dossier)
        print("    dossiers by state: " + ", ".join(f"{s.value} {len(v)}" for s, v in by_state.items()))
        # A cell only opened: answered, submitted, endorsed and decided through the engine.
        fresh = next(
            d for d in by_state[DossierState.DRAFT] if engine.unit(d.unit_id).kind is UnitKind.PARTY_CELL
            and not d.answers
        )
        unit = engine.unit(fresh.unit_id)
        parent = cast(UUID, unit.parent_id)
        secretary = Actor(person_id(f"bt-{unit.code}"), Role.SECRETARY, unit.id)
        committee = engine.unit(parent).code
        reviewer = Actor(person_id(f"tc-{committee}"), Role.REVIEWER, parent)
        approver = Actor(person_id(f"tv-{committee}"), Role.APPROVER, parent)
        model = engine.rule_book.recognition("four-good-cell-LC2024")
        answers, facts = sample_answers(rule_set, model, Classification.GOOD)
        before = engine.recorder.max_notification_id() or 0
        engine.record_answers(secretary, fresh.id, answers=answers, facts=facts)
        engine.submit(secretary, fresh.id)
        engine.endorse(reviewer, fresh.id)
        engine.approve(approver, fresh.id)
        played = [
            engine.mapper.to_domain_event(n) for n in engine.recorder.select_notifications(before + 1, 100)
        ]
        print(f"    played one cell through the engine: {len(played)} events "
              f"({', '.join(type(e).__qualname__ for e in played)})")
        # The same kinds of events, generated: from an approved cell of the same committee if there is one.
        sibling = next(
            d for d in by_state[DossierState.APPROVED] if engine.unit(d.unit_id).kind is UnitKind.PARTY_CELL
            and len(list(engine.history(d.id))) == 5
        )
        generated = {type(e).__qualname__: e for e in engine.history(sibling.id)}
        book = engine.dossier(sibling.id).decision_book_id
        generated.update({type(e).__qualname__: e for e in engine.history(cast(UUID, book))})
        compared, differences = 0, []
        for event in played:
            name = type(event).__qualname__
            twin = generated.get(name)
            if twin is None:
                continue
            compared += 1
            if _fields(event) != _fields(twin):
                differences.append(f"{name}: engine {_fields(event)}\n      generated {_fields(twin)}")
        print(f"    {compared} event kinds compared field by field with generated ones: "
              + ("the same shape" if not differences else "DIFFERENT"))
        for line in differences:
            print("      " + line)
        # A committee decided from generated decisions: its recorded evaluation recomputes.
        recomputed = 0
        for dossier in by_state.get(DossierState.APPROVED, [])[:200]:
            assert engine.recompute_decision(dossier.id).matches, dossier.id
            recomputed += 1
        print(f"    {recomputed} recorded decisions recomputed: all match")
        # The engine's own view of a committee's cells, from the generated books.
        decided_committees = [
            d for d in by_state.get(DossierState.APPROVED, [])
            if engine.unit(d.unit_id).kind is UnitKind.GRASSROOTS_COMMITTEE
        ]
        if decided_committees:
            evaluation, _, subs = engine.evaluate(decided_committees[0].id)
            assert subs is not None
            assert not subs.undecided
            print(f"    a decided committee evaluates to {evaluation.level.value} over {subs.summary.total} cells")
        started = time.perf_counter()
        report = engine.verify()
        print(f"    verify: {'OK' if report.ok else 'FAILED'} ({time.perf_counter() - started:.1f} s)")
        for finding in report.findings:
            print(f"      {finding}")
        if differences or not report.ok:
            raise SystemExit(1)
    finally:
        engine.close()


if __name__ == "__main__":
    main()
