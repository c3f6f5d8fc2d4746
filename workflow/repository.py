"""The engine's aggregate cache: shared by every thread of one Engine, coherent with the store at one query a command.

Why not the library's cache (``AGGREGATE_CACHE_MAXSIZE`` with ``AGGREGATE_CACHE_FASTFORWARD``): it fast-forwards a
cached aggregate in place, which costs a query per aggregate per read (an approval read the store 7 times), and
deep-copies it outside the lock that guards the fast-forward, so a thread copying while another fast-forwards gets
``RuntimeError: dictionary changed size during iteration``, or a torn copy. Here:

* **Cached aggregates are never changed.** An entry is replaced whole by a newer version, or evicted; so any
  thread may copy one at any time. Every reader that may command an aggregate gets its own copy
  (:func:`domain.copying.copy_aggregate`, one container level deep, cheap); read-only lookups (authorization, the
  hierarchy) share the cached instance and must not change it.
* **Only what the store holds enters the cache.** A command's own changes reach the cache after its save succeeds
  (:meth:`CachingRepository.saved`); a refused command, or one whose save collides, leaves no trace (its ids are
  evicted on a collision, so the retry reads afresh).
* **One query a use case keeps it coherent.** Each use case begins with :meth:`CachingRepository.begin`; its first
  read then asks the store for the notifications after the last one seen, and evicts each cached aggregate that
  another writer (another process, or a thread whose save has not reached the cache yet) moved past. Aggregates the
  command only reads (a person's grants, a period's closed flag, a unit's place) are therefore as fresh as the
  command's start, across processes too; aggregates it saves are protected besides by the store's optimistic
  concurrency.
* **A load that raced a sync is not cached.** A generation counter moves whenever a sync sees a change to an
  aggregate it does not hold; a load that began before the move may have read what the sync saw replaced, so it is
  returned but not cached. A save that began before it is cached unless a sync has read past the save's own
  events and found there a newer version of what was saved.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProjectorFunction, Repository, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, EventStore

from domain.copying import copy_aggregate
from workflow.store.chain import HashChainedRecorder

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

# Beyond this many notifications behind, dropping the whole cache is cheaper than reading the tail.
MAX_TAIL = 5000
TAIL_PAGE = 500


def _project(aggregate: Aggregate | None, domain_events: Iterable[Any]) -> Aggregate | None:
    """The library's project_aggregate without its `assert isinstance(event, CanMutateProtocol)`: a check against a
    runtime-checkable Protocol walks the protocol's attributes on every event (an approval of a dossier not cached
    loads two aggregates: Engine.approve 1.55 -> 1.40 ms CPU in bench/web_approve_cost.py). Every stored event of
    ours is an Aggregate.Event or a snapshot, each with `mutate`."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class _Freshness(threading.local):
    depth = 0
    due = True


