"""The whole demo season through the read side, on SQLite and PostgreSQL: read models fed live while the season is
played equal read models rebuilt from scratch, and a runner killed mid-page again and again ends exactly where an
uninterrupted one does."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from projections import readside
from projections.catalog import all_projections
from projections.log import RecorderLog
from projections.readside import ReadSide
from projections.store import TRACKING, ReadModelStore, make_engine, read_models_url
from web.demo import play_demo
from web.readside import open_read_side, started
from workflow.bootstrap import build_engine
from workflow.clock import SimulatedClock
from workflow.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
READ_MODELS = {"units", "dossiers", "access", "statistics", "audit"}


@dataclass(frozen=True)
class Store:
    database_url: str | None
    data_dir: Path
    # PostgreSQL: more empty databases for read models kept apart from the live ones (a runner killed, a reference).
    spare_urls: tuple[str, ...] = ()

    def engine(self, *, read_only: bool = False) -> Engine:
        return build_engine(
            database_url=self.database_url,
            data_dir=self.data_dir,
            read_only=read_only,
            clock=SimulatedClock(datetime(2024, 1, 2, 1, 0, tzinfo=UTC)),
        )

    def read_models_url(self, name: str = "read-models") -> str:
        if self.database_url is None:
            return f"sqlite:///{self.data_dir / (name + '.sqlite')}"
        if name == "read-models":
            return read_models_url(self.database_url, self.data_dir)
        index = ("timing", "killed", "reference").index(name)
        return read_models_url(self.spare_urls[index], self.data_dir)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        return Store(None, tmp_path / "data")
    url: str = request.getfixturevalue("fresh_postgres_url")
    spares = tuple(request.getfixturevalue(f"spare_database_{i}") for i in range(3))
    return Store(url, tmp_path / "data", spares)


def _spare_database(postgres_url: str) -> Iterator[str]:
    name = f"dossierflow_spare_{uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def spare_database_0(postgres_url: str) -> Iterator[str]:
    yield from _spare_database(postgres_url)


@pytest.fixture
def spare_database_1(postgres_url: str) -> Iterator[str]:
    yield from _spare_database(postgres_url)


@pytest.fixture
def spare_database_2(postgres_url: str) -> Iterator[str]:
    yield from _spare_database(postgres_url)


def dump(store: ReadModelStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every live read model, in a stable order, by bare table name."""
    found = {}
    with store.engine.connect() as conn:
        for name in store.projections:
            for bare, table in store.live_tables(name).items():
                rows = conn.execute(select(table)).all()
                found[f"{name}.{bare}"] = sorted((tuple(row) for row in rows), key=repr)
    return found


def test_the_catalog_holds_every_read_model_of_the_issue() -> None:
    assert {p.name for p in all_projections()} == READ_MODELS


def test_read_models_fed_live_during_the_season_equal_read_models_rebuilt_from_scratch(store: Store) -> None:
    engine = store.engine()
    side = started(engine, open_read_side(engine, database_url=store.database_url, data_dir=store.data_dir))
    try:
        play_demo(engine, progress=lambda _line: None)
        head = engine.recorder.max_notification_id() or 0
        waited = side.wait_for(head, timeout=60)
        assert waited.reached
        assert not waited.failed
        live = dump(side.store)
        assert sum(len(rows) for rows in live.values()) > head
        side.close()
        side.rebuild()
        assert {g for name in side.store.projections if (g := side.store.live_generation(name, refresh=True))} == {2}
        assert dump(side.store) == live
    finally:
        side.close()
        side.store.engine.dispose()
        engine.close()


