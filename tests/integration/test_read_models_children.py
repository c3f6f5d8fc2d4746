"""One level of the hierarchy on a day (`children_as_of`, what the units page opens a node at a time), every unit's
name on a day (`active_units_as_of`, what its search reads) and a page's dossiers by id (`dossier_rows`): the same
as the engine's, on both backends."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from uuid import uuid4

from projections.models.dossiers import dossier_rows
from projections.models.units import active_units_as_of, children_as_of
from projections.store import ReadModelStore
from tests.application.conftest import World
from tests.conftest import Backend
from tests.integration.read_models_world import feed, open_store, play_season
from tests.integration.test_read_models_units import DAYS, backend_world

__all__ = ["backend_world"]  # the fixture, shared with the hierarchy's tests


def engine_children(world: World, day: date) -> dict[str, list[tuple[str, str, str]]]:
    found = {}
    for _, unit, _ in world.engine.hierarchy(day):
        children = world.engine.children(unit.id, day)
        found[unit.code] = sorted(
            (c.code, c.as_of(day).name, c.kind.value) for c in children  # type: ignore[union-attr]
        )
    return found


def read_children(store: ReadModelStore, world: World, day: date) -> dict[str, list[tuple[str, str, str]]]:
    return {
        unit.code: sorted((c.code, c.name, c.kind) for c in children_as_of(store, unit.id, day))
        for _, unit, _ in world.engine.hierarchy(day)
    }


def test_each_units_children_on_each_day_are_the_engines_on_both_backends(
    backend_world: World, backend: Backend, tmp_path: Path
) -> None:
    season = play_season(backend_world)
    store = open_store(backend, tmp_path)
    try:
        feed(store, backend_world, page_size=7)
        days = [*DAYS, date(2025, 3, 10) + timedelta(days=1)]
        moved = 0
        for day in days:
            expected = engine_children(backend_world, day)
            assert read_children(store, backend_world, day) == expected, day
            engine = backend_world.engine
            named = sorted(
                (u.code, v.name, u.kind.value, engine.unit(v.parent_id).code if v.parent_id else None)
                for _, u, v in engine.hierarchy(day)
            )
            read = active_units_as_of(store, day)
            codes = {n.key: n.code for n in read}
            assert sorted((n.code, n.name, n.kind, codes.get(n.parent_key or "")) for n in read) == named, day
            moved += sum(1 for kids in expected.values() if kids)
        assert moved > 0, "the season has units with units below them"
        # A page's dossiers by id: every dossier of the season, and an id that names none is left out.
        ids = list(season.dossiers.values())
        assert ids
        rows = dossier_rows(store, [*ids, uuid4()])
        assert set(rows) == set(ids)
        for did in ids:
            dossier = backend_world.engine.dossier(did)
            row = rows[did]
            assert (row.unit_id, row.year, row.state) == (dossier.unit_id, dossier.year, dossier.state)
    finally:
        store.engine.dispose()
