"""The runner: feeds the read models from the log, a page of events per transaction, exactly once.

Per pass it reads, for each position at which some read models stand, one page of events after it, decodes it once,
and applies it to all of those read models in one transaction that also moves each one's tracking position to the
page's last event, whether or not the read model wanted any of them (so waiting for a position always ends).
A read model that cannot apply an event is rolled back to just before it, marked failed at it with the error, and
left alone until `retry`; the others go on (the page is played again without it). A generation being rebuilt
becomes the live one in the transaction that brings it level with the log.

Live, it sleeps until woken (a commit in this process, a NOTIFY from PostgreSQL) or until its poll interval passes,
so that a lost notification costs at most one interval.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Float, bindparam, func, text, update
from sqlalchemy.exc import DBAPIError

from projections.core import LoggedEvent, Page, Projection
from projections.locks import Locks, NoLocks
from projections.log import EventLog
from projections.store import STATE, TRACKING, ReadModelStore, notify_statement
from projections.wakeup import READ_MODELS_CHANNEL

# Events per transaction when behind (live, a pass reads only what is new). On a loaded machine's disk a commit cost
# 10-35 ms on SQLite: 2,000 events a page made a rebuild 1.4x faster than 500.
DEFAULT_PAGE = 2000
# Events per transaction of a rebuild, which nothing waits on: fewer commits and statements. The read models keyed
# by random ids (dossiers, scope rows, counters) dirty a page of the B-tree per row, so a commit writes nearly as
# many pages as the table holds once it is large: the bigger the log, the more a commit costs per event. On a
# 899,308-event SQLite log (two processes, 7 December 2026) 20,000 events a page took 145-157 s wall and 228-243 s
# CPU where 4,000 took 171-192 s and 270-274 s; 50,000 no better than 20,000 (and 560 MB resident).
REBUILD_PAGE = 20000
# A lost wake-up (a NOTIFY dropped with its connection, a commit by another process on SQLite) costs at most this.
DEFAULT_POLL_SECONDS = 1.0

Progress = Callable[[str, int, int], None]


@dataclass
class Target:
    name: str
    generation: int
    position: int
    building: bool
    failed: bool = False
    # Whether its secondary indexes exist: a generation being built gets them when it reaches the head, before it
    # becomes the live one (`ReadModelStore.create_indexes` makes only the missing ones, so asking again is cheap).
    indexed: bool = True


@dataclass
class PassResult:
    applied: int = 0
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    # Whether some read model read a full page: more may be waiting right away. Otherwise each one read to the head
    # as it stood, and whatever came after woke the runner again.
    more: bool = False


class Runner:
    def __init__(
        self,
        store: ReadModelStore,
        log: EventLog,
        *,
        names: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE,
        locks: Locks | None = None,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        only_building: bool = False,
    ) -> None:
        self.store = store
        self.log = log
        self.names = list(names) if names is not None else list(store.projections)
        unknown = sorted(set(self.names) - set(store.projections))
        if unknown:
            raise ValueError(f"no read model named {', '.join(unknown)}; known: {', '.join(store.projections)}")
        self.page_size = page_size
        self.locks = locks or NoLocks()
        self.poll_seconds = poll_seconds
        self.only_building = only_building
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._advanced = threading.Condition()
        # How many passes have committed something: a waiter compares it before and after, so no commit slips by.
        self.commits = 0
        self.last_error: BaseException | None = None
        self._said: str | None = None  # the live loop's last line on passing trouble (a full disk), said once
        # The targets this runner holds, with their positions kept in memory between passes: only this runner moves
        # them while it holds their locks. Re-read from the tables at least every poll interval, so that a switch
        # of generation by a rebuild or a retry elsewhere is seen.
        self._held: list[Target] | None = None
        self._held_at = 0.0
        # Live, the runner's thread keeps one connection between passes: taking one from the pool for each page
        # cost a ping of the server (pre-ping) on every pass. Dropped on any error, taken again on the next pass.
        self._live_conn: Connection | None = None

    # --- one pass ------------------------------------------------------------------------------

    def targets(self) -> list[Target]:
        states = self.store.states()
        tracked = {(t.name, t.generation): t for t in self.store.trackings()}
        found = []
        for name in self.names:
            live, building = states[name]
            # A rebuild is fed by the process that started it (and started again if that process dies).
            generations = [(building, True)] if self.only_building else [(live, False)]
            for generation, is_building in generations:
                if generation is None:
                    continue
                tracking = tracked.get((name, generation))
                if tracking is None or tracking.failed:
                    continue
                if not self.locks.acquire(name, generation):
                    continue
                found.append(Target(name, generation, tracking.position, is_building, indexed=not is_building))
        return found

    def _current_targets(self) -> list[Target]:
        now = time.monotonic()
        if self._held is None or now - self._held_at >= self.poll_seconds:
            self._held = self.targets()
            self._held_at = now
        return [t for t in self._held if not t.failed]

    def forget_targets(self) -> None:
        """Read the targets from the tables on the next pass (after a retry, say)."""
        self._held = None

    def run_pass(self) -> PassResult:
        result = PassResult()
        groups: dict[int, list[Target]] = {}
        for target in self._current_targets():
            groups.setdefault(target.position, []).append(target)
        # The read models nearest the head first: a rebuild reading from the start never delays the live ones.
        for position in sorted(groups, reverse=True):
            with _collector_paused():
                self._pass_group(result, position, groups[position])
        if result.applied:
            with self._advanced:
                self.commits += 1
                self._advanced.notify_all()
        return result

    def _pass_group(self, result: PassResult, position: int, group: list[Target]) -> None:
        """Read the page after `position` and apply it to the read models of `group` (all standing there)."""
        events = self._read(position, group)
        reached_head = len(events) < self.page_size
        result.more = result.more or not reached_head
        if reached_head:
            self._index(group)
        if not events:
            for target in group:
                if target.building:
                    self._switch(target)
                    self._held = None
            return
        result.failures.extend(self._apply_page(group, events, reached_head))
        result.applied = max(result.applied, len(events))

    def _read(self, position: int, targets: list[Target]) -> list[LoggedEvent]:
        """A page after `position`, decoding only what these read models want when each names the events it reads
        (a read model rebuilt alone, such as the units, wants a tenth of the log)."""
        read_wanted = getattr(self.log, "read_wanted", None)
        handles = [self.store.projections[t.name].handles for t in targets]
        if read_wanted is None or not all(handles):
            return self.log.read(position, self.page_size)
        wanted = tuple({cls for classes in handles for cls in classes})
        found: list[LoggedEvent] = read_wanted(position, self.page_size, wanted)
        return found

    def _index(self, targets: list[Target]) -> None:
        for target in targets:
            if not target.indexed:
                self.store.create_indexes(target.name, target.generation)
                target.indexed = True

    def _switch(self, target: Target) -> None:
        """A generation being built that stands at the head already becomes the live one."""
        with self.store.engine.begin() as conn:
            conn.execute(
                update(STATE)
                .where(STATE.c.name == target.name, STATE.c.building_generation == target.generation)
                .values(live_generation=target.generation, building_generation=None)
            )
        target.building = False

    def catch_up(self, progress: Progress | None = None) -> PassResult:
        """Pass after pass until no read model has anything left to read."""
        total = PassResult()
        while True:
            result = self.run_pass()
            total.failures.extend(result.failures)
            total.applied += result.applied
            if progress is not None and self._held:
                # One figure for all: the read model furthest behind.
                slowest = min(self._held, key=lambda t: t.position)
                progress(slowest.name, slowest.position, self.log.head())
            if not result.applied:
                return total

    def _apply_page(
        self, targets: list[Target], events: list[LoggedEvent], reached_head: bool
    ) -> list[tuple[str, int, str]]:
        """One transaction for every read model standing at this page's start: its rows and its tracking position,
        read model after read model (a commit per read model cost more than their writes on SQLite).

        A read model that cannot apply an event spoils the transaction for all: it is rolled back whole and played
        again, the failing read model only up to just before its failing event and marked failed there, the others
        in full. Each attempt finds at least one more failing read model, so this ends; a failure costs one more
        pass over the page, and failures are rare.
        """
        failed: dict[str, _ApplyFailed] = {}
        while True:
            switched: list[Target] = []
            moves: list[dict[str, Any]] = []
            try:
                with self._transaction() as conn:
                    # Every read model's page worked out first, then all of them written: on SQLite the write lock
                    # is taken at the first write and held until the commit, and a rebuild shared between two
                    # processes (ReadSide.rebuild) would hold it through the Python work of each read model after
                    # the first.
                    worked: list[tuple[Target, Page, list[LoggedEvent], bool]] = []
                    marked: list[tuple[Target, _ApplyFailed]] = []
                    for target in targets:
                        projection = self.store.projections[target.name]
                        tables = self.store.tables(target.name, target.generation)
                        failure = failed.get(target.name)
                        if failure is None:
                            page = self._apply(conn, projection, tables, target, events)
                            worked.append((target, page, events, reached_head))
                            continue
                        done = events[: failure.index]
                        if done:
                            worked.append((target, self._apply(conn, projection, tables, target, done), done, False))
                        marked.append((target, failure))
                    for target, page, applied, at_head in worked:
                        if self._write(conn, page, target, applied, at_head, moves):
                            switched.append(target)
                    for target, failure in marked:
                        conn.execute(
                            update(TRACKING)
                            .where(TRACKING.c.name == target.name, TRACKING.c.generation == target.generation)
                            .values(failed_position=failure.position, error=failure.text, updated_at=time.time())
                        )
                    if conn.dialect.name == "postgresql":
                        # The new positions and the NOTIFY in one statement: a round trip each cost more than a
                        # live pass's rows.
                        conn.execute(*_move_and_notify(moves))
                    elif moves:
                        # Every read model's new position in one statement (a round trip each cost more than
                        # their rows on a live pass of a few events).
                        conn.execute(_MOVE, moves)
            except _ApplyFailed as spoiled:
                if spoiled.name in failed:
                    # Failing again on the events before its failing one: not a failure of one event; give up
                    # this pass (the loop tries again after a pause).
                    raise
                failed[spoiled.name] = spoiled
                continue
            break
        for target in targets:
            failure = failed.get(target.name)
            if failure is not None:
                target.failed = True
                if failure.index:
                    target.position = events[failure.index - 1].position
            else:
                target.position = events[-1].position
        for target in switched:
            target.building = False
        return [(name, f.position, f.text) for name, f in failed.items()]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A transaction on the live loop's connection if it holds one, else on one from the pool."""
        held = self._live_conn
        if held is None:
            with self.store.engine.begin() as conn:
                _widen_cache(conn)
                yield conn
            return
        try:
            with held.begin():
                _widen_cache(held)
                yield held
        except _ApplyFailed:
            raise  # rolled back; the connection is sound
        except BaseException:
            self._drop_live_connection()
            raise

    def _drop_live_connection(self) -> None:
        held, self._live_conn = self._live_conn, None
        if held is not None:
            with contextlib.suppress(Exception):
                held.close()

    def _apply(
        self,
        conn: Connection,
        projection: Projection,
        tables: dict[str, Any],
        target: Target,
        events: list[LoggedEvent],
    ) -> Page:
        """Work out what `events` change in one read model: its page, with every change buffered and nothing
        written yet (unless the read model itself wrote its buffers before a query of its own tables)."""
        page = Page(conn, tables, fresh=target.position == 0)
        wanted = _wanted(projection, events)
        try:
            projection.prepare(page, [logged for _, logged in wanted])
        except Exception as error:
            _raise_if_connection_lost(error)
            # Reading ahead for the whole page: no one event to name.
            raise _ApplyFailed(
                target.name, 0, events[0].position, _describe(events[0], error, whole_page=True)
            ) from error
        for index, logged in wanted:
            try:
                projection.apply(page, logged)
            except Exception as error:
                _raise_if_connection_lost(error)
                raise _ApplyFailed(target.name, index, logged.position, _describe(logged, error)) from error
        try:
            page.settle()
        except Exception as error:
            _raise_if_connection_lost(error)
            # A page-wide handler of the gathered events: the event that failed is not known, so name the page.
            raise _ApplyFailed(
                target.name, 0, events[0].position, _describe(events[0], error, whole_page=True)
            ) from error
        return page

    def _write(
        self,
        conn: Connection,
        page: Page,
        target: Target,
        events: list[LoggedEvent],
        reached_head: bool,
        moves: list[dict[str, Any]],
    ) -> bool:
        """Write one read model's page and add its new tracking position to `moves` (written by the caller in the
        same transaction); True if that made a generation being built the live one (the caller marks it so once the
        transaction has committed)."""
        try:
            page.flush(final=True)
        except Exception as error:
            _raise_if_connection_lost(error)
            # A write refused at the end of the page: the event that caused it is not known, so name the page.
            raise _ApplyFailed(
                target.name, 0, events[0].position, _describe(events[0], error, whole_page=True)
            ) from error
        last = events[-1]
        # When the last event read was recorded (an event left undecoded, as no one here wanted it, has no time:
        # the time recorded before is kept).
        timed = next((logged for logged in reversed(events) if logged.event is not None), None)
        moves.append(
            {
                "t_name": target.name,
                "t_generation": target.generation,
                "t_position": last.position,
                "t_updated_at": time.time(),
                "t_event_time": None if timed is None else timed.timestamp.timestamp(),
            }
        )
        if target.building and target.indexed and reached_head and last.position >= self.log.head():
            conn.execute(
                update(STATE)
                .where(STATE.c.name == target.name, STATE.c.building_generation == target.generation)
                .values(live_generation=target.generation, building_generation=None)
            )
            return True
        return False

    # --- live ----------------------------------------------------------------------------------

    def wake(self, _position: int = 0) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="projections", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.locks.release_all()

    def _loop(self) -> None:
        try:
            self._live_loop()
        finally:
            self._drop_live_connection()

    def _live_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self._live_conn is None:
                    self._live_conn = self.store.engine.connect()
                # Until a pass reads to the head: the wake-up was cleared before it, so a commit made during it
                # sets it again and the wait below returns at once (a pass more only to find nothing new cost a
                # query of the log per wake-up).
                while not self._stop.is_set():
                    result = self.run_pass()
                    if not (result.applied and result.more):
                        break
                self.last_error = None
                self._said = None
            except Exception as error:  # the store went away for a moment: say so, and try again after a pause
                said = _passing_trouble(error, self.poll_seconds)
                if said is None:
                    traceback.print_exc()
                elif said != self._said:
                    # Said in one line, once until it changes: a server restarted or a full disk is the operator's
                    # routine, and a full disk lasts (a traceback per poll buried the log).
                    print(said, file=sys.stderr, flush=True)
                self._said = said
                self.last_error = error
                self._stop.wait(self.poll_seconds)
            self._wake.wait(self.poll_seconds)

    def wait_advanced(self, seen: int, timeout: float) -> None:
        """Block until a pass commits something after the `seen`-th one (`self.commits`), or `timeout` passes."""
        with self._advanced:
            self._advanced.wait_for(lambda: self.commits != seen, timeout)


