"""Verification: recompute the chain from the genesis over the stored events, check the signed heads, the heads
kept outside the database and the snapshots' seals, and name what does not hold.

The walk is one query (events joined with their chain records, in notification order, streamed from one snapshot)
and a tight loop: per row, one sha256 over the joined fields and then the state, with the encodings of originator
ids and topics cached, because they repeat. Hashing stays in this process: a database server run by the very
administrator the chain guards against cannot be asked to compute it.

Only the newest signed head's signature is checked: it vouches for its link's hash, which commits to every link
before it. Every other signed head is read only when something is wrong, to say where the rewrite begins.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from workflow.store.chain import (
    GENESIS_HASH,
    VERIFY_PAGE_SIZE,
    ChainLink,
    EventRow,
    HashChainedRecorder,
    link_hash,
)
from workflow.store.signing import SignedHead, fingerprint
from workflow.store.snapshots import SealedSnapshots, snapshot_problems

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ProgressCallback = Callable[[int, int], None]
"""progress(events checked so far, greatest notification id to check): called every PROGRESS_EVERY events."""

PROGRESS_EVERY = 20_000
_ID_CACHE_LIMIT = 200_000


@dataclass(frozen=True)
class ChainBreak:
    """The first link that does not hold.

    kind is one of:
      "altered"         an event no longer hashes to its chain record (its row, or the record, was changed),
      "unchained"       an event has no chain record (inserted behind the application's back, or record deleted),
      "missing"         a chain record's event is gone (deleted, or renumbered),
      "broken-link"     a chain record does not follow its predecessor (records edited, deleted or inserted),
      "truncated"       the chain is shorter than a signed or externally kept head says (newest events deleted,
                        or the tables emptied),
      "anchor-mismatch" the chain's link at an externally kept head's position has another hash (chain rewritten),
      "anchor-forged"   a head given from outside the database does not carry a valid signature of the key,
      "rewritten"       the newest signed head vouches for another hash than the chain has (events rewritten and the
                        chain recomputed),
      "unsigned"        the newest links carry no signed head (appended behind the application's back, or the
                        signed heads were deleted),
      "bad-signature"   the newest signed head's signature does not hold for the public key.
    """

    position: int
    notification_id: int | None
    kind: str
    detail: str


@dataclass(frozen=True)
class Finding:
    """Something wrong outside the chain itself: a snapshot, an evidence file."""

    kind: str
    subject: str
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """events_checked counts the links verified intact; head is the hash of the last of them (None if none).

    signed_head is the newest signed head whose signature was checked and holds (None when no public key was given
    or the store is empty); findings are problems found beside the chain (snapshots, evidence files);
    evidence_files counts the distinct evidence files re-hashed (by the engine, through verify_chain's watch).
    """

    events_checked: int
    head: str | None
    first_break: ChainBreak | None
    findings: tuple[Finding, ...] = ()
    signed_head: SignedHead | None = None
    evidence_files: int = 0
    # The notification id of the last link verified intact (None if none): where verify_since can resume.
    last_notification_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None and not self.findings

    @property
    def verified_head(self) -> VerifiedHead | None:
        """What a later verify_since may start from: the whole chain up to here held. None if it did not."""
        if not self.ok or self.head is None or self.last_notification_id is None:
            return None
        return VerifiedHead(self.events_checked, self.last_notification_id, self.head)


@dataclass(frozen=True)
class VerifiedHead:
    """A link up to which the chain was verified intact: its position (the count of links), event, and hash."""

    position: int
    notification_id: int
    hash: str


def _chained(recorder: ApplicationRecorder) -> HashChainedRecorder:
    if not isinstance(recorder, HashChainedRecorder):
        msg = (
            f"{type(recorder).__qualname__} keeps no hash chain: construct the application with "
            "workflow.store.application_env(...) so that its recorder is a chained one"
        )
        raise TypeError(msg)
    return recorder


def _describe(event: EventRow) -> str:
    return (
        f"event #{event.notification_id} (originator {event.originator_id}, version {event.originator_version}, "
        f"{event.topic})"
    )


_PACK = struct.Struct(">Q").pack
# The length prefix of a notification id's decimal text, by its length (a bigint has at most 19 digits and a sign).
_NID_PREFIXES = tuple(_PACK(length) for length in range(21))


def _field(part: bytes) -> bytes:
    return _PACK(len(part)) + part


# SQLite's form of a UUID: 32 lowercase hex digits, whose canonical text is the same digits grouped 8-4-4-4-12.
_PLAIN_HEX_UUID = re.compile(r"[0-9a-f]{32}").fullmatch


def _originator_field(value: Any) -> bytes:
    # As link_hash at write time: the canonical text of a UUID, whatever form the backend hands back; a value that
    # is no UUID (a row edited by hand) is hashed as it is, so that it is reported instead of failing the walk.
    if isinstance(value, str):
        if _PLAIN_HEX_UUID(value):  # What UUID(value) would give, for a fraction of its cost.
            return _field(f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}".encode())
        with suppress(ValueError):
            value = UUID(value)
    return _field(str(value).encode("utf-8"))


def _state_bytes(state: Any) -> bytes:
    if isinstance(state, bytes | bytearray | memoryview):
        return bytes(state)
    return str(state).encode("utf-8")


@dataclass(frozen=True)
class _Anchor:
    source: str
    position: int
    hash: str
    notification_id: int | None
    signed_at: str | None


def verify_chain(
    recorder: ApplicationRecorder,
    *,
    anchor: tuple[int, str] | None = None,
    public_key: Ed25519PublicKey | None = None,
    signed_anchors: Sequence[tuple[str, SignedHead]] = (),
    snapshots: object | None = None,
    watch: Mapping[str, Callable[[EventRow], None]] | None = None,
    progress: ProgressCallback | None = None,
    page_size: int = VERIFY_PAGE_SIZE,
) -> ChainReport:
    """Recompute the chain from the genesis over the stored events; report the first link that does not hold.

    anchor is a (count, head) pair from chain_head; signed_anchors are (where it was kept, signed head) pairs from
    outside the database (the head file, a checkpoint): without one, deleting the newest events together with their
    chain records and signed heads cannot be told from a shorter history. public_key checks the newest signed head
    (and the signed anchors, and the snapshots' seals of a SealedSnapshots recorder given as snapshots): without it,
    whoever can write to the database can rewrite the whole chain. watch maps topics to a callback given each
    event of that topic that was verified.
    """
    chained = _chained(recorder)
    anchors = [_Anchor("the head given", anchor[0], anchor[1], None, None)] if anchor is not None else []
    for source, signed in signed_anchors:
        if public_key is not None and not signed.is_signed_by(public_key):
            detail = (
                f"the head kept in {source} (link {signed.position}, signed at {signed.signed_at}) does not carry a "
                f"valid signature of key {fingerprint(public_key)}: it was altered, or signed by another key "
                f"({signed.key_id})"
            )
            return ChainReport(0, None, ChainBreak(signed.position, signed.notification_id, "anchor-forged", detail))
        anchors.append(_Anchor(source, signed.position, signed.hash, signed.notification_id, signed.signed_at))
    anchors.sort(key=lambda a: a.position)

    # Bound the walk by what was committed when it began: writers append concurrently; both tables (and the signed
    # heads) are written in one transaction, in notification order (PostgreSQL's table lock, SQLite's single writer).
    max_event_id, max_link_id = chained.select_max_ids()
    stop = max(max_event_id or 0, max_link_id or 0)
    events_table = chained.events_table_name

    position = 0
    head: str | None = None
    prev = GENESIS_HASH
    last_nid = 0

    def report(kind: str, notification_id: int | None, detail: str) -> ChainReport:
        return ChainReport(position - 1, head, ChainBreak(position, notification_id, kind, detail))

    pending = iter(anchors)
    next_anchor = next(pending, None)
    next_anchor_position = next_anchor.position if next_anchor is not None else -1
    originators: dict[Any, bytes] = {}
    topics: dict[Any, bytes] = {}
    versions: dict[int, bytes] = {}
    nid_prefixes = _NID_PREFIXES
    sha256 = hashlib.sha256
    pack = _PACK
    join = b"".join
    watched = watch or {}
    next_progress = PROGRESS_EVERY
    pages = chained.iter_verify_pages(stop, page_size)
    with closing(pages):  # type: ignore[type-var]
        for page in pages:
            for nid, oid, version, topic, state, link_position, link_prev, link_hash_ in page:
                position += 1
                # A missing record comes as None in all three: None differs from prev, a hash text, and so is caught.
                if link_prev != prev or link_position != position:
                    event = EventRow(nid, oid, version, topic, state)
                    if link_position is None:
                        return report(
                            "unchained",
                            nid,
                            f"{_describe(event)} has no chain record: it was inserted directly into {events_table}, "
                            "or its chain record was deleted",
                        )
                    orphans = chained.select_chain_links(last_nid, nid - 1, 1)
                    if orphans:
                        return report(
                            "missing",
                            orphans[0].notification_id,
                            f"the chain records event #{orphans[0].notification_id} at position {orphans[0].position}, "
                            f"but {events_table} has no such event: it was deleted, or its notification id was changed",
                        )
                    return report(
                        "broken-link",
                        nid,
                        f"the chain record of {_describe(event)} does not follow its predecessor (it links to "
                        f"{str(link_prev)[:12]}… at position {link_position}, the preceding link is "
                        f"{prev[:12]}… at position {position - 1}): chain records were edited, deleted or inserted",
                    )
                originator = originators.get(oid)
                if originator is None:
                    if len(originators) > _ID_CACHE_LIMIT:
                        originators.clear()
                    originator = originators[oid] = _originator_field(oid)
                topic_field = topics.get(topic)
                if topic_field is None:
                    topic_field = topics[topic] = _field(str(topic).encode("utf-8"))
                if type(state) is not bytes:
                    state = _state_bytes(state)
                # Versions repeat as much as ids: cached, but by exact type, so that a version edited to 1.0 is not
                # given the field of 1 (equal as dict keys, hashed differently).
                version_field = versions.get(version) if type(version) is int else None
                if version_field is None:
                    version_text = str(version).encode()
                    version_field = pack(len(version_text)) + version_text
                    if type(version) is int:
                        versions[version] = version_field
                nid_text = b"%d" % nid
                # The state is fed on its own rather than joined: no copy of it per event.
                hashing = sha256(
                    join((
                        prev.encode(), nid_prefixes[len(nid_text)], nid_text, originator, version_field, topic_field,
                        pack(len(state)),
                    ))
                )
                hashing.update(state)
                digest = hashing.hexdigest()
                if digest != link_hash_:
                    return report(
                        "altered",
                        nid,
                        f"{_describe(EventRow(nid, oid, version, topic, state))} no longer matches the hash recorded "
                        "when it was written: its row (state, topic, originator, version or notification id) or its "
                        "chain record was changed",
                    )
                if position == next_anchor_position:
                    assert next_anchor is not None
                    while next_anchor is not None and next_anchor.position == position:
                        if link_hash_ != next_anchor.hash or next_anchor.notification_id not in (None, nid):
                            return report(
                                "anchor-mismatch",
                                nid,
                                f"link {position} hashes to {link_hash_[:12]}…, but the head kept in "
                                f"{next_anchor.source} for that position is {next_anchor.hash[:12]}…"
                                f"{_signed_at(next_anchor.signed_at)}: the chain was rewritten from this point "
                                "or earlier",
                            )
                        next_anchor = next(pending, None)
                    next_anchor_position = next_anchor.position if next_anchor is not None else -1
                if topic in watched:
                    watched[topic](EventRow(nid, oid, version, topic, state))
                prev = head = link_hash_
                last_nid = nid
                if progress is not None and position >= next_progress:
                    progress(position, stop)
                    next_progress += PROGRESS_EVERY

    if progress is not None:
        progress(position, stop)
    position += 1
    if max_link_id is not None and max_link_id > last_nid:
        orphans = chained.select_chain_links(last_nid, stop, 1)
        if orphans:
            return report(
                "missing",
                orphans[0].notification_id,
                f"the chain records event #{orphans[0].notification_id} at position {orphans[0].position}, but "
                f"{events_table} has no such event: the newest events were deleted, their chain records left behind",
            )
    if next_anchor is not None:
        emptied = "the store holds no events at all" if position == 1 else f"the chain ends at link {position - 1}"
        return report(
            "truncated",
            None,
            f"{emptied}, but the head kept in {next_anchor.source} is at link {next_anchor.position}"
            f"{_signed_at(next_anchor.signed_at)}: the newest events were deleted together with their chain records"
            + (" (the tables were emptied)" if position == 1 else ""),
        )
    signed_head = None
    if public_key is not None:
        signature_break = _check_signed_head(chained, public_key, position - 1, head, last_nid, stop)
        if isinstance(signature_break, ChainBreak):
            return ChainReport(position - 1, head, signature_break)
        signed_head = signature_break
    findings: list[Finding] = []
    if public_key is not None and isinstance(snapshots, SealedSnapshots):
        findings.extend(
            Finding(problem.kind, f"snapshot of {problem.originator_id} at version {problem.originator_version}",
                    problem.detail)
            for problem in snapshot_problems(snapshots.iter_sealed(), public_key)
        )
    return ChainReport(position - 1, head, None, tuple(findings), signed_head, last_notification_id=last_nid or None)


def verify_since(
    recorder: ApplicationRecorder,
    since: VerifiedHead,
    *,
    public_key: Ed25519PublicKey | None = None,
    signed_anchors: Sequence[tuple[str, SignedHead]] = (),
    page_size: int = VERIFY_PAGE_SIZE,
) -> ChainReport:
    """Verify only the links appended after `since`, a head an earlier verification found intact, and the newest
    signed head: what a running server checks as the log grows, in time proportional to what was added.

    The earlier links are trusted as they were verified: this cannot see an old event rewritten since (beyond the
    link at `since` itself, which must still be there with its hash). `verify_chain`, from the genesis, with the
    snapshots' seals and the evidence files, remains the whole check (`dossierflow verify`).
    """
    chained = _chained(recorder)
    max_event_id, max_link_id = chained.select_max_ids()
    stop = max(max_event_id or 0, max_link_id or 0)
    position, prev, last_nid = since.position, since.hash, since.notification_id

    def report(kind: str, notification_id: int | None, detail: str) -> ChainReport:
        return ChainReport(position - 1, prev, ChainBreak(position, notification_id, kind, detail))

    anchor = chained.select_link(since.notification_id)
    if anchor is None or (anchor.position, anchor.hash) != (since.position, since.hash):
        return ChainReport(
            0, None,
            ChainBreak(
                since.position, since.notification_id, "anchor-mismatch",
                f"link {since.position} (event #{since.notification_id}) was verified with hash {since.hash[:12]}…, "
                "but the chain record "
                + ("is gone" if anchor is None else f"now says {anchor.hash[:12]}… at position {anchor.position}")
                + ": the chain was rewritten or cut at or before this point",
            ),
        )
    for source, signed in signed_anchors:
        if public_key is not None and not signed.is_signed_by(public_key):
            detail = (
                f"the head kept in {source} (link {signed.position}, signed at {signed.signed_at}) does not carry a "
                f"valid signature of key {fingerprint(public_key)}"
            )
            return ChainReport(0, None, ChainBreak(signed.position, signed.notification_id, "anchor-forged", detail))
    anchors = {signed.position: (source, signed) for source, signed in signed_anchors if signed.position > position}
    while True:
        events = chained.select_event_rows(last_nid, stop, page_size)
        links = {link.notification_id: link for link in chained.select_chain_links(last_nid, stop, page_size)}
        if not events:
            if links:
                orphan = min(links.values(), key=lambda link: link.notification_id)
                position += 1
                return report(
                    "missing", orphan.notification_id,
                    f"the chain records event #{orphan.notification_id} at position {orphan.position}, but "
                    f"{chained.events_table_name} has no such event: it was deleted, or its notification id changed",
                )
            break
        for event in events:
            position += 1
            link = links.get(event.notification_id)
            if link is None:
                return report(
                    "unchained", event.notification_id,
                    f"{_describe(event)} has no chain record: it was inserted directly into "
                    f"{chained.events_table_name}, or its chain record was deleted",
                )
            skipped = [n for n in links if last_nid < n < event.notification_id]
            if skipped or link.prev_hash != prev or link.position != position:
                return report(
                    "broken-link", event.notification_id,
                    f"the chain record of {_describe(event)} does not follow its predecessor: chain records were "
                    "edited, deleted or inserted, or events deleted",
                )
            digest = link_hash(
                prev, event.notification_id, event.originator_id, event.originator_version, event.topic, event.state
            )
            if digest != link.hash:
                return report(
                    "altered", event.notification_id,
                    f"{_describe(event)} no longer matches the hash recorded when it was written",
                )
            kept = anchors.pop(position, None)
            if kept is not None and (kept[1].hash, kept[1].notification_id) != (link.hash, event.notification_id):
                return report(
                    "anchor-mismatch", event.notification_id,
                    f"link {position} hashes to {link.hash[:12]}…, but the head kept in {kept[0]} for that position "
                    f"is {kept[1].hash[:12]}…: the chain was rewritten from this point or earlier",
                )
            prev, last_nid = link.hash, event.notification_id
    if anchors:
        source, signed = anchors[min(anchors)]
        position += 1
        return report(
            "truncated", None,
            f"the chain ends at link {position - 1}, but the head kept in {source} is at link {signed.position}: "
            "the newest events were deleted together with their chain records",
        )
    signed_head = None
    if public_key is not None:
        checked = _check_signed_head(chained, public_key, position, prev, last_nid, stop)
        if isinstance(checked, ChainBreak):
            return ChainReport(position, prev, checked)
        signed_head = checked
    return ChainReport(position, prev, None, (), signed_head, last_notification_id=last_nid)


def _signed_at(moment: str | None) -> str:
    return f" (signed at {moment})" if moment else ""


def _check_signed_head(
    chained: HashChainedRecorder, public_key: Ed25519PublicKey, links: int, head: str | None, last_nid: int, stop: int
) -> ChainBreak | SignedHead | None:
    """The newest signed head if it holds for the verified chain, else what is wrong with it."""
    newest = chained.select_newest_signed_head(stop)
    if links == 0:
        if newest is None:
            return None
        return ChainBreak(
            1, None, "truncated",
            f"the store holds no events, but a head signed at {newest.signed_at} vouches for link {newest.position}: "
            "the events were deleted together with their chain records (the tables were emptied)",
        )
    if newest is None:
        return ChainBreak(
            1, None, "unsigned",
            f"none of the {links} links carries a signed head: the chain was written without the signing key, or its "
            "signed heads were deleted (as a forger must, after rewriting the chain)",
        )
    if newest.position > links:
        return ChainBreak(
            links + 1, None, "truncated",
            f"the chain ends at link {links}, but a head signed at {newest.signed_at} vouches for link "
            f"{newest.position} (event #{newest.notification_id}): the newest events were deleted with their chain "
            "records",
        )
    if newest.position < links:
        return ChainBreak(
            newest.position + 1, None, "unsigned",
            f"the chain goes on for {links - newest.position} link(s) after the newest signed head (link "
            f"{newest.position}, event #{newest.notification_id}, signed at {newest.signed_at}), up to event "
            f"#{last_nid}: these events were appended behind the application's back, with chain records computed "
            "by hand",
        )
    if newest.hash != head or newest.notification_id != last_nid:
        return _locate_rewrite(chained, public_key, newest, stop)
    if not newest.is_signed_by(public_key):
        other_key = newest.key_id != fingerprint(public_key)
        return ChainBreak(
            newest.position, newest.notification_id, "bad-signature",
            f"the signed head of link {newest.position} (event #{newest.notification_id}, said to be signed at "
            f"{newest.signed_at}) does not carry a valid signature of key {fingerprint(public_key)}"
            + (f"; it names key {newest.key_id}" if other_key else "")
            + ": it was forged or altered in the database, or the chain was signed with another key",
        )
    return newest


def _iter_links(chained: HashChainedRecorder, stop: int) -> Iterator[ChainLink]:
    after: int | None = None
    while page := chained.select_chain_links(after, stop, VERIFY_PAGE_SIZE):
        yield from page
        after = page[-1].notification_id


def _iter_heads(chained: HashChainedRecorder) -> Iterator[SignedHead]:
    after = 0
    while page := chained.select_signed_heads(after, VERIFY_PAGE_SIZE):
        yield from page
        after = page[-1].position


def _locate_rewrite(
    chained: HashChainedRecorder, public_key: Ed25519PublicKey, newest: SignedHead, stop: int
) -> ChainBreak:
    # Only on failure: the earliest signed head that the (internally consistent) chain no longer matches says where
    # the rewrite begins; the chain records themselves were verified by the walk.
    links = _iter_links(chained, stop)
    link = next(links, None)
    last_good: SignedHead | None = None
    for signed in _iter_heads(chained):
        while link is not None and link.position < signed.position:
            link = next(links, None)
        if link is None:
            break
        if (link.hash, link.notification_id) == (signed.hash, signed.notification_id):
            last_good = signed
            continue
        since = (
            f"after link {last_good.position} (signed at {last_good.signed_at}), "
            if last_good is not None
            else "from the first link, "
        )
        forged = "" if signed.is_signed_by(public_key) else " (that head's own signature does not hold either)"
        return ChainBreak(
            signed.position, signed.notification_id, "rewritten",
            f"the head signed at {signed.signed_at} vouches for link {signed.position} with hash {signed.hash[:12]}…, "
            f"but the chain now has {link.hash[:12]}… there{forged}: events were rewritten {since}at or before "
            f"event #{signed.notification_id}, and the chain recomputed over them",
        )
    return ChainBreak(
        newest.position, newest.notification_id, "rewritten",
        f"the newest signed head (link {newest.position}, signed at {newest.signed_at}) vouches for hash "
        f"{newest.hash[:12]}…, but the chain now ends in another: events were rewritten and the chain recomputed",
    )


def chain_head(recorder: ApplicationRecorder) -> tuple[int, str | None]:
    """(number of links, hash of the newest link), as stored; (0, None) for an empty store.

    Record this outside the database (a signed log, a ticket, a printed report) after a successful verify_chain,
    and pass it back as verify_chain(anchor=...). Each link vouches only for the links before it, so deleting the
    newest events together with their chain records leaves a chain that verifies: only a head kept elsewhere
    shows it. The same holds for someone who rewrites the whole chain with recomputed hashes.
    """
    head = _chained(recorder).select_chain_head()
    return (0, None) if head is None else (head.position, head.hash)
