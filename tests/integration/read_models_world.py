"""A season played through the engine for the read models' tests, and the engine-side truths they must agree with.

Beside `build_world`'s units and people it renames, registers, moves (a subtree) and dissolves units, revokes a
grant and grants a successor, delegates an approver's grant, returns and resubmits a dossier, extends the period's
review and decision deadlines, has a person who holds two roles submit what they could otherwise review, closes the
period and re-classifies a decided dossier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import select

from domain.actor import Actor
from domain.errors import NotAuthorized, NotFound
from domain.ids import person_id
from domain.person import Person
from domain.values import Classification, Role, UnitKind
from projections.core import Projection
from projections.log import RecorderLog
from projections.models.access import NOT_WAITING, AccessProjection, WaitingRule, waiting_rules_from
from projections.models.dossiers import DossiersProjection
from projections.models.units import UnitsProjection
from projections.runner import Runner
from projections.store import ReadModelStore, make_engine, sqlite_url
from tests.application.conftest import World
from tests.application.helpers import draft
from tests.conftest import Backend
from workflow.authorization import authorize
from workflow.clock import local_date
from workflow.spec import WorkflowSpec, waiting_rule_tuples


def rules_from_spec(spec: WorkflowSpec) -> tuple[WaitingRule, ...]:
    """The spec as plain data (the web layer does the same)."""
    return waiting_rules_from(waiting_rule_tuples(spec))


def open_store(backend: Backend, tmp_path: Path) -> ReadModelStore:
    """The read models beside the backend's events: their own SQLite file, or the same PostgreSQL database."""
    if backend.name == "sqlite":
        return ReadModelStore(make_engine(sqlite_url(tmp_path / "read-models.sqlite")), projections())
    rest = backend.location.split("://", 1)[1]
    return ReadModelStore(make_engine(f"postgresql+psycopg://{rest}"), projections())


def projections() -> list[Projection]:
    return [UnitsProjection(), DossiersProjection(), AccessProjection()]


def feed(store: ReadModelStore, world: World, page_size: int = 500) -> None:
    result = Runner(store, RecorderLog(world.engine.recorder, world.engine.mapper), page_size=page_size).catch_up()
    assert not result.failures, result.failures


def dump(store: ReadModelStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every live table of the store's read models, in a stable order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    engine: SqlEngine = store.engine
    with engine.connect() as conn:
        for name in store.projections:
            for key, table in store.live_tables(name).items():
                found[f"{name}.{key}"] = sorted((tuple(r) for r in conn.execute(select(table))), key=repr)
    return found


@dataclass
class Season:
    world: World
    dossiers: dict[str, UUID] = field(default_factory=dict)
    moments: list[datetime] = field(default_factory=list)
    closed_at: datetime | None = None
    reopened: UUID | None = None

    @property
    def engine(self) -> Any:
        return self.world.engine

    def mark(self) -> None:
        self.moments.append(self.world.clock.now)


def at(world: World, day: date, hour: int = 2) -> None:
    world.clock.set(datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC))