# A tracking row moved to the end of a page: built once (an expression built per page and read model cost more
# than executing it), executed for every read model of the page at once.
_MOVE = (
    update(TRACKING)
    .where(TRACKING.c.name == bindparam("t_name"), TRACKING.c.generation == bindparam("t_generation"))
    .values(
        position=bindparam("t_position"),
        updated_at=bindparam("t_updated_at"),
        event_time=func.coalesce(bindparam("t_event_time", type_=Float), TRACKING.c.event_time),
    )
)


# PostgreSQL: `_MOVE` for every read model of the page (the arrays, one element each) and the NOTIFY of
# `notify_statement`, as one statement. The UPDATE in WITH runs whether or not the SELECT reads it.
_MOVE_AND_NOTIFY = text(
    f"WITH moved AS (UPDATE {TRACKING.name} AS t SET position = m.position, updated_at = m.updated_at, "
    "event_time = coalesce(m.event_time, t.event_time) "
    "FROM unnest(CAST(:names AS text[]), CAST(:generations AS integer[]), CAST(:positions AS bigint[]), "
    "CAST(:updated AS double precision[]), CAST(:times AS double precision[])) "
    "AS m(name, generation, position, updated_at, event_time) "
    "WHERE t.name = m.name AND t.generation = m.generation RETURNING 1) "
    f"SELECT pg_notify('{READ_MODELS_CHANNEL}', '')"
)


