"""The demo season played through the engine on a simulated clock: who does what, when.

The units, the people, and every text they write come from season2024.toml (see its header for what is real and
what is invented); this module is the plot. `play_demo` is what `dossierflow demo` runs. The constants below name
dossiers worth looking at (`dossierflow history <CODE>/2024`).
"""

from __future__ import annotations

import time as stopwatch
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from domain.actor import Actor
from domain.dossier import Dossier
from domain.errors import QuotaExceeded
from domain.ids import dossier_id, person_id, unit_id
from domain.person import Person
from domain.unit import Unit
from domain.values import Answer, Classification, DossierState, Grade, Role, UnitKind
from web.demo.data import DEFAULT_SEASON_FILE, DemoDataError, DemoUnit, SeasonData, load_season
from web.demo.evidence import pdf, png
from workflow.clock import VIETNAM, SimulatedClock
from workflow.engine import Engine
from workflow.rules.samples import sample_answers

DATA = load_season()

# --- dossiers worth looking at (unit codes; the 2024 dossier is "<CODE>/2024") ---------------------------------------

FOUR_GOOD_COMMITTEE = "lc-kim-tan"  # both pilot cells four-good, so the ward committee is recognized four-good
NOT_FOUR_GOOD_COMMITTEE = "lc-pom-han"  # answered every criterion met, but one of its cells is not four-good
RETURNED_AND_RESUBMITTED = "lc-kim-tan-cb1"  # returned by the ward's organization board, resubmitted with changes
QUOTA_REFUSED = "mk-ban-lau"  # excellent refused by the quota, decided good with a reason
EXCELLENT = "mk-nam-lu"  # one of the two excellent communes within the quota
DELEGATED = "mk-kho-bac"  # decided excellent by a deputy on behalf of the district approver
RETURNED_TO_COMMITTEE = "mk-giao-duc"  # the approver sent it back to the organization board, then decided
RECLASSIFIED = "mk-tai-nguyen"  # re-opened in March 2025 on an inspection conclusion, re-classified completed
WITHDRAWN_AND_RESTORED = "mk-bhxh"  # a draft withdrawn and restored
NOT_RATED = "lc-hanh-chinh-cong"  # a cell founded in September 2024: under 6 months, not rated
LATE = "mk-vien-kiem-sat"  # submitted after the self-assessment deadline, left undecided
NOT_COMPLETED = "mk-kinh-te-ha-tang"
SUBMITTED_2025 = "mk-nam-lu"  # its 2025 dossier is submitted and endorsed by the provincial organization board

# The other units the plot gives a part of its own.
RESUBMITTED_BY_DISTRICT = ("mk-ban-xen", "mk-thue")  # returned by the district's board, they answer and resubmit
NOT_REVIEWED = "mk-nam-chay"  # the district's board has not reached it when the year closes
LEFT_ENDORSED = "lc-y-te"  # the city's standing committee has not met on it yet
UNDECIDED = ("mk-noi-vu", "mk-dan-toc")  # the district has not decided them when the year closes
DECIDED_LAST = "mk-pha-long"  # decided on 13 January, after the deputy's week
# The communes in the order the district decides them: goods first, so that the quota of excellent has room.
COMMUNES_DECIDED = (
    "mk-ban-xen", "mk-cao-son", "mk-lung-vai", "mk-thanh-binh", "mk-thi-tran", "mk-tung-chung-pho",
    "mk-lung-khau-nhin", "mk-ta-ngai-cho", "mk-la-pan-tan", EXCELLENT, QUOTA_REFUSED, "mk-din-chin", "mk-ta-gia-khau",
)
STARTED_2025 = ("mk-nam-lu", FOUR_GOOD_COMMITTEE, "mk-thi-tran", "mk-kho-bac", "lc-kim-tan-cb1")
SUBMITTED_IN_2025 = ("mk-nam-lu", FOUR_GOOD_COMMITTEE)

ROOT = DATA.root.code
CITY = DATA.city.code
DISTRICT = DATA.district.code

YEAR = DATA.season.year
NEXT_YEAR = DATA.next_season.year
RULE_SET_2024 = DATA.season.rule_set
RULE_SET_2025 = DATA.next_season.rule_set
MODELS_2024 = DATA.season.recognition_models
RESTRUCTURING = DATA.restructuring.effective
MERGED_ROOT_NAME = DATA.restructuring.merged_root_name
DELEGATION_BASIS = DATA.bases.delegation
RECLASSIFICATION_BASIS = DATA.bases.reclassification
RESTRUCTURING_BASIS = DATA.restructuring.basis
TEXTS = DATA.texts

EXC, GOOD, DONE, FAIL = (
    Classification.EXCELLENT,
    Classification.GOOD,
    Classification.COMPLETED,
    Classification.NOT_COMPLETED,
)
COMMITTEE, CELL, GRASSROOTS_CELL = UnitKind.GRASSROOTS_COMMITTEE, UnitKind.PARTY_CELL, UnitKind.GRASSROOTS_CELL

