"""The event store's storage, and the only module of the engine that knows it.

Three concerns live here, all below the engine's use cases:

* **Backend choice.** :func:`application_env` turns one setting (``DATABASE_URL``) into the environment of an
  ``eventsourcing`` ``Application``: the library's own SQLite recorder (embedded default) or its PostgreSQL
  recorder (production), each subclassed to keep a hash chain.
* **Tamper evidence.** Every stored event gets a chain record, written in the same transaction as the event:
  ``hash = sha256(prev_hash || encoding(notification_id, originator_id, originator_version, topic, state))``.
  :func:`verify_chain` recomputes the chain from the genesis and names the first broken link;
  :func:`chain_head` gives the head to keep outside the database.
* **Transcodings.** :func:`register_transcodings` teaches the JSON transcoder the domain's value objects, so that
  events come back from the store as the very objects that went in.

Errors. A version conflict (two writers saving the same aggregate version) raises
``eventsourcing.persistence.IntegrityError`` on both backends: SQLite's ``sqlite3.IntegrityError`` is translated by
``SQLiteTransaction``, psycopg's ``UniqueViolation`` by ``PostgresDatastore.get_connection``. The whole batch is
rolled back (events and chain records), so the engine may catch it, raise ``domain.errors.ConcurrencyConflict``,
and let the user retry on fresh state. The chain's own refusal to extend (the events table lost its newest rows)
is a :class:`ChainWriteRefused`, a PersistenceError but deliberately not an IntegrityError, so that it is not
retried as a conflict.
"""

from __future__ import annotations

import dataclasses
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatabaseError,
    DataError,
    DatetimeAsISO,
    DecimalAsStr,
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain import values
from domain.actor import Actor
from domain.values import Answer, Evidence

__all__ = [
    "CHAIN_TABLE_SUFFIX",
    "GENESIS_HASH",
    "TRANSCODED_DATACLASSES",
    "TRANSCODED_ENUMS",
    "ChainBreak",
    "ChainLink",
    "ChainReport",
    "ChainWriteRefused",
    "ChainedPostgresApplicationRecorder",
    "ChainedSQLiteApplicationRecorder",
    "DataclassAsDict",
    "DateAsISO",
    "EnumAsValue",
    "EventRow",
    "HashChainedRecorder",
    "application_env",
    "chain_head",
    "is_postgres_url",
    "link_hash",
    "register_dataclass",
    "register_enum",
    "register_transcodings",
    "verify_chain",
]

# ---------------------------------------------------------------------------------------------------------------
# The hash chain
# ---------------------------------------------------------------------------------------------------------------

GENESIS_HASH = "0" * 64
CHAIN_TABLE_SUFFIX = "_chain"
VERIFY_PAGE_SIZE = 1000


