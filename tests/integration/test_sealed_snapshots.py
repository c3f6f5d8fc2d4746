"""Snapshots are inside the trust boundary: one edited in the database is reported, and the engine never uses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.values import Answer, DossierState, Grade
from tests.application.conftest import World, build_world
from tests.application.helpers import draft
from tests.conftest import Backend
from workflow.engine import Engine
from workflow.store import load_public_key

SNAPSHOT_VERSION = 25  # Engine.snapshotting_intervals[Dossier]


@pytest.fixture
def world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


def snapshotted_draft(world: World) -> UUID:
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    for n in range(SNAPSHOT_VERSION + 2 - world.engine.dossier(did).version):
        answer = Answer(grade=Grade.GOOD, comment=f"lần {n}")
        world.engine.record_answers(secretary, did, answers={"leadership_of_tasks": answer})
    assert world.engine.dossier(did).version == SNAPSHOT_VERSION + 2
    return did


def snapshot_rows(backend: Backend, did: UUID) -> list[tuple[Any, ...]]:
    key = did.hex if backend.name == "sqlite" else did
    return backend.raw_sql(
        f"SELECT originator_version, state FROM {backend.snapshots_table} WHERE originator_id = ?", (key,)
    )


def forge_snapshot(backend: Backend, did: UUID, old: bytes, new: bytes) -> None:
    [(version, state)] = snapshot_rows(backend, did)
    assert version == SNAPSHOT_VERSION
    assert old in bytes(state)
    key = did.hex if backend.name == "sqlite" else did
    backend.raw_sql(
        f"UPDATE {backend.snapshots_table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
        (bytes(state).replace(old, new), key, version),
    )


def test_a_snapshot_edited_in_the_database_is_reported_and_never_trusted(world: World, backend: Backend) -> None:
    did = snapshotted_draft(world)
    assert world.engine.verify().ok
    forge_snapshot(backend, did, b'"draft"', b'"approved"')

    fresh = Engine(dict(backend.env), clock=world.clock)
    try:
        dossier = fresh.dossier(did)
        assert dossier.state is DossierState.DRAFT
        assert dossier.version == SNAPSHOT_VERSION + 2
        # Not even when asked for the very version the forged snapshot stands for.
        assert fresh.dossier(did, version=SNAPSHOT_VERSION).state is DossierState.DRAFT
        report = fresh.verify()
    finally:
        fresh.close()
    assert report.first_break is None, "the chain of events itself is intact"
    assert not report.ok
    [finding] = report.findings
    assert finding.kind == "snapshot-altered"
    assert str(did) in finding.subject
    assert f"version {SNAPSHOT_VERSION}" in finding.subject
    assert "edited" in finding.detail


def test_a_snapshot_inserted_without_a_seal_is_reported_and_never_trusted(world: World, backend: Backend) -> None:
    did = snapshotted_draft(world)
    key = did.hex if backend.name == "sqlite" else did
    backend.raw_sql(f"DELETE FROM {backend.snapshots_table}_seals WHERE originator_id = ?", (key,))
    forge_snapshot(backend, did, b'"draft"', b'"approved"')

    fresh = Engine(dict(backend.env), clock=world.clock)
    try:
        assert fresh.dossier(did).state is DossierState.DRAFT
        report = fresh.verify()
    finally:
        fresh.close()
    assert [(f.kind, f.subject) for f in report.findings] == [
        ("snapshot-unsealed", f"snapshot of {did} at version {SNAPSHOT_VERSION}")
    ]


def test_an_untouched_snapshot_is_used_and_verified_offline_with_the_public_key(
    world: World, backend: Backend
) -> None:
    did = snapshotted_draft(world)
    assert [version for version, _ in snapshot_rows(backend, did)] == [SNAPSHOT_VERSION]
    fresh = Engine(dict(backend.env), clock=world.clock)
    try:
        assert fresh.snapshots is not None
        assert [s.originator_version for s in fresh.snapshots.get(did)] == [SNAPSHOT_VERSION]
        report = fresh.verify(public_key=load_public_key(backend.signing_key))
    finally:
        fresh.close()
    assert report.ok, (report.first_break, report.findings)
