"""Connecting to PostgreSQL and creating the tables: the library's factory, with causes kept and limits set.

The library's pool connects in background workers and retries for minutes, while the caller waits for a
connection for POSTGRES_CONNECT_TIMEOUT seconds (30 by default) and is then told only that none came: a refused
connection, a database or a role that does not exist all look the same, after half a minute. So one direct
connection is made first, with libpq's own connect_timeout, and its error (which names the cause) is the one
reported. Every session also gets a lock_timeout, so that a lock held elsewhere becomes an error instead of a hang;
and the tables are created in one transaction under an advisory lock, so that processes starting together on an
empty database do not race on the catalog (CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import psycopg
from eventsourcing.persistence import AggregateRecorder, ApplicationRecorder
from eventsourcing.postgres import PostgresFactory, PostgresRecorder
from eventsourcing.utils import Environment, EnvType, strtobool
from psycopg.errors import DuplicateObject
from psycopg.sql import SQL

from workflow.store.errors import StoreUnavailable
from workflow.store.timeouts import DEFAULT_CONNECT_TIMEOUT, DEFAULT_LOCK_TIMEOUT

# Any fixed number serves; this one is "dossierflow" in ASCII, folded into a bigint.
TABLE_CREATION_LOCK = 0x646F7373696572

__all__ = [
    "CONNECTIONS_PER_WORKER",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LOCK_TIMEOUT",
    "DossierflowPostgresFactory",
    "connection_failure",
    "create_tables_once",
    "room_for_workers",
]

# The connections one `serve` worker holds on PostgreSQL once started (its event store's pool after the start-up
# verification, its read models' and accounts' pools, the runner's LISTEN and lock sessions) and at most under 50
# clients (bench/web_load.py, two workers: 64 at the peak, sampled in pg_stat_activity; its visits' own connections,
# one per request thread, come on top of the pools); tests/e2e/test_serve_connections.py keeps the first honest.
# Four workers on a default server (100) ran out under that load: 503s and 500s, "too many clients already".
CONNECTIONS_PER_WORKER = 14
CONNECTIONS_PER_WORKER_UNDER_LOAD = 32


class DossierflowPostgresFactory(PostgresFactory):
    """PostgresFactory that reports why it cannot connect, bounds lock waits, and creates its tables once."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        self.connect_timeout = int(self.env.get(self.POSTGRES_CONNECT_TIMEOUT) or DEFAULT_CONNECT_TIMEOUT)
        pool = self.datastore.pool
        assert isinstance(pool.kwargs, dict)
        # libpq's own limits for the pool's connections: the library passes neither.
        pool.kwargs["connect_timeout"] = self.connect_timeout
        lock_ms = self.datastore.lock_timeout * 1000
        pool.kwargs["options"] = f"-c lock_timeout={lock_ms}"
        self._where = f"{pool.kwargs['user']}@{pool.kwargs['host']}:{pool.kwargs['port']}/{pool.kwargs['dbname']}"
        self._check_connection(pool.kwargs)

    def _check_connection(self, kwargs: dict[str, Any]) -> None:
        direct = {k: v for k, v in kwargs.items() if k != "row_factory"}
        try:
            with psycopg.connect(**direct):
                pass
        except psycopg.Error as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL {self._where}: {connection_failure(error)}") from None

    def env_create_table(self) -> bool:
        # The library would create each recorder's tables in its own transactions, unlocked: _prepare does it.
        return False

    def _wants_tables(self) -> bool:
        return bool(strtobool(self.env.get(self.CREATE_TABLE) or "yes"))

    def application_recorder(self) -> ApplicationRecorder:
        recorder = super().application_recorder()
        assert isinstance(recorder, PostgresRecorder)
        self._prepare(recorder)
        return recorder

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        recorder = super().aggregate_recorder(purpose)
        assert isinstance(recorder, PostgresRecorder)
        self._prepare(recorder)
        return recorder

    def _prepare(self, recorder: PostgresRecorder) -> None:
        if self._wants_tables():
            create_tables_once(recorder)
            return
        # A command that only reads creates nothing: it says there is nothing to read.
        table = getattr(recorder, "events_table_name", None)
        if table is not None and not self._table_exists(table):
            msg = (
                f"PostgreSQL database {self._where} holds no dossierflow store (no table {table}); "
                "check DATABASE_URL, or create one with `dossierflow demo`"
            )
            raise StoreUnavailable(msg)

    def _table_exists(self, table: str) -> bool:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT to_regclass(%s) IS NOT NULL AS found"), [f"{self.datastore.schema}.{table}"])
            row = curs.fetchone()
            return bool(row and row["found"])


def create_tables_once(recorder: PostgresRecorder) -> None:
    """The recorder's types, tables and indexes, in one transaction that holds a lock no other creator can share."""
    with recorder.datastore.transaction(commit=True) as curs:
        curs.execute(SQL("SELECT pg_advisory_xact_lock(%s)"), [TABLE_CREATION_LOCK])
        for statement in recorder.sql_create_statements:
            if "CREATE TYPE" in statement.as_string():
                # No IF NOT EXISTS for types: a savepoint lets the one that exists already be skipped.
                with contextlib.suppress(DuplicateObject), curs.connection.transaction():
                    curs.execute(statement, prepare=False)
            else:
                curs.execute(statement, prepare=False)
    recorder.datastore.register_type_adapters()


def connection_failure(error: BaseException) -> str:
    """libpq's reason for a failed connection, on one line: 'Connection refused', 'database "x" does not exist'."""
    text = str(error).strip()
    reason = text.rsplit(" failed: ", 1)[-1] if " failed: " in text else text
    reason = reason.removeprefix("FATAL:").strip()
    return re.sub(r"\s+", " ", reason.splitlines()[0] if reason else text) or type(error).__name__


def room_for_workers(libpq_url: str, workers: int, connect_timeout: int) -> str | None:
    """Why `workers` processes would not all get their connections from this server, or None if they would.

    A server at max_connections refuses the next connection ("too many clients already"): a worker that meets it
    while starting dies with a traceback, and the others fail requests at random. Counted against what the server
    has left for ordinary roles now (max_connections less the reserved slots and the sessions already open)."""
    try:
        with psycopg.connect(libpq_url, connect_timeout=connect_timeout, autocommit=True) as conn:
            max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
            reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])  # type: ignore[index]
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").fetchone()
            in_use = int(row[0]) - 1 if row else 0  # not this one, closed below
    except psycopg.Error as error:
        return f"cannot ask PostgreSQL how many connections it allows: {connection_failure(error)}"
    free = max_connections - reserved - in_use
    # Counted at their most: a worker that starts but cannot get a connection under load fails requests instead.
    needed = workers * CONNECTIONS_PER_WORKER_UNDER_LOAD
    if needed <= free:
        return None
    fits = max(free // CONNECTIONS_PER_WORKER_UNDER_LOAD, 0)
    return (
        f"{workers} workers may hold {needed} connections to PostgreSQL ({CONNECTIONS_PER_WORKER} each once started, "
        f"up to {CONNECTIONS_PER_WORKER_UNDER_LOAD} under load), but the server has {max(free, 0)} left "
        f"(max_connections {max_connections}, {reserved} reserved, {in_use} in use): start at most {fits} "
        "worker" + ("s" if fits != 1 else "") + ", or raise max_connections"
    )