def link_hash(
    prev_hash: str,
    notification_id: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
) -> str:
    """The hash of one link: sha256(prev_hash || canonical encoding of the stored event)."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    # A row edited by hand can come back with another type (SQLite turns `state || ' '` into TEXT): hash what is
    # there, so the verifier reports an altered link instead of failing on it.
    if not isinstance(state, bytes | bytearray | memoryview):
        state = str(state).encode("utf-8")
    # Length prefixes make the encoding injective: no two different events can share an encoding by moving
    # bytes across a field boundary. UUIDs are encoded in their canonical text form, because SQLite hands them
    # back as hex and PostgreSQL as `uuid`: the hash must not depend on the backend.
    for part in (
        str(notification_id).encode("ascii"),
        str(originator_id).encode("utf-8"),
        str(originator_version).encode("utf-8"),
        str(topic).encode("utf-8"),
        bytes(state),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class ChainLink(NamedTuple):
    """One chain record, as stored beside the events table."""

    notification_id: int
    position: int
    prev_hash: str
    hash: str


class EventRow(NamedTuple):
    """One row of the events table as stored, without the library's conversions.

    The verifier reads rows this way because a row edited by hand may hold anything (an originator id that is no
    UUID, a NULL, a number where bytes were): it must be reported as a broken link, not crash the verification.
    """

    notification_id: int
    originator_id: Any
    originator_version: Any
    topic: Any
    state: Any


class ChainWriteRefused(PersistenceError):
    """The chain cannot be extended consistently; the events were not written.

    Deliberately not an IntegrityError, which the engine reads as a version conflict and retries.
    """


def _extend_chain(
    head: ChainLink | None, notification_ids: Sequence[int] | None, stored_events: Sequence[StoredEvent]
) -> list[ChainLink]:
    if notification_ids is None or len(notification_ids) != len(stored_events):
        msg = "the events table did not return one notification id per event; the chain cannot be extended"
        raise ChainWriteRefused(msg)
    prev_hash = GENESIS_HASH if head is None else head.hash
    position = 0 if head is None else head.position
    if head is not None and notification_ids and notification_ids[0] <= head.notification_id:
        # Only happens when the events table lost its newest rows (SQLite reuses max(rowid)+1) or its sequence
        # was reset: the store has been tampered with, and writing on would entangle new events with it.
        msg = (
            f"new event #{notification_ids[0]} is not after the chain head (event #{head.notification_id}): "
            "events were deleted or renumbered; run verify_chain before writing again"
        )
        raise ChainWriteRefused(msg)
    links: list[ChainLink] = []
    for notification_id, event in zip(notification_ids, stored_events, strict=True):
        position += 1
        digest = link_hash(
            prev_hash,
            notification_id,
            event.originator_id,
            event.originator_version,
            event.topic,
            event.state,
        )
        links.append(ChainLink(notification_id, position, prev_hash, digest))
        prev_hash = digest
    return links


class HashChainedRecorder(ABC):
    """What the verifier needs from a recorder that keeps a chain table."""

    events_table_name: str

    @property
    def chain_table_name(self) -> str:
        return self.events_table_name + CHAIN_TABLE_SUFFIX

    @abstractmethod
    def select_chain_links(self, after: int | None, stop: int, limit: int) -> list[ChainLink]:
        """Chain records with after < notification_id <= stop, in notification order."""

    @abstractmethod
    def select_event_rows(self, after: int | None, stop: int, limit: int) -> list[EventRow]:
        """Events with after < notification id <= stop, in notification order, as stored."""

    @abstractmethod
    def select_chain_head(self) -> ChainLink | None:
        """The chain record of the newest event, or None for an empty chain."""

    @abstractmethod
    def select_max_ids(self) -> tuple[int | None, int | None]:
        """(greatest notification id among events, among chain records), read in one transaction."""


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
        return statements

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        # The head is read after the events insert: by then this transaction holds SQLite's single write lock,
        # so no other writer can extend the chain between this read and our insert.
        c.execute(self._select_head_statement)
        row = c.fetchone()
        head = None if row is None else ChainLink(*row)
        c.executemany(self._insert_links_statement, _extend_chain(head, notification_ids, stored_events))
        return notification_ids

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

    def select_max_ids(self) -> tuple[int | None, int | None]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_max_ids_statement)
            row = c.fetchone()
            return row[0], row[1]


class _ChainWriteAborted(BaseException):
    """Carries a failure of the chain step out of the library's insert transaction.

    PostgresApplicationRecorder.insert_events catches every Exception raised while fetching notification ids,
    lets its transaction block exit normally (which COMMITs) and re-raises afterwards. A failed statement has
    already doomed the transaction, but a Python error in the chain step would commit events without chain
    records. A BaseException passes its `except Exception`, so the transaction block sees it and rolls back.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class _PendingHead:
    """The cursor on which the chain head was queried, handed from one step of the library's insert to the next."""

    cursor: Cursor[DictRow] | None = None


_PSYCOPG_ERRORS: tuple[tuple[type[psycopg.Error], type[PersistenceError]], ...] = (
    (psycopg.IntegrityError, IntegrityError),
    (psycopg.InterfaceError, InterfaceError),
    (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError),
    (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.DatabaseError, DatabaseError),
    (psycopg.Error, PersistenceError),
)


