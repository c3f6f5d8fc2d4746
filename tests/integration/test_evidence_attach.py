"""An attach whose save fails (a concurrent writer won) removes the file it wrote, unless the file was there
before or a stored event references it: files are stored by content, one file for every dossier attaching it."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from domain.errors import ConcurrencyConflict
from tests.application.conftest import World
from tests.application.helpers import at_one_instant, draft
from tests.conftest import Backend
from tests.evidence_world import MINUTES, REPORT, evidence_root, world_with_files


@pytest.fixture
def world(backend: Backend, tmp_path: Path) -> Iterator[World]:
    world = world_with_files(backend.env, tmp_path / "evidence")
    yield world
    world.engine.close()


def stored_blobs(world: World) -> set[str]:
    return {p.name for p in evidence_root(world).glob("??/*")}


def test_a_refused_attach_of_new_bytes_at_one_instant_removes_the_file_only_it_wrote(
    world: World, backend: Backend
) -> None:
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    outcomes = at_one_instant(
        world,
        [
            lambda: world.engine.attach_evidence(secretary, did, name="a.pdf", data=MINUTES),
            lambda: world.engine.attach_evidence(secretary, did, name="b.pdf", data=REPORT),
        ],
    )
    [conflict] = [o for o in outcomes if o is not None]
    assert isinstance(conflict, ConcurrencyConflict)
    [attached] = world.engine.dossier(did).evidence
    assert stored_blobs(world) == {attached}
    assert world.engine.verify().ok


def test_a_refused_attach_keeps_a_file_a_stored_event_references(world: World, backend: Backend) -> None:
    """Both write the same new bytes at one instant (neither finds the file there before): the one refused must
    not take the winner's file with it."""
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    outcomes = at_one_instant(
        world,
        [
            lambda: world.engine.attach_evidence(secretary, did, name="a.pdf", data=MINUTES),
            lambda: world.engine.attach_evidence(secretary, did, name="copy.pdf", data=MINUTES),
        ],
    )
    assert sum(isinstance(o, ConcurrencyConflict) for o in outcomes) == 1
    assert stored_blobs(world) == set(world.engine.dossier(did).evidence) == {sha256(MINUTES).hexdigest()}
    assert world.engine.verify().ok


def failing_save(world: World, monkeypatch: pytest.MonkeyPatch, before: Callable[[], object] = lambda: None) -> None:
    """The next save fails as if another writer had saved the dossier first; `before` runs in that moment."""

    def save(*aggregates: Any) -> None:
        monkeypatch.undo()
        before()
        raise ConcurrencyConflict("someone else changed this record at the same moment")

    monkeypatch.setattr(world.engine, "_save", save)


def test_the_file_of_an_attach_whose_save_fails_is_removed(
    world: World, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    did = draft(world, "treasury")
    failing_save(world, monkeypatch)
    with pytest.raises(ConcurrencyConflict):
        world.engine.attach_evidence(world.secretary("treasury"), did, name="a.pdf", data=MINUTES)
    assert stored_blobs(world) == set()


def test_the_file_of_an_attach_whose_save_fails_is_kept_if_it_was_there_before(
    world: World, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    did = draft(world, "treasury")
    world.engine.blobs.put(MINUTES)
    failing_save(world, monkeypatch)
    with pytest.raises(ConcurrencyConflict):
        world.engine.attach_evidence(world.secretary("treasury"), did, name="a.pdf", data=MINUTES)
    assert stored_blobs(world) == {sha256(MINUTES).hexdigest()}


def test_the_file_of_an_attach_whose_save_fails_is_kept_if_another_dossier_attached_it_meanwhile(
    world: World, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    treasury, kim_tan = draft(world, "treasury"), draft(world, "cell-a")
    # The other attach finds the file this one has just written, so it writes nothing and removes nothing itself.
    failing_save(
        world,
        monkeypatch,
        before=lambda: world.engine.attach_evidence(world.secretary("cell-a"), kim_tan, name="b.pdf", data=MINUTES),
    )
    with pytest.raises(ConcurrencyConflict):
        world.engine.attach_evidence(world.secretary("treasury"), treasury, name="a.pdf", data=MINUTES)
    assert stored_blobs(world) == {sha256(MINUTES).hexdigest()}
    assert world.engine.verify().ok


def test_no_file_can_be_removed_while_an_attach_is_storing_its_event(
    world: World, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between writing (or finding) its file and storing its event, an attach holds off any removal: a refused
    attach of the same bytes in another process waits, then finds the event."""
    did = draft(world, "treasury")
    save = world.engine._save
    tried: list[str] = []

    def save_while_a_removal_is_tried(*aggregates: Any) -> None:
        tried.append(try_to_clean(world))
        save(*aggregates)

    monkeypatch.setattr(world.engine, "_save", save_while_a_removal_is_tried)
    world.engine.attach_evidence(world.secretary("treasury"), did, name="a.pdf", data=MINUTES)
    assert tried == ["held off"]
    assert try_to_clean(world) == "allowed"


def try_to_clean(world: World) -> str:
    with open(evidence_root(world) / "tmp" / "attach.lock", "rb") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "held off"
        return "allowed"
