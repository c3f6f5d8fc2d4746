"""The statistics read model: counts per superior unit and everything below it, the targets, the quota meters."""

from __future__ import annotations

import random

import pytest

from domain.ids import dossier_id
from domain.values import Classification, UnitKind
from projections.log import RecorderLog
from projections.models.statistics import (
    CommitteesBelow,
    StatisticsProjection,
    period_totals,
    quota_meters,
    statistics,
)
from projections.runner import Runner
from projections.store import ReadModelStore, make_engine
from tests.conftest import Backend
from tests.read_side_checks import PrefixLog, dump, fed
from tests.read_side_season import Season, expected_figures, play_season

YEAR = 2024


@pytest.fixture(scope="module")
def season() -> Season:
    return play_season()


def _dump(store: ReadModelStore) -> dict[str, list[tuple[object, ...]]]:
    return dump(store, "statistics", counters=("counts",))


def _nonzero(figures: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in figures.items() if v}


def _check_against_the_engine(store: ReadModelStore, season: Season) -> None:
    world = season.world
    for code in ("district", "committee", "committee-2", "cell-a"):
        wanted = expected_figures(world, code)
        found = statistics(store, world.units[code], YEAR)
        assert _nonzero(dict(found.by_state)) == wanted["by_state"], code
        assert _nonzero(dict(found.by_level)) == wanted["by_level"], code
        assert (found.cells, found.four_good_cells) == (wanted["cells"], wanted["four_good_cells"]), code
        assert found.dossiers == sum(wanted["by_state"].values()), code


def test_the_counts_below_every_unit_are_those_of_the_engines_own_dossiers(season: Season) -> None:
    _check_against_the_engine(fed(season.world.engine, StatisticsProjection()), season)


def test_the_district_sees_states_levels_and_the_four_good_share_of_its_cells(season: Season) -> None:
    store = fed(season.world.engine, StatisticsProjection())
    found = statistics(store, season.world.units["district"], YEAR)
    # 10 grassroots cells of the group, 4 party cells, the treasury, the young cell, and the committee's own dossier.
    assert found.dossiers == 17
    assert (found.by_state["approved"], found.by_state["submitted"], found.by_state["not_rated"]) == (14, 2, 1)
    assert found.by_level == {"excellent": 2, "good": 11, "completed": 1, "not_completed": 0, "not_rated": 1}
    assert found.by_kind[UnitKind.GRASSROOTS_COMMITTEE.value] == 1
    assert found.decided == 15
    assert (found.cells, found.four_good_cells) == (16, 11)
    assert found.four_good_share == pytest.approx(11 / 16)
    # The committee was recognized four-good, until re-opening its cell suspended the recognition.
    assert found.four_good_committees == 0


def test_a_re_opened_and_re_classified_cell_counts_once_at_its_new_level(season: Season) -> None:
    store = fed(season.world.engine, StatisticsProjection())
    found = statistics(store, season.world.units["committee"], YEAR)
    assert (found.by_level["completed"], found.by_level["good"]) == (1, 1)
    assert found.four_good_cells == 1  # cell-b; cell-a lost its recognition with its level


def test_each_committee_is_measured_against_the_pilot_and_model_cell_targets(season: Season) -> None:
    store = fed(season.world.engine, StatisticsProjection())
    committee = statistics(store, season.world.units["committee"], YEAR)
    pilot, model, all_good = committee.targets
    assert (pilot.figure, pilot.of, pilot.met) == (2, 2, True)
    assert (model.figure, model.of, model.met) == (1, 2, True)  # 50% recognized four-good, at least 20% wanted
    assert (all_good.figure, all_good.of, all_good.met) == (1, 2, False)  # cell-a re-classified completed
    other = statistics(store, season.world.units["committee-2"], YEAR)
    pilot, model, all_good = other.targets
    assert (pilot.figure, model.figure, all_good.figure) == (2, 0, 1)
    assert (pilot.met, model.met, all_good.met) == (True, False, False)
    district = statistics(store, season.world.units["district"], YEAR)
    assert district.committees_below == CommitteesBelow(committees=2, pilot_met=2, model_met=1, all_good_met=0)
    assert district.targets == ()  # its own cells are grassroots cells: no committee's pilot


def test_a_moved_cell_takes_its_dossier_to_its_new_committee(season: Season) -> None:
    store = fed(season.world.engine, StatisticsProjection())
    world = season.world
    assert statistics(store, world.units["committee"], YEAR).cells == 2
    moved_to = statistics(store, world.units["committee-2"], YEAR)
    assert (moved_to.cells, moved_to.by_level["good"]) == (2, 1)


