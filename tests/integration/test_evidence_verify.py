"""Evidence files are inside what verify checks, on both backends: each distinct file re-hashed once."""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from tests.application.conftest import World
from tests.application.helpers import draft
from tests.conftest import Backend
from tests.evidence_world import MINUTES, REPORT, evidence_root, world_with_files
from workflow.engine import Engine
from workflow.evidence import BlobFault, FileBlobStore


@pytest.fixture
def world(backend: Backend, tmp_path: Path) -> Iterator[World]:
    world = world_with_files(backend.env, tmp_path / "evidence")
    yield world
    world.engine.close()


def blob_path(world: World, digest: str) -> Path:
    return evidence_root(world) / digest[:2] / digest


def reopened(world: World, backend: Backend) -> Engine:
    """Another process's engine on the same store and evidence files: nothing is taken from the writer's memory."""
    return Engine(dict(backend.env), clock=world.clock, blobs=FileBlobStore(evidence_root(world)))


def test_verify_names_a_replaced_and_a_missing_evidence_file_with_its_dossier_name_and_checksum(
    world: World, backend: Backend
) -> None:
    kim_tan, treasury = draft(world, "cell-a"), draft(world, "treasury")
    minutes = world.engine.attach_evidence(world.secretary("cell-a"), kim_tan, name="Biên bản.pdf", data=MINUTES).value
    report = world.engine.attach_evidence(world.secretary("treasury"), treasury, name="Báo cáo.pdf", data=REPORT).value
    assert world.engine.verify().ok
    blob_path(world, minutes).write_bytes(b"%PDF-1.7 a page put in its place")
    blob_path(world, report).unlink()

    engine = reopened(world, backend)
    try:
        result = engine.verify()
    finally:
        engine.close()
    assert result.first_break is None, "the events themselves are intact"
    assert not result.ok
    assert result.evidence_files == 2
    assert [(f.kind, f.subject) for f in result.findings] == [
        ("evidence-replaced", f"evidence file 'Biên bản.pdf' (sha256 {minutes}) of dossier cell-a/2024 ({kim_tan})"),
        ("evidence-missing", f"evidence file 'Báo cáo.pdf' (sha256 {report}) of dossier treasury/2024 ({treasury})"),
    ]
    replaced, missing = result.findings
    assert f"{blob_path(world, minutes)} now hashes to {sha256(b'%PDF-1.7 a page put in its place').hexdigest()}" in (
        replaced.detail
    )
    assert f"there is no file {blob_path(world, report)}: it was deleted" in missing.detail


def test_a_file_attached_to_two_dossiers_is_rehashed_once_and_reported_for_each(
    world: World, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    kim_tan, treasury = draft(world, "cell-a"), draft(world, "treasury")
    sha = world.engine.attach_evidence(world.secretary("cell-a"), kim_tan, name="a.pdf", data=MINUTES).value
    world.engine.attach_evidence(world.secretary("treasury"), treasury, name="b.pdf", data=MINUTES)
    blob_path(world, sha).write_bytes(REPORT)

    engine = reopened(world, backend)
    rehashed: list[str] = []
    fault = FileBlobStore.fault

    def counted(store: FileBlobStore, sha256: str) -> BlobFault | None:
        rehashed.append(sha256)
        return fault(store, sha256)

    monkeypatch.setattr(FileBlobStore, "fault", counted)
    try:
        result = engine.verify()
    finally:
        engine.close()
    assert rehashed == [sha]
    assert [(f.kind, f.subject.split(" of dossier ")[1].split()[0]) for f in result.findings] == [
        ("evidence-replaced", "cell-a/2024"),
        ("evidence-replaced", "treasury/2024"),
    ]


def test_a_file_whose_attachment_was_later_removed_is_still_checked(world: World, backend: Backend) -> None:
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    sha = world.engine.attach_evidence(secretary, did, name="draft.pdf", data=MINUTES).value
    world.engine.remove_evidence(secretary, did, sha256=sha, reason="the wrong draft")
    blob_path(world, sha).unlink()
    # The history still shows the file as attached once: its bytes are part of the record.
    assert [f.kind for f in world.engine.verify().findings] == ["evidence-missing"]


def test_verify_decodes_only_the_attach_events_and_reports_its_progress_in_files(
    world: World, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    did = draft(world, "treasury")
    world.engine.attach_evidence(world.secretary("treasury"), did, name="a.pdf", data=MINUTES)
    world.engine.attach_evidence(world.secretary("treasury"), did, name="b.pdf", data=REPORT)
    engine = reopened(world, backend)
    decoded: list[str] = []
    to_domain_event = engine.mapper.to_domain_event

    def counted(stored: Any) -> Any:
        decoded.append(str(stored.topic))
        return to_domain_event(stored)

    monkeypatch.setattr(engine.mapper, "to_domain_event", counted)
    events: list[tuple[int, int]] = []
    files: list[tuple[int, int]] = []
    try:
        result = engine.verify(progress=lambda *call: events.append(call), evidence_progress=lambda *c: files.append(c))
    finally:
        engine.close()
    assert result.ok, result.findings
    assert decoded == ["domain.dossier:Dossier.EvidenceAttached"] * 2
    assert result.events_checked > 20, "the walk went over every event, the others undecoded"
    assert events[-1] == (result.events_checked, result.events_checked)
    assert files == [(0, 2), (2, 2)]