LEAD = "leadership_of_tasks"  # the criterion the returned pilot cell had graded without evidence
ATTENDANCE_MISS = "attendance"  # the four-good miss a resubmitting cell owns up to

# Groups of similar units: the quota of excellent counts within one deciding unit, period and group.
WARDS, ARMED, AGENCIES, SCHOOLS = "ward/commune", "armed forces", "agencies", "schools"


def _check_cast(data: SeasonData) -> None:
    """The plot names units by code and compares their groups: the file must have them all, or play would fail
    half-way through a season already written to the store."""
    problems: list[str] = []
    kinds = {u.code: u.kind for u in data.units}
    named = {
        FOUR_GOOD_COMMITTEE, NOT_FOUR_GOOD_COMMITTEE, RETURNED_AND_RESUBMITTED, QUOTA_REFUSED, EXCELLENT, DELEGATED,
        RETURNED_TO_COMMITTEE, RECLASSIFIED, WITHDRAWN_AND_RESTORED, NOT_RATED, LATE, NOT_COMPLETED, SUBMITTED_2025,
        *RESUBMITTED_BY_DISTRICT, NOT_REVIEWED, LEFT_ENDORSED, *UNDECIDED, DECIDED_LAST, *COMMUNES_DECIDED,
        *STARTED_2025, *SUBMITTED_IN_2025,
    }
    problems += [f"units: no unit {code!r}, which the demo's plot names" for code in sorted(named - set(kinds))]
    problems += [
        f"district_review.returned: {code!r} resubmits in the demo's plot, so it must be returned first"
        for code in RESUBMITTED_BY_DISTRICT
        if code not in data.district_review.returned
    ]
    for i, unit in enumerate(data.units):
        if unit.kind is not CELL and unit.group not in (WARDS, ARMED, AGENCIES, SCHOOLS):
            problems.append(f"units[{i}].group: {unit.group!r} is not one of {WARDS!r}, {ARMED!r}, {AGENCIES!r}, "
                            f"{SCHOOLS!r}")
    if ATTENDANCE_MISS not in data.misses:
        problems.append(f"misses: no {ATTENDANCE_MISS!r}, which the demo's plot uses")
    officials = {o.username for o in data.officials}
    problems += [
        f"officials: no official {username!r}, who acts in the demo's plot"
        for username in ("tc-thanh-uy", "tt-thanh-uy", "tc-huyen-uy", "tt-huyen-uy", "pbt-huyen-uy")
        if username not in officials
    ]
    if "tc-tinh-uy" not in {o.username for o in data.restructuring.officials}:
        problems.append("restructuring.officials: no official 'tc-tinh-uy', who acts in the demo's plot")
    if problems:
        raise DemoDataError("\n".join(f"{DEFAULT_SEASON_FILE.name}: {p}" for p in problems))


def _check_against_rules(data: SeasonData, engine: Engine) -> None:
    """The comments are keyed by criterion: each must name a criterion of the season's rule sets and models."""
    problems: list[str] = []
    book = engine.rule_book
    graded = {c.id for c in book.rule_set(data.season.rule_set).criteria}
    commented = set(data.comments.graded)
    problems += [f"comments.graded: no comments for criterion {c!r}" for c in sorted(graded - commented)]
    problems += [f"comments.graded.{c}: no such criterion" for c in sorted(commented - graded)]
    points = {c.id for c in book.rule_set(data.next_season.rule_set).criteria}
    problems += [f"comments.points.{c}: no such criterion" for c in sorted(set(data.comments.points) - points)]
    four_good = {
        c.id: c.sub_item_ids
        for kind in (CELL, GRASSROOTS_CELL, COMMITTEE)
        if (model := book.recognition_for(data.season.recognition_models, kind)) is not None
        for c in model.criteria
    }
    unknown = sorted(set(data.comments.four_good) - four_good.keys())
    problems += [f"comments.four_good.{c}: no such criterion" for c in unknown]
    for key, miss in data.misses.items():
        if miss.criterion not in four_good:
            problems.append(f"misses.{key}.criterion: no four-good criterion {miss.criterion!r}")
        elif miss.sub_item is not None and miss.sub_item not in four_good[miss.criterion]:
            problems.append(f"misses.{key}.sub_item: {miss.criterion!r} has no sub-item {miss.sub_item!r}")
    if problems:
        raise DemoDataError("\n".join(f"{DEFAULT_SEASON_FILE.name}: {p}" for p in problems))


_check_cast(DATA)

LC_COMMITTEES = [u for u in DATA.units if u.parent == CITY and u.kind is COMMITTEE]
LC_CELLS = [u for u in DATA.units if u.kind is CELL]  # the pilot cells, two per city committee
LC_GRASSROOTS_CELLS = [u for u in DATA.units if u.parent == CITY and u.kind is GRASSROOTS_CELL and u.code != NOT_RATED]
MK_COMMITTEES = [u for u in DATA.units if u.parent == DISTRICT and u.kind is COMMITTEE]
MK_CELLS = [u for u in DATA.units if u.parent == DISTRICT and u.kind is GRASSROOTS_CELL]
LC_NEW_CELL = DATA.unit(NOT_RATED)


