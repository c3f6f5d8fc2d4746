"""The hash chain: one link per stored event, sha256(prev_hash || encoding of the event), written in the same
transaction as the event; what a recorder that keeps one must offer the verifier."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import (
    PersistenceError,
    StoredEvent,
)

from workflow.store.signing import HeadSigner, SignedHead

GENESIS_HASH = "0" * 64
CHAIN_TABLE_SUFFIX = "_chain"
HEADS_TABLE_SUFFIX = "_heads"
VERIFY_PAGE_SIZE = 5000


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


class VerifyRow(NamedTuple):
    """One event as stored, with the chain record of the same notification id (None columns when it has none)."""

    notification_id: int
    originator_id: Any
    originator_version: Any
    topic: Any
    state: Any
    position: int | None
    prev_hash: str | None
    hash: str | None


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


def _sign_new_head(signer: HeadSigner | None, head: ChainLink | None, links: Sequence[ChainLink]) -> SignedHead | None:
    """The signed head of the links about to be committed, after checking the store still holds the remembered head.

    Refusing here matters: a store that lost its newest events (or was restored from an older backup) would
    otherwise be written on, and the head file, advanced past the gap, would no longer show the loss.
    """
    if signer is None or not links:
        return None
    remembered = signer.remembered_head()
    if remembered is not None:
        position = 0 if head is None else head.position
        if position < remembered.position or (
            head is not None and position == remembered.position and head.hash != remembered.hash
        ):
            msg = (
                f"the store's chain ends at link {position}, but the head signed at {remembered.signed_at} and "
                f"recorded in {signer.head_path} is link {remembered.position} with hash {remembered.hash[:12]}…: "
                "events were removed from the database (or it was restored from an older copy). Writing is refused "
                "so that new events do not cover the loss; run `dossierflow verify`"
            )
            raise ChainWriteRefused(msg)
    last = links[-1]
    return signer.sign_head(last.position, last.notification_id, last.hash)


def _signed_head_columns(head: SignedHead) -> tuple[int, int, str, str, str, str]:
    return (head.position, head.notification_id, head.hash, head.signed_at, head.key_id, head.signature)


class HashChainedRecorder(ABC):
    """What the verifier needs from a recorder that keeps a chain table (and, with a signer, signed heads)."""

    events_table_name: str
    # Set by the store's factory when a signing key is configured: every commit then signs its new head.
    signer: HeadSigner | None = None

    @property
    def chain_table_name(self) -> str:
        return self.events_table_name + CHAIN_TABLE_SUFFIX

    @property
    def heads_table_name(self) -> str:
        return self.events_table_name + HEADS_TABLE_SUFFIX

    def _remember(self, head: SignedHead | None) -> None:
        # After the commit: the head file must never hold a head the database does not.
        if head is not None and self.signer is not None:
            self.signer.remember(head)

    @abstractmethod
    def iter_verify_pages(self, stop: int, fetch_size: int) -> Iterator[list[tuple[Any, ...]]]:
        """Every event with notification_id <= stop, in notification order, with its chain record, read from one
        snapshot, in pages of plain tuples shaped as VerifyRow (no object per row: the walk is per-row bound)."""

    @abstractmethod
    def select_newest_signed_head(self, stop: int) -> SignedHead | None:
        """The signed head of the greatest position among those with notification_id <= stop."""

    @abstractmethod
    def select_signed_heads(self, after_position: int, limit: int) -> list[SignedHead]:
        """Signed heads with position > after_position, in position order."""

    @abstractmethod
    def select_link(self, notification_id: int) -> ChainLink | None:
        """The chain record of one notification id."""

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
    def select_tail(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        """(notification id, originator id, originator version) of the events after a notification id, in order.

        What a cache needs to know which aggregates moved, without the states: the engine asks it once a command.
        """

    @abstractmethod
    def select_max_ids(self) -> tuple[int | None, int | None]:
        """(greatest notification id among events, among chain records), read in one transaction."""


