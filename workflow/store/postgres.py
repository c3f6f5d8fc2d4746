"""The library's PostgreSQL recorder, hash-chained."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    AggregateRecorder,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from workflow.store.chain import (
    ChainLink,
    EventRow,
    HashChainedRecorder,
    _extend_chain,
    _sign_new_head,
    _signed_head_columns,
)
from workflow.store.factories import SigningFactoryMixin
from workflow.store.postgres_setup import DossierflowPostgresFactory
from workflow.store.signing import SignedHead
from workflow.store.snapshots import SealedSnapshots, SnapshotSeal


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
    signed: SignedHead | None = None


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


# Which server and database a connection is on, told apart from any other the same host may run (a server of another
# port, or restarted from another data directory): two connections whose rows are equal read the same tables.
DATABASE_IDENTITY = (
    "SELECT current_database(), inet_server_addr()::text, inet_server_port(), pg_postmaster_start_time()::text"
)


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
        # The log as the read models read it: a page of events with each one's chain hash, in one statement (the
        # hashes read apart cost a round trip more on every live pass of the read models).
        self._select_hashed_notifications_statement = SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, c.hash "
            # The bound on both sides: a generic plan (the statement is prepared) merge-joins the two primary keys,
            # and without its own bound the chain's side was scanned from the first link on every page.
            "FROM {schema}.{events} e LEFT JOIN {schema}.{chain} c "
            "ON c.notification_id = e.notification_id AND c.notification_id > %(after)s "
            "WHERE e.notification_id > %(after)s ORDER BY e.notification_id LIMIT %(limit)s"
        ).format(schema=schema, events=Identifier(self.events_table_name), chain=chain)
        # The events as four arrays in binary (see _insert_stored_events).
        self._insert_binary_statement = SQL(
            "INSERT INTO {schema}.{events} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
        ).format(
            schema=schema, events=Identifier(self.events_table_name),
            id_type=Identifier(datastore.originator_id_type),
        )
        self._select_tail_statement = SQL(
            "SELECT notification_id, originator_id, originator_version FROM {schema}.{events} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(schema=schema, events=Identifier(self.events_table_name))
        self.check_identifier_length(self.heads_table_name)
        heads = Identifier(self.heads_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{heads} ("
                "position bigint PRIMARY KEY, "
                "notification_id bigint NOT NULL, "
                "hash text NOT NULL, "
                "signed_at text NOT NULL, "
                "key_id text NOT NULL, "
                "signature text NOT NULL)"
            ).format(schema=schema, heads=heads)
        )
        # A commit's links and its signed head in one statement: one statement less for psycopg to send per command.
        self._insert_links_and_head_statement = SQL(
            "WITH links AS ("
            "INSERT INTO {schema}.{chain} (notification_id, position, prev_hash, hash) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[])) "
            "INSERT INTO {schema}.{heads} (position, notification_id, hash, signed_at, key_id, signature) "
            "VALUES (%s, %s, %s, %s, %s, %s)"
        ).format(schema=schema, chain=chain, heads=heads)
        head_columns = SQL("position, notification_id, hash, signed_at, key_id, signature")
        self._select_newest_head_statement = SQL(
            "SELECT {columns} FROM {schema}.{heads} WHERE notification_id <= %s ORDER BY position DESC LIMIT 1"
        ).format(columns=head_columns, schema=schema, heads=heads)
        self._select_heads_statement = SQL(
            "SELECT {columns} FROM {schema}.{heads} WHERE position > %s ORDER BY position LIMIT %s"
        ).format(columns=head_columns, schema=schema, heads=heads)
        self._select_link_statement = SQL(
            "SELECT notification_id, position, prev_hash, hash FROM {schema}.{chain} WHERE notification_id = %s"
        ).format(schema=schema, chain=chain)
        # One pass over both tables (a merge join on their primary keys), the uuid as the canonical text the chain
        # hashes, so that no row needs converting in Python.
        self._select_verify_rows_statement = SQL(
            "SELECT e.notification_id, e.originator_id::text, e.originator_version, e.topic, e.state, "
            "c.position, c.prev_hash, c.hash FROM {schema}.{events} e "
            "LEFT JOIN {schema}.{chain} c ON c.notification_id = e.notification_id "
            "WHERE e.notification_id <= %s ORDER BY e.notification_id"
        ).format(schema=schema, events=Identifier(self.events_table_name), chain=chain)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        pending = _PendingHead()
        try:
            notification_ids: Sequence[int] | None = super().insert_events(
                stored_events, _chain_head=pending, **kwargs
            )
        except _ChainWriteAborted as aborted:
            raise _as_persistence_error(aborted.error) from aborted.error
        self._remember(pending.signed)
        return notification_ids

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # As the library's application recorder (lock the table, notify, insert returning the notification ids),
        # but the events go as four arrays in binary rather than one array of its composite type in text: the text
        # form escapes each state three times over (bytea hex, then the composite's and the array's quoting, by
        # regular expression), a fifth of an approval's instructions, and the same rows are stored.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._insert_binary_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            prepare=True,
        )
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
            signed = _sign_new_head(self.signer, head, links)
            columns = [list(column) for column in zip(*links, strict=True)]
            # Sent with the COMMIT: a failure here fails the commit, which then rolls the events back too.
            if signed is not None:
                curs.execute(
                    self._insert_links_and_head_statement, [*columns, *_signed_head_columns(signed)], prepare=True
                )
                pending.signed = signed
            elif links:
                curs.execute(self._insert_links_statement, columns)
        except Exception as error:
            raise _ChainWriteAborted(error) from error
        return notification_ids

    def select_chain_links(self, after: int | None, stop: int, limit: int) -> list[ChainLink]:
        # Autocommit, as the library's select_notifications: one statement sees one snapshot without a transaction,
        # and BEGIN and ROLLBACK around it were two round trips more on each live pass of the read models.
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._select_links_statement, (-1 if after is None else after, stop, limit), prepare=True)
            return [ChainLink(*row) for row in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_hashed_notifications(self, after: int, limit: int) -> list[tuple[Notification, str | None]]:
        """Up to `limit` notifications after `after`, each with its chain hash (None for an event without a chain
        record), from one snapshot: autocommit, one round trip, as the library's select_notifications."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._select_hashed_notifications_statement, {"after": after, "limit": limit}, prepare=True)
            return [
                (Notification(id=nid, originator_id=oid, originator_version=version, topic=topic, state=bytes(state)),
                 link_hash)
                for nid, oid, version, topic, state, link_hash in curs.fetchall()
            ]

    def select_event_rows(self, after: int | None, stop: int, limit: int) -> list[EventRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_event_rows_statement, (-1 if after is None else after, stop, limit))
            return [EventRow(**row) for row in curs.fetchall()]

    def iter_verify_pages(self, stop: int, fetch_size: int) -> Iterator[list[tuple[Any, ...]]]:
        # A server-side cursor in one transaction: one snapshot, streamed in large binary fetches.
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(force_rollback=True),
            conn.cursor(name="dossierflow_verify", row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(self._select_verify_rows_statement, (stop,))
            while rows := curs.fetchmany(fetch_size):
                yield rows

    def select_newest_signed_head(self, stop: int) -> SignedHead | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_newest_head_statement, (stop,))
            row = curs.fetchone()
            return None if row is None else SignedHead(**row)

    def select_signed_heads(self, after_position: int, limit: int) -> list[SignedHead]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_heads_statement, (after_position, limit))
            return [SignedHead(**row) for row in curs.fetchall()]

    def select_link(self, notification_id: int) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_link_statement, (notification_id,))
            row = curs.fetchone()
            return None if row is None else ChainLink(**row)

    def select_chain_head(self) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_head_statement)
            row = curs.fetchone()
            return None if row is None else ChainLink(**row)

    def head_statement(self) -> tuple[str, tuple[Any, ...]]:
        """The text of the statement that reads the log's head (one row, one column: the newest notification id,
        NULL for an empty log), and which server and database it reads (DATABASE_IDENTITY's row): for a reader
        on the same database that reads the head in the same round trip as other rows (the web's visit)."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(DATABASE_IDENTITY)
            identity = curs.fetchone()
            assert identity is not None
            return self.max_notification_id_statement.as_string(conn), tuple(identity)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_tail(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        # Autocommit, as the library's select_notifications: one round trip, no transaction around it.
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._select_tail_statement, (after, limit), prepare=True)
            return cast(list[tuple[int, UUID, int]], curs.fetchall())

    def select_max_ids(self) -> tuple[int | None, int | None]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_max_ids_statement)
            row = curs.fetchone()
            assert row is not None
            return row["events"], row["chain"]




class SealedPostgresSnapshotRecorder(SealedSnapshots, PostgresAggregateRecorder):
    """The library's snapshot recorder, plus a seal per snapshot, written in the same transaction."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_snapshots") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.check_identifier_length(self.seals_table_name)
        self._schema, self._seals = Identifier(datastore.schema), Identifier(self.seals_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{seals} ("
                "originator_id {originator_id_type} NOT NULL, "
                "originator_version bigint NOT NULL, "
                "chain_hash text NOT NULL, "
                "key_id text NOT NULL, "
                "signature text NOT NULL, "
                "PRIMARY KEY (originator_id, originator_version))"
            ).format(
                schema=self._schema, seals=self._seals,
                originator_id_type=Identifier(datastore.originator_id_type),
            )
        )
        self._insert_seal_statement = SQL(
            "INSERT INTO {schema}.{seals} (originator_id, originator_version, chain_hash, key_id, signature) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (originator_id, originator_version) DO UPDATE SET "
            "chain_hash = EXCLUDED.chain_hash, key_id = EXCLUDED.key_id, signature = EXCLUDED.signature"
        ).format(schema=self._schema, seals=self._seals)

    def _configure(self, chain: HashChainedRecorder) -> None:
        schema, seals = self._schema, self._seals
        events, chain_table = Identifier(chain.events_table_name), Identifier(chain.chain_table_name)
        current = SQL(
            "(SELECT c.hash FROM {schema}.{events} e JOIN {schema}.{chain} c ON c.notification_id = e.notification_id "
            "WHERE e.originator_id = {alias}.originator_id AND e.originator_version = {alias}.originator_version)"
        )
        self._select_chain_hash_statement = SQL(
            "SELECT c.hash FROM {schema}.{events} e JOIN {schema}.{chain} c ON c.notification_id = e.notification_id "
            "WHERE e.originator_id = %s AND e.originator_version = %s"
        ).format(schema=schema, events=events, chain=chain_table)
        self._select_seal_statement = SQL(
            "SELECT z.chain_hash, z.key_id, z.signature, {current} AS current FROM {schema}.{seals} z "
            "WHERE z.originator_id = %s AND z.originator_version = %s"
        ).format(
            current=current.format(schema=schema, events=events, chain=chain_table, alias=Identifier("z")),
            schema=schema, seals=seals,
        )
        self._select_all_statement = SQL(
            "SELECT s.originator_id, s.originator_version, s.topic, s.state, z.chain_hash, z.key_id, z.signature, "
            "{current} AS current FROM {schema}.{snapshots} s LEFT JOIN {schema}.{seals} z "
            "ON z.originator_id = s.originator_id AND z.originator_version = s.originator_version "
            "ORDER BY s.originator_id, s.originator_version"
        ).format(
            current=current.format(schema=schema, events=events, chain=chain_table, alias=Identifier("s")),
            schema=schema, seals=seals, snapshots=Identifier(self.events_table_name),
        )
        self._select_below_statement = SQL(
            "SELECT s.originator_id, s.originator_version, s.topic, s.state, z.chain_hash, z.key_id, z.signature, "
            "{current} AS current FROM {schema}.{snapshots} s JOIN {schema}.{seals} z "
            "ON z.originator_id = s.originator_id AND z.originator_version = s.originator_version "
            "WHERE s.originator_id = %s AND s.originator_version < %s ORDER BY s.originator_version DESC LIMIT 1"
        ).format(
            current=current.format(schema=schema, events=events, chain=chain_table, alias=Identifier("s")),
            schema=schema, seals=seals, snapshots=Identifier(self.events_table_name),
        )

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return None
        written: dict[str, tuple[int, str]] = {}
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_stored_events(curs, stored_events, **kwargs)
            signer = self.signer
            if signer is None:
                return None

            def select_below(snapshot: StoredEvent) -> tuple[StoredEvent, SnapshotSeal] | None:
                curs.execute(self._select_below_statement, (snapshot.originator_id, snapshot.originator_version))
                row = curs.fetchone()
                if row is None:
                    return None
                below = StoredEvent(row["originator_id"], row["originator_version"], row["topic"], row["state"])
                return below, SnapshotSeal(row["chain_hash"], row["key_id"], row["signature"], row["current"])

            for snapshot in stored_events:
                curs.execute(self._select_chain_hash_statement, (snapshot.originator_id, snapshot.originator_version))
                row = curs.fetchone()
                if row is None:
                    continue  # No chained event stands behind it: left unsealed, so never trusted.
                key_id, signature = self._seal_columns(signer, snapshot, row["hash"], written, select_below)
                curs.execute(
                    self._insert_seal_statement,
                    (snapshot.originator_id, snapshot.originator_version, row["hash"], key_id, signature),
                )
        self.remember_links(written)
        return None

    def _select_seal(self, snapshot: StoredEvent) -> SnapshotSeal | None:
        # On every snapshot load: one statement needs no transaction around it (BEGIN and ROLLBACK were two round
        # trips more), and prepared, as the library's own SELECT of the snapshot, it is planned once per connection
        # (its plan, with the chain hash's subquery, cost more than running it).
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(
                self._select_seal_statement, (snapshot.originator_id, snapshot.originator_version), prepare=True
            )
            row = curs.fetchone()
            return None if row is None else SnapshotSeal(*row)

    def iter_sealed(self) -> Iterator[tuple[StoredEvent, SnapshotSeal | None]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_all_statement)
            for row in curs.fetchall():
                snapshot = StoredEvent(row["originator_id"], row["originator_version"], row["topic"], row["state"])
                seal = None
                if row["chain_hash"] is not None:
                    seal = SnapshotSeal(row["chain_hash"], row["key_id"], row["signature"], row["current"])
                yield snapshot, seal


class SignedPostgresFactory(SigningFactoryMixin, DossierflowPostgresFactory):
    """Our PostgreSQL factory (causes kept, lock waits bounded, tables created once under a lock), giving chained,
    signing recorders and sealed snapshots."""

    application_recorder_class = ChainedPostgresApplicationRecorder

    def _sealed_snapshot_recorder(self, purpose: str, chained: HashChainedRecorder) -> AggregateRecorder:
        prefix = self.env.name.lower() or "stored"
        recorder = SealedPostgresSnapshotRecorder(self.datastore, events_table_name=f"{prefix}_{purpose}")
        recorder.attach(chained)
        self._prepare(recorder)
        return recorder

    def close(self) -> None:
        # The head file is written behind the commits: its last head must reach it before the store is let go.
        chained = getattr(self, "_chained", None)
        try:
            if chained is not None and chained.signer is not None:
                chained.signer.close()
        finally:
            super().close()
