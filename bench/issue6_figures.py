"""The figures of issue 6 (the read side), on SQLite and PostgreSQL side by side, on a national-scale log.

    .venv/bin/python bench/issue6_figures.py [--quick] [--store DIR_OR_URL ...] [--no-postgres]
                                             [--skip-rebuild] [--stream-seconds 20] [--rate 200]

--store (repeatable): a SQLite data directory or a postgresql:// URL holding a log made by bench/big_log.py.
By default: a SQLite store and a PostgreSQL database under the temporary directory, made by big_log.py if they
are empty (about 3 million events; --quick: about 100,000). The read models are those of
`projections.catalog.all_projections()`: whatever it returns; with none, the figures say so.

1. rebuild events/s ÷ merely reading and decoding the same events: `ReadSide.rebuild()` of every read model over the
   whole log, its reads timed from inside (the log it reads through is wrapped), so the ratio is the share of the
   rebuild's time that is reading and decoding; and, as a cross-check, a bare loop of `RecorderLog.read(after, 500)`
   over the first events, timed before and after the rebuild. The rebuild shares its read models with a helper
   process (as `dossierflow projections rebuild` does): the reads timed are this process's, and the CPU time
   printed is both processes'.
2. the lag from a command's commit to its rows, p99, while commands stream in at --rate a second: the runner in
   this process (`ReadSide.start()`, woken by `engine.on_commit`; on PostgreSQL also by NOTIFY), --writers threads
   recording answers on editable dossiers on one schedule (each takes the next command due), and a watcher process
   polling the read models' positions from its own connection: a command's lag runs from the moment its commit
   returned to the moment the watcher saw every live read model at its position. Beside it: the commands a second
   actually offered, how many were more than 50 ms late, and the runner thread's CPU time a command. On PostgreSQL
   the watcher looks when the runner's NOTIFY of a committed page arrives (and every 50 ms besides), not every
   millisecond: polling competed for the CPU with the runner and the writers it measures.
3. the statistics of the province for the year, and a person's queues (the province's approver, whose queues span
   every dossier below it, and a district's reviewer), each query timed over repeated calls (median and worst).
4. `dossierflow status` and `dossierflow units` against the store, as subprocesses (median of 3 runs, wall clock).

Figures, not pass/fail: the wanted bound is printed beside each.
"""

from __future__ import annotations

import argparse
import bisect
import importlib
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Integer, MetaData, String, Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DATA, DEFAULT_POSTGRES_URL, BenchStore, open_bench_store, timed_calls
from big_log import DEFAULT_EVENTS, MANIFEST, QUICK_EVENTS

from domain.actor import Actor
from domain.dossier import Dossier
from domain.errors import DomainError
from domain.ids import dossier_id, person_id, unit_id
from domain.values import DossierState, Role
from projections.catalog import all_projections
from projections.core import LoggedEvent, Page, Projection
from projections.log import RecorderLog, open_application_log
from projections.readside import ReadSide
from projections.runner import PassResult, Runner
from projections.store import ReadModelStore, make_engine, read_models_url
from workflow.engine import Engine
from workflow.store import is_postgres_url
from workflow.store.application import StoreApplication

YEAR = 2024
ROOT = Path(__file__).resolve().parent.parent
DOSSIERFLOW = Path(sys.executable).with_name("dossierflow")


# --- the read side, wired as the app wires it (web/readside.py; nothing outside web/ imports web/) --------------------


class TimedLog:
    """A log whose reads (select and decode) are timed: what the rebuild spends merely reading."""

    def __init__(self, log: RecorderLog) -> None:
        self.log = log
        self.seconds = 0.0
        self.events = 0

    def read(self, after: int, limit: int) -> list[LoggedEvent]:
        started = time.perf_counter()
        found = self.log.read(after, limit)
        self.seconds += time.perf_counter() - started
        self.events += len(found)
        return found

    def head(self) -> int:
        return self.log.head()

    def time_at(self, position: int) -> Any:
        return self.log.time_at(position)


