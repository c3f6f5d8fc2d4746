"""The event store module: backend choice, atomic chained writes, version conflicts, transcodings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import eventsourcing.persistence
import pytest
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, JSONTranscoder, PersistenceError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

import workflow.store
import workflow.store.postgres
import workflow.store.sqlite
from domain import values
from domain.actor import Actor
from domain.decisions import DecisionAct, DecisionEntry
from domain.person import Delegation, Grant
from domain.unit import UnitVersion
from domain.values import Answer, Classification, DossierState, Evidence, Grade, Role, UnitKind
from tests.ledger import Ledger
from workflow.store import (
    TRANSCODED_DATACLASSES,
    TRANSCODED_ENUMS,
    ChainWriteRefused,
    application_env,
    is_postgres_url,
    register_dataclass,
    register_enum,
    register_transcodings,
    verify_chain,
)

if TYPE_CHECKING:
    from tests.conftest import Backend


class Sheet(Aggregate):
    """Carries one of every kind of value the domain's events hold."""

    @event("Filled")
    def __init__(
        self,
        on: date,
        at: datetime,
        amount: Decimal,
        members: list[Enum],
        actor: Actor,
        answer: Answer,
        evidence: Evidence,
    ) -> None:
        self.on = on
        self.at = at
        self.amount = amount
        self.members = members
        self.actor = actor
        self.answer = answer
        self.evidence = evidence


class StoreApp(Application[UUID]):
    name = "dossierflow"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        register_transcodings(transcoder)


@pytest.fixture
def app(backend: Backend) -> Iterator[StoreApp]:
    application = StoreApp(env=backend.env)
    yield application
    application.close()


WORKERS = 4
WRITES_PER_WORKER = 25


def count_events(backend: Backend) -> int:
    [(count,)] = backend.raw_sql(f"SELECT COUNT(*) FROM {backend.events_table}")
    return int(count)


# --- backend choice ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, "", "sqlite:///data/dossierflow.sqlite", "sqlite+pysqlite:///x.db"])
def test_application_env_selects_the_chained_sqlite_store_without_a_postgres_url(
    url: str | None, tmp_path: Path
) -> None:
    path = tmp_path / "not" / "yet" / "there" / "events.sqlite"
    env = application_env(url, path)
    assert env == {
        "PERSISTENCE_MODULE": "workflow.store.sqlite:SignedSQLiteFactory",
        "SQLITE_DBNAME": str(path),
        "APPLICATION_RECORDER_TOPIC": "workflow.store.sqlite:ChainedSQLiteApplicationRecorder",
        "ORIGINATOR_ID_TYPE": "uuid",
    }
    assert path.parent.is_dir()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/postgres",
            ("postgres", "127.0.0.1", "5432", "postgres", ""),
        ),
        (
            "postgresql+psycopg://app:s3cret@db.example.org/dossierflow",
            ("dossierflow", "db.example.org", "5432", "app", "s3cret"),
        ),
        (
            "postgresql://app:p%40ss%3Aw%2Fd@localhost:6543/season_2024",
            ("season_2024", "localhost", "6543", "app", "p@ss:w/d"),
        ),
        ("postgresql://app:@[::1]:5433/db", ("db", "::1", "5433", "app", "")),
        # The alias most hosting dashboards and libpq itself hand out.
        ("postgres://app:pw@db.example.org:5432/dossierflow", ("dossierflow", "db.example.org", "5432", "app", "pw")),
    ],
)
def test_application_env_parses_a_postgres_url(url: str, expected: tuple[str, ...], tmp_path: Path) -> None:
    env = application_env(url, tmp_path / "unused.sqlite")
    keys = ("POSTGRES_DBNAME", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD")
    assert tuple(env[key] for key in keys) == expected
    # Our PostgreSQL factory: connection failures reported, tables created once, recorders that sign.
    assert env["PERSISTENCE_MODULE"] == "workflow.store.postgres:SignedPostgresFactory"
    assert env["APPLICATION_RECORDER_TOPIC"] == "workflow.store.postgres:ChainedPostgresApplicationRecorder"
    assert env["ORIGINATOR_ID_TYPE"] == "uuid"
    assert not (tmp_path / "unused.sqlite").exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root:hunter2@localhost/db", "unsupported DATABASE_URL"),
        ("postgresq://app@localhost/db", "unsupported DATABASE_URL"),
        ("localhost:5432/db", "unsupported DATABASE_URL"),
        ("postgresql://app:hunter2@localhost:5432", "names no database"),
        ("postgresql://app@localhost:99999/db", "port"),
        ("postgresql://app@/db", "names no host"),
        ("postgresql://localhost/db", "names no user"),
        ("postgresql://app:hunter2@localhost/db?sslmode=require", "query parameters"),
    ],
)
def test_application_env_refuses_a_bad_url_with_a_clear_message(url: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        application_env(url, tmp_path / "events.sqlite")
    message = str(refused.value)
    assert "postgresql://user:password@host:port/dbname" in message
    assert "hunter2" not in message


def test_is_postgres_url_accepts_the_postgres_schemes_only() -> None:
    assert is_postgres_url("postgresql://u@h/d")
    assert is_postgres_url("postgresql+psycopg://u@h/d")
    assert is_postgres_url("postgres://u@h/d")
    assert not is_postgres_url(None)
    assert not is_postgres_url("sqlite:///x")
    assert not is_postgres_url("postgresq://u@h/d")


def test_verifying_an_application_without_the_chained_recorder_is_refused(tmp_path: Path) -> None:
    plain = Application[UUID](
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "plain.sqlite")}
    )
    try:
        with pytest.raises(TypeError, match="keeps no hash chain"):
            verify_chain(plain.recorder)
    finally:
        plain.close()


