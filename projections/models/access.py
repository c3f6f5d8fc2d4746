"""Who held which role over which unit when, and what follows from it: who could act on a dossier at a moment, a
person's work queues today, and what they acted on.

The projection ("access") keeps persons, grants and delegations from the `Person` events. Its queries also read the
live tables of the "units" and "dossiers" read models (same database): the hierarchy (the closure for today's
scope, the dated versions for a past day) and the dossiers' rows and state history.

What may be done in which state is the workflow's knowledge, and projections do not import `workflow`: the caller
passes it as plain data, a `WaitingRule` per trigger (see `waiting_rules_from`), built from `workflow.spec`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal, NamedTuple, cast
from uuid import UUID

from sqlalchemy import (
    BindParameter,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    and_,
    bindparam,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)

from domain.person import Person
from domain.values import DossierState, Role
from projections.core import LoggedEvent, Page, Projection
from projections.models.dossiers import (
    DossiersProjection,
    from_micros,
    micros,
    moment_of,
    vietnam_day,
)
from projections.models.units import UnitsProjection, _version_as_of
from projections.reading import Reading, reading_of
from projections.store import ReadModelStore

_P: Any = Person

Scope = Literal["own", "direct", "any"]

# Triggers that never put a dossier in a queue. `attach_evidence` is editing a dossier that `submit` or `resubmit`
# already brings to its secretary's queue; `reopen` is possible on every decided dossier, for ever: a decided dossier
# waits for nobody, and a re-classification starts from a complaint, not from a queue.
NOT_WAITING: frozenset[str] = frozenset({"attach_evidence", "reopen"})


@dataclass(frozen=True)
class WaitingRule:
    """Who may fire a trigger, where, and from which states (the workflow spec as plain data).

    `scope`: "own" (a role held over the dossier's unit), "direct" (over the unit directly above it), "any" (over any
    unit above it). `independent`: never by whoever submitted the dossier, nor on their behalf.
    `when_closed_from`: the states from which it may still fire once the dossier's period is closed.
    """

    trigger: str
    role: Role
    scope: Scope
    states: frozenset[DossierState]
    independent: bool
    when_closed_from: frozenset[DossierState] = frozenset()

    def allows(self, state: DossierState, period_closed: bool) -> bool:
        return state in self.states and (not period_closed or state in self.when_closed_from)


RuleTuple = (
    tuple[str, Role, str, frozenset[DossierState], bool]
    | tuple[str, Role, str, frozenset[DossierState], bool, frozenset[DossierState]]
)


def waiting_rules_from(rules: Iterable[RuleTuple]) -> tuple[WaitingRule, ...]:
    """`WaitingRule`s from tuples (trigger, role, scope, states, independent[, when_closed_from]).

    A caller that knows the workflow spec builds them so (see tests/integration/read_models_world.py)::

        scopes = {Scope.OWN_UNIT: "own", Scope.DIRECT_SUPERIOR: "direct", Scope.ANY_SUPERIOR: "any"}
        waiting_rules_from(
            (r.trigger, r.role, scopes[r.scope], frozenset(s for s in DossierState if r.trigger in
             spec.triggers_from(s)), r.independent, r.when_closed_from)
            for r in spec.rules.values()
        )
    """
    found = []
    for item in rules:
        trigger, role, scope, states, independent = item[:5]
        closed: frozenset[DossierState] = item[5] if len(item) > 5 else frozenset()
        if scope not in ("own", "direct", "any"):
            raise ValueError(f"unknown scope {scope!r} of {trigger}; known: own, direct, any")
        found.append(WaitingRule(trigger, role, cast(Scope, scope), frozenset(states), independent, closed))
    return tuple(found)


class AccessProjection(Projection):
    name: ClassVar[str] = "access"
    # Seconds on the bench's 899,308-event SQLite log (see Projection.rebuild_cost): its pages and indexes in a
    # one-process rebuild (bench/issue6_figures.py --no-helper), and decoding the events it reads (the log's
    # read_wanted, scaled to the decoding inside a rebuild, which pauses the garbage collector).
    rebuild_cost = 5.0
    rebuild_reads = 4.0
    handles: ClassVar[tuple[type, ...]] = (
        _P.Registered,
        _P.RoleGranted,
        _P.RoleRevoked,
        _P.Delegated,
        _P.DelegationEnded,
    )

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        persons = Table(
            f"persons{suffix}",
            metadata,
            Column("person_id", Uuid, primary_key=True),
            Column("username", String(100), nullable=False),
            Column("full_name", Text, nullable=False),
            Index(f"ix_persons{suffix}_username", "username", unique=True),
        )
        grants = Table(
            f"grants{suffix}",
            metadata,
            Column("grant_id", Uuid, primary_key=True),
            Column("person_id", Uuid, nullable=False),
            Column("role", String(20), nullable=False),
            Column("unit_id", Uuid, nullable=False),
            Column("valid_from", Date, nullable=False),
            Column("valid_to", Date, nullable=True),
            Column("revoked_on", Date, nullable=True),
            Column("basis", Text, nullable=False),
            Column("revoke_reason", Text, nullable=True),
            Index(f"ix_grants{suffix}_person", "person_id"),
            # Who holds a role over a unit: "who could act" looks grants up by unit and role.
            Index(f"ix_grants{suffix}_unit_role", "unit_id", "role"),
        )
        delegations = Table(
            f"delegations{suffix}",
            metadata,
            Column("delegation_id", Uuid, primary_key=True),
            Column("grant_id", Uuid, nullable=False),
            Column("holder_id", Uuid, nullable=False),
            Column("deputy_id", Uuid, nullable=False),
            Column("valid_from", Date, nullable=False),
            Column("valid_to", Date, nullable=False),
            Column("revoked_on", Date, nullable=True),
            Column("legal_basis", Text, nullable=False),
            Column("end_reason", Text, nullable=True),
            Index(f"ix_delegations{suffix}_grant", "grant_id"),
            Index(f"ix_delegations{suffix}_deputy", "deputy_id"),
        )
        return {"persons": persons, "grants": grants, "delegations": delegations}

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        event = logged.event
        pid = logged.originator_id
        if isinstance(event, _P.Registered):
            page.rows("persons").put({"person_id": pid, "username": event.username, "full_name": event.full_name})
        elif isinstance(event, _P.RoleGranted):
            g = event.grant
            page.rows("grants").put(
                {
                    "grant_id": g.grant_id,
                    "person_id": pid,
                    "role": g.role.value,
                    "unit_id": g.unit_id,
                    "valid_from": g.valid_from,
                    "valid_to": g.valid_to,
                    "revoked_on": g.revoked_on,
                    "basis": g.basis,
                    "revoke_reason": None,
                }
            )
        elif isinstance(event, _P.RoleRevoked):
            page.rows("grants").update(event.grant_id, revoked_on=event.on, revoke_reason=event.reason)
        elif isinstance(event, _P.Delegated):
            d = event.delegation
            page.rows("delegations").put(
                {
                    "delegation_id": d.delegation_id,
                    "grant_id": d.grant_id,
                    "holder_id": pid,
                    "deputy_id": d.deputy_id,
                    "valid_from": d.valid_from,
                    "valid_to": d.valid_to,
                    "revoked_on": d.revoked_on,
                    "legal_basis": d.legal_basis,
                    "end_reason": None,
                }
            )
        elif isinstance(event, _P.DelegationEnded):
            page.rows("delegations").update(event.delegation_id, revoked_on=event.on, end_reason=event.reason)


# --- validity, as domain/person.py decides it ------------------------------------------------------


def _grant_valid(g: Any, day: date | BindParameter[date]) -> Any:
    # Grant.valid_on: from valid_from, until (not including) valid_to and revoked_on.
    return and_(
        g.c.valid_from <= day,
        or_(g.c.valid_to.is_(None), g.c.valid_to > day),
        or_(g.c.revoked_on.is_(None), g.c.revoked_on > day),
    )


def _delegation_valid(d: Any, day: date | BindParameter[date]) -> Any:
    return and_(d.c.valid_from <= day, d.c.valid_to > day, or_(d.c.revoked_on.is_(None), d.c.revoked_on > day))


# --- queries: access history -----------------------------------------------------------------------


@dataclass(frozen=True)
class DelegationRecord:
    delegation_id: UUID
    grant_id: UUID
    holder_id: UUID
    deputy_id: UUID
    valid_from: date
    valid_to: date
    revoked_on: date | None
    legal_basis: str


@dataclass(frozen=True)
class GrantRecord:
    grant_id: UUID
    person_id: UUID
    username: str
    full_name: str
    role: Role
    unit_id: UUID
    valid_from: date
    valid_to: date | None
    revoked_on: date | None
    basis: str
    delegations: tuple[DelegationRecord, ...]


def access_history(
    store: ReadModelStore, person_id: UUID | None = None, unit_id: UUID | None = None
) -> list[GrantRecord]:
    """Every grant (of a person, over a unit, or all), with the delegations made under it, in the order they
    started; a person's history also lists the grants they acted under as a deputy."""
    t = store.live_tables(AccessProjection.name)
    g, p, d = t["grants"], t["persons"], t["delegations"]
    conditions: list[Any] = []
    if person_id is not None:
        deputised = select(d.c.grant_id).where(d.c.deputy_id == person_id)
        conditions.append(or_(g.c.person_id == person_id, g.c.grant_id.in_(deputised)))
    if unit_id is not None:
        conditions.append(g.c.unit_id == unit_id)
    query = (
        select(g, p.c.username, p.c.full_name)
        .join(p, p.c.person_id == g.c.person_id)
        .where(*conditions)
        .order_by(g.c.valid_from, p.c.username, g.c.grant_id)
    )
    with store.engine.connect() as conn:
        grants = conn.execute(query).all()
        ids = [r.grant_id for r in grants]
        by_grant: dict[UUID, list[DelegationRecord]] = {}
        for start in range(0, len(ids), 500):
            rows = conn.execute(select(d).where(d.c.grant_id.in_(ids[start : start + 500])).order_by(d.c.valid_from))
            for r in rows:
                by_grant.setdefault(r.grant_id, []).append(
                    DelegationRecord(
                        r.delegation_id, r.grant_id, r.holder_id, r.deputy_id, r.valid_from, r.valid_to,
                        r.revoked_on, r.legal_basis,
                    )
                )
    return [
        GrantRecord(
            r.grant_id, r.person_id, r.username, r.full_name, Role(r.role), r.unit_id, r.valid_from, r.valid_to,
            r.revoked_on, r.basis, tuple(by_grant.get(r.grant_id, ())),
        )
        for r in grants
    ]