def play_season(world: World, after_step: Callable[[Season], None] = lambda season: None) -> Season:
    """The season, step by step; `after_step` runs after each, given the season so far (a live runner's catch-up,
    say, and checks of the read models against the engine at that point)."""
    season = Season(world)
    engine, admin, units = world.engine, world.admin, world.units

    def step() -> None:
        season.mark()
        after_step(season)

    # The hierarchy changes: a rename, a unit that comes and goes, a committee moved with its cell.
    engine.rename_unit(
        admin, units["cell-b"], name="Chi bộ Tổ dân phố 2 (sáp nhập)", effective_from=date(2024, 7, 1),
        reason="Quyết định 3-QĐ/ĐU",
    )
    for code, name, kind, parent, established in (
        ("cell-c", "Chi bộ Thôn Pạc Bo", UnitKind.PARTY_CELL, "committee", date(2012, 3, 1)),
        ("old-cell", "Chi bộ Đội 3", UnitKind.PARTY_CELL, "committee", date(2015, 5, 1)),
        ("zone", "Đảng bộ xã Nậm Chảy", UnitKind.GRASSROOTS_COMMITTEE, "district", date(2012, 1, 1)),
        ("zone-cell", "Chi bộ Bản Sả Hồ", UnitKind.PARTY_CELL, "zone", date(2012, 2, 1)),
    ):
        units[code] = engine.register_unit(
            admin, code=code, name=name, kind=kind, parent_id=units[parent], established_on=established
        ).value
    engine.dissolve_unit(admin, units["old-cell"], effective_from=date(2024, 8, 1), reason="Quyết định 12-QĐ/HU")
    engine.move_unit(
        admin, units["zone"], parent_id=units["committee"], effective_from=date(2024, 10, 15), reason="QĐ 7-QĐ/HU"
    )
    engine.move_unit(
        admin, units["cell-c"], parent_id=units["district"], effective_from=date(2024, 9, 1), reason="QĐ 5-QĐ/HU"
    )
    for code in ("cell-c", "zone-cell"):
        world.person(f"sec-{code}", f"Bí thư {code}", [(Role.SECRETARY, code)])
    # Someone who is a cell's secretary and a reviewer of its committee: never reviews what they submitted.
    world.person("dual", "Người hai vai", [(Role.SECRETARY, "cell-b"), (Role.REVIEWER, "committee")])
    world.person("deputy", "Phó Thường trực", [])
    step()

    at(world, date(2024, 11, 5))
    season.dossiers["cell-a"] = draft(world, "cell-a", Classification.GOOD)
    season.dossiers["cell-b"] = draft(world, "cell-b", Classification.GOOD)
    season.dossiers["treasury"] = draft(world, "treasury", Classification.GOOD)
    season.dossiers["committee"] = draft(world, "committee", Classification.GOOD)
    season.dossiers["zone-cell"] = draft(world, "zone-cell", Classification.GOOD)
    season.dossiers["cell-c"] = draft(world, "cell-c", Classification.GOOD)
    step()

    at(world, date(2024, 11, 10))
    engine.submit(world.secretary("cell-a"), season.dossiers["cell-a"])
    engine.submit(world.actor("dual", Role.SECRETARY, "cell-b"), season.dossiers["cell-b"])
    engine.submit(world.secretary("treasury"), season.dossiers["treasury"])
    engine.submit(world.secretary("zone-cell"), season.dossiers["zone-cell"])
    engine.withdraw(world.secretary("cell-c"), season.dossiers["cell-c"], reason="Chưa đủ biên bản")
    step()

    at(world, date(2024, 11, 12))
    engine.return_to_unit(world.committee_reviewer, season.dossiers["cell-a"], reason="Thiếu biên bản họp")
    step()

    # The committee's reviewer leaves; a successor takes over. The district approver delegates for the season.
    at(world, date(2024, 11, 20))
    reviewer = engine.person(person_id("committee-reviewer"))
    (grant,) = reviewer.grants.values()
    engine.revoke_role(admin, reviewer.id, grant.grant_id, on=date(2024, 11, 20), reason="Chuyển công tác")
    world.person("committee-reviewer-2", "Ban Tổ chức Đảng ủy (mới)", [])
    engine.grant_role(
        admin, person_id("committee-reviewer-2"), role=Role.REVIEWER, unit_id=units["committee"],
        valid_from=date(2024, 11, 20), basis="Quyết định 45-QĐ/ĐU",
    )
    approver = engine.person(person_id("district-approver"))
    (approver_grant,) = approver.grants.values()
    engine.delegate(
        admin, approver.id, approver_grant.grant_id, deputy_id=person_id("deputy"), valid_from=date(2024, 11, 20),
        valid_to=date(2025, 2, 1), legal_basis="Quyết định 99-QĐ/HU ủy quyền",
    )
    step()

    # A cell moved, with its dossier waiting for review: its reviewer is now the committee it moved under.
    at(world, date(2024, 11, 22))
    engine.move_unit(
        admin, units["cell-b"], parent_id=units["zone"], effective_from=date(2024, 11, 22), reason="QĐ 9-QĐ/ĐU"
    )
    world.person("zone-reviewer", "Ban Tổ chức Đảng ủy xã", [(Role.REVIEWER, "zone")])
    step()

    at(world, date(2024, 11, 25))
    # A submission after a return is a resubmission (round 2).
    engine.submit(world.secretary("cell-a"), season.dossiers["cell-a"])
    engine.endorse(world.district_reviewer, season.dossiers["treasury"])
    step()

    at(world, date(2024, 12, 1))
    engine.endorse(world.actor("committee-reviewer-2", Role.REVIEWER, "committee"), season.dossiers["cell-a"])
    deputy = world.actor("deputy", Role.APPROVER, "district", on_behalf_of="district-approver")
    engine.approve(deputy, season.dossiers["treasury"])
    step()

    # The province gives the review and the decision more time: the waiting dossiers' deadlines follow.
    at(world, date(2024, 12, 10))
    engine.change_deadlines(
        admin, 2024, deadlines={"review": date(2024, 12, 28), "decision": date(2025, 1, 20)},
        reason="Công văn 12-CV/TU gia hạn",
    )
    step()

    at(world, date(2024, 12, 20))
    engine.approve(world.committee_approver, season.dossiers["cell-a"])
    step()

    at(world, date(2025, 2, 10))
    engine.close_period(admin, 2024, reason="Kết thúc đợt đánh giá 2024")
    season.closed_at = world.clock.now
    step()

    # A defect found after the season: the approver re-opens and re-classifies the treasury, in the closed period.
    at(world, date(2025, 3, 3))
    engine.reopen(world.district_approver, season.dossiers["treasury"], legal_basis="Kết luận kiểm tra 3-KL/UBKT")
    season.reopened = season.dossiers["treasury"]
    step()

    at(world, date(2025, 3, 10))
    engine.approve(
        world.district_approver, season.dossiers["treasury"], level=Classification.COMPLETED,
        reason="Kết luận kiểm tra 3-KL/UBKT: hạ mức",
    )
    step()
    return season


