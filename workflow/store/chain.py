"""The hash chain: one link per stored event, sha256(prev_hash || encoding of the event), written in the same
transaction as the event; what a recorder that keeps one must offer the verifier."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import (
    PersistenceError,
    StoredEvent,
)

GENESIS_HASH = "0" * 64
CHAIN_TABLE_SUFFIX = "_chain"
VERIFY_PAGE_SIZE = 1000


def link_hash(
    prev_hash: str,
    notification_id: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
) -> str:
    """The hash of one link: sha256(prev_hash || canonical encoding of the stored event)."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    # A row edited by hand can come back with another type (SQLite turns `state || ' '` into TEXT): hash what is
    # there, so the verifier reports an altered link instead of failing on it.
    if not isinstance(state, bytes | bytearray | memoryview):
        state = str(state).encode("utf-8")
    # Length prefixes make the encoding injective: no two different events can share an encoding by moving
    # bytes across a field boundary. UUIDs are encoded in their canonical text form, because SQLite hands them
    # back as hex and PostgreSQL as `uuid`: the hash must not depend on the backend.
    for part in (
        str(notification_id).encode("ascii"),
        str(originator_id).encode("utf-8"),
        str(originator_version).encode("utf-8"),
        str(topic).encode("utf-8"),
        bytes(state),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class ChainLink(NamedTuple):
    """One chain record, as stored beside the events table."""

    notification_id: int
    position: int
    prev_hash: str
    hash: str


class EventRow(NamedTuple):
    """One row of the events table as stored, without the library's conversions.

    The verifier reads rows this way because a row edited by hand may hold anything (an originator id that is no
    UUID, a NULL, a number where bytes were): it must be reported as a broken link, not crash the verification.
    """

    notification_id: int
    originator_id: Any
    originator_version: Any
    topic: Any
    state: Any


class ChainWriteRefused(PersistenceError):
    """The chain cannot be extended consistently; the events were not written.

    Deliberately not an IntegrityError, which the engine reads as a version conflict and retries.
    """


def _extend_chain(
    head: ChainLink | None, notification_ids: Sequence[int] | None, stored_events: Sequence[StoredEvent]
) -> list[ChainLink]:
    if notification_ids is None or len(notification_ids) != len(stored_events):
        msg = "the events table did not return one notification id per event; the chain cannot be extended"
        raise ChainWriteRefused(msg)
    prev_hash = GENESIS_HASH if head is None else head.hash
    position = 0 if head is None else head.position
    if head is not None and notification_ids and notification_ids[0] <= head.notification_id:
        # Only happens when the events table lost its newest rows (SQLite reuses max(rowid)+1) or its sequence
        # was reset: the store has been tampered with, and writing on would entangle new events with it.
        msg = (
            f"new event #{notification_ids[0]} is not after the chain head (event #{head.notification_id}): "
            "events were deleted or renumbered; run verify_chain before writing again"
        )
        raise ChainWriteRefused(msg)
    links: list[ChainLink] = []
    for notification_id, event in zip(notification_ids, stored_events, strict=True):
        position += 1
        digest = link_hash(
            prev_hash,
            notification_id,
            event.originator_id,
            event.originator_version,
            event.topic,
            event.state,
        )
        links.append(ChainLink(notification_id, position, prev_hash, digest))
        prev_hash = digest
    return links


class HashChainedRecorder(ABC):
    """What the verifier needs from a recorder that keeps a chain table."""

    events_table_name: str

    @property
    def chain_table_name(self) -> str:
        return self.events_table_name + CHAIN_TABLE_SUFFIX

    @abstractmethod
    def select_chain_links(self, after: int | None, stop: int, limit: int) -> list[ChainLink]:
        """Chain records with after < notification_id <= stop, in notification order."""

    @abstractmethod
    def select_event_rows(self, after: int | None, stop: int, limit: int) -> list[EventRow]:
        """Events with after < notification id <= stop, in notification order, as stored."""

    @abstractmethod
    def select_chain_head(self) -> ChainLink | None:
        """The chain record of the newest event, or None for an empty chain."""

    @abstractmethod
    def select_max_ids(self) -> tuple[int | None, int | None]:
        """(greatest notification id among events, among chain records), read in one transaction."""