# --- queries: who could act ------------------------------------------------------------------------


@dataclass(frozen=True)
class CouldAct:
    """A person who could act on a dossier at a moment: as what, over which unit, by which grant, with which
    triggers; by delegation, on whose behalf."""

    person_id: UUID
    username: str
    full_name: str
    role: Role
    unit_id: UUID
    grant_id: UUID
    triggers: tuple[str, ...]
    on_behalf_of: UUID | None = None
    delegation_id: UUID | None = None


def who_could_act(
    store: ReadModelStore, dossier_id: UUID, moment: datetime | date, rules: Sequence[WaitingRule]
) -> list[CouldAct]:
    """Everyone who could have fired some trigger on the dossier at `moment` (a date: the end of that day in
    Vietnam): its state then, the grants and delegations valid that day, the hierarchy as it stood that day, and
    nobody independent who had submitted it by then. Grants and delegations are read as known now: a revocation
    recorded later but effective earlier counts, as the engine's `Person.grants_on` counts it."""
    at = moment_of(moment)
    dt = store.live_tables(DossiersProjection.name)
    d, s, periods = dt["dossiers"], dt["dossier_states"], dt["dossier_periods"]
    with store.engine.connect() as conn:
        dossier = conn.execute(select(d.c.unit_id, d.c.year).where(d.c.dossier_id == dossier_id)).first()
        if dossier is None:
            return []
        history = conn.execute(
            select(s.c.to_state, s.c.trigger, s.c.actor_id)
            .where(s.c.dossier_id == dossier_id, s.c.at_us <= micros(at))
            .order_by(s.c.position)
        ).all()
        if not history:
            return []
        state = DossierState(history[-1].to_state)
        submitters = {r.actor_id for r in history if r.trigger in ("submit", "resubmit")}
        closed_at = conn.execute(select(periods.c.closed_at_us).where(periods.c.year == dossier.year)).scalar()
        closed = closed_at is not None and closed_at <= micros(at)
        applicable = [r for r in rules if r.allows(state, closed)]
        return _holders(store, conn, dossier.unit_id, vietnam_day(at), applicable, submitters, fired_only=True)


