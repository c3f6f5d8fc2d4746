"""The runner's promises, with small read models made for the purpose: exactly once in pages of any size, a failing
read model stopped visibly while the others go on, waiting that always ends, rebuild beside the live generation,
one runner per read model."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, event, inspect, select, text
from sqlalchemy.exc import OperationalError

from domain.dossier import Dossier
from domain.values import UnitKind
from projections import core
from projections.core import LoggedEvent, Page, Projection
from projections.locks import AdvisoryLocks, FileLocks
from projections.log import RecorderLog
from projections.models.access import AccessProjection
from projections.models.units import UnitsProjection
from projections.readside import ReadSide
from projections.runner import Runner
from projections.store import ReadModelStore, make_engine
from projections.wakeup import Listener
from tests.application.conftest import World, build_world
from tests.application.helpers import decided, endorsed


class TopicCounts(Projection):
    """Counts every event by class: applied twice or skipped, an event shows in the figures."""

    name = "topic_counts"

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        return {
            "counts": Table(
                "topic_counts" + suffix,
                metadata,
                Column("topic", String(200), primary_key=True),
                Column("n", Integer, nullable=False),
            )
        }

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        page.counters("counts").add((type(logged.event).__qualname__,), n=1)


class Submissions(Projection):
    """Reads only submissions; its position must still move over everything else."""

    name = "submissions"
    handles: ClassVar[tuple[type, ...]] = (Dossier.Submitted,)  # type: ignore[attr-defined]
    broken_at: ClassVar[int | None] = None

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        return {
            "submitted": Table(
                "submitted" + suffix,
                metadata,
                Column("dossier_id", String(36), primary_key=True),
                Column("position", Integer, nullable=False),
            )
        }

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        if self.broken_at is not None and logged.position >= self.broken_at:
            raise ValueError("this read model cannot read that event")
        page.rows("submitted").put({"dossier_id": str(logged.originator_id), "position": logged.position})


class IndexedSubmissions(Submissions):
    """Submissions with a secondary index, which a rebuild makes only once its rows are in."""

    name = "indexed_submissions"

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        return {
            "submitted": Table(
                "indexed_submitted" + suffix,
                metadata,
                Column("dossier_id", String(36), primary_key=True),
                Column("position", Integer, nullable=False),
                Index(f"ix_indexed_submitted{suffix}_position", "position"),
            )
        }


class DuplicateRows(Projection):
    """Writes the same key for every submission: the database refuses the page's writes when it commits them."""

    name = "duplicate_rows"

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        return {"rows": Table("duplicate_rows" + suffix, metadata, Column("k", String(20), primary_key=True))}

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        if isinstance(logged.event, Dossier.Submitted):  # type: ignore[attr-defined]
            page.append("rows", {"k": "the same"})


@pytest.fixture
def world() -> World:
    world = build_world()
    for unit in ("cell-a", "cell-b"):
        decided(world, unit)
    endorsed(world, "treasury")
    return world


def expected_counts(world: World) -> dict[str, int]:
    counts: dict[str, int] = {}
    for notification in world.engine.recorder.select_notifications(1, 10_000):
        topic = notification.topic.split(":")[1]
        counts[topic] = counts.get(topic, 0) + 1
    return counts


def counts_in(store: ReadModelStore) -> dict[str, int]:
    table = store.live_tables("topic_counts")["counts"]
    with store.engine.connect() as conn:
        return {row.topic: row.n for row in conn.execute(select(table))}


def log_of(world: World) -> RecorderLog:
    return RecorderLog(world.engine.recorder, world.engine.mapper)


@pytest.mark.parametrize("page_size", [1, 7, 500])
def test_every_event_is_applied_exactly_once_whatever_the_page_size(world: World, page_size: int) -> None:
    store = ReadModelStore(make_engine("sqlite://"), [TopicCounts()])
    Runner(store, log_of(world), page_size=page_size).catch_up()
    assert counts_in(store) == expected_counts(world)
    assert store.trackings()[0].position == world.engine.recorder.max_notification_id()


