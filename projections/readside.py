"""The read side as the app and the CLI use it: the read models' store, the runner that feeds it, and waiting.

One object per process. `start()` runs the runner in a thread of this process (the embedded default), woken by the
engine's commits in this process, by PostgreSQL's NOTIFY for commits elsewhere, and by its poll interval. `dossierflow
projections run` does the same as a process of its own. Any number of processes may start a runner: each read model
is fed by whichever holds its lock.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, and_, select

from projections.core import Projection
from projections.locks import locks_for
from projections.log import EventLog
from projections.reading import Reading, positions
from projections.runner import DEFAULT_PAGE, DEFAULT_POLL_SECONDS, REBUILD_PAGE, PassResult, Runner
from projections.store import STATE, TRACKING, ReadModelStore, Tracking, make_engine
from projections.wakeup import READ_MODELS_CHANNEL, Listener, wait_for_notification

Progress = Callable[[str, int, int], None]
# Opens the same log in another process (picklable: a module's function, or a partial of one, and plain data).
LogOpener = Callable[[], EventLog]

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
        page_size: int | None = None,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        log_opener: LogOpener | None = None,
    ) -> None:
        self.store = ReadModelStore(sql_engine, projections)
        self.log = log
        # With it, a rebuild of several read models shares them out with a second process (see `rebuild`).
        self.log_opener = log_opener
        self.sqlite_file = sqlite_file
        self.postgres_url = postgres_url
        self.events_channel = events_channel
        # Events per transaction: given, for catching up and rebuilding alike; else larger pages for a rebuild.
        self.page_size = page_size or DEFAULT_PAGE
        self.rebuild_page_size = page_size or REBUILD_PAGE
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
            page_size=self.rebuild_page_size if only_building else self.page_size,
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
        if reading is not None or conn is None:
            # As the join below: a generation without a tracking row yet is left out. Without a connection given
            # (waiting for a command's position, asked again at each page of the runner): the one statement every
            # visit makes, straight through the driver.
            where = reading.positions if reading is not None else positions(self.store)[1]
            rows = [(n, p, f) for n, (p, f) in where.items() if p is not None]
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
        the transaction that brings it level with the log. Queries keep reading the old one until then.

        With a `log_opener`, on a machine of two cores or more, the read models are shared out between this process
        and a helper process (by their `rebuild_cost` and `rebuild_reads`), each reading the log on its own: the
        rebuild's Python work spreads over two cores. Each read model is still fed by one runner holding its
        generation's lock, a page per transaction with its tracking position, and switched alone, so the result is
        the same as with one process.
        Whatever the helper leaves unfinished (it died, say) this process then finishes from where it stood."""
        chosen = list(names) if names else list(self.store.projections)
        for name in chosen:
            self._known(name)
        before = self.store.states()
        own, shared = self._shares(chosen)
        # Started first: it makes its own new generations (dropping the ones before) while this process makes its.
        helper = _Helper.start(self, shared) if shared else None
        if helper is None:
            own, shared = chosen, []
        try:
            reported = _Progress(progress, helper, self.log.head)
            generations = {name: self.store.start_building(name) for name in own}
            result = self._build(own, generations, reported)
            if helper is not None:
                result.failures.extend(helper.wait(reported))
        except BaseException:
            if helper is not None:
                # Not left running on its own (a kill mid-page loses nothing: its last page is rolled back).
                helper.stop()
            raise
        if helper is not None:
            more = self._finish(shared, before, {name for name, _, _ in result.failures}, reported)
            result.failures.extend(more.failures)
            result.applied += more.applied
        return result

    def _finish(
        self, shared: list[str], before: dict[str, tuple[int, int | None]], stopped: set[str], progress: Progress
    ) -> PassResult:
        """Whatever a helper process left of its share (it died, say), finished here: a generation it was building
        from where it stands, one it never began from the first event. A read model a failure stopped is left so."""
        states = self.store.states()
        tracked = {(t.name, t.generation) for t in self.store.trackings()}
        left: dict[str, int] = {}
        for name in shared:
            live, building = states[name]
            if name in stopped or (building is None and live != before[name][0]):
                continue  # stopped by a failure, or rebuilt and live
            if building is not None and (name, building) in tracked:
                left[name] = building
            else:
                left[name] = self.store.start_building(name)
        return self._build(list(left), left, progress, lock_wait=10.0)

    def _shares(self, chosen: list[str]) -> tuple[list[str], list[str]]:
        """(the read models this process rebuilds, those a helper process does): none for a helper when there is
        no way to open the log elsewhere, one read model, one core, or an in-memory database (a second process
        cannot reach it).

        Of every split, the one whose costlier share costs least. A share costs its read models' own work and the
        decoding of the events they read, once for all of them: at least what its widest reader decodes. So the
        audit, which reads every event, is best left to work alone: beside it, another read model's events are
        decoded anyway, but its own work is added; in the helper, its work is spread (bench/issue6_figures.py:
        on 899,308 events, the audit alone here 225 s, with the units and the access here 252 s).

        Not on PostgreSQL, where the server does the writes on the same cores: there the same split left this
        process waiting 65 s for the helper (252 s in all, against 209 and 249 s with the units and the access read
        model beside the audit, which wait on the helper 7 to 10 s; 240 s with the access alone beside it). There
        the read models marked `rebuild_apart_on_postgresql` are the helper's."""
        url = self.store.engine.url
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        if self.log_opener is None or len(chosen) < 2 or (os.cpu_count() or 1) < 2 or in_memory:
            return chosen, []
        projections = self.store.projections
        if url.get_backend_name() == "postgresql":
            apart = [name for name in chosen if projections[name].rebuild_apart_on_postgresql]
            if apart and len(apart) < len(chosen):
                return [name for name in chosen if name not in apart], apart

        def cost(share: list[str]) -> float:
            models = [projections[name] for name in share]
            return sum(m.rebuild_cost for m in models) + max(m.rebuild_reads for m in models)

        # The costliest read model stays in this process: the shares' roles are alike, so that halves the splits to
        # weigh (16 for the five read models there are).
        first, *rest = sorted(chosen, key=lambda n: -(projections[n].rebuild_cost + projections[n].rebuild_reads))
        best: tuple[float, list[str], list[str]] | None = None
        for mask in range(1 << len(rest)):
            own = [first] + [name for i, name in enumerate(rest) if mask >> i & 1]
            shared = [name for i, name in enumerate(rest) if not mask >> i & 1]
            if not shared:
                continue
            worst = max(cost(own), cost(shared))
            if best is None or worst < best[0]:
                best = (worst, own, shared)
        assert best is not None
        return best[1], best[2]

    def _build(
        self, chosen: list[str], generations: dict[str, int], progress: Progress | None, *, lock_wait: float = 0.0
    ) -> PassResult:
        """Feed the generations being built of `chosen` until each is live (or stopped by a failure). `lock_wait`:
        how long a generation's lock may still be held by a runner that has just ended (a PostgreSQL session of a
        process killed ends a moment after it)."""
        if not chosen:
            return PassResult()
        runner = self.new_runner(names=chosen, only_building=True)
        try:
            deadline = time.monotonic() + lock_wait
            for name in chosen:
                while not runner.locks.acquire(name, generations[name]):
                    if time.monotonic() >= deadline:
                        raise RuntimeError(f"another runner already holds generation {generations[name]} of {name}")
                    time.sleep(0.05)
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


