"""What every read model is made of: the events it reads, the tables it owns, and a page of buffered changes.

A projection never writes one row per event. The runner hands it a :class:`Page` (one transaction, hundreds of
events); the projection reads and changes rows through the page's buffers, and the page writes them all at the end,
in bulk, in the same transaction as the projection's tracking position. So a crash loses a whole page or nothing,
and a restart resumes exactly after the last page committed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, ClassVar, NamedTuple, cast
from uuid import UUID

from sqlalchemy import Connection, MetaData, Table, and_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.exc import DBAPIError

Row = dict[str, Any]


class LoggedEvent(NamedTuple):
    """One event as the log holds it: its position (notification id), the decoded domain event, and its link in
    the hash chain (None on a store that keeps no chain, such as the in-memory one of the tests)."""

    position: int
    event: Any
    originator_id: UUID
    originator_version: int
    topic: str
    chain_hash: str | None

    @property
    def timestamp(self) -> datetime:
        moment: datetime = self.event.timestamp
        return moment


# The text of the ids read models write, by the id's number: the same persons, units and dossiers come back event
# after event, and str() of a UUID cost a microsecond (half a million of them in a rebuild of 100,000 events). Bounded:
# emptied when full, so that a long-lived process keeps a few megabytes at most.
_UUID_TEXTS: dict[int, str] = {}
_UUID_TEXTS_MOST = 65_536


def uuid_text(value: UUID) -> str:
    """`str(value)` of a UUID, remembered."""
    if type(value) is not UUID:
        return str(value)
    found = _UUID_TEXTS.get(value.int)
    if found is None:
        if len(_UUID_TEXTS) >= _UUID_TEXTS_MOST:
            _UUID_TEXTS.clear()
        found = _UUID_TEXTS[value.int] = str(value)
    return found


class Projection(ABC):
    """One read model: the tables it owns and how each event changes them.

    `handles` names the event classes it reads; the runner still moves its tracking position over every other event,
    so that waiting for a position always ends. `tables` declares its tables with `suffix` appended to each name:
    a rebuild fills a second set of tables beside the live one.
    """

    name: ClassVar[str]
    handles: ClassVar[tuple[type, ...]] = ()
    # What a rebuild of this read model costs, relative to the others: the seconds of its own work (its pages and
    # its indexes) and the seconds of decoding the events it reads, on the bench's log. A rebuild shares the read
    # models out between two processes by them (ReadSide.rebuild): each process decodes its share's events once.
    rebuild_cost: ClassVar[float] = 1.0
    rebuild_reads: ClassVar[float] = 0.0
    # On PostgreSQL the server does the writes, on the same cores, and the costs above do not tell the best split
    # there: the read models marked so are the helper's share (see ReadSide._shares).
    rebuild_apart_on_postgresql: ClassVar[bool] = False

    @abstractmethod
    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        """Declare this read model's tables in `metadata`, each named `<name><suffix>`; keys are the bare names."""

    @abstractmethod
    def apply(self, page: Page, logged: LoggedEvent) -> None:
        """Change the read model for one event, through `page`'s buffers (never commit)."""

    def wants(self, event: object) -> bool:
        return not self.handles or isinstance(event, self.handles)

    def prepare(self, page: Page, events: Sequence[LoggedEvent]) -> None:
        """Before `apply` is called for each of `events` (those it wants, of one page): read ahead, in a few queries,
        the rows they will ask for one by one (`KeyedRows.load`). Nothing by default."""
        return None