def role_holders(
    store: ReadModelStore, dossier_id: UUID, moment: datetime | date, rules: Sequence[WaitingRule]
) -> list[CouldAct]:
    """Who held, on `moment`'s day, the roles the workflow gives over the dossier's unit (over the unit itself,
    the one directly above it, any above it), by grant or delegation, with no trigger: what "who could act" asked
    of a day before the dossier was opened answers with (nobody could act on it yet; these are who would have)."""
    d = store.live_tables(DossiersProjection.name)["dossiers"]
    with store.engine.connect() as conn:
        unit_id = conn.execute(select(d.c.unit_id).where(d.c.dossier_id == dossier_id)).scalar()
        if unit_id is None:
            return []
        return _holders(store, conn, unit_id, vietnam_day(moment_of(moment)), list(rules), set(), fired_only=False)


def _holders(
    store: ReadModelStore, conn: Connection, unit_id: UUID, day: date, applicable: Sequence[WaitingRule],
    submitters: set[UUID], *, fired_only: bool,
) -> list[CouldAct]:
    """The grants and delegations valid on `day` whose role and place (over `unit_id`, directly above it or any unit
    above it, as the hierarchy stood that day) some rule of `applicable` names; with `fired_only`, only those with
    a trigger left to them (none by one who submitted the dossier where the rule wants someone independent), else
    every holder, with no trigger."""
    if not applicable:
        return []
    versions = store.live_tables(UnitsProjection.name)["unit_versions"]
    t = store.live_tables(AccessProjection.name)
    g, p, dl = t["grants"], t["persons"], t["delegations"]
    # Where each scope puts the grant, on that day.
    scopes: dict[str, list[UUID]] = {"own": [unit_id]}
    version = _version_as_of(conn, versions, unit_id, day)
    ancestors: list[UUID] = []
    parent = version[1] if version else None
    while parent is not None and parent not in ancestors:
        ancestors.append(parent)
        above = _version_as_of(conn, versions, parent, day)
        parent = above[1] if above else None
    scopes["direct"] = ancestors[:1]
    scopes["any"] = ancestors
    wanted = {(r.role.value, u) for r in applicable for u in scopes[r.scope]}
    if not wanted:
        return []
    roles = sorted({role for role, _ in wanted})
    units = sorted({u for _, u in wanted}, key=str)
    grants = conn.execute(
        select(g, p.c.username, p.c.full_name)
        .join(p, p.c.person_id == g.c.person_id)
        .where(g.c.role.in_(roles), g.c.unit_id.in_(units), _grant_valid(g, day))
    ).all()
    grants = [r for r in grants if (r.role, r.unit_id) in wanted]
    deputies = conn.execute(
        select(dl, p.c.username, p.c.full_name)
        .join(p, p.c.person_id == dl.c.deputy_id)
        .where(dl.c.grant_id.in_([r.grant_id for r in grants]), _delegation_valid(dl, day))
    ).all() if grants else []
    found: list[CouldAct] = []
    by_grant = {r.grant_id: r for r in grants}

    def triggers(grant: Any, people: set[UUID]) -> tuple[str, ...]:
        return tuple(
            r.trigger
            for r in applicable
            if r.role.value == grant.role
            and grant.unit_id in scopes[r.scope]
            and not (r.independent and people & submitters)
        )

    for r in grants:
        fired = triggers(r, {r.person_id}) if fired_only else ()
        if fired or not fired_only:
            found.append(CouldAct(r.person_id, r.username, r.full_name, Role(r.role), r.unit_id, r.grant_id, fired))
    for r in deputies:
        grant = by_grant[r.grant_id]
        fired = triggers(grant, {r.deputy_id, r.holder_id}) if fired_only else ()
        if fired or not fired_only:
            found.append(
                CouldAct(
                    r.deputy_id, r.username, r.full_name, Role(grant.role), grant.unit_id, grant.grant_id, fired,
                    r.holder_id, r.delegation_id,
                )
            )
    found.sort(key=lambda c: (c.role.value, c.username, c.on_behalf_of is not None, str(c.grant_id)))
    return found


