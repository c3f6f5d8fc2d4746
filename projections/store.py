"""The read models' database: each projection's tables by generation, and where each generation stands.

A read model lives in generations. The live generation serves queries; a rebuild fills the next one beside it and,
in the transaction that brings it level with the log, makes it the live one. Two small tables say where everything
stands: `projection_state` (the live and the building generation of each read model) and `projection_tracking`
(per generation: its position in the log, written in the same transaction as its rows, and whether it failed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    exc,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateTable

from projections.core import Projection

LIVE, BUILDING, FAILED = "live", "building", "failed"

_meta = MetaData()
STATE = Table(
    "projection_state",
    _meta,
    Column("name", String(100), primary_key=True),
    Column("live_generation", Integer, nullable=False),
    Column("building_generation", Integer, nullable=True),
)
TRACKING = Table(
    "projection_tracking",
    _meta,
    Column("name", String(100), primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False),
    # When the last event applied was recorded (epoch seconds), for the lag in seconds.
    Column("event_time", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("failed_position", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
)


@dataclass(frozen=True)
class Tracking:
    name: str
    generation: int
    position: int
    event_time: float | None
    failed_position: int | None
    error: str | None

    @property
    def failed(self) -> bool:
        return self.failed_position is not None


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def read_models_url(database_url: str | None, data_dir: Path) -> str:
    """Where the read models live: beside the events on PostgreSQL, in their own SQLite file otherwise (so that the
    event writer and the projection writer never wait on each other)."""
    scheme = (database_url or "").strip().split(":", 1)[0].lower()
    if database_url and scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        rest = database_url.strip().split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"
    return sqlite_url(data_dir / "read-models.sqlite")


# A pooled PostgreSQL connection idle this long is pinged before use (see make_engine).
PING_AFTER_IDLE_SECONDS = 2.0


def _with_table_hints(compiler: type[Any]) -> type[Any]:
    class HintingCompiler(compiler):  # type: ignore[misc]
        def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
            return text

    return HintingCompiler


def make_engine(url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS, derived: bool = False) -> Engine:
    """An engine for the read models (`derived`: every row can be computed again from the event log) or for the
    web's accounts (sessions, password hashes: deleted securely, as Debian's SQLite does by default)."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            # One in-memory database is one connection (StaticPool): for a single thread, such as a read-only
            # archive's listing. A runner in a thread of its own needs a file.
            **({"poolclass": StaticPool} if memory else {}),
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        # SQLAlchemy's SQLite compiler drops every table hint; the read models' queries name the index SQLite must
        # walk (`INDEXED BY`, see projections/models/audit.py), where its planner, without statistics, would pick a
        # range index and sort a hundred thousand rows to keep fifty.
        engine.dialect.statement_compiler = _with_table_hints(engine.dialect.statement_compiler)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if derived:
                # Debian's SQLite deletes securely by default: every page a dropped or emptied table frees is
                # written over with zeros, through the WAL, and copied again by its checkpoint. A rebuild drops the
                # generation before, a gigabyte or two: 4.4 s where FAST took 0.35 s for a 1 GB table. FAST still
                # zeroes what is deleted inside a page it writes anyway; what it leaves is the content of whole
                # freed pages, rows the event log holds in any case.
                cursor.execute("PRAGMA secure_delete=FAST")
            cursor.close()

        return engine
    engine = create_engine(url)

    # SQLAlchemy's pool_pre_ping costs a round trip on every checkout, and a page checks out three connections (a
    # quarter of a My work page's time on PostgreSQL). A connection dies while idle (a server restart, an idle
    # timeout), so only one idle for a while is pinged: a dead one is replaced before use, as pre-ping would. One
    # that dies in use fails its statement either way, and SQLAlchemy then drops every connection made before.
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_from = record.info.get("idle_from")
        if idle_from is None or time.monotonic() - idle_from < ping_after_idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                # The pool discards this connection and checks out (or makes) another.
                raise exc.DisconnectionError() from error
            raise

    return engine


def placeholder(engine: Engine) -> str:
    """The driver's own mark for a positional parameter, for `driver_rows`: SQLite's `?`, psycopg's `%s`."""
    return "?" if engine.dialect.name == "sqlite" else "%s"


