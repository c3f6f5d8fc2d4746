"""A refused attach leaves the evidence directory as it found it: the file is written only once every check passed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest

from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    EvidenceRejected,
    InvalidInput,
    InvalidTransition,
    NotAuthorized,
    PeriodClosed,
)
from tests.application.conftest import World
from tests.application.helpers import draft
from workflow.evidence import FileBlobStore

MINUTES = b"%PDF-1.7 bien ban hop chi bo"
NEW = b"%PDF-1.7 a file not stored yet"


@pytest.fixture
def evidence_dir(world: World, tmp_path: Path) -> Path:
    world.engine.blobs = FileBlobStore(tmp_path / "evidence")
    return tmp_path / "evidence"


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every path under the directory, with a file's content."""
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else None for p in directory.rglob("*")}


Attempt = tuple[Callable[[], object], type[DomainError]]


def attach(world: World, did: UUID, data: bytes, *, unit: str = "treasury", version: int | None = None) -> object:
    secretary = world.secretary(unit)
    return world.engine.attach_evidence(secretary, did, name="new.pdf", data=data, expected_version=version).value


def in_a_submitted_dossier(world: World) -> Attempt:
    did = draft(world, "treasury")
    world.engine.submit(world.secretary("treasury"), did)
    return lambda: attach(world, did, NEW), InvalidTransition


def attached_twice(world: World) -> Attempt:
    did = draft(world, "treasury")
    attach(world, did, MINUTES)
    return lambda: attach(world, did, MINUTES), InvalidInput


def by_another_units_secretary(world: World) -> Attempt:
    did = draft(world, "treasury")
    return lambda: attach(world, did, NEW, unit="cell-a"), NotAuthorized


def in_a_closed_period(world: World) -> Attempt:
    did = draft(world, "treasury")
    world.engine.close_period(world.admin, 2024, reason="Kết thúc kỳ đánh giá")
    return lambda: attach(world, did, NEW), PeriodClosed


def on_a_stale_version(world: World) -> Attempt:
    did = draft(world, "treasury")
    return lambda: attach(world, did, NEW, version=world.engine.dossier(did).version - 1), ConcurrencyConflict


def of_a_type_not_accepted(world: World) -> Attempt:
    did = draft(world, "treasury")
    return lambda: attach(world, did, b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64)), EvidenceRejected


@pytest.mark.parametrize(
    "refusal",
    [
        in_a_submitted_dossier,
        attached_twice,
        by_another_units_secretary,
        in_a_closed_period,
        on_a_stale_version,
        of_a_type_not_accepted,
    ],
)
def test_an_attach_refused_leaves_the_evidence_directory_unchanged(
    world: World, evidence_dir: Path, refusal: Callable[[World], Attempt]
) -> None:
    attach, refused_with = refusal(world)
    before = snapshot(evidence_dir)
    with pytest.raises(refused_with):
        attach()
    assert snapshot(evidence_dir) == before


def test_a_file_whose_name_says_another_type_than_its_content_is_refused() -> None:
    from domain.errors import EvidenceRejected
    from workflow.evidence import EvidencePolicy

    policy = EvidencePolicy()
    with pytest.raises(EvidenceRejected, match="named as application/pdf, but its content is text/plain"):
        policy.check("bien-ban.pdf", b"<html><script>alert(1)</script></html>")
    with pytest.raises(EvidenceRejected, match="named as text/html"):
        policy.check("trang.html", b"<p>plain text that is HTML</p>")
    assert policy.check("so-lieu.csv", b"a,b\n1,2\n") == "text/plain"
    assert policy.check("ghi-chu", b"just text") == "text/plain"
