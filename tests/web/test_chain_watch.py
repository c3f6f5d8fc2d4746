"""The history page's chain badge: verified whole once, then only what was appended, by one worker for all."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Role
from tests.web.world import Web
from web.chain import ChainWatch, SharedVerdict
from workflow.store import ChainReport, VerifiedHead

ADMIN = Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai"))


class Calls:
    """How the watch verified: the engine's whole verify, or from a head."""

    def __init__(self, web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
        self.whole = 0
        self.since: list[VerifiedHead] = []
        engine = web.engine
        whole, since = engine.verify, engine.verify_since

        def counted_whole(**kwargs: Any) -> ChainReport:
            self.whole += 1
            return whole(**kwargs)

        def counted_since(head: VerifiedHead) -> ChainReport:
            self.since.append(head)
            return since(head)

        monkeypatch.setattr(engine, "verify", counted_whole)
        monkeypatch.setattr(engine, "verify_since", counted_since)


def _append(web: Web, n: int) -> int:
    receipt = web.engine.register_person(ADMIN, username=f"moi-{n}", full_name=f"Người mới {n}")
    return receipt.position


def test_after_a_whole_verification_the_watch_checks_only_what_was_appended(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(web, monkeypatch)
    watch = ChainWatch(web.engine)
    first = watch.check_now()
    assert first.ok
    assert calls.whole == 1
    position = _append(web, 1)
    second = watch.check_now()
    assert second.ok
    assert second.position == position
    assert calls.whole == 1
    # It started from the head the whole verification ended on, not from the genesis.
    assert [head.notification_id for head in calls.since] == [first.position]


def test_an_appended_event_altered_before_the_next_check_breaks_the_badge(web: Web) -> None:
    watch = ChainWatch(web.engine)
    assert watch.check_now().ok
    position = _append(web, 1)
    with sqlite3.connect(web.data_dir / "events.sqlite") as conn:
        conn.execute("UPDATE stored_events SET originator_version = 70 WHERE rowid = ?", (position,))
    verdict = watch.check_now()
    assert not verdict.ok
    assert f"#{position}" in verdict.first_finding


def test_a_whole_verification_is_made_again_once_the_last_is_old(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(web, monkeypatch)
    watch = ChainWatch(web.engine, whole_every=0.0)
    watch.check_now()
    _append(web, 1)
    watch.check_now()
    assert calls.whole == 2
    assert calls.since == []


def test_of_two_workers_one_verifies_and_the_other_shows_its_verdict(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(web, monkeypatch)
    # Two workers' watches: each its own connection to the web database, as two processes have.
    shared = [SharedVerdict(web.site.accounts.engine), SharedVerdict(web.site.accounts.engine)]
    watches = [ChainWatch(web.engine, every=0.05, shared=s, follow_every=0.05) for s in shared]
    for watch in watches:
        watch.start()
    try:
        deadline = time.monotonic() + 30
        while not all(w.verdict is not None for w in watches) and time.monotonic() < deadline:
            time.sleep(0.05)
        # Some passes later: still one whole verification only, by whichever took the lock first.
        time.sleep(0.5)
    finally:
        for watch in watches:
            watch.stop()
    assert calls.whole == 1
    assert watches[0].verdict is not None
    assert watches[0].verdict == watches[1].verdict
    assert watches[0].verdict.ok
