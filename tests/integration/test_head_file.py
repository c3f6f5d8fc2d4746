"""The head file is written behind the commits, within a delay, and never moves backwards.

A commit records its signed head in memory; a writer thread replaces the head file at most once per delay
(DOSSIERFLOW_HEAD_FILE_DELAY_MS), and closing the application writes the last head. Several writers sharing one
data directory never replace a head with an older one.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from workflow.store import (
    ChainWriteRefused,
    HashChainedRecorder,
    HeadSigner,
    SignedHead,
    SigningKeyError,
    chain_head,
    load_public_key,
    verify_chain,
)
from workflow.store.signing import HEAD_FILE_DELAY_ENV, HeadFile

if TYPE_CHECKING:
    from tests.conftest import Backend

# Long enough that nothing but close() or flush() writes a head after the first one in a test's lifetime.
NEVER = "60000"


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Amended")
    def amend(self, text: str) -> None:
        self.text = text


class NoteApp(Application[UUID]):
    name = "dossierflow"


def app_with_delay(backend: Backend, delay_ms: str) -> NoteApp:
    return NoteApp(env={**backend.env, HEAD_FILE_DELAY_ENV: delay_ms})


def signer_of(app: NoteApp) -> HeadSigner:
    recorder = app.recorder
    assert isinstance(recorder, HashChainedRecorder)
    assert recorder.signer is not None
    return recorder.signer


def head_in_file(backend: Backend) -> SignedHead | None:
    return SignedHead.read(backend.head_file) if backend.head_file.exists() else None


def write_notes(app: NoteApp, count: int) -> None:
    for n in range(count):
        app.save(Note(f"note {n}"))


@pytest.fixture
def slow_app(backend: Backend) -> Iterator[NoteApp]:
    application = app_with_delay(backend, NEVER)
    yield application
    application.close()


def test_the_head_file_catches_up_with_the_commits_without_the_application_being_closed(backend: Backend) -> None:
    app = app_with_delay(backend, "20")
    try:
        write_notes(app, 30)
        # Waiting, not timing: the file must get there, however loaded the machine.
        deadline = time.monotonic() + 30
        while (head := head_in_file(backend)) is None or head.position < 30:
            assert time.monotonic() < deadline, f"the head file stayed at {head}"
            time.sleep(0.01)
        assert (head.position, head.hash) == chain_head(app.recorder)
    finally:
        app.close()


def test_closing_the_application_writes_the_heads_the_delay_held_back(backend: Backend) -> None:
    app = app_with_delay(backend, NEVER)
    write_notes(app, 5)
    app.close()
    head = head_in_file(backend)
    assert head is not None
    assert head.position == 5
    assert head.is_signed_by(load_public_key(backend.signing_key))


def test_with_no_delay_the_head_file_is_written_before_the_save_returns(backend: Backend) -> None:
    app = app_with_delay(backend, "0")
    try:
        for n in range(1, 4):
            app.save(Note(f"note {n}"))
            head = head_in_file(backend)
            assert head is not None
            assert head.position == n
    finally:
        app.close()


def test_a_loss_the_head_file_has_not_seen_yet_is_still_refused_by_the_process_that_wrote_the_events(
    slow_app: NoteApp, backend: Backend
) -> None:
    write_notes(slow_app, 6)
    for table, column in (
        (backend.events_table, backend.notification_id),
        (backend.chain_table, "notification_id"),
        (backend.heads_table, "notification_id"),
    ):
        backend.raw_sql(f"DELETE FROM {table} WHERE {column} > 3")
    with pytest.raises(ChainWriteRefused, match="events were removed"):
        slow_app.save(Note("covering up"))


def test_the_newest_head_this_process_committed_is_remembered_before_the_file_has_it(
    slow_app: NoteApp, backend: Backend
) -> None:
    write_notes(slow_app, 4)
    remembered = signer_of(slow_app).remembered_head()
    assert remembered is not None
    assert (remembered.position, remembered.hash) == chain_head(slow_app.recorder)


def test_a_head_file_edited_in_place_is_what_the_process_remembers_at_the_same_position(
    slow_app: NoteApp, backend: Backend
) -> None:
    write_notes(slow_app, 2)
    signer = signer_of(slow_app)
    signer.flush()
    head = SignedHead.read(backend.head_file)
    backend.head_file.write_text(head.to_json().replace(head.hash, "b" * 64))
    remembered = signer.remembered_head()
    assert remembered is not None
    assert remembered.hash == "b" * 64
    report = verify_chain(
        slow_app.recorder,
        public_key=load_public_key(backend.signing_key),
        signed_anchors=[("the head file", remembered)],
    )
    assert report.first_break is not None
    assert report.first_break.kind == "anchor-forged"


def test_a_writer_with_an_older_head_never_moves_the_head_file_backwards(tmp_path: Path) -> None:
    signer = HeadSigner(tmp_path / "signing-key.pem", tmp_path / "chain-head.json")
    newer, older = HeadFile(signer.head_path, 0), HeadFile(signer.head_path, 0)
    newer.remember(signer.sign_head(10, 10, "a" * 64))
    older.remember(signer.sign_head(7, 7, "b" * 64))
    assert SignedHead.read(signer.head_path).position == 10
    # And the older writer now knows of the later head: it is what it checks its next commit against.
    remembered = older.newest()
    assert remembered is not None
    assert remembered.position == 10
    newer.close()
    older.close()


def test_two_applications_writing_to_one_data_directory_never_move_the_head_file_backwards(
    backend: Backend,
) -> None:
    first, second = app_with_delay(backend, "5"), app_with_delay(backend, "5")
    seen: list[int] = []
    writing = threading.Event()
    writing.set()

    def watch() -> None:
        while writing.is_set():
            try:
                head = head_in_file(backend)
            except SigningKeyError:
                head = None  # Never a torn file: the file is replaced by rename. Counted as a failure below.
                seen.append(-1)
            if head is not None:
                seen.append(head.position)

    def write(app: NoteApp) -> None:
        note = Note("start")
        app.save(note)
        for n in range(40):
            note.amend(f"amendment {n}")
            app.save(note)

    watcher = threading.Thread(target=watch)
    writers = [threading.Thread(target=write, args=(app,)) for app in (first, second)]
    watcher.start()
    try:
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
    finally:
        first.close()
        second.close()
        writing.clear()
        watcher.join()
    assert -1 not in seen, "the head file was read half-written"
    assert seen == sorted(seen), "the head file moved backwards"
    head = head_in_file(backend)
    assert head is not None
    assert head.position == 82
    check = NoteApp(env=backend.env)
    try:
        assert (head.position, head.hash) == chain_head(check.recorder)
        report = verify_chain(
            check.recorder, public_key=load_public_key(backend.signing_key), signed_anchors=[("the head file", head)]
        )
        assert report.ok, report.first_break
    finally:
        check.close()


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "60001"])
def test_a_head_file_delay_that_is_no_number_of_milliseconds_up_to_a_minute_is_refused(
    backend: Backend, value: str
) -> None:
    with pytest.raises(SigningKeyError, match=HEAD_FILE_DELAY_ENV):
        NoteApp(env={**backend.env, HEAD_FILE_DELAY_ENV: value})


def test_a_head_file_that_cannot_be_written_is_said_once_and_the_store_still_closes(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with_delay(backend, NEVER)
    write_notes(app, 3)

    def disk_full(self: HeadFile, head: SignedHead) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(HeadFile, "_write", disk_full)
    with caplog.at_level(logging.WARNING, logger="workflow.store.signing"):
        app.close()
    warnings = [r.getMessage() for r in caplog.records if "head file" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "No space left on device" in warnings[0]
    assert app.recorder.datastore.pool.closed  # type: ignore[attr-defined]
    # Every head was signed in the database: once the file can be written again, the next commit writes it.
    monkeypatch.undo()
    later = app_with_delay(backend, "0")
    try:
        later.save(Note("after the disk was freed"))
        head = head_in_file(backend)
        assert head is not None
        assert (head.position, head.hash) == chain_head(later.recorder) == (4, head.hash)
        report = verify_chain(
            later.recorder, public_key=load_public_key(backend.signing_key), signed_anchors=[("the head file", head)]
        )
        assert report.ok, report.first_break
    finally:
        later.close()