# --- atomic writes ----------------------------------------------------------------------------------------------


def test_a_version_conflict_raises_integrity_error_and_writes_nothing(app: StoreApp, backend: Backend) -> None:
    ledger = Ledger("shared")
    app.save(ledger)
    mine = app.repository.get(ledger.id)
    theirs = app.repository.get(ledger.id)
    mine.enter(Decimal(1))
    app.save(mine)
    before = verify_chain(app.recorder)
    assert before.ok
    assert before.events_checked == 2

    # Their batch: a new aggregate, then two events of which the first reuses version 2.
    newcomer = Ledger("newcomer")
    theirs.enter(Decimal(2))
    theirs.enter(Decimal(3))
    with pytest.raises(IntegrityError):
        app.save(newcomer, theirs)

    assert count_events(backend) == 2
    assert verify_chain(app.recorder) == before
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(newcomer.id)
    # The store goes on: on PostgreSQL the failed batch left a gap in the notification ids, which is no break.
    again = app.repository.get(ledger.id)
    again.enter(Decimal(4))
    app.save(again)
    after = verify_chain(app.recorder)
    assert after.ok
    assert after.events_checked == 3


def test_concurrent_writers_extend_one_unbroken_chain(app: StoreApp) -> None:
    def write(worker: int) -> None:
        for n in range(WRITES_PER_WORKER):
            ledger = Ledger(f"{worker}-{n}")
            ledger.enter(Decimal(n))
            app.save(ledger)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(write, range(WORKERS)))
    report = verify_chain(app.recorder)
    assert report.ok, report.first_break
    assert report.events_checked == WORKERS * WRITES_PER_WORKER * 2