# --- queries: work queues --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    dossier_id: UUID
    unit_id: UUID
    unit_code: str
    year: int
    state: DossierState
    waiting_since: datetime
    deadline: date | None
    triggers: tuple[str, ...]
    # The unit's current name (from the units read model): what a list of the queue shows.
    unit_name: str = ""


@dataclass(frozen=True)
class Queue:
    """The dossiers waiting for what one grant (or a delegation of it) lets a person do, oldest first."""

    role: Role
    unit_id: UUID
    grant_id: UUID
    count: int
    items: list[QueueItem]
    on_behalf_of: UUID | None = None
    delegation_id: UUID | None = None


@dataclass(frozen=True)
class Authority:
    """A role a person may act in on a day: a grant of their own, or one held by `holder_id` and delegated to them."""

    role: Role
    unit_id: UUID
    grant_id: UUID
    holder_id: UUID
    delegation_id: UUID | None


def authorities(
    store: ReadModelStore, person_id: UUID, day: date, *, reading: Reading | None = None
) -> list[Authority]:
    """Every role the person may act in on `day`: their grants valid then, then the delegations to them."""
    with reading_of(store, reading) as r:
        return _authorities(r, person_id, day)


# Statements built once per generation of the tables they read (and shape of the query), their values bound at each
# execution: building a statement costs more than SQLite takes to run it.
_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _statement(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = build()
    return found


def _authorities(r: Reading, person_id: UUID, day: date) -> list[Authority]:
    t = r.tables(AccessProjection.name)
    g, dl = t["grants"], t["delegations"]

    def build() -> Any:
        # One statement for both (a page's visit asks it every time): the delegations to them first in the union,
        # so that its columns (the delegation's id and holder) set the types; own grants sorted first.
        when = bindparam("day", type_=Date)
        person = bindparam("person", type_=Uuid)
        delegated = (
            select(
                g.c.role, g.c.unit_id, g.c.grant_id, dl.c.delegation_id, dl.c.holder_id,
                literal(1, Integer).label("own_last"), dl.c.valid_from.label("since"), dl.c.delegation_id.label("tie"),
            )
            .join(dl, dl.c.grant_id == g.c.grant_id)
            .where(dl.c.deputy_id == person, _delegation_valid(dl, when), _grant_valid(g, when))
        )
        own = select(
            g.c.role, g.c.unit_id, g.c.grant_id, null(), null(), literal(0, Integer), g.c.valid_from, g.c.grant_id
        ).where(g.c.person_id == person, _grant_valid(g, when))
        both = union_all(delegated, own).subquery()
        return select(both).order_by(both.c.own_last, both.c.since, both.c.tie)

    statement = _statement(("authorities", g, dl), build)
    return [
        Authority(
            Role(x.role), x.unit_id, x.grant_id, x.holder_id if x.delegation_id is not None else person_id,
            x.delegation_id,
        )
        for x in r.execute(statement, {"person": person_id, "day": day})
    ]


def queues(
    store: ReadModelStore,
    person_id: UUID,
    today: date,
    rules: Sequence[WaitingRule],
    limit: int = 50,
    *,
    not_waiting: frozenset[str] = NOT_WAITING,
    authorities: Sequence[Authority] | None = None,
    reading: Reading | None = None,
) -> list[Queue]:
    """The person's work queues on `today`: one per grant of theirs valid today, and one per delegation to them
    valid today, of the dossiers in which they may now fire some trigger (but those of `not_waiting`), oldest
    first (by the time they entered their state), at most `limit` each, with the count of each queue.

    Scope is the hierarchy as it stands now (the dossiers read model's scope rows). A dossier of a closed period
    waits only in a state its triggers may still leave once closed. Independent steps skip dossiers the person (or
    the holder they act for) submitted. `authorities`: the person's, on `today`, when the caller has them already.
    """
    waiting = [r for r in rules if r.trigger not in not_waiting]
    roles = {r.role for r in waiting}
    found: list[Queue] = []
    with reading_of(store, reading) as r:
        every = _authorities(r, person_id, today) if authorities is None else authorities
        held = [a for a in every if a.role in roles]
        if not held:
            return []
        dt = r.tables(DossiersProjection.name)
        names = r.tables(UnitsProjection.name)["units"]
        periods = dt["dossier_periods"]
        closed = _statement(
            ("closed", periods), lambda: select(periods.c.year).where(periods.c.closed_at_us.is_not(None))
        )
        closed_years = sorted(int(y) for y in r.execute(closed).scalars())
        for authority in held:
            mine = tuple(x for x in waiting if x.role is authority.role)
            people = sorted({person_id, authority.holder_id}, key=str)
            count, items = _queue(r, dt, names, authority.unit_id, mine, closed_years, people, limit)
            found.append(
                Queue(
                    authority.role, authority.unit_id, authority.grant_id, count, items,
                    authority.holder_id if authority.delegation_id else None, authority.delegation_id,
                )
            )
    return found


def _grouped(rules: Iterable[WaitingRule]) -> dict[tuple[str, bool], list[WaitingRule]]:
    # Rules of one role with the same scope and independence make one condition: states in the union of theirs, and
    # when the period is closed, in the union of those they may still leave (the same dossiers, rule by rule).
    grouped: dict[tuple[str, bool], list[WaitingRule]] = {}
    for r in rules:
        grouped.setdefault((r.scope, r.independent), []).append(r)
    return grouped


_DEPTHS = {"own": (0, 0), "direct": (1, 1), "any": (1, None)}


class _OwnRange(NamedTuple):
    """A range of an independent step, as Python checks it on the few scope rows of a person's own submissions."""

    low: int
    high: int | None
    states: frozenset[str]
    still: frozenset[str]  # states in which a dossier of a closed period still waits

    def holds(self, depth: int, state: str, year: int, closed: set[int]) -> bool:
        return (
            depth >= self.low and (self.high is None or depth <= self.high) and state in self.states
            and (year not in closed or state in self.still)
        )


def _queue(
    r: Reading,
    tables: dict[str, Table],
    names: Table,
    unit_id: UUID,
    rules: tuple[WaitingRule, ...],
    closed_years: list[int],
    people: list[UUID],
    limit: int,
) -> tuple[int, list[QueueItem]]:
    """How many dossiers wait for these rules held over `unit_id`, and the oldest `limit` of them.

    Each (scope, independence) group of rules, and each state in it, is one range of the scope index, read in the
    queue's order and stopped at `limit`; the ranges are merged by the database, in one query for the items and one
    for the counts. The count is the index's count of each range, less the person's own submissions among them for
    independent steps: those are found from the person (a handful of dossiers, by the submitters' index, then their
    few scope rows by primary key) and checked against the ranges here. Asked of the database in one statement,
    SQLite walked the whole range (a province's approver: tens of thousands of rows) probing each for a submitter.
    """
    counts, rows, own_ranges = _statement(
        ("queue", tables["dossier_scope"], names, rules, len(people)), lambda: _queue_statements(tables, names, rules)
    )
    values = {"unit": unit_id, "closed": closed_years, "people": people, "limit": limit}
    closed = set(closed_years)
    items: list[QueueItem] = []
    seen: set[UUID] = set()
    # The rows of a queue share a few states: what each (state, period closed) allows is worked out once.
    allowed: dict[tuple[str, bool], tuple[DossierState, tuple[str, ...]]] = {}
    found_rows = r.execute(rows, values).all()
    for did, since, uid, code, year, state_text, deadline, name in found_rows:
        if did in seen:
            continue
        seen.add(did)
        key = (state_text, year in closed)
        found = allowed.get(key)
        if found is None:
            state = DossierState(state_text)
            found = allowed[key] = (state, tuple(x.trigger for x in rules if x.allows(state, key[1])))
        waiting_since = cast(datetime, from_micros(since))
        items.append(QueueItem(did, uid, code, year, found[0], waiting_since, deadline, found[1], name or ""))
    # Fewer rows than the limit: no range was cut short, so the rows are every dossier waiting (each once), and
    # counting them again would be a statement for nothing. Most queues are shorter than a page.
    if len(found_rows) < limit:
        return len(items), items
    count = int(sum(r.execute(counts, values).one()))
    if own_ranges:
        count -= _own_in_ranges(r, tables, unit_id, people, own_ranges, closed)
    return count, items[:limit]


def _own_in_ranges(
    r: Reading, tables: dict[str, Table], unit_id: UUID, people: list[UUID], ranges: tuple[_OwnRange, ...],
    closed: set[int],
) -> int:
    """How many of the dossiers `people` submitted lie in one of the independent `ranges` below `unit_id`."""
    subs, x = tables["dossier_submitters"], tables["dossier_scope"]
    mine = _statement(
        ("own submissions", subs),
        lambda: select(subs.c.dossier_id).where(subs.c.person_id.in_(bindparam("people", expanding=True, type_=Uuid))),
    )
    submitted = sorted({did for (did,) in r.execute(mine, {"people": people})}, key=str)
    if not submitted:
        return 0
    scope_rows = _statement(
        ("own scope rows", x),
        lambda: select(x.c.dossier_id, x.c.ancestor_id, x.c.depth, x.c.state, x.c.year).where(
            x.c.dossier_id.in_(bindparam("ids", expanding=True, type_=Uuid))
        ),
    )
    inside: set[UUID] = set()
    for start in range(0, len(submitted), 500):
        for did, ancestor, depth, state, year in r.execute(scope_rows, {"ids": submitted[start : start + 500]}):
            if ancestor == unit_id and any(rng.holds(depth, state, year, closed) for rng in ranges):
                inside.add(did)
    return len(inside)


def _queue_statements(
    tables: dict[str, Table], names: Table, rules: tuple[WaitingRule, ...]
) -> tuple[Any, Any, tuple[_OwnRange, ...]]:
    """(the counts of every range in one row, the oldest items of all ranges with their units' names, the ranges of
    independent steps, from whose counts the person's own submissions are taken off)."""
    x, subs, d = tables["dossier_scope"], tables["dossier_submitters"], tables["dossiers"]
    unit = bindparam("unit", type_=Uuid)
    people = bindparam("people", expanding=True, type_=Uuid)
    closed_years = bindparam("closed", expanding=True, type_=Integer)
    groups = _grouped(rules)
    counts: list[Any] = []
    ranges: list[Any] = []
    heads: list[Any] = []
    own: list[_OwnRange] = []
    for (scope, independent), group in groups.items():
        low, high = _DEPTHS[scope]
        depth = [x.c.depth == low] if low == high else [x.c.depth >= low]
        still = {s for rule in group for s in rule.states & rule.when_closed_from}
        states = sorted({s for rule in group for s in rule.states}, key=lambda s: s.value)
        if independent:
            own.append(_OwnRange(
                low, high, frozenset(s.value for s in states), frozenset(s.value for s in still)
            ))
        for state in states:
            where = [x.c.ancestor_id == unit, x.c.state == state.value, *depth]
            if state not in still:
                where.append(x.c.year.not_in(closed_years))
            mine = select(subs.c.person_id).where(subs.c.dossier_id == x.c.dossier_id, subs.c.person_id.in_(people))
            ranges.append(and_(*where, *([~mine.exists()] if independent else [])))
            counts.append(select(func.count()).select_from(x).where(*where).scalar_subquery())
            heads.append(
                select(x.c.dossier_id, x.c.state_since_us)
                .where(*where, *([~mine.exists()] if independent else []))
                .order_by(x.c.state_since_us, x.c.dossier_id)
                .limit(bindparam("limit", type_=Integer))
                .subquery()
            )
    if len(groups) > 1 and ranges:
        # Rules of one role with different scopes could hold the same dossier twice (never in workflow v1): count
        # each dossier once, the slow way, the person's own submissions left out by the ranges themselves.
        counts = [select(func.count(func.distinct(x.c.dossier_id))).where(or_(*ranges)).scalar_subquery()]
        own = []
    if not heads:
        return select(*(counts or [literal(0)])), select(x.c.dossier_id).where(literal(False)), ()
    merged = union_all(*(select(h.c.dossier_id, h.c.state_since_us) for h in heads)).subquery()
    rows = (
        select(
            merged.c.dossier_id, merged.c.state_since_us, d.c.unit_id, d.c.unit_code, d.c.year, d.c.state,
            d.c.deadline, names.c.name,
        )
        .join(d, d.c.dossier_id == merged.c.dossier_id)
        .join(names, names.c.unit_id == d.c.unit_id, isouter=True)
        .order_by(merged.c.state_since_us, merged.c.dossier_id)
        # Twice the limit: a dossier in two ranges (different scopes) is shown once.
        .limit(bindparam("limit", type_=Integer) * (2 if len(groups) > 1 else 1))
    )
    return select(*counts), rows, tuple(own)


def unit_names(r: Reading, unit_ids: Iterable[UUID]) -> dict[UUID, str]:
    """The current names of a handful of units (a person's queues' own units)."""
    units = r.tables(UnitsProjection.name)["units"]
    statement = _statement(
        ("names", units),
        lambda: select(units.c.unit_id, units.c.name).where(units.c.unit_id.in_(bindparam("ids", expanding=True))),
    )
    wanted = sorted(set(unit_ids), key=str)
    return {row.unit_id: row.name for row in r.execute(statement, {"ids": wanted})} if wanted else {}


# --- queries: archive ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveItem:
    dossier_id: UUID
    unit_code: str
    year: int
    state: DossierState
    last_trigger: str
    last_acted_at: datetime
    unit_name: str = ""


@dataclass(frozen=True)
class Archive:
    total: int
    items: list[ArchiveItem]


def archive(
    store: ReadModelStore, person_id: UUID, limit: int = 50, offset: int = 0, *, reading: Reading | None = None
) -> Archive:
    """The dossiers the person moved from one state to another (themselves, or as a deputy), latest first."""
    with reading_of(store, reading) as r:
        dt = r.tables(DossiersProjection.name)
        names = r.tables(UnitsProjection.name)["units"]
        total, rows = _statement(("archive", dt["dossiers"], names), lambda: _archive_statements(dt, names))
        values = {"person": person_id, "limit": limit, "offset": offset}
        found = r.execute(rows, values).all()
        # A page cut short by the end of the list (and not past it) tells the total without counting it.
        if len(found) < limit and (found or not offset):
            count = offset + len(found)
        else:
            count = r.execute(total, values).scalar_one()
    return Archive(
        int(count),
        [
            ArchiveItem(
                x.dossier_id, x.unit_code, x.year, DossierState(x.state), x.trigger,
                cast(datetime, from_micros(x.at_us)), x.name or "",
            )
            for x in found
        ],
    )


def _archive_statements(dt: dict[str, Table], names: Table) -> tuple[Any, Any]:
    d, s = dt["dossiers"], dt["dossier_states"]
    acted = (
        select(s.c.dossier_id, func.max(s.c.position).label("last"))
        .where(s.c.actor_id == bindparam("person", type_=Uuid))
        .group_by(s.c.dossier_id)
        .subquery()
    )
    total = select(func.count()).select_from(acted)
    rows = (
        select(d.c.dossier_id, d.c.unit_code, d.c.year, d.c.state, s.c.trigger, s.c.at_us, names.c.name)
        .select_from(acted)
        .join(s, and_(s.c.dossier_id == acted.c.dossier_id, s.c.position == acted.c.last))
        .join(d, d.c.dossier_id == acted.c.dossier_id)
        .join(names, names.c.unit_id == d.c.unit_id, isouter=True)
        .order_by(acted.c.last.desc())
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )
    return total, rows


# --- queries: the people, for the administration pages ---------------------------------------------


@dataclass(frozen=True)
class PersonRow:
    """A registered person, and the units any of their grants was ever held over (for an administrator's scope)."""

    person_id: UUID
    username: str
    full_name: str
    grant_units: frozenset[UUID]


def people(store: ReadModelStore) -> list[PersonRow]:
    """Every registered person, by username, with the units of their grants (valid, ended or revoked)."""
    t = store.live_tables(AccessProjection.name)
    p, g = t["persons"], t["grants"]
    with store.engine.connect() as conn:
        units: dict[UUID, set[UUID]] = {}
        for r in conn.execute(select(g.c.person_id, g.c.unit_id)):
            units.setdefault(r.person_id, set()).add(r.unit_id)
        found = conn.execute(select(p).order_by(p.c.username)).all()
    return [PersonRow(r.person_id, r.username, r.full_name, frozenset(units.get(r.person_id, ()))) for r in found]