def test_the_quota_meter_shows_the_figures_the_decision_list_recorded(season: Season) -> None:
    store = fed(season.world.engine, StatisticsProjection())
    world = season.world
    (agencies, *others) = [m for m in quota_meters(store, world.units["district"], YEAR) if m.group == "agencies"]
    assert not others
    engine_figures = world.engine.quota(world.units["district"], YEAR, "agencies")
    assert (agencies.good_or_better, agencies.excellent, agencies.allowed) == (
        engine_figures.good_or_better, engine_figures.excellent, engine_figures.cap,
    ) == (10, 2, 2)
    assert (agencies.recorded, agencies.remaining, agencies.over) == (True, 0, False)
    for meter in quota_meters(store, world.units["committee"], YEAR):
        figures = world.engine.quota(world.units["committee"], YEAR, meter.group)
        assert (meter.good_or_better, meter.excellent, meter.allowed) == (
            figures.good_or_better, figures.excellent, figures.cap,
        )


def test_an_endorsed_proposal_counts_in_the_base_before_any_decision() -> None:
    from tests.application.conftest import build_world
    from tests.application.helpers import endorsed

    world = build_world()
    endorsed(world, "cell-a", Classification.GOOD)
    store = fed(world.engine, StatisticsProjection())
    (meter,) = quota_meters(store, world.units["committee"], YEAR)
    assert (meter.good_or_better, meter.excellent, meter.allowed, meter.recorded) == (1, 0, 0, False)
    assert quota_meters(store, world.units["district"], YEAR) == ()


def test_an_unknown_unit_or_year_has_nothing_below_it(season: Season) -> None:
    store = fed(season.world.engine, StatisticsProjection())
    found = statistics(store, season.world.units["district"], 2031)
    assert (found.dossiers, found.four_good_share, found.targets) == (0, None, ())


@pytest.mark.parametrize("page_size", [1, 7])
def test_pages_of_any_size_give_the_same_rows(season: Season, page_size: int) -> None:
    whole = _dump(fed(season.world.engine, StatisticsProjection(), page_size=500))
    assert _dump(fed(season.world.engine, StatisticsProjection(), page_size=page_size)) == whole


def test_fed_live_a_few_events_at_a_time_it_equals_the_read_model_rebuilt_from_scratch(season: Season) -> None:
    engine = season.world.engine
    log = RecorderLog(engine.recorder, engine.mapper)
    store = ReadModelStore(make_engine("sqlite://"), [StatisticsProjection()])
    shuffler = random.Random(6)
    position = 0
    while position < log.head():
        position = min(log.head(), position + shuffler.randint(1, 40))
        Runner(store, PrefixLog(log, position), page_size=shuffler.choice([3, 11, 500])).catch_up()
    assert _dump(store) == _dump(fed(engine, StatisticsProjection()))


def test_on_both_backends_the_read_model_matches_the_engine(backend: Backend) -> None:
    season = play_season(backend.env)
    try:
        url = "sqlite:///" + backend.location + ".read.sqlite"
        if backend.name == "postgres":
            url = backend.location.replace("postgresql://", "postgresql+psycopg://", 1)
        store = fed(season.world.engine, StatisticsProjection(), url=url)
        _check_against_the_engine(store, season)
        assert _dump(store) == _dump(fed(season.world.engine, StatisticsProjection()))
        store.engine.dispose()
    finally:
        season.world.engine.close()


def _engine_totals(season: Season, unit_ids: list[object] | None) -> tuple[int, dict[str, int], dict[str, int], int]:
    """Every 2024 dossier of the given units and everything below them (None: all), counted from the engine."""
    engine = season.world.engine

    def inside(uid: object) -> bool:
        current: object = uid
        while current is not None:
            if unit_ids is None or current in unit_ids:
                return True
            current = engine.unit(current).parent_id  # type: ignore[arg-type]
        return False

    by_state: dict[str, int] = {}
    by_level: dict[str, int] = {}
    four_good = 0
    for uid in season.world.units.values():
        did = dossier_id(uid, YEAR)
        if not inside(uid) or not engine._exists(did):
            continue
        dossier = engine.dossier(did)
        by_state[dossier.state.value] = by_state.get(dossier.state.value, 0) + 1
        final = dossier.state.value in ("approved", "not_rated")
        if final and dossier.level is not None:
            by_level[dossier.level.value] = by_level.get(dossier.level.value, 0) + 1
        four_good += int(final and bool(dossier.four_good))
    return sum(by_state.values()), by_state, by_level, four_good


def test_the_totals_of_a_period_count_every_dossier_once_the_top_units_own_included(season: Season) -> None:
    store = fed(season.world.engine, StatisticsProjection())
    engine = season.world.engine
    tops = [uid for uid in season.world.units.values() if engine.unit(uid).parent_id is None]
    found = period_totals(store, YEAR, tops)
    dossiers, by_state, by_level, four_good = _engine_totals(season, None)
    assert (found.dossiers, found.by_state, found.by_level, found.four_good) == (
        dossiers, by_state, by_level, four_good
    )
    assert found.dossiers > 15
    committee = season.world.units["committee"]
    below = period_totals(store, YEAR, [committee])
    dossiers, by_state, by_level, four_good = _engine_totals(season, [committee])
    assert (below.dossiers, below.by_state, below.by_level, below.four_good) == (
        dossiers, by_state, by_level, four_good
    )
    # The committee's own dossier counts here, not in the statistics "below" it.
    assert below.dossiers == statistics(store, committee, YEAR).dossiers + 1
