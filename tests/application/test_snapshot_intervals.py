"""Snapshots of the aggregates that grow with the units below them are taken further apart as they grow."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from uuid import uuid4

from domain.actor import Actor
from domain.decisions import DecisionBook, DecisionEntry
from domain.values import Classification, Role
from tests.application.conftest import World
from tests.application.helpers import draft

MOMENT = datetime(2024, 11, 1, tzinfo=UTC)


def test_a_decision_books_snapshots_grow_apart_with_its_entries_and_stay_nested(world: World) -> None:
    engine = world.engine
    actor = Actor(uuid4(), Role.REVIEWER, uuid4())
    book = DecisionBook(superior_id=uuid4(), year=2024, actor=actor, timestamp=MOMENT)
    intervals = []
    for _ in range(2000):
        entry = DecisionEntry(uuid4(), uuid4(), "", Classification.GOOD, None, decided=False)
        book.propose(entry=entry, actor=actor, timestamp=MOMENT)
        intervals.append(engine.snapshot_interval(book))
    base = engine.snapshotting_intervals[DecisionBook]
    assert intervals[0] == base
    assert intervals[base - 1] == base
    assert intervals[base] == 2 * base
    assert intervals[-1] == 64 * base
    steps = [interval or 0 for interval in intervals]
    assert all(earlier and later % earlier == 0 for earlier, later in pairwise(steps))


def test_a_dossier_is_snapshotted_at_its_fixed_interval(world: World) -> None:
    dossier = world.engine.dossier(draft(world, "treasury"))
    assert world.engine.snapshot_interval(dossier) == world.engine.snapshotting_intervals[type(dossier)]