def driver_rows(engine: Engine, statement: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """One read straight through the driver, on a connection of the engine's pool: for the few statements every
    request makes, where SQLAlchemy's execution machinery (an execution context, a result, a reset) cost more CPU
    than the query (on SQLite 35 µs a statement against 12). Written with `placeholder`. In autocommit on
    PostgreSQL, as the pages' other reads: no BEGIN and ROLLBACK around it.

    A connection that fails with a disconnection is dropped with every connection made before it, as SQLAlchemy
    does for its own statements; the error is raised either way."""
    connection = engine.raw_connection()
    postgres = engine.dialect.name == "postgresql"
    try:
        driver: Any = connection.driver_connection
        if postgres:
            driver.autocommit = True
        cursor = connection.cursor()
        try:
            cursor.execute(statement, tuple(parameters))
            rows: list[tuple[Any, ...]] = list(cursor.fetchall())
        finally:
            cursor.close()
        if postgres:
            # Back as the pool hands connections out (no round trip: nothing is in progress).
            driver.autocommit = False
        return rows
    except engine.dialect.loaded_dbapi.Error as error:
        if engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
            engine.pool._invalidate(connection, error)
        elif postgres:
            # Whatever state the failure left it in, it does not go back to the pool.
            connection.invalidate(error)
        raise
    finally:
        connection.close()


@dataclass(frozen=True)
class _Catalog:
    columns: dict[str, set[str]]  # each table's columns
    indexes: set[str]


class ReadModelStore:
    """The read models' database and the tables of each generation of each projection."""

    def __init__(self, engine: Engine, projections: Sequence[Projection]) -> None:
        self.engine = engine
        self.projections = {p.name: p for p in projections}
        self._tables: dict[tuple[str, int], dict[str, Table]] = {}
        self._lock = threading.Lock()
        self._live: dict[str, int] = {}
        # Every command opens the read models: what they hold is asked of the database's catalog once (tables with
        # their columns, and indexes), not table by table, and the generations in one query.
        catalog = self._catalog()
        if any(table.name not in catalog.columns for table in (STATE, TRACKING)):
            _meta.create_all(engine)
        live = self._live_generations()
        missing = [name for name in self.projections if name not in live]
        if missing:
            with engine.begin() as conn:
                for name in missing:
                    conn.execute(_insert_ignore(conn.dialect.name, STATE), {"name": name, "live_generation": 1})
                    conn.execute(
                        _insert_ignore(conn.dialect.name, TRACKING),
                        {"name": name, "generation": 1, "position": 0, "updated_at": time.time()},
                    )
            live = self._live_generations()
        outdated = self._outdated(live, catalog)
        for name, generation in live.items():
            if name in outdated:
                # Made by an older version of this read model (a column it now has is missing): its rows cannot
                # serve, so it starts again from the first event. Read models need no migrations.
                self.drop_generation(name, generation)
                with engine.begin() as conn:
                    conn.execute(
                        TRACKING.insert(),
                        {"name": name, "generation": generation, "position": 0, "updated_at": time.time()},
                    )
        if outdated:
            catalog = self._catalog()
        for name, generation in live.items():
            self.create_generation(name, generation, catalog=catalog)

    def _live_generations(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            found = {str(name): int(g) for name, g in conn.execute(select(STATE.c.name, STATE.c.live_generation))}
        live = {name: found[name] for name in self.projections if name in found}
        self._live.update(live)
        return live

    def _catalog(self) -> _Catalog:
        """The tables of the read models' database with their columns, and its indexes, in one query."""
        if self.dialect == "sqlite":
            query = text(
                "SELECT m.type, m.name, c.name FROM sqlite_master AS m LEFT JOIN pragma_table_info(m.name) AS c "
                "WHERE m.type IN ('table', 'index')"
            )
        else:
            # As SQLAlchemy's get_table_names (plain and partitioned tables of the current schema) and pg_indexes.
            query = text(
                "SELECT CASE WHEN c.relkind = 'i' THEN 'index' ELSE 'table' END, c.relname, a.attname "
                "FROM pg_catalog.pg_class AS c "
                "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND c.relkind IN ('r', 'p') "
                "AND a.attnum > 0 AND NOT a.attisdropped "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'i')"
            )
        columns: dict[str, set[str]] = {}
        indexes: set[str] = set()
        with self.engine.connect() as conn:
            for kind, name, column in conn.execute(query):
                if kind == "index":
                    indexes.add(str(name))
                    continue
                found = columns.setdefault(str(name), set())
                if column is not None:
                    found.add(str(column))
        return _Catalog(columns, indexes)

    def _outdated(self, generations: dict[str, int], catalog: _Catalog) -> set[str]:
        """The read models whose tables of that generation lack a column or a table they declare."""
        existing = catalog.columns
        outdated = set()
        for name, generation in generations.items():
            tables = self.tables(name, generation).values()
            if not any(t.name in existing for t in tables):
                continue
            # A table declared since (the others there, this one missing) would start empty behind a position that
            # claims every event applied.
            if any(t.name not in existing for t in tables) or any(
                column.name not in existing[t.name] for t in tables for column in t.columns
            ):
                outdated.add(name)
        return outdated

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def tables(self, name: str, generation: int) -> dict[str, Table]:
        with self._lock:
            found = self._tables.get((name, generation))
            if found is None:
                found = self.projections[name].tables(MetaData(), f"__g{generation}")
                self._tables[(name, generation)] = found
            return found

    def create_generation(
        self, name: str, generation: int, *, deferred: bool = False, catalog: _Catalog | None = None
    ) -> dict[str, Table]:
        """The tables of a generation, with their indexes; `deferred`: only the unique ones (which guard the rows),
        the others made by `create_indexes` once the rows are in: a rebuild fills its tables several times faster
        without keeping a handful of secondary indexes up to date on every row, and sorts each index once.
        `catalog`: what the database holds, read just before (else read here)."""
        tables = self.tables(name, generation)
        # What checkfirst would find, asked once for every table and index: every command opens the read models.
        catalog = catalog or self._catalog()
        for table in tables.values():
            if table.name in catalog.columns:
                if not deferred:
                    # A live table made by an older version of this read model may lack an index declared since
                    # (an index changes no row): made now, once, by whichever process opens the store first.
                    self._create_missing_indexes(table, catalog.indexes)
                continue
            if not deferred:
                table.create(self.engine)
                continue
            with self.engine.begin() as conn:
                conn.execute(CreateTable(table))
                for index in table.indexes:
                    if index.unique:
                        index.create(conn)
        return tables

    def _create_missing_indexes(self, table: Table, have: set[str]) -> None:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if index.name not in have:
                with self.engine.begin() as conn:
                    # IF NOT EXISTS: two processes opening the store at once both find it missing.
                    conn.execute(CreateIndex(index, if_not_exists=True))

    def create_indexes(self, name: str, generation: int) -> None:
        """Every index of a generation that is still missing (those deferred while it was built)."""
        tables = self.tables(name, generation).values()
        for table in tables:
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                index.create(self.engine, checkfirst=True)
        if self.dialect == "postgresql":
            # Statistics before the generation serves: without them (autovacuum off, or not yet come by) the planner
            # takes a period's whole range of an index and sorts it to list its first 200 dossiers, where with them
            # it reads those 200 rows in index order. A rebuild is when every row has changed.
            with self.engine.begin() as conn:
                for table in tables:
                    conn.execute(text(f'ANALYZE "{table.name}"'))

    def drop_generation(self, name: str, generation: int) -> None:
        tables = self.tables(name, generation)
        existing = set(inspect(self.engine).get_table_names())
        for table in tables.values():
            if table.name in existing:
                table.drop(self.engine)
        with self.engine.begin() as conn:
            conn.execute(TRACKING.delete().where(TRACKING.c.name == name, TRACKING.c.generation == generation))

    def live_generation(self, name: str, *, refresh: bool = False) -> int:
        if refresh or name not in self._live:
            with self.engine.connect() as conn:
                found = conn.execute(select(STATE.c.live_generation).where(STATE.c.name == name)).scalar_one()
            self._live[name] = int(found)
        return self._live[name]

    def live_tables(self, name: str) -> dict[str, Table]:
        """The tables queries read now. The generation is looked up every time: a rebuild may have switched it."""
        return self.tables(name, self.live_generation(name, refresh=True))

    def states(self) -> dict[str, tuple[int, int | None]]:
        with self.engine.connect() as conn:
            return {
                row.name: (row.live_generation, row.building_generation)
                for row in conn.execute(select(STATE))
                if row.name in self.projections
            }

    def trackings(self) -> list[Tracking]:
        with self.engine.connect() as conn:
            return [
                Tracking(r.name, r.generation, r.position, r.event_time, r.failed_position, r.error)
                for r in conn.execute(select(TRACKING).order_by(TRACKING.c.name, TRACKING.c.generation))
                if r.name in self.projections
            ]

    def start_building(self, name: str) -> int:
        """A new generation of `name`, empty and at position 0, recorded as the one being built."""
        with self.engine.begin() as conn:
            live, building = conn.execute(
                select(STATE.c.live_generation, STATE.c.building_generation).where(STATE.c.name == name)
            ).one()
            generation = int(max(live, building or 0)) + 1
            # The generation replaced by the last rebuild was kept for queries already under way; now it goes.
            old = [
                g for g in conn.execute(select(TRACKING.c.generation).where(TRACKING.c.name == name)).scalars()
                if g != live
            ]
        for g in old:
            self.drop_generation(name, g)
        self.drop_generation(name, generation)
        self.create_generation(name, generation, deferred=True)
        with self.engine.begin() as conn:
            conn.execute(
                TRACKING.insert(),
                {"name": name, "generation": generation, "position": 0, "updated_at": time.time()},
            )
            conn.execute(update(STATE).where(STATE.c.name == name).values(building_generation=generation))
        return generation

    def retry(self, name: str) -> bool:
        """Clear the failure of every generation of `name`; True if one had failed."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(TRACKING)
                .where(TRACKING.c.name == name, TRACKING.c.failed_position.is_not(None))
                .values(failed_position=None, error=None)
            )
        return bool(result.rowcount)


def _insert_ignore(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # not loaded by commands on the embedded store

        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite  # likewise, not loaded by commands on PostgreSQL

    return sqlite.insert(table).on_conflict_do_nothing()


def notify_statement() -> Any:
    return text("NOTIFY dossierflow_read_models")