def _as_persistence_error(error: Exception) -> Exception:
    # Same translation as PostgresDatastore.get_connection, which the escaping BaseException bypassed.
    if isinstance(error, psycopg.Error):
        for psycopg_class, library_class in _PSYCOPG_ERRORS:
            if isinstance(error, psycopg_class):
                return library_class(str(error))
    return error


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder, HashChainedRecorder):
    """The library's PostgreSQL recorder, plus one chain record per event in the same transaction."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        if datastore.enable_db_functions:
            # The stored-function path inserts events without passing through Python: no chain records.
            msg = "the hash-chained recorder cannot be used with POSTGRES_ENABLE_DB_FUNCTIONS"
            raise ProgrammingError(msg)
        self.check_identifier_length(self.chain_table_name)
        schema, chain = Identifier(datastore.schema), Identifier(self.chain_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
                "notification_id bigint PRIMARY KEY, "
                "position bigint NOT NULL, "
                "prev_hash text NOT NULL, "
                "hash text NOT NULL)"
            ).format(schema=schema, chain=chain)
        )
        self._select_head_statement = SQL(
            "SELECT notification_id, position, prev_hash, hash FROM {schema}.{chain} "
            "ORDER BY notification_id DESC LIMIT 1"
        ).format(schema=schema, chain=chain)
        # One statement per batch whatever its size, like the library's own insert of the events.
        self._insert_links_statement = SQL(
            "INSERT INTO {schema}.{chain} (notification_id, position, prev_hash, hash) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[])"
        ).format(schema=schema, chain=chain)
        self._select_links_statement = SQL(
            "SELECT notification_id, position, prev_hash, hash FROM {schema}.{chain} "
            "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        ).format(schema=schema, chain=chain)
        self._select_max_ids_statement = SQL(
            "SELECT (SELECT MAX(notification_id) FROM {schema}.{events}) AS events, "
            "(SELECT MAX(notification_id) FROM {schema}.{chain}) AS chain"
        ).format(schema=schema, events=Identifier(self.events_table_name), chain=chain)
        self._select_event_rows_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{events} "
            "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        ).format(schema=schema, events=Identifier(self.events_table_name))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        try:
            notification_ids: Sequence[int] | None = super().insert_events(
                stored_events, _chain_head=_PendingHead(), **kwargs
            )
        except _ChainWriteAborted as aborted:
            raise _as_persistence_error(aborted.error) from aborted.error
        return notification_ids

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._insert_stored_events(curs, stored_events, **kwargs)
        # Queued in the pipeline right behind the events insert, so that the library's pipeline.sync() brings the
        # head back in the same round trip: no extra round trip per command. It runs after LOCK TABLE ... IN
        # EXCLUSIVE MODE, held until commit, so no other writer can extend the chain before our insert.
        pending: _PendingHead = kwargs["_chain_head"]
        try:
            pending.cursor = curs.connection.cursor()
            pending.cursor.execute(self._select_head_statement, prepare=True)
        except Exception as error:
            raise _ChainWriteAborted(error) from error

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        pending: _PendingHead = kwargs["_chain_head"]
        try:
            assert pending.cursor is not None
            with pending.cursor as head_cursor:
                row = head_cursor.fetchone()
            head = None if row is None else ChainLink(**row)
            links = _extend_chain(head, notification_ids, stored_events)
            if links:
                # Sent with the COMMIT: a failure here fails the commit, which then rolls the events back too.
                curs.execute(self._insert_links_statement, [list(column) for column in zip(*links, strict=True)])
        except Exception as error:
            raise _ChainWriteAborted(error) from error
        return notification_ids

    def select_chain_links(self, after: int | None, stop: int, limit: int) -> list[ChainLink]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_links_statement, (-1 if after is None else after, stop, limit))
            return [ChainLink(**row) for row in curs.fetchall()]

    def select_event_rows(self, after: int | None, stop: int, limit: int) -> list[EventRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_event_rows_statement, (-1 if after is None else after, stop, limit))
            return [EventRow(**row) for row in curs.fetchall()]

    def select_chain_head(self) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_head_statement)
            row = curs.fetchone()
            return None if row is None else ChainLink(**row)

    def select_max_ids(self) -> tuple[int | None, int | None]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_max_ids_statement)
            row = curs.fetchone()
            assert row is not None
            return row["events"], row["chain"]


# ---------------------------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    """The first link that does not hold.

    kind is one of:
      "altered"         an event no longer hashes to its chain record (its row, or the record, was changed),
      "unchained"       an event has no chain record (inserted behind the application's back, or record deleted),
      "missing"         a chain record's event is gone (deleted, or renumbered),
      "broken-link"     a chain record does not follow its predecessor (records edited, deleted or inserted),
      "truncated"       the chain is shorter than the externally kept head says,
      "anchor-mismatch" the chain's link at the externally kept position has another hash (chain rewritten).
    """

    position: int
    notification_id: int | None
    kind: str
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """events_checked counts the links verified intact; head is the hash of the last of them (None if none)."""

    events_checked: int
    head: str | None
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _chained(recorder: ApplicationRecorder) -> HashChainedRecorder:
    if not isinstance(recorder, HashChainedRecorder):
        msg = (
            f"{type(recorder).__qualname__} keeps no hash chain: construct the application with "
            "workflow.store.application_env(...) so that its recorder is a chained one"
        )
        raise TypeError(msg)
    return recorder


def _iter_events(recorder: HashChainedRecorder, stop: int, page_size: int) -> Iterator[EventRow]:
    after: int | None = None
    while True:
        page = recorder.select_event_rows(after, stop, page_size)
        yield from page
        if len(page) < page_size:
            return
        after = page[-1].notification_id


def _iter_links(recorder: HashChainedRecorder, stop: int, page_size: int) -> Iterator[ChainLink]:
    after: int | None = None
    while True:
        page = recorder.select_chain_links(after, stop, page_size)
        yield from page
        if len(page) < page_size:
            return
        after = page[-1].notification_id


def _describe(event: EventRow) -> str:
    return (
        f"event #{event.notification_id} (originator {event.originator_id}, version {event.originator_version}, "
        f"{event.topic})"
    )


def verify_chain(
    recorder: ApplicationRecorder,
    *,
    anchor: tuple[int, str] | None = None,
    page_size: int = VERIFY_PAGE_SIZE,
) -> ChainReport:
    """Recompute the chain from the genesis over the stored events; report the first link that does not hold.

    anchor is a (count, head) pair from chain_head, kept outside the database: without it, deleting the newest
    events together with their chain records, or rewriting the whole chain, cannot be told from a shorter history.
    """
    chained = _chained(recorder)
    # Bound the walk by what was committed when it began: writers append concurrently, and reading events and
    # chain records in separate pages must not see one table's tail without the other's. Both tables are written
    # in one transaction, in notification order (PostgreSQL's table lock, SQLite's single writer).
    max_event_id, max_link_id = chained.select_max_ids()
    stop = max(max_event_id or 0, max_link_id or 0)
    events = _iter_events(chained, stop, page_size)
    links = _iter_links(chained, stop, page_size)
    events_table = chained.events_table_name

    position = 0
    head: str | None = None
    expected_prev = GENESIS_HASH

    def report(kind: str, notification_id: int | None, detail: str) -> ChainReport:
        return ChainReport(position - 1, head, ChainBreak(position, notification_id, kind, detail))

    event = next(events, None)
    link = next(links, None)
    while event is not None or link is not None:
        position += 1
        if link is None or (event is not None and event.notification_id < link.notification_id):
            assert event is not None
            return report(
                "unchained",
                event.notification_id,
                f"{_describe(event)} has no chain record: it was inserted directly into {events_table}, "
                "or its chain record was deleted",
            )
        if event is None or event.notification_id > link.notification_id:
            return report(
                "missing",
                link.notification_id,
                f"the chain records event #{link.notification_id} at position {link.position}, but "
                f"{events_table} has no such event: it was deleted, or its notification id was changed",
            )
        if link.prev_hash != expected_prev or link.position != position:
            return report(
                "broken-link",
                event.notification_id,
                f"the chain record of {_describe(event)} does not follow its predecessor (it links to "
                f"{link.prev_hash[:12]}… at position {link.position}, the preceding link is "
                f"{expected_prev[:12]}… at position {position - 1}): chain records were edited, deleted or inserted",
            )
        digest = link_hash(expected_prev, *event)
        if digest != link.hash:
            return report(
                "altered",
                event.notification_id,
                f"{_describe(event)} no longer matches the hash recorded when it was written: its row "
                "(state, topic, originator, version or notification id) or its chain record was changed",
            )
        if anchor is not None and position == anchor[0] and link.hash != anchor[1]:
            return report(
                "anchor-mismatch",
                event.notification_id,
                f"link {position} hashes to {link.hash[:12]}…, but the head recorded outside the database for "
                f"that position is {anchor[1][:12]}…: the chain was rewritten from this point or earlier",
            )
        expected_prev = head = link.hash
        event = next(events, None)
        link = next(links, None)

    if anchor is not None and position < anchor[0]:
        position += 1
        return report(
            "truncated",
            None,
            f"the chain ends at link {position - 1}, but the head recorded outside the database is at link "
            f"{anchor[0]}: the newest events were deleted together with their chain records",
        )
    return ChainReport(position, head, None)


def chain_head(recorder: ApplicationRecorder) -> tuple[int, str | None]:
    """(number of links, hash of the newest link), as stored; (0, None) for an empty store.

    Record this outside the database (a signed log, a ticket, a printed report) after a successful verify_chain,
    and pass it back as verify_chain(anchor=...). Each link vouches only for the links before it, so deleting the
    newest events together with their chain records leaves a chain that verifies: only a head kept elsewhere
    shows it. The same holds for someone who rewrites the whole chain with recomputed hashes.
    """
    head = _chained(recorder).select_chain_head()
    return (0, None) if head is None else (head.position, head.hash)


# ---------------------------------------------------------------------------------------------------------------
# Backend choice
# ---------------------------------------------------------------------------------------------------------------

_POSTGRES_SCHEMES = frozenset({"postgresql", "postgresql+psycopg"})


def is_postgres_url(url: str | None) -> bool:
    return url is not None and urlsplit(url.strip()).scheme.lower() in _POSTGRES_SCHEMES


def application_env(database_url: str | None, sqlite_path: Path) -> dict[str, str]:
    """The environment for an eventsourcing Application(env=...) that stores its events hash-chained.

    database_url None, blank, or sqlite:... selects the embedded SQLite store at sqlite_path: the URL's own path is
    not used, because on SQLite the read models live in a different file from the events (so that the event
    writer and the projection writer never wait on each other) and the settings name both files.
    """
    if database_url is None or not database_url.strip() or database_url.strip().startswith("sqlite"):
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(sqlite_path),
            "APPLICATION_RECORDER_TOPIC": get_topic(ChainedSQLiteApplicationRecorder),
            "ORIGINATOR_ID_TYPE": "uuid",
        }
    if is_postgres_url(database_url):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            **_postgres_settings(database_url.strip()),
            "APPLICATION_RECORDER_TOPIC": get_topic(ChainedPostgresApplicationRecorder),
            "ORIGINATOR_ID_TYPE": "uuid",
            # The Application merges os.environ under this dict: pin the setting the chain cannot work with.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
        }
    msg = (
        f"unsupported DATABASE_URL {_redact(database_url)!r}: expected sqlite:///... (or no URL) for the embedded "
        "store, or postgresql://user:password@host:port/dbname (postgresql+psycopg:// also accepted)"
    )
    raise ValueError(msg)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _postgres_settings(url: str) -> dict[str, str]:
    parts = urlsplit(url)

    def refuse(problem: str) -> ValueError:
        return ValueError(
            f"invalid PostgreSQL DATABASE_URL {_redact(url)!r}: {problem} "
            "(expected postgresql://user:password@host:port/dbname)"
        )

    try:
        port = parts.port or 5432
    except ValueError:
        raise refuse("the port is not a number between 0 and 65535") from None
    dbname = unquote(parts.path.removeprefix("/"))
    if parts.query or parts.fragment:
        # The library's recorder takes no libpq options: refuse rather than silently drop e.g. sslmode.
        raise refuse("query parameters are not supported")
    if not parts.hostname:
        raise refuse("it names no host")
    if not parts.username:
        raise refuse("it names no user")
    if not dbname or "/" in dbname:
        raise refuse("it names no database")
    return {
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }


# ---------------------------------------------------------------------------------------------------------------
# Transcodings
# ---------------------------------------------------------------------------------------------------------------
#
# The name of a transcoding is written into every stored event that holds such a value: renaming a class needs
# its old name registered too (pass name= to register_enum / register_dataclass), or old events stop decoding.


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EnumAsValue(Transcoding):
    """Any Enum class, stored by its member's value.

    By value rather than by member name, so that a member may be renamed in code while the stored word stays.
    """

    def __init__(self, enum_class: type[Enum], name: str | None = None) -> None:
        self.type = enum_class
        self.name = name or enum_class.__name__
        self._enum_class = enum_class

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self._enum_class(data)


class DataclassAsDict(Transcoding):
    """A dataclass, stored as a dict of its fields.

    Field values are returned as they are, not converted: json.JSONEncoder runs `default` again on every value
    it cannot encode, so a Decimal, an Enum or another dataclass inside is encoded by its own transcoding; and
    the decoder's object_hook decodes inner objects before the outer one, so cls(**data) receives them decoded.
    JSON has no tuple: a tuple field comes back as a list (and an equality test then fails); dict keys come back
    as str. Give value objects list/dict fields of JSON-native keys, or convert in __post_init__.
    """

    def __init__(self, dataclass_type: type[Any], name: str | None = None) -> None:
        if not dataclasses.is_dataclass(dataclass_type):
            msg = f"{dataclass_type!r} is not a dataclass"
            raise TypeError(msg)
        if any(not field.init for field in dataclasses.fields(dataclass_type)):
            msg = f"{dataclass_type.__qualname__} has fields outside __init__: cls(**data) could not rebuild it"
            raise TypeError(msg)
        self.type = dataclass_type
        self.name = name or dataclass_type.__name__
        self._class = dataclass_type
        self._field_names = tuple(field.name for field in dataclasses.fields(dataclass_type))

    def encode(self, obj: Any) -> dict[str, Any]:
        # Not dataclasses.asdict: it would turn nested dataclasses into plain dicts, which decode as dicts.
        return {name: getattr(obj, name) for name in self._field_names}

    def decode(self, data: dict[str, Any]) -> Any:
        return self._class(**data)


def _enums_of(module: ModuleType) -> tuple[type[Enum], ...]:
    return tuple(
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Enum) and obj.__module__ == module.__name__
    )


# Every Enum defined in domain/values.py, found rather than listed, so a new one cannot be forgotten.
TRANSCODED_ENUMS: tuple[type[Enum], ...] = _enums_of(values)
TRANSCODED_DATACLASSES: tuple[type[Any], ...] = (Actor, Answer, Evidence)


def _register(transcoder: JSONTranscoder, transcoding: Transcoding) -> None:
    taken = transcoder.names.get(transcoding.name)
    if taken is not None and taken.type is not transcoding.type:
        msg = (
            f"transcoding name {transcoding.name!r} is already used for {taken.type.__qualname__}; "
            f"register {transcoding.type.__qualname__} under another name"
        )
        raise ValueError(msg)
    transcoder.register(transcoding)


def register_enum(transcoder: JSONTranscoder, enum_class: type[Enum], *, name: str | None = None) -> None:
    _register(transcoder, EnumAsValue(enum_class, name))


def register_dataclass(transcoder: JSONTranscoder, dataclass_type: type[Any], *, name: str | None = None) -> None:
    _register(transcoder, DataclassAsDict(dataclass_type, name))


def register_transcodings(transcoder: JSONTranscoder) -> None:
    """Everything the domain's events carry: call from Application.register_transcodings."""
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        _register(transcoder, transcoding)
    for enum_class in TRANSCODED_ENUMS:
        register_enum(transcoder, enum_class)
    for dataclass_type in TRANSCODED_DATACLASSES:
        register_dataclass(transcoder, dataclass_type)