def test_a_rebuild_whose_helper_process_is_killed_midway_is_finished_by_the_calling_process_with_the_same_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = store.engine()
    side = open_read_side(engine, database_url=store.database_url, data_dir=store.data_dir)
    try:
        play_demo(engine, progress=lambda _line: None)
        side.catch_up()
        live = dump(side.store)
        # Small pages, so that the helper has many pages left after its first.
        side.rebuild_page_size = 20
        helpers: list[Any] = []
        start = readside._Helper.start.__func__  # type: ignore[attr-defined]
        monkeypatch.setattr(
            readside._Helper, "start", classmethod(lambda cls, *args: helpers.append(start(cls, *args)) or helpers[-1])
        )
        killed: list[int] = []
        popen = subprocess.Popen

        def killed_after_its_first_page(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
            # Killed as its first page's line is read: the helper has committed a page and is at work on the next.
            # (Killing from the caller's progress instead raced the helper, which could finish its share first.)
            process: subprocess.Popen[bytes] = popen(*args, **kwargs)
            lines = process.stdout
            assert lines is not None

            def read() -> Iterator[bytes]:
                for line in lines:
                    if line.startswith(b"at ") and not killed:
                        process.send_signal(signal.SIGKILL)
                        killed.append(int(line.split()[1]))
                    yield line

            process.stdout = read()  # type: ignore[assignment]
            return process

        monkeypatch.setattr(readside.subprocess, "Popen", killed_after_its_first_page)
        result = side.rebuild()
        assert killed
        assert helpers[0].process.returncode == -signal.SIGKILL
        assert not result.failures
        assert {side.store.live_generation(name, refresh=True) for name in side.store.projections} == {2}
        assert dump(side.store) == live
    finally:
        side.close()
        side.store.engine.dispose()
        engine.close()


CHILD = """
import sys
from pathlib import Path
from workflow.bootstrap import build_engine
from projections import readside
from projections.catalog import all_projections
from projections.log import RecorderLog
from projections.log import RecorderLog
from projections.readside import ReadSide
from projections.store import make_engine

database_url, data_dir, url, page = sys.argv[1] or None, Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
engine = build_engine(database_url=database_url, data_dir=data_dir, read_only=True)
side = ReadSide(make_engine(url), all_projections(), RecorderLog(engine.recorder, engine.mapper), page_size=page)
side.catch_up()
print("caught up", flush=True)
"""


def run_child(store: Store, url: str, page: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, store.database_url or "", str(store.data_dir), url, str(page)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def positions(url: str) -> list[int]:
    """Where the read models of `url` stand, read from the tracking table alone (nothing is created)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [int(p) for p in conn.execute(select(TRACKING.c.position)).scalars()]
    except SQLAlchemyError:
        return []  # not created yet: the runner has not started
    finally:
        engine.dispose()


def test_a_runner_killed_mid_page_again_and_again_resumes_with_no_event_skipped_or_applied_twice(
    store: Store,
) -> None:
    engine = store.engine()
    play_demo(engine, progress=lambda _line: None)
    head = engine.recorder.max_notification_id() or 0
    engine.close()
    killed_url = store.read_models_url("killed")
    rng = random.Random(20241122)
    kills = 0
    for _ in range(8):
        before = sum(positions(killed_url))
        child = run_child(store, killed_url, 10)
        # Wait until this run has committed a page of its own, then kill it a moment later: mid-run, most likely
        # mid-page, whatever the machine's speed.
        while child.poll() is None and sum(positions(killed_url)) == before:
            time.sleep(0.005)
        if child.poll() is not None:
            break
        # A page of ten events takes a few milliseconds: a kill within 10 ms of the first lands in some page of
        # this run, and eight of them leave most of the season's events to the run that finishes.
        time.sleep(rng.uniform(0, 0.01))
        child.send_signal(signal.SIGKILL)
        child.wait()
        if min(positions(killed_url)) == head:
            break  # this run had applied every event before the kill came: not a kill mid-run
        kills += 1
    assert kills >= 5, kills
    finish = run_child(store, killed_url, 10)
    assert finish.wait(timeout=300) == 0, finish.stderr.read() if finish.stderr else ""
    assert set(positions(killed_url)) == {head}

    reference_url = store.read_models_url("reference")
    events = store.engine(read_only=True)
    reference = ReadSide(make_engine(reference_url), all_projections(), RecorderLog(events.recorder, events.mapper))
    killed = ReadModelStore(make_engine(killed_url), all_projections())
    try:
        reference.catch_up()
        assert dump(killed) == dump(reference.store)
    finally:
        killed.engine.dispose()
        reference.store.engine.dispose()
        events.close()
