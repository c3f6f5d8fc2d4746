"""Whoever can write to the database cannot rewrite, cut off, renumber, empty or extend the chain unseen.

Every commit signs its new chain head with an Ed25519 key kept outside the database and remembers it in a head file
beside the key. Each test writes the same ten events, attacks with raw SQL as a database administrator would (who
knows the hash algorithm but not the key), and checks what verify reports, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from tests.ledger import EVENTS, Ledger, LedgerApp, save_ledgers
from workflow.store import (
    ChainReport,
    ChainWriteRefused,
    SignedHead,
    application_env,
    link_hash,
    load_public_key,
    verify_chain,
)

if TYPE_CHECKING:
    from tests.conftest import Backend


@pytest.fixture
def app(backend: Backend) -> Iterator[LedgerApp]:
    application = LedgerApp(env=backend.env)
    # Events 1..4 in four commits, events 5..10 in one: five signed heads, the newest at link 10.
    save_ledgers(application)
    # The head file is written behind the commits, within a delay (HeadFile): the attacks below begin once it has
    # caught up, as it has a moment after any commit. tests/integration/test_head_file.py covers the delay itself.
    signer = getattr(application.recorder, "signer", None)
    assert signer is not None
    signer.flush()
    yield application
    application.close()


def verified(app: LedgerApp, backend: Backend, *, head_file: bool = True, **kwargs: Any) -> ChainReport:
    """verify as the engine runs it: the public key, and the head kept in the head file."""
    anchors = [("the head file", SignedHead.read(backend.head_file))] if head_file else []
    return verify_chain(
        app.recorder, public_key=load_public_key(backend.signing_key), signed_anchors=anchors, **kwargs
    )


def assert_break(report: ChainReport, kind: str, *words: str) -> None:
    assert report.first_break is not None, report
    assert report.first_break.kind == kind, report.first_break
    for word in words:
        assert word in report.first_break.detail, report.first_break.detail


def events_of(backend: Backend) -> list[tuple[Any, ...]]:
    return backend.raw_sql(
        f"SELECT {backend.notification_id}, originator_id, originator_version, topic, state "
        f"FROM {backend.events_table} ORDER BY {backend.notification_id}"
    )


def rechain(backend: Backend) -> None:
    """What a forger who knows the algorithm does after changing events: recompute every chain record."""
    prev = "0" * 64
    for position, (nid, oid, version, topic, state) in enumerate(events_of(backend), start=1):
        originator = UUID(str(oid))
        digest = link_hash(prev, nid, originator, version, topic, bytes(state))
        backend.raw_sql(
            f"UPDATE {backend.chain_table} SET position = ?, prev_hash = ?, hash = ? WHERE notification_id = ?",
            (position, prev, digest, nid),
        )
        prev = digest


def test_every_commit_signs_its_head_and_an_untampered_store_verifies_against_it(
    app: LedgerApp, backend: Backend
) -> None:
    heads = backend.raw_sql(f"SELECT position, notification_id FROM {backend.heads_table} ORDER BY position")
    assert heads == [(1, 1), (2, 2), (3, 3), (4, 4), (10, 10)]
    report = verified(app, backend)
    assert report.ok, report.first_break
    assert report.signed_head is not None
    assert (report.signed_head.position, report.signed_head.hash) == (EVENTS, report.head)
    assert SignedHead.read(backend.head_file) == report.signed_head


def test_the_signing_key_is_created_on_first_write_readable_by_its_owner_only(app: LedgerApp, backend: Backend) -> None:
    assert backend.signing_key.stat().st_mode & 0o777 == 0o600


def test_events_rewritten_with_every_chain_record_recomputed_are_reported_as_rewritten(
    app: LedgerApp, backend: Backend
) -> None:
    nid, _, _, _, state = events_of(backend)[2]
    backend.raw_sql(
        f"UPDATE {backend.events_table} SET state = ? WHERE {backend.notification_id} = ?",
        (bytes(state).replace(b"200.00", b"900.00"), nid),
    )
    rechain(backend)
    assert verify_chain(app.recorder).ok, "the chain alone no longer shows it"
    report = verified(app, backend, head_file=False)
    # The earliest signed head that no longer matches is link 3's: the rewrite is after link 2, at or before #3.
    assert_break(report, "rewritten", "after link 2", "event #3", "recomputed")
    assert report.first_break is not None
    assert report.first_break.position == 3


def test_versions_renumbered_with_the_chain_recomputed_are_reported_as_rewritten(
    app: LedgerApp, backend: Backend
) -> None:
    backend.raw_sql(
        f"UPDATE {backend.events_table} SET originator_version = originator_version + 100 "
        f"WHERE {backend.notification_id} > 4"
    )
    rechain(backend)
    assert verify_chain(app.recorder).ok
    assert_break(verified(app, backend, head_file=False), "rewritten", "after link 4", "event #10")


def test_the_newest_events_deleted_with_their_chain_records_and_signed_heads_are_reported_as_truncated(
    app: LedgerApp, backend: Backend
) -> None:
    for table, column in (
        (backend.events_table, backend.notification_id),
        (backend.chain_table, "notification_id"),
        (backend.heads_table, "notification_id"),
    ):
        backend.raw_sql(f"DELETE FROM {table} WHERE {column} > 4")
    assert verified(app, backend, head_file=False).ok, "inside the database, a shorter history is consistent"
    report = verified(app, backend)
    assert_break(report, "truncated", "chain ends at link 4", "head file", "link 10")


def test_emptied_tables_are_reported_as_truncated(app: LedgerApp, backend: Backend) -> None:
    for table in (backend.events_table, backend.chain_table, backend.heads_table):
        backend.raw_sql(f"DELETE FROM {table}")
    assert_break(verified(app, backend), "truncated", "holds no events", "emptied")


def test_a_store_that_lost_its_newest_events_refuses_to_write_over_the_loss(app: LedgerApp, backend: Backend) -> None:
    for table, column in (
        (backend.events_table, backend.notification_id),
        (backend.chain_table, "notification_id"),
        (backend.heads_table, "notification_id"),
    ):
        backend.raw_sql(f"DELETE FROM {table} WHERE {column} > 4")
    with pytest.raises(ChainWriteRefused, match="events were removed"):
        app.save(Ledger("covering up"))
    assert SignedHead.read(backend.head_file).position == EVENTS


def test_an_event_appended_with_a_correct_chain_record_is_reported_as_unsigned(
    app: LedgerApp, backend: Backend
) -> None:
    _, oid, _, topic, state = events_of(backend)[1]
    backend.raw_sql(
        f"INSERT INTO {backend.events_table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        (oid, 50, topic, bytes(state)),
    )
    [(prev,)] = backend.raw_sql(f"SELECT hash FROM {backend.chain_table} WHERE notification_id = ?", (EVENTS,))
    digest = link_hash(prev, EVENTS + 1, UUID(str(oid)), 50, topic, bytes(state))
    backend.raw_sql(
        f"INSERT INTO {backend.chain_table} (notification_id, position, prev_hash, hash) VALUES (?, ?, ?, ?)",
        (EVENTS + 1, EVENTS + 1, prev, digest),
    )
    assert verify_chain(app.recorder).ok, "the chain alone does not show it"
    assert_break(verified(app, backend), "unsigned", "after the newest signed head", "appended behind")


def test_an_appended_event_with_a_forged_signed_head_is_reported_as_a_bad_signature(
    app: LedgerApp, backend: Backend
) -> None:
    _, oid, _, topic, state = events_of(backend)[1]
    backend.raw_sql(
        f"INSERT INTO {backend.events_table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        (oid, 50, topic, bytes(state)),
    )
    [(prev,)] = backend.raw_sql(f"SELECT hash FROM {backend.chain_table} WHERE notification_id = ?", (EVENTS,))
    digest = link_hash(prev, EVENTS + 1, UUID(str(oid)), 50, topic, bytes(state))
    backend.raw_sql(
        f"INSERT INTO {backend.chain_table} (notification_id, position, prev_hash, hash) VALUES (?, ?, ?, ?)",
        (EVENTS + 1, EVENTS + 1, prev, digest),
    )
    [(signed_at, key_id, signature)] = backend.raw_sql(
        f"SELECT signed_at, key_id, signature FROM {backend.heads_table} WHERE position = ?", (EVENTS,)
    )
    backend.raw_sql(
        f"INSERT INTO {backend.heads_table} (position, notification_id, hash, signed_at, key_id, signature) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (EVENTS + 1, EVENTS + 1, digest, signed_at, key_id, signature),
    )
    assert_break(verified(app, backend, head_file=False), "bad-signature", "link 11", "forged")


def test_signed_heads_deleted_to_hide_a_rewrite_are_reported_as_unsigned(app: LedgerApp, backend: Backend) -> None:
    backend.raw_sql(f"DELETE FROM {backend.heads_table}")
    assert_break(verified(app, backend, head_file=False), "unsigned", "none of the 10 links")


def test_a_head_file_edited_to_match_a_rewritten_chain_is_reported_as_forged(
    app: LedgerApp, backend: Backend
) -> None:
    text = backend.head_file.read_text()
    head = SignedHead.read(backend.head_file)
    backend.head_file.write_text(text.replace(head.hash, "a" * 64))
    assert_break(verified(app, backend), "anchor-forged", "head file", "valid signature")


def test_a_copy_verifies_offline_with_the_public_key_and_an_exported_checkpoint_alone(
    app: LedgerApp, backend: Backend, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "committee" / "checkpoint.json"
    checkpoint.parent.mkdir()
    checkpoint.write_text(SignedHead.read(backend.head_file).to_json())
    public_key = load_public_key(backend.signing_key)
    # The committee's own environment: no signing key, no head file; only the public key and the checkpoint.
    env = {k: v for k, v in backend.env.items() if not k.startswith("DOSSIERFLOW_")}
    committee = LedgerApp(env=env)
    try:
        anchors = [("the checkpoint", SignedHead.read(checkpoint))]
        assert verify_chain(committee.recorder, public_key=public_key, signed_anchors=anchors).ok
        for table, column in (
            (backend.events_table, backend.notification_id),
            (backend.chain_table, "notification_id"),
            (backend.heads_table, "notification_id"),
        ):
            backend.raw_sql(f"DELETE FROM {table} WHERE {column} > 8")
        report = verify_chain(committee.recorder, public_key=public_key, signed_anchors=anchors)
        assert_break(report, "truncated", "checkpoint", "link 10")
    finally:
        committee.close()


def test_a_checkpoint_signed_by_another_key_is_refused(app: LedgerApp, backend: Backend, tmp_path: Path) -> None:
    other = LedgerApp(env=application_env(None, tmp_path / "other.sqlite", signing_key=tmp_path / "other.pem"))
    try:
        other.save(Ledger("elsewhere"))
    finally:
        other.close()
    foreign = SignedHead.read(tmp_path / "chain-head.json")
    report = verify_chain(
        app.recorder, public_key=load_public_key(backend.signing_key), signed_anchors=[("the checkpoint", foreign)]
    )
    assert_break(report, "anchor-forged", "another key")