def test_a_python_failure_while_extending_the_chain_writes_nothing(
    app: StoreApp, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.save(Ledger("before"))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the chain step")

    monkeypatch.setattr(workflow.store.sqlite, "_extend_chain", broken)
    monkeypatch.setattr(workflow.store.postgres, "_extend_chain", broken)
    lost = Ledger("lost")
    lost.enter(Decimal(1))
    with pytest.raises(RuntimeError, match="bug in the chain step"):
        app.save(lost)
    monkeypatch.undo()

    assert count_events(backend) == 1
    report = verify_chain(app.recorder)
    assert report.ok
    assert report.events_checked == 1
    app.save(Ledger("after"))
    assert verify_chain(app.recorder).events_checked == 2


def test_a_database_failure_while_extending_the_chain_writes_nothing(app: StoreApp, backend: Backend) -> None:
    app.save(Ledger("before"))
    if backend.name == "sqlite":
        backend.raw_sql(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {backend.chain_table} BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    else:
        backend.raw_sql("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE 'refused'; END $$")
        backend.raw_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON {backend.chain_table} EXECUTE FUNCTION refuse()")
    with pytest.raises(PersistenceError, match="refused"):
        app.save(Ledger("lost"))
    assert count_events(backend) == 1
    assert verify_chain(app.recorder).ok


def test_a_failure_to_fetch_the_new_notification_ids_writes_nothing_and_verify_stays_ok(
    app: StoreApp, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.save(Ledger("before"))
    if backend.name == "sqlite":
        # SQLite has no separate fetch: its ids come from the insert itself. Fail right after it, as PostgreSQL's
        # fetch fails after its insert.
        original = SQLiteApplicationRecorder._insert_events

        def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
            original(self, *args, **kwargs)
            raise eventsourcing.persistence.ProgrammingError("Couldn't get all notification IDs")

        monkeypatch.setattr(SQLiteApplicationRecorder, "_insert_events", failing)
    else:

        def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise eventsourcing.persistence.ProgrammingError("Couldn't get all notification IDs")

        monkeypatch.setattr(PostgresApplicationRecorder, "_fetch_ids_after_insert_events", failing)
    lost = Ledger("lost")
    lost.enter(Decimal(1))
    with pytest.raises(PersistenceError, match="notification IDs"):
        app.save(lost)
    monkeypatch.undo()

    assert count_events(backend) == 1
    assert verify_chain(app.recorder).ok
    app.save(Ledger("after"))
    report = verify_chain(app.recorder)
    assert (report.ok, report.events_checked) == (True, 2)


def test_a_sqlite_store_that_lost_its_newest_event_refuses_to_chain_new_ones(tmp_path: Path) -> None:
    # SQLite hands out max(rowid)+1: the next event would take the deleted one's number and chain record.
    application = StoreApp(env=application_env(None, tmp_path / "events.sqlite"))
    try:
        application.save(Ledger("one"), Ledger("two"))
        with sqlite3.connect(tmp_path / "events.sqlite") as conn:
            conn.execute("DELETE FROM stored_events WHERE rowid = 2")
        conn.close()
        with pytest.raises(ChainWriteRefused, match="deleted or renumbered"):
            application.save(Ledger("three"))
        report = verify_chain(application.recorder)
        assert report.first_break is not None
        assert (report.first_break.position, report.first_break.kind) == (2, "missing")
    finally:
        application.close()


# --- transcodings -----------------------------------------------------------------------------------------------


def test_every_enum_and_value_object_of_the_domain_is_transcoded() -> None:
    enums = {
        obj
        for obj in vars(values).values()
        if isinstance(obj, type) and issubclass(obj, Enum) and obj.__module__ == values.__name__
    }
    assert set(TRANSCODED_ENUMS) == enums
    assert {Role, UnitKind, Classification, Grade, DossierState} <= enums
    assert {Actor, Answer, Evidence} <= set(TRANSCODED_DATACLASSES)


def _samples_of_every_transcoded_dataclass() -> dict[type[Any], object]:
    actor = Actor(person_id=uuid4(), role=Role.APPROVER, unit_id=uuid4(), on_behalf_of=uuid4())
    return {
        Actor: actor,
        Answer: Answer(grade=Grade.GOOD, points=Decimal("7.25"), met=True, sub_items={"2.1": True}, comment="ok"),
        Evidence: Evidence(sha256="ab" * 32, name="minutes.pdf", size=12345, media_type="application/pdf"),
        UnitVersion: UnitVersion(date(2024, 7, 1), "Chi bộ Kho bạc Nhà nước", uuid4(), True),
        Grant: Grant(uuid4(), Role.REVIEWER, uuid4(), date(2024, 1, 1), None, "QĐ 12", revoked_on=date(2024, 6, 1)),
        Delegation: Delegation(uuid4(), uuid4(), uuid4(), date(2024, 1, 1), date(2024, 2, 1), "QĐ 13"),
        DecisionEntry: DecisionEntry(uuid4(), uuid4(), "wards", Classification.GOOD, True),
        DecisionAct: DecisionAct("125-QĐ/HU", date(2024, 12, 27)),
    }


def test_every_transcoded_dataclass_comes_back_equal_through_the_transcoder() -> None:
    samples = _samples_of_every_transcoded_dataclass()
    # A type added to the list without a sample here fails, so the list and this test cannot drift apart.
    assert set(samples) == set(TRANSCODED_DATACLASSES)
    transcoder = JSONTranscoder()
    workflow.store.register_transcodings(transcoder)
    for cls, sample in samples.items():
        decoded = transcoder.decode(transcoder.encode({"value": sample}))["value"]
        assert type(decoded) is cls
        assert decoded == sample


def test_events_carrying_every_domain_value_come_back_equal_after_reload(backend: Backend) -> None:
    actor = Actor(person_id=uuid4(), role=Role.APPROVER, unit_id=uuid4(), on_behalf_of=uuid4())
    answer = Answer(
        grade=Grade.GOOD, points=Decimal("7.25"), met=True, sub_items={"2.1": True, "2.2": False}, comment="ok"
    )
    evidence = Evidence(sha256="ab" * 32, name="minutes.pdf", size=12345, media_type="application/pdf")
    members = [list(enum_class)[-1] for enum_class in TRANSCODED_ENUMS]
    sheet = Sheet(
        on=date(2024, 12, 31),
        at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        amount=Decimal("-0.10"),
        members=members,
        actor=actor,
        answer=answer,
        evidence=evidence,
    )
    writer = StoreApp(env=backend.env)
    try:
        writer.save(sheet)
    finally:
        writer.close()

    reader = StoreApp(env=backend.env)
    try:
        loaded = reader.repository.get(sheet.id)
    finally:
        reader.close()
    assert (loaded.on, loaded.at, loaded.amount) == (date(2024, 12, 31), sheet.at, Decimal("-0.10"))
    assert type(loaded.on) is date
    assert loaded.members == members
    assert all(got is expected for got, expected in zip(loaded.members, members, strict=True))
    assert loaded.actor == actor
    assert loaded.actor.role is Role.APPROVER
    assert loaded.answer == answer
    assert loaded.answer.grade is Grade.GOOD
    assert isinstance(loaded.answer.points, Decimal)
    assert loaded.evidence == evidence


@dataclass(frozen=True)
class Bundle:
    answer: Answer
    actors: list[Actor]
    grades: dict[str, Grade] = field(default_factory=dict)
    pair: tuple[int, int] = (1, 2)


def test_the_transcoder_encodes_and_decodes_nested_values_recursively() -> None:
    transcoder = JSONTranscoder()
    register_transcodings(transcoder)
    register_dataclass(transcoder, Bundle)
    bundle = Bundle(
        answer=Answer(grade=Grade.POOR, points=Decimal("0.5"), sub_items={"a": True}),
        actors=[Actor(person_id=uuid4(), role=Role.REVIEWER, unit_id=uuid4())],
        grades={"x": Grade.EXCELLENT},
    )
    encoded = transcoder.encode(bundle)
    assert b'"_type_":"Answer"' in encoded
    assert b'"_type_":"Grade","_data_":"poor"' in encoded
    decoded = transcoder.decode(encoded)
    assert decoded.answer == bundle.answer
    assert decoded.actors == bundle.actors
    assert decoded.grades == {"x": Grade.EXCELLENT}
    # JSON has no tuple: documented in DataclassAsDict.
    assert decoded.pair == [1, 2]


def test_a_transcoding_name_already_taken_by_another_class_is_refused() -> None:
    class Role(Enum):  # same name as domain.values.Role
        OTHER = "other"

    transcoder = JSONTranscoder()
    register_transcodings(transcoder)
    with pytest.raises(ValueError, match="'Role' is already used"):
        register_enum(transcoder, Role)
    register_enum(transcoder, Role, name="OtherRole")
    assert transcoder.decode(transcoder.encode(Role.OTHER)) is Role.OTHER
    register_transcodings(transcoder)  # registering the same classes again is harmless