class _Progress:
    """The progress of a rebuild shared with a helper: the position of whichever share is furthest behind."""

    def __init__(self, progress: Progress | None, helper: _Helper | None, head: Callable[[], int]) -> None:
        self.progress = progress
        self.helper = helper
        self.head = head
        self.mine: tuple[str, int] | None = None

    def __call__(self, name: str, position: int, head: int) -> None:
        self.mine = (name, position)
        self.report(head)

    def report(self, head: int, *, mine_done: bool = False) -> None:
        if self.progress is None:
            return
        found = [] if self.mine is None or mine_done else [self.mine]
        if self.helper is not None and not self.helper.done:
            found.append(("", self.helper.position))
        if found:
            name, position = min(found, key=lambda f: f[1])
            self.progress(name, position, head)


@dataclass(frozen=True)
class _Share:
    """What a helper process needs to rebuild its share: plain data and the log's opener, all picklable."""

    url: str
    projections: list[Projection]
    names: list[str]
    log_opener: LogOpener
    sqlite_file: Path | None
    page_size: int


class _Helper:
    """A process rebuilding a share of the read models (`ReadSide.rebuild`): `python -m projections.helper`, given its
    share pickled on its standard input; it answers on its standard output, a line for each page (its position),
    then its failures."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.position = 0
        self.done = False
        self.failures: list[tuple[str, int, str]] | None = None
        self._reader = threading.Thread(target=self._read, name="rebuild-helper", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, side: ReadSide, names: list[str]) -> _Helper | None:
        """The helper, started; None if its share cannot be handed to another process."""
        assert side.log_opener is not None
        share = _Share(
            url=side.store.engine.url.render_as_string(hide_password=False),
            projections=[side.store.projections[n] for n in names],
            names=names,
            log_opener=side.log_opener,
            sqlite_file=side.sqlite_file,
            page_size=side.rebuild_page_size,
        )
        if any(type(p).__module__ == "__main__" for p in share.projections):
            return None  # a class the helper could not import
        try:
            given = pickle.dumps(share)
        except (pickle.PicklingError, AttributeError, TypeError):
            return None
        # The package this module belongs to, importable by the helper whatever this process's own path.
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        # A fresh interpreter, not a fork of this one: this process's threads, locks and connections stay here.
        # In a session of its own: Ctrl-C at the terminal reaches the whole foreground process group, and the helper
        # printed its own KeyboardInterrupt traceback under the command's clean exit. This process stops it instead.
        process = subprocess.Popen(
            [sys.executable, "-m", "projections.helper"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            start_new_session=True,
        )
        try:
            assert process.stdin is not None
            try:
                process.stdin.write(given)
                process.stdin.close()
            except OSError:
                pass  # it died at once: its read models are finished here
            return cls(process)
        except BaseException:
            # Interrupted before it was handed to the caller, which stops it: not left rebuilding on its own.
            process.kill()
            process.wait()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kind, _, rest = line.decode().partition(" ")
            if kind == "at":
                self.position = int(rest)
            elif kind == "failures":
                self.failures = [(str(n), int(p), str(e)) for n, p, e in json.loads(rest)]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.done = True

    def wait(self, progress: _Progress) -> list[tuple[str, int, str]]:
        """The helper's failures, once it has ended; what it did not finish is left to the caller."""
        while self._reader.is_alive():
            self._reader.join(0.5)
            progress.report(progress.head(), mine_done=True)
        self.process.wait()
        self.done = True
        return self.failures or []


def rebuild_share(given: bytes, out: IO[str]) -> None:
    """A helper process's work (projections/helper.py): rebuild the share pickled in `given`, writing its position
    after each page and then its failures (read models stopped by an event they cannot apply) to `out`."""
    share: _Share = pickle.loads(given)
    side = ReadSide(
        make_engine(share.url, derived=True), share.projections, share.log_opener(), sqlite_file=share.sqlite_file,
        page_size=share.page_size,
    )
    try:

        def progress(_name: str, at: int, _head: int) -> None:
            out.write(f"at {at}\n")
            out.flush()

        generations = {name: side.store.start_building(name) for name in share.names}
        result = side._build(share.names, generations, progress)
        out.write(f"failures {json.dumps([list(f) for f in result.failures])}\n")
        out.flush()
    finally:
        side.store.engine.dispose()
