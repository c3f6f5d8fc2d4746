"""The evidence files on disk: a crash while one is written leaves no temporary for long and no half file under a
valid name."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workflow import evidence
from workflow.evidence import STALE_TEMP_SECONDS, TMP_SUFFIX, FileBlobStore
from workflow.store.errors import StoreUnavailable

PROJECT = Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.7 bien ban"

# Writes a large file through FileBlobStore.put, says so once part of it is on disk, and waits there to be killed:
# the parent kills it in the middle of the write, at a moment it knows, without sleeping.
WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from workflow.evidence import FileBlobStore

    real_write = os.write
    chunks = 0

    def write_then_wait(fd, data):
        global chunks
        written = real_write(fd, data)
        chunks += 1
        if chunks == 2:
            print("writing", flush=True)
            sys.stdin.readline()
        return written

    os.write = write_then_wait
    FileBlobStore(Path(sys.argv[1])).put(os.urandom(16 * 1024 * 1024))
    print("finished", flush=True)
    """
)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def temporaries(root: Path) -> list[Path]:
    return sorted((root / "tmp").glob(f"*{TMP_SUFFIX}"))


def a_temporary(root: Path, pid: int, age: float = 0) -> Path:
    """A temporary as put names it, for a writer with this pid, last touched `age` seconds ago."""
    path = root / "tmp" / f"put-{evidence._HOST}-{pid}-abc123{TMP_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.7 half")
    moment = time.time() - age
    os.utime(path, (moment, moment))
    return path


def a_process_that_has_exited() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(child.stdout)


def test_a_writer_killed_in_the_middle_of_a_large_file_leaves_nothing_once_the_store_is_opened_again(
    tmp_path: Path,
) -> None:
    root = tmp_path / "evidence"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "writing\n"
        [partial] = temporaries(root)
        assert 0 < partial.stat().st_size < 16 * 1024 * 1024, "killed in the middle of the write"
        writer.send_signal(signal.SIGKILL)
        assert writer.wait() == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert files_under(root) == [partial], "the half file stays under its temporary name only"

    FileBlobStore(root)
    assert files_under(root) == []


def test_a_file_is_flushed_to_disk_under_a_temporary_name_in_tmp_before_it_takes_its_checksum_as_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    fsync, replace = os.fsync, os.replace

    def recorded_fsync(fd: int) -> None:
        steps.append(f"fsync {Path(os.readlink(f'/proc/self/fd/{fd}')).relative_to(tmp_path)}")
        fsync(fd)

    def recorded_replace(source: str, target: Path) -> None:
        steps.append(f"replace {Path(source).parent.relative_to(tmp_path)} -> {Path(target).relative_to(tmp_path)}")
        replace(source, target)

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    monkeypatch.setattr(os, "replace", recorded_replace)
    sha = FileBlobStore(tmp_path).put(PDF)
    temporary = steps[0].removeprefix("fsync ")
    assert temporary.startswith(f"tmp/put-{evidence._HOST}-{os.getpid()}-")
    assert temporary.endswith(TMP_SUFFIX)
    assert steps == [f"fsync {temporary}", f"replace tmp -> {sha[:2]}/{sha}", f"fsync {sha[:2]}"]
    assert (tmp_path / sha[:2] / sha).read_bytes() == PDF
    assert temporaries(tmp_path) == []


def test_opening_the_store_removes_a_temporary_whose_writer_has_exited(tmp_path: Path) -> None:
    abandoned = a_temporary(tmp_path, a_process_that_has_exited())
    FileBlobStore(tmp_path)
    assert not abandoned.exists()


def test_opening_the_store_removes_a_temporary_untouched_for_long_whatever_its_pid(tmp_path: Path) -> None:
    abandoned = a_temporary(tmp_path, os.getpid(), age=STALE_TEMP_SECONDS + 60)
    FileBlobStore(tmp_path)
    assert not abandoned.exists()


def test_opening_the_store_keeps_a_fresh_temporary_of_a_live_writer_and_files_that_are_no_temporary(
    tmp_path: Path,
) -> None:
    writing = a_temporary(tmp_path, os.getpid())
    other = tmp_path / "tmp" / "notes.txt"
    other.write_text("not ours")
    stored = FileBlobStore(tmp_path).put(PDF)
    FileBlobStore(tmp_path)
    assert writing.exists()
    assert other.exists()
    assert (tmp_path / stored[:2] / stored).exists()


def test_opening_the_store_read_only_removes_nothing(tmp_path: Path) -> None:
    abandoned = a_temporary(tmp_path, a_process_that_has_exited())
    FileBlobStore(tmp_path, read_only=True)
    assert abandoned.exists()


def test_a_failed_write_removes_its_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    # The store's failure, said as the store says it (a 503 on the pages), not a bare OSError.
    with pytest.raises(StoreUnavailable, match="No space left on device; nothing was attached"):
        FileBlobStore(tmp_path).put(PDF)
    assert files_under(tmp_path) == []


def test_a_stored_file_is_checked_against_its_name(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    sha = store.put(PDF)
    assert store.fault(sha) is None
    (tmp_path / sha[:2] / sha).write_bytes(b"%PDF-1.7 other")
    replaced = store.fault(sha)
    assert replaced is not None
    assert replaced.kind == "evidence-replaced"
    assert hashlib.sha256(b"%PDF-1.7 other").hexdigest() in replaced.detail
    (tmp_path / sha[:2] / sha).unlink()
    missing = store.fault(sha)
    assert missing is not None
    assert missing.kind == "evidence-missing"
    malformed = store.fault("../../etc/passwd")
    assert malformed is not None
    assert malformed.kind == "evidence-malformed"
