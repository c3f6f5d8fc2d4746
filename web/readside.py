"""Wiring the read side to the configured store: the one place that knows where the read models live."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from projections.catalog import all_projections
from projections.log import RecorderLog, open_application_log
from projections.readside import ReadSide
from projections.store import make_engine, read_models_url
from workflow.store import is_postgres_url
from workflow.store.application import StoreApplication

if TYPE_CHECKING:
    from workflow.engine import Engine


def open_read_side(engine: StoreApplication, *, database_url: str | None, data_dir: Path) -> ReadSide:
    """The read models of `engine`'s store: in data_dir/read-models.sqlite beside an embedded store, in the same
    PostgreSQL database otherwise. Nothing runs until `start()` or `catch_up()`."""
    url = read_models_url(database_url, data_dir)
    postgres = database_url is not None and is_postgres_url(database_url)
    sqlite_file: Path | None = None
    if not postgres:
        sqlite_file = data_dir / "read-models.sqlite"
        if not _writable(sqlite_file):
            # An archived copy on a read-only medium: its read models are computed in memory from its events, so
            # that reading it writes nothing.
            url, sqlite_file = "sqlite://", None
    return ReadSide(
        make_engine(url, derived=True),
        all_projections(),
        RecorderLog(engine.recorder, engine.mapper),
        sqlite_file=sqlite_file,
        postgres_url=url if postgres else None,
        events_channel=getattr(engine.recorder, "channel_name", None) if postgres else None,
        # A rebuild's helper process opens the same store as a log and nothing more.
        log_opener=partial(open_application_log, StoreApplication, dict(engine.env)),
    )


def _writable(path: Path) -> bool:
    if path.exists():
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    return path.parent.is_dir() and os.access(path.parent, os.W_OK)


def started(engine: Engine, side: ReadSide) -> ReadSide:
    """Run the read side's runner in this process, woken by every commit of `engine`."""
    runner = side.start()
    engine.on_commit.append(runner.wake)
    return side