class KeyedRows:
    """The rows of one table touched in this page, by primary key: read once, written once at the end.

    What the table held is remembered for every row read, so that the end of the page writes only what changed: an
    insert for a new row, an update of the changed columns only (an index on an unchanged column is left alone), a
    delete for a row gone. A row put without having been read is upserted.
    """

    def __init__(self, page: Page, table: Table) -> None:
        self._page = page
        self.table = table
        self.key_columns = [c.name for c in table.primary_key.columns]
        # A row's key picked by one C call (a rebuild puts millions of rows: a tuple built column by column in
        # Python was a tenth of the projections' own time).
        self.key_of: Callable[[Mapping[str, Any]], tuple[Any, ...]] = _key_getter(self.key_columns)
        self._cache: dict[tuple[Any, ...], Row | None] = {}
        # As the table holds them (None: known to be absent), for the keys read or written.
        self._stored: dict[tuple[Any, ...], Row | None] = {}
        self._dirty: set[tuple[Any, ...]] = set()
        self._fresh = False

    def start_empty(self) -> None:
        """The table was empty when the page began (a rebuild's first page): a missing row needs no query."""
        self._fresh = True

    def get(self, *key: Any) -> Row | None:
        """The row, or None. Change it through `update` or `put`: a row changed in place is not written."""
        found = self._cache.get(key, _UNKNOWN)
        if found is not _UNKNOWN:
            return cast(Row | None, found)
        if self._fresh:
            return None
        conn = self._page.conn
        raw = _read_one_raw(conn, self.table)
        if raw is not None:
            statement, key_processors, names, processors = raw
            found = _driver(conn, statement, _converted(key_processors, key), fetch=True)
            row = None if found is None else dict(zip(names, _converted(processors, found), strict=True))
        else:
            loaded = (
                conn.execute(_select_one(self.table), {f"k_{c}": v for c, v in zip(self.key_columns, key, strict=True)})
                .mappings()
                .first()
            )
            row = dict(loaded) if loaded is not None else None
        self._cache[key] = row
        self._stored[key] = None if row is None else dict(row)
        return row

    def load(self, keys: Iterable[tuple[Any, ...]]) -> None:
        """Read many rows in one query, ahead of the events that will ask for them one by one."""
        wanted = [k for k in set(keys) if k not in self._cache]
        if not wanted or self._fresh:
            return
        if len(wanted) == 1:
            # One row (a live pass reads most tables' rows one at a time): the statement of `get`, compiled once,
            # where the list of `_select_many` is expanded and its SQL rebuilt at every execution.
            self.get(*wanted[0])
            return
        statement = _select_many(self.table)
        single = len(self.key_columns) == 1
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for k in chunk:
                self._cache[k] = None
                self._stored[k] = None
            keys = [k[0] for k in chunk] if single else chunk
            for loaded in self._page.conn.execute(statement, {"keys": keys}).mappings():
                row = dict(loaded)
                key = self.key_of(row)
                self._cache[key] = row
                self._stored[key] = dict(row)

    def load_by_first(self, values: Iterable[Any]) -> None:
        """Read every row whose key begins with one of `values`, for a table keyed by several columns whose rows a
        page will change without knowing their keys beforehand (a dossier's scope rows, one per unit above it: a
        query for them all instead of one per level of the hierarchy). A key not found stays unknown, to be read by
        `get` if asked."""
        wanted = list(set(values))
        if not wanted or self._fresh:
            return
        conn = self._page.conn
        first = self.key_columns[0]
        found: list[Row] = []
        raw = _read_by_first_raw(conn, self.table) if len(wanted) == 1 else None
        if raw is not None:
            # One value (a live pass): SQLite's driver, as `get` reads one row.
            statement, key_processors, names, processors = raw
            with _driver_cursor(conn, statement, None) as cursor:
                cursor.execute(statement, _converted(key_processors, wanted))
                found = [dict(zip(names, _converted(processors, r), strict=True)) for r in cursor]
        elif len(wanted) == 1:
            found = [dict(r) for r in conn.execute(_select_by_first(self.table), {f"k_{first}": wanted[0]}).mappings()]
        else:
            column = self.table.c[first]
            for start in range(0, len(wanted), 500):
                chunk = select(self.table).where(column.in_(wanted[start : start + 500]))
                found.extend(dict(r) for r in conn.execute(chunk).mappings())
        for row in found:
            key = self.key_of(row)
            if key not in self._cache:
                self._cache[key] = row
                self._stored[key] = dict(row)

    def forget(self) -> None:
        """Read every row again from the table (after a set-wise statement changed it): only once flushed."""
        if self._dirty:
            raise RuntimeError(f"{self.table.name}: rows changed in this page are not written yet")
        self._cache.clear()
        self._stored.clear()

    def put(self, row: Row) -> None:
        key = self.key_of(row)
        self._cache[key] = row
        self._dirty.add(key)

    def update(self, *key: Any, **changes: Any) -> Row:
        row = self.get(*key)
        if row is None:
            raise LookupError(f"{self.table.name} has no row {key}")
        row.update(changes)
        self._dirty.add(key)
        return row

    def delete(self, *key: Any) -> None:
        self._cache[key] = None
        self._dirty.add(key)

    def flush(self, *, final: bool = False) -> None:
        """Write the rows changed; `final`: the page ends here, so what the table now holds need not be kept."""
        if not self._dirty:
            return
        keys = list(self._dirty)
        self._dirty.clear()
        inserts: list[Row] = []
        upserts: dict[tuple[str, ...], list[Row]] = {}
        updates: dict[tuple[str, ...], list[Row]] = {}
        deletes: list[tuple[Any, ...]] = []
        unknown = object()
        key_set = frozenset(self.key_columns)
        for key in keys:
            row = self._cache.get(key)
            stored = self._stored.get(key, unknown)
            if row is None:
                if stored is not None:
                    # Absent as far as this page knows, or there: a delete of nothing costs little.
                    deletes.append(key)
            elif stored is None or (stored is unknown and self._fresh):
                inserts.append(row)
            elif stored is unknown:
                upserts.setdefault(tuple(row), []).append(row)
            elif cast(Row, stored).keys() != row.keys():
                # A row put whole over one read, with fewer columns: replaced, the others back to their defaults.
                deletes.append(key)
                inserts.append(row)
            else:
                before = cast(Row, stored)
                changed = tuple(c for c, v in row.items() if before.get(c, unknown) != v and c not in key_set)
                if changed:
                    updates.setdefault(changed, []).append(row)
            if not final:
                self._stored[key] = None if row is None else dict(row)
        conn = self._page.conn
        if deletes:
            _execute(
                conn,
                _delete_one(self.table),
                [{f"k_{c}": v for c, v in zip(self.key_columns, k, strict=True)} for k in deletes],
            )
        for columns, rows in updates.items():
            if _write_raw(conn, self.table, "update", (*columns, *self.key_columns), rows):
                continue
            condition = and_(*(self.table.c[c] == bindparam(f"k_{c}") for c in self.key_columns))
            _execute(
                conn,
                update(self.table).where(condition).values({c: bindparam(f"v_{c}") for c in columns}),
                [
                    {**{f"k_{c}": row[c] for c in self.key_columns}, **{f"v_{c}": row[c] for c in columns}}
                    for row in rows
                ],
            )
        if inserts:
            insert_rows(conn, self.table, inserts)
        for columns, rows in upserts.items():
            if _write_raw(conn, self.table, "upsert", columns, rows):
                continue
            values = [c for c in columns if c not in self.key_columns]
            _execute(conn, _upsert(conn, self.table, self.key_columns, values), rows)
        # Written: from now on a missing key may exist in the table only if another page wrote it, never this one.
        self._fresh = False


