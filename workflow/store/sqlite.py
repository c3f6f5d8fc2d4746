"""The library's SQLite recorder, hash-chained."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    StoredEvent,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from workflow.store.chain import ChainLink, EventRow, HashChainedRecorder, _extend_chain


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


