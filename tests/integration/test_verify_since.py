"""Verifying only what was appended after a head an earlier verification found intact (the running server's
check): the new links are held to the same standard as in a whole verification, and the head it starts from must
still be there."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from tests.ledger import EVENTS, Ledger, LedgerApp, save_ledgers
from workflow.store import ChainReport, VerifiedHead, verify_chain, verify_since

if TYPE_CHECKING:
    from tests.conftest import Backend

APPENDED = 4


@pytest.fixture
def app(backend: Backend) -> Iterator[LedgerApp]:
    application = LedgerApp(env=backend.env)
    save_ledgers(application)
    yield application
    application.close()


def verified_head(app: LedgerApp) -> VerifiedHead:
    head = verify_chain(app.recorder).verified_head
    assert head is not None
    assert (head.position, head.notification_id) == (EVENTS, EVENTS)
    return head


def append(app: LedgerApp) -> None:
    third = Ledger("third")
    for amount in range(1, APPENDED):
        third.enter(Decimal(amount))
    app.save(third)


def since(app: LedgerApp, head: VerifiedHead) -> ChainReport:
    report = verify_since(app.recorder, head)
    # Pages of two put every break on, before or after a page boundary.
    assert verify_since(app.recorder, head, page_size=2) == report
    return report


def test_the_links_appended_since_a_verified_head_verify_and_end_on_the_whole_verifications_head(
    app: LedgerApp,
) -> None:
    head = verified_head(app)
    append(app)
    report = since(app, head)
    whole = verify_chain(app.recorder)
    assert report.ok
    assert (report.events_checked, report.head, report.last_notification_id) == (
        whole.events_checked, whole.head, whole.last_notification_id
    )
    assert report.events_checked == EVENTS + APPENDED


def test_nothing_appended_since_verifies_as_the_same_head(app: LedgerApp) -> None:
    head = verified_head(app)
    assert since(app, head).verified_head == head


def test_an_event_appended_after_the_verified_head_and_then_altered_is_named(app: LedgerApp, backend: Backend) -> None:
    head = verified_head(app)
    append(app)
    backend.raw_sql(
        f"UPDATE {backend.events_table} SET originator_version = 70 WHERE {backend.notification_id} = ?",
        (EVENTS + 2,),
    )
    report = since(app, head)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position, report.first_break.notification_id) == (
        "altered", EVENTS + 2, EVENTS + 2
    )
    assert report.events_checked == EVENTS + 1


def test_an_appended_event_without_its_chain_record_is_named(app: LedgerApp, backend: Backend) -> None:
    head = verified_head(app)
    append(app)
    backend.raw_sql(f"DELETE FROM {backend.chain_table} WHERE notification_id = ?", (EVENTS + 3,))
    report = since(app, head)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.notification_id) == ("unchained", EVENTS + 3)


def test_a_verified_head_whose_chain_record_was_rewritten_since_is_reported(app: LedgerApp, backend: Backend) -> None:
    head = verified_head(app)
    backend.raw_sql(f"UPDATE {backend.chain_table} SET hash = ? WHERE notification_id = ?", ("f" * 64, EVENTS))
    report = since(app, head)
    assert report.first_break is not None
    assert report.first_break.kind == "anchor-mismatch"
    assert f"link {EVENTS}" in report.first_break.detail


def test_the_newest_events_deleted_with_their_chain_records_below_the_verified_head_are_reported(
    app: LedgerApp, backend: Backend
) -> None:
    head = verified_head(app)
    backend.raw_sql(f"DELETE FROM {backend.events_table} WHERE {backend.notification_id} > ?", (EVENTS - 2,))
    backend.raw_sql(f"DELETE FROM {backend.chain_table} WHERE notification_id > ?", (EVENTS - 2,))
    report = since(app, head)
    assert report.first_break is not None
    assert report.first_break.kind == "anchor-mismatch"
    assert "is gone" in report.first_break.detail
