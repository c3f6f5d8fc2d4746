"""Verification: recompute the chain from the genesis over the stored events and name the first broken link."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from eventsourcing.persistence import (
    ApplicationRecorder,
)

from workflow.store.chain import GENESIS_HASH, VERIFY_PAGE_SIZE, ChainLink, EventRow, HashChainedRecorder, link_hash


@dataclass(frozen=True)
class ChainBreak:
    """The first link that does not hold.

    kind is one of:
      "altered"         an event no longer hashes to its chain record (its row, or the record, was changed),
      "unchained"       an event has no chain record (inserted behind the application's back, or record deleted),
      "missing"         a chain record's event is gone (deleted, or renumbered),
      "broken-link"     a chain record does not follow its predecessor (records edited, deleted or inserted),
      "truncated"       the chain is shorter than the externally kept head says,
      "anchor-mismatch" the chain's link at the externally kept position has another hash (chain rewritten).
    """

    position: int
    notification_id: int | None
    kind: str
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """events_checked counts the links verified intact; head is the hash of the last of them (None if none)."""

    events_checked: int
    head: str | None
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _chained(recorder: ApplicationRecorder) -> HashChainedRecorder:
    if not isinstance(recorder, HashChainedRecorder):
        msg = (
            f"{type(recorder).__qualname__} keeps no hash chain: construct the application with "
            "workflow.store.application_env(...) so that its recorder is a chained one"
        )
        raise TypeError(msg)
    return recorder


def _iter_events(recorder: HashChainedRecorder, stop: int, page_size: int) -> Iterator[EventRow]:
    after: int | None = None
    while True:
        page = recorder.select_event_rows(after, stop, page_size)
        yield from page
        if len(page) < page_size:
            return
        after = page[-1].notification_id


def _iter_links(recorder: HashChainedRecorder, stop: int, page_size: int) -> Iterator[ChainLink]:
    after: int | None = None
    while True:
        page = recorder.select_chain_links(after, stop, page_size)
        yield from page
        if len(page) < page_size:
            return
        after = page[-1].notification_id


def _describe(event: EventRow) -> str:
    return (
        f"event #{event.notification_id} (originator {event.originator_id}, version {event.originator_version}, "
        f"{event.topic})"
    )


def verify_chain(
    recorder: ApplicationRecorder,
    *,
    anchor: tuple[int, str] | None = None,
    page_size: int = VERIFY_PAGE_SIZE,
) -> ChainReport:
    """Recompute the chain from the genesis over the stored events; report the first link that does not hold.

    anchor is a (count, head) pair from chain_head, kept outside the database: without it, deleting the newest
    events together with their chain records, or rewriting the whole chain, cannot be told from a shorter history.
    """
    chained = _chained(recorder)
    # Bound the walk by what was committed when it began: writers append concurrently, and reading events and
    # chain records in separate pages must not see one table's tail without the other's. Both tables are written
    # in one transaction, in notification order (PostgreSQL's table lock, SQLite's single writer).
    max_event_id, max_link_id = chained.select_max_ids()
    stop = max(max_event_id or 0, max_link_id or 0)
    events = _iter_events(chained, stop, page_size)
    links = _iter_links(chained, stop, page_size)
    events_table = chained.events_table_name

    position = 0
    head: str | None = None
    expected_prev = GENESIS_HASH

    def report(kind: str, notification_id: int | None, detail: str) -> ChainReport:
        return ChainReport(position - 1, head, ChainBreak(position, notification_id, kind, detail))

    event = next(events, None)
    link = next(links, None)
    while event is not None or link is not None:
        position += 1
        if link is None or (event is not None and event.notification_id < link.notification_id):
            assert event is not None
            return report(
                "unchained",
                event.notification_id,
                f"{_describe(event)} has no chain record: it was inserted directly into {events_table}, "
                "or its chain record was deleted",
            )
        if event is None or event.notification_id > link.notification_id:
            return report(
                "missing",
                link.notification_id,
                f"the chain records event #{link.notification_id} at position {link.position}, but "
                f"{events_table} has no such event: it was deleted, or its notification id was changed",
            )
        if link.prev_hash != expected_prev or link.position != position:
            return report(
                "broken-link",
                event.notification_id,
                f"the chain record of {_describe(event)} does not follow its predecessor (it links to "
                f"{link.prev_hash[:12]}… at position {link.position}, the preceding link is "
                f"{expected_prev[:12]}… at position {position - 1}): chain records were edited, deleted or inserted",
            )
        digest = link_hash(expected_prev, *event)
        if digest != link.hash:
            return report(
                "altered",
                event.notification_id,
                f"{_describe(event)} no longer matches the hash recorded when it was written: its row "
                "(state, topic, originator, version or notification id) or its chain record was changed",
            )
        if anchor is not None and position == anchor[0] and link.hash != anchor[1]:
            return report(
                "anchor-mismatch",
                event.notification_id,
                f"link {position} hashes to {link.hash[:12]}…, but the head recorded outside the database for "
                f"that position is {anchor[1][:12]}…: the chain was rewritten from this point or earlier",
            )
        expected_prev = head = link.hash
        event = next(events, None)
        link = next(links, None)

    if anchor is not None and position < anchor[0]:
        position += 1
        return report(
            "truncated",
            None,
            f"the chain ends at link {position - 1}, but the head recorded outside the database is at link "
            f"{anchor[0]}: the newest events were deleted together with their chain records",
        )
    return ChainReport(position, head, None)


def chain_head(recorder: ApplicationRecorder) -> tuple[int, str | None]:
    """(number of links, hash of the newest link), as stored; (0, None) for an empty store.

    Record this outside the database (a signed log, a ticket, a printed report) after a successful verify_chain,
    and pass it back as verify_chain(anchor=...). Each link vouches only for the links before it, so deleting the
    newest events together with their chain records leaves a chain that verifies: only a head kept elsewhere
    shows it. The same holds for someone who rewrites the whole chain with recomputed hashes.
    """
    head = _chained(recorder).select_chain_head()
    return (0, None) if head is None else (head.position, head.hash)


