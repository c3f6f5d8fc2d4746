from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar, cast
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.application import AggregateNotFoundError, ProcessingEvent, Repository
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording, StoredEvent
from eventsourcing.utils import get_topic

from domain.actor import Actor
from domain.claims import NameClaim, NameKind
from domain.copying import copy_aggregate
from domain.decisions import DecisionAct, DecisionBook, DecisionEntry, QuotaFigures, SubordinateStanding, decision_act
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
from domain.messages import N_, Message
from domain.period import EvaluationPeriod
from domain.person import Grant, Person
from domain.unit import Unit, UnitVersion
from domain.values import Answer, Classification, DossierState, NotRatedGround, Role, UnitKind, four_good_after
from workflow import store
from workflow.authorization import ancestors, authorize, authorize_admin, authorize_reading
from workflow.clock import Clock, end_of_day, local_date, system_clock
from workflow.evaluations import EvaluationMemo
from workflow.evidence import EVIDENCE_PROGRESS_EVERY, BlobStore, EvidencePolicy, MemoryBlobStore
from workflow.names import RegisteredNames
from workflow.repository import CachingRepository, use_cases
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
from workflow.store.application import StoreApplication

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

# The event class is made by the @event decorator, which mypy does not see.
_EVIDENCE_ATTACHED = get_topic(cast(Any, Dossier).EvidenceAttached)
_UNIT_REGISTERED = get_topic(cast(Any, Unit).Registered)
_PERSON_REGISTERED = get_topic(cast(Any, Person).Registered)

# Tries of a command whose only collision can be on bookkeeping shared with others (see endorse).
_RETRIES = 3


def _submission(dossier: Dossier) -> str:
    return "resubmit" if dossier.state is DossierState.RETURNED_TO_UNIT else "submit"


def _overlaps(grant: Grant, valid_from: date, valid_to: date | None) -> bool:
    """Whether the grant is valid on some day from `valid_from` until `valid_to` (open: for ever)."""
    ends = [d for d in (grant.valid_to, grant.revoked_on) if d is not None]
    grant_end = min(ends) if ends else date.max
    return grant.valid_from < (valid_to or date.max) and valid_from < grant_end


@dataclass(frozen=True)
class Action:
    trigger: str
    label: str
    needs_reason: bool


@dataclass(frozen=True)
class Receipt(Generic[T]):
    """What a command did: `position` is the notification id of its last event (0 when it recorded nothing new), for
    a caller to wait on until the read models have caught up with it; `value` is what it made or decided."""

    position: int
    value: T


@dataclass(frozen=True)
class FieldRefusals:
    """Why each answer (by criterion id) and each fact (by fact id) left out of a recording could not be recorded."""

    answers: dict[str, InvalidInput] = field(default_factory=dict)
    facts: dict[str, InvalidInput] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.answers or self.facts)


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
    undecided: tuple[UUID, ...]


@dataclass(frozen=True)
class DecisionRequest:
    """One line of a decision list: a dossier, the level decided (default: the proposal), and why if it differs."""

    dossier_id: UUID
    level: Classification | None = None
    reason: str = ""
    expected_version: int | None = None


@dataclass(frozen=True)
class _Decision:
    """A decision checked and computed, waiting for the quota's verdict on the whole list."""

    dossier: Dossier
    unit: Unit
    period: EvaluationPeriod
    moment: datetime
    actor: Actor
    level: Classification
    reason: str
    four_good: bool | None
    recognition: Recognition | None
    subordinates: Subordinates | None
    record: dict[str, Any]
    # The evaluation's lines as sentences, for a refusal said in its reader's language.
    explained: tuple[Message, ...] = ()


