from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import filetype  # type: ignore[import-untyped]

from domain.errors import EvidenceRejected
from domain.text import clean_text
from domain.values import Evidence

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# What file systems allow for a file's name; a longer "name" is not one.
MAX_FILE_NAME_LENGTH = 255
DEFAULT_ALLOWED_TYPES = frozenset(
    {
        "application/pdf",
        "image/jpeg",
        "image/png",
        "text/plain",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
    }
)


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...
    def get(self, sha256: str) -> bytes: ...
    def has(self, sha256: str) -> bool: ...


@dataclass
class MemoryBlobStore:
    blobs: dict[str, bytes] = field(default_factory=dict)

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def get(self, sha256: str) -> bytes:
        return self.blobs[sha256]

    def has(self, sha256: str) -> bool:
        return sha256 in self.blobs


class FileBlobStore:
    """Content-addressed files: the same bytes are stored once, and a file's name is its own checksum."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash never leaves a half file under a valid checksum name.
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        return digest

    def get(self, sha256: str) -> bytes:
        data = self._path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EvidenceRejected(f"stored evidence {sha256} no longer matches its checksum")
        return data

    def has(self, sha256: str) -> bool:
        return self._path(sha256).exists()


@dataclass(frozen=True)
class EvidencePolicy:
    max_bytes: int = DEFAULT_MAX_BYTES
    allowed_types: frozenset[str] = DEFAULT_ALLOWED_TYPES

    def check(self, name: str, data: bytes) -> str:
        """The media type the content really has, if the file may be attached."""
        if not name.strip():
            raise EvidenceRejected("an evidence file needs a name")
        # The name is shown in the history, one file per line: it must not be able to write lines of its own.
        name = clean_text(name, "an evidence file's name", max_length=MAX_FILE_NAME_LENGTH)
        if not data:
            raise EvidenceRejected(f"{name} is empty")
        if len(data) > self.max_bytes:
            raise EvidenceRejected(f"{name} is {len(data):,} bytes; the limit is {self.max_bytes:,} bytes")
        # The type is read from the content, not taken from the name or the browser's word for it.
        media_type: str | None = filetype.guess_mime(data)
        if media_type is None and _is_text(data):
            media_type = "text/plain"
        if media_type not in self.allowed_types:
            allowed = ", ".join(sorted(self.allowed_types))
            raise EvidenceRejected(
                f"{name}: files of type {media_type or 'unknown'} are not accepted; allowed: {allowed}"
            )
        return media_type

    def evidence(self, store: BlobStore, name: str, data: bytes) -> Evidence:
        media_type = self.check(name, data)
        return Evidence(sha256=store.put(data), name=name.strip(), size=len(data), media_type=media_type)


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data