# --- what the engine says, to compare with ---------------------------------------------------------


def people(world: World) -> list[Person]:
    return [world.engine.person(pid) for pid in world.engine.aggregate_ids(Person, "Registered")]


def authorities_on(world: World, day: date) -> list[Actor]:
    """Every actor a person can claim to be on `day`: their grants valid then, and delegations to them."""
    found = []
    everyone = people(world)
    for person in everyone:
        for grant in person.grants_on(day):
            found.append(Actor(person.id, grant.role, grant.unit_id))
    for holder in everyone:
        for delegation in holder.delegations.values():
            grant = holder.grants[str(delegation.grant_id)]
            if delegation.valid_on(day) and grant.valid_on(day):
                found.append(Actor(delegation.deputy_id, grant.role, grant.unit_id, holder.id))
    return found


def engine_who_could_act(
    world: World, spec: WorkflowSpec, did: UUID, moment: datetime, closed_at: datetime | None
) -> set[tuple[UUID, UUID, UUID | None, str]]:
    """(person, grant, delegation, trigger) for everyone the engine's own authorization lets act at `moment`."""
    engine = world.engine
    try:
        dossier = engine.dossier_as_of(did, moment)
    except NotFound:
        return set()
    day = local_date(moment)
    closed = closed_at is not None and moment >= closed_at
    unit = engine.unit(dossier.unit_id)
    found = set()
    everyone = people(world)
    candidates = [Actor(p.id, g.role, g.unit_id) for p in everyone for g in p.grants.values()]
    candidates += [
        Actor(d.deputy_id, p.grants[str(d.grant_id)].role, p.grants[str(d.grant_id)].unit_id, p.id)
        for p in everyone
        for d in p.delegations.values()
    ]
    for actor in candidates:
        for trigger in spec.triggers_from(dossier.state):
            if spec.locked(dossier.state, trigger, closed):
                continue
            try:
                authority = authorize(
                    actor, spec.rule(trigger), unit, day, engine.person, engine.unit, dossier.submitters
                )
            except NotAuthorized:
                continue
            found.add((actor.person_id, authority.grant_id, authority.delegation_id, trigger))
    return found


def waiting_for(world: World, actor: Actor, did: UUID) -> bool:
    return bool({a.trigger for a in world.engine.available_actions(actor, did)} - NOT_WAITING)
