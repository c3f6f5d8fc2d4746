"""The library's SQLite recorder, hash-chained."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    DatabaseError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    Factory,
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)
from eventsourcing.utils import Environment, EnvType

from workflow.store.chain import (
    ChainLink,
    EventRow,
    HashChainedRecorder,
    _extend_chain,
    _sign_new_head,
    _signed_head_columns,
)
from workflow.store.factories import SigningFactoryMixin
from workflow.store.signing import SignedHead
from workflow.store.snapshots import SEAL_COLUMNS, SealedSnapshots, SnapshotSeal, canonical_id

_VERIFY_FETCH_ROWS = 500
# Statements kept compiled per connection: a command runs about ten distinct ones (BEGIN, the events' insert, the
# chain's head and links, the signed head, the snapshots' seals, the reads by aggregate), the verifier a few more.
STATEMENT_CACHE_SIZE = 64


class _PendingHead:
    """The head signed inside the transaction, handed out of it to be remembered after the commit."""

    head: SignedHead | None = None


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder, HashChainedRecorder):
    """The library's SQLite recorder, plus one chain record per event in the same transaction."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        chain = self.chain_table_name
        self._select_head_statement = (
            f"SELECT notification_id, position, prev_hash, hash FROM {chain} ORDER BY notification_id DESC LIMIT 1"
        )
        self._insert_links_statement = (
            f"INSERT INTO {chain} (notification_id, position, prev_hash, hash) VALUES (?,?,?,?)"
        )
        self._select_links_statement = (
            f"SELECT notification_id, position, prev_hash, hash FROM {chain} "
            "WHERE notification_id > ? AND notification_id <= ? ORDER BY notification_id LIMIT ?"
        )
        self._select_max_ids_statement = (
            f"SELECT (SELECT MAX(rowid) FROM {self.events_table_name}), (SELECT MAX(notification_id) FROM {chain})"
        )
        self._select_event_rows_statement = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        self._select_tail_statement = (
            f"SELECT rowid, originator_id, originator_version FROM {self.events_table_name} "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )
        self._tail_connection: sqlite3.Connection | None = None
        self._tail_lock = threading.Lock()
        heads = self.heads_table_name
        self._insert_head_statement = (
            f"INSERT INTO {heads} (position, notification_id, hash, signed_at, key_id, signature) "
            "VALUES (?,?,?,?,?,?)"
        )
        head_columns = "position, notification_id, hash, signed_at, key_id, signature"
        self._select_newest_head_statement = (
            f"SELECT {head_columns} FROM {heads} WHERE notification_id <= ? ORDER BY position DESC LIMIT 1"
        )
        self._select_heads_statement = (
            f"SELECT {head_columns} FROM {heads} WHERE position > ? ORDER BY position LIMIT ?"
        )
        self._select_link_statement = (
            f"SELECT notification_id, position, prev_hash, hash FROM {chain} WHERE notification_id = ?"
        )
        self._select_max_event_statement = f"SELECT MAX(rowid) FROM {self.events_table_name} WHERE rowid <= ?"
        # One pass: each event with its chain record, found by its primary key (see iter_verify_pages).
        self._select_verify_rows_statement = (
            f"SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, c.position, c.prev_hash, "
            f"c.hash FROM {self.events_table_name} e LEFT JOIN {chain} c ON c.notification_id = e.rowid "
            "WHERE e.rowid <= ? ORDER BY e.rowid"
        )

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        # INTEGER PRIMARY KEY aliases the rowid: the chain is itself ordered by notification id, for free.
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {self.chain_table_name} ("
            "notification_id INTEGER PRIMARY KEY, "
            "position INTEGER NOT NULL, "
            "prev_hash TEXT NOT NULL, "
            "hash TEXT NOT NULL)"
        )
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {self.heads_table_name} ("
            "position INTEGER PRIMARY KEY, "
            "notification_id INTEGER NOT NULL, "
            "hash TEXT NOT NULL, "
            "signed_at TEXT NOT NULL, "
            "key_id TEXT NOT NULL, "
            "signature TEXT NOT NULL)"
        )
        return statements

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        pending = _PendingHead()
        notification_ids = super().insert_events(stored_events, _signed_head=pending, **kwargs)
        self._remember(pending.head)
        return notification_ids

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        # The head is read after the events insert: by then this transaction holds SQLite's single write lock,
        # so no other writer can extend the chain between this read and our insert.
        c.execute(self._select_head_statement)
        row = c.fetchone()
        head = None if row is None else ChainLink(*row)
        links = _extend_chain(head, notification_ids, stored_events)
        c.executemany(self._insert_links_statement, links)
        signed = _sign_new_head(self.signer, head, links)
        if signed is not None:
            c.execute(self._insert_head_statement, _signed_head_columns(signed))
            pending: _PendingHead | None = kwargs.get("_signed_head")
            if pending is not None:
                pending.head = signed
        return notification_ids

    def iter_verify_pages(self, stop: int, fetch_size: int) -> Iterator[list[tuple[Any, ...]]]:
        # One statement reads one snapshot of both tables, however long the walk takes. A join rather than two scans
        # merged in Python: the chain record's look-up by its primary key follows the events' order, so it stays on
        # the same few B-tree pages, and the merge (a tuple built per event) cost more CPU than the look-ups.
        # Plain tuples rather than the datastore's sqlite3.Row: a row object per event costs more than its hash.
        # A fetch here is no round trip, so pages are kept under the collector's threshold (700 new objects): a
        # page of thousands of tuples set off young collections that moved them to the old generation, and with it
        # full collections, whose cost grows with the whole process's heap (a server's caches), not with the walk.
        fetch_size = min(fetch_size, _VERIFY_FETCH_ROWS)
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            cursor.execute(self._select_verify_rows_statement, (stop,))
            last_event = 0
            while rows := cursor.fetchmany(fetch_size):
                yield rows
                last_event = rows[-1][0]
            self._check_scan_ended(cursor.connection, self._select_max_event_statement, stop, last_event)

    @staticmethod
    def _check_scan_ended(connection: sqlite3.Connection, statement: str, stop: int, last: int) -> None:
        # Python's sqlite3 fetchmany can end a scan early, without raising, when it meets a damaged page: rows
        # missing for that reason must be reported as a damaged file, not as events deleted.
        (greatest,) = connection.execute(statement, (stop,)).fetchone()
        if greatest is not None and greatest > last:
            raise sqlite3.DatabaseError("database disk image is malformed")

    def select_newest_signed_head(self, stop: int) -> SignedHead | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_newest_head_statement, (stop,))
            row = c.fetchone()
            return None if row is None else SignedHead(*row)

    def select_signed_heads(self, after_position: int, limit: int) -> list[SignedHead]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_heads_statement, (after_position, limit))
            return [SignedHead(*row) for row in c.fetchall()]

    def select_link(self, notification_id: int) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_link_statement, (notification_id,))
            row = c.fetchone()
            return None if row is None else ChainLink(*row)

    def select_chain_links(self, after: int | None, stop: int, limit: int) -> list[ChainLink]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_links_statement, (-1 if after is None else after, stop, limit))
            return [ChainLink(*row) for row in c.fetchall()]

    def select_event_rows(self, after: int | None, stop: int, limit: int) -> list[EventRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_event_rows_statement, (-1 if after is None else after, stop, limit))
            return [
                EventRow(row[0], self._stored_originator_id(row[1]), row[2], row[3], row[4]) for row in c.fetchall()
            ]

    def _stored_originator_id(self, value: Any) -> Any:
        # As convert_originator_id, which hashed the id as a UUID at write time, but keeping what cannot be one.
        if self.datastore.originator_id_type == "uuid" and isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                return value
        return value

    def select_chain_head(self) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_head_statement)
            row = c.fetchone()
            return None if row is None else ChainLink(*row)

    def select_tail(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        # Asked once a command: on a connection of its own, one statement in autocommit (its own read transaction),
        # rather than a pooled connection with BEGIN and ROLLBACK around it, which cost more than the query.
        if self.datastore.pool.is_sqlite_memory_mode:
            with self.datastore.transaction(commit=False) as c:
                c.execute(self._select_tail_statement, (after, limit))
                rows = c.fetchall()
        else:
            rows = self._on_tail_connection(self._select_tail_statement, (after, limit))
        # The engine's ids are UUIDs (stored as hex): what the cache is keyed by.
        convert = self.convert_originator_id
        return [(row[0], cast(UUID, convert(row[1])), row[2]) for row in rows]

    def max_notification_id(self) -> int:
        # Every My work page keys on the log's head: on the tail's connection too, rather than the library's
        # BEGIN, SELECT and ROLLBACK on a pooled one.
        if self.datastore.pool.is_sqlite_memory_mode:
            return super().max_notification_id()
        rows = self._on_tail_connection(self.select_max_notification_id_statement, ())
        return cast(int, rows[0][0])

    def _on_tail_connection(self, statement: str, parameters: tuple[Any, ...]) -> list[Any]:
        pool = self.datastore.pool
        with self._tail_lock:
            if self._tail_connection is None:
                self._tail_connection = sqlite3.connect(
                    pool.db_name, uri=True, check_same_thread=False, isolation_level=None,
                    timeout=pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
                )
            try:
                return self._tail_connection.execute(statement, parameters).fetchall()
            except sqlite3.OperationalError as error:  # Translated as the library's transactions do.
                raise OperationalError(error) from error
            except sqlite3.DatabaseError as error:
                raise DatabaseError(error) from error
            except sqlite3.Error as error:
                raise PersistenceError(error) from error

    def close_tail(self) -> None:
        with self._tail_lock:
            if self._tail_connection is not None:
                self._tail_connection.close()
                self._tail_connection = None

    def select_max_ids(self) -> tuple[int | None, int | None]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_max_ids_statement)
            row = c.fetchone()
            return row[0], row[1]




