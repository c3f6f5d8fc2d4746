from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mimetypes
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import filetype  # type: ignore[import-untyped]

from domain.errors import EvidenceRejected, NotFound
from domain.messages import N_, Count, Message
from domain.text import clean_text
from domain.values import Evidence
from workflow.store.errors import StoreUnavailable

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

TMP_DIR_NAME = "tmp"
TMP_PREFIX = "put-"
TMP_SUFFIX = ".partial"
# A temporary untouched this long is abandoned even if a process with its writer's pid lives: pids are reused, and
# a writer on another host cannot be asked. A live writer touches its file at every chunk, well within this.
STALE_TEMP_SECONDS = 10 * 60
# Written in chunks: a short write is resumed rather than lost, and no single system call carries 20 MiB.
WRITE_CHUNK = 1024 * 1024
# How many evidence files verify re-hashes between two calls of its progress callback (each may be 20 MiB).
EVIDENCE_PROGRESS_EVERY = 50
_SHA256 = re.compile(r"[0-9a-f]{64}")
# The writer's host, in a form without the "-" that separates a temporary's name's parts: its pid means something
# only there.
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:12]


@dataclass(frozen=True)
class BlobFault:
    """Why a stored file cannot be trusted. kind: "evidence-missing", "evidence-replaced" (its content no longer
    hashes to its name), "evidence-unreadable", or "evidence-malformed" (the checksum names no file)."""

    kind: str
    detail: str


_MISSING = N_(
    "the file of evidence %(sha256)s is missing from the evidence store (deleted or moved); `dossierflow verify` "
    "reports it, and it must be restored from a backup"
)


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...
    def get(self, sha256: str) -> bytes: ...
    def has(self, sha256: str) -> bool: ...

    def fault(self, sha256: str) -> BlobFault | None:
        """Re-hash the stored file: None if it is there and still hashes to its name."""
        ...

    def remove(self, sha256: str) -> None: ...

    def attaching(self) -> contextlib.AbstractContextManager[None]:
        """Held from before put until the event that references the file is stored or has failed to be."""
        ...

    def cleaning(self) -> contextlib.AbstractContextManager[None]:
        """Held to remove a file: waits until no attach holds `attaching`, so that a file another attach has just
        found already stored (and so will not write again) cannot vanish before its event is stored."""
        ...


@dataclass
class MemoryBlobStore:
    blobs: dict[str, bytes] = field(default_factory=dict)

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def get(self, sha256: str) -> bytes:
        if sha256 not in self.blobs:
            raise NotFound(_MISSING, sha256=sha256)
        return self.blobs[sha256]

    def has(self, sha256: str) -> bool:
        return sha256 in self.blobs

    def fault(self, sha256: str) -> BlobFault | None:
        data = self.blobs.get(sha256)
        if data is None:
            return BlobFault("evidence-missing", "the file is not in the blob store")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            return BlobFault("evidence-replaced", f"the stored content now hashes to {actual}")
        return None

    def remove(self, sha256: str) -> None:
        self.blobs.pop(sha256, None)

    def attaching(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def cleaning(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class FileBlobStore:
    """Content-addressed files: the same bytes are stored once, and a file's name is its own checksum.

    A file is written under tmp/ (named put-<host>-<pid>-<random>.partial), flushed to disk, then renamed to its
    checksum: a crash leaves at most a temporary there, never a half file under a valid name. Opening the store
    (unless read_only) removes the temporaries whose writer is gone.
    """

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = root
        self.tmp_dir = root / TMP_DIR_NAME
        if not read_only:
            self.sweep_temporaries()

    def _path(self, sha256: str) -> Path:
        # The checksum becomes a path: anything else ("../..") must never reach the file system.
        if not _SHA256.fullmatch(sha256):
            raise EvidenceRejected(N_("%(sha256)s is not a SHA-256 checksum"), sha256=repr(sha256[:80]))
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        try:
            return self._put(data)
        except OSError as error:
            raise self._unwritable(error) from error

    def _unwritable(self, error: OSError) -> StoreUnavailable:
        # A full disk, a directory that cannot be written: the store's failure, not the file's (nothing is attached;
        # the engine saves no event without its file), said as the store says it (a 503 on the pages).
        return StoreUnavailable(
            f"evidence cannot be written under {self.root}: {error.strerror or error}; nothing was attached"
        )

    def _put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix=f"{TMP_PREFIX}{_HOST}-{os.getpid()}-", suffix=TMP_SUFFIX)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view[:WRITE_CHUNK]) :]
                # On disk before it gets its name: after a power cut the name must not stand for a file of zeros.
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_directory(path.parent)
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            data = self._path(sha256).read_bytes()
        except FileNotFoundError:
            # Recorded in the log, gone from the disk: the record stands, the file must come back from a backup.
            raise NotFound(_MISSING, sha256=sha256) from None
        except OSError as error:
            raise StoreUnavailable(f"the evidence file {sha256} cannot be read: {error.strerror or error}") from error
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EvidenceRejected(N_("stored evidence %(sha256)s no longer matches its checksum"), sha256=sha256)
        return data

    def has(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def fault(self, sha256: str) -> BlobFault | None:
        if not _SHA256.fullmatch(sha256):
            return BlobFault("evidence-malformed", f"{sha256[:80]!r} is not a SHA-256 checksum: it names no file")
        path = self._path(sha256)
        try:
            with path.open("rb") as stored:
                actual = hashlib.file_digest(stored, "sha256").hexdigest()
        except FileNotFoundError:
            return BlobFault("evidence-missing", f"there is no file {path}: it was deleted or moved")
        except OSError as error:
            return BlobFault("evidence-unreadable", f"{path} cannot be read: {error.strerror or error}")
        if actual != sha256:
            return BlobFault(
                "evidence-replaced",
                f"{path} now hashes to {actual}: its content was replaced or altered after it was attached",
            )
        return None

    def remove(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self, operation: int) -> Iterator[None]:
        # flock, one open file each: it excludes other threads of this process as well as other processes.
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.tmp_dir / "attach.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise self._unwritable(error) from error
        try:
            fcntl.flock(fd, operation)
            yield
        finally:
            os.close(fd)

    def attaching(self) -> contextlib.AbstractContextManager[None]:
        return self._locked(fcntl.LOCK_SH)

    def cleaning(self) -> contextlib.AbstractContextManager[None]:
        return self._locked(fcntl.LOCK_EX)

    def sweep_temporaries(self) -> list[Path]:
        """Remove the temporaries left by writers that are gone (killed, crashed, powered off); the ones removed."""
        try:
            entries = list(os.scandir(self.tmp_dir))
        except OSError:
            return []
        now = time.time()
        removed = []
        for entry in entries:
            writer = _temporary_writer(entry.name)
            if writer is None:
                continue
            try:
                age = now - entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            host, pid = writer
            if host == _HOST and _process_alive(pid) and age < STALE_TEMP_SECONDS:
                continue
            if host != _HOST and age < STALE_TEMP_SECONDS:
                continue
            # A store on a read-only medium, or a file gone meanwhile: nothing to sweep, and no reason to fail.
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        return removed


def _temporary_writer(name: str) -> tuple[str, int] | None:
    """(host, pid) of a temporary's writer, from its name; None for a file that is no temporary of ours."""
    if not (name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX)):
        return None
    parts = name[len(TMP_PREFIX) :].split("-", 2)
    if len(parts) != 3 or not parts[1].isascii() or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OverflowError:
        return False
    return True