def test_a_read_model_moves_its_position_over_the_events_it_ignores(world: World) -> None:
    side = ReadSide(make_engine("sqlite://"), [Submissions()], log_of(world))
    side.catch_up()
    head = world.engine.recorder.max_notification_id() or 0
    last_submission = max(
        n.id for n in world.engine.recorder.select_notifications(1, 10_000) if n.topic.endswith("Submitted")
    )
    assert last_submission < head
    assert side.wait_for(head, timeout=0.5).reached


class CountingMapper:
    """The engine's mapper, counting the events it decodes."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        self.decoded: list[str] = []

    def to_domain_event(self, notification: Any) -> Any:
        self.decoded.append(notification.topic)
        return self.mapper.to_domain_event(notification)


def test_read_models_that_name_their_events_have_only_those_decoded_and_still_reach_the_head(world: World) -> None:
    mapper = CountingMapper(world.engine.mapper)
    side = ReadSide(make_engine("sqlite://"), [Submissions()], RecorderLog(world.engine.recorder, mapper))
    side.catch_up()
    submissions = [n.id for n in world.engine.recorder.select_notifications(1, 10_000) if n.topic.endswith("Submitted")]
    assert len(mapper.decoded) == len(submissions)
    assert all(topic.endswith("Submitted") for topic in mapper.decoded)
    table = side.store.live_tables("submissions")["submitted"]
    with side.store.engine.connect() as conn:
        assert sorted(r.position for r in conn.execute(select(table))) == submissions
    assert side.wait_for(world.engine.recorder.max_notification_id() or 0, timeout=0.5).reached

    # A read model that reads everything beside it: every event is decoded again.
    everything = CountingMapper(world.engine.mapper)
    log = RecorderLog(world.engine.recorder, everything)
    both = ReadSide(make_engine("sqlite://"), [Submissions(), TopicCounts()], log)
    both.catch_up()
    assert len(everything.decoded) == world.engine.recorder.max_notification_id()
    assert counts_in(both.store) == expected_counts(world)


def test_a_read_model_that_cannot_apply_an_event_stops_there_visibly_and_the_others_go_on(world: World) -> None:
    submissions = [n.id for n in world.engine.recorder.select_notifications(1, 10_000) if n.topic.endswith("Submitted")]
    broken = Submissions()
    broken.broken_at = submissions[1]
    side = ReadSide(make_engine("sqlite://"), [TopicCounts(), broken], log_of(world), page_size=7)
    result = side.catch_up()

    assert [(name, position) for name, position, _ in result.failures] == [("submissions", submissions[1])]
    status = {s.name: s for s in side.status()}
    assert status["submissions"].state == f"failed at event {submissions[1]}"
    assert "cannot read that event" in (status["submissions"].error or "")
    # Everything before the failing event is applied and kept; nothing of it or after.
    assert status["submissions"].position == submissions[1] - 1
    table = side.store.live_tables("submissions")["submitted"]
    with side.store.engine.connect() as conn:
        assert [r.position for r in conn.execute(select(table))] == [submissions[0]]
    assert status["topic_counts"].state == "up to date"
    assert counts_in(side.store) == expected_counts(world)
    waited = side.wait_for(world.engine.recorder.max_notification_id() or 0, timeout=0.2)
    assert waited.reached
    assert waited.failed == ("submissions",)

    broken.broken_at = None
    assert side.retry("submissions")
    side.catch_up()
    with side.store.engine.connect() as conn:
        assert sorted(r.position for r in conn.execute(select(table))) == submissions
    assert {s.name: s.state for s in side.status()} == {"submissions": "up to date", "topic_counts": "up to date"}


@pytest.mark.parametrize("where", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_write_the_database_refuses_stops_only_that_read_model_in_the_shared_transaction(
    world: World, where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Every read model of a page shares one transaction, which the refused write spoils (on PostgreSQL, aborts):
    # the page is played again without the failing read model, listed first so that the others come after it.
    if where == "sqlite":
        url = f"sqlite:///{tmp_path / 'read-models.sqlite'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url").replace("postgresql://", "postgresql+psycopg://", 1)
    side = ReadSide(make_engine(url), [DuplicateRows(), TopicCounts()], log_of(world))
    try:
        result = side.catch_up()
        assert [name for name, _, _ in result.failures] == ["duplicate_rows"]
        status = {s.name: s for s in side.status()}
        assert status["duplicate_rows"].state.startswith("failed at event")
        assert status["duplicate_rows"].position == 0
        assert "IntegrityError" in (status["duplicate_rows"].error or "")
        assert status["topic_counts"].state == "up to date"
        assert counts_in(side.store) == expected_counts(world)
    finally:
        side.close()
        side.store.engine.dispose()


def test_a_rebuild_fills_a_new_generation_beside_the_live_one_and_switches_when_level(world: World) -> None:
    side = ReadSide(make_engine("sqlite://"), [TopicCounts()], log_of(world), page_size=5)
    side.catch_up()
    before = counts_in(side.store)
    seen_during: list[dict[str, int]] = []

    def progress(name: str, position: int, head: int) -> None:
        # While the new generation fills, queries still read the old, complete one.
        seen_during.append(counts_in(side.store))

    side.rebuild(progress=progress)
    assert seen_during
    assert all(seen == before for seen in seen_during)
    assert side.store.live_generation("topic_counts", refresh=True) == 2
    assert counts_in(side.store) == expected_counts(world)
    side.rebuild()
    assert side.store.live_generation("topic_counts", refresh=True) == 3
    assert {t.generation for t in side.store.trackings()} == {2, 3}


def test_a_rebuild_makes_secondary_indexes_after_its_rows_and_before_it_serves(world: World) -> None:
    side = ReadSide(make_engine("sqlite://"), [IndexedSubmissions()], log_of(world), page_size=2)
    side.catch_up()

    def indexes(generation: int) -> set[str]:
        return {str(i["name"]) for i in inspect(side.store.engine).get_indexes(f"indexed_submitted__g{generation}")}

    assert indexes(1) == {"ix_indexed_submitted__g1_position"}
    while_building: list[set[str]] = []

    def progress(name: str, position: int, head: int) -> None:
        building = side.store.states()[name][1]
        if building is not None:
            while_building.append(indexes(building))

    side.rebuild(progress=progress)
    assert while_building
    assert while_building[0] == set()
    assert side.store.live_generation("indexed_submissions", refresh=True) == 2
    assert indexes(2) == {"ix_indexed_submitted__g2_position"}
    table = side.store.live_tables("indexed_submissions")["submitted"]
    with side.store.engine.connect() as conn:
        rebuilt = sorted(r.position for r in conn.execute(select(table)))
    submissions = [n.id for n in world.engine.recorder.select_notifications(1, 10_000) if n.topic.endswith("Submitted")]
    assert rebuilt == submissions


@pytest.mark.postgres
def test_a_rebuilt_generation_on_postgresql_has_the_planner_s_statistics_before_it_serves(
    world: World, fresh_postgres_url: str
) -> None:
    url = fresh_postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    side = ReadSide(make_engine(url), [IndexedSubmissions()], log_of(world), page_size=2)
    side.catch_up()

    def analyzed(generation: int) -> bool:
        query = text("SELECT count(*) FROM pg_stats WHERE tablename = :t")
        with side.store.engine.connect() as conn:
            return bool(conn.execute(query, {"t": f"indexed_submitted__g{generation}"}).scalar_one())

    side.rebuild()
    assert side.store.live_generation("indexed_submissions", refresh=True) == 2
    assert analyzed(2)
    side.store.engine.dispose()


class TopicCountsWithFirstPosition(TopicCounts):
    """A later version of TopicCounts: one more column, which the tables an older version made lack."""

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        return {
            "counts": Table(
                "topic_counts" + suffix,
                metadata,
                Column("topic", String(200), primary_key=True),
                Column("n", Integer, nullable=False),
                Column("first_position", Integer, nullable=True),
            )
        }


@pytest.mark.parametrize("where", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_read_model_made_by_an_older_version_starts_again_from_the_first_event(
    world: World, where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if where == "sqlite":
        url = f"sqlite:///{tmp_path / 'read-models.sqlite'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url").replace("postgresql://", "postgresql+psycopg://", 1)
    old = ReadModelStore(make_engine(url), [TopicCounts()])
    Runner(old, log_of(world)).catch_up()
    old.engine.dispose()

    new = ReadModelStore(make_engine(url), [TopicCountsWithFirstPosition()])
    assert [t.position for t in new.trackings()] == [0]
    columns = {c["name"] for c in inspect(new.engine).get_columns("topic_counts__g1")}
    assert "first_position" in columns
    Runner(new, log_of(world)).catch_up()
    assert counts_in(new) == expected_counts(world)
    new.engine.dispose()


def test_a_rebuild_catches_events_recorded_while_it_ran(world: World) -> None:
    side = ReadSide(make_engine("sqlite://"), [TopicCounts()], log_of(world), page_size=4)
    side.catch_up()
    recorded = []

    def progress(name: str, position: int, head: int) -> None:
        if not recorded:
            recorded.append(
                world.engine.register_unit(
                    world.admin, code="new-cell", name="Chi bộ mới", kind=UnitKind.GRASSROOTS_CELL,
                    parent_id=world.units["district"], established_on=date(2020, 1, 1),
                )
            )

    side.rebuild(progress=progress)
    assert recorded
    side.catch_up()
    assert counts_in(side.store) == expected_counts(world)


def live_rows(store: ReadModelStore) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with store.engine.connect() as conn:
        for name in store.projections:
            for bare, table in store.live_tables(name).items():
                found[f"{name}.{bare}"] = sorted((tuple(r) for r in conn.execute(select(table))), key=repr)
    return found


def test_a_rebuild_whose_helper_process_fails_finishes_the_helper_s_read_models_itself(
    world: World, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'read-models.sqlite'}"
    marker = tmp_path / "helper-ran"
    # The helper's "log" is what writing the mark returns: it fails at its first read.
    side = ReadSide(
        make_engine(url), [UnitsProjection(), AccessProjection()], log_of(world), page_size=5,
        sqlite_file=tmp_path / "read-models.sqlite", log_opener=partial(Path.write_text, marker, "the helper ran"),
    )
    side.catch_up()
    before = live_rows(side.store)
    side.rebuild()
    assert marker.exists()
    assert {side.store.live_generation(n, refresh=True) for n in ("units", "access")} == {2}
    assert live_rows(side.store) == before
    head = world.engine.recorder.max_notification_id()
    assert {t.position for t in side.store.trackings() if t.generation == 2} == {head}


def side_on(url: str, models: list[Projection], *, helper: bool = True) -> ReadSide:
    """A read side whose log is never read: enough to ask how it would share a rebuild out."""
    nowhere = RecorderLog(None, None)  # type: ignore[arg-type]
    return ReadSide(make_engine(url), models, nowhere, log_opener=list if helper else None)  # type: ignore[arg-type]


def shares_of(database: Path, costs: dict[str, tuple[float, float]]) -> tuple[list[str], list[str]]:
    """How a rebuild of the test read models splits them, each given (its own work, decoding what it reads)."""
    kinds = {"topic_counts": TopicCounts, "submissions": Submissions, "indexed_submissions": IndexedSubmissions}
    models = [
        type(kinds[name].__name__, (kinds[name],), {"rebuild_cost": cost, "rebuild_reads": reads})()
        for name, (cost, reads) in costs.items()
    ]
    side = side_on(f"sqlite:///{database}", models)
    try:
        return side._shares(list(costs))
    finally:
        side.store.engine.dispose()


def test_a_rebuild_shares_its_read_models_out_between_two_processes_so_that_the_costlier_share_costs_least(
    tmp_path: Path,
) -> None:
    # The widest reader decodes every event: alone in its process it costs 1 + 10, and the two others together
    # 4 + 4 + 3 (their events decoded once). Shared by their own work alone, it would have joined one of them: 15.
    costs = {"submissions": (4.0, 3.0), "topic_counts": (1.0, 10.0), "indexed_submissions": (4.0, 3.0)}
    assert shares_of(tmp_path / "first.sqlite", costs) == (["topic_counts"], ["submissions", "indexed_submissions"])
    # A read model whose events the widest reader decodes anyway joins it when that leaves the costlier share cheaper:
    # 2 + 1.5 + 10 beside it, against 6 + 1.5 + 7 beside the other (whose own events it would decode there).
    costs = {"topic_counts": (2.0, 10.0), "submissions": (6.0, 6.0), "indexed_submissions": (1.5, 7.0)}
    assert shares_of(tmp_path / "second.sqlite", costs) == (["topic_counts", "indexed_submissions"], ["submissions"])


@pytest.mark.postgres
def test_a_rebuild_on_postgresql_gives_the_helper_the_read_models_marked_for_it(fresh_postgres_url: str) -> None:
    url = fresh_postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    apart = type("Apart", (Submissions,), {"rebuild_apart_on_postgresql": True})
    side = side_on(url, [TopicCounts(), apart(), IndexedSubmissions()])
    try:
        # By the costs alone (all alike here) the first would work alone and the two others share the helper.
        assert side._shares(["topic_counts", "submissions", "indexed_submissions"]) == (
            ["topic_counts", "indexed_submissions"], ["submissions"]
        )
    finally:
        side.store.engine.dispose()


def test_a_rebuild_keeps_every_read_model_in_this_process_when_a_helper_could_not_share_the_work(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'read-models.sqlite'}"
    both = ["submissions", "topic_counts"]
    assert side_on(url, [Submissions(), TopicCounts()])._shares(["submissions"]) == (["submissions"], [])
    assert side_on("sqlite://", [Submissions(), TopicCounts()])._shares(both) == (both, [])
    assert side_on(url, [Submissions(), TopicCounts()], helper=False)._shares(both) == (both, [])


def test_waiting_for_a_command_position_is_woken_by_the_runner_in_this_process(world: World, tmp_path: Path) -> None:
    # A file, not "sqlite://": the in-memory database is one connection, which two threads must not share.
    side = ReadSide(
        make_engine(f"sqlite:///{tmp_path / 'read-models.sqlite'}"), [TopicCounts()], log_of(world), poll_seconds=30
    )
    runner = side.start()
    world.engine.on_commit.append(runner.wake)
    try:
        assert side.wait_for(world.engine.recorder.max_notification_id() or 0, timeout=10).reached
        receipt = world.engine.register_unit(
            world.admin, code="new-cell", name="Chi bộ mới", kind=UnitKind.GRASSROOTS_CELL,
            parent_id=world.units["district"], established_on=date(2020, 1, 1),
        )
        # The poll interval is 30 s: only the commit's own wake-up can make this wait short.
        assert side.wait_for(receipt.position, timeout=10).reached
        assert counts_in(side.store) == expected_counts(world)
    finally:
        side.close()


def test_a_commit_whose_wake_up_is_lost_is_still_applied_at_the_next_poll(world: World, tmp_path: Path) -> None:
    # No wake-up is hooked to the commits: as for a NOTIFY lost with its connection, or a commit by another process
    # on SQLite. Only the periodic wake can bring the runner to it.
    side = ReadSide(
        make_engine(f"sqlite:///{tmp_path / 'read-models.sqlite'}"), [TopicCounts()], log_of(world), poll_seconds=0.2
    )
    side.start()
    try:
        assert side.wait_for(world.engine.recorder.max_notification_id() or 0, timeout=10).reached
        position = _new_cell(world, "unannounced-cell")
        assert side.wait_for(position, timeout=10).reached
        assert counts_in(side.store) == expected_counts(world)
    finally:
        side.close()


def _new_cell(world: World, code: str) -> int:
    receipt = world.engine.register_unit(
        world.admin, code=code, name="Chi bộ mới", kind=UnitKind.GRASSROOTS_CELL,
        parent_id=world.units["district"], established_on=date(2020, 1, 1),
    )
    return receipt.position


def test_a_live_runner_whose_connection_broke_between_passes_takes_a_new_one_and_goes_on(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    side = ReadSide(
        make_engine(f"sqlite:///{tmp_path / 'read-models.sqlite'}"), [TopicCounts()], log_of(world),
        poll_seconds=0.2,
    )
    runner = side.start()
    world.engine.on_commit.append(runner.wake)
    try:
        assert side.wait_for(_new_cell(world, "cell-one"), timeout=10).reached
        held = runner._live_conn
        assert held is not None
        # The connection the live loop keeps between passes dies under it (a server restarted, a file handle lost).
        held.connection.dbapi_connection.close()  # type: ignore[union-attr]
        waited = side.wait_for(_new_cell(world, "cell-two"), timeout=10)
        # Not the read model's fault: it is not stopped at that event, and the pass is done again on a new connection.
        assert waited.failed == ()
        assert waited.reached
        assert runner._live_conn is not held
        assert counts_in(side.store) == expected_counts(world)
    finally:
        side.close()
    # Said in one line, as the routine it is for whoever reads the server's log, not as a traceback.
    said = capsys.readouterr().err
    assert "Traceback" not in said
    assert said.startswith("the read models' database connection was lost: "), said
    assert said.endswith("; trying again every 0.2 s\n"), said


def test_a_live_pass_after_one_command_writes_every_position_in_one_statement(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    side = ReadSide(
        make_engine(f"sqlite:///{tmp_path / 'read-models.sqlite'}"), [TopicCounts(), Submissions()], log_of(world)
    )
    side.catch_up()
    runner = side.new_runner()
    assert not runner.run_pass().applied  # level with the log, and the read models it feeds known from now on
    statements: list[str] = []

    @event.listens_for(side.store.engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    # The rows' reads and writes go straight to the driver's cursor, past SQLAlchemy's events: counted too.
    through_driver = core._driver

    def _count_driver(conn: Any, statement: str, params: Any, **options: Any) -> Any:
        statements.append(statement)
        return through_driver(conn, statement, params, **options)

    monkeypatch.setattr(core, "_driver", _count_driver)

    _new_cell(world, "cell-three")
    result = runner.run_pass()
    assert result.applied > 0
    # Read to the head: the live loop waits for the next wake-up instead of reading the log again at once.
    assert not result.more
    tracking = [s for s in statements if "projection_tracking" in s]
    assert len(tracking) == 1
    assert tracking[0].startswith("UPDATE")
    # The counts' upsert and the positions: nothing read back for a page that reads no row.
    assert len(statements) == 2
    assert counts_in(side.store) == expected_counts(world)


@pytest.mark.postgres
def test_on_postgresql_a_live_pass_moves_every_position_and_notifies_in_one_statement(
    world: World, fresh_postgres_url: str
) -> None:
    import psycopg

    from projections.wakeup import READ_MODELS_CHANNEL, libpq_url

    url = fresh_postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    side = ReadSide(make_engine(url), [TopicCounts(), Submissions()], log_of(world))
    try:
        side.catch_up()
        runner = side.new_runner()
        assert not runner.run_pass().applied
        statements: list[str] = []

        @event.listens_for(side.store.engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        with psycopg.connect(libpq_url(url), autocommit=True) as listening:
            listening.execute(f"LISTEN {READ_MODELS_CHANNEL}")
            head = _new_cell(world, "cell-three")
            assert runner.run_pass().applied > 0
            notified = list(listening.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in notified] == [READ_MODELS_CHANNEL]
        tracking = [s for s in statements if "projection_tracking" in s]
        assert len(tracking) == 1
        assert "pg_notify" in tracking[0]
        assert not [s for s in statements if s.lstrip().upper().startswith("NOTIFY")]
        assert {t.name: t.position for t in side.store.trackings()} == {"topic_counts": head, "submissions": head}
        assert counts_in(side.store) == expected_counts(world)
    finally:
        side.close()
        side.store.engine.dispose()


@pytest.mark.postgres
def test_on_postgresql_a_page_of_events_a_read_model_left_undecoded_keeps_its_event_time(
    world: World, fresh_postgres_url: str
) -> None:
    url = fresh_postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    side = ReadSide(make_engine(url), [Submissions()], log_of(world))
    try:
        side.catch_up()
        (before,) = side.store.trackings()
        assert before.event_time is not None
        head = _new_cell(world, "cell-three")  # no submission: the page is read but nothing in it decoded
        assert side.catch_up().applied > 0
        (after,) = side.store.trackings()
        assert after.position == head
        assert after.event_time == before.event_time
    finally:
        side.close()
        side.store.engine.dispose()


def test_only_one_runner_at_a_time_feeds_a_read_model_on_sqlite(tmp_path: Path) -> None:
    first, second = FileLocks(tmp_path / "locks"), FileLocks(tmp_path / "locks")
    assert first.acquire("dossiers", 1)
    assert not second.acquire("dossiers", 1)
    assert second.acquire("dossiers", 2)
    first.release_all()
    assert second.acquire("dossiers", 1)


@pytest.mark.postgres
def test_only_one_runner_at_a_time_feeds_a_read_model_on_postgresql(fresh_postgres_url: str) -> None:
    engine = make_engine(fresh_postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    first, second = AdvisoryLocks(engine), AdvisoryLocks(engine)
    try:
        assert first.acquire("dossiers", 1)
        assert not second.acquire("dossiers", 1)
        first.release_all()
        assert second.acquire("dossiers", 1)
    finally:
        first.release_all()
        second.release_all()
        engine.dispose()


def _threads_running(prefix: str) -> Iterator[str]:
    return (t.name for t in threading.enumerate() if t.name.startswith(prefix))


def test_closing_the_read_side_stops_its_runner(world: World, tmp_path: Path) -> None:
    side = ReadSide(make_engine(f"sqlite:///{tmp_path / 'read-models.sqlite'}"), [TopicCounts()], log_of(world))
    side.start()
    side.close()
    assert not list(_threads_running("projections"))




@pytest.mark.postgres
def test_a_worker_whose_runner_holds_no_lock_is_woken_by_the_runner_of_another_worker(
    world: World, fresh_postgres_url: str
) -> None:
    # Two read sides on one database are two web workers: the first to start holds every read model's lock, and the
    # second's runner never applies a page. Its waits can only end early by the first's NOTIFY after each page.
    url = fresh_postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    sides = [
        ReadSide(make_engine(url), [TopicCounts()], log_of(world), postgres_url=url, poll_seconds=30)
        for _ in range(2)
    ]
    feeding, other = sides
    try:
        runner = feeding.start()
        world.engine.on_commit.append(runner.wake)
        assert feeding.wait_for(world.engine.recorder.max_notification_id() or 0, timeout=10).reached
        other.start()
        receipt = world.engine.register_unit(
            world.admin, code="new-cell", name="Chi bộ mới", kind=UnitKind.GRASSROOTS_CELL,
            parent_id=world.units["district"], established_on=date(2020, 1, 1),
        )
        started = time.monotonic()
        waited = other.wait_for(receipt.position, timeout=20)
        # Without the NOTIFY the wait ends only at its timeout (or the 30 s poll): 20 s.
        assert waited.reached
        assert time.monotonic() - started < 5
        assert other.runner is not None
        assert other.runner.commits == 0
    finally:
        for side in sides:
            side.close()
            side.store.engine.dispose()


class TopicCountsByCount(TopicCounts):
    """A later version of TopicCounts: the same columns, and an index the tables an older version made lack."""

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        tables = super().tables(metadata, suffix)
        Index(f"ix_topic_counts{suffix}_n", tables["counts"].c.n)
        return tables


@pytest.mark.parametrize("where", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_index_declared_since_an_older_version_is_made_on_opening_and_the_rows_are_kept(
    world: World, where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if where == "sqlite":
        url = f"sqlite:///{tmp_path / 'read-models.sqlite'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url").replace("postgresql://", "postgresql+psycopg://", 1)
    old = ReadModelStore(make_engine(url), [TopicCounts()])
    Runner(old, log_of(world)).catch_up()
    head = old.trackings()[0].position
    old.engine.dispose()

    new = ReadModelStore(make_engine(url), [TopicCountsByCount()])
    assert {i["name"] for i in inspect(new.engine).get_indexes("topic_counts__g1")} == {"ix_topic_counts__g1_n"}
    # An index changes no row: the read model goes on from where it stood.
    assert [t.position for t in new.trackings()] == [head]
    assert counts_in(new) == expected_counts(world)
    new.engine.dispose()


class TopicCountsWithFirsts(TopicCounts):
    """A later version of TopicCounts: one more table, which an older version never made."""

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        tables = super().tables(metadata, suffix)
        tables["firsts"] = Table(
            "topic_firsts" + suffix, metadata, Column("topic", String(200), primary_key=True),
            Column("position", Integer, nullable=False),
        )
        return tables

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        super().apply(page, logged)
        topic = type(logged.event).__qualname__
        firsts = page.rows("firsts")
        if firsts.get(topic) is None:
            firsts.put({"topic": topic, "position": logged.position})


def test_a_read_model_given_a_table_since_an_older_version_starts_again_and_fills_it(
    world: World, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'read-models.sqlite'}"
    old = ReadModelStore(make_engine(url), [TopicCounts()])
    Runner(old, log_of(world)).catch_up()
    old.engine.dispose()

    new = ReadModelStore(make_engine(url), [TopicCountsWithFirsts()])
    assert [t.position for t in new.trackings()] == [0]
    Runner(new, log_of(world)).catch_up()
    assert counts_in(new) == expected_counts(world)
    firsts = new.live_tables("topic_counts")["firsts"]
    with new.engine.connect() as conn:
        assert {r.topic for r in conn.execute(select(firsts))} == set(expected_counts(world))
    new.engine.dispose()


class Bulky(Projection):
    """A row of 3,000 characters per event: every page of events needs new pages of the database file."""

    name = "bulky"

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        return {
            "rows": Table(
                "bulky" + suffix, metadata, Column("position", Integer, primary_key=True), Column("text", String)
            )
        }

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        page.append("rows", {"position": logged.position, "text": "x" * 3000})


def _room_limited(path: Path) -> tuple[Any, list[sqlite3.Connection]]:
    """A read-model database whose file can be made to grow no further, as on a full disk: SQLite then refuses the
    write with the error a full disk gives (SQLITE_FULL). Its connections are kept to be limited (the live runner
    keeps its own between passes)."""
    engine = make_engine(f"sqlite:///{path}")
    connections: list[sqlite3.Connection] = []

    @event.listens_for(engine, "connect")
    def _keep(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        connections.append(dbapi_connection)

    return engine, connections


def _fill_the_disk(connections: list[sqlite3.Connection], path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
    for connection in connections:
        connection.execute(f"PRAGMA max_page_count = {pages}")


def _free_the_disk(connections: list[sqlite3.Connection]) -> None:
    for connection in connections:
        connection.execute("PRAGMA max_page_count = 1073741823")  # SQLite's default


def test_a_read_model_database_out_of_room_stops_no_read_model_and_a_later_pass_goes_on_once_there_is_room(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "read-models.sqlite"
    engine, connections = _room_limited(path)
    side = ReadSide(engine, [Bulky(), TopicCounts()], log_of(world))
    try:
        _fill_the_disk(connections, path)
        with pytest.raises(OperationalError, match="database or disk is full"):
            side.catch_up()
        # Not the events' fault: no read model is stopped at an event, to wait for `projections retry`.
        assert all(not s.state.startswith("failed") for s in side.status()), side.status()
        _free_the_disk(connections)
        side.catch_up()
        assert {s.name: s.state for s in side.status()} == {"bulky": "up to date", "topic_counts": "up to date"}
        assert counts_in(side.store) == expected_counts(world)
    finally:
        side.close()
        engine.dispose()


def test_a_live_runner_out_of_room_says_so_once_and_goes_on_by_itself_once_there_is_room(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "read-models.sqlite"
    engine, connections = _room_limited(path)
    side = ReadSide(engine, [Bulky(), TopicCounts()], log_of(world), poll_seconds=0.05)
    runner = side.start()
    world.engine.on_commit.append(runner.wake)
    try:
        assert side.wait_for(world.engine.recorder.max_notification_id() or 0, timeout=10).reached
        _fill_the_disk(connections, path)
        positions = [_new_cell(world, f"cell-{n}") for n in range(5)]
        waited = side.wait_for(positions[-1], timeout=0.5)
        assert not waited.reached
        assert waited.failed == ()
        _free_the_disk(connections)
        assert side.wait_for(positions[-1], timeout=10).reached
        assert counts_in(side.store) == expected_counts(world)
    finally:
        side.close()
        engine.dispose()
    said = [line for line in capsys.readouterr().err.splitlines() if line]
    assert said == ["the read models cannot be written: database or disk is full; trying again every 0.05 s"]


@pytest.mark.postgres
def test_a_listener_that_polls_rarely_still_stops_at_once(fresh_postgres_url: str) -> None:
    woken = threading.Event()
    listener = Listener(fresh_postgres_url, "dossierflow_test_channel", woken.set, poll_seconds=30)
    listener.start()
    try:
        # Listening (it calls back once in place, for whatever was committed before it listened).
        assert woken.wait(10)
    finally:
        started = time.monotonic()
        listener.stop()
    # Not a speed figure: the old listener waited out its 30 s poll (and its close up to three of them).
    assert time.monotonic() - started < 10