_UNKNOWN: Any = object()


def _key_getter(columns: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if len(columns) == 1:
        column = columns[0]
        return lambda row: (row[column],)
    return cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], itemgetter(*columns))


def _select_one(table: Table) -> Any:
    """The row of one primary key, its values bound by name (`k_<column>`): built once per table, so that each
    page's reads reuse SQLAlchemy's compiled statement instead of building and compiling an expression per row
    (that building cost more than SQLite's reading, and a live pass reads a few rows per event)."""
    return _by_key(table, "dossierflow_select_one", select)


def _by_key(table: Table, name: str, statement: Callable[[Table], Any]) -> Any:
    """`statement(table)` kept to one primary key's row, its values bound by name (`k_<column>`), kept with the
    table under `name`."""
    found = table.info.get(name)
    if found is None:
        keys = [c.name for c in table.primary_key.columns]
        found = statement(table).where(and_(*(table.c[c] == bindparam(f"k_{c}") for c in keys)))
        table.info[name] = found
    return found


def _read_one_raw(conn: Connection, table: Table) -> ReadStatement | None:
    """On SQLite, the driver's select of one primary key's row: its SQL, its keys' conversions, and the row's
    column names and conversions (each column type's own, as SQLAlchemy applies them), kept with the table. A live
    pass reads most rows one by one, and SQLAlchemy's handling of each execution of a compiled select cost more
    than SQLite's reading. None elsewhere: PostgreSQL's result conversions depend on what the server answers."""
    if conn.dialect.name != "sqlite":
        return None
    found: ReadStatement | None = table.info.get("dossierflow_read_one")
    if found is None:
        quote = conn.dialect.identifier_preparer.quote
        keys = list(table.primary_key.columns)
        statement = (
            f"SELECT {', '.join(quote(c.name) for c in table.columns)} FROM {quote(table.name)} "
            f"WHERE {' AND '.join(f'{quote(c.name)} = ?' for c in keys)}"
        )
        found = (
            statement,
            [c.type._cached_bind_processor(conn.dialect) for c in keys],
            [c.key for c in table.columns],
            [c.type._cached_result_processor(conn.dialect, None) for c in table.columns],
        )
        table.info["dossierflow_read_one"] = found
    return found


