"""What the benchmarks share: the two backends (a fresh store each), a district to play in, and the sample answers.

Figures, not pass/fail tests. Every ratio is measured side by side in one run, on one machine, interleaving the
two sides in small chunks so that a neighbour's load falls on both alike.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.actor import Actor
from domain.ids import person_id
from domain.values import Answer, Classification, Role, UnitKind
from workflow.bootstrap import build_engine
from workflow.clock import Clock, SimulatedClock, system_clock
from workflow.engine import Engine
from workflow.store import application_env, is_postgres_url

# The one import of the sample answers: it moves with the rules package, and only this line follows it.
from workflow.rules.samples import sample_answers  # isort: skip

DEFAULT_POSTGRES_URL = os.environ.get(
    "DOSSIERFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
YEAR = 2024


@dataclass
class Store:
    """One fresh event store: how an Engine reaches it, how a bare Application reaches its twin, and raw access."""

    backend: str
    engine_env: dict[str, str]
    bare_env: dict[str, str]
    location: str

    @property
    def events_table(self) -> str:
        return "stored_events" if self.backend == "sqlite" else "dossierflow_events"

    def raw_rows(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """The engine's stored events after a notification id, as a bare SELECT sees them."""
        if self.backend == "sqlite":
            with closing(sqlite3.connect(self.location)) as conn:
                return conn.execute(
                    f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table} "
                    "WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit),
                ).fetchall()
        with psycopg.connect(self.location) as conn:
            return conn.execute(
                sql.SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                    "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
                ).format(sql.Identifier(self.events_table)),
                (after, limit),
            ).fetchall()


@contextmanager
def sqlite_store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.sqlite"
        bare = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(tmp) / "bare.sqlite")}
        # Signed at every commit, as every installation is (the key and head file beside the store).
        yield Store("sqlite", application_env(None, path, signing_key=Path(tmp) / "signing-key.pem"), bare, str(path))


