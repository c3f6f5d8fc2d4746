"""The library's PostgreSQL recorder, hash-chained."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from workflow.store.chain import ChainLink, EventRow, HashChainedRecorder, _extend_chain


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
        pending: _PendingHead = kwargs["_chain_head"]
        try:
            # Inside the try: the library catches a failure to fetch the new ids, still COMMITs the events, and
            # re-raises; they would be stored without chain records, a permanent false alarm for verify.
            notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
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