def _select_by_first(table: Table) -> Any:
    """The rows whose key's first column has one value (`k_<column>`), built once per table (see `_select_one`)."""
    found = table.info.get("dossierflow_select_by_first")
    if found is None:
        column = next(iter(table.primary_key.columns))
        found = select(table).where(column == bindparam(f"k_{column.name}"))
        table.info["dossierflow_select_by_first"] = found
    return found


def _read_by_first_raw(conn: Connection, table: Table) -> ReadStatement | None:
    """On SQLite, the driver's select of the rows whose key's first column has one value, as `_read_one_raw` keeps
    the select of one row; None elsewhere."""
    if conn.dialect.name != "sqlite":
        return None
    found: ReadStatement | None = table.info.get("dossierflow_read_by_first")
    if found is None:
        quote = conn.dialect.identifier_preparer.quote
        column = next(iter(table.primary_key.columns))
        statement = (
            f"SELECT {', '.join(quote(c.name) for c in table.columns)} FROM {quote(table.name)} "
            f"WHERE {quote(column.name)} = ?"
        )
        found = (
            statement,
            [column.type._cached_bind_processor(conn.dialect)],
            [c.key for c in table.columns],
            [c.type._cached_result_processor(conn.dialect, None) for c in table.columns],
        )
        table.info["dossierflow_read_by_first"] = found
    return found


