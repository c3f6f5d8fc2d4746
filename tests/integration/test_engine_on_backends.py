from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.dossier import Dossier
from domain.errors import ConcurrencyConflict
from domain.values import Answer, Classification, DossierState, Grade
from tests.application.conftest import World, build_world
from tests.application.helpers import decided, draft, endorsed
from tests.conftest import Backend
from workflow.engine import Engine


@pytest.fixture
def world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


def test_a_committee_and_its_cells_are_decided_and_the_chain_verifies(world: World, backend: Backend) -> None:
    decided(world, "cell-a", Classification.GOOD, four_good=True)
    decided(world, "cell-b", Classification.GOOD, four_good=True)
    committee = endorsed(world, "committee", Classification.GOOD)
    world.engine.approve(world.district_approver, committee)

    dossier = world.engine.dossier(committee)
    assert (dossier.state, dossier.level, dossier.four_good) == (DossierState.APPROVED, Classification.GOOD, True)
    assert world.engine.recompute_decision(committee).matches
    report = world.engine.verify()
    assert report.ok, report.first_break
    stored = backend.raw_sql(f"SELECT COUNT(*) FROM {backend.events_table}")[0][0]
    assert report.events_checked == stored >= 50


def test_two_engines_writing_the_same_dossier_version_one_wins_and_nothing_is_lost(
    world: World, backend: Backend
) -> None:
    did = draft(world, "treasury")
    other = Engine(dict(backend.env), clock=world.clock)
    try:
        mine, theirs = world.engine.dossier(did), other.dossier(did)
        for dossier, grade in ((mine, Grade.EXCELLENT), (theirs, Grade.AVERAGE)):
            dossier.record_answers(
                world.engine.workflow, answers={"leadership_of_tasks": Answer(grade=grade)}, facts={},
                actor=world.secretary("treasury"), timestamp=world.clock(),
            )
        before = backend.raw_sql(f"SELECT COUNT(*) FROM {backend.events_table}")[0][0]
        world.engine._save(mine)
        with pytest.raises(ConcurrencyConflict, match="Reload"):
            other._save(theirs)
        after = backend.raw_sql(f"SELECT COUNT(*) FROM {backend.events_table}")[0][0]
        assert after == before + 1
        # The loser retries on the new state and succeeds.
        other.record_answers(
            world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.AVERAGE)}
        )
        assert world.engine.dossier(did).answers["leadership_of_tasks"].grade is Grade.AVERAGE
        assert world.engine.verify().ok
    finally:
        other.close()


def _replayed(events: list[Any]) -> Dossier:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, Dossier)
    return aggregate


def test_a_long_history_is_snapshotted_and_the_snapshot_gives_the_same_dossier(world: World) -> None:
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    grades = [Grade.GOOD, Grade.EXCELLENT]
    for n in range(30):
        world.engine.record_answers(
            secretary, did, answers={"leadership_of_tasks": Answer(grade=grades[n % 2], comment=f"lần {n}")}
        )
    world.engine.submit(secretary, did)
    assert world.engine.snapshots is not None
    snapshots = list(world.engine.snapshots.get(did))
    assert snapshots, "a dossier past the snapshot interval has a snapshot"

    from_snapshot = world.engine.dossier(did)
    from_events = _replayed(list(world.engine.events.get(did)))
    assert from_snapshot.version == from_events.version
    for field in ("state", "round", "answers", "facts", "evidence", "submitted_content", "submitters", "level"):
        assert getattr(from_snapshot, field) == getattr(from_events, field), field
    assert from_snapshot.state is DossierState.SUBMITTED


def test_enums_dates_and_decimals_come_back_as_themselves_after_a_reload(world: World, backend: Backend) -> None:
    did = decided(world, "treasury", Classification.GOOD)
    fresh = Engine(dict(backend.env), clock=world.clock)
    try:
        events = list(fresh.events.get(did))
        approved = events[-1]
        assert approved.level is Classification.GOOD
        assert approved.from_state is DossierState.ENDORSED
        assert isinstance(approved.evaluation["inputs"]["facts"]["task_results"], Grade)
        unit = fresh.unit(world.units["treasury"])
        assert unit.established_on.isoformat() == "2010-01-01"
        assert unit.name == "Chi bộ Kho bạc Nhà nước"
    finally:
        fresh.close()


def test_verify_names_the_decision_that_was_edited_in_the_database(world: World, backend: Backend) -> None:
    did = decided(world, "treasury", Classification.GOOD)
    approved = list(world.engine.events.get(did))[-1]
    rows = backend.raw_sql(
        f"SELECT {backend.notification_id} FROM {backend.events_table} "
        "WHERE originator_id = ? AND originator_version = ?",
        (did.hex if backend.name == "sqlite" else did, approved.originator_version),
    )
    (notification_id,) = rows[0]
    state_column = "state"
    if backend.name == "sqlite":
        backend.raw_sql(
            f"UPDATE {backend.events_table} SET {state_column} = CAST(REPLACE(CAST({state_column} AS TEXT), "
            "'\"good\"', '\"excellent\"') AS BLOB) WHERE rowid = ?",
            (notification_id,),
        )
    else:
        backend.raw_sql(
            f"UPDATE {backend.events_table} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
            "'\"good\"', '\"excellent\"'), 'UTF8') WHERE notification_id = ?",
            (notification_id,),
        )
    report = world.engine.verify()
    assert not report.ok
    assert report.first_break is not None
    assert report.first_break.notification_id == notification_id
