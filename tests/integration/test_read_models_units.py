from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from domain.values import UnitKind
from projections.models.units import (
    ancestors_as_of,
    descendants,
    hierarchy_as_of,
    is_below,
    listing_as_of,
    search_units,
    unit_by_code,
)
from projections.store import ReadModelStore, make_engine
from tests.application.conftest import World, build_world
from tests.conftest import Backend
from tests.integration.read_models_world import Season, feed, open_store, play_season, projections
from workflow.authorization import ancestors

Played = tuple[World, Season, ReadModelStore]

DAYS = [
    date(1999, 12, 31), date(2010, 1, 1), date(2012, 2, 1), date(2024, 6, 30), date(2024, 7, 1), date(2024, 7, 31),
    date(2024, 8, 1), date(2024, 9, 1), date(2024, 10, 14), date(2024, 10, 15), date(2024, 11, 21),
    date(2024, 11, 22), date(2025, 3, 10),
]


@pytest.fixture(scope="module")
def played() -> Played:
    world = build_world()
    season = play_season(world)
    store = ReadModelStore(make_engine("sqlite://"), projections())
    feed(store, world)
    return world, season, store


def engine_tree(world: World, day: date) -> list[tuple[int, str, str, str, str | None]]:
    tree = world.engine.hierarchy(day)
    return [
        (depth, unit.code, version.name, unit.kind.value,
         world.engine.unit(version.parent_id).code if version.parent_id else None)
        for depth, unit, version in tree
    ]


def read_tree(store: ReadModelStore, day: date) -> list[tuple[int, str, str, str, str | None]]:
    return [(r.depth, r.code, r.name, r.kind, r.parent_code) for r in hierarchy_as_of(store, day)]


@pytest.mark.parametrize("day", DAYS)
def test_the_hierarchy_on_a_day_is_the_engines_row_for_row(played: Played, day: date) -> None:
    world, _, store = played
    assert read_tree(store, day) == engine_tree(world, day)


def test_a_rename_shows_from_its_day_and_the_old_name_before_it(played: Played) -> None:
    _, _, store = played
    names = {r.code: r.name for r in hierarchy_as_of(store, date(2024, 6, 30))}
    assert names["cell-b"] == "Chi bộ Tổ dân phố 2"
    names = {r.code: r.name for r in hierarchy_as_of(store, date(2024, 7, 1))}
    assert names["cell-b"] == "Chi bộ Tổ dân phố 2 (sáp nhập)"


def _found(store: ReadModelStore, text: str, day: date) -> dict[str, tuple[str, list[str]]]:
    found = search_units(store, text, day, most=1_000)
    assert found is not None
    return {f.code: (f.name, [name for _, name in f.path]) for f in found}


def test_a_search_by_name_finds_the_units_with_a_word_beginning_each_word_typed_tones_or_not(
    played: Played,
) -> None:
    _, _, store = played
    day = date(2024, 7, 1)
    assert set(_found(store, "TỔ DÂN PHỐ 2", day)) == set(_found(store, "to dan pho 2", day)) == {"cell-b"}
    assert set(_found(store, "sáp nh", day)) == {"cell-b"}  # "nh" begins "nhập"
    assert _found(store, "ap nhap", day) == {}  # "ap" begins no word, though "sáp" holds it
    assert set(_found(store, "zone-cell", day)) == {"zone-cell"}  # a code, cut at its hyphen as typed
    assert _found(store, "", day) == {}
    assert _found(store, "--", day) == {}


def test_a_search_on_a_day_finds_the_name_and_the_units_above_of_that_day(played: Played) -> None:
    world, _, store = played
    assert _found(store, "sap nhap", date(2024, 6, 30)) == {}
    assert set(_found(store, "to dan pho 2", date(2024, 6, 30))) == {"cell-b"}
    name, path = _found(store, "sap nhap", date(2024, 7, 1))["cell-b"]
    assert name == "Chi bộ Tổ dân phố 2 (sáp nhập)"
    above = ancestors_as_of(store, world.units["cell-b"], date(2024, 7, 1))
    assert path == [world.engine.unit(uid).as_of(date(2024, 7, 1)).name for uid in reversed(above)]
    assert "old-cell" in _found(store, "doi 3", date(2024, 7, 31))
    assert "old-cell" not in _found(store, "doi 3", date(2024, 8, 1))
    _, before_move = _found(store, "ban sa ho", date(2024, 10, 14))["zone-cell"]
    _, after_move = _found(store, "ban sa ho", date(2024, 10, 15))["zone-cell"]
    assert len(after_move) == len(before_move) + 1