def _converted(processors: Processors, values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(
        value if convert is None else convert(value) for convert, value in zip(processors, values, strict=True)
    )


def _delete_one(table: Table) -> Any:
    """The delete of one primary key's row, its values bound by name (`k_<column>`): built once per table, for the
    same reason as `_select_one` (a change of a dossier's state deletes scope rows)."""
    return _by_key(table, "dossierflow_delete_one", delete)


def _select_many(table: Table) -> Any:
    """The rows of many primary keys (`keys`: the values of a single-column key, else tuples), built once per
    table for the same reason as `_select_one`; SQLAlchemy expands the list at each execution."""
    found = table.info.get("dossierflow_select_many")
    if found is None:
        columns = [table.c[c.name] for c in table.primary_key.columns]
        keys: Any = bindparam("keys", expanding=True)
        condition = columns[0].in_(keys) if len(columns) == 1 else tuple_(*columns).in_(keys)
        found = select(table).where(condition)
        table.info["dossierflow_select_many"] = found
    return found


def insert_rows(conn: Connection, table: Table, rows: list[Row]) -> None:
    """Insert `rows` in bulk, straight through the driver (SQLite's executemany, PostgreSQL's COPY), each value
    converted by its column's own type: SQLAlchemy's per-row handling of an executemany cost more than the
    database's writing (a rebuild inserts millions of rows)."""
    for columns, group in _by_columns(rows).items():
        if not _write_raw(conn, table, "insert", columns, group):
            _execute(conn, insert(table), group)


def insert_values(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """As `insert_rows`, each row given as its values in the order of `columns`: nothing to pick out of a dict per
    row (the audit trail inserts a row of two dozen columns per event)."""
    if not rows:
        return
    raw = _raw_statement(conn, table, "insert", columns) if conn.dialect.name in ("sqlite", "postgresql") else None
    if raw is None:
        insert_rows(conn, table, [dict(zip(columns, values, strict=True)) for values in rows])
        return
    statement, order, processors = raw
    _run_raw(conn, table, "insert", statement, order, _converted_rows(processors, rows))


def _execute(conn: Connection, statement: Any, rows: list[Row]) -> None:
    """`statement` for each of `rows`. One row is executed as such, not as a batch of one: psycopg runs every
    executemany in pipeline mode, which waited on its socket five times where one statement waits once (a live
    pass writes a row or two per table, and in a process whose writer threads hold the interpreter lock each wait
    is a turn in the queue for it)."""
    if len(rows) == 1:
        conn.execute(statement, rows[0])
    else:
        conn.execute(statement, rows)


def _by_columns(rows: list[Row]) -> dict[tuple[str, ...], list[Row]]:
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        # One statement per set of columns given: an executemany takes one shape.
        groups.setdefault(tuple(row), []).append(row)
    return groups


Processors = list[Callable[[Any], Any] | None]
RawStatement = tuple[str, tuple[str, ...], Processors]
ReadStatement = tuple[str, Processors, list[str], Processors]


def _write_raw(conn: Connection, table: Table, kind: str, columns: tuple[str, ...], rows: list[Row]) -> bool:
    """Run an insert, upsert or update of `columns` for `rows` through the driver (on PostgreSQL an insert is a
    COPY); False if not done (another database, or a column left out whose default only SQLAlchemy computes): then
    the caller does it. SQLAlchemy's own executemany handled each row in Python, at more than the database's cost."""
    if conn.dialect.name not in ("sqlite", "postgresql"):
        return False
    raw = _raw_statement(conn, table, kind, columns)
    if raw is None:
        return False
    statement, order, processors = raw
    # The values in the statement's order picked by one C call per row; only the columns with a conversion (a
    # UUID, a time) are touched in Python: a value-by-value generator was a tenth of a rebuild.
    if not rows:
        return True
    _run_raw(conn, table, kind, statement, order, _parameters(order, processors, rows))
    return True


def _run_raw(
    conn: Connection, table: Table, kind: str, statement: str, order: tuple[str, ...], params: list[Any]
) -> None:
    if len(params) == 1:
        # A live pass writes a row or two per table: one statement waits on the socket once, where psycopg's
        # executemany (pipeline mode) waited five times and a COPY takes two round trips.
        _driver(conn, statement, params[0])
    elif kind == "insert" and conn.dialect.name == "postgresql":
        _copy(conn, table, order, params)
    else:
        _driver(conn, statement, params, many=True)


def _driver(conn: Connection, statement: str, params: Any, *, many: bool = False, fetch: bool = False) -> Any:
    """Run one statement on the connection's driver cursor, in its transaction; with `fetch`, its first row (or
    None). A live pass makes some twenty such statements of a row each: SQLAlchemy's exec_driver_sql built a result
    and its metadata for each (a sixth of a pass after an approval)."""
    with _driver_cursor(conn, statement, params) as cursor:
        if many:
            cursor.executemany(statement, params)
        else:
            cursor.execute(statement, params)
        return cursor.fetchone() if fetch else None


@contextmanager
def _driver_cursor(conn: Connection, statement: str, params: Any) -> Iterator[Any]:
    """The connection's driver cursor, closed after; a failure raised as SQLAlchemy raises it for a statement (an
    IntegrityError for a duplicate key), the connection invalidated if it was lost."""
    raw = conn.connection
    cursor: Any = raw.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as error:
        lost = conn.dialect.is_disconnect(error, raw.dbapi_connection, cursor)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(
            statement, params, error, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost,
            dialect=conn.dialect,
        ) from error
    finally:
        cursor.close()


def _copy(conn: Connection, table: Table, order: tuple[str, ...], params: list[Any]) -> None:
    """Insert rows with PostgreSQL's COPY, its own bulk path, in the connection's transaction. A refusal is raised
    as SQLAlchemy raises it for a statement (an IntegrityError for a duplicate key)."""
    quote = conn.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in order)}) FROM STDIN"
    with _driver_cursor(conn, statement, None) as cursor, cursor.copy(statement) as copy:
        for values in params:
            copy.write_row(values)


def _parameters(order: tuple[str, ...], processors: Processors, rows: list[Row]) -> list[Any]:
    """Each row's values in the statement's order, each converted by its column's processor: picked by one C call
    per row, and converted a column at a time by `map`, so that only the conversions themselves run in Python (a
    value-by-value loop, then a row-by-row one, were each a tenth of a rebuild)."""
    pick = itemgetter(*order) if len(order) > 1 else lambda row: (row[order[0]],)
    return _converted_rows(processors, list(map(pick, rows)))


