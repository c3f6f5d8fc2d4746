"""What the read-model tests share: feeding a read model from an engine's log, and reading its tables whole."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from projections.core import LoggedEvent, Projection
from projections.log import RecorderLog
from projections.runner import Runner
from projections.store import ReadModelStore, make_engine
from workflow.engine import Engine


def fed(engine: Engine, projection: Projection, *, page_size: int = 500, url: str = "sqlite://") -> ReadModelStore:
    store = ReadModelStore(make_engine(url), [projection])
    Runner(store, RecorderLog(engine.recorder, engine.mapper), page_size=page_size).catch_up()
    return store


def dump(store: ReadModelStore, name: str, counters: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every live table of read model `name`, in primary-key order.

    In the `counters` tables a row whose figures are all 0 is left out: it says what no row says, and whether it
    exists depends on whether a +1 and its -1 fell in one page (summed away) or in two.
    """
    found = {}
    with store.engine.connect() as conn:
        for key, table in store.live_tables(name).items():
            order = list(table.primary_key.columns)
            rows = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
            if key in counters:
                width = len(order)
                rows = [r for r in rows if any(r[width:])]
            found[key] = rows
    return found


class PrefixLog:
    """The log as it stood at a position: lets a test feed a read model live, a few commands at a time."""

    def __init__(self, log: RecorderLog, head: int) -> None:
        self.log = log
        self.cap = head

    def read(self, after: int, limit: int) -> list[LoggedEvent]:
        return [e for e in self.log.read(after, limit) if e.position <= self.cap]

    def head(self) -> int:
        return min(self.cap, self.log.head())

    def time_at(self, position: int) -> Any:
        return self.log.time_at(position)
