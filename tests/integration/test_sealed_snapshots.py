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
from workflow.store import snapshots as snapshots_module
from workflow.store.snapshots import SealedSnapshots

SNAPSHOT_VERSION = 25  # Engine.snapshotting_intervals[Dossier]


@pytest.fixture
def world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


def snapshotted_draft(world: World, version: int = SNAPSHOT_VERSION + 2, unit: str = "treasury") -> UUID:
    did = draft(world, unit)
    advance(world, did, version, unit)
    return did


def advance(world: World, did: UUID, version: int, unit: str = "treasury") -> None:
    secretary = world.secretary(unit)
    for n in range(version - world.engine.dossier(did).version):
        answer = Answer(grade=Grade.GOOD, comment=f"lần {n}")
        world.engine.record_answers(secretary, did, answers={"leadership_of_tasks": answer})
    assert world.engine.dossier(did).version == version


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


# --- the seals of one aggregate form a chain: one checked signature vouches for the seals below it ---------------


def seal_rows(backend: Backend, did: UUID) -> dict[int, tuple[str, str]]:
    """version -> (chain hash, stored signature) of the dossier's seals."""
    key = did.hex if backend.name == "sqlite" else did
    rows = backend.raw_sql(
        f"SELECT originator_version, chain_hash, signature FROM {backend.snapshots_table}_seals "
        "WHERE originator_id = ?",
        (key,),
    )
    return {version: (chain_hash, signature) for version, chain_hash, signature in rows}


def edit_snapshot_state(backend: Backend, did: UUID, version: int, old: bytes, new: bytes) -> None:
    key = did.hex if backend.name == "sqlite" else did
    [(state,)] = backend.raw_sql(
        f"SELECT state FROM {backend.snapshots_table} WHERE originator_id = ? AND originator_version = ?",
        (key, version),
    )
    assert old in bytes(state)
    backend.raw_sql(
        f"UPDATE {backend.snapshots_table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
        (bytes(state).replace(old, new), key, version),
    )


def fresh_report(world: World, backend: Backend) -> tuple[list[tuple[str, str]], list[int]]:
    """The snapshot findings of a fresh engine's verify (kind, subject), and the versions its snapshot store trusts."""
    fresh = Engine(dict(backend.env), clock=world.clock)
    try:
        report = fresh.verify(public_key=load_public_key(backend.signing_key))
        assert fresh.snapshots is not None
        trusted = [s.originator_version for s in fresh.snapshots.get(report_did(world))]
    finally:
        fresh.close()
    assert report.first_break is None, "the chain of events itself is intact"
    return [(f.kind, f.subject) for f in report.findings], trusted


def report_did(world: World) -> UUID:
    return world.engine.find_dossier("treasury/2024")