def _converted_rows(processors: Processors, rows: list[tuple[Any, ...]]) -> list[Any]:
    """Rows of values, each value converted by its column's processor, a column at a time."""
    converting = [(i, p) for i, p in enumerate(processors) if p is not None]
    if not converting:
        return rows
    columns: list[Any] = list(zip(*rows, strict=True))
    for i, convert in converting:
        columns[i] = map(convert, columns[i])
    return list(zip(*columns, strict=True))


def _raw_statement(conn: Connection, table: Table, kind: str, columns: tuple[str, ...]) -> RawStatement | None:
    """The driver's statement, the columns in the order of its parameters and each one's value conversion, kept with
    the table."""
    cache: dict[tuple[str, tuple[str, ...]], RawStatement | None] = table.info.setdefault("dossierflow_raw", {})
    if (kind, columns) in cache:
        return cache[(kind, columns)]
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    keys = [c.name for c in table.primary_key.columns]
    values = [c for c in columns if c not in keys]
    found: RawStatement | None = None
    if kind == "update":
        order = (*values, *keys)
        statement = (
            f"UPDATE {quote(table.name)} SET {', '.join(f'{quote(c)} = {mark}' for c in values)} "
            f"WHERE {' AND '.join(f'{quote(c)} = {mark}' for c in keys)}"
        )
        found = (statement, order, [table.c[c].type._cached_bind_processor(conn.dialect) for c in order])
    elif not any(c.default is not None for c in table.columns if c.name not in columns):
        statement = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join(mark for _ in columns)})"
        )
        if kind == "upsert":
            target = ", ".join(quote(c) for c in keys)
            if values:
                sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in values)
                statement += f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
            else:
                statement += f" ON CONFLICT ({target}) DO NOTHING"
        found = (statement, columns, [table.c[c].type._cached_bind_processor(conn.dialect) for c in columns])
    cache[(kind, columns)] = found
    return found


def _upsert(conn: Connection, table: Table, keys: list[str], values: list[str]) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # not loaded by commands on the embedded store

        pg = postgresql.insert(table)
        if not values:
            return pg.on_conflict_do_nothing(index_elements=keys)
        return pg.on_conflict_do_update(index_elements=keys, set_={v: pg.excluded[v] for v in values})
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite  # likewise, not loaded by commands on PostgreSQL

        lite = sqlite.insert(table)
        if not values:
            return lite.on_conflict_do_nothing(index_elements=keys)
        return lite.on_conflict_do_update(index_elements=keys, set_={v: lite.excluded[v] for v in values})
    raise NotImplementedError(f"read models are kept on SQLite or PostgreSQL, not {dialect}")


class Counters:
    """Additive figures (counts per key): deltas summed in memory, then added to the table in one statement."""

    def __init__(self, page: Page, table: Table) -> None:
        self._page = page
        self.table = table
        self.key_columns = [c.name for c in table.primary_key.columns]
        self.value_columns = [c.name for c in table.columns if c.name not in self.key_columns]
        self._deltas: dict[tuple[Any, ...], dict[str, int]] = {}

    def add(self, key: tuple[Any, ...], **deltas: int) -> None:
        current = self._deltas.setdefault(key, {})
        for column, delta in deltas.items():
            current[column] = current.get(column, 0) + delta

    def add_to(self, key: tuple[Any, ...], column: str, delta: int) -> None:
        """As `add` of one column, without building keyword arguments (called millions of times in a rebuild)."""
        current = self._deltas.get(key)
        if current is None:
            current = self._deltas[key] = {}
        current[column] = current.get(column, 0) + delta

    def flush(self) -> None:
        if not self._deltas:
            return
        rows = []
        for key, deltas in self._deltas.items():
            if not any(deltas.values()):
                continue
            row: Row = dict(zip(self.key_columns, key, strict=True))
            row.update({c: deltas.get(c, 0) for c in self.value_columns})
            rows.append(row)
        self._deltas.clear()
        if not rows:
            return
        conn = self._page.conn
        _execute(conn, _increment(conn, self.table, self.key_columns, self.value_columns), rows)
        # A figure brought back to zero leaves no row: the table is then the same however the events were paged.
        falling = [row for row in rows if any(row[c] < 0 for c in self.value_columns)]
        if falling:
            _execute(
                conn, _delete_zero(self.table), [{f"k_{c}": row[c] for c in self.key_columns} for row in falling]
            )


