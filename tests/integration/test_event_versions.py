"""Event schemas evolve by upcasting, never by rewriting the log: a unit's rename stored before it carried a reason
(version 1 of Unit.Renamed) still loads, reads as an empty reason, feeds the read models, and the hash chain over
its stored bytes still verifies, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from domain.unit import Unit
from projections.models import audit as audit_model
from projections.models import units as units_model
from projections.models.audit import AuditProjection
from projections.models.units import UnitsProjection
from projections.store import ReadModelStore, make_engine, sqlite_url
from tests.application.conftest import World, build_world
from tests.conftest import Backend
from tests.integration.read_models_world import feed
from workflow.engine import Engine

OLD_NAME = "Chi bộ Kho bạc (tên theo quyết định cũ)"


@pytest.fixture
def world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


def _store_a_version_1_rename(engine: Engine, uid: UUID, name: str, effective_from: date, world: World) -> bytes:
    """Write a rename as the code before version 2 wrote it: its state without a reason and without a class
    version, appended through the chained recorder like any other event."""
    unit = engine.unit(uid)
    unit.rename(
        name=name, effective_from=effective_from, reason="(dropped)", actor=world.admin, timestamp=world.clock.now
    )
    (event,) = unit.collect_events()
    stored = engine.mapper.to_stored_event(event)
    assert engine.mapper.compressor is None
    assert engine.mapper.cipher is None
    state: dict[str, Any] = engine.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    del state["reason"]
    encoded = engine.mapper.transcoder.encode(state)
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic, encoded)
    engine.recorder.insert_events([old])
    return old.state


def test_a_rename_stored_before_renames_had_a_reason_loads_verifies_and_feeds_the_read_models(
    world: World, backend: Backend, tmp_path: Path
) -> None:
    uid = world.units["treasury"]
    state = _store_a_version_1_rename(world.engine, uid, OLD_NAME, date(2024, 3, 1), world)
    assert b"reason" not in state
    assert b"class_version" not in state

    # Another process, which has never seen the unit, reads the log as it is.
    reader = Engine(dict(backend.env), clock=world.clock)
    try:
        unit = reader.unit(uid)
        assert unit.as_of(date(2024, 3, 1)).name == OLD_NAME  # type: ignore[union-attr]
        old = list(reader.history(uid))[-1]
        assert isinstance(old, Unit.Renamed)
        assert old.reason == ""
        # A rename now is version 2, with its reason, after the version 1 one.
        reader.rename_unit(
            world.admin, uid, name="Chi bộ Kho bạc Nhà nước tỉnh", effective_from=date(2024, 6, 1),
            reason="Quyết định 30-QĐ/HU",
        )
        assert [e.reason for e in reader.history(uid) if isinstance(e, Unit.Renamed)] == ["", "Quyết định 30-QĐ/HU"]
        report = reader.verify()
        assert report.ok, (report.first_break, report.findings)
        assert report.events_checked == reader.recorder.max_notification_id()
    finally:
        reader.close()

    # The stored bytes of the old event were not rewritten: the log still holds a version 1 state.
    (kept,) = [
        e for e in world.engine.recorder.select_events(uid) if e.originator_version == unit.version
    ]
    assert kept.state == state

    models = [UnitsProjection(), AuditProjection()]
    if backend.name == "sqlite":
        store = ReadModelStore(make_engine(sqlite_url(tmp_path / "read.sqlite")), models)
    else:
        rest = backend.location.split("://", 1)[1]
        store = ReadModelStore(make_engine(f"postgresql+psycopg://{rest}"), models)
    try:
        feed(store, world)
        rows = audit_model.audit_trail(store, unit_id=uid, below_unit=False, action="Unit.Renamed").rows
        assert [r.reason for r in rows] == [None, "Quyết định 30-QĐ/HU"]
        assert [r.changes["name"]["after"] for r in rows if r.changes] == [OLD_NAME, "Chi bộ Kho bạc Nhà nước tỉnh"]
        found = units_model.unit_row(store, uid)
        assert found is not None
        assert found.name == "Chi bộ Kho bạc Nhà nước tỉnh"
    finally:
        store.engine.dispose()


def test_a_version_2_rename_is_stored_with_its_class_version_and_reason(world: World) -> None:
    world.engine.rename_unit(
        world.admin, world.units["cell-a"], name="Chi bộ Tổ 1", effective_from=date(2024, 5, 1), reason="QĐ 8-QĐ/ĐU"
    )
    unit = world.engine.unit(world.units["cell-a"])
    (stored,) = [e for e in world.engine.recorder.select_events(unit.id) if e.originator_version == unit.version]
    state = world.engine.mapper.transcoder.decode(stored.state)
    assert (state["class_version"], state["reason"]) == (2, "QĐ 8-QĐ/ĐU")
