"""Rows changed, deleted, inserted or reordered directly in the database are detected, at the first broken link.

Every test writes the same ten events (notification ids 1..10, chain positions 1..10), tampers with raw SQL,
and checks what verify_chain reports, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from tests.ledger import EVENTS, Ledger, LedgerApp, save_ledgers
from workflow.store import ChainReport, chain_head, link_hash, verify_chain

if TYPE_CHECKING:
    from tests.conftest import Backend


@pytest.fixture
def app(backend: Backend) -> Iterator[LedgerApp]:
    application = LedgerApp(env=backend.env)
    # Event 1..4: one ledger saved after each change (batches of one). Events 5..10: one batch of six.
    save_ledgers(application)
    assert application.recorder.max_notification_id() == EVENTS
    yield application
    application.close()


def verified(app: LedgerApp, **kwargs: Any) -> ChainReport:
    report = verify_chain(app.recorder, **kwargs)
    # Pages of three make every break fall on, before or after a page boundary somewhere in this file.
    assert verify_chain(app.recorder, page_size=3, **kwargs) == report
    return report


def assert_first_break(app: LedgerApp, position: int, notification_id: int | None, kind: str) -> ChainReport:
    report = verified(app)
    assert report.first_break is not None, report
    assert (report.first_break.position, report.first_break.notification_id, report.first_break.kind) == (
        position,
        notification_id,
        kind,
    ), report.first_break.detail
    assert report.events_checked == position - 1
    return report


def row(backend: Backend, notification_id: int) -> tuple[Any, ...]:
    rows = backend.raw_sql(
        f"SELECT originator_version, topic, state FROM {backend.events_table} WHERE {backend.notification_id} = ?",
        (notification_id,),
    )
    assert len(rows) == 1
    return tuple(rows[0])


def test_an_untampered_store_verifies_with_every_event_counted(app: LedgerApp) -> None:
    report = verified(app)
    assert report.ok
    assert report.first_break is None
    assert report.events_checked == EVENTS
    assert chain_head(app.recorder) == (EVENTS, report.head)


def test_an_empty_store_verifies(backend: Backend) -> None:
    application = LedgerApp(env=backend.env)
    try:
        assert verify_chain(application.recorder) == ChainReport(0, None, None)
        assert chain_head(application.recorder) == (0, None)
    finally:
        application.close()


def test_the_chain_table_holds_one_record_per_event_linked_from_the_genesis(app: LedgerApp, backend: Backend) -> None:
    links = backend.raw_sql(f"SELECT notification_id, position, prev_hash, hash FROM {backend.chain_table}")
    links.sort()
    assert [(nid, pos) for nid, pos, _, _ in links] == [(n, n) for n in range(1, EVENTS + 1)]
    assert links[0][2] == "0" * 64
    assert all(later[2] == earlier[3] for earlier, later in pairwise(links))


def test_verify_names_the_first_event_whose_state_was_altered(app: LedgerApp, backend: Backend) -> None:
    _, _, state = row(backend, 3)
    assert b"200.00" in state
    backend.raw_sql(
        f"UPDATE {backend.events_table} SET state = ? WHERE {backend.notification_id} = ?",
        (state.replace(b"200.00", b"900.00"), 3),
    )
    report = assert_first_break(app, 3, 3, "altered")
    assert report.first_break is not None
    assert "event #3" in report.first_break.detail
    assert "changed" in report.first_break.detail


def test_verify_names_an_event_whose_topic_was_altered(app: LedgerApp, backend: Backend) -> None:
    _, opened_topic, _ = row(backend, 1)
    backend.raw_sql(
        f"UPDATE {backend.events_table} SET topic = ? WHERE {backend.notification_id} = ?", (opened_topic, 6)
    )
    assert_first_break(app, 6, 6, "altered")


def test_verify_names_an_event_whose_version_was_altered(app: LedgerApp, backend: Backend) -> None:
    backend.raw_sql(
        f"UPDATE {backend.events_table} SET originator_version = 70 WHERE {backend.notification_id} = ?", (7,)
    )
    assert_first_break(app, 7, 7, "altered")


def test_verify_names_a_deleted_event_as_missing(app: LedgerApp, backend: Backend) -> None:
    backend.raw_sql(f"DELETE FROM {backend.events_table} WHERE {backend.notification_id} = ?", (5,))
    report = assert_first_break(app, 5, 5, "missing")
    assert report.first_break is not None
    assert "deleted" in report.first_break.detail


def test_verify_names_an_event_inserted_behind_the_applications_back_as_unchained(
    app: LedgerApp, backend: Backend
) -> None:
    backend.raw_sql(
        f"INSERT INTO {backend.events_table} (originator_id, originator_version, topic, state) "
        f"SELECT originator_id, 100, topic, state FROM {backend.events_table} WHERE {backend.notification_id} = ?",
        (3,),
    )
    report = assert_first_break(app, EVENTS + 1, EVENTS + 1, "unchained")
    assert report.first_break is not None
    assert "no chain record" in report.first_break.detail


def test_verify_names_an_inserted_event_with_a_forged_chain_record(app: LedgerApp, backend: Backend) -> None:
    backend.raw_sql(
        f"INSERT INTO {backend.events_table} (originator_id, originator_version, topic, state) "
        f"SELECT originator_id, 100, topic, state FROM {backend.events_table} WHERE {backend.notification_id} = ?",
        (3,),
    )
    _, head = chain_head(app.recorder)
    backend.raw_sql(
        f"INSERT INTO {backend.chain_table} (notification_id, position, prev_hash, hash) VALUES (?, ?, ?, ?)",
        (EVENTS + 1, EVENTS + 1, head, "f" * 64),
    )
    assert_first_break(app, EVENTS + 1, EVENTS + 1, "altered")


def test_verify_names_the_first_of_two_rows_whose_contents_were_swapped(app: LedgerApp, backend: Backend) -> None:
    _, topic_1, state_1 = row(backend, 1)
    _, topic_8, state_8 = row(backend, 8)
    update = f"UPDATE {backend.events_table} SET topic = ?, state = ? WHERE {backend.notification_id} = ?"
    backend.raw_sql(update, (topic_8, state_8, 1))
    backend.raw_sql(update, (topic_1, state_1, 8))
    assert_first_break(app, 1, 1, "altered")


def test_verify_names_the_first_of_two_rows_whose_notification_ids_were_swapped(
    app: LedgerApp, backend: Backend
) -> None:
    renumber = f"UPDATE {backend.events_table} SET {backend.notification_id} = ? WHERE {backend.notification_id} = ?"
    backend.raw_sql(renumber, (-1, 4))
    backend.raw_sql(renumber, (4, 8))
    backend.raw_sql(renumber, (8, -1))
    assert row(backend, 4)[1].endswith("Entered")
    assert_first_break(app, 4, 4, "altered")


@pytest.mark.parametrize(
    "assignment", ["topic = NULL", "state = NULL", "originator_id = 'not-a-uuid'", "originator_version = 'seven'"]
)
def test_verify_reports_a_row_edited_into_values_the_application_never_writes(
    app: LedgerApp, backend: Backend, assignment: str
) -> None:
    update = f"UPDATE {backend.events_table} SET {assignment} WHERE {backend.notification_id} = ?"
    if backend.name == "postgres" and "'" in assignment:
        # PostgreSQL's column types refuse such a value; SQLite stores it, and the verifier must not trip on it.
        with pytest.raises(psycopg.DataError):
            backend.raw_sql(update, (4,))
        assert verified(app).ok
        return
    backend.raw_sql(update, (4,))
    assert_first_break(app, 4, 4, "altered")


def test_verify_names_the_event_whose_chain_record_was_deleted(app: LedgerApp, backend: Backend) -> None:
    backend.raw_sql(f"DELETE FROM {backend.chain_table} WHERE notification_id = ?", (6,))
    assert_first_break(app, 6, 6, "unchained")


def test_verify_names_the_link_after_an_event_deleted_with_its_chain_record(app: LedgerApp, backend: Backend) -> None:
    backend.raw_sql(f"DELETE FROM {backend.events_table} WHERE {backend.notification_id} = ?", (5,))
    backend.raw_sql(f"DELETE FROM {backend.chain_table} WHERE notification_id = ?", (5,))
    assert_first_break(app, 5, 6, "broken-link")


def test_verify_names_a_chain_record_that_was_edited_to_link_elsewhere(app: LedgerApp, backend: Backend) -> None:
    backend.raw_sql(f"UPDATE {backend.chain_table} SET prev_hash = ? WHERE notification_id = ?", ("e" * 64, 7))
    assert_first_break(app, 7, 7, "broken-link")


def test_deleting_the_newest_events_with_their_chain_records_shows_only_against_an_external_head(
    app: LedgerApp, backend: Backend
) -> None:
    anchor = chain_head(app.recorder)
    for table, column in (
        (backend.events_table, backend.notification_id),
        (backend.chain_table, "notification_id"),
    ):
        backend.raw_sql(f"DELETE FROM {table} WHERE {column} > ?", (EVENTS - 2,))
    assert verified(app).ok
    report = verified(app, anchor=anchor)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position) == ("truncated", EVENTS - 1)
    assert report.events_checked == EVENTS - 2


def test_a_chain_rewritten_after_tampering_shows_only_against_an_external_head(
    app: LedgerApp, backend: Backend
) -> None:
    anchor = chain_head(app.recorder)
    _, _, state = row(backend, 2)
    backend.raw_sql(
        f"UPDATE {backend.events_table} SET state = ? WHERE {backend.notification_id} = ?",
        (state.replace(b"100.00", b"999.00"), 2),
    )
    # The forger knows the algorithm and recomputes every link after the change.
    prev = "0" * 64
    for n in app.recorder.select_notifications(start=None, limit=100):
        digest = link_hash(prev, n.id, n.originator_id, n.originator_version, n.topic, n.state)
        backend.raw_sql(
            f"UPDATE {backend.chain_table} SET prev_hash = ?, hash = ? WHERE notification_id = ?",
            (prev, digest, n.id),
        )
        prev = digest
    assert verified(app).ok
    report = verified(app, anchor=anchor)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position) == ("anchor-mismatch", EVENTS)


def test_an_external_head_that_still_matches_verifies(app: LedgerApp) -> None:
    assert verified(app, anchor=chain_head(app.recorder)).ok


def test_events_written_after_a_verification_extend_the_same_chain(app: LedgerApp) -> None:
    count, head = chain_head(app.recorder)
    third = Ledger("third")
    third.enter(Decimal("7.00"))
    app.save(third)
    report = verified(app, anchor=(count, head or ""))
    assert report.ok
    assert report.events_checked == count + 2


def test_verify_reports_a_row_whose_state_was_turned_into_text_instead_of_failing(tmp_path: Path) -> None:
    # Only SQLite lets an UPDATE change a column's storage type: `state || ' '` stores TEXT where bytes were.
    import sqlite3
    from contextlib import closing

    from tests.application.conftest import build_world
    from workflow.store import application_env

    path = tmp_path / "events.sqlite"
    world = build_world(application_env(None, path))
    try:
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE stored_events SET state = state || ' ' WHERE rowid = 5")
        report = world.engine.verify()
        assert report.first_break is not None
        assert report.first_break.notification_id == 5
    finally:
        world.engine.close()