class EventCounts(Projection):
    """The cheapest read model there is (a count per event class): --probe runs the bench with it alone, to see
    the runner's own costs, or to try the bench before the read models land."""

    name = "bench_event_counts"

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        return {
            "counts": Table(
                "bench_event_counts" + suffix,
                metadata,
                Column("topic", String(200), primary_key=True),
                Column("n", Integer, nullable=False),
            )
        }

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        page.counters("counts").add((type(logged.event).__qualname__,), n=1)


PROBE = False


def projections() -> list[Projection]:
    if PROBE:
        return [EventCounts()]
    return all_projections() or merged_read_models()


def merged_read_models() -> list[Projection]:
    """The read models of projections/models, for as long as the catalog does not list them yet."""
    found: list[Projection] = []
    for module, name in (
        ("units", "UnitsProjection"), ("dossiers", "DossiersProjection"), ("access", "AccessProjection"),
        ("statistics", "StatisticsProjection"), ("audit", "AuditProjection"),
    ):
        cls = _function(f"projections.models.{module}", name)
        if cls is not None:
            found.append(cls())
    return found


def read_side(bench: BenchStore, engine: Engine, log: Any | None = None, poll_seconds: float = 1.0) -> ReadSide:
    url = read_models_url(bench.database_url, bench.data_dir)
    postgres = bench.database_url is not None and is_postgres_url(bench.database_url)
    return ReadSide(
        make_engine(url, derived=True),
        projections(),
        log or RecorderLog(engine.recorder, engine.mapper),
        sqlite_file=None if postgres else bench.data_dir / "read-models.sqlite",
        postgres_url=url if postgres else None,
        events_channel=getattr(engine.recorder, "channel_name", None) if postgres else None,
        poll_seconds=poll_seconds,
        log_opener=partial(open_application_log, StoreApplication, dict(engine.env)),
    )


def serve_read_side(spec: str, poll_seconds: float) -> None:
    """The runner in a process of its own (as `dossierflow projections run`), until its standard input closes: woken
    by PostgreSQL's NOTIFY of each commit, or on SQLite by its poll alone."""
    bench = open_bench_store(spec)
    engine = bench.engine()
    side = read_side(bench, engine, poll_seconds=poll_seconds)
    try:
        side.start()
        print("ready", flush=True)
        sys.stdin.read()
    finally:
        side.close()
        engine.close()


# --- figures ------------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    backend: str
    events: int = 0
    values: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, figure: str, value: str) -> None:
        # The machine is shared: the load average beside each figure says how much its neighbours weighed on it.
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        self.values[figure] = f"{value} [load {load}]"
        print(f"    {figure}: {self.values[figure]}", flush=True)


REBUILD = "rebuild ÷ read and decode"
LAG = "lag commit → rows, p99"
STATS = "statistics of the province"
QUEUES = "a person's queues"
STATUS = "`dossierflow status`"
UNITS = "`dossierflow units`"
WANTED = {REBUILD: "≥ 0.5", LAG: "< 50 ms", STATS: "< 100 ms", QUEUES: "< 100 ms each", STATUS: "< 1 s",
          UNITS: "< 1 s"}


@dataclass
class RebuildTimes:
    """Where a rebuild's seconds went (wall clock), measured a page at a time, never an event at a time (a timer
    around each `apply` cost more than some read models' work, and missed what they do in `prepare` and at the
    page's flush, where the audit and statistics read models handle their whole page and every row is written)."""

    # Per read model: its whole share of each page (prepare, apply, flush, its tracking row), and of that the flush.
    pages: dict[str, float] = field(default_factory=dict)
    flushes: dict[str, float] = field(default_factory=dict)
    indexes: float = 0.0
    generations: float = 0.0