@contextmanager
def postgres_store(server_url: str) -> Iterator[Store]:
    name = f"dossierflow_bench_{uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        with tempfile.TemporaryDirectory() as keys:
            env = application_env(url, Path(keys) / "unused.sqlite", signing_key=Path(keys) / "signing-key.pem")
            # The bare application's tables are named after it, so it shares the database but not the tables; it
            # uses the library's own factory (ours would chain and sign its events too).
            bare = {k: v for k, v in env.items() if k.startswith("POSTGRES_")}
            bare["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
            yield Store("postgres", env, bare, url)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def stores(postgres_url: str | None) -> Iterator[tuple[str, Callable[[], Any]]]:
    """(backend name, a context manager factory for a fresh store) for each backend reachable."""
    yield "SQLite", sqlite_store
    if postgres_url:
        try:
            with psycopg.connect(postgres_url, connect_timeout=3):
                pass
        except psycopg.OperationalError as error:
            print(f"PostgreSQL not reachable at {postgres_url}: {error}; SQLite only")
            return
        yield "PostgreSQL", lambda: postgres_store(postgres_url)


@dataclass
class District:
    """An engine with a district, its reviewer and approver, and the period open; units are added on demand."""

    engine: Engine
    clock: SimulatedClock
    admin: Actor
    answers: dict[str, Answer] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    committee_answers: dict[str, Answer] = field(default_factory=dict)
    committee_facts: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> UUID:
        return self.admin.unit_id

    def actor(self, username: str, role: Role, unit: UUID) -> Actor:
        return Actor(person_id(username), role, unit)

    def person(self, username: str, grants: list[tuple[Role, UUID]]) -> UUID:
        pid = self.engine.register_person(self.admin, username=username, full_name=f"Đồng chí {username}").value
        for role, unit in grants:
            self.engine.grant_role(self.admin, pid, role=role, unit_id=unit, valid_from=date(2020, 1, 1))
        return pid

    def unit(self, code: str, kind: UnitKind, parent: UUID) -> tuple[UUID, Actor]:
        """A unit under `parent`, and its secretary."""
        uid = self.engine.register_unit(
            self.admin, code=code, name=f"Đơn vị {code}", kind=kind, parent_id=parent,
            established_on=date(2010, 1, 1),
        ).value
        self.person(f"sec-{code}", [(Role.SECRETARY, uid)])
        return uid, self.actor(f"sec-{code}", Role.SECRETARY, uid)

    def submitted(self, secretary: Actor, *, committee: bool = False) -> UUID:
        did = self.engine.open_dossier(secretary, secretary.unit_id, YEAR).value
        answers, facts = (
            (self.committee_answers, self.committee_facts) if committee else (self.answers, self.facts)
        )
        self.engine.record_answers(secretary, did, answers=answers, facts=facts)
        self.engine.submit(secretary, did)
        return did


def district(store: Store) -> District:
    clock = SimulatedClock(datetime(2024, 1, 2, tzinfo=UTC))
    engine = Engine(store.engine_env, clock=clock)
    admin = engine.install(
        root_code="district", root_name="Huyện ủy", established_on=date(2000, 1, 1), admin_username="admin",
        admin_name="Quản trị",
    ).value
    engine.open_period(admin, year=YEAR, deadlines={}, recognition_models=[
        "four-good-cell-LC2024", "four-good-committee-LC2024",
    ])
    clock.set(datetime(2024, 11, 1, tzinfo=UTC))
    rule_set = engine.rule_book.rule_set("QD124-2023")
    answers, facts = sample_answers(
        rule_set, engine.rule_book.recognition("four-good-cell-LC2024"), Classification.GOOD
    )
    c_answers, c_facts = sample_answers(
        rule_set, engine.rule_book.recognition("four-good-committee-LC2024"), Classification.GOOD
    )
    return District(engine, clock, admin, answers, facts, c_answers, c_facts)


class Stopwatch:
    """Accumulated seconds and count of timed calls."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0

    def time(self, call: Callable[[], object]) -> None:
        started = time.perf_counter()
        call()
        self.seconds += time.perf_counter() - started
        self.count += 1

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else float("nan")

    @property
    def mean(self) -> float:
        return self.seconds / self.count if self.count else float("nan")


def timed_calls(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, worst) seconds of `repeat` calls after one warm-up call."""
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


# --- a big store kept between runs (bench/big_log.py writes it, bench/issue6_figures.py reads it) ------------------

BENCH_DATA = Path(tempfile.gettempdir()) / "dossierflow-bench"


@dataclass
class BenchStore:
    """A store named by a directory (SQLite: DIR/events.sqlite) or a PostgreSQL URL, with the data directory that
    holds its signing key and head file, laid out as the CLI expects (DOSSIERFLOW_DATA_DIR, DATABASE_URL)."""

    database_url: str | None
    data_dir: Path

    @property
    def backend(self) -> str:
        return "PostgreSQL" if self.database_url else "SQLite"

    def describe(self) -> str:
        if self.database_url:
            return f"PostgreSQL {self.database_url} (key and head file in {self.data_dir})"
        return f"SQLite {self.data_dir / 'events.sqlite'}"

    def engine(self, clock: Clock = system_clock, *, read_only: bool = False) -> Engine:
        return build_engine(database_url=self.database_url, data_dir=self.data_dir, clock=clock, read_only=read_only)

    def cli_env(self) -> dict[str, str]:
        """The environment of a `dossierflow` subprocess pointed at this store."""
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DOSSIERFLOW_DATA_DIR")}
        env["DOSSIERFLOW_DATA_DIR"] = str(self.data_dir)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _server_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def open_bench_store(spec: str, data_dir: Path | None = None, *, replace: bool = False) -> BenchStore:
    """The store named by `spec`; with `replace`, emptied first (the database dropped and created again, or the
    SQLite files, read models, key and head file removed). A PostgreSQL database is created if missing."""
    if is_postgres_url(spec):
        name = _database_name(spec)
        if not name or name == "postgres":
            raise SystemExit(f"{spec}: name a database of its own for the benchmark, not the server's default one")
        directory = data_dir or BENCH_DATA / f"pg-{name}"
        with psycopg.connect(_server_url(spec), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and replace:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                exists = None
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        store = BenchStore(spec, directory)
    else:
        store = BenchStore(None, Path(spec))
    if replace:
        for pattern in ("events.sqlite*", "read-models.sqlite*", "chain-head.json", "signing-key.pem", "*.lock"):
            for path in store.data_dir.glob(pattern):
                path.unlink()
    store.data_dir.mkdir(parents=True, exist_ok=True)
    return store