def _delete_zero(table: Table) -> Any:
    """The delete of a row of `Counters` whose figures are all zero, its key bound by name (`k_<column>`): built
    once per table, for the same reason as `_increment` (a figure falls on every change of a dossier's state)."""
    found = table.info.get("dossierflow_delete_zero")
    if found is None:
        keys = [c.name for c in table.primary_key.columns]
        condition = and_(*(table.c[c] == bindparam(f"k_{c}") for c in keys))
        zero = and_(*(c == 0 for c in table.columns if c.name not in keys))
        found = table.info["dossierflow_delete_zero"] = delete(table).where(condition, zero)
    return found


def _increment(conn: Connection, table: Table, keys: list[str], values: list[str]) -> Any:
    """The upsert adding deltas to a row, built once per table and database: building it (its `excluded` columns)
    and computing its cache key cost more than executing it on a live pass of a few events."""
    cache: dict[str, Any] = table.info.setdefault("dossierflow_increment", {})
    found = cache.get(conn.dialect.name)
    if found is None:
        found = cache[conn.dialect.name] = _build_increment(conn, table, keys, values)
    return found


def _build_increment(conn: Connection, table: Table, keys: list[str], values: list[str]) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # not loaded by commands on the embedded store

        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={v: table.c[v] + pg.excluded[v] for v in values}
        )
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite  # likewise, not loaded by commands on PostgreSQL

        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(
            index_elements=keys, set_={v: table.c[v] + lite.excluded[v] for v in values}
        )
    raise NotImplementedError(f"read models are kept on SQLite or PostgreSQL, not {dialect}")


@dataclass
class Page:
    """One transaction of one read model: its connection, its tables, and the buffers flushed at the end."""

    conn: Connection
    tables: dict[str, Table]
    fresh: bool = False

    def __post_init__(self) -> None:
        self._rows: dict[str, KeyedRows] = {}
        self._counters: dict[str, Counters] = {}
        self._appends: dict[str, list[Row]] = {}
        self._value_appends: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
        self._gathered: dict[str, tuple[Callable[[list[Any]], None], list[Any]]] = {}

    def gather(self, key: str, item: Any, handle: Callable[[list[Any]], None]) -> None:
        """Keep `item` for `handle`, which gets every item gathered under `key`, in order, at the next flush (before
        any buffer is written). A projection whose events each need a row gathers the page's events in `apply` and
        handles them together: it loads every row they need in a few queries instead of one query per event."""
        found = self._gathered.get(key)
        if found is None:
            found = self._gathered[key] = (handle, [])
        found[1].append(item)

    def rows(self, table: str) -> KeyedRows:
        found = self._rows.get(table)
        if found is None:
            found = self._rows[table] = KeyedRows(self, self.tables[table])
            if self.fresh:
                found.start_empty()
        return found

    def counters(self, table: str) -> Counters:
        found = self._counters.get(table)
        if found is None:
            found = self._counters[table] = Counters(self, self.tables[table])
        return found

    def append(self, table: str, row: Row) -> None:
        """A new row that nothing in this page reads back (an audit line): inserted in bulk at the end."""
        self._appends.setdefault(table, []).append(row)

    def append_values(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        """As `append`, rows given as their values in the order of `columns`: no dict made per row, none taken apart
        again at the flush."""
        self._value_appends.setdefault((table, columns), []).extend(rows)

    def settle(self) -> None:
        """Hand every gathered item to its handler: what is left to do before the buffers are written."""
        while self._gathered:
            # Emptied before the handler runs: a handler may itself flush (before a query).
            key = next(iter(self._gathered))
            handle, items = self._gathered.pop(key)
            handle(items)

    def flush(self, *, final: bool = False) -> None:
        """Write every buffer. A projection calls it before a query of its own tables that must see this page;
        the runner, `final`, at its end."""
        # The gathered items first: their handlers change the buffers.
        self.settle()
        for keyed in self._rows.values():
            keyed.flush(final=final)
        for counters in self._counters.values():
            counters.flush()
        for table, rows in self._appends.items():
            if rows:
                insert_rows(self.conn, self.tables[table], rows)
        self._appends.clear()
        for (table, columns), values in self._value_appends.items():
            insert_values(self.conn, self.tables[table], columns, values)
        self._value_appends.clear()


ProjectionFactory = Callable[[], Projection]
