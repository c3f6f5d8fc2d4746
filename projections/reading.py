"""One page's reading of the read models: one connection, and the live generation of every read model read once.

`ReadModelStore.live_tables` looks the live generation up on every call (a rebuild may switch it at any moment), so
a page that makes ten queries made ten more to learn which tables to read, each on a connection of its own. A
`Reading` learns them all in one query and keeps one connection for the page: its queries see one generation of
each read model. The generation a rebuild replaces is dropped only at the next rebuild, so a page that read its
number a moment before a switch still finds its tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, and_, select

from projections.store import STATE, TRACKING, ReadModelStore, driver_rows


class Reading:
    def __init__(
        self, store: ReadModelStore, conn: Connection, live: dict[str, int],
        positions: dict[str, tuple[int | None, int | None]] | None = None,
    ) -> None:
        self.store = store
        self.conn = conn
        self._live = live
        # Each read model's live generation's (position, failed position), read in the same statement as the
        # generations: where the lists the page is about to read stood, at least (ReadSide.behind).
        self.positions = positions or {}

    def snapshot(self) -> tuple[tuple[str, int, int | None, int | None], ...]:
        """Where every read model stood when this reading began: (name, live generation, position, failed
        position), hashable. Any event applied or rebuild made since gives another one (a cache key's part)."""
        return snapshot_of((self._live, self.positions))

    def tables(self, name: str) -> dict[str, Table]:
        generation = self._live.get(name)
        if generation is None:
            return self.store.live_tables(name)
        return self.store.tables(name, generation)

    def execute(self, statement: Any, parameters: dict[str, Any] | None = None) -> Any:
        return self.conn.execute(statement, parameters or {})


_LIVE = select(STATE.c.name, STATE.c.live_generation, TRACKING.c.position, TRACKING.c.failed_position).join(
    TRACKING, and_(TRACKING.c.name == STATE.c.name, TRACKING.c.generation == STATE.c.live_generation), isouter=True
)
# The same statement as the driver takes it (no parameter, so one text serves both dialects' drivers); a caller may
# read it inside a statement of its own (web/visit_reads.py) and give its rows to `positions_of`.
LIVE_TEXT = (
    f"SELECT s.name, s.live_generation, t.position, t.failed_position FROM {STATE.name} s "
    f"LEFT OUTER JOIN {TRACKING.name} t ON t.name = s.name AND t.generation = s.live_generation"
)

Positions = tuple[dict[str, int], dict[str, tuple[int | None, int | None]]]


def positions_of(rows: Iterable[Any]) -> Positions:
    """Where the read models stand, from LIVE_TEXT's rows (name, live generation, position, failed position)."""
    live: dict[str, int] = {}
    positions: dict[str, tuple[int | None, int | None]] = {}
    for name, generation, position, failed in rows:
        live[str(name)] = int(generation)
        positions[str(name)] = (position, failed)
    return live, positions


def positions(store: ReadModelStore) -> Positions:
    """Every read model's live generation and where it stands, in one statement straight through the driver (every
    request asks it: see projections.store.driver_rows). `reading(store, known=...)` reads those generations."""
    return positions_of(driver_rows(store.engine, LIVE_TEXT))


def snapshot_of(known: Positions) -> tuple[tuple[str, int, int | None, int | None], ...]:
    """As Reading.snapshot, of positions read by `positions`."""
    live, where = known
    return tuple((name, generation, *where.get(name, (None, None))) for name, generation in sorted(live.items()))


@contextmanager
def reading(store: ReadModelStore, known: Positions | None = None) -> Iterator[Reading]:
    """One connection for a page's reads; the generations read afresh, or those of `known` (from `positions`,
    read a moment before: a generation a rebuild replaces stays until the next rebuild)."""
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # A page only reads: without a transaction it saves a BEGIN and a ROLLBACK, two round trips, per page.
            conn.execution_options(isolation_level="AUTOCOMMIT")
        live, where = known if known is not None else positions_of(conn.execute(_LIVE))
        yield Reading(store, conn, live, where)


@contextmanager
def reading_of(store: ReadModelStore, given: Reading | None) -> Iterator[Reading]:
    """The reading given (a page's), or one of this call's own."""
    if given is not None:
        yield given
        return
    with reading(store) as own:
        yield own
