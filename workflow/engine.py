from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder
from eventsourcing.utils import get_topic

from domain.actor import Actor
from domain.decisions import DecisionBook, DecisionEntry, QuotaFigures
from domain.dossier import Dossier
from domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidInput,
    NotAuthorized,
    NotFound,
    OrderingViolation,
    RuleSetError,
)
from domain.ids import decision_book_id, dossier_id, period_id, person_id, unit_id
from domain.period import EvaluationPeriod
from domain.person import Person
from domain.unit import Unit, UnitVersion
from domain.values import DECIDED_STATES, Answer, Classification, DossierState, Role, UnitKind, four_good_after
from workflow import store
from workflow.authorization import ancestors, authorize, authorize_admin
from workflow.clock import Clock, end_of_day, local_date, system_clock
from workflow.evidence import BlobStore, EvidencePolicy, MemoryBlobStore
from workflow.rules import (
    Evaluation,
    Recognition,
    RecognitionModel,
    RuleBook,
    RuleSet,
    SubordinateSummary,
    classify,
    load_rule_book,
    missing_answers,
    recognize,
    validate_answers,
)
from workflow.spec import CURRENT_VERSION, Workflow, spec_for

A = TypeVar("A", bound=Aggregate)


def _submission(dossier: Dossier) -> str:
    return "resubmit" if dossier.state is DossierState.RETURNED_TO_UNIT else "submit"


@dataclass(frozen=True)
class Action:
    trigger: str
    label: str
    needs_reason: bool


@dataclass(frozen=True)
class Recomputation:
    """A recorded decision's evaluation, run again from its recorded inputs under its recorded rule set."""

    recorded_level: Classification
    decided_level: Classification
    recomputed: Evaluation

    @property
    def matches(self) -> bool:
        return self.recomputed.level is self.recorded_level


@dataclass(frozen=True)
class Subordinates:
    summary: SubordinateSummary
    undecided: tuple[str, ...]


