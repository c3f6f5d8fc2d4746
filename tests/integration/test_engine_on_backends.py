from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from domain.decisions import DecisionAct
from domain.dossier import Dossier
from domain.errors import AlreadyExists, ConcurrencyConflict
from domain.values import Answer, Classification, DossierState, Grade
from tests.application.conftest import World, build_world
from tests.application.helpers import at_one_instant, decided, draft, endorsed
from tests.conftest import Backend
from workflow.engine import DecisionRequest, Engine


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


def test_a_decision_act_is_stored_and_read_back_by_another_engine_and_its_number_stays_taken(
    world: World, backend: Backend
) -> None:
    cells = [endorsed(world, "cell-a"), endorsed(world, "cell-b")]
    world.engine.decide_list(
        world.committee_approver, [DecisionRequest(cells[0])], act_number="125-QĐ/ĐU", act_date=date(2024, 10, 30)
    )
    other = Engine(dict(backend.env), clock=world.clock)
    try:
        assert other.dossier(cells[0]).decision["act"] == DecisionAct("125-QĐ/ĐU", date(2024, 10, 30))
        with pytest.raises(AlreadyExists, match="125-qđ/đu is already taken"):
            other.decide_list(world.committee_approver, [DecisionRequest(cells[1])], act_number="125-qđ/đu")
        assert other.dossier(cells[1]).state is DossierState.ENDORSED
    finally:
        other.close()


def test_two_decision_lists_given_one_number_at_one_instant_one_is_refused(world: World) -> None:
    cells = [endorsed(world, "cell-a"), endorsed(world, "cell-b")]
    outcomes = at_one_instant(world, [
        lambda: world.engine.decide_list(world.committee_approver, [DecisionRequest(cells[0])], act_number="9-QĐ"),
        lambda: world.engine.decide_list(world.committee_approver, [DecisionRequest(cells[1])], act_number="9-QĐ"),
    ])
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyExists", "NoneType"]
    states = sorted(world.engine.dossier(d).state.value for d in cells)
    assert states == sorted([DossierState.APPROVED.value, DossierState.ENDORSED.value])