# --- the season -------------------------------------------------------------------------------------------------------


def _moment(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=VIETNAM).astimezone(UTC)


class _Season:
    def __init__(
        self, engine: Engine, progress: Callable[[str], None], stop_requested: Callable[[], bool] = lambda: False
    ) -> None:
        self._engine = engine
        self.progress = progress
        self.stop_requested = stop_requested
        self.clock = SimulatedClock(_moment(date(2024, 1, 2), 7, 30))
        engine.clock = self.clock
        self.units: dict[str, DemoUnit] = {u.code: u for u in DATA.units}
        self.variant: dict[str, int] = {code: i for i, code in enumerate(self.units)}
        self.admin = Actor(person_id(DATA.root.admin_username), Role.ADMINISTRATOR, unit_id(ROOT))
        self.grants: dict[tuple[str, Role, str], UUID] = {}
        self.people = 0
        self.grant_count = 0
        self.names = {o.username: o.name for o in DATA.officials}
        # The last number each kind of deciding body gave its acts this year (see act()).
        self.act_numbers: dict[str, int] = {"QĐ/ĐU": 40, "QĐ/TU": 1180, "QĐ/HU": 230}

    @property
    def engine(self) -> Engine:
        """The engine, reached before each step of the demo: where a stop asked for (Ctrl-C) takes effect, between two
        steps, never inside one's transaction (a KeyboardInterrupt raised there could leave a connection out of its
        pool)."""
        if self.stop_requested():
            raise KeyboardInterrupt
        return self._engine

    # --- time ---------------------------------------------------------------------------------------------------------

    def on(self, day: date, hour: int = 7, minute: int = 30) -> None:
        """Jump to a working moment; the clock refuses to go back, so a phase that overran its days fails loudly."""
        self.clock.set(_moment(day, hour, minute))

    def work(self, minutes: int = 10) -> None:
        """Time passes between two actions, within working hours (07:30-17:00, Monday to Friday)."""
        local = (self.clock.now + timedelta(minutes=minutes)).astimezone(VIETNAM)
        if local.time() > time(17, 0) or local.weekday() >= 5:
            day = local.date() + timedelta(days=1)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            self.clock.set(_moment(day, 7, 30))
        else:
            self.clock.set(local.astimezone(UTC))

    def today(self) -> date:
        return self.clock.now.astimezone(VIETNAM).date()

    # --- who --------------------------------------------------------------------------------------------------------

    @staticmethod
    def secretary(code: str) -> Actor:
        return Actor(person_id(f"bt-{code}"), Role.SECRETARY, unit_id(code))

    @staticmethod
    def official(username: str, role: Role, unit: str, on_behalf_of: str | None = None) -> Actor:
        return Actor(person_id(username), role, unit_id(unit), person_id(on_behalf_of) if on_behalf_of else None)

    def reviewer_of(self, code: str) -> Actor:
        parent = self.units[code].parent
        username = "tc-thanh-uy" if parent == CITY else "tc-huyen-uy" if parent == DISTRICT else f"tc-{parent}"
        return self.official(username, Role.REVIEWER, parent)

    def approver_of(self, code: str) -> Actor:
        parent = self.units[code].parent
        username = "tt-thanh-uy" if parent == CITY else "tt-huyen-uy" if parent == DISTRICT else f"tt-{parent}"
        return self.official(username, Role.APPROVER, parent)

    @property
    def deputy(self) -> Actor:
        return self.official("pbt-huyen-uy", Role.APPROVER, DISTRICT, on_behalf_of="tt-huyen-uy")

    def did(self, code: str, year: int = YEAR) -> UUID:
        return dossier_id(unit_id(code), year)

    # --- setting up -------------------------------------------------------------------------------------------------

    def install(self) -> None:
        root = DATA.root
        self.engine.install(
            root_code=ROOT, root_name=root.name, established_on=root.established,
            admin_username=root.admin_username, admin_name=root.admin_name,
        )
        self.people += 1
        self.grant_count += 1
        self.progress(f"installed {root.name} ({ROOT}); administrator '{root.admin_username}' (Ban Tổ chức Tỉnh ủy)")

    def register_units(self) -> None:
        for superior in (DATA.city, DATA.district):
            self.engine.register_unit(
                self.admin, code=superior.code, name=superior.name, kind=UnitKind.SUPERIOR_COMMITTEE,
                parent_id=unit_id(ROOT), established_on=superior.established,
            )
        registered = 2
        for spec in self.units.values():
            if spec.code == NOT_RATED:
                continue  # registered when it is founded, in September
            self.register(spec)
            registered += 1
        self.progress(
            f"registered {registered} units under the root: {DATA.city.name} with {len(LC_COMMITTEES)} committees "
            f"({len(LC_CELLS)} pilot cells) and {len(LC_GRASSROOTS_CELLS)} grassroots cells; {DATA.district.name} "
            f"with {len(MK_COMMITTEES)} grassroots committees and {len(MK_CELLS)} grassroots cells"
        )

    def register(self, spec: DemoUnit) -> None:
        self.engine.register_unit(
            self.admin, code=spec.code, name=spec.name, kind=spec.kind, parent_id=unit_id(spec.parent),
            established_on=spec.established, group=spec.group,
        )

    def person(self, username: str, full_name: str) -> UUID:
        self.people += 1
        return self.engine.register_person(self.admin, username=username, full_name=full_name).value

    def grant(
        self, username: str, role: Role, unit: str, valid_from: date, valid_to: date | None, basis: str
    ) -> None:
        self.grants[(username, role, unit)] = self.engine.grant_role(
            self.admin, person_id(username), role=role, unit_id=unit_id(unit), valid_from=valid_from,
            valid_to=valid_to, basis=basis,
        ).value
        self.grant_count += 1

    def secretary_name(self, index: int, code: str) -> str:
        highland = code.startswith("mk") and (self.units[code].group == WARDS or index % 3 == 0)
        names = DATA.names
        if highland:
            return names.highland[index % len(names.highland)]
        family = names.kinh_family[(index * 5) % len(names.kinh_family)]
        given = names.kinh_given[(index * 7) % len(names.kinh_given)]
        middle = names.kinh_middle[(index * 3) % len(names.kinh_middle)]
        if middle == "Thị" and index % 2:
            middle = "Văn"
        return f"{family} {middle} {given}"

    def register_people(self) -> None:
        for official in DATA.officials:
            self.person(official.username, official.name)
            for g in official.grants:
                self.grant(official.username, g.role, g.unit, g.valid_from, g.valid_to, g.basis)
        for committee, officials in DATA.committee_officials.items():
            name = self.units[committee].name
            self.person(f"tc-{committee}", officials.reviewer)
            basis = DATA.bases.committee_reviewer.format(unit=name)
            self.grant(f"tc-{committee}", Role.REVIEWER, committee, date(2024, 1, 1), None, basis)
            self.person(f"tt-{committee}", officials.approver)
            basis = DATA.bases.committee_approver.format(unit=name)
            self.grant(f"tt-{committee}", Role.APPROVER, committee, date(2024, 1, 1), None, basis)
        for index, code in enumerate(self.units):
            if code == NOT_RATED:
                continue
            self.add_secretary(index, code, date(2024, 1, 1))
        self.progress(
            f"registered {self.people} people with {self.grant_count} role grants: a secretary for every unit, "
            "organization boards (reviewers) and standing committees (approvers) of the city, the district and the "
            "six pilot committees, two inspection committee auditors"
        )

    def add_secretary(self, index: int, code: str, valid_from: date) -> None:
        self.person(f"bt-{code}", self.secretary_name(index, code))
        self.grant(
            f"bt-{code}", Role.SECRETARY, code, valid_from, None,
            DATA.bases.secretary.format(unit=self.units[code].name),
        )

    # --- the secretaries' work --------------------------------------------------------------------------------------

    def answers(
        self, code: str, level: Classification, year: int = YEAR, miss: str | None = None
    ) -> tuple[dict[str, Answer], dict[str, object]]:
        spec = self.units[code]
        book = self.engine.rule_book
        rule_set = book.rule_set(RULE_SET_2024 if year == YEAR else RULE_SET_2025)
        model = book.recognition_for(MODELS_2024, spec.kind) if year == YEAR else None
        answers, facts = sample_answers(rule_set, model, level)
        variant = self.variant[code]
        ids = [c.id for c in rule_set.criteria]
        if rule_set.scheme == "graded":
            # Not every criterion at the same grade: one stands out, up or down, as real self-assessments do.
            # The cell returned by its committee had graded its leadership excellent without evidence.
            standout = "leadership_of_tasks" if code == RETURNED_AND_RESUBMITTED else ids[variant % len(ids)]
            shift = {EXC: Grade.GOOD, GOOD: Grade.EXCELLENT, DONE: Grade.GOOD}.get(level)
            for cid, answer in list(answers.items()):
                if answer.grade is None:
                    continue
                grade = shift if cid == standout and shift is not None else answer.grade
                answers[cid] = Answer(grade=grade, comment=DATA.comments.graded[cid].of(grade))
        else:
            for cid, answer in list(answers.items()):
                points = answer.points
                if cid == "assigned_targets" and points is not None:
                    points -= Decimal(variant % 3)
                answers[cid] = replace(answer, points=points, comment=DATA.comments.points.get(cid, ""))
        for cid, answer in list(answers.items()):
            if answer.met is not None:
                answers[cid] = replace(
                    answer, comment=DATA.comments.four_good.get(cid, DATA.comments.met_default)
                )
        miss = miss if miss is not None else spec.four_good_miss
        if model is not None and miss is not None:
            missed = DATA.misses[miss]
            subs = dict(answers[missed.criterion].sub_items)
            if missed.sub_item is not None:
                subs[missed.sub_item] = False
            answers[missed.criterion] = Answer(met=False, sub_items=subs, comment=missed.comment)
        return answers, facts

    def draft(self, code: str, year: int = YEAR, level: Classification | None = None) -> None:
        spec = self.units[code]
        level = level or spec.level
        actor = self.secretary(code)
        did = self.engine.open_dossier(actor, unit_id(code), year).value
        self.work(6)
        answers, facts = self.answers(code, level, year)
        self.engine.record_answers(actor, did, answers=answers, facts=facts)
        self.work(25)
        files = DATA.evidence
        when = self.today().strftime("%d/%m/%Y")
        level_name = DATA.level_names.of(level)
        lines = [line.format(unit=spec.name, year=year, level=level_name, date=when) for line in files.report_lines]
        report = pdf(lines)
        self.engine.attach_evidence(actor, did, name=files.report_name.format(year=year), data=report)
        self.work(4)
        if year == YEAR and spec.kind is not COMMITTEE:
            model = self.engine.rule_book.recognition_for(MODELS_2024, spec.kind)
            assert model is not None
            met = [answers[c.id].met is True for c in model.criteria]
            self.engine.attach_evidence(actor, did, name=files.checklist_name.format(year=year), data=png(met))
            self.work(4)
        if self.variant[code] % 3 == 0:
            present = 90 + self.variant[code] % 9
            minutes = files.minutes.format(
                unit_upper=spec.name.upper(), date=when, year=year, present=present, level=level_name
            )
            self.engine.attach_evidence(
                actor, did, name=files.minutes_name.format(year=year), data=minutes.encode("utf-8")
            )
            self.work(4)

    def submit(self, code: str, year: int = YEAR) -> None:
        self.engine.submit(self.secretary(code), self.did(code, year))

    # --- the season of 2024 -----------------------------------------------------------------------------------------

    def self_assessments(self) -> None:
        self.on(date(2024, 11, 1), 8, 0)
        deadlines = DATA.season.deadlines
        self.engine.open_period(
            self.admin, year=YEAR, rule_set_id=RULE_SET_2024, recognition_models=MODELS_2024,
            deadlines=deadlines.model_dump(),
        )
        self.progress(
            f"opened {YEAR} under {RULE_SET_2024} with the four-good models {', '.join(MODELS_2024)}; "
            f"deadlines {deadlines.self_assessment:%d/%m/%Y} (self-assessment), {deadlines.review:%d/%m/%Y} (review), "
            f"{deadlines.decision:%d/%m/%Y} (decision)"
        )
        # Drafts from 11 November; the re-classified unit's draft first, so it is a draft as of 20 November.
        self.on(date(2024, 11, 11))
        order = [RECLASSIFIED, *(c for c in self.units if c != RECLASSIFIED)]
        for code in order:
            self.draft(code)
            if code == WITHDRAWN_AND_RESTORED:
                self.engine.withdraw(
                    self.secretary(code), self.did(code),
                    reason=TEXTS.withdrawal,
                )
                self.work(5)
            self.work(5)
        self.on(date(2024, 11, 20), 9, 0)
        self.engine.restore(self.secretary(WITHDRAWN_AND_RESTORED), self.did(WITHDRAWN_AND_RESTORED))
        self.work(30)
        answers, _ = self.answers(WITHDRAWN_AND_RESTORED, GOOD)
        answers["leadership_of_tasks"] = Answer(grade=Grade.GOOD, comment=TEXTS.restored_leadership)
        self.engine.record_answers(
            self.secretary(WITHDRAWN_AND_RESTORED), self.did(WITHDRAWN_AND_RESTORED), answers=answers
        )
        self.progress(
            f"{YEAR}: {len(self.units)} self-assessments drafted from 11/11/2024, with evidence files; "
            f"{self.units[WITHDRAWN_AND_RESTORED].name} withdrew its draft and restored it on 20/11/2024"
        )

        # Submissions from 25 November: the pilot cells first, so their committees can review them early.
        self.on(date(2024, 11, 25))
        cells_first = sorted(self.units.values(), key=lambda u: u.kind is not CELL)
        submitted = 0
        for spec in cells_first:
            if spec.code == LATE:
                continue
            self.submit(spec.code)
            submitted += 1
            self.work(35)
        self.progress(f"{YEAR}: {submitted} dossiers submitted by {self.today():%d/%m/%Y}")

    def pilot_cells(self) -> None:
        """Each pilot committee's organization board reviews its two cells; its standing committee decides."""
        self.on(date(2024, 12, 2))
        for spec in LC_CELLS:
            if spec.code == RETURNED_AND_RESUBMITTED:
                self.engine.return_to_unit(
                    self.reviewer_of(spec.code), self.did(spec.code),
                    reason=TEXTS.pilot_return,
                )
                self.progress(f"returned to unit: {spec.name} (grade without evidence)")
            else:
                self.engine.endorse(self.reviewer_of(spec.code), self.did(spec.code), note=TEXTS.pilot_endorsement)
            self.work(20)
        # The cell corrects its answers, adds the missing minutes and resubmits.
        self.on(date(2024, 12, 3), 15, 0)
        code = RETURNED_AND_RESUBMITTED
        self.engine.record_answers(
            self.secretary(code), self.did(code),
            answers={LEAD: Answer(grade=Grade.GOOD, comment=DATA.comments.graded[LEAD].of(Grade.GOOD))},
        )
        self.work(10)
        self.engine.attach_evidence(
            self.secretary(code), self.did(code), name=TEXTS.pilot_minutes_name,
            data=TEXTS.pilot_minutes.encode("utf-8"),
        )
        self.work(10)
        self.submit(code)
        self.on(date(2024, 12, 4), 8, 0)
        self.engine.endorse(self.reviewer_of(code), self.did(code), note=TEXTS.pilot_reendorsement)
        self.progress(f"resubmitted with changed answers and a new file, then endorsed: {self.units[code].name}")

        self.on(date(2024, 12, 9))
        for spec in LC_CELLS:
            self.engine.approve(self.approver_of(spec.code), self.did(spec.code), act_number=self.act("QĐ/ĐU"))
            self.work(15)
        four_good = sum(1 for s in LC_CELLS if self.engine.dossier(self.did(s.code)).four_good)
        self.progress(
            f"{len(LC_CELLS)} pilot cells decided by their grassroots committees; {four_good} recognized four-good"
        )

    def district_review(self) -> None:
        """The district's organization board appraises the 42 dossiers (one comes in late)."""
        reviewer = self.official("tc-huyen-uy", Role.REVIEWER, DISTRICT)
        returns = DATA.district_review.returned
        lower = DATA.district_review.lowered
        not_reviewed = {NOT_REVIEWED, LATE}
        self.on(date(2024, 12, 11))
        for spec in [*MK_COMMITTEES, *MK_CELLS]:
            code = spec.code
            if code in not_reviewed:
                continue
            if code in returns:
                self.engine.return_to_unit(reviewer, self.did(code), reason=returns[code])
                self.progress(f"returned to unit: {spec.name}: {returns[code]}")
            elif code in lower:
                lowered = lower[code]
                self.engine.endorse(
                    reviewer, self.did(code), level=lowered.level, reason=lowered.reason, note=TEXTS.district_lowering
                )
            else:
                self.engine.endorse(reviewer, self.did(code), note=TEXTS.district_endorsement)
            self.work(20)
        # A late self-assessment, after the 10 December deadline: recorded as late, left for the district.
        self.on(date(2024, 12, 13), 16, 0)
        self.submit(LATE)
        # Two of the three returned units answer; Phòng Dân tộc does not before the year closes.
        self.on(date(2024, 12, 16), 9, 0)
        commune, cell = RESUBMITTED_BY_DISTRICT
        answers, facts = self.answers(commune, GOOD)  # no longer claims excellent
        self.engine.record_answers(self.secretary(commune), self.did(commune), answers=answers, facts=facts)
        self.work(15)
        self.submit(commune)
        self.work(40)
        answers, _ = self.answers(cell, GOOD, miss=ATTENDANCE_MISS)  # owns up to the attendance it had inflated
        self.engine.record_answers(self.secretary(cell), self.did(cell), answers=answers)
        self.work(10)
        self.submit(cell)
        self.on(date(2024, 12, 18), 8, 0)
        for code in RESUBMITTED_BY_DISTRICT:
            self.engine.endorse(reviewer, self.did(code), note=TEXTS.district_reendorsement)
            self.work(15)
        self.progress(
            f"resubmitted with changed answers and endorsed: {self.units[commune].name} (now good), Chi cục Thuế"
        )

    def city_decisions(self) -> None:
        """The city's organization board appraises the committees and cells; its standing committee decides."""
        reviewer = self.official("tc-thanh-uy", Role.REVIEWER, CITY)
        approver = self.official("tt-thanh-uy", Role.APPROVER, CITY)
        self.on(date(2024, 12, 19))
        for spec in [*LC_COMMITTEES, *LC_GRASSROOTS_CELLS]:
            self.engine.endorse(reviewer, self.did(spec.code), note=TEXTS.city_endorsement)
            self.work(20)
        self.on(date(2024, 12, 23))
        for spec in [*LC_GRASSROOTS_CELLS, *LC_COMMITTEES]:
            if spec.code == LEFT_ENDORSED:
                continue  # left endorsed: the standing committee has not met on it yet
            self.engine.approve(approver, self.did(spec.code), act_number=self.act("QĐ/TU"))
            self.work(15)
        self.engine.mark_not_rated(
            approver, self.did(NOT_RATED),
reason=TEXTS.not_rated
        )
        recognized = [s.name for s in LC_COMMITTEES if self.engine.dossier(self.did(s.code)).four_good]
        self.progress(
            f"Thành ủy decided {len(LC_COMMITTEES) - 1 + len(LC_GRASSROOTS_CELLS)} dossiers; four-good committees: "
            f"{', '.join(recognized)}; {LC_NEW_CELL.name} not rated (under 6 months)"
        )

    def district_decisions(self) -> None:
        """The district's standing committee decides, keeping to the quota; a deputy acts for it one week."""
        approver = self.official("tt-huyen-uy", Role.APPROVER, DISTRICT)
        self.on(date(2025, 1, 2))
        grant = self.grants[("tt-huyen-uy", Role.APPROVER, DISTRICT)]
        self.engine.delegate(
            approver, person_id("tt-huyen-uy"), grant, deputy_id=person_id("pbt-huyen-uy"),
            valid_from=date(2025, 1, 6), valid_to=date(2025, 1, 11), legal_basis=DELEGATION_BASIS,
        )
        self.progress(
            f"delegation: {self.names['pbt-huyen-uy']} decides for {self.names['tt-huyen-uy']} 06-10/01/2025 "
            f"({DELEGATION_BASIS[:38]}…)"
        )
        self.work(30)
        # Communes: goods first, so that the quota of excellent has room (20% of those decided good or better).
        for code in COMMUNES_DECIDED:
            self.decide(approver, code)
        self.engine.return_to_committee(
            approver, self.did(RETURNED_TO_COMMITTEE),
reason=TEXTS.return_to_committee
        )
        self.progress(f"returned to committee: {self.units[RETURNED_TO_COMMITTEE].name}")

        # 6-10 January: the deputy decides on the approver's behalf.
        self.on(date(2025, 1, 6))
        agencies = [s.code for s in MK_COMMITTEES + MK_CELLS if s.group in (AGENCIES, ARMED, SCHOOLS)]
        undecided = {*UNDECIDED, LATE, RETURNED_TO_COMMITTEE}
        excellent_last = sorted((c for c in agencies if c not in undecided), key=lambda c: self.units[c].level is EXC)
        for code in excellent_last:
            self.decide(self.deputy, code)
        self.on(date(2025, 1, 7), 9, 0)
        self.engine.endorse(
            self.official("tc-huyen-uy", Role.REVIEWER, DISTRICT), self.did(RETURNED_TO_COMMITTEE),
            note=TEXTS.committee_reappraisal,
        )
        self.on(date(2025, 1, 8), 8, 0)
        self.decide(self.deputy, RETURNED_TO_COMMITTEE)
        self.progress(f"the deputy decided {len(excellent_last) + 1} dossiers on the district approver's behalf")
        self.on(date(2025, 1, 13))
        self.decide(approver, DECIDED_LAST)

    def act(self, kind: str) -> str:
        """The number of the next act of a deciding body of this kind, as its office numbers acts through the year:
        "1181-QĐ/TU" for the city's standing committee (Thành ủy), "-QĐ/HU" for the district's (Huyện ủy),
        "-QĐ/ĐU" for a grassroots committee's (Đảng ủy)."""
        self.act_numbers[kind] += 1
        return f"{self.act_numbers[kind]}-{kind}"

    def decide(self, actor: Actor, code: str) -> None:
        did = self.did(code)
        dossier = self.engine.dossier(did)
        reason = ""
        # One act, whether the standing committee's first choice stands or the quota makes it decide good instead.
        number = self.act("QĐ/HU")
        if dossier.proposed_level is not None and dossier.proposed_level < self.engine.evaluate(did)[0].level:
            reason = TEXTS.agreed_with_board
        try:
            self.engine.approve(actor, did, reason=reason, act_number=number)
        except QuotaExceeded as refused:
            self.progress(f"quota refused: {self.units[code].name}: {refused}")
            self.work(5)
            self.engine.approve(actor, did, level=GOOD, reason=TEXTS.quota_full, act_number=number)
            self.progress(f"decided good instead, with the reason: {self.units[code].name}")
        self.work(12)

    def close_and_reclassify(self) -> None:
        self.on(date(2025, 1, 20), 14, 0)
        self.engine.close_period(self.admin, YEAR, reason=TEXTS.close)
        dossiers = [self.engine.dossier(self.did(code)) for code in self.units]
        decided = Counter(d.level.value for d in dossiers if d.level is not None)
        open_states = Counter(d.state.value for d in dossiers if d.level is None)
        self.progress(
            f"closed {YEAR}: decided " + ", ".join(f"{k} {v}" for k, v in sorted(decided.items()))
            + f"; four-good {sum(1 for d in dossiers if d.four_good)}; still open: "
            + ", ".join(f"{k} {v}" for k, v in sorted(open_states.items()))
        )
        approver = self.official("tt-huyen-uy", Role.APPROVER, DISTRICT)
        self.on(date(2025, 3, 12), 9, 0)
        self.engine.reopen(approver, self.did(RECLASSIFIED), legal_basis=RECLASSIFICATION_BASIS)
        self.on(date(2025, 3, 14), 10, 0)
        self.engine.approve(
            approver, self.did(RECLASSIFIED), level=DONE,
            reason=TEXTS.reclassification, act_number=self.act("QĐ/HU"),
        )
        self.progress(f"re-classified in the closed period: {self.units[RECLASSIFIED].name}: good -> completed")

    # --- July 2025 and the 2025 period ------------------------------------------------------------------------------

    def restructure(self) -> None:
        """District-level committees end on 1 July 2025; their units move under the merged provincial committee."""
        self.on(date(2025, 6, 30), 8, 0)
        root = unit_id(ROOT)
        self.engine.rename_unit(
            self.admin, root, name=MERGED_ROOT_NAME, effective_from=RESTRUCTURING, reason=RESTRUCTURING_BASIS
        )
        moved = 0
        for superior in (CITY, DISTRICT):
            for child in self.engine.children(unit_id(superior), RESTRUCTURING):
                self.engine.move_unit(
                    self.admin, child.id, parent_id=root, effective_from=RESTRUCTURING, reason=RESTRUCTURING_BASIS
                )
                moved += 1
                self.work(2)
            self.engine.dissolve_unit(
                self.admin, unit_id(superior), effective_from=RESTRUCTURING, reason=RESTRUCTURING_BASIS
            )
        for official in DATA.restructuring.officials:
            self.person(official.username, official.name)
            self.grant(official.username, official.role, ROOT, RESTRUCTURING, None, official.basis)
        self.progress(
            f"restructuring effective {RESTRUCTURING:%d/%m/%Y}: {moved} units moved under '{MERGED_ROOT_NAME}'; "
            f"{DATA.city.name} and {DATA.district.name} dissolved; the provincial organization board and standing "
            "committee now review and decide"
        )

    def season_2025(self) -> None:
        self.on(date(2025, 10, 20), 8, 0)
        self.engine.open_period(
            self.admin, year=NEXT_YEAR, rule_set_id=RULE_SET_2025,
            deadlines=DATA.next_season.deadlines.model_dump(),
        )
        self.on(date(2025, 11, 17))
        for code in STARTED_2025:
            self.draft(code, NEXT_YEAR, GOOD)
            self.work(40)
        self.on(date(2025, 11, 24), 9, 0)
        for code in SUBMITTED_IN_2025:
            self.submit(code, NEXT_YEAR)
            self.work(30)
        self.on(date(2025, 11, 27), 10, 0)
        self.engine.endorse(
            self.official("tc-tinh-uy", Role.REVIEWER, ROOT), self.did(SUBMITTED_2025, NEXT_YEAR),
            note=TEXTS.province_endorsement,
        )
        self.progress(
            f"opened {NEXT_YEAR} under {RULE_SET_2025} (100-point scale); {len(STARTED_2025)} self-assessments "
            f"started, {len(SUBMITTED_IN_2025)} submitted, {self.units[SUBMITTED_2025].name} endorsed by the "
            "provincial organization board"
        )

    def summary(self, seconds: float) -> None:
        engine = self.engine
        events = engine.recorder.max_notification_id() or 0
        dossiers = len(engine.aggregate_ids(Dossier, "Opened"))
        units = len(engine.aggregate_ids(Unit, "Registered"))
        people = len(engine.aggregate_ids(Person, "Registered"))
        decided_2024 = sum(
            1 for code in self.units
            if engine.dossier(self.did(code)).state in (DossierState.APPROVED, DossierState.NOT_RATED)
        )
        self.progress(
            f"done in {seconds:.1f} s: {units} units, {people} people, {dossiers} dossiers "
            f"({decided_2024} of {len(self.units)} decided in {YEAR}), {events} events"
        )
        self.progress("look further:")
        for line in (
            "dossierflow status",
            f"dossierflow history {RECLASSIFIED}/{YEAR}      (re-opened and re-classified)",
            f"dossierflow history {QUOTA_REFUSED}/{YEAR}        (excellent refused by the quota)",
            f"dossierflow history {DELEGATED}/{YEAR}        (decided by a deputy)",
            f"dossierflow history {RETURNED_AND_RESUBMITTED}/{YEAR}    (returned, resubmitted with changes)",
            f"dossierflow show {FOUR_GOOD_COMMITTEE}/{YEAR}           (a four-good committee)",
            f"dossierflow show {RECLASSIFIED}/{YEAR} --as-of 2024-11-20",
            "dossierflow verify",
        ):
            self.progress(f"  {line}")


def play_demo(
    engine: Engine, progress: Callable[[str], None], stop_requested: Callable[[], bool] = lambda: False
) -> None:
    """On an empty store: the real units of the seeds, the 2024 season and the opening of 2025, on a simulated clock.
    Once stop_requested() is true, the next step raises KeyboardInterrupt instead of running."""
    started = stopwatch.perf_counter()
    _check_against_rules(DATA, engine)
    season = _Season(engine, progress, stop_requested)
    season.install()
    season.register_units()
    season.register_people()
    # A cell founded in September 2024: registered then, with its secretary.
    season.on(date(2024, 9, 3), 9, 0)
    season.register(LC_NEW_CELL)
    season.add_secretary(season.variant[NOT_RATED], NOT_RATED, LC_NEW_CELL.established)
    progress(
        f"registered {LC_NEW_CELL.name} ({NOT_RATED}), founded on {LC_NEW_CELL.established:%d/%m/%Y}, "
        "and its secretary"
    )
    season.self_assessments()
    season.pilot_cells()
    season.district_review()
    season.city_decisions()
    season.district_decisions()
    season.close_and_reclassify()
    season.restructure()
    season.season_2025()
    season.summary(stopwatch.perf_counter() - started)