def test_a_search_whose_words_begin_too_many_units_reads_none_of_them(played: Played) -> None:
    _, _, store = played
    assert search_units(store, "chi bo", date(2024, 7, 1), most=1) is None
    found = search_units(store, "chi bo", date(2024, 7, 1), most=1_000)
    assert found is not None
    assert len(found) > 1


def test_a_dissolved_unit_is_gone_from_its_day_but_kept_in_the_past(played: Played) -> None:
    _, _, store = played
    assert "old-cell" in {r.code for r in hierarchy_as_of(store, date(2024, 7, 31))}
    assert "old-cell" not in {r.code for r in hierarchy_as_of(store, date(2024, 8, 1))}
    found = unit_by_code(store, "old-cell")
    assert found is not None
    assert found.dissolved_on == date(2024, 8, 1)


def test_a_moved_committee_takes_its_cells_along_in_the_closure(played: Played) -> None:
    world, _, store = played
    units = world.units
    below_committee = {d.code: d.depth for d in descendants(store, units["committee"])}
    assert below_committee == {"cell-a": 1, "cell-b": 2, "old-cell": 1, "zone": 1, "zone-cell": 2}
    below_district = {d.code: d.depth for d in descendants(store, units["district"])}
    assert (below_district["zone-cell"], below_district["cell-c"]) == (3, 1)
    assert is_below(store, units["zone-cell"], units["committee"])
    assert not is_below(store, units["cell-c"], units["committee"])


@pytest.mark.parametrize("day", DAYS)
def test_ancestors_on_a_day_are_what_authorization_finds(
    played: Played, day: date
) -> None:
    world, _, store = played
    for uid in world.units.values():
        unit = world.engine.unit(uid)
        assert ancestors_as_of(store, uid, day) == ancestors(unit, day, world.engine.unit)


@pytest.mark.parametrize("page_size", [1, 7, 500])
def test_pages_of_any_size_give_the_same_hierarchy(
    played: Played, page_size: int
) -> None:
    world, _, store = played
    other = ReadModelStore(make_engine("sqlite://"), projections())
    feed(other, world, page_size=page_size)
    for day in DAYS:
        assert read_tree(other, day) == read_tree(store, day)
    for uid in world.units.values():
        assert descendants(other, uid, include_self=True) == descendants(store, uid, include_self=True)


def test_a_store_fed_after_every_step_equals_one_fed_at_the_end() -> None:
    world = build_world()
    live = ReadModelStore(make_engine("sqlite://"), projections())
    play_season(world, after_step=lambda _: feed(live, world, page_size=7))
    rebuilt = ReadModelStore(make_engine("sqlite://"), projections())
    feed(rebuilt, world)
    from tests.integration.read_models_world import dump

    assert dump(live) == dump(rebuilt)


@pytest.fixture
def backend_world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


def test_the_hierarchy_read_model_agrees_with_the_engine_on_both_backends(
    backend_world: World, backend: Backend, tmp_path: Path
) -> None:
    play_season(backend_world)
    store = open_store(backend, tmp_path)
    try:
        feed(store, backend_world, page_size=7)
        for day in DAYS:
            assert read_tree(store, day) == engine_tree(backend_world, day)
        today = date(2025, 3, 10) + timedelta(days=1)
        assert [d.code for d in descendants(store, backend_world.units["zone"])] == ["cell-b", "zone-cell"]
        assert read_tree(store, today) == engine_tree(backend_world, today)
        # A part of today's listing, read from the path index, is the same on both backends (PostgreSQL compares
        # the paths with collation "C", SQLite byte by byte).
        whole = read_tree(store, date(2030, 1, 1))
        for under in [None, *(code for _, code, _, _, _ in whole)]:
            for max_depth in (None, 0, 1):
                listing = listing_as_of(store, date(2030, 1, 1), under=under, max_depth=max_depth, limit=3)
                assert listing is not None
                expected = expected_part(whole, under, max_depth)
                assert [(r.depth, r.code, r.name, r.kind) for r in listing.rows] == expected[:3], (under, max_depth)
                assert listing.total == len(expected)
        # The words' ranges compare byte by byte on PostgreSQL too (collation "C").
        found = search_units(store, "tổ dân phố 2", date(2024, 7, 1), most=100)
        assert found is not None
        assert [f.code for f in found] == ["cell-b"]
    finally:
        store.engine.dispose()


