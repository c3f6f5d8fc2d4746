"""What a visit reads of the database before its page, in one statement, where one database holds it all.

Every page's visit (web/app.py) reads three things: its session (web_sessions), where the read models stand
(projection_state and projection_tracking) and the event log's head (for the engine's cache of aggregates, which
reads the person: see workflow/repository.py). On PostgreSQL, with the sessions, the read models and the events in
one database (as `dossierflow serve` puts them), each read was a round trip of its own on a connection of its own
pool, and a cached My work view made no other: three round trips, each costing some 60 µs of the web process's CPU
and as much of the server's. Here they are one statement, read from one snapshot, so nothing is re-read less often
than before: every request still reads its session (a session ended or a role revoked in another process holds from
the next request on), the head (any new event brings the cache up to date and gives the page cache another key) and
the positions (any event applied or rebuild made gives another key).

On SQLite (three files, and no round trip to save) or with the three in different databases, there is none of this
and each is read as before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import psycopg

from projections.reading import LIVE_TEXT, Positions, positions_of
from projections.store import ReadModelStore, driver_rows
from web.accounts import SESSION_COLUMNS, SESSIONS, Accounts
from workflow.engine import Engine
from workflow.store.postgres import DATABASE_IDENTITY, ChainedPostgresApplicationRecorder


@dataclass(frozen=True)
class VisitRead:
    # The session's SESSION_COLUMNS, or None when no session has the key.
    session: tuple[Any, ...] | None
    positions: Positions
    # The log's newest notification id (None: an empty log).
    head: int | None


class VisitReads:
    """The one statement: the log's head, left-joined with the session of a key and with every read model's row."""

    def __init__(self, store: ReadModelStore, head_statement: str) -> None:
        self.store = store
        columns = ", ".join(f"w.{column}" for column in SESSION_COLUMNS)
        # The head's subquery always gives one row: a key without a session and a store without read models still
        # get the other parts.
        self.statement = (
            f"SELECT h.head, w.key IS NOT NULL, {columns}, p.name, p.live_generation, p.position, p.failed_position "
            f"FROM ({head_statement}) AS h(head) "
            f"LEFT JOIN {SESSIONS.name} w ON w.key = %s "
            f"LEFT JOIN ({LIVE_TEXT}) AS p ON true"
        )
        # Its connections are its own, in autocommit for good and used by one thread at a time: checking one out of
        # the read models' pool, switching it to autocommit and back and checking it in cost a visit as much CPU as
        # the statement itself. At most as many as threads ever read at once (Site.threads).
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._session = slice(2, 2 + len(SESSION_COLUMNS))
        self._positions = slice(2 + len(SESSION_COLUMNS), None)

    @classmethod
    def on(cls, engine: Engine, store: ReadModelStore, accounts: Accounts) -> VisitReads | None:
        """The visit's reads in one statement, if the events, the read models and the sessions are in one
        PostgreSQL database; None otherwise."""
        recorder = engine.recorder
        if not isinstance(recorder, ChainedPostgresApplicationRecorder):
            return None
        if store.engine.dialect.name != "postgresql" or accounts.engine.dialect.name != "postgresql":
            return None
        head_statement, identity = recorder.head_statement()
        for other in (store.engine, accounts.engine):
            if tuple(driver_rows(other, DATABASE_IDENTITY)[0]) != identity:
                return None
        return cls(store, head_statement)

    def read(self, session_key: str) -> VisitRead:
        rows = self._rows((session_key,))
        first = rows[0]
        session = tuple(first[self._session]) if first[1] else None
        return VisitRead(
            session,
            positions_of(tuple(row[self._positions]) for row in rows if row[self._positions][0] is not None),
            first[0],
        )

    # --- connections of its own -------------------------------------------------------------------------------

    def _rows(self, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        # A connection that died while idle (a server restart, an idle timeout) fails its first statement: this one
        # only reads, so it is sent again once on a new connection. The others kept idle are dropped with it (a
        # restart ends them all), as SQLAlchemy's pool drops every connection older than one found disconnected.
        for attempt in (1, 2):
            connection = self._checkout()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(self.statement, parameters, prepare=True)
                    rows: list[tuple[Any, ...]] = cursor.fetchall()
            except psycopg.OperationalError:
                connection.close()
                self.close()
                if attempt == 2:
                    raise
                continue
            except BaseException:
                connection.close()
                raise
            with self._lock:
                self._idle.append(connection)
            return rows
        raise AssertionError("unreachable")

    def _checkout(self) -> psycopg.Connection[Any]:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        # Made as the read models' pool makes its own (the same URL and arguments), then taken out of that pool for
        # good: this one stays in autocommit, where the pool hands out connections that are not.
        fairy = self.store.engine.raw_connection()
        connection = fairy.driver_connection
        fairy.detach()
        assert isinstance(connection, psycopg.Connection)
        connection.autocommit = True
        return connection

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
