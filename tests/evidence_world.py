"""The world of the evidence tests: the engine's evidence files on disk, where verify and attach can be watched."""

from __future__ import annotations

from pathlib import Path

from tests.application.conftest import World, build_world
from workflow.evidence import FileBlobStore

MINUTES = b"%PDF-1.7 bien ban hop chi bo thang 10"
REPORT = b"%PDF-1.7 bao cao kiem diem tap the"


def world_with_files(env: dict[str, str], evidence: Path) -> World:
    world = build_world(dict(env))
    world.engine.blobs = FileBlobStore(evidence)
    return world


def evidence_root(world: World) -> Path:
    blobs = world.engine.blobs
    assert isinstance(blobs, FileBlobStore)
    return blobs.root