def test_todays_hierarchy_lists_siblings_by_name_as_python_compares_them_through_renames_and_moves() -> None:
    # Namesakes (ordered by registration), a name that begins a longer one, letters with diacritics (code points,
    # not a locale's collation), a rename that reorders a subtree, a move that takes one along: today's listing is
    # read in the stored order, which must be the engine's own.
    world = build_world()
    engine, admin, units = world.engine, world.admin, world.units
    registered = [
        ("tdp", "Chi bộ Tổ dân phố", "committee"), ("tdp-10", "Chi bộ Tổ dân phố 10", "committee"),
        ("twin-1", "Chi bộ Ấp Bắc", "committee"), ("twin-2", "Chi bộ Ấp Bắc", "committee"),
        ("zeta", "Chi bộ Zeta", "committee"), ("alpha", "Chi bộ Alpha", "committee"),
        ("ward", "Đảng bộ phường Đông", "district"), ("ward-cell", "Chi bộ khu phố 3", "ward"),
    ]
    for code, name, parent in registered:
        kind = UnitKind.GRASSROOTS_COMMITTEE if code == "ward" else UnitKind.PARTY_CELL
        units[code] = engine.register_unit(
            admin, code=code, name=name, kind=kind, parent_id=units[parent], established_on=date(2015, 1, 1)
        ).value
    engine.rename_unit(admin, units["zeta"], name="Chi bộ A", effective_from=date(2020, 1, 1), reason="QĐ 1")
    engine.rename_unit(admin, units["ward"], name="Đảng bộ phường An", effective_from=date(2020, 1, 1), reason="QĐ 2")
    engine.move_unit(
        admin, units["alpha"], parent_id=units["ward"], effective_from=date(2020, 2, 1), reason="sáp nhập"
    )
    store = ReadModelStore(make_engine("sqlite://"), projections())
    feed(store, world, page_size=3)
    today = date(2030, 1, 1)
    assert read_tree(store, today) == engine_tree(world, today)
    listed = [code for _, code, *_ in read_tree(store, today)]
    assert listed.index("twin-1") < listed.index("twin-2")
    assert listed.index("tdp") < listed.index("tdp-10")
    assert listed.index("ward") < listed.index("alpha") < listed.index("ward-cell") < listed.index("committee")


def expected_part(
    tree: list[tuple[int, str, str, str, str | None]], under: str | None, max_depth: int | None
) -> list[tuple[int, str, str, str]]:
    """The part of a whole tree `dossierflow units --unit --depth` lists, cut from it in Python."""
    rows = [(depth, code, name, kind) for depth, code, name, kind, _ in tree]
    if under is not None:
        start = next(i for i, row in enumerate(rows) if row[1] == under)
        top = rows[start][0]
        end = next((i for i in range(start + 1, len(rows)) if rows[i][0] <= top), len(rows))
        rows = [(depth - top, code, name, kind) for depth, code, name, kind in rows[start:end]]
    return [row for row in rows if max_depth is None or row[0] <= max_depth]


@pytest.mark.parametrize("day", [*DAYS, date(2030, 1, 1)])
def test_a_part_of_the_hierarchy_is_the_same_rows_as_cut_from_the_whole_tree(played: Played, day: date) -> None:
    _, _, store = played
    tree = read_tree(store, day)
    for under in [None, *(code for _, code, _, _, _ in tree)]:
        for max_depth in (None, 0, 1, 2):
            listing = listing_as_of(store, day, under=under, max_depth=max_depth)
            assert listing is not None
            expected = expected_part(tree, under, max_depth)
            assert [(r.depth, r.code, r.name, r.kind) for r in listing.rows] == expected, (under, max_depth)
            assert listing.total == len(expected)
            kinds: dict[str, int] = {}
            for row in expected:
                kinds[row[3]] = kinds.get(row[3], 0) + 1
            assert listing.by_kind == kinds


@pytest.mark.parametrize("day", [date(2024, 6, 30), date(2030, 1, 1)])
def test_a_limited_listing_gives_the_first_rows_and_counts_them_all(played: Played, day: date) -> None:
    _, _, store = played
    whole = expected_part(read_tree(store, day), None, None)
    for limit in (0, 1, 3, len(whole), len(whole) + 5):
        listing = listing_as_of(store, day, limit=limit)
        assert listing is not None
        assert [(r.depth, r.code, r.name, r.kind) for r in listing.rows] == whole[:limit]
        assert listing.total == len(whole)


def test_a_listing_under_a_unit_not_active_that_day_is_none(played: Played) -> None:
    _, _, store = played
    assert listing_as_of(store, date(2030, 1, 1), under="old-cell") is None
    assert listing_as_of(store, date(2024, 7, 31), under="old-cell") is not None
    assert listing_as_of(store, date(2030, 1, 1), under="no-such-unit") is None