@contextmanager
def timed_rebuild(side: ReadSide) -> Iterator[RebuildTimes]:
    """Time the parts of `side`'s rebuild, by wrapping the runner's and the page's methods for as long as it runs."""
    times = RebuildTimes()
    current: list[str] = []
    apply_page, write, flush = Runner._apply, Runner._write, Page.flush
    index, start = Runner._index, ReadModelStore.start_building

    def timed_apply(runner: Runner, conn: Any, projection: Projection, *args: Any) -> Page:
        current.append(projection.name)
        started = time.perf_counter()
        try:
            return apply_page(runner, conn, projection, *args)
        finally:
            current.pop()
            times.pages[projection.name] = times.pages.get(projection.name, 0.0) + time.perf_counter() - started

    def timed_write(runner: Runner, conn: Any, page: Page, target: Any, *args: Any) -> bool:
        current.append(target.name)
        started = time.perf_counter()
        try:
            return write(runner, conn, page, target, *args)
        finally:
            current.pop()
            times.pages[target.name] = times.pages.get(target.name, 0.0) + time.perf_counter() - started

    def timed_flush(page: Page, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            flush(page, **kwargs)
        finally:
            if current:
                times.flushes[current[-1]] = times.flushes.get(current[-1], 0.0) + time.perf_counter() - started

    def timed_index(runner: Runner, targets: Any) -> None:
        started = time.perf_counter()
        try:
            index(runner, targets)
        finally:
            times.indexes += time.perf_counter() - started

    def timed_start(store: ReadModelStore, name: str) -> int:
        started = time.perf_counter()
        try:
            return start(store, name)
        finally:
            times.generations += time.perf_counter() - started

    Runner._apply = timed_apply  # type: ignore[method-assign]
    Runner._write = timed_write  # type: ignore[method-assign]
    Page.flush = timed_flush  # type: ignore[method-assign]
    Runner._index = timed_index  # type: ignore[method-assign]
    ReadModelStore.start_building = timed_start  # type: ignore[method-assign]
    try:
        yield times
    finally:
        Runner._apply = apply_page  # type: ignore[method-assign]
        Runner._write = write  # type: ignore[method-assign]
        Page.flush = flush  # type: ignore[method-assign]
        Runner._index = index  # type: ignore[method-assign]
        ReadModelStore.start_building = start  # type: ignore[method-assign]


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def read_loop(log: RecorderLog, events: int, page: int = 500) -> tuple[int, float]:
    """Events read and decoded from the start, and the seconds it took."""
    started, after, done = time.perf_counter(), 0, 0
    while done < events:
        found = log.read(after, min(page, events - done))
        if not found:
            break
        done += len(found)
        after = found[-1].position
    return done, time.perf_counter() - started


def rebuild_figure(
    bench: BenchStore, engine: Engine, figures: Figures, sample: int, skip: bool, helper_process: bool = True
) -> None:
    plain = RecorderLog(engine.recorder, engine.mapper)
    timed = TimedLog(plain)
    side = read_side(bench, engine, timed)
    if not helper_process:
        side.log_opener = None  # every read model rebuilt in this process, as before the helper
    try:
        names = list(side.store.projections)
        if not names:
            figures.put(REBUILD, "no read models in the catalog yet")
            return
        head = plain.head()
        if skip:
            # The queries and the lag catch the read models up first (through the live generation, no rebuild).
            figures.put(REBUILD, "not measured (--skip-rebuild)")
            return
        before = read_loop(plain, sample)
        shown = [time.perf_counter()]

        def progress(name: str, position: int, total: int) -> None:
            now = time.perf_counter()
            if now - shown[0] >= 10:
                shown[0] = now
                rate = timed.events / max(1e-9, now - started)
                print(f"      rebuild: {position:,} of {total:,} events, {rate:,.0f} events/s", flush=True)

        started, cpu, helper = time.perf_counter(), time.process_time(), _children_cpu()
        with timed_rebuild(side) as times:
            result = side.rebuild(progress=progress)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        # A rebuild shares its read models with a helper process: its CPU time counts too.
        helper = _children_cpu() - helper
        after = read_loop(plain, sample)
        for name, position, error in result.failures:
            figures.notes.append(f"{name} failed at event {position}: {error.splitlines()[0][:160]}")
        rebuild_rate = head / seconds
        inside_rate = timed.events / timed.seconds if timed.seconds else float("nan")
        bare_rate = (before[0] + after[0]) / (before[1] + after[1])
        figures.put(
            REBUILD,
            f"{rebuild_rate / inside_rate:.2f} ({rebuild_rate:,.0f} events/s rebuilding {len(names)} read models "
            f"over {head:,} events in {seconds:,.1f} s, CPU {cpu + helper:,.1f} s (of which a helper process "
            f"{helper:,.1f} s); reading and decoding inside it "
            f"{inside_rate:,.0f}/s; "
            f"a bare read loop {bare_rate:,.0f}/s, ratio to it {rebuild_rate / bare_rate:.2f})",
        )
        if result.failures:
            figures.notes.append(f"rebuild failures: {len(result.failures)}")
        pages = sum(times.pages.values())
        helped = [name for name in names if name not in times.pages]
        rest = seconds - timed.seconds - pages - times.indexes - times.generations
        figures.notes.append(
            f"rebuild, where its {seconds:,.1f} s went (wall): reading and decoding {timed.seconds:,.1f}; each read "
            "model's pages in this process (prepare, apply, the page-wide handlers, and of that the flush: every "
            "write) "
            + ", ".join(
                f"{name} {spent:,.1f} (flush {times.flushes.get(name, 0.0):,.1f})"
                for name, spent in times.pages.items()
            )
            + f"; secondary indexes {times.indexes:,.1f}; new generations (dropping the one before) "
            f"{times.generations:,.1f}; the rest (commits, tracking, the runner, waiting for the helper) {rest:,.1f}"
            + (f"; rebuilt meanwhile by the helper process (not timed here): {', '.join(helped)}" if helped else "")
        )
    finally:
        side.close()
        side.store.engine.dispose()


# --- 2. lag under a stream of commands ------------------------------------------------------------------------------


def editable_dossiers(bench: BenchStore, engine: Engine, wanted: int) -> list[tuple[UUID, Actor, Dossier]]:
    """Dossiers a secretary may still edit, with that secretary: from the generator's manifest, checked."""
    manifest_path = bench.data_dir / MANIFEST
    candidates: list[tuple[str, str]] = []
    if manifest_path.exists():
        candidates = [tuple(pair) for pair in json.loads(manifest_path.read_text())["editable"]]  # type: ignore[misc]
    else:
        candidates = list(_probe_codes())
    found: list[tuple[UUID, Actor, Dossier]] = []
    for did_text, code in candidates:
        did = UUID(did_text) if did_text else dossier_id(unit_id(code), YEAR)
        try:
            dossier = engine.dossier(did)
        except DomainError:
            continue
        if dossier.answers and dossier.state in (DossierState.DRAFT, DossierState.RETURNED_TO_UNIT):
            found.append((did, Actor(person_id(f"bt-{code}"), Role.SECRETARY, dossier.unit_id), dossier))
            if len(found) >= wanted:
                break
    return found


def _probe_codes() -> Iterator[tuple[str, str]]:
    """Unit codes as big_log.py makes them, for a log made before it wrote a manifest."""
    for g in range(1, 2000):
        for d in range(1, 61):
            code = f"h{d:02d}-{g:04d}"
            yield "", code
            for c in range(1, 17):
                yield "", f"{code}-{c:02d}"


_LIVE_POSITION = (
    "SELECT min(t.position) FROM projection_tracking t JOIN projection_state s "
    "ON s.name = t.name AND s.live_generation = t.generation"
)


def _now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def watch_tracking(url: str, interval: float) -> None:
    """The reader of the lag figure, as a process of its own (--watch-tracking): reads the lowest position of the
    live read models from its own connection (every `interval`; on PostgreSQL when a page's NOTIFY arrives) until
    it has seen the position given on its standard input (or 30 s more have passed), then prints each rise with the
    moment it was seen (CLOCK_MONOTONIC, the clock of every process of the machine) as JSON lines. In the
    benchmark's process it waited for the interpreter lock behind the writers and the runner, and counted that wait
    as lag."""
    stop = threading.Event()
    # The last position to see, given on the standard input once the stream is over (0: stop at once).
    until = [sys.maxsize]

    def read_until() -> None:
        line = sys.stdin.readline()
        until[0] = int(line) if line.strip() else 0
        stop.set()

    threading.Thread(target=read_until, daemon=True).start()
    seen: list[tuple[int, float]] = []
    engine = make_engine(url)
    notified: Any = None
    if engine.dialect.name == "postgresql":
        # Every runner NOTIFYs in the transaction of each page it commits, so the notification arrives when the new
        # positions are visible: the watcher looks then (and every 50 ms besides), instead of a query every
        # millisecond, whose process and server backend competed for the machine's 2 cores with what it measures
        # (the watcher alone: 0.13 s CPU a second polling, about none waiting).
        import psycopg

        from projections.wakeup import READ_MODELS_CHANNEL, libpq_url

        notified = psycopg.connect(libpq_url(url), autocommit=True)
        notified.execute(f"LISTEN {READ_MODELS_CHANNEL}")
    with engine.connect() as conn:
        print("ready", flush=True)
        last, deadline = -1, float("inf")
        while last < until[0] and _now() < deadline:
            position = int(conn.exec_driver_sql(_LIVE_POSITION).scalar() or 0)
            now = _now()
            conn.rollback()  # a fresh snapshot for the next look
            if position > last:
                seen.append((position, now))
                last = position
            if stop.is_set() and deadline == float("inf"):
                deadline = now + 30
            if notified is None:
                time.sleep(interval)
            else:
                for _ in notified.notifies(timeout=0.05, stop_after=1):
                    pass
    if notified is not None:
        notified.close()
    engine.dispose()
    for position, at in seen:
        print(json.dumps([position, at]))


class TrackingPoller:
    """The watcher process of `watch_tracking`, and what it saw: the moment each position became visible to a reader
    on another connection, looked up afterwards."""

    def __init__(self, url: str, interval: float = 0.001) -> None:
        self.url = url
        self.interval = interval
        self.seen: list[tuple[int, float]] = []
        self._child: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._child = subprocess.Popen(
            [sys.executable, __file__, "--watch-tracking", self.url, "--poll", str(self.interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        assert self._child.stdout is not None
        self._child.stdout.readline()  # "ready"

    def stop(self, last: int) -> None:
        """Once the watcher has seen `last` (or 30 s more have passed)."""
        assert self._child is not None
        out, _ = self._child.communicate(f"{last}\n", timeout=60)
        self.seen = [(int(p), float(at)) for p, at in (json.loads(line) for line in out.splitlines() if line)]

    def visible_at(self, position: int) -> float | None:
        index = bisect.bisect_left(self.seen, (position, float("-inf")))
        return self.seen[index][1] if index < len(self.seen) else None


def lag_figure(
    bench: BenchStore, engine: Engine, figures: Figures, seconds: float, rate: float, writers: int, group: int,
    runner_process: float | None = None,
) -> None:
    """Commands streamed at `rate` a second by `writers` threads of this process (the app's own process: on SQLite
    the runner is woken by the commits of its process), the runner feeding the read models meanwhile; the lag of a
    command is from the moment its commit returned to the moment a reader on another connection sees every live read
    model at its position. With `group` > 1, each commit carries that many commands (each on its own dossier, done
    by the domain as the engine's command does, authorized by the engine, saved together), for a store whose commits
    cannot come 200 times a second on this machine's disk. With `runner_process` (its poll interval), the runner is
    a process of its own, as PostgreSQL deployments run it, with its own interpreter lock."""
    side = read_side(bench, engine)
    try:
        if not side.store.projections:
            figures.put(LAG, "no read models in the catalog yet")
            return
        print("    catching up before the stream…", flush=True)
        side.catch_up()
        targets = editable_dossiers(bench, engine, max(200, 4 * writers * group))
        if len(targets) < writers * group:
            figures.put(LAG, f"only {len(targets)} editable dossiers found in the log")
            return
        commits: dict[int, float] = {}
        commit_lock = threading.Lock()

        def committed(position: int) -> None:
            now = _now()
            with commit_lock:
                commits[position] = now

        engine.on_commit.append(committed)
        child: subprocess.Popen[str] | None = None
        # The runner's own work: its thread's CPU time, passes and events, to tell what it adds to each command.
        spent = {"cpu": 0.0, "passes": 0, "events": 0}
        if runner_process is None:
            runner = side.start()
            run_pass = runner.run_pass

            def counted_pass() -> PassResult:
                before = time.thread_time()
                result = run_pass()
                spent["cpu"] += time.thread_time() - before
                if result.applied:
                    spent["passes"] += 1
                    spent["events"] += result.applied
                return result

            runner.run_pass = counted_pass  # type: ignore[method-assign]
            engine.on_commit.append(runner.wake)
        else:
            spec = bench.database_url or str(bench.data_dir)
            child = subprocess.Popen(
                [sys.executable, __file__, "--serve-read-side", spec, "--poll", str(runner_process)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            )
            assert child.stdout is not None
            child.stdout.readline()  # "ready"
        poller = TrackingPoller(read_models_url(bench.database_url, bench.data_dir))
        poller.start()
        ticks = int(seconds * rate / group)
        errors: list[str] = []
        done = [0] * writers
        late = [0] * writers
        # One schedule for all writers: each takes the next tick due, so one slow commit (a long fsync) delays only
        # its own command, not every later tick dealt to its thread in advance.
        schedule = itertools.count()
        schedule_lock = threading.Lock()

        def write(w: int) -> None:
            while True:
                with schedule_lock:
                    tick = next(schedule)
                if tick >= ticks:
                    return
                due = started + tick * group / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                elif pause < -0.05:
                    late[w] += 1
                # Consecutive ticks take different dossiers (more of them than commands in flight), so two writers
                # never command the same dossier at once.
                batch = [targets[(tick * group + k) % len(targets)] for k in range(group)]
                try:
                    command(engine, batch, tick)
                    done[w] += group
                except Exception as error:  # a figure, not a test: count it and go on
                    errors.append(f"{type(error).__name__}: {error}")

        started = time.perf_counter()
        threads = [threading.Thread(target=write, args=(w,), name=f"lag-writer-{w}") for w in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        last = max(commits) if commits else 0
        poller.stop(last)
        if child is not None:
            child.communicate(timeout=30)
        lags, missed = [], 0
        for position, at in commits.items():
            visible = poller.visible_at(position)
            if visible is None:
                missed += 1
            else:
                # Every command of a commit became visible with it.
                lags.extend([max(0.0, visible - at)] * group)
        if not lags:
            figures.put(LAG, f"no command reached its rows ({missed} not seen in 30 s; errors {errors[:3]})")
            return
        lags.sort()
        p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
        figures.put(
            LAG,
            f"{1000 * p99:.1f} ms (p50 {1000 * statistics.median(lags):.1f} ms, max {1000 * lags[-1]:.1f} ms; "
            f"{sum(done):,} commands at {sum(done) / elapsed:,.0f}/s in {len(commits):,} commits "
            f"({len(commits) / elapsed:,.0f}/s), {writers} writer threads, {group} command(s) a commit, the runner "
            + ("in this process" if runner_process is None else f"in a process of its own (poll {runner_process} s)")
            + (
                f"; the runner's thread {1000 * spent['cpu'] / max(1, sum(done)):.1f} ms CPU a command, "
                f"{spent['passes']:,} passes of {spent['events'] / max(1, spent['passes']):.1f} events on average"
                if spent["passes"] else ""
            )
            + (f"; {missed} not seen in 30 s" if missed else "")
            + (f"; {sum(late)} commits more than 50 ms late" if sum(late) else "")
            + (f"; {len(errors)} refused ({errors[0][:80]})" if errors else "")
            + ")",
        )
    finally:
        side.close()
        side.store.engine.dispose()


def command(engine: Engine, batch: Sequence[tuple[UUID, Actor, Dossier]], tick: int) -> None:
    """One engine command (a batch of one), or a batch of commands saved in one commit."""
    if len(batch) == 1:
        did, secretary, dossier = batch[0]
        engine.record_answers(secretary, did, answers={_first(dossier): _changed(dossier, tick)})
        return
    changed = []
    for did, secretary, dossier in batch:
        # What Engine.record_answers does (its authorization and the dossier's own rules), minus the answers' checks
        # against the rule set (the same answer, a new comment); saved with the others of the batch.
        current, _, _, moment, _, actor = engine._act(secretary, did, "record_answers", None)
        current.record_answers(
            engine.workflow, answers={_first(dossier): _changed(dossier, tick)}, facts={}, actor=actor,
            timestamp=moment,
        )
        changed.append(current)
    engine._save(*changed)


def _first(dossier: Dossier) -> str:
    return next(iter(dossier.answers))


def _changed(dossier: Dossier, tick: int) -> Any:
    # A new comment each time, so that every command records an event.
    return replace(dossier.answers[_first(dossier)], comment=f"Cập nhật lần {tick} của đợt đo")


# --- 3. queries -------------------------------------------------------------------------------------------------------


def _function(module: str, name: str) -> Callable[..., Any] | None:
    try:
        return getattr(importlib.import_module(module), name, None)  # type: ignore[no-any-return]
    except ImportError:
        return None


def query_figures(bench: BenchStore, engine: Engine, figures: Figures, repeat: int) -> None:
    side = read_side(bench, engine)
    try:
        store = side.store
        if not store.projections:
            figures.put(STATS, "no read models in the catalog yet")
            figures.put(QUEUES, "no read models in the catalog yet")
            return
        side.catch_up()
        province = unit_id("tinh")
        stats = _function("projections.models.statistics", "statistics")
        if stats is None:
            figures.put(STATS, "no statistics query (projections.models.statistics.statistics) yet")
        else:
            median, worst = timed_calls(lambda: stats(store, province, YEAR), repeat)
            figures.put(STATS, f"{1000 * median:.1f} ms (worst of {repeat} {1000 * worst:.1f} ms)")
        queues = _function("projections.models.access", "queues")
        if queues is None:
            figures.put(QUEUES, "no queues query (projections.models.access.queues) yet")
            return
        today = date.today()
        rules = _waiting_rules()
        parts = []
        for who, username in (("province approver", "tv-tinh"), ("district reviewer", "tc-h01")):
            pid = person_id(username)
            median, worst = timed_calls(lambda pid=pid: queues(store, pid, today, rules), repeat)
            found = queues(store, pid, today, rules)
            waiting = sum(getattr(q, "count", 0) for q in found)
            parts.append(f"{who} {1000 * median:.1f} ms (worst {1000 * worst:.1f} ms, {waiting:,} waiting)")
        figures.put(QUEUES, "; ".join(parts))
    finally:
        side.close()
        side.store.engine.dispose()


def _waiting_rules() -> Any:
    """The workflow spec as the queues read model takes it: plain data (its docstring's recipe)."""
    from workflow.spec import CURRENT_VERSION, Scope, spec_for

    build = _function("projections.models.access", "waiting_rules_from")
    if build is None:
        return ()
    spec = spec_for(CURRENT_VERSION)
    scopes = {Scope.OWN_UNIT: "own", Scope.DIRECT_SUPERIOR: "direct", Scope.ANY_SUPERIOR: "any"}
    return build(
        (r.trigger, r.role, scopes[r.scope], frozenset(s for s in DossierState if r.trigger in spec.triggers_from(s)),
         r.independent, r.when_closed_from)
        for r in spec.rules.values()
    )


# --- 4. the CLI -------------------------------------------------------------------------------------------------------


def cli_figure(bench: BenchStore, figures: Figures, command: str, label: str, timeout: float) -> None:
    env = bench.cli_env()
    times, cpu = [], []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [str(DOSSIERFLOW), command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            figures.put(label, f"more than {timeout:.0f} s (stopped)")
            return
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The process's own work (user + system CPU), which a loaded machine's queue for the CPU does not inflate.
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            figures.put(label, f"failed ({done.returncode}): {(done.stderr or done.stdout).strip()[:200]}")
            return
    lines = len(done.stdout.splitlines())
    figures.put(
        label,
        f"{statistics.median(times):.2f} s (median of 3; CPU {statistics.median(cpu):.2f} s; {lines:,} lines)",
    )


# --- the run --------------------------------------------------------------------------------------------------------


def default_stores(quick: bool, postgres: str | None) -> list[str]:
    name = "quick" if quick else "big"
    stores = [str(BENCH_DATA / f"{name}-sqlite")]
    if postgres:
        base = postgres.rsplit("/", 1)[0]
        stores.append(f"{base}/dossierflow_bench_{name}")
    return stores


def ensure_generated(bench: BenchStore, spec: str, events: int) -> None:
    engine = bench.engine(read_only=False)
    try:
        empty = engine.is_empty()
    finally:
        engine.close()
    if empty:
        print(f"  {bench.describe()} is empty: generating about {events:,} events (bench/big_log.py)", flush=True)
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("big_log.py")), "--store", spec, "--events", str(events)]
            + (["--data-dir", str(bench.data_dir)] if bench.database_url else []),
            check=True,
        )


def measure(spec: str, args: argparse.Namespace) -> Figures:
    bench = open_bench_store(spec)
    ensure_generated(bench, spec, QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    figures = Figures(bench.backend)
    print(f"  [{bench.backend}] {bench.describe()}", flush=True)
    engine = bench.engine()
    try:
        figures.events = engine.recorder.max_notification_id() or 0
        print(f"    {figures.events:,} events; read models: "
              + (", ".join(p.name for p in projections()) or "none in the catalog"), flush=True)
        rebuild_figure(bench, engine, figures, args.read_sample, args.skip_rebuild, not args.no_helper)
        query_figures(bench, engine, figures, args.repeat)
        if not args.skip_lag:
            lag_figure(
                bench, engine, figures, args.stream_seconds, args.rate, args.writers, args.group, args.runner_process
            )
    finally:
        engine.close()
    if args.skip_cli:
        pass
    elif all_projections() or args.cli_anyway:
        # The CLI reads the catalog's read models (not the probe's).
        cli_figure(bench, figures, "status", STATUS, args.cli_timeout)
        cli_figure(bench, figures, "units", UNITS, args.cli_timeout)
    else:
        for label in (STATUS, UNITS):
            figures.put(label, "not measured: no read models in the catalog, so the CLI reads the log (--cli-anyway)")
    return figures


def print_table(results: Sequence[Figures]) -> None:
    print()
    width = 34
    print(f"| {'figure':<{width}} | " + " | ".join(f"{f.backend} ({f.events:,} events)" for f in results)
          + " | wanted |")
    print(f"| {'-' * width} | " + " | ".join("---" for _ in results) + " | --- |")
    for label, wanted in WANTED.items():
        cells = [f.values.get(label, "—") for f in results]
        print(f"| {label:<{width}} | " + " | ".join(cells) + f" | {wanted} |")
    for f in results:
        for note in f.notes:
            print(f"  note ({f.backend}): {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"stores of about {QUICK_EVENTS:,} events")
    parser.add_argument("--store", action="append", default=None, help="a SQLite directory or a PostgreSQL URL")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL, help="the server for the default stores")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--skip-rebuild", action="store_true", help="keep read models already up to date")
    parser.add_argument(
        "--skip-lag", action="store_true", help="no stream of commands (it adds events to the store: a shared log)"
    )
    parser.add_argument("--skip-cli", action="store_true", help="no `dossierflow status` and `units`")
    parser.add_argument(
        "--no-helper", action="store_true", help="rebuild every read model in this process (no helper process)"
    )
    parser.add_argument("--read-sample", type=int, default=200_000, help="events of the bare read loop")
    parser.add_argument("--stream-seconds", type=float, default=None, help="default 20 (quick: 5)")
    parser.add_argument("--rate", type=float, default=200.0, help="commands a second in the lag figure")
    parser.add_argument("--writers", type=int, default=4, help="threads sending the commands")
    parser.add_argument(
        "--runner-process", type=float, default=None, metavar="POLL_SECONDS",
        help="the lag with the runner in a process of its own, polling at this interval besides NOTIFY",
    )
    parser.add_argument("--serve-read-side", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--watch-tracking", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--group", type=int, default=1, help="commands a commit (1: each an engine command)")
    parser.add_argument("--repeat", type=int, default=20, help="calls of each query")
    parser.add_argument("--cli-timeout", type=float, default=120.0)
    parser.add_argument("--cli-anyway", action="store_true", help="time the CLI even with no read models")
    parser.add_argument("--probe", action="store_true", help="one trivial read model instead of the catalog's")
    args = parser.parse_args()
    if args.serve_read_side:
        serve_read_side(args.serve_read_side, args.poll)
        return
    if args.watch_tracking:
        watch_tracking(args.watch_tracking, args.poll)
        return
    global PROBE
    PROBE = args.probe
    args.stream_seconds = args.stream_seconds or (5.0 if args.quick else 20.0)
    stores = args.store or default_stores(args.quick, None if args.no_postgres else args.postgres)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    results = [measure(spec, args) for spec in stores]
    print_table(results)


if __name__ == "__main__":
    main()