@use_cases
class Engine(StoreApplication):
    """The use cases of dossierflow. Every command: load, authorize, command the aggregates, save atomically.

    One Engine may be shared by any number of threads. Each public method is one unit of work for the aggregate
    cache (workflow/repository.py): it reads aggregates as fresh as its start, at one query to the store.
    """

    name = "dossierflow"
    # How many aggregates the cache keeps (workflow/repository.py): a busy parent unit or decision book is then
    # neither replayed nor re-read on every command.
    env = {"AGGREGATE_CACHE_MAXSIZE": "20000"}  # noqa: RUF012
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
        self._evaluations = EvaluationMemo()
        # Called with the position of each commit's last event, after it is stored: an in-process projection runner
        # wakes on it (SQLite's recorder has no subscription of its own).
        self.on_commit: list[Callable[[int], None]] = []
        self._registrations = RegisteredNames(
            self.recorder, self.mapper, {_UNIT_REGISTERED: "code", _PERSON_REGISTERED: "username"}
        )

    # --- plumbing ------------------------------------------------------------------------------

    def construct_repository(self) -> Repository[UUID]:
        return CachingRepository(
            self.events,
            snapshot_store=self.snapshots,
            recorder=self.recorder,
            maxsize=int(self.env.get(self.AGGREGATE_CACHE_MAXSIZE) or 20000),
            short_history=min(self.snapshotting_intervals.values()),
        )

    @property
    def cache(self) -> CachingRepository:
        return cast(CachingRepository, self.repository)

    def _view(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        """The current version shared with every other reader, for lookups that only read: never change it."""
        try:
            aggregate: Aggregate = self.cache.peek(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(N_("no %(what)s %(id)s"), what=Message(what), id=aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(N_("%(id)s is not a %(what)s"), id=aggregate_id, what=Message(what))
        return aggregate

    def _get(self, cls: type[A], aggregate_id: UUID, what: str, version: int | None = None) -> A:
        """The caller's own copy, free to command: nothing it does reaches the cache unless it is saved."""
        if version is None:
            return copy_aggregate(self._view(cls, aggregate_id, what))
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(N_("no %(what)s %(id)s"), what=Message(what), id=aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(N_("%(id)s is not a %(what)s"), id=aggregate_id, what=Message(what))
        return aggregate

    def _person_view(self, pid: UUID) -> Person:
        return self._view(Person, pid, "person")

    def _unit_view(self, uid: UUID) -> Unit:
        return self._view(Unit, uid, "unit")

    def _period_view(self, year: int) -> EvaluationPeriod:
        try:
            return self._view(EvaluationPeriod, period_id(year), "evaluation period")
        except NotFound:
            # Said with the year alone, in a sentence the catalogs translate (not the period's internal id).
            raise NotFound(N_("no evaluation period for %(year)s"), year=year) from None

    def _exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.cache

    def _case_twin(self, attribute: str, name: str) -> str | None:
        """A code or username already registered that `name` equals but for case (or accents' composition), from
        the log itself: ids are derived from the exact text, so the store would take a twin under an id of its own."""
        registered = self._registrations.registered(attribute, name)
        return registered if registered is not None and registered != name else None

    def _save(self, *aggregates: Aggregate | None) -> int:
        """Store the aggregates' new events atomically; the cache then holds what the store holds.

        Returns the notification id of the last event stored (0 when there was nothing new to store): the position
        in the log a caller waits for before reading the read models (read-your-writes).
        """
        saved = [a for a in aggregates if a is not None]
        generation = self.cache.generation
        try:
            recordings = self.save(*saved)
        except IntegrityError:
            # What we held was stale: the retry the message invites must read the store, not the cache.
            self.cache.evict(a.id for a in saved)
            raise ConcurrencyConflict(
                N_(
                    "someone else changed this record at the same moment; nothing of yours was saved. "
                    "Reload it and try again on its new state."
                )
            ) from None
        except BaseException:
            self.cache.evict(a.id for a in saved)
            raise
        position = recordings[-1].notification.id if recordings else 0
        self.cache.saved(saved, generation, (recordings[0].notification.id, position) if recordings else None)
        if position:
            for listener in self.on_commit:
                listener(position)
        return position

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """The library's save, collecting the aggregates' events without its protocol checks.

        ProcessingEvent.collect_events asks isinstance of runtime-checkable Protocols, which walks the protocol's
        members on every call (a few per cent of a command); what the engine saves is an Aggregate.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # The library's deprecated hook, kept for anyone overriding it.
        return recordings

    def snapshot_interval(self, aggregate: Aggregate) -> int | None:
        """Every how many versions this aggregate is snapshotted now (None: never).

        A decision book holds an entry per unit below, a unit a timeline per child: a snapshot of either grows with
        them (a committee of 1,000 cells: 300 KB), while the events between two snapshots stay small. So the
        interval grows with the aggregate, doubling from the class's own until it reaches the number of entries:
        writing snapshots then costs about one entry's encoding per event at any size, and a cold load replays at
        most about as many small events as the snapshot holds entries (twice as many just after a doubling). The
        intervals are nested (each a multiple of the one before), so the gap since the last snapshot never exceeds
        the current interval.
        """
        return self._snapshot_interval(aggregate)

    def _snapshot_interval(self, aggregate: object) -> int | None:
        # Asked for every event saved: by exact type (the intervals are keyed so), not through isinstance against
        # the library's abstract classes, and not as a use case of its own (see use_cases).
        cls = type(aggregate)
        interval = self.snapshotting_intervals.get(cast(type[Aggregate], cls))
        if interval is None:
            return None
        if cls is DecisionBook:
            size = len(cast(DecisionBook, aggregate).entries)
        elif cls is Unit:
            size = len(cast(Unit, aggregate).children)
        else:
            return interval
        while interval < size:
            interval *= 2
        return interval

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        # The library rebuilds each snapshotted aggregate from the store; the one just saved is that very version.
        if self.snapshots is None:
            return
        aggregates = processing_event.aggregates
        for event in processing_event.events:
            aggregate = aggregates.get(event.originator_id)
            # Only the engine's own aggregate classes have an interval.
            interval = None if aggregate is None else self._snapshot_interval(aggregate)
            if interval is None or event.originator_version % interval:
                continue
            if isinstance(aggregate, Aggregate) and aggregate.version == event.originator_version:
                self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])
            else:
                self.take_snapshot(event.originator_id, version=event.originator_version)

    def _now(self) -> tuple[datetime, date]:
        moment = self.clock()
        return moment, local_date(moment)

    def person(self, pid: UUID) -> Person:
        return self._get(Person, pid, "person")

    def unit(self, uid: UUID) -> Unit:
        return self._get(Unit, uid, "unit")

    def period(self, year: int) -> EvaluationPeriod:
        return copy_aggregate(self._period_view(year))

    def periods(self) -> list[EvaluationPeriod]:
        return sorted(
            (self._get(EvaluationPeriod, pid, "period") for pid in self.aggregate_ids(EvaluationPeriod, "Opened")),
            key=lambda p: p.year,
        )

    def dossier(self, did: UUID, version: int | None = None) -> Dossier:
        return self._get(Dossier, did, "dossier", version)

    def unit_by_code(self, code: str) -> Unit:
        """The unit of this code, typed in any case: twins are refused, so at most one answers it."""
        uid = unit_id(code)
        if not self._exists(uid):
            registered = self._case_twin("code", code)
            if registered is None:
                raise NotFound(N_("no unit with code '%(code)s'"), code=code)
            uid = unit_id(registered)
        return self._get(Unit, uid, "unit")

    def person_by_username(self, username: str) -> Person:
        """The person of this username, typed in any case: twins are refused, so at most one answers it."""
        pid = person_id(username)
        if not self._exists(pid):
            registered = self._case_twin("username", username)
            if registered is None:
                raise NotFound(N_("no person with username '%(username)s'"), username=username)
            pid = person_id(registered)
        return self._get(Person, pid, "person")

    # --- installation --------------------------------------------------------------------------

    def install(
        self, *, root_code: str, root_name: str, established_on: date, admin_username: str, admin_name: str
    ) -> Receipt[Actor]:
        """The first unit and its first administrator, on an empty store; everything later needs a grant."""
        if not self.is_empty():
            raise AlreadyExists(N_("this store already holds events; installation happens once, on an empty store"))
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
        claims = (
            NameClaim.claim(kind="code", name=root.code, holder_id=root.id, actor=actor, timestamp=moment),
            NameClaim.claim(kind="username", name=admin.username, holder_id=admin.id, actor=actor, timestamp=moment),
        )
        return Receipt(self._save(root, admin, *claims), actor)

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
    ) -> Receipt[UUID]:
        moment, today = self._now()
        parent = self.unit(parent_id) if parent_id else None
        authorize_admin(actor, parent, today, self._person_view, self._unit_view)
        self._refuse_registered_code(code.strip())
        unit = Unit.register(
            code=code, name=name, kind=kind, parent_id=parent_id, group=group, established_on=established_on,
            actor=actor, timestamp=moment,
        )
        if parent is not None:
            parent.attach_child(child_id=unit.id, effective_from=established_on, actor=actor, timestamp=moment)
        position = self._save_registration("code", unit.code, unit, parent, actor=actor, timestamp=moment)
        return Receipt(position, unit.id)

    def _refuse_registered_code(self, code: str) -> None:
        if self._exists(unit_id(code)):
            raise AlreadyExists(N_("a unit with code '%(code)s' already exists"), code=code)
        if twin := self._case_twin("code", code):
            raise AlreadyExists(
                N_("a unit with code '%(code)s' already exists; codes that differ only in case are one code"),
                code=twin,
            )

    def _refuse_registered_username(self, username: str) -> None:
        if self._exists(person_id(username)):
            raise AlreadyExists(N_("a person with username '%(username)s' already exists"), username=username)
        if twin := self._case_twin("username", username):
            raise AlreadyExists(
                N_("a person with username '%(username)s' already exists; usernames that differ only in case are "
                   "one username"),
                username=twin,
            )

    def _save_registration(
        self, kind: NameKind, name: str, holder: Unit | Person, *others: Aggregate | None, actor: Actor,
        timestamp: datetime,
    ) -> int:
        """Save a unit's or a person's registration with its claim on the name in every case (domain/claims.py).

        The checks before found no twin in the log, but a twin saved by another process since is not in what they
        read: its claim makes this save collide, and the refusal is then the one the checks give, naming it.
        """
        claim = NameClaim.claim(kind=kind, name=name, holder_id=holder.id, actor=actor, timestamp=timestamp)
        try:
            return self._save(holder, *others, claim)
        except ConcurrencyConflict:
            # The collision may also be another change to the parent unit: then no name is taken, and the
            # conflict stands as it is.
            if kind == "code":
                self._refuse_registered_code(name)
            else:
                self._refuse_registered_username(name)
            raise

    def rename_unit(
        self, actor: Actor, uid: UUID, *, name: str, effective_from: date, reason: str
    ) -> Receipt[None]:
        moment, today = self._now()
        unit = self.unit(uid)
        authorize_admin(actor, unit, today, self._person_view, self._unit_view)
        unit.rename(name=name, effective_from=effective_from, reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(unit), None)

    def move_unit(
        self, actor: Actor, uid: UUID, *, parent_id: UUID, effective_from: date, reason: str
    ) -> Receipt[None]:
        moment, today = self._now()
        unit, new_parent = self.unit(uid), self.unit(parent_id)
        authorize_admin(actor, unit, today, self._person_view, self._unit_view)
        authorize_admin(actor, new_parent, today, self._person_view, self._unit_view)
        if uid in [new_parent.id, *ancestors(new_parent, effective_from, self.unit)]:
            raise InvalidInput(N_("%(unit)s cannot be moved under a unit below itself"), unit=unit.name)
        if unit.parent_id == new_parent.id:
            # Changes are never dated before the last one, so this is its parent on that day too: nothing would move
            # (and loading the parent twice, as the old and the new, made the two saves collide as a stale version).
            raise InvalidInput(N_("%(unit)s is already under %(parent)s"), unit=unit.name, parent=new_parent.name)
        old_parent = self.unit(unit.parent_id) if unit.parent_id else None
        unit.move(parent_id=parent_id, effective_from=effective_from, reason=reason, actor=actor, timestamp=moment)
        if old_parent is not None:
            old_parent.detach_child(child_id=uid, effective_from=effective_from, actor=actor, timestamp=moment)
        new_parent.attach_child(child_id=uid, effective_from=effective_from, actor=actor, timestamp=moment)
        return Receipt(self._save(unit, old_parent, new_parent), None)

    def dissolve_unit(self, actor: Actor, uid: UUID, *, effective_from: date, reason: str) -> Receipt[None]:
        moment, today = self._now()
        unit = self.unit(uid)
        authorize_admin(actor, unit, today, self._person_view, self._unit_view)
        live_children = [c for c in unit.children_as_of(effective_from) if self._active(c, effective_from)]
        if live_children:
            names = ", ".join(self.unit(c).name for c in live_children)
            raise InvalidInput(
                N_("%(unit)s still has units under it on %(day)s: %(names)s; move them first"),
                unit=unit.name, day=effective_from, names=names,
            )
        unit.dissolve(effective_from=effective_from, reason=reason, actor=actor, timestamp=moment)
        parent = self.unit(unit.parent_id) if unit.parent_id else None
        if parent is not None:
            parent.detach_child(child_id=uid, effective_from=effective_from, actor=actor, timestamp=moment)
        return Receipt(self._save(unit, parent), None)

    def _active(self, uid: UUID, day: date) -> bool:
        version = self._unit_view(uid).as_of(day)
        return version is not None and version.active

    def hierarchy(self, day: date) -> list[tuple[int, Unit, UnitVersion]]:
        """Every unit that existed on `day`, depth-first from the top-level units, with its name and place then."""
        units = [self._unit_view(uid) for uid in self.aggregate_ids(Unit, "Registered")]
        as_of = {u.id: v for u in units if (v := u.as_of(day)) is not None and v.active}
        by_parent: dict[UUID | None, list[Unit]] = {}
        for unit in units:
            if unit.id in as_of:
                by_parent.setdefault(as_of[unit.id].parent_id, []).append(unit)
        tree: list[tuple[int, Unit, UnitVersion]] = []

        def walk(parent: UUID | None, depth: int) -> None:
            for unit in sorted(by_parent.get(parent, []), key=lambda u: as_of[u.id].name):
                tree.append((depth, copy_aggregate(unit), as_of[unit.id]))
                walk(unit.id, depth + 1)

        walk(None, 0)
        return tree

    def children(self, uid: UUID, day: date) -> list[Unit]:
        # Filtered on the shared versions, copied only for what is returned.
        views = (self._unit_view(c) for c in self._unit_view(uid).children_as_of(day))
        return [copy_aggregate(u) for u in views if (v := u.as_of(day)) and v.active]

    # --- people and grants ---------------------------------------------------------------------

    def register_person(self, actor: Actor, *, username: str, full_name: str) -> Receipt[UUID]:
        moment, today = self._now()
        authorize_admin(actor, self.unit(actor.unit_id), today, self._person_view, self._unit_view)
        self._refuse_registered_username(username.strip())
        person = Person.register(username=username, full_name=full_name, actor=actor, timestamp=moment)
        return Receipt(
            self._save_registration("username", person.username, person, actor=actor, timestamp=moment), person.id
        )

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
    ) -> Receipt[UUID]:
        moment, today = self._now()
        person, unit = self.person(pid), self.unit(unit_id)
        authorize_admin(actor, unit, today, self._person_view, self._unit_view)
        for held in person.grants.values():
            if held.role is role and held.unit_id == unit.id and _overlaps(held, valid_from, valid_to):
                # A second grant of the same role would outlive the revocation of the first (a form sent twice).
                raise AlreadyExists(
                    N_("%(name)s already holds the %(role)s role over %(unit)s from %(day)s"),
                    name=person.full_name, role=role, unit=unit.name, day=held.valid_from,
                )
        grant_id = uuid4()
        person.grant(
            grant_id=grant_id, role=role, unit_id=unit.id, valid_from=valid_from, valid_to=valid_to, basis=basis,
            actor=actor, timestamp=moment,
        )
        return Receipt(self._save(person), grant_id)

    def revoke_role(self, actor: Actor, pid: UUID, grant_id: UUID, *, on: date, reason: str) -> Receipt[None]:
        moment, today = self._now()
        person = self.person(pid)
        grant = person.grants.get(str(grant_id))
        if grant is None:
            raise NotFound(N_("%(name)s holds no grant %(grant)s"), name=person.full_name, grant=grant_id)
        authorize_admin(actor, self.unit(grant.unit_id), today, self._person_view, self._unit_view)
        person.revoke(grant_id=grant_id, on=on, reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(person), None)

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
    ) -> Receipt[UUID]:
        """The holder of a grant (or an administrator over its unit) lets a deputy act on the holder's behalf."""
        moment, today = self._now()
        principal = self.person(principal_id)
        self.person(deputy_id)
        grant = principal.grants.get(str(grant_id))
        if grant is None:
            raise NotFound(N_("%(name)s holds no grant %(grant)s"), name=principal.full_name, grant=grant_id)
        if not (actor.person_id == principal_id and actor.on_behalf_of is None):
            authorize_admin(actor, self.unit(grant.unit_id), today, self._person_view, self._unit_view)
        delegation_id = uuid4()
        principal.delegate(
            delegation_id=delegation_id, grant_id=grant_id, deputy_id=deputy_id, valid_from=valid_from,
            valid_to=valid_to, legal_basis=legal_basis, actor=actor, timestamp=moment,
        )
        return Receipt(self._save(principal), delegation_id)

    def end_delegation(
        self, actor: Actor, principal_id: UUID, delegation_id: UUID, *, on: date, reason: str
    ) -> Receipt[None]:
        """A delegation ended before its term: by its holder, or by an administrator over the delegated grant's unit."""
        moment, today = self._now()
        principal = self.person(principal_id)
        delegation = principal.delegations.get(str(delegation_id))
        if delegation is None:
            raise NotFound(
                N_("%(username)s made no delegation %(delegation)s"),
                username=principal.full_name, delegation=delegation_id,
            )
        grant = principal.grants[str(delegation.grant_id)]
        if not (actor.person_id == principal_id and actor.on_behalf_of is None):
            authorize_admin(actor, self.unit(grant.unit_id), today, self._person_view, self._unit_view)
        principal.end_delegation(delegation_id=delegation_id, on=on, reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(principal), None)

    def check_person_admin(self, actor: Actor, pid: UUID) -> Person:
        """May this administrator manage this person's sign-in (an initial or a new password)? Yes when any grant the
        person ever held is over a unit at or below the administrator's; a person who never held a grant (just
        registered) may be managed by any administrator. Raises NotAuthorized with why not."""
        _, today = self._now()
        person = self.person(pid)
        # The role and its grant first: whoever is not an administrator today hears that, not something about units.
        authorize_admin(actor, self.unit(actor.unit_id), today, self._person_view, self._unit_view)
        units = {g.unit_id for g in person.grants.values()}
        if not units:
            return person
        for uid in sorted(units):
            with suppress(NotAuthorized):
                authorize_admin(actor, self.unit(uid), today, self._person_view, self._unit_view)
                return person
        raise NotAuthorized(
            N_("%(person)s holds no role over the units your administrator role covers"), person=person.full_name
        )

    def give_one_time_password(self, actor: Actor, pid: UUID) -> Receipt[None]:
        """Record that an administrator who manages this person's sign-in gave them a one-time password."""
        moment, _ = self._now()
        person = self.check_person_admin(actor, pid)
        person.give_one_time_password(actor=actor, timestamp=moment)
        return Receipt(self._save(person), None)

    def change_own_password(self, actor: Actor, pid: UUID) -> Receipt[None]:
        """Record that a person chose their own password, acting under a role they hold today."""
        moment, today = self._now()
        person = self.person(pid)
        # Anyone else is refused by the person itself, below, saying whose password it is.
        if actor.person_id == pid and person.holds(actor.role, actor.unit_id, today) is None:
            raise NotAuthorized(
                N_("%(name)s holds no %(role)s role over that unit today"), name=person.full_name, role=actor.role
            )
        person.change_own_password(actor=actor, timestamp=moment)
        return Receipt(self._save(person), None)

    # --- periods -------------------------------------------------------------------------------

    def open_period(
        self,
        actor: Actor,
        *,
        year: int,
        deadlines: Mapping[str, date],
        rule_set_id: str | None = None,
        recognition_models: list[str] | None = None,
    ) -> Receipt[UUID]:
        moment, today = self._now()
        authorize_admin(actor, None, today, self._person_view, self._unit_view)
        rule_set = self.rule_book.rule_set(rule_set_id) if rule_set_id else self.rule_book.rule_set_for_year(year)
        if not rule_set.from_year <= year <= (rule_set.to_year or year):
            raise InvalidInput(
                N_("rule set %(rule_set)s is in force for %(start)s-%(end)s"),
                rule_set=rule_set.id, start=rule_set.from_year, end=rule_set.to_year or "",
            )
        models = [self.rule_book.recognition(m).id for m in (recognition_models or [])]
        if self._exists(period_id(year)):
            raise AlreadyExists(N_("the %(year)s evaluation period is already open"), year=year)
        period = EvaluationPeriod.open(
            year=year, rule_set_id=rule_set.id, rule_set_version=rule_set.version, rule_set_sha256=rule_set.sha256,
            recognition_models=models, deadlines=dict(deadlines), actor=actor, timestamp=moment,
        )
        return Receipt(self._save(period), period.id)

    def change_deadlines(
        self, actor: Actor, year: int, *, deadlines: Mapping[str, date], reason: str
    ) -> Receipt[None]:
        """New step deadlines for an open period, on a legal basis; its dossiers' deadlines follow."""
        moment, today = self._now()
        authorize_admin(actor, None, today, self._person_view, self._unit_view)
        period = self.period(year)
        period.change_deadlines(deadlines=dict(deadlines), reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(period), None)

    def close_period(self, actor: Actor, year: int, *, reason: str) -> Receipt[None]:
        moment, today = self._now()
        authorize_admin(actor, None, today, self._person_view, self._unit_view)
        period = self.period(year)
        period.close(reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(period), None)

    def _rules_of(self, period: EvaluationPeriod) -> RuleSet:
        rule_set = self.rule_book.rule_set(period.rule_set_id)
        if rule_set.version != period.rule_set_version:
            raise RuleSetError(
                N_(
                    "the %(year)s period was opened under %(rule_set)s v%(version)s, but v%(loaded)s is loaded; "
                    "load the period's version to act on its dossiers"
                ),
                year=period.year, rule_set=rule_set.id, version=period.rule_set_version, loaded=rule_set.version,
            )
        return rule_set

    def _model_of(self, dossier: Dossier) -> RecognitionModel | None:
        return self.rule_book.recognition(dossier.recognition_model_id) if dossier.recognition_model_id else None

    # --- dossiers: the unit --------------------------------------------------------------------

    def open_dossier(self, actor: Actor, unit: UUID, year: int) -> Receipt[UUID]:
        moment, today = self._now()
        # Read, never commanded here: the shared versions, not copies.
        period = self._period_view(year)
        period.check_open()
        target = self._unit_view(unit)
        spec = spec_for(CURRENT_VERSION)
        if actor.role is Role.ADMINISTRATOR:
            authorize_admin(actor, target, today, self._person_view, self._unit_view)
        else:
            authorize(actor, spec.rule("submit"), target, today, self._person_view, self._unit_view)
        model = self.rule_book.recognition_for(period.recognition_models, target.kind)
        dossier = Dossier(
            unit_id=target.id, year=year, workflow_version=CURRENT_VERSION, rule_set_id=period.rule_set_id,
            recognition_model_id=model.id if model else None, actor=actor, timestamp=moment,
        )
        try:
            position = self._save(dossier)
        except ConcurrencyConflict:
            # The store holds a first version of this id already (the dossier's id is its unit's and year's): the
            # store's own refusal answers "does it exist?", and a query asked before every open would not.
            raise AlreadyExists(
                N_("%(unit)s already has a dossier for %(year)s"), unit=target.name, year=year
            ) from None
        return Receipt(position, dossier.id)

    def _act(
        self, actor: Actor, did: UUID, trigger: str | Callable[[Dossier], str], expected_version: int | None
    ) -> tuple[Dossier, Unit, EvaluationPeriod, datetime, date, Actor]:
        """Load the dossier and check, before anything changes, that this actor may fire this trigger now.

        `trigger` may depend on the dossier's state (a submission is a resubmission after a return).
        """
        moment, today = self._now()
        dossier = self._get(Dossier, did, "dossier")
        trigger = trigger(dossier) if callable(trigger) else trigger
        if expected_version is not None and dossier.version != expected_version:
            raise ConcurrencyConflict(
                N_(
                    "the dossier changed since you loaded it (version %(expected)s, now %(version)s); "
                    "reload it and try again on its new state"
                ),
                expected=expected_version, version=dossier.version,
            )
        # The period and the unit are only read by the commands on a dossier: the shared versions, not copies.
        period = self._period_view(dossier.year)
        spec = spec_for(dossier.workflow_version)
        if spec.locked(dossier.state, trigger, period.closed):
            period.check_open()
        unit = self._unit_view(dossier.unit_id)
        authority = authorize(
            actor, spec.rule(trigger), unit, today, self._person_view, self._unit_view, dossier.submitters
        )
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
    ) -> Receipt[None]:
        dossier, _, period, moment, _, actor = self._act(actor, did, "record_answers", expected_version)
        answers, facts = dict(answers or {}), dict(facts or {})
        validate_answers(self._rules_of(period), self._model_of(dossier), answers, facts, dossier.facts)
        dossier.record_answers(self.workflow, answers=answers, facts=facts, actor=actor, timestamp=moment)
        return Receipt(self._save(dossier), None)

    def record_valid_answers(
        self,
        actor: Actor,
        did: UUID,
        *,
        answers: Mapping[str, Answer] | None = None,
        facts: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Receipt[FieldRefusals]:
        """As record_answers, but an answer or fact that cannot be recorded is left out, with why, rather than
        refusing the others with it: a form saving itself as it is filled in must not lose every answer typed after
        one typed wrong. Each is checked alone (a fact with the dossier's facts and those kept before it); a
        refusal that no single one explains (nothing left out) is raised as record_answers raises it."""
        answers, facts = dict(answers or {}), dict(facts or {})
        try:
            receipt = self.record_answers(actor, did, answers=answers, facts=facts, expected_version=expected_version)
        except InvalidInput as error:
            whole = error
        else:
            return Receipt(receipt.position, FieldRefusals())
        dossier, _, period, moment, _, actor = self._act(actor, did, "record_answers", expected_version)
        rules, model = self._rules_of(period), self._model_of(dossier)
        refused = FieldRefusals()
        kept_answers: dict[str, Answer] = {}
        kept_facts: dict[str, Any] = {}
        for criterion, answer in answers.items():
            try:
                validate_answers(rules, model, {criterion: answer}, {}, dossier.facts)
                # The dossier's own checks of the texts too (a comment's characters), on a copy that is never saved.
                copy_aggregate(dossier).record_answers(
                    self.workflow, answers={criterion: answer}, facts={}, actor=actor, timestamp=moment
                )
            except InvalidInput as error:
                refused.answers[criterion] = error
            else:
                kept_answers[criterion] = answer
        for fact, value in facts.items():
            try:
                validate_answers(rules, model, {}, {**kept_facts, fact: value}, dossier.facts)
                copy_aggregate(dossier).record_answers(
                    self.workflow, answers={}, facts={fact: value}, actor=actor, timestamp=moment
                )
            except InvalidInput as error:
                refused.facts[fact] = error
            else:
                kept_facts[fact] = value
        if not refused:
            raise whole
        validate_answers(rules, model, kept_answers, kept_facts, dossier.facts)
        dossier.record_answers(self.workflow, answers=kept_answers, facts=kept_facts, actor=actor, timestamp=moment)
        return Receipt(self._save(dossier), refused)

    def attach_evidence(
        self, actor: Actor, did: UUID, *, name: str, data: bytes, expected_version: int | None = None
    ) -> Receipt[str]:
        dossier, _, _, moment, _, actor = self._act(actor, did, "attach_evidence", expected_version)
        evidence = self.evidence_policy.describe(name, data)
        dossier.attach_evidence(self.workflow, evidence=evidence, actor=actor, timestamp=moment)
        # The file is written only now that every check has passed: a refused attach leaves nothing behind.
        existed = True
        try:
            with self.blobs.attaching():
                existed = self.blobs.has(evidence.sha256)
                self.blobs.put(data)
                position = self._save(dossier)
        except BaseException:
            if not existed:
                self._forget_unreferenced_blob(evidence.sha256)
            raise
        return Receipt(position, evidence.sha256)

    def _forget_unreferenced_blob(self, sha256: str) -> None:
        """Remove a file this attach wrote, unless a stored event references it: the same bytes may have been
        attached to another dossier meanwhile (files are stored by content)."""
        # Keeping a file nobody references is harmless; what the caller must see is why its save failed.
        with suppress(Exception), self.blobs.cleaning():
            if not self._evidence_referenced(sha256):
                self.blobs.remove(sha256)

    def _evidence_referenced(self, sha256: str) -> bool:
        # Only on a failed save: a scan of the attach events, the bytes searched before any state is decoded.
        plain = self.mapper.cipher is None and self.mapper.compressor is None
        needle = sha256.encode()
        start = 1
        while page := self.recorder.select_notifications(start=start, limit=500, topics=[_EVIDENCE_ATTACHED]):
            for notification in page:
                if plain and needle not in notification.state:
                    continue
                event = self.mapper.to_domain_event(notification)
                if cast(Any, event).evidence.sha256 == sha256:
                    return True
            start = page[-1].id + 1
        return False

    def remove_evidence(
        self, actor: Actor, did: UUID, *, sha256: str, reason: str, expected_version: int | None = None
    ) -> Receipt[None]:
        dossier, _, _, moment, _, actor = self._act(actor, did, "attach_evidence", expected_version)
        dossier.remove_evidence(self.workflow, sha256=sha256, reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(dossier), None)

    def submit(self, actor: Actor, did: UUID, *, expected_version: int | None = None) -> Receipt[None]:
        dossier, _, period, moment, today, actor = self._act(actor, did, _submission, expected_version)
        missing = missing_answers(self._rules_of(period), self._model_of(dossier), dossier.answers, dossier.facts)
        late = period.is_late("self_assessment", today)
        command = dossier.resubmit if _submission(dossier) == "resubmit" else dossier.submit
        command(self.workflow, missing=missing, late=late, actor=actor, timestamp=moment)
        return Receipt(self._save(dossier), None)

    def withdraw(self, actor: Actor, did: UUID, *, reason: str, expected_version: int | None = None) -> Receipt[None]:
        dossier, _, _, moment, _, actor = self._act(actor, did, "withdraw", expected_version)
        dossier.withdraw(self.workflow, reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(dossier), None)

    def restore(self, actor: Actor, did: UUID, *, expected_version: int | None = None) -> Receipt[None]:
        dossier, _, _, moment, _, actor = self._act(actor, did, "restore", expected_version)
        dossier.restore(self.workflow, actor=actor, timestamp=moment)
        return Receipt(self._save(dossier), None)

    # --- dossiers: the committee ---------------------------------------------------------------

    def subordinates(self, unit: Unit, period: EvaluationPeriod) -> Subordinates:
        """Counts among the units below, from their decisions in the unit's own decision book: the engine computes
        these, nobody types them, and no child dossier is loaded to know them."""
        book = self._book_view(unit.id, period.year)
        if book is not None and book.decided["decided"] == unit.children_count_as_of(period.end_date):
            # Every unit below is decided (the book holds the decisions of exactly the units below): the book's
            # running counts are the answer, whatever the number of units.
            counts = book.decided
            summary = SubordinateSummary(counts["rated"], counts["completed"], counts["good"], counts["four_good"])
            return Subordinates(summary, ())
        children = unit.children_as_of(period.end_date)
        standing = book.standing(children) if book is not None else SubordinateStanding((), tuple(children))
        # Units reviewed but not classified (under 6 months, suspended) count in no share.
        rated = [e for e in standing.decided if e.level is not Classification.NOT_RATED]
        summary = SubordinateSummary(
            total=len(rated),
            completed_or_better=sum(e.level >= Classification.COMPLETED for e in rated),
            good_or_better=sum(e.level >= Classification.GOOD for e in rated),
            four_good=sum(bool(e.four_good) for e in rated),
        )
        return Subordinates(summary, standing.undecided)

    def evaluate(self, did: UUID) -> tuple[Evaluation, Recognition | None, Subordinates | None]:
        """What the rules make of the dossier's answers now: the suggestion the reviewer and the approver see."""
        dossier = self._view(Dossier, did, "dossier")
        return self._evaluate(dossier, self._unit_view(dossier.unit_id), self._period_view(dossier.year))

    @staticmethod
    def _age(unit: Unit, period: EvaluationPeriod) -> int:
        # Counted to the end of the period, the end of 31 December: a unit established on 1 July is exactly six
        # months old then, and is classified.
        return unit.age_in_months(period.end_date + timedelta(days=1))

    def _evaluate(
        self, dossier: Dossier, unit: Unit, period: EvaluationPeriod
    ) -> tuple[Evaluation, Recognition | None, Subordinates | None]:
        rule_set, model = self._rules_of(period), self._model_of(dossier)
        subs = self.subordinates(unit, period) if unit.children else None
        summary = subs.summary if subs else None
        age = self._age(unit, period)

        def compute() -> tuple[Evaluation, Recognition | None]:
            evaluation = classify(rule_set, dossier.answers, dossier.facts, summary, age)
            return evaluation, recognize(model, dossier.answers, summary) if model else None

        # An approval usually rests on exactly what its endorsement was evaluated on (workflow/evaluations.py).
        evaluation, recognition = self._evaluations.evaluate(
            dossier.id, rule_set, model, dossier.answers, dossier.facts, summary, age, compute
        )
        return evaluation, recognition, subs

    def _decision_record(
        self, dossier: Dossier, unit: Unit, period: EvaluationPeriod, evaluation: Evaluation, subs: Subordinates | None
    ) -> dict[str, Any]:
        record = evaluation.as_record()
        record["inputs"] = {
            "answers": dict(dossier.answers),
            "facts": dict(dossier.facts),
            "unit_established_on": unit.established_on,
            "unit_age_months": self._age(unit, period),
            "subordinates": None if subs is None else {
                "total": subs.summary.total,
                "completed_or_better": subs.summary.completed_or_better,
                "good_or_better": subs.summary.good_or_better,
                "four_good": subs.summary.four_good,
                "undecided": [str(u) for u in subs.undecided],
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
    ) -> Receipt[Classification]:
        # The superior's decision book only takes the proposal down for the quota's base: two reviewers endorsing
        # different dossiers of one superior collide on it for nothing they did to each other, so try again on
        # fresh state (the dossier's own version is checked again on every try).
        return self._retrying(lambda: self._endorse(actor, did, level, note, reason, expected_version))

    def _endorse(
        self,
        actor: Actor,
        did: UUID,
        level: Classification | None,
        note: str,
        reason: str,
        expected_version: int | None,
    ) -> Receipt[Classification]:
        dossier, unit, period, moment, _, actor = self._act(actor, did, "endorse", expected_version)
        evaluation, recognition, subs = self._evaluate(dossier, unit, period)
        proposed = level or evaluation.level
        dossier.endorse(
            self.workflow, level=proposed, evaluation=self._decision_record(dossier, unit, period, evaluation, subs),
            recognition=recognition.as_record() if recognition else None, note=note, reason=reason,
            actor=actor, timestamp=moment, explained=evaluation.lines,
        )
        book = self._book(self._superior(unit, period), period.year, actor, moment)
        four_good = four_good_after(proposed, recognition.recognized) if recognition else None
        book.propose(
            entry=DecisionEntry(unit.id, dossier.id, unit.group, proposed, four_good, decided=False),
            actor=actor, timestamp=moment,
        )
        return Receipt(self._save(dossier, book), proposed)

    def return_to_unit(
        self, actor: Actor, did: UUID, *, reason: str, expected_version: int | None = None
    ) -> Receipt[None]:
        return self._retrying(lambda: self._return_to_unit(actor, did, reason, expected_version))

    def _return_to_unit(self, actor: Actor, did: UUID, reason: str, expected_version: int | None) -> Receipt[None]:
        dossier, unit, period, moment, _, actor = self._act(actor, did, "return_to_unit", expected_version)
        had_proposal = dossier.endorsement is not None
        dossier.return_to_unit(self.workflow, reason=reason, actor=actor, timestamp=moment)
        book = None
        if had_proposal:
            book = self._existing_book(self._superior(unit, period), period.year)
            if book is not None:
                book.withdraw_proposal(unit_id=unit.id, reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(dossier, book), None)

    def _retrying(self, command: Callable[[], T]) -> T:
        for _ in range(_RETRIES - 1):
            try:
                return command()
            except ConcurrencyConflict:
                continue
        return command()

    # --- dossiers: the approver ----------------------------------------------------------------

    def _superior(self, unit: Unit, period: EvaluationPeriod) -> UUID:
        """The unit directly above, as the hierarchy stood at the end of the period: whose book holds the unit."""
        version = unit.as_of(period.end_date) or unit.current
        if version.parent_id is None:
            raise InvalidInput(N_("%(unit)s has no superior unit to review and decide its dossier"), unit=unit.name)
        return version.parent_id

    def _existing_book(self, superior_id: UUID, year: int) -> DecisionBook | None:
        bid = decision_book_id(superior_id, year)
        return self._get(DecisionBook, bid, "decision book") if self._exists(bid) else None

    def _book_view(self, superior_id: UUID, year: int) -> DecisionBook | None:
        """The shared version, to read only: a book holds an entry per unit below, too many to copy for a look."""
        bid = decision_book_id(superior_id, year)
        return self._view(DecisionBook, bid, "decision book") if self._exists(bid) else None

    def _book(self, superior_id: UUID, year: int, actor: Actor, moment: datetime) -> DecisionBook:
        book = self._existing_book(superior_id, year)
        if book is None:
            book = DecisionBook(superior_id=superior_id, year=year, actor=actor, timestamp=moment)
        return book

    def approve(
        self,
        actor: Actor,
        did: UUID,
        *,
        level: Classification | None = None,
        reason: str = "",
        expected_version: int | None = None,
        act_number: str = "",
        act_date: date | None = None,
    ) -> Receipt[QuotaFigures]:
        """Decide one dossier: a decision list of one. Its value is the quota meter of the dossier's group after."""
        decided = self.decide_list(
            actor, [DecisionRequest(did, level, reason, expected_version)], act_number=act_number, act_date=act_date
        )
        group = self._unit_view(self._view(Dossier, did, "dossier").unit_id).group
        return Receipt(decided.position, decided.value[group])

    def decide_list(
        self,
        actor: Actor,
        requests: Sequence[DecisionRequest],
        *,
        act_number: str = "",
        act_date: date | None = None,
    ) -> Receipt[dict[str, QuotaFigures]]:
        """Decide several dossiers of one superior as one act, the way a standing committee decides at one meeting.

        All or nothing: any refusal (a state, a right, a rule, the quota on the final tally, an act number already
        taken by this superior in this period) refuses the list whole, naming the dossier it falls on. The act's
        number and date (today unless given) are recorded with every decision of it. Returns the quota figures after
        the decisions, per group touched.
        """
        if not requests:
            raise InvalidInput(N_("a decision list needs at least one dossier"))
        if len({r.dossier_id for r in requests}) != len(requests):
            raise InvalidInput(N_("a decision list names the same dossier twice"))
        # As with endorse: approvers of different units under one superior collide on its decision book for nothing
        # they did to each other. Each try loads everything again and checks each dossier's expected version again,
        # so a dossier changed meanwhile is still refused, and the quota is counted on the book as it now stands.
        return self._retrying(lambda: self._decide_list(actor, requests, act_number, act_date))

    def _decide_list(
        self, actor: Actor, requests: Sequence[DecisionRequest], act_number: str, act_date: date | None
    ) -> Receipt[dict[str, QuotaFigures]]:
        decisions: list[_Decision] = []
        for request in requests:
            decisions.append(self._prepare_decision(actor, request))
        first = decisions[0]
        year, superior = first.period.year, self._superior(first.unit, first.period)
        for d in decisions[1:]:
            if d.period.year != year or self._superior(d.unit, d.period) != superior:
                raise InvalidInput(
                    N_(
                        "a decision list holds the dossiers of one superior unit and one period; %(unit)s (%(year)s) "
                        "is not under the same superior as %(first)s (%(first_year)s)"
                    ),
                    unit=d.unit.name, year=d.period.year, first=first.unit.name, first_year=year,
                )
        act: DecisionAct | None = decision_act(act_number, act_date, year=year, today=local_date(first.moment))
        book = self._book(superior, year, first.actor, first.moment)
        rule_set = self._rules_of(first.period)
        entries = [
            DecisionEntry(d.unit.id, d.dossier.id, d.unit.group, d.level, d.four_good) for d in decisions
        ]
        figures = book.decide(
            entries=entries, cap=rule_set.quota_cap, actor=first.actor, timestamp=first.moment, act=act
        )
        changed: list[Aggregate] = [book]
        for d in decisions:
            d.dossier.approve(
                self.workflow, level=d.level, evaluation=d.record,
                recognition=d.recognition.as_record() if d.recognition else None, decision_book_id=book.id,
                quota=figures[d.unit.group].as_record(), reason=d.reason, actor=d.actor, timestamp=d.moment,
                explained=d.explained,
                act=act,
            )
            changed.append(d.dossier)
            if d.subordinates is not None:
                # Written with the decision so that re-opening a unit below collides with it: "lower levels
                # first" holds even when both happen at the same instant.
                below = self._book(d.unit.id, year, d.actor, d.moment)
                below.note_superior_decided(level=d.level, four_good=d.four_good, actor=d.actor, timestamp=d.moment)
                changed.append(below)
        return Receipt(self._save(*changed), figures)

    def _prepare_decision(self, actor: Actor, request: DecisionRequest) -> _Decision:
        dossier, unit, period, moment, _, stamped = self._act(actor, request.dossier_id, "approve",
                                                              request.expected_version)
        evaluation, recognition, subs = self._evaluate(dossier, unit, period)
        if subs is not None and subs.undecided:
            raise OrderingViolation(
                N_("%(unit)s is decided after the units below it; still undecided: %(names)s"),
                unit=unit.name, names=self._names(subs.undecided, period),
            )
        level = request.level or dossier.proposed_level or evaluation.level
        four_good = four_good_after(level, recognition.recognized) if recognition else None
        return _Decision(
            dossier, unit, period, moment, stamped, level, request.reason, four_good, recognition, subs,
            self._decision_record(dossier, unit, period, evaluation, subs), evaluation.lines,
        )

    def _names(self, unit_ids: Sequence[UUID], period: EvaluationPeriod, shown: int = 5) -> str:
        names = []
        for uid in unit_ids[:shown]:
            unit = self.unit(uid)
            version = unit.as_of(period.end_date) or unit.current
            did = dossier_id(uid, period.year)
            state = self.dossier(did).state.value if self._exists(did) else "no dossier"
            names.append(f"{version.name} ({state})")
        more = len(unit_ids) - shown
        return "; ".join(names) + (f"; and {more} more" if more > 0 else "")

    def decision_candidates(self, superior: Unit, year: int) -> list[tuple[Unit, Dossier]]:
        """The dossiers of the units directly below a superior (as the period ended) that wait for its decision:
        endorsed, or re-opened. What an approver's decision list offers, on a page or through the API."""
        period = self.period(year)
        found: list[tuple[Unit, Dossier]] = []
        for child_id in superior.children_as_of(period.end_date):
            try:
                dossier = self.dossier(dossier_id(child_id, year))
            except NotFound:
                continue
            if dossier.state in (DossierState.ENDORSED, DossierState.REOPENED):
                found.append((self.unit(child_id), dossier))
        return found

    def quota(self, superior_id: UUID, year: int, group: str) -> QuotaFigures:
        """The quota meter of the units directly below a superior: excellent decided so far against the cap, the
        base counting decisions and, while undecided, endorsed proposals."""
        rule_set = self._rules_of(self._period_view(year))
        book = self._book_view(superior_id, year)
        if book is None:
            return QuotaFigures(group, 0, 0, rule_set.quota_cap(0))
        return book.figures(group, rule_set.quota_cap)

    def return_to_committee(
        self, actor: Actor, did: UUID, *, reason: str, expected_version: int | None = None
    ) -> Receipt[None]:
        dossier, _, _, moment, _, actor = self._act(actor, did, "return_to_committee", expected_version)
        dossier.return_to_committee(self.workflow, reason=reason, actor=actor, timestamp=moment)
        return Receipt(self._save(dossier), None)

    def mark_not_rated(
        self,
        actor: Actor,
        did: UUID,
        *,
        reason: str = "",
        ground: NotRatedGround | None = None,
        expected_version: int | None = None,
    ) -> Receipt[None]:
        """Reviewed but not classified: a unit under 6 months at the period's end (its age is the ground), or one
        suspended or exempted (`ground`, with the decision that suspended or exempted it as `reason`)."""
        dossier, unit, period, moment, _, actor = self._act(actor, did, "mark_not_rated", expected_version)
        book = self._book(self._superior(unit, period), period.year, actor, moment)
        dossier.mark_not_rated(
            self.workflow, ground=ground, unit_age_months=self._age(unit, period),
            min_age_months=self._rules_of(period).age.min_months, decision_book_id=book.id, reason=reason,
            actor=actor, timestamp=moment,
        )
        entry = DecisionEntry(unit.id, dossier.id, unit.group, Classification.NOT_RATED, None)
        book.decide(entries=[entry], cap=self._rules_of(period).quota_cap, actor=actor, timestamp=moment)
        changed: list[Aggregate] = [dossier, book]
        if unit.children:
            below = self._book(unit.id, period.year, actor, moment)
            below.note_superior_decided(level=Classification.NOT_RATED, four_good=None, actor=actor, timestamp=moment)
            changed.append(below)
        return Receipt(self._save(*changed), None)

    def reopen(
        self, actor: Actor, did: UUID, *, legal_basis: str, expected_version: int | None = None
    ) -> Receipt[None]:
        dossier, unit, period, moment, _, actor = self._act(actor, did, "reopen", expected_version)
        dossier.reopen(self.workflow, legal_basis=legal_basis, actor=actor, timestamp=moment)
        changed: list[Aggregate] = [dossier]
        if dossier.decision_book_id is not None:
            book = self._get(DecisionBook, dossier.decision_book_id, "decision book")
            proposal = None
            if dossier.proposed_level is not None:
                proposal = DecisionEntry(
                    unit.id, dossier.id, unit.group, dossier.proposed_level, None, decided=False
                )
            book.suspend(unit_id=unit.id, proposal=proposal, reason=legal_basis, actor=actor, timestamp=moment)
            changed.append(book)
            changed.extend(self._suspend_superior_recognition(book, unit, period, legal_basis, actor, moment))
        if unit.children:
            below = self._existing_book(unit.id, period.year)
            if below is not None:
                below.note_superior_reopened(reason=legal_basis, actor=actor, timestamp=moment)
                changed.append(below)
        return Receipt(self._save(*changed), None)

    def _suspend_superior_recognition(
        self, book: DecisionBook, unit: Unit, period: EvaluationPeriod, legal_basis: str, actor: Actor,
        moment: datetime,
    ) -> list[Aggregate]:
        """A re-opened unit no longer stands as decided: a recognition of its superior resting on "100% of the
        units below recognized" no longer holds, until the approver decides the superior again."""
        if not book.superior_decided:
            return []
        superior = self.dossier(dossier_id(book.superior_id, period.year))
        model = self._model_of(superior)
        computed = [c for c in model.criteria if c.computed] if model else []
        if not computed:
            return []
        criterion = computed[0]
        suspended = superior.suspend_recognition(
            unit_id=unit.id,
            unit_name=(unit.as_of(period.end_date) or unit.current).name,
            criterion=criterion.id,
            rule=criterion.rule or criterion.title_en,
            legal_basis=legal_basis,
            actor=actor,
            timestamp=moment,
        )
        return [superior] if suspended else []

    # --- queries -------------------------------------------------------------------------------

    def recompute_decision(self, did: UUID) -> Recomputation:
        dossier = self.dossier(did)
        if dossier.decision is None or "evaluation" not in dossier.decision or dossier.level is None:
            raise NotFound(N_("this dossier has no classification decided from its answers"))
        record = dossier.decision["evaluation"]
        rule_set = self.rule_book.rule_set(record["rule_set_id"])
        if rule_set.sha256 != record["rule_set_sha256"]:
            raise RuleSetError(
                N_(
                    "the decision was made under %(rule_set)s with file checksum %(recorded)s…, but the loaded file "
                    "has %(loaded)s…; load that version to recompute it"
                ),
                rule_set=rule_set.id, recorded=record["rule_set_sha256"][:12], loaded=rule_set.sha256[:12],
            )
        inputs = record["inputs"]
        subs = inputs["subordinates"]
        summary = None if subs is None else SubordinateSummary(
            subs["total"], subs["completed_or_better"], subs["good_or_better"], subs["four_good"]
        )
        recomputed = classify(rule_set, inputs["answers"], inputs["facts"], summary, inputs.get("unit_age_months"))
        return Recomputation(Classification(record["level"]), dossier.level, recomputed)

    def available_actions(self, actor: Actor, did: UUID) -> list[Action]:
        """What this actor may do on this dossier now: the buttons a page draws."""
        dossier = self._view(Dossier, did, "dossier")
        spec = spec_for(dossier.workflow_version)
        period = self._period_view(dossier.year)
        unit = self._unit_view(dossier.unit_id)
        _, today = self._now()
        actions = []
        for trigger in spec.triggers_from(dossier.state):
            rule = spec.rule(trigger)
            if spec.locked(dossier.state, trigger, period.closed):
                continue
            try:
                authorize(actor, rule, unit, today, self._person_view, self._unit_view, dossier.submitters)
            except NotAuthorized:
                continue
            actions.append(Action(trigger, rule.label, rule.needs_reason))
        return actions

    def authorize_reading(self, actor: Actor, uid: UUID, *, year: int | None = None) -> None:
        """Refuse (NotAuthorized) unless this actor may read the decided classifications at and below the unit,
        of `year` when given: reports and exports ask this before they read a row."""
        _, today = self._now()
        days = [today]
        if year is not None and self._exists(period_id(year)):
            days.append(self.period(year).end_date)
        authorize_reading(actor, self.unit(uid), days, today, self._person_view, self._unit_view)

    def dossier_as_of(self, did: UUID, moment: datetime | date) -> Dossier:
        """The dossier as it stood at a moment (a date means the end of that day in Vietnam).

        The version is found by bisecting the history on its events' timestamps, one stored event read per step,
        then rebuilt from the snapshot below it: a 10,000-event history costs a few more reads than a 100-event
        one, not a hundred times the decoding. An aggregate's events are recorded in time order (each command
        stamps its events with the clock, and the store orders versions), which is what bisecting relies on;
        the version found is the last one recorded at or before the moment.
        """
        if not isinstance(moment, datetime):
            moment = end_of_day(moment)
        current = self._view(Dossier, did, "dossier")
        if current.modified_on <= moment:
            return copy_aggregate(current)
        # Invariant: version `low` was recorded at or before the moment (0: before the first), `high` after it.
        low, high = 0, current.version
        while high - low > 1:
            middle = (low + high) // 2
            if self._recorded_at(did, middle) <= moment:
                low = middle
            else:
                high = middle
        if low == 0:
            raise NotFound(N_("the dossier did not exist yet on %(moment)s"), moment=moment)
        return self.dossier(did, version=low)

    def _recorded_at(self, aggregate_id: UUID, version: int) -> datetime:
        (event,) = self.events.get(aggregate_id, gt=version - 1, lte=version)
        return cast(Aggregate.Event, event).timestamp

    def history(self, aggregate_id: UUID) -> Iterator[Any]:
        return iter(self.events.get(aggregate_id))

    def find_dossier(self, reference: str) -> UUID:
        """A dossier by its id, or by "UNIT-CODE/YEAR"."""
        reference = reference.strip()
        try:
            did = UUID(reference)
        except ValueError:
            code, _, year = reference.rpartition("/")
            # isdigit() is true of superscripts and of 5,000 digits, which int() refuses: a year is 4 ASCII digits.
            if not code or not (year.isascii() and year.isdigit() and len(year) <= 4):
                raise InvalidInput(
                    N_("'%(reference)s' is neither a dossier id nor a reference like UNIT-CODE/2024"),
                    reference=reference,
                ) from None
            did = dossier_id(self.unit_by_code(code).id, int(year))
        if not self._exists(did):
            raise NotFound(N_("no dossier '%(reference)s'"), reference=reference)
        # The id of a unit or a person names no dossier: said so here, for the callers that go on to read the read
        # models by it (who could act, the audit trail), which would answer "nobody" and "no event".
        self._view(Dossier, did, "dossier")
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
        evidence_progress: store.ProgressCallback | None = None,
    ) -> store.ChainReport:
        """Verify the chain, its newest signed head, the heads kept outside the database, the snapshots' seals and
        the evidence files.

        public_key defaults to the public half of the engine's own signing key; a copy of another installation's
        store is verified with that installation's public key and its exported checkpoints as anchors. The head file
        of the engine's own signer is always an anchor when it exists. Every evidence file an event verified in the
        chain references is re-hashed, each distinct file once, after the walk: evidence_progress(files re-hashed,
        files to re-hash) is called as progress is for events, first with 0 as the re-hashing begins.
        """
        signer = getattr(self.recorder, "signer", None)
        signed_anchors = list(anchors)
        if isinstance(signer, store.HeadSigner):
            if public_key is None and (signer.has_key() or not self.is_empty()):
                public_key = signer.public_key
            remembered = signer.remembered_head()
            if remembered is not None:
                signed_anchors.insert(0, (f"the head file {signer.head_path}", remembered))
        attached: dict[str, dict[tuple[UUID, str], None]] = {}
        undecodable: list[store.Finding] = []

        def note_evidence(row: store.EventRow) -> None:
            # Only the states of attach events are decoded: the walk's other events cost one dict lookup each.
            stored = StoredEvent(row.originator_id, row.originator_version, row.topic, row.state)
            try:
                evidence = cast(Any, self.mapper.to_domain_event(stored)).evidence
                attached.setdefault(evidence.sha256, {})[UUID(str(row.originator_id)), evidence.name] = None
            except Exception as error:  # a state the chain vouches for yet this code cannot read: say so, go on
                undecodable.append(
                    store.Finding(
                        "evidence-undecodable",
                        f"event #{row.notification_id} (dossier {row.originator_id}, version {row.originator_version})",
                        f"the evidence this attach event names cannot be read from it: {error}",
                    )
                )

        report = store.verify_chain(
            self.recorder,
            public_key=public_key,
            signed_anchors=signed_anchors,
            snapshots=self.snapshots.recorder if self.snapshots is not None else None,
            watch={_EVIDENCE_ATTACHED: note_evidence},
            progress=progress,
        )
        findings = [*report.findings, *undecodable, *self._evidence_findings(attached, evidence_progress)]
        return replace(report, findings=tuple(findings), evidence_files=len(attached))

    def verify_since(self, since: store.VerifiedHead) -> store.ChainReport:
        """Verify the links appended after a head an earlier verify found intact, against the engine's own key and
        head file: the running server's check as the log grows (`verify` remains the whole check)."""
        signer = getattr(self.recorder, "signer", None)
        public_key = None
        anchors: list[tuple[str, store.SignedHead]] = []
        if isinstance(signer, store.HeadSigner):
            if signer.has_key() or not self.is_empty():
                public_key = signer.public_key
            remembered = signer.remembered_head()
            if remembered is not None:
                anchors.append((f"the head file {signer.head_path}", remembered))
        return store.verify_since(self.recorder, since, public_key=public_key, signed_anchors=anchors)

    def _evidence_findings(
        self, attached: Mapping[str, Mapping[tuple[UUID, str], None]], progress: store.ProgressCallback | None
    ) -> Iterator[store.Finding]:
        """Each distinct file re-hashed once; a file that fails is reported for every dossier and name it was
        attached as."""
        total = len(attached)
        if progress is not None:
            progress(0, total)
        for done, (sha256, references) in enumerate(attached.items(), start=1):
            fault = self.blobs.fault(sha256)
            if fault is not None:
                for did, name in references:
                    subject = f"evidence file '{name}' (sha256 {sha256}) of dossier {self._dossier_reference(did)}"
                    yield store.Finding(fault.kind, subject, fault.detail)
            if progress is not None and (done % EVIDENCE_PROGRESS_EVERY == 0 or done == total):
                progress(done, total)

    def _dossier_reference(self, did: UUID) -> str:
        # As the CLI takes it (UNIT-CODE/YEAR); the id alone if the dossier cannot be loaded from a damaged store.
        try:
            dossier = self.dossier(did)
            return f"{self.unit(dossier.unit_id).code}/{dossier.year} ({did})"
        except Exception:
            return str(did)
