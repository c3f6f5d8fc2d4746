"""The keyset pages of decided classifications that the reports' exports read, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import pytest

from domain.values import Classification
from projections import exports
from projections.models.dossiers import (
    DecidedRow,
    act_lines,
    classifications,
    decided_page,
    decision_acts,
    dossier_row,
)
from projections.models.units import subtree_as_of
from projections.store import ReadModelStore
from tests.application.conftest import World, build_world
from tests.application.helpers import endorsed
from tests.conftest import Backend
from tests.integration.read_models_world import feed, open_store, play_season
from workflow.engine import DecisionRequest


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


@pytest.fixture
def with_acts(backend: Backend, tmp_path: Path) -> Iterator[tuple[World, ReadModelStore, list[UUID]]]:
    """The committee decides its two cells by act 125-QĐ/ĐU, re-opens one and decides it again by act 131-QĐ/ĐU;
    then, after the period, the second cell moves under the district."""
    world = build_world(dict(backend.env))
    cells = [endorsed(world, "cell-a"), endorsed(world, "cell-b")]
    world.engine.decide_list(
        world.committee_approver, [DecisionRequest(d) for d in cells], act_number="125-QĐ/ĐU",
        act_date=date(2024, 10, 30),
    )
    world.engine.reopen(world.committee_approver, cells[0], legal_basis="Kết luận 5-KL/UBKT")
    world.engine.approve(world.committee_approver, cells[0], level=Classification.COMPLETED,
                         reason="Xếp loại lại theo kết luận kiểm tra", act_number="131-QĐ/ĐU")
    world.clock.set(datetime(2025, 3, 1, 2, 0, tzinfo=UTC))
    world.engine.move_unit(
        world.admin, world.units["cell-b"], parent_id=world.units["district"], effective_from=date(2025, 3, 1),
        reason="Sắp xếp lại",
    )
    store = open_store(backend, tmp_path)
    try:
        feed(store, world)
        yield world, store, cells
    finally:
        store.engine.dispose()
        world.engine.close()


def test_each_act_is_listed_with_its_date_and_units_and_reads_back_as_it_was_taken(
    with_acts: tuple[World, ReadModelStore, list[UUID]],
) -> None:
    world, store, _ = with_acts
    cells = [world.units["cell-a"], world.units["cell-b"]]
    acts = decision_acts(store, 2024, cells)
    assert [(a.number, a.units) for a in acts] == [("131-QĐ/ĐU", 1), ("125-QĐ/ĐU", 2)]
    assert acts[1].day == date(2024, 10, 30)
    assert acts[0].day == date(2024, 11, 1)  # no date given: the day it was recorded, in Vietnam
    first = act_lines(store, 2024, cells, "125-QĐ/ĐU")
    assert {(x.unit_id, x.level) for x in first} == {(cells[0], Classification.GOOD), (cells[1], Classification.GOOD)}
    in_force = {c.unit_id: c for c in classifications(store, 2024)}
    assert (in_force[cells[0]].act_number, in_force[cells[0]].level) == ("131-QĐ/ĐU", Classification.COMPLETED)
    assert (in_force[cells[1]].act_number, in_force[cells[1]].act_date) == ("125-QĐ/ĐU", date(2024, 10, 30))
    assert act_lines(store, 2024, cells, "999") == []


def test_the_units_below_as_of_a_day_before_a_move_are_those_of_that_day_and_none_after_the_last_change(
    with_acts: tuple[World, ReadModelStore, list[UUID]],
) -> None:
    world, store, _ = with_acts
    then = subtree_as_of(store, world.units["committee"], date(2024, 12, 31))
    assert then is not None
    assert [code for _, code in then] == ["cell-a", "cell-b", "committee"]
    district_then = subtree_as_of(store, world.units["district"], date(2024, 12, 31))
    assert district_then is not None
    assert "cell-b" in [code for _, code in district_then]
    assert subtree_as_of(store, world.units["committee"], date(2025, 3, 1)) is None
    lines = list(exports.decided_lines(store, 2024, world.units["committee"], date(2024, 12, 31)))
    assert [(x.unit_code, x.act_number) for x in lines] == [("cell-a", "131-QĐ/ĐU"), ("cell-b", "125-QĐ/ĐU")]
    now = exports.decided_lines(store, 2024, world.units["committee"], date(2025, 3, 1))
    assert [x.unit_code for x in now] == ["cell-a"]
