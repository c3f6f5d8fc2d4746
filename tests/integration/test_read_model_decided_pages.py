"""The keyset pages of decided classifications that the reports' exports read, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from projections.models.dossiers import DecidedRow, classifications, decided_page, dossier_row
from projections.store import ReadModelStore
from tests.application.conftest import World, build_world
from tests.conftest import Backend
from tests.integration.read_models_world import feed, open_store, play_season


@pytest.fixture
def played(backend: Backend, tmp_path: Path) -> Iterator[tuple[World, ReadModelStore]]:
    world = build_world(dict(backend.env))
    play_season(world)
    store = open_store(backend, tmp_path)
    try:
        feed(store, world)
        yield world, store
    finally:
        store.engine.dispose()
        world.engine.close()


def _all_pages(store: ReadModelStore, year: int, size: int, **where: object) -> list[DecidedRow]:
    found: list[DecidedRow] = []
    after: tuple[str, UUID] | None = None
    while True:
        page = decided_page(store, year, after=after, limit=size, **where)  # type: ignore[arg-type]
        found += page
        if len(page) < size:
            return found
        after = (page[-1].classification.unit_code, page[-1].classification.dossier_id)


@pytest.mark.parametrize("size", [1, 2, 1000])
def test_pages_of_any_size_read_every_decided_unit_below_a_unit_once_by_code(
    played: tuple[World, ReadModelStore], size: int
) -> None:
    world, store = played
    for unit in ("district", "committee"):
        below = world.units[unit]
        expected = classifications(store, 2024, below)
        assert expected, "the season decides units below the district and the committee"
        paged = _all_pages(store, 2024, size, unit_below=below)
        assert [r.classification for r in paged] == expected


def test_a_page_of_chosen_units_holds_those_decided_and_their_points(played: tuple[World, ReadModelStore]) -> None:
    world, store = played
    decided = classifications(store, 2024)
    chosen = {decided[0].unit_id, decided[-1].unit_id, world.units["district"]}
    paged = _all_pages(store, 2024, 1, unit_ids=chosen)
    assert {r.classification.unit_id for r in paged} == {c.unit_id for c in decided if c.unit_id in chosen}
    for row in paged:
        found = dossier_row(store, row.classification.dossier_id)
        assert found is not None
        assert row.points == found.points


def test_no_page_for_a_year_with_no_decision(played: tuple[World, ReadModelStore]) -> None:
    world, store = played
    assert decided_page(store, 2031, unit_below=world.units["district"]) == []