class Engine(Application[UUID]):
    """The use cases of dossierflow. Every command: load, authorize, command the aggregates, save atomically."""

    name = "dossierflow"
    # The library's cache keeps recently used aggregates and fast-forwards them from the store on each read, so a
    # busy parent unit or decision book is not replayed from its snapshot every time. Copies are handed out, so a
    # refused command leaves the cached aggregate untouched.
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "y"}  # noqa: RUF012
    snapshotting_intervals = {Dossier: 25, DecisionBook: 50, Unit: 100, Person: 50}  # noqa: RUF012

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        rule_book: RuleBook | None = None,
        clock: Clock = system_clock,
        blobs: BlobStore | None = None,
        evidence_policy: EvidencePolicy | None = None,
    ) -> None:
        super().__init__(env)
        self.rule_book = rule_book or load_rule_book()
        self.clock = clock
        self.blobs: BlobStore = blobs or MemoryBlobStore()
        self.evidence_policy = evidence_policy or EvidencePolicy()
        self.workflow = Workflow()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        store.register_transcodings(transcoder)

    # --- plumbing ------------------------------------------------------------------------------

    def _get(self, cls: type[A], aggregate_id: UUID, what: str, version: int | None = None) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no {what} {aggregate_id}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{aggregate_id} is not a {what}")
        return aggregate

    def _exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository

    def _save(self, *aggregates: Aggregate | None) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise ConcurrencyConflict(
                "someone else changed this record at the same moment; nothing of yours was saved. "
                "Reload it and try again on its new state."
            ) from None

    def _now(self) -> tuple[datetime, date]:
        moment = self.clock()
        return moment, local_date(moment)

    def person(self, pid: UUID) -> Person:
        return self._get(Person, pid, "person")

    def unit(self, uid: UUID) -> Unit:
        return self._get(Unit, uid, "unit")

    def period(self, year: int) -> EvaluationPeriod:
        return self._get(EvaluationPeriod, period_id(year), f"evaluation period for {year}")

    def periods(self) -> list[EvaluationPeriod]:
        return sorted(
            (self._get(EvaluationPeriod, pid, "period") for pid in self.aggregate_ids(EvaluationPeriod, "Opened")),
            key=lambda p: p.year,
        )

    def dossier(self, did: UUID, version: int | None = None) -> Dossier:
        return self._get(Dossier, did, "dossier", version)

    def unit_by_code(self, code: str) -> Unit:
        uid = unit_id(code)
        if not self._exists(uid):
            raise NotFound(f"no unit with code '{code}'")
        return self._get(Unit, uid, "unit")

    def person_by_username(self, username: str) -> Person:
        pid = person_id(username)
        if not self._exists(pid):
            raise NotFound(f"no person with username '{username}'")
        return self._get(Person, pid, "person")

    def is_empty(self) -> bool:
        return not self.recorder.max_notification_id()

    # --- installation --------------------------------------------------------------------------

    def install(
        self, *, root_code: str, root_name: str, established_on: date, admin_username: str, admin_name: str
    ) -> Actor:
        """The first unit and its first administrator, on an empty store; everything later needs a grant."""
        if not self.is_empty():
            raise AlreadyExists("this store already holds events; installation happens once, on an empty store")
        moment, _ = self._now()
        actor = Actor(person_id(admin_username), Role.ADMINISTRATOR, unit_id(root_code))
        root = Unit.register(
            code=root_code, name=root_name, kind=UnitKind.SUPERIOR_COMMITTEE, parent_id=None, group="",
            established_on=established_on, actor=actor, timestamp=moment,
        )
        admin = Person.register(username=admin_username, full_name=admin_name, actor=actor, timestamp=moment)
        admin.grant(
            grant_id=uuid4(), role=Role.ADMINISTRATOR, unit_id=root.id, valid_from=established_on, valid_to=None,
            basis="installation", actor=actor, timestamp=moment,
        )
        self._save(root, admin)
        return actor

    # --- units ---------------------------------------------------------------------------------

    def register_unit(
        self,
        actor: Actor,
        *,
        code: str,
        name: str,
        kind: UnitKind,
        parent_id: UUID | None,
        established_on: date,
        group: str = "",
    ) -> UUID:
        moment, today = self._now()
        parent = self.unit(parent_id) if parent_id else None
        authorize_admin(actor, parent, today, self.person, self.unit)
        if self._exists(unit_id(code.strip())):
            raise AlreadyExists(f"a unit with code '{code.strip()}' already exists")
        unit = Unit.register(
            code=code, name=name, kind=kind, parent_id=parent_id, group=group, established_on=established_on,
            actor=actor, timestamp=moment,
        )
        if parent is not None:
            parent.attach_child(child_id=unit.id, effective_from=established_on, actor=actor, timestamp=moment)
        self._save(unit, parent)
        return unit.id

    def rename_unit(self, actor: Actor, uid: UUID, *, name: str, effective_from: date) -> None:
        moment, today = self._now()
        unit = self.unit(uid)
        authorize_admin(actor, unit, today, self.person, self.unit)
        unit.rename(name=name, effective_from=effective_from, actor=actor, timestamp=moment)
        self._save(unit)

    def move_unit(self, actor: Actor, uid: UUID, *, parent_id: UUID, effective_from: date, reason: str) -> None:
        moment, today = self._now()
        unit, new_parent = self.unit(uid), self.unit(parent_id)
        authorize_admin(actor, unit, today, self.person, self.unit)
        authorize_admin(actor, new_parent, today, self.person, self.unit)
        if uid in [new_parent.id, *ancestors(new_parent, effective_from, self.unit)]:
            raise InvalidInput(f"{unit.name} cannot be moved under a unit below itself")
        old_parent = self.unit(unit.parent_id) if unit.parent_id else None
        unit.move(parent_id=parent_id, effective_from=effective_from, reason=reason, actor=actor, timestamp=moment)
        if old_parent is not None:
            old_parent.detach_child(child_id=uid, effective_from=effective_from, actor=actor, timestamp=moment)
        new_parent.attach_child(child_id=uid, effective_from=effective_from, actor=actor, timestamp=moment)
        self._save(unit, old_parent, new_parent)

    def dissolve_unit(self, actor: Actor, uid: UUID, *, effective_from: date, reason: str) -> None:
        moment, today = self._now()
        unit = self.unit(uid)
        authorize_admin(actor, unit, today, self.person, self.unit)
        live_children = [c for c in unit.children_as_of(effective_from) if self._active(c, effective_from)]
        if live_children:
            names = ", ".join(self.unit(c).name for c in live_children)
            raise InvalidInput(f"{unit.name} still has units under it on {effective_from}: {names}; move them first")
        unit.dissolve(effective_from=effective_from, reason=reason, actor=actor, timestamp=moment)
        parent = self.unit(unit.parent_id) if unit.parent_id else None
        if parent is not None:
            parent.detach_child(child_id=uid, effective_from=effective_from, actor=actor, timestamp=moment)
        self._save(unit, parent)

    def _active(self, uid: UUID, day: date) -> bool:
        version = self.unit(uid).as_of(day)
        return version is not None and version.active

    def hierarchy(self, day: date) -> list[tuple[int, Unit, UnitVersion]]:
        """Every unit that existed on `day`, depth-first from the top-level units, with its name and place then."""
        units = [self.unit(uid) for uid in self.aggregate_ids(Unit, "Registered")]
        as_of = {u.id: v for u in units if (v := u.as_of(day)) is not None and v.active}
        by_parent: dict[UUID | None, list[Unit]] = {}
        for unit in units:
            if unit.id in as_of:
                by_parent.setdefault(as_of[unit.id].parent_id, []).append(unit)
        tree: list[tuple[int, Unit, UnitVersion]] = []

        def walk(parent: UUID | None, depth: int) -> None:
            for unit in sorted(by_parent.get(parent, []), key=lambda u: as_of[u.id].name):
                tree.append((depth, unit, as_of[unit.id]))
                walk(unit.id, depth + 1)

        walk(None, 0)
        return tree

    def children(self, uid: UUID, day: date) -> list[Unit]:
        return [
            u for u in (self.unit(c) for c in self.unit(uid).children_as_of(day)) if (v := u.as_of(day)) and v.active
        ]

    # --- people and grants ---------------------------------------------------------------------

    def register_person(self, actor: Actor, *, username: str, full_name: str) -> UUID:
        moment, today = self._now()
        authorize_admin(actor, self.unit(actor.unit_id), today, self.person, self.unit)
        if self._exists(person_id(username.strip())):
            raise AlreadyExists(f"a person with username '{username.strip()}' already exists")
        person = Person.register(username=username, full_name=full_name, actor=actor, timestamp=moment)
        self._save(person)
        return person.id

    def grant_role(
        self,
        actor: Actor,
        pid: UUID,
        *,
        role: Role,
        unit_id: UUID,
        valid_from: date,
        valid_to: date | None = None,
        basis: str = "",
    ) -> UUID:
        moment, today = self._now()
        person, unit = self.person(pid), self.unit(unit_id)
        authorize_admin(actor, unit, today, self.person, self.unit)
        grant_id = uuid4()
        person.grant(
            grant_id=grant_id, role=role, unit_id=unit.id, valid_from=valid_from, valid_to=valid_to, basis=basis,
            actor=actor, timestamp=moment,
        )
        self._save(person)
        return grant_id

    def revoke_role(self, actor: Actor, pid: UUID, grant_id: UUID, *, on: date, reason: str) -> None:
        moment, today = self._now()
        person = self.person(pid)
        grant = person.grants.get(str(grant_id))
        if grant is None:
            raise NotFound(f"{person.full_name} holds no grant {grant_id}")
        authorize_admin(actor, self.unit(grant.unit_id), today, self.person, self.unit)
        person.revoke(grant_id=grant_id, on=on, reason=reason, actor=actor, timestamp=moment)
        self._save(person)

    def delegate(
        self,
        actor: Actor,
        principal_id: UUID,
        grant_id: UUID,
        *,
        deputy_id: UUID,
        valid_from: date,
        valid_to: date,
        legal_basis: str,
    ) -> UUID:
        """The holder of a grant (or an administrator over its unit) lets a deputy act on the holder's behalf."""
        moment, today = self._now()
        principal = self.person(principal_id)
        self.person(deputy_id)
        grant = principal.grants.get(str(grant_id))
        if grant is None:
            raise NotFound(f"{principal.full_name} holds no grant {grant_id}")
        if not (actor.person_id == principal_id and actor.on_behalf_of is None):
            authorize_admin(actor, self.unit(grant.unit_id), today, self.person, self.unit)
        delegation_id = uuid4()
        principal.delegate(
            delegation_id=delegation_id, grant_id=grant_id, deputy_id=deputy_id, valid_from=valid_from,
            valid_to=valid_to, legal_basis=legal_basis, actor=actor, timestamp=moment,
        )
        self._save(principal)
        return delegation_id

    # --- periods -------------------------------------------------------------------------------

    def open_period(
        self,
        actor: Actor,
        *,
        year: int,
        deadlines: Mapping[str, date],
        rule_set_id: str | None = None,
        recognition_models: list[str] | None = None,
    ) -> UUID:
        moment, today = self._now()
        authorize_admin(actor, None, today, self.person, self.unit)
        rule_set = self.rule_book.rule_set(rule_set_id) if rule_set_id else self.rule_book.rule_set_for_year(year)
        if not rule_set.from_year <= year <= (rule_set.to_year or year):
            raise InvalidInput(f"rule set {rule_set.id} is in force for {rule_set.from_year}-{rule_set.to_year or ''}")
        models = [self.rule_book.recognition(m).id for m in (recognition_models or [])]
        if self._exists(period_id(year)):
            raise AlreadyExists(f"the {year} evaluation period is already open")
        period = EvaluationPeriod.open(
            year=year, rule_set_id=rule_set.id, rule_set_version=rule_set.version, rule_set_sha256=rule_set.sha256,
            recognition_models=models, deadlines=dict(deadlines), actor=actor, timestamp=moment,
        )
        self._save(period)
        return period.id

    def close_period(self, actor: Actor, year: int, *, reason: str) -> None:
        moment, today = self._now()
        authorize_admin(actor, None, today, self.person, self.unit)
        period = self.period(year)
        period.close(reason=reason, actor=actor, timestamp=moment)
        self._save(period)

    def _rules_of(self, period: EvaluationPeriod) -> RuleSet:
        rule_set = self.rule_book.rule_set(period.rule_set_id)
        if rule_set.version != period.rule_set_version:
            raise RuleSetError(
                f"the {period.year} period was opened under {rule_set.id} v{period.rule_set_version}, "
                f"but v{rule_set.version} is loaded; load the period's version to act on its dossiers"
            )
        return rule_set

    def _model_of(self, dossier: Dossier) -> RecognitionModel | None:
        return self.rule_book.recognition(dossier.recognition_model_id) if dossier.recognition_model_id else None

    # --- dossiers: the unit --------------------------------------------------------------------

    def open_dossier(self, actor: Actor, unit: UUID, year: int) -> UUID:
        moment, today = self._now()
        period = self.period(year)
        period.check_open()
        target = self.unit(unit)
        spec = spec_for(CURRENT_VERSION)
        if actor.role is Role.ADMINISTRATOR:
            authorize_admin(actor, target, today, self.person, self.unit)
        else:
            authorize(actor, spec.rule("submit"), target, today, self.person, self.unit)
        if self._exists(dossier_id(target.id, year)):
            raise AlreadyExists(f"{target.name} already has a dossier for {year}")
        model = self.rule_book.recognition_for(period.recognition_models, target.kind)
        dossier = Dossier(
            unit_id=target.id, year=year, workflow_version=CURRENT_VERSION, rule_set_id=period.rule_set_id,
            recognition_model_id=model.id if model else None, actor=actor, timestamp=moment,
        )
        self._save(dossier)
        return dossier.id

    def _act(
        self, actor: Actor, did: UUID, trigger: str | Callable[[Dossier], str], expected_version: int | None
    ) -> tuple[Dossier, Unit, EvaluationPeriod, datetime, date, Actor]:
        """Load the dossier and check, before anything changes, that this actor may fire this trigger now.

        `trigger` may depend on the dossier's state (a submission is a resubmission after a return).
        """
        moment, today = self._now()
        dossier = self.dossier(did)
        trigger = trigger(dossier) if callable(trigger) else trigger
        if expected_version is not None and dossier.version != expected_version:
            raise ConcurrencyConflict(
                f"the dossier changed since you loaded it (version {expected_version}, now {dossier.version}); "
                "reload it and try again on its new state"
            )
        period = self.period(dossier.year)
        spec = spec_for(dossier.workflow_version)
        if spec.locked(dossier.state, trigger, period.closed):
            period.check_open()
        unit = self.unit(dossier.unit_id)
        authority = authorize(actor, spec.rule(trigger), unit, today, self.person, self.unit, dossier.submitters)
        # The event records the grant (and delegation) the action rested on, not only who claimed to act.
        return dossier, unit, period, moment, today, authority.stamp(actor)

    def record_answers(
        self,
        actor: Actor,
        did: UUID,
        *,
        answers: Mapping[str, Answer] | None = None,
        facts: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> None:
        dossier, _, period, moment, _, actor = self._act(actor, did, "record_answers", expected_version)
        answers, facts = dict(answers or {}), dict(facts or {})
        validate_answers(self._rules_of(period), self._model_of(dossier), answers, facts)
        dossier.record_answers(self.workflow, answers=answers, facts=facts, actor=actor, timestamp=moment)
        self._save(dossier)

    def attach_evidence(
        self, actor: Actor, did: UUID, *, name: str, data: bytes, expected_version: int | None = None
    ) -> str:
        dossier, _, _, moment, _, actor = self._act(actor, did, "attach_evidence", expected_version)
        evidence = self.evidence_policy.evidence(self.blobs, name, data)
        dossier.attach_evidence(self.workflow, evidence=evidence, actor=actor, timestamp=moment)
        self._save(dossier)
        return evidence.sha256

    def remove_evidence(
        self, actor: Actor, did: UUID, *, sha256: str, reason: str, expected_version: int | None = None
    ) -> None:
        dossier, _, _, moment, _, actor = self._act(actor, did, "attach_evidence", expected_version)
        dossier.remove_evidence(self.workflow, sha256=sha256, reason=reason, actor=actor, timestamp=moment)
        self._save(dossier)

    def submit(self, actor: Actor, did: UUID, *, expected_version: int | None = None) -> None:
        dossier, _, period, moment, today, actor = self._act(actor, did, _submission, expected_version)
        missing = missing_answers(self._rules_of(period), self._model_of(dossier), dossier.answers, dossier.facts)
        late = period.is_late("self_assessment", today)
        command = dossier.resubmit if _submission(dossier) == "resubmit" else dossier.submit
        command(self.workflow, missing=missing, late=late, actor=actor, timestamp=moment)
        self._save(dossier)

    def withdraw(self, actor: Actor, did: UUID, *, reason: str, expected_version: int | None = None) -> None:
        dossier, _, _, moment, _, actor = self._act(actor, did, "withdraw", expected_version)
        dossier.withdraw(self.workflow, reason=reason, actor=actor, timestamp=moment)
        self._save(dossier)

    def restore(self, actor: Actor, did: UUID, *, expected_version: int | None = None) -> None:
        dossier, _, _, moment, _, actor = self._act(actor, did, "restore", expected_version)
        dossier.restore(self.workflow, actor=actor, timestamp=moment)
        self._save(dossier)

    # --- dossiers: the committee ---------------------------------------------------------------

    def subordinates(self, unit: Unit, period: EvaluationPeriod) -> Subordinates:
        """Counts among the units below, from their decided dossiers: the engine computes these, nobody types them."""
        year, day = period.year, period.end_date
        total = completed = good = four_good = 0
        undecided: list[str] = []
        for child in self.children(unit.id, day):
            did = dossier_id(child.id, year)
            if not self._exists(did):
                undecided.append(f"{child.name} (no dossier)")
                continue
            child_dossier = self.dossier(did)
            if child_dossier.state not in DECIDED_STATES:
                undecided.append(f"{child.name} ({child_dossier.state.value})")
                continue
            level = child_dossier.level
            # Units reviewed but not classified (under 6 months, suspended) count in no share.
            if level is None or level is Classification.NOT_RATED:
                continue
            total += 1
            completed += level >= Classification.COMPLETED
            good += level >= Classification.GOOD
            four_good += bool(child_dossier.four_good)
        return Subordinates(SubordinateSummary(total, completed, good, four_good), tuple(undecided))

    def evaluate(self, did: UUID) -> tuple[Evaluation, Recognition | None, Subordinates | None]:
        """What the rules make of the dossier's answers now: the suggestion the reviewer and the approver see."""
        dossier = self.dossier(did)
        return self._evaluate(dossier, self.unit(dossier.unit_id), self.period(dossier.year))

    def _evaluate(
        self, dossier: Dossier, unit: Unit, period: EvaluationPeriod
    ) -> tuple[Evaluation, Recognition | None, Subordinates | None]:
        rule_set, model = self._rules_of(period), self._model_of(dossier)
        subs = self.subordinates(unit, period) if unit.children else None
        summary = subs.summary if subs else None
        evaluation = classify(rule_set, dossier.answers, dossier.facts, summary)
        recognition = recognize(model, dossier.answers, summary) if model else None
        return evaluation, recognition, subs

    @staticmethod
    def _decision_record(dossier: Dossier, evaluation: Evaluation, subs: Subordinates | None) -> dict[str, Any]:
        record = evaluation.as_record()
        record["inputs"] = {
            "answers": dict(dossier.answers),
            "facts": dict(dossier.facts),
            "subordinates": None if subs is None else {
                "total": subs.summary.total,
                "completed_or_better": subs.summary.completed_or_better,
                "good_or_better": subs.summary.good_or_better,
                "four_good": subs.summary.four_good,
                "undecided": list(subs.undecided),
            },
        }
        return record

    def endorse(
        self,
        actor: Actor,
        did: UUID,
        *,
        level: Classification | None = None,
        note: str = "",
        reason: str = "",
        expected_version: int | None = None,
    ) -> Classification:
        dossier, unit, period, moment, _, actor = self._act(actor, did, "endorse", expected_version)
        evaluation, recognition, subs = self._evaluate(dossier, unit, period)
        proposed = level or evaluation.level
        dossier.endorse(
            self.workflow, level=proposed, evaluation=self._decision_record(dossier, evaluation, subs),
            recognition=recognition.as_record() if recognition else None, note=note, reason=reason,
            actor=actor, timestamp=moment,
        )
        self._save(dossier)
        return proposed

    def return_to_unit(self, actor: Actor, did: UUID, *, reason: str, expected_version: int | None = None) -> None:
        dossier, _, _, moment, _, actor = self._act(actor, did, "return_to_unit", expected_version)
        dossier.return_to_unit(self.workflow, reason=reason, actor=actor, timestamp=moment)
        self._save(dossier)

    # --- dossiers: the approver ----------------------------------------------------------------

    def _book(self, deciding_unit: UUID, year: int, actor: Actor, moment: datetime) -> DecisionBook:
        bid = decision_book_id(deciding_unit, year)
        if self._exists(bid):
            return self._get(DecisionBook, bid, "decision book")
        return DecisionBook(deciding_unit_id=deciding_unit, year=year, actor=actor, timestamp=moment)

    def approve(
        self,
        actor: Actor,
        did: UUID,
        *,
        level: Classification | None = None,
        reason: str = "",
        expected_version: int | None = None,
    ) -> QuotaFigures:
        dossier, unit, period, moment, _, actor = self._act(actor, did, "approve", expected_version)
        evaluation, recognition, subs = self._evaluate(dossier, unit, period)
        if subs is not None and subs.undecided:
            raise OrderingViolation(
                f"{unit.name} is decided after the units below it; still undecided: " + "; ".join(subs.undecided)
            )
        decided = level or dossier.proposed_level or evaluation.level
        rule_set = self._rules_of(period)
        book = self._book(actor.unit_id, dossier.year, actor, moment)
        four_good = four_good_after(decided, recognition.recognized) if recognition else None
        entry = DecisionEntry(unit.id, dossier.id, unit.group, decided, four_good)
        figures = book.record(entry=entry, cap=rule_set.quota_cap, actor=actor, timestamp=moment)
        dossier.approve(
            self.workflow, level=decided, evaluation=self._decision_record(dossier, evaluation, subs),
            recognition=recognition.as_record() if recognition else None, decision_book_id=book.id,
            quota=figures.as_record(), reason=reason, actor=actor, timestamp=moment,
        )
        self._save(dossier, book)
        return figures

    def quota(self, actor_unit: UUID, year: int, group: str) -> QuotaFigures:
        """The quota meter of a deciding unit: excellent decided so far against the cap."""
        rule_set = self._rules_of(self.period(year))
        bid = decision_book_id(actor_unit, year)
        if not self._exists(bid):
            return QuotaFigures(group, 0, 0, rule_set.quota_cap(0))
        return self._get(DecisionBook, bid, "decision book").figures(group, rule_set.quota_cap)

    def return_to_committee(
        self, actor: Actor, did: UUID, *, reason: str, expected_version: int | None = None
    ) -> None:
        dossier, _, _, moment, _, actor = self._act(actor, did, "return_to_committee", expected_version)
        dossier.return_to_committee(self.workflow, reason=reason, actor=actor, timestamp=moment)
        self._save(dossier)

    def mark_not_rated(self, actor: Actor, did: UUID, *, reason: str, expected_version: int | None = None) -> None:
        dossier, unit, period, moment, _, actor = self._act(actor, did, "mark_not_rated", expected_version)
        dossier.mark_not_rated(
            self.workflow, unit_age_months=unit.age_in_months(period.end_date),
            decision_book_id=decision_book_id(actor.unit_id, dossier.year), reason=reason, actor=actor,
            timestamp=moment,
        )
        self._save(dossier)

    def reopen(self, actor: Actor, did: UUID, *, legal_basis: str, expected_version: int | None = None) -> None:
        dossier, unit, _, moment, _, actor = self._act(actor, did, "reopen", expected_version)
        dossier.reopen(self.workflow, legal_basis=legal_basis, actor=actor, timestamp=moment)
        book = None
        if dossier.decision_book_id is not None:
            book = self._get(DecisionBook, dossier.decision_book_id, "decision book")
            book.suspend(unit_id=unit.id, reason=legal_basis, actor=actor, timestamp=moment)
        self._save(dossier, book)

    # --- queries -------------------------------------------------------------------------------

    def recompute_decision(self, did: UUID) -> Recomputation:
        dossier = self.dossier(did)
        if dossier.decision is None or "evaluation" not in dossier.decision or dossier.level is None:
            raise NotFound("this dossier has no classification decided from its answers")
        record = dossier.decision["evaluation"]
        rule_set = self.rule_book.rule_set(record["rule_set_id"])
        if rule_set.sha256 != record["rule_set_sha256"]:
            raise RuleSetError(
                f"the decision was made under {rule_set.id} with file checksum {record['rule_set_sha256'][:12]}…, "
                f"but the loaded file has {rule_set.sha256[:12]}…; load that version to recompute it"
            )
        inputs = record["inputs"]
        subs = inputs["subordinates"]
        summary = None if subs is None else SubordinateSummary(
            subs["total"], subs["completed_or_better"], subs["good_or_better"], subs["four_good"]
        )
        recomputed = classify(rule_set, inputs["answers"], inputs["facts"], summary)
        return Recomputation(Classification(record["level"]), dossier.level, recomputed)

    def available_actions(self, actor: Actor, did: UUID) -> list[Action]:
        """What this actor may do on this dossier now: the buttons a page draws."""
        dossier = self.dossier(did)
        spec = spec_for(dossier.workflow_version)
        period = self.period(dossier.year)
        unit = self.unit(dossier.unit_id)
        _, today = self._now()
        actions = []
        for trigger in spec.triggers_from(dossier.state):
            rule = spec.rule(trigger)
            if spec.locked(dossier.state, trigger, period.closed):
                continue
            try:
                authorize(actor, rule, unit, today, self.person, self.unit, dossier.submitters)
            except NotAuthorized:
                continue
            actions.append(Action(trigger, rule.label, rule.needs_reason))
        return actions

    def dossier_as_of(self, did: UUID, moment: datetime | date) -> Dossier:
        """The dossier as it stood at a moment (a date means the end of that day in Vietnam)."""
        if not isinstance(moment, datetime):
            moment = end_of_day(moment)
        version = None
        for event in self.events.get(did):
            if cast(Aggregate.Event, event).timestamp > moment:
                break
            version = event.originator_version
        if version is None:
            raise NotFound(f"the dossier did not exist yet on {moment:%Y-%m-%d %H:%M}")
        return self.dossier(did, version=version)

    def history(self, aggregate_id: UUID) -> Iterator[Any]:
        return iter(self.events.get(aggregate_id))

    def find_dossier(self, reference: str) -> UUID:
        """A dossier by its id, or by "UNIT-CODE/YEAR"."""
        reference = reference.strip()
        try:
            did = UUID(reference)
        except ValueError:
            code, _, year = reference.rpartition("/")
            if not code or not year.isdigit():
                raise InvalidInput(
                    f"'{reference}' is neither a dossier id nor a reference like UNIT-CODE/2024"
                ) from None
            did = dossier_id(self.unit_by_code(code).id, int(year))
        if not self._exists(did):
            raise NotFound(f"no dossier '{reference}'")
        return did

    def aggregate_ids(self, cls: type[Aggregate], created: str) -> list[UUID]:
        """Ids of every aggregate of a type, from the event log: for the CLI and the demo until the read models land."""
        topics = [get_topic(getattr(cls, created))]
        found: list[UUID] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=500, topics=topics)
            if not page:
                return found
            found.extend(UUID(str(n.originator_id)) for n in page)
            start = page[-1].id + 1

    def verify(
        self,
        *,
        public_key: Ed25519PublicKey | None = None,
        anchors: Sequence[tuple[str, store.SignedHead]] = (),
        progress: store.ProgressCallback | None = None,
    ) -> store.ChainReport:
        """Verify the chain, its newest signed head, the heads kept outside the database and the snapshots' seals.

        public_key defaults to the public half of the engine's own signing key; a copy of another installation's
        store is verified with that installation's public key and its exported checkpoints as anchors. The head file
        of the engine's own signer is always an anchor when it exists.
        """
        signer = getattr(self.recorder, "signer", None)
        signed_anchors = list(anchors)
        if isinstance(signer, store.HeadSigner):
            if public_key is None and (signer.has_key() or not self.is_empty()):
                public_key = signer.public_key
            remembered = signer.remembered_head()
            if remembered is not None:
                signed_anchors.insert(0, (f"the head file {signer.head_path}", remembered))
        return store.verify_chain(
            self.recorder,
            public_key=public_key,
            signed_anchors=signed_anchors,
            snapshots=self.snapshots.recorder if self.snapshots is not None else None,
            progress=progress,
        )
