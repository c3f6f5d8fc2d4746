from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import event, select

from domain.errors import NotFound
from domain.values import Classification, DossierState
from projections.models.dossiers import (
    STEP_OF_STATE,
    ClassificationRow,
    classification_history,
    classifications,
    dossier_row,
    dossier_state_on,
    list_dossiers,
    state_history,
)
from projections.store import ReadModelStore, make_engine
from tests.application.conftest import World, build_world
from tests.application.helpers import endorsed
from tests.conftest import Backend
from tests.integration.read_models_world import Season, dump, feed, open_store, play_season, projections
from workflow.clock import end_of_day

Played = tuple[World, Season, ReadModelStore]


@pytest.fixture(scope="module")
def played() -> Played:
    world = build_world()
    season = play_season(world)
    store = ReadModelStore(make_engine("sqlite://"), projections())
    feed(store, world)
    return world, season, store


COMPARED = (
    "unit_id", "year", "rule_set_id", "workflow_version", "recognition_model_id", "state", "round",
    "suggested_level", "proposed_level", "final_level", "four_good", "recognition_suspended", "submitters",
)


def engine_view(world: World, did: UUID) -> dict[str, Any]:
    d = world.engine.dossier(did)
    recorded = (d.decision or {}).get("evaluation") or (d.endorsement or {}).get("evaluation") or {}
    return {
        "unit_id": d.unit_id,
        "year": d.year,
        "rule_set_id": d.rule_set_id,
        "workflow_version": d.workflow_version,
        "recognition_model_id": d.recognition_model_id,
        "state": d.state,
        "round": d.round,
        "suggested_level": Classification(recorded["level"]) if recorded else None,
        "proposed_level": d.proposed_level,
        "final_level": d.level,
        "four_good": d.four_good,
        "recognition_suspended": d.recognition_suspended is not None,
        "submitters": tuple(UUID(p) for p in d.submitters),
    }


def read_view(store: ReadModelStore, did: UUID) -> dict[str, Any]:
    row = dossier_row(store, did)
    assert row is not None
    return {key: getattr(row, key) for key in COMPARED}


def test_every_dossier_row_says_what_the_engine_says(played: Played) -> None:
    world, season, store = played
    for did in season.dossiers.values():
        assert read_view(store, did) == engine_view(world, did)


def test_a_returned_and_resubmitted_dossier_shows_its_rounds_and_every_step(played: Played) -> None:
    _, season, store = played
    did = season.dossiers["cell-a"]
    steps = [(c.trigger, c.to_state) for c in state_history(store, did)]
    assert steps == [
        ("open", DossierState.DRAFT),
        ("submit", DossierState.SUBMITTED),
        ("return_to_unit", DossierState.RETURNED_TO_UNIT),
        ("resubmit", DossierState.SUBMITTED),
        ("endorse", DossierState.ENDORSED),
        ("approve", DossierState.APPROVED),
    ]
    row = dossier_row(store, did)
    assert row is not None
    assert row.round == 2
    assert row.last_role == "approver"
    assert row.decided_at is not None
    assert row.submitted_at is not None
    assert row.opened_at < row.submitted_at < row.decided_at
    assert row.waiting_step is None


def test_the_state_on_any_moment_is_the_state_of_the_engines_dossier_then(played: Played) -> None:
    world, season, store = played
    moments = [*season.moments, *(end_of_day(date(2024, 11, 1) + timedelta(days=n)) for n in range(0, 140, 3))]
    for did in season.dossiers.values():
        for moment in moments:
            try:
                expected: DossierState | None = world.engine.dossier_as_of(did, moment).state
            except NotFound:
                expected = None
            assert dossier_state_on(store, did, moment) == expected, (did, moment)


def test_a_re_classification_replaces_the_classification_and_the_history_keeps_the_first(played: Played) -> None:
    world, season, store = played
    current = {c.unit_id: c for c in classifications(store, 2024)}
    treasury = current[world.units["treasury"]]
    assert (treasury.level, treasury.four_good, treasury.reopened) == (Classification.COMPLETED, False, False)
    assert treasury.reason.startswith("Kết luận kiểm tra")
    assert treasury.rule_set_id == "QD124-2023"
    assert current[world.units["cell-a"]].level is Classification.GOOD
    history = classification_history(store, world.units["treasury"], 2024)
    assert [(h.event, h.level) for h in history] == [
        ("Approved", Classification.GOOD),
        ("Reopened", Classification.GOOD),
        ("Approved", Classification.COMPLETED),
    ]
    assert history[0].at < history[1].at < history[2].at
    engine = world.engine.dossier(season.dossiers["treasury"])
    assert (treasury.level, treasury.four_good) == (engine.level, engine.four_good)


def test_a_re_opened_classification_is_marked_until_it_is_decided_again() -> None:
    world = build_world()
    store = ReadModelStore(make_engine("sqlite://"), projections())
    seen: list[list[ClassificationRow]] = []

    def after_step(_: Season) -> None:
        feed(store, world, page_size=7)
        seen.append(classifications(store, 2024))

    season = play_season(world, after_step)
    reopened_step = season.moments.index(max(m for m in season.moments if m < season.moments[-1]))
    treasury = {c.unit_id: c for c in seen[reopened_step]}[world.units["treasury"]]
    assert (treasury.level, treasury.reopened) == (Classification.GOOD, True)


def test_dossiers_below_a_unit_follow_the_hierarchy_as_it_stands_now(played: Played) -> None:
    world, season, store = played
    page = list_dossiers(store, year=2024, unit_below=world.units["committee"])
    assert page.total == 4
    assert {r.unit_code for r in page.rows} == {"committee", "cell-a", "cell-b", "zone-cell"}
    assert [r.unit_code for r in page.rows] == sorted(r.unit_code for r in page.rows)
    everything = list_dossiers(store, year=2024)
    assert everything.total == len(season.dossiers)
    assert list_dossiers(store, year=2023).total == 0