def _fsync_directory(directory: Path) -> None:
    # The rename itself is durable only once its directory is: else a power cut may forget the file's name.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class EvidencePolicy:
    max_bytes: int = DEFAULT_MAX_BYTES
    allowed_types: frozenset[str] = DEFAULT_ALLOWED_TYPES

    def check(self, name: str, data: bytes) -> str:
        """The media type the content really has, if the file may be attached."""
        if not name.strip():
            raise EvidenceRejected(N_("an evidence file needs a name"))
        # The name is shown in the history, one file per line: it must not be able to write lines of its own.
        name = clean_text(name, N_("an evidence file's name"), max_length=MAX_FILE_NAME_LENGTH)
        if not data:
            raise EvidenceRejected(N_("%(name)s is empty"), name=name)
        if len(data) > self.max_bytes:
            raise EvidenceRejected(
                N_("%(name)s is %(size)s bytes; the limit is %(limit)s bytes"),
                name=name, size=Count(len(data)), limit=Count(self.max_bytes),
            )
        # The type is read from the content, not taken from the name or the browser's word for it.
        media_type: str | None = filetype.guess_mime(data)
        if media_type is None and _is_text(data):
            media_type = "text/plain"
        if media_type not in self.allowed_types:
            allowed = ", ".join(sorted(self.allowed_types))
            raise EvidenceRejected(
                N_("%(name)s: files of type %(type)s are not accepted; allowed: %(allowed)s"),
                name=name, type=media_type or Message(N_("unknown")), allowed=allowed,
            )
        # A name that says another type than the content is a disguise (an HTML page named .pdf): whoever opens it
        # by its name would get something else than what was reviewed.
        named = mimetypes.guess_type(name, strict=False)[0]
        if named is not None and named != media_type and not (media_type == "text/plain" and named in _PLAIN_TEXTS):
            raise EvidenceRejected(
                N_("%(name)s is named as %(named)s, but its content is %(type)s; rename or convert it"),
                name=name, named=named, type=media_type,
            )
        return media_type

    def describe(self, name: str, data: bytes) -> Evidence:
        """The evidence the file would be, if it may be attached; nothing is written (see Engine.attach_evidence)."""
        media_type = self.check(name, data)
        return Evidence(
            sha256=hashlib.sha256(data).hexdigest(), name=name.strip(), size=len(data), media_type=media_type
        )


# Names of text formats whose content is plain text: a .csv is not a disguise.
_PLAIN_TEXTS = frozenset({"text/csv", "text/markdown", "text/tab-separated-values", "text/x-markdown"})


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data