def _move_and_notify(moves: list[dict[str, Any]]) -> tuple[Any, ...]:
    if not moves:
        return (notify_statement(),)
    return (
        _MOVE_AND_NOTIFY,
        {
            "names": [m["t_name"] for m in moves],
            "generations": [m["t_generation"] for m in moves],
            "positions": [m["t_position"] for m in moves],
            "updated": [m["t_updated_at"] for m in moves],
            "times": [m["t_event_time"] for m in moves],
        },
    )


# SQLite's page cache on a connection that writes pages, in KiB (its default is 2,000). A page writes rows all over
# tables keyed by random ids (dossiers, scope rows, closures, words): with the default, most of those writes
# evicted a page the next one read again, and a rebuild of 100,000 events spent a tenth of its CPU time there.
# Set on the connections the runner writes pages on (a few; a reader that takes one from the pool later keeps it),
# not on every connection of a pool of readers.
PAGE_CACHE_KIB = 64 * 1024


def _widen_cache(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        return
    info = conn.connection.info
    if not info.get("dossierflow_page_cache"):
        conn.exec_driver_sql(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        info["dossierflow_page_cache"] = True


def _wanted(projection: Projection, events: list[LoggedEvent]) -> list[tuple[int, LoggedEvent]]:
    """The events of a page `projection` wants, with their index in the page. By the default `wants`, decided once
    per event class (an isinstance per event and read model cost more than some read models' own work)."""
    if type(projection).wants is not Projection.wants:
        return [(i, logged) for i, logged in enumerate(events) if projection.wants(logged.event)]
    handles = projection.handles
    if not handles:
        return list(enumerate(events))
    known: dict[type, bool] = {}
    found = []
    for i, logged in enumerate(events):
        kind = type(logged.event)
        wants = known.get(kind)
        if wants is None:
            wants = known[kind] = issubclass(kind, handles)
        if wants:
            found.append((i, logged))
    return found


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a page is read and applied. A page's events, rows and buffers (hundreds of
    thousands of objects on a full page) live until its end, so the collector promoted them and walked them again and
    again: a fifth of a rebuild's CPU time. They are freed by their reference counts when the page is done; what
    cycles a page makes are collected after it, as usual. The collector is process-wide: it is turned back on only
    by whoever turned it off."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class _ApplyFailed(Exception):
    def __init__(self, name: str, index: int, position: int, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.index = index
        self.position = position
        self.text = text


def _raise_if_connection_lost(error: Exception) -> None:
    """A connection lost under a read model, or a database out of room (a full disk), is no fault of its events: the
    pass fails as a whole and is tried again (on a new connection), rather than the read model being stopped at an
    event it can apply, to stay stopped, once the disk has room again, until someone runs `projections retry`."""
    if isinstance(error, DBAPIError) and (error.connection_invalidated or out_of_room(error)):
        raise error


def _passing_trouble(error: Exception, poll_seconds: float) -> str | None:
    """One line for the trouble a live runner outlasts by trying again (None for anything else: a defect)."""
    if not isinstance(error, DBAPIError):
        return None
    if out_of_room(error):
        return f"the read models cannot be written: {error.orig}; trying again every {poll_seconds:g} s"
    if error.connection_invalidated:
        return f"the read models' database connection was lost: {error.orig}; trying again every {poll_seconds:g} s"
    return None


def out_of_room(error: DBAPIError) -> bool:
    """SQLite's SQLITE_FULL, or PostgreSQL's class 53 (insufficient resources: disk full, out of memory, too many
    connections)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith("53")
    return "database or disk is full" in str(error.orig)


def _describe(logged: LoggedEvent, error: BaseException, *, whole_page: bool = False) -> str:
    what = type(logged.event).__qualname__
    where = "the page starting at" if whole_page else "event"
    return f"{type(error).__name__}: {error} ({where} {logged.position}, {what} of {logged.originator_id})"


def close_quietly(runner: Runner) -> None:
    with contextlib.suppress(Exception):
        runner.stop()
