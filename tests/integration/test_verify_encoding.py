"""verify's walk encodes each row as link_hash does at write time, for odd rows too, and its caches never let an
edited row pass for the row it replaced."""

from __future__ import annotations

import gc
from contextlib import closing, suppress
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

from workflow.store import GENESIS_HASH, application_env, link_hash, verify_chain
from workflow.store.chain import VERIFY_PAGE_SIZE, HashChainedRecorder
from workflow.store.verify import _originator_field

if TYPE_CHECKING:
    from tests.conftest import Backend

ODD_EVENTS = [
    ("domain.dossier:Dossier.Opened", b""),  # an empty state
    ("domain.dossier:Dossier.Amended", bytes(range(256)) * 8192),  # 2 MiB, every byte value
    ("domain.dossier:Hồ_sơ.Đã_phê_duyệt", "ý kiến: đạt".encode()),  # a topic that is no ASCII
    ("domain.dossier:Dossier.Opened", b"\x00" * 3),
]


def recorder_of(backend: Backend) -> tuple[InfrastructureFactory, ApplicationRecorder]:
    factory = InfrastructureFactory.construct(Environment(backend.application_name, backend.env))
    return factory, factory.application_recorder()


def test_odd_rows_verify_and_their_chain_is_link_hash_over_what_was_stored(backend: Backend) -> None:
    factory, recorder = recorder_of(backend)
    try:
        originator = uuid4()
        events = [StoredEvent(originator, v, topic, state) for v, (topic, state) in enumerate(ODD_EVENTS, start=1)]
        recorder.insert_events(events[:2])
        recorder.insert_events(events[2:])
        report = verify_chain(recorder)
        assert report.ok, report.first_break
        assert report.events_checked == len(ODD_EVENTS)
        prev = GENESIS_HASH
        for nid, event in enumerate(events, start=1):
            prev = link_hash(prev, nid, originator, event.originator_version, event.topic, event.state)
        assert report.head == prev
    finally:
        factory.close()


def test_a_version_edited_to_a_value_of_another_type_is_reported_as_altered(backend: Backend) -> None:
    factory, recorder = recorder_of(backend)
    try:
        originator = uuid4()
        # Version 2 twice, under two originators: the walk has cached the field of version 2 when it meets the
        # edited row, which must be hashed as what it now holds, as link_hash would.
        recorder.insert_events([StoredEvent(originator, v, "t:Opened", b"{}") for v in (1, 2)])
        other = uuid4()
        recorder.insert_events([StoredEvent(other, v, "t:Opened", b"{}") for v in (1, 2)])
        if backend.name == "sqlite":
            # SQLite turns 2.0 or '2' back into the integer 2 in an INTEGER column; a blob it keeps.
            backend.raw_sql(f"UPDATE {backend.events_table} SET originator_version = x'32' WHERE rowid = 4")
            typed = backend.raw_sql(f"SELECT typeof(originator_version) FROM {backend.events_table} WHERE rowid = 4")
            assert typed == [("blob",)]
        else:  # A bigint column holds nothing but integers: the nearest edit of another shape is the topic's.
            backend.raw_sql(f"UPDATE {backend.events_table} SET topic = 't:Opened ' WHERE notification_id = 4")
        report = verify_chain(recorder)
        assert report.first_break is not None
        assert report.first_break.kind == "altered"
        assert (report.first_break.position, report.first_break.notification_id) == (4, 4)
    finally:
        factory.close()


def test_the_walk_encodes_an_originator_id_of_any_form_as_link_hash_does() -> None:
    # The walk's shortcut for SQLite's plain lowercase hex must give what parsing the UUID gives, and leave every
    # other form (upper case, dashes, braces, a URN, no UUID at all) to that parsing, as link_hash does.
    plain = uuid4().hex
    forms = [
        plain, plain.upper(), str(UUID(plain)), "{" + plain + "}", "urn:uuid:" + plain, plain[:-1] + "g",
        plain[:-1], plain + "0", "0" * 32, "ｆ" * 32, str(uuid4()), uuid4(),
    ]
    for form in forms:
        expected_text = str(form)
        with suppress(ValueError):
            expected_text = str(UUID(str(form)))
        expected = len(expected_text.encode()).to_bytes(8, "big") + expected_text.encode()
        assert _originator_field(form) == expected, form


def test_the_sqlite_walk_hands_out_pages_too_small_to_set_off_the_garbage_collector(tmp_path: Path) -> None:
    # A page of thousands of row tuples set off young collections that moved them to the old generation, and with
    # it full collections, whose cost grows with the whole process's heap. Small pages die young: none of that.
    path = tmp_path / "events.sqlite"
    factory = InfrastructureFactory.construct(
        Environment("dossierflow", application_env(None, path, signing_key=tmp_path / "signing-key.pem"))
    )
    try:
        recorder = factory.application_recorder()
        assert isinstance(recorder, HashChainedRecorder)
        for _ in range(30):
            originator = uuid4()
            recorder.insert_events([StoredEvent(originator, v, "t:Opened", b"{}") for v in range(1, 101)])
        pages = recorder.iter_verify_pages(3000, VERIFY_PAGE_SIZE)
        with closing(pages):  # type: ignore[type-var]
            sizes = [len(page) for page in pages]
        assert sum(sizes) == 3000
        assert max(sizes) < gc.get_threshold()[0]
    finally:
        factory.close()