class SealedSQLiteSnapshotRecorder(SealedSnapshots, SQLiteAggregateRecorder):
    """The library's snapshot recorder, plus a seal per snapshot, written in the same transaction."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_snapshots") -> None:
        super().__init__(datastore, events_table_name)
        self._insert_seal_statement = (
            f"INSERT OR REPLACE INTO {self.seals_table_name} ({', '.join(SEAL_COLUMNS)}) VALUES (?,?,?,?,?)"
        )

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {self.seals_table_name} ("
            "originator_id TEXT, "
            "originator_version INTEGER, "
            "chain_hash TEXT NOT NULL, "
            "key_id TEXT NOT NULL, "
            "signature TEXT NOT NULL, "
            "PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID"
        )
        return statements

    def _configure(self, chain: HashChainedRecorder) -> None:
        events, chain_table = chain.events_table_name, chain.chain_table_name
        self._select_chain_hash_statement = (
            f"SELECT c.hash FROM {events} e JOIN {chain_table} c ON c.notification_id = e.rowid "
            "WHERE e.originator_id = ? AND e.originator_version = ?"
        )
        self._select_seal_statement = (
            f"SELECT z.chain_hash, z.key_id, z.signature, ("
            f"SELECT c.hash FROM {events} e JOIN {chain_table} c ON c.notification_id = e.rowid "
            "WHERE e.originator_id = z.originator_id AND e.originator_version = z.originator_version) "
            f"FROM {self.seals_table_name} z WHERE z.originator_id = ? AND z.originator_version = ?"
        )
        self._select_all_statement = (
            f"SELECT s.originator_id, s.originator_version, s.topic, s.state, z.chain_hash, z.key_id, z.signature, "
            f"(SELECT c.hash FROM {events} e JOIN {chain_table} c ON c.notification_id = e.rowid "
            "WHERE e.originator_id = s.originator_id AND e.originator_version = s.originator_version) "
            f"FROM {self.events_table_name} s LEFT JOIN {self.seals_table_name} z "
            "ON z.originator_id = s.originator_id AND z.originator_version = s.originator_version "
            "ORDER BY s.originator_id, s.originator_version"
        )
        self._select_below_statement = (
            f"SELECT s.originator_id, s.originator_version, s.topic, s.state, z.chain_hash, z.key_id, z.signature, "
            f"(SELECT c.hash FROM {events} e JOIN {chain_table} c ON c.notification_id = e.rowid "
            "WHERE e.originator_id = s.originator_id AND e.originator_version = s.originator_version) "
            f"FROM {self.events_table_name} s JOIN {self.seals_table_name} z "
            "ON z.originator_id = s.originator_id AND z.originator_version = s.originator_version "
            "WHERE s.originator_id = ? AND s.originator_version < ? ORDER BY s.originator_version DESC LIMIT 1"
        )

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        written: dict[str, tuple[int, str]] = {}
        result = super().insert_events(stored_events, _written_links=written, **kwargs)
        self.remember_links(written)
        return result

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        written: dict[str, tuple[int, str]] = kwargs.pop("_written_links", {})
        result = super()._insert_events(c, stored_events, **kwargs)
        signer = self.signer
        if signer is None:
            return result

        def select_below(snapshot: StoredEvent) -> tuple[StoredEvent, SnapshotSeal] | None:
            c.execute(self._select_below_statement, (_hex(snapshot.originator_id), snapshot.originator_version))
            row = c.fetchone()
            if row is None:
                return None
            return StoredEvent(canonical_id(row[0]), row[1], row[2], row[3]), SnapshotSeal(*row[4:])

        for snapshot in stored_events:
            key = _hex(snapshot.originator_id)
            c.execute(self._select_chain_hash_statement, (key, snapshot.originator_version))
            row = c.fetchone()
            if row is None:
                continue  # No chained event stands behind it: left unsealed, so never trusted.
            key_id, signature = self._seal_columns(signer, snapshot, row[0], written, select_below)
            c.execute(self._insert_seal_statement, (key, snapshot.originator_version, row[0], key_id, signature))
        return result

    def _select_seal(self, snapshot: StoredEvent) -> SnapshotSeal | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_seal_statement, (_hex(snapshot.originator_id), snapshot.originator_version))
            row = c.fetchone()
            return None if row is None else SnapshotSeal(*row)

    def iter_sealed(self) -> Iterator[tuple[StoredEvent, SnapshotSeal | None]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_all_statement)
            raw: Any = None
            oid = ""
            for row in c.fetchall():
                if row[0] != raw:  # Rows come by aggregate: each id parsed once.
                    raw, oid = row[0], canonical_id(row[0])
                snapshot = StoredEvent(oid, row[1], row[2], row[3])
                yield snapshot, None if row[4] is None else SnapshotSeal(row[4], row[5], row[6], row[7])


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


class StatementCachingPool(SQLiteConnectionPool):
    """The library's pool, its connections keeping their compiled statements.

    The library opens each connection with ``cached_statements=True``, which sqlite3 takes for the number 1: a
    transaction runs BEGIN and then its statements, so every statement was parsed and planned again on every use
    (a tenth of an open's instructions, measured with callgrind). Otherwise made as the library makes them.
    """

    def _create_connection(self) -> SQLiteConnection:
        try:
            connection = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # Autocommit: the library's transactions issue BEGIN themselves.
                cached_statements=STATEMENT_CACHE_SIZE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as error:
            raise InterfaceError(error) from error
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            (mode,) = connection.execute("PRAGMA journal_mode;").fetchone()
            if mode.lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        connection.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=connection, max_age=self.max_age)


class SignedSQLiteFactory(SigningFactoryMixin, Factory):
    """The library's SQLite factory, giving chained, signing recorders and sealed snapshots."""

    application_recorder_class = ChainedSQLiteApplicationRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        # The library's datastore made its pool without a connection yet: one that keeps statements compiled
        # replaces it, with the same settings.
        library_pool = self.datastore.pool
        self.datastore.pool = StatementCachingPool(
            db_name=library_pool.db_name, lock_timeout=library_pool.lock_timeout
        )
        library_pool.close()

    def _sealed_snapshot_recorder(self, purpose: str, chained: HashChainedRecorder) -> AggregateRecorder:
        recorder = SealedSQLiteSnapshotRecorder(self.datastore, "stored_" + purpose)
        recorder.attach(chained)
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def close(self) -> None:
        # The head file is written behind the commits: its last head must reach it before the store is let go.
        chained = getattr(self, "_chained", None)
        try:
            if chained is not None and chained.signer is not None:
                chained.signer.close()
        finally:
            if isinstance(chained, ChainedSQLiteApplicationRecorder):
                chained.close_tail()
            super().close()
