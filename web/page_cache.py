"""Rendered pages kept in memory, per process, under a key that names everything the page was made from.

A key is built by the page itself (web/routes.py, My work): the session and its CSRF token, the person, their
authorities, the locale, the query string, today's date, the event log's head and every read model's live
generation and position. Any new event moves the head; a rebuild changes a generation: a page made before either
is never found again. Processes share nothing but the database, whose head and positions each one reads, so several
workers stay correct. The parts of a key are read before the page's own reads, so a page is at least as new as its
key says (never older).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")

# Defaults for `dossierflow serve` (DOSSIERFLOW_PAGE_CACHE_ENTRIES): a page of a few dozen rows is some 10 KiB,
# a province approver's a few hundred; the bytes bound keeps the worst case small whatever the entries.
DEFAULT_ENTRIES = 512
DEFAULT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    etag: str
    media_type: str


def etag_of(body: bytes) -> str:
    # A strong validator of the exact bytes (which hold the session's CSRF token): equal tags, equal pages.
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this tag (RFC 9110: a weak comparison, '*' matches any)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


class Bounded(Generic[V]):
    """Least recently used values, bounded by count and by total size; safe across the thread pool's threads.

    cachetools bounds one measure: each value is weighed at least `max_size / entries`, so that the total size
    bound also keeps the count at `entries` or fewer."""

    def __init__(self, entries: int, max_size: int, size: Callable[[V], int] = lambda _: 1) -> None:
        self.entries = entries
        floor = max_size // entries if entries > 0 else max_size + 1
        self._values: LRUCache[Hashable, V] = LRUCache(max_size, getsizeof=lambda value: max(size(value), floor))
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._values.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key: Hashable, value: V) -> None:
        # A value heavier than the whole bound is not kept (cachetools refuses it).
        with self._lock, contextlib.suppress(ValueError):
            self._values[key] = value

    def __len__(self) -> int:
        return len(self._values)


class PageCache(Bounded[CachedPage]):
    def __init__(self, entries: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_BYTES) -> None:
        super().__init__(entries, max_bytes, lambda page: len(page.body))

    def keep(self, key: Hashable, body: bytes, media_type: str) -> CachedPage:
        page = CachedPage(body, etag_of(body), media_type)
        self.put(key, page)
        return page
