"""The read side as the app and the CLI use it: the read models' store, the runner that feeds it, and waiting.

One object per process. `start()` runs the runner in a thread of this process (the embedded default), woken by the
engine's commits in this process, by PostgreSQL's NOTIFY for commits elsewhere, and by its poll interval. `dossierflow
projections run` does the same as a process of its own. Any number of processes may start a runner: each read model
is fed by whichever holds its lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, and_, select

from projections.core import Projection
from projections.locks import locks_for
from projections.log import EventLog
from projections.reading import Reading
from projections.runner import DEFAULT_PAGE, DEFAULT_POLL_SECONDS, PassResult, Runner
from projections.store import STATE, TRACKING, ReadModelStore, Tracking
from projections.wakeup import READ_MODELS_CHANNEL, Listener, wait_for_notification

Progress = Callable[[str, int, int], None]

# Each read model's live generation's tracking row: where it stands, and whether a failure stopped it.
_LIVE_TRACKINGS = select(TRACKING.c.name, TRACKING.c.position, TRACKING.c.failed_position).join(
    STATE, and_(STATE.c.name == TRACKING.c.name, STATE.c.live_generation == TRACKING.c.generation)
)


@dataclass(frozen=True)
class ReadModelStatus:
    name: str
    generation: int
    position: int
    head: int
    lag_seconds: float
    failed_position: int | None
    error: str | None
    building: bool

    @property
    def lag_events(self) -> int:
        return max(0, self.head - self.position)

    @property
    def state(self) -> str:
        if self.failed_position is not None:
            return f"failed at event {self.failed_position}"
        if self.building:
            return "rebuilding"
        if self.position > self.head:
            # The log lost events this read model applied (a store restored from an older copy, or damaged).
            return f"ahead of the log, which ends at event {self.head:,}"
        return "up to date" if self.lag_events == 0 else "catching up"


@dataclass(frozen=True)
class Waited:
    """How a wait for a position ended: reached, or which read models are behind or stopped by a failure."""

    reached: bool
    behind: tuple[str, ...]
    failed: tuple[str, ...]


class ReadSide:
    def __init__(
        self,
        sql_engine: Engine,
        projections: Sequence[Projection],
        log: EventLog,
        *,
        sqlite_file: Path | None = None,
        postgres_url: str | None = None,
        events_channel: str | None = None,
        page_size: int = DEFAULT_PAGE,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        self.store = ReadModelStore(sql_engine, projections)
        self.log = log
        self.sqlite_file = sqlite_file
        self.postgres_url = postgres_url
        self.events_channel = events_channel
        self.page_size = page_size
        self.poll_seconds = poll_seconds
        self.runner: Runner | None = None
        self._listener: Listener | None = None
        # On PostgreSQL every runner, in whichever process, NOTIFYs after each page it commits: waiters here are
        # woken by that, since this process's runner may hold no read model's lock and so never advance itself.
        self._pages_listener: Listener | None = None
        self._pages = threading.Condition()
        self._pages_seen = 0

    # --- running -------------------------------------------------------------------------------

    def new_runner(self, *, names: Sequence[str] | None = None, only_building: bool = False) -> Runner:
        return Runner(
            self.store,
            self.log,
            names=names,
            page_size=self.page_size,
            locks=locks_for(self.store.engine, self.sqlite_file),
            poll_seconds=self.poll_seconds,
            only_building=only_building,
        )

    def start(self) -> Runner:
        """Feed the read models from a thread of this process until `close()`."""
        if self.runner is None:
            self.runner = self.new_runner()
            self.runner.start()
            if self.postgres_url and self.events_channel:
                self._listener = Listener(
                    self.postgres_url, self.events_channel, self.runner.wake, poll_seconds=self.poll_seconds
                )
                self._listener.start()
            if self.postgres_url:
                self._pages_listener = Listener(
                    self.postgres_url, READ_MODELS_CHANNEL, self._page_committed, poll_seconds=self.poll_seconds
                )
                self._pages_listener.start()
        return self.runner

    def _wait_page(self, seen: int, timeout: float) -> None:
        # A notification lost with the listener's connection costs at most the caller's poll interval.
        with self._pages:
            self._pages.wait_for(lambda: self._pages_seen != seen, timeout)

    def _page_committed(self) -> None:
        with self._pages:
            self._pages_seen += 1
            self._pages.notify_all()

    def catch_up(self, progress: Progress | None = None) -> PassResult:
        runner = self.new_runner()
        try:
            return runner.catch_up(progress)
        finally:
            runner.locks.release_all()

    def close(self) -> None:
        for listener in (self._listener, self._pages_listener):
            if listener is not None:
                listener.stop()
        self._listener = self._pages_listener = None
        if self.runner is not None:
            self.runner.stop()
            self.runner = None

    # --- read-your-writes ----------------------------------------------------------------------

    def behind(
        self, position: int, *, conn: Connection | None = None, reading: Reading | None = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(read models whose live generation has not reached `position`, those stopped by a failure). `conn`: a
        connection of the read models' database to ask on (a page's), else one of its own. `reading`: a page's
        reading, whose positions were read with its generations (no statement of its own); a page that read the
        log's head before opening it learns whether what it then read was level with that head."""
        rows: Iterable[tuple[str, int, int | None]]
        if reading is not None:
            # As the join below: a generation without a tracking row yet is left out.
            rows = [(n, p, f) for n, (p, f) in reading.positions.items() if p is not None]
        elif conn is None:
            with self.store.engine.connect() as own:
                return self.behind(position, conn=own)
        else:
            rows = conn.execute(_LIVE_TRACKINGS)
        behind, failed = [], []
        for name, position_now, failed_at in rows:
            if name not in self.store.projections:
                continue
            if failed_at is not None:
                failed.append(name)
            elif position_now < position:
                behind.append(name)
        return tuple(behind), tuple(failed)

    def wait_for(self, position: int, timeout: float = 5.0) -> Waited:
        """Until every live read model has applied the event at `position`, or `timeout` seconds.

        Woken by the runner (in this process, its condition; on PostgreSQL, the NOTIFY of whichever runner holds
        the read models' locks), never a fixed sleep. A read model stopped by a failure is not waited for: it is
        named in the answer.
        """
        if position <= 0:
            return Waited(True, (), ())
        deadline = time.monotonic() + timeout
        runner = self.runner
        if runner is not None and self._pages_listener is not None:
            while True:
                with self._pages:
                    seen = self._pages_seen
                behind, failed = self.behind(position)
                remaining = deadline - time.monotonic()
                if not behind or remaining <= 0:
                    return Waited(not behind, behind, failed)
                self._wait_page(seen, min(remaining, self.poll_seconds))
        if runner is not None:
            while True:
                seen = runner.commits
                behind, failed = self.behind(position)
                remaining = deadline - time.monotonic()
                if not behind or remaining <= 0:
                    return Waited(not behind, behind, failed)
                runner.wait_advanced(seen, remaining)
        if self.postgres_url:
            # Level already (a listing that has just caught up): no connection of its own to LISTEN on.
            behind, failed = self.behind(position)
            if not behind:
                return Waited(True, behind, failed)
            result: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

            def ready() -> bool:
                result[:] = [self.behind(position)]
                return not result[0][0]

            wait_for_notification(self.postgres_url, READ_MODELS_CHANNEL, timeout, ready)
            behind, failed = result[-1]
            return Waited(not behind, behind, failed)
        # SQLite with the runner in another process: nothing can wake us across processes but the file itself.
        pause = 0.001
        while True:
            behind, failed = self.behind(position)
            remaining = deadline - time.monotonic()
            if not behind or remaining <= 0:
                return Waited(not behind, behind, failed)
            threading.Event().wait(min(pause, remaining))
            pause = min(pause * 2, 0.05)

    # --- managing ------------------------------------------------------------------------------

    def status(self) -> list[ReadModelStatus]:
        head = self.log.head()
        head_time = self.log.time_at(head)
        states = self.store.states()
        found = []
        for tracking in self.store.trackings():
            live, building = states[tracking.name]
            if tracking.generation not in (live, building):
                continue
            found.append(
                ReadModelStatus(
                    name=tracking.name,
                    generation=tracking.generation,
                    position=tracking.position,
                    head=head,
                    lag_seconds=_lag_seconds(tracking, head, head_time.timestamp() if head_time else None),
                    failed_position=tracking.failed_position,
                    error=tracking.error,
                    building=tracking.generation == building,
                )
            )
        return found

    def retry(self, name: str) -> bool:
        self._known(name)
        retried = self.store.retry(name)
        if self.runner is not None:
            self.runner.forget_targets()
            self.runner.wake()
        return retried

    def rebuild(self, names: Sequence[str] | None = None, progress: Progress | None = None) -> PassResult:
        """Fill a new generation of each read model from the first event, beside the live one, and switch to it in
        the transaction that brings it level with the log. Queries keep reading the old one until then."""
        chosen = list(names) if names else list(self.store.projections)
        for name in chosen:
            self._known(name)
        runner = self.new_runner(names=chosen, only_building=True)
        try:
            for name in chosen:
                generation = self.store.start_building(name)
                if not runner.locks.acquire(name, generation):
                    raise RuntimeError(f"another runner already holds generation {generation} of {name}")
            result = runner.catch_up(progress)
            # Events may have arrived after the last full page: the switch happens on the page that reaches the head.
            while any(building is not None for _, building in (self.store.states()[n] for n in chosen)):
                if result.failures:
                    break
                more = runner.run_pass()
                result.failures.extend(more.failures)
                if not more.applied:
                    break
            return result
        finally:
            runner.locks.release_all()

    def _known(self, name: str) -> None:
        if name not in self.store.projections:
            known = ", ".join(sorted(self.store.projections))
            raise KeyError(f"no read model named {name!r}; the read models are {known}")


def _lag_seconds(tracking: Tracking, head: int, head_time: float | None) -> float:
    if tracking.position >= head or head_time is None:
        return 0.0
    if tracking.event_time is None:
        return 0.0
    return max(0.0, head_time - tracking.event_time)