def count_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The messages whose seal signatures are checked from now on (in the snapshots module)."""
    checked: list[bytes] = []
    real = snapshots_module.is_valid_signature

    def counting(public_key: Any, signature: str, message: bytes) -> bool:
        checked.append(message)
        return real(public_key, signature, message)

    monkeypatch.setattr(snapshots_module, "is_valid_signature", counting)
    return checked


def test_every_seal_but_the_newest_is_vouched_for_by_the_seal_above_it_not_by_its_own_signature(
    world: World, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    did = snapshotted_draft(world, 4 * SNAPSHOT_VERSION + 1)
    seals = seal_rows(backend, did)
    assert sorted(seals) == [25, 50, 75, 100]
    assert seals[25][1].startswith(f"2:{'0' * 64}:"), "the lowest seal follows the genesis link"
    assert all(seals[v][1].startswith("2:") and seals[v][1][2:66] != "0" * 64 for v in (50, 75, 100))

    checked = count_signature_checks(monkeypatch)
    report = world.engine.verify()
    assert report.ok, report.findings
    assert len(checked) == 1, "one signature checked for the four snapshots of one dossier"
    assert b"\x00100\x00" in checked[0], "the newest seal's"


def test_an_edited_snapshot_below_the_newest_is_reported_and_never_trusted(world: World, backend: Backend) -> None:
    did = snapshotted_draft(world, 3 * SNAPSHOT_VERSION + 1)
    edit_snapshot_state(backend, did, 50, b'"draft"', b'"approved"')
    findings, trusted = fresh_report(world, backend)
    assert findings == [("snapshot-altered", f"snapshot of {did} at version 50")]
    assert trusted == [25, 75]
    fresh = Engine(dict(backend.env), clock=world.clock)
    try:
        assert fresh.dossier(did, version=60).state is DossierState.DRAFT
    finally:
        fresh.close()


@pytest.mark.parametrize("part", ["link", "signature"])
def test_a_seal_whose_link_or_signature_was_edited_is_reported(world: World, backend: Backend, part: str) -> None:
    did = snapshotted_draft(world, 3 * SNAPSHOT_VERSION + 1)
    _, stored = seal_rows(backend, did)[50]
    _, link, signature = stored.split(":")
    # Another last digit: one fixed in its place would leave one signature in 16 unchanged.
    last = "1" if signature[-1] == "0" else "0"
    edited = f"2:{'f' * 64}:{signature}" if part == "link" else f"2:{link}:{signature[:-1]}{last}"
    key = did.hex if backend.name == "sqlite" else did
    backend.raw_sql(
        f"UPDATE {backend.snapshots_table}_seals SET signature = ? WHERE originator_id = ? AND originator_version = ?",
        (edited, key, 50),
    )
    findings, trusted = fresh_report(world, backend)
    assert findings == [("snapshot-altered", f"snapshot of {did} at version 50")]
    assert trusted == [25, 75]


def test_a_snapshot_deleted_below_the_newest_is_reported_as_missing(world: World, backend: Backend) -> None:
    did = snapshotted_draft(world, 3 * SNAPSHOT_VERSION + 1)
    key = did.hex if backend.name == "sqlite" else did
    for table in (backend.snapshots_table, f"{backend.snapshots_table}_seals"):
        backend.raw_sql(f"DELETE FROM {table} WHERE originator_id = ? AND originator_version = 50", (key,))
    findings, trusted = fresh_report(world, backend)
    assert findings == [("snapshot-missing", f"snapshot of {did} at version 75")]
    assert trusted == [25, 75], "what remains is genuine, each by its own seal"


def test_a_seal_chain_cut_at_its_newest_snapshot_leaves_the_older_ones_trusted_by_their_own_seals(
    world: World, backend: Backend
) -> None:
    # Without a copy kept elsewhere, the newest snapshots deleted with their seals cannot be told from snapshots
    # never taken; what remains must still hold by itself, and the dossier is replayed from it.
    did = snapshotted_draft(world, 3 * SNAPSHOT_VERSION + 1)
    key = did.hex if backend.name == "sqlite" else did
    for table in (backend.snapshots_table, f"{backend.snapshots_table}_seals"):
        backend.raw_sql(f"DELETE FROM {table} WHERE originator_id = ? AND originator_version > 25", (key,))
    findings, trusted = fresh_report(world, backend)
    assert findings == []
    assert trusted == [25]
    fresh = Engine(dict(backend.env), clock=world.clock)
    try:
        assert fresh.dossier(did).version == 3 * SNAPSHOT_VERSION + 1
    finally:
        fresh.close()


def test_a_snapshot_and_its_seal_replayed_at_another_version_are_reported(world: World, backend: Backend) -> None:
    did = snapshotted_draft(world, 2 * SNAPSHOT_VERSION + 1)
    key = did.hex if backend.name == "sqlite" else did
    [(state,)] = backend.raw_sql(
        f"SELECT state FROM {backend.snapshots_table} WHERE originator_id = ? AND originator_version = 25", (key,)
    )
    _, signature = seal_rows(backend, did)[25]
    backend.raw_sql(
        f"UPDATE {backend.snapshots_table} SET state = ? WHERE originator_id = ? AND originator_version = 50",
        (state, key),
    )
    backend.raw_sql(
        f"UPDATE {backend.snapshots_table}_seals SET signature = ? WHERE originator_id = ? AND originator_version = 50",
        (signature, key),
    )
    findings, trusted = fresh_report(world, backend)
    assert findings == [("snapshot-altered", f"snapshot of {did} at version 50")]
    assert trusted == [25]


def test_a_snapshot_swapped_with_another_dossiers_is_reported(world: World, backend: Backend) -> None:
    did = snapshotted_draft(world, SNAPSHOT_VERSION + 1)
    other = snapshotted_draft(world, SNAPSHOT_VERSION + 1, unit="cell-a")
    keys = [d.hex if backend.name == "sqlite" else d for d in (did, other)]
    [(state,)] = backend.raw_sql(f"SELECT state FROM {backend.snapshots_table} WHERE originator_id = ?", (keys[1],))
    backend.raw_sql(f"UPDATE {backend.snapshots_table} SET state = ? WHERE originator_id = ?", (state, keys[0]))
    findings, trusted = fresh_report(world, backend)
    assert findings == [("snapshot-altered", f"snapshot of {did} at version 25")]
    assert trusted == []


def test_a_store_sealed_before_the_seal_chains_still_verifies_and_its_new_seals_chain_onto_the_old(
    world: World, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.engine.snapshots is not None
    recorder = world.engine.snapshots.recorder
    assert isinstance(recorder, SealedSnapshots)
    recorder.seal_format = 1  # as the code before the seal chains wrote them
    did = snapshotted_draft(world, 2 * SNAPSHOT_VERSION + 1)
    old = seal_rows(backend, did)
    assert sorted(old) == [25, 50]
    assert not any(signature.startswith("2:") for _, signature in old.values())

    recorder.seal_format = 2
    advance(world, did, 4 * SNAPSHOT_VERSION + 1)
    seals = seal_rows(backend, did)
    assert (seals[25], seals[50]) == (old[25], old[50]), "old seals are kept as they are"
    assert seals[75][1].startswith("2:")
    assert not seals[75][1].startswith("2:" + "0" * 64), "the first new seal follows the old seal of version 50"
    checked = count_signature_checks(monkeypatch)
    assert world.engine.verify().ok
    # The newest signature vouches for 75 and, through it, for the old seal of 50; an old seal names no link, so the
    # old seal of 25 is checked by its own signature.
    assert [message.split(b"\x00")[2] for message in checked] == [b"100", b"25"]
    monkeypatch.undo()
    findings, trusted = fresh_report(world, backend)
    assert findings == []
    assert trusted == [25, 50, 75, 100]

    edit_snapshot_state(backend, did, 25, b'"draft"', b'"approved"')
    edit_snapshot_state(backend, did, 50, b'"draft"', b'"approved"')
    findings, trusted = fresh_report(world, backend)
    assert findings == [
        ("snapshot-altered", f"snapshot of {did} at version 25"),
        ("snapshot-altered", f"snapshot of {did} at version 50"),
    ]
    assert trusted == [75, 100]