class CachingRepository(Repository[UUID]):
    """The library's Repository (snapshots, historical versions) with a thread-safe, coherent cache in front."""

    def __init__(
        self,
        event_store: EventStore[UUID],
        *,
        snapshot_store: EventStore[UUID] | None,
        recorder: ApplicationRecorder,
        maxsize: int,
        short_history: int = 0,
    ) -> None:
        super().__init__(event_store, snapshot_store=snapshot_store, cache_maxsize=None)
        self.recorder = recorder
        self.maxsize = maxsize
        # No aggregate is snapshotted at a version below this (the smallest snapshot interval; 0: not known).
        # Snapshots are a cache of the events, so it decides only how an aggregate is read, never what it is.
        self.short_history = short_history
        self._entries: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        # Read before anything is cached: every notification after it is one the cache must hear of.
        self._seen = recorder.max_notification_id() or 0
        self._sync_lock = threading.Lock()
        self._last_sync_started = 0
        # The newest version of each aggregate that a sync found the cache did not hold (absent, or older), since
        # the generation `_passed_from`: a save that began at or after it may be cached whenever none of its
        # aggregates is named here with a newer version than its own. Emptied when it grows past `maxsize` (saves
        # then in flight are kept out, as they were before it existed).
        self._passed: dict[UUID, int] = {}
        self._passed_from = 0
        self._freshness = _Freshness()

    # --- the unit of work ----------------------------------------------------------------------

    def begin(self) -> None:
        """A use case begins: its first read brings the cache up to the store's head."""
        state = self._freshness
        if state.depth == 0:
            state.due = True
        state.depth += 1

    def end(self) -> None:
        self._freshness.depth -= 1

    @contextmanager
    def known_head(self, head: int | None) -> Iterator[None]:
        """One unit of work whose caller has just read the log's head (`head`, the newest notification id, None for
        an empty log) in a statement of its own, together with other things (the web's visit reads it with the
        session and the read models' positions in one round trip). When the cache has heard of every notification
        up to it, the cache is as fresh as a sync asked for at that read would make it, so the reads inside need
        no query of their own; otherwise the first of them syncs, as in any use case. Notification ids become
        visible in commit order (see ARCHITECTURE.md), so nothing at or below a head once read appears later."""
        self.begin()
        try:
            state = self._freshness
            # Only as the outermost unit of work: an enclosing one's due sync is not the caller's to skip.
            if state.depth == 1 and (head or 0) <= self._seen:
                state.due = False
            yield
        finally:
            self.end()

    def _sync_if_due(self) -> None:
        state = self._freshness
        # Outside any use case (a test, a script reaching in) every read is its own unit of work.
        if state.due or state.depth == 0:
            self.sync()
            state.due = False

    def sync(self) -> None:
        """Evict every cached aggregate that the store holds a newer version of; one query when nothing changed."""
        requested = time.perf_counter_ns()
        with self._sync_lock:
            # A sync that started after this one was asked for has already seen everything it would see.
            if self._last_sync_started > requested:
                return
            self._last_sync_started = time.perf_counter_ns()
            read = 0
            while True:
                page = self._tail(self._seen, TAIL_PAGE)
                if not page:
                    return
                read += len(page)
                if read > MAX_TAIL:
                    head = self.recorder.max_notification_id() or 0
                    with self._lock:
                        self._entries.clear()
                        self._generation += 1
                        # What it skipped is not named in `_passed`: no save begun before may rely on it.
                        self._passed.clear()
                        self._passed_from = self._generation
                    self._seen = head
                    return
                with self._lock:
                    passed = self._passed
                    for _, originator_id, originator_version in page:
                        cached = self._entries.get(originator_id)
                        if cached is None:
                            self._generation += 1
                        elif cached.version < originator_version:
                            del self._entries[cached.id]
                            self._generation += 1
                        else:
                            continue
                        if passed.get(originator_id, -1) < originator_version:
                            passed[originator_id] = originator_version
                    if len(passed) > self.maxsize:
                        passed.clear()
                        self._passed_from = self._generation + 1
                self._seen = page[-1][0]
                if len(page) < TAIL_PAGE:
                    return

    def _tail(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        # Ids and versions only: the states of the events (answers, evaluations) are not needed to know what moved.
        if isinstance(self.recorder, HashChainedRecorder):
            return self.recorder.select_tail(after, limit)
        return [
            (n.id, cast(UUID, n.originator_id), n.originator_version)
            for n in self.recorder.select_notifications(start=after + 1, limit=limit)
        ]

    # --- reads ---------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def seen(self) -> int:
        """The newest notification id the cache has heard of: never past the log's head, and once a sync returns,
        at least the head as it stood when the sync was asked for (a use case's first read syncs)."""
        return self._seen

    def peek(self, aggregate_id: UUID) -> Aggregate:
        """The current version, shared with every other reader: read it, never change it."""
        self._sync_if_due()
        with self._lock:
            cached = self._entries.get(aggregate_id)
            if cached is not None:
                self._entries.move_to_end(aggregate_id)
                return cached
            generation = self._generation
        aggregate = self._load(aggregate_id)
        self._offer(aggregate, generation)
        return aggregate

    def _load(self, aggregate_id: UUID) -> Aggregate:
        """The current version from the store. A history shorter than the first snapshot interval has no snapshot
        to start from, so its events are read first, at one query, where asking the snapshot store first cost a
        second one (an approval of a dossier not cached loads the dossier and its unit, a handful of events each).
        A longer history is loaded as the library loads it, from its newest trusted snapshot; the query of its
        first events, left undecoded, is then wasted, once for each such aggregate the cache did not hold."""
        if self.snapshot_store is not None and self.short_history:
            stored = self.event_store.recorder.select_events(aggregate_id, limit=self.short_history)
            if len(stored) < self.short_history:
                mapper = self.event_store.mapper
                aggregate = _project(None, (mapper.to_domain_event(s) for s in stored))
                if aggregate is None:
                    raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} not found.")
                return aggregate
        return self._reconstruct_aggregate(aggregate_id, None, _project)

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        """Own copy of the current version (the cache's), or a historical version rebuilt from the store."""
        if version is not None or projector_func is not project_aggregate:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        return copy_aggregate(self.peek(aggregate_id))

    def __contains__(self, item: UUID) -> bool:
        self._sync_if_due()
        with self._lock:
            if item in self._entries:
                return True
        # Most questions about an uncached id are "may I create it?": one event read answers, where loading
        # would ask the snapshot store first.
        if not self.recorder.select_events(item, limit=1):
            return False
        try:
            self.peek(item)
        except AggregateNotFoundError:
            return False
        return True

    # --- writes --------------------------------------------------------------------------------

    def saved(self, aggregates: Iterable[Aggregate], generation: int, positions: tuple[int, int] | None = None) -> None:
        """Aggregates a save has just stored; `generation` as it was before the save began; `positions` the first and
        last notification ids the save was given, if it stored events."""
        with self._sync_lock, self._lock:
            # A save's aggregates are what the store holds at their versions (the store took them on top of the
            # versions they were built on). They must not enter the cache only if a sync may already have passed a
            # newer version of one: a generation moved since the save began says some sync saw something; if no
            # sync has read past the save's last position, what it saw came before or was the save itself (any
            # later version of these aggregates was stored after it); else `_passed` names what it saw. Under
            # several writer threads a generation moves at nearly every command, and keeping their saves out cost
            # a reload each (two queries) at the next command.
            aggregates = list(aggregates)
            cached_all = (
                generation == self._generation
                or (positions is not None and self._seen <= positions[1])
                or (
                    positions is not None
                    and generation >= self._passed_from
                    and all(self._passed.get(a.id, -1) <= a.version for a in aggregates)
                )
            )
            for aggregate in aggregates:
                if cached_all:
                    self._put(copy_aggregate(aggregate))
                else:
                    self._entries.pop(aggregate.id, None)
            # The save's own events need not be read back by the next sync when they follow the last notification
            # seen: nothing else was stored between, and the cache now holds what they recorded. Not when it could
            # not take them (a sync moved the generation meanwhile): then the next sync must see them, to evict a
            # stale version another thread's load may have offered since.
            if cached_all and positions is not None and positions[0] == self._seen + 1:
                self._seen = positions[1]

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._entries.pop(aggregate_id, None)
            self._generation += 1

    def _offer(self, aggregate: Aggregate, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._put(aggregate)

    def _put(self, aggregate: Aggregate) -> None:
        # Caller holds the lock. Never replace a newer version with an older one (a slow load racing a save).
        cached = self._entries.get(aggregate.id)
        if cached is not None and cached.version >= aggregate.version:
            return
        self._entries[aggregate.id] = aggregate
        self._entries.move_to_end(aggregate.id)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


def use_cases(cls: type[T]) -> type[T]:
    """Make each public method of an Application whose repository is a CachingRepository one unit of work.

    A class decorator rather than a line in each method: every use case, including ones added later, then reads
    its aggregates as fresh as its start, with one query, however many aggregates it reads.
    """
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _unit_of_work(member))
    return cls


def _unit_of_work(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        repository = self.__dict__.get("_repository")
        if not isinstance(repository, CachingRepository):
            # Before the repository exists (the library's constructor calls register_transcodings).
            return method(self, *args, **kwargs)
        repository.begin()
        try:
            return method(self, *args, **kwargs)
        finally:
            repository.end()

    return wrapper