def test_pages_of_a_listing_add_up_to_the_whole_listing(played: Played) -> None:
    _, _, store = played
    whole = list_dossiers(store, limit=100).rows
    pieces = [r for offset in range(0, len(whole), 4) for r in list_dossiers(store, offset=offset, limit=4).rows]
    assert pieces == whole
    assert {p.total for p in (list_dossiers(store, offset=o, limit=4) for o in (0, 4))} == {len(whole)}


@pytest.mark.parametrize("day", [date(2024, 12, 15), date(2024, 12, 16), date(2024, 12, 26), date(2025, 1, 16)])
def test_overdue_is_the_periods_deadline_for_the_step_each_dossier_waits_for(played: Played, day: date) -> None:
    world, season, store = played
    period = world.engine.period(2024)
    expected = set()
    for did in season.dossiers.values():
        step = STEP_OF_STATE.get(world.engine.dossier(did).state)
        if step is not None and period.is_late(step, day):
            expected.add(did)
    assert {r.dossier_id for r in list_dossiers(store, overdue_on=day).rows} == expected


def _deadlines_agree(world: World, season: Season, store: ReadModelStore) -> None:
    period = world.engine.period(2024)
    for did in season.dossiers.values():
        row = dossier_row(store, did)
        assert row is not None
        step = STEP_OF_STATE.get(world.engine.dossier(did).state)
        assert (row.waiting_step, row.deadline) == (step, period.deadlines.get(step) if step else None)


def test_each_dossiers_deadline_is_its_periods_deadline_now_after_the_period_moved_it(played: Played) -> None:
    world, season, store = played
    assert world.engine.period(2024).deadlines["review"] == date(2024, 12, 28)  # moved from 25 December
    _deadlines_agree(world, season, store)
    waiting_review = [r for r in list_dossiers(store, year=2024).rows if r.waiting_step == "review"]
    assert waiting_review
    assert {r.deadline for r in waiting_review} == {date(2024, 12, 28)}


def test_a_state_filter_keeps_only_those_states(played: Played) -> None:
    world, season, store = played
    wanted = {DossierState.SUBMITTED, DossierState.WITHDRAWN}
    found = list_dossiers(store, states=wanted)
    assert {r.dossier_id for r in found.rows} == {
        did for did in season.dossiers.values() if world.engine.dossier(did).state in wanted
    }


@pytest.mark.parametrize("page_size", [1, 7, 500])
def test_pages_of_any_size_give_the_same_rows(played: Played, page_size: int) -> None:
    world, _, store = played
    other = ReadModelStore(make_engine("sqlite://"), projections())
    feed(other, world, page_size=page_size)
    assert dump(other) == dump(store)


@pytest.fixture
def backend_world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


def test_the_dossiers_read_model_agrees_with_the_engine_on_both_backends(
    backend_world: World, backend: Backend, tmp_path: Path
) -> None:
    season = play_season(backend_world)
    store = open_store(backend, tmp_path)
    try:
        feed(store, backend_world, page_size=7)
        for did in season.dossiers.values():
            assert read_view(store, did) == engine_view(backend_world, did)
            for moment in season.moments:
                try:
                    expected: DossierState | None = backend_world.engine.dossier_as_of(did, moment).state
                except NotFound:
                    expected = None
                assert dossier_state_on(store, did, moment) == expected
        assert list_dossiers(store, year=2024, unit_below=backend_world.units["committee"]).total == 4
        _deadlines_agree(backend_world, season, store)
        # Below a unit the listing reads the scope rows, which the deadline change rewrote too.
        period, day = backend_world.engine.period(2024), date(2024, 12, 27)
        late = {
            did for did in season.dossiers.values()
            if (step := STEP_OF_STATE.get(backend_world.engine.dossier(did).state)) and period.is_late(step, day)
        }
        below = list_dossiers(store, unit_below=backend_world.units["district"], overdue_on=day)
        assert {r.dossier_id for r in below.rows} == late
        history = classification_history(store, backend_world.units["treasury"], 2024)
        assert [h.level for h in history] == [Classification.GOOD, Classification.GOOD, Classification.COMPLETED]
    finally:
        store.engine.dispose()


def test_a_change_of_state_reads_the_dossiers_scope_rows_in_one_query_and_no_unit_above_it(tmp_path: Path) -> None:
    world = build_world()
    did = endorsed(world, "cell-a")
    engine = make_engine(f"sqlite:///{tmp_path / 'read-models.sqlite'}")
    statements: list[str] = []

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    store = ReadModelStore(engine, projections())
    feed(store, world)
    scope = store.live_tables("dossiers")["dossier_scope"]
    with engine.connect() as conn:
        before = sorted((r.depth, r.ancestor_id) for r in conn.execute(select(scope).where(scope.c.dossier_id == did)))
    statements.clear()

    world.engine.approve(world.committee_approver, did)
    feed(store, world)

    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert [s for s in reads if "dossier_units" in s] == []
    assert len([s for s in reads if "dossier_scope" in s]) == 1
    with engine.connect() as conn:
        after = conn.execute(select(scope).where(scope.c.dossier_id == did)).all()
    # The same units above it (the cell, its committee, the district...), each row now in the decided state.
    assert sorted((r.depth, r.ancestor_id) for r in after) == before
    assert len(before) >= 3
    assert {r.state for r in after} == {DossierState.APPROVED.value}
