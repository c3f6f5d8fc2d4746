"""Sealed snapshots: a snapshot is trusted only if it is bound to the chain and signed.

A snapshot stands for an aggregate at one version. Its seal, written in the same transaction as the snapshot, is an
Ed25519 signature over (aggregate id, version, the chain hash of the event at that version, sha256 of the
snapshot's topic and state, and the link of the aggregate's seal below it). Whoever edits a snapshot's state in the
database cannot make a new seal without the key, and a snapshot carried over to a rewritten history no longer matches
the chain hash of its event.

The seals of one aggregate form a chain: a seal's link is sha256 of what it signs and of its stored signature, and
the next seal of the aggregate signs that link (the genesis link when there is none below). So one checked signature,
the newest seal's, vouches for every seal below it by hashing alone: verify checks one signature per aggregate, not
one per snapshot, which was most of its time on a long history. Loading a snapshot checks that snapshot's own
signature, as before: the chain adds nothing to a load. A seal whose link no successor names (the newest, one whose
successor was written by a process that did not know it, one written before the chains) is checked by its own
signature; a seal whose successor names a link no seal has is reported, because a snapshot below it was deleted.

The stored signature of a chained seal is "2:<previous link>:<signature>"; a seal written before the seal chains
holds the bare signature of the first format and is still checked by it (no migration of the table is needed: the
text column holds either).

On load, a snapshot whose seal is missing or does not hold is ignored and the aggregate is replayed from its
events: a snapshot is only a cache of the events, so ignoring one costs time, never correctness, and an edited
snapshot cannot stop the service. It is logged, and verify reports it (naming the aggregate and version).
"""

from __future__ import annotations

import hashlib
import logging
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from workflow.store.chain import HashChainedRecorder
from workflow.store.signing import HeadSigner, SigningKeyError, is_valid_signature, snapshot_message

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SEALS_TABLE_SUFFIX = "_seals"
SEAL_COLUMNS = ("originator_id", "originator_version", "chain_hash", "key_id", "signature")
SEAL_GENESIS = "0" * 64
_CHAINED_PREFIX = "2:"
# Newest seal links remembered per aggregate by a writer: beyond this many aggregates the memory is dropped (a
# writer that forgets looks the link up in the store).
_LINK_CACHE_LIMIT = 100_000

logger = logging.getLogger(__name__)


class SnapshotSeal(NamedTuple):
    """A stored seal, and the chain hash its event has now (None if the event or its chain record is gone)."""

    chain_hash: str
    key_id: str
    signature: str
    current_chain_hash: str | None


class SnapshotProblem(NamedTuple):
    originator_id: str
    originator_version: int
    kind: str
    detail: str


def canonical_id(originator_id: object) -> str:
    try:
        return str(UUID(str(originator_id)))
    except ValueError:
        return str(originator_id)


def parse_seal_signature(stored: str) -> tuple[str | None, str]:
    """(link of the seal below, signature) of a stored seal signature; the link is None for the first format."""
    if not stored.startswith(_CHAINED_PREFIX):
        return None, stored
    parts = stored.split(":", 2)
    # A field edited into another shape keeps its parts, wrong ones: its signature then fails and it is reported.
    return (parts[1], parts[2]) if len(parts) == 3 else (parts[-1], "")


def format_seal_signature(prev_link: str, signature: str) -> str:
    return f"{_CHAINED_PREFIX}{prev_link}:{signature}"


def seal_link(message: bytes, stored_signature: str) -> str:
    """The link of a seal: what it signs and the signature as stored, so that the seal above vouches for both."""
    return hashlib.sha256(message + b"\x00" + stored_signature.encode("utf-8", "surrogateescape")).hexdigest()


def _seal_message(snapshot: StoredEvent, chain_hash: str, prev_link: str | None, oid: str | None = None) -> bytes:
    return snapshot_message(
        canonical_id(snapshot.originator_id) if oid is None else oid, int(snapshot.originator_version), chain_hash,
        str(snapshot.topic), _state_bytes(snapshot.state), prev_link,
    )


def _state_bytes(state: object) -> bytes:
    # A row edited by hand may hand back text where bytes were: hash what is there, so that it is reported.
    if isinstance(state, bytes | bytearray | memoryview):
        return bytes(state)
    return str(state).encode("utf-8", "surrogateescape")


def _what(oid: str, version: int) -> str:
    return f"the snapshot of aggregate {oid} at version {version}"


def _binding_problem(snapshot: StoredEvent, seal: SnapshotSeal | None) -> SnapshotProblem | None:
    """What is wrong with a snapshot's seal short of its signature: missing, or bound to no event or another."""
    if seal is not None and seal.current_chain_hash is not None and seal.current_chain_hash == seal.chain_hash:
        return None
    oid, version = canonical_id(snapshot.originator_id), int(snapshot.originator_version)
    what = _what(oid, version)
    if seal is None:
        return SnapshotProblem(
            oid, version, "snapshot-unsealed",
            f"{what} carries no seal: it was written behind the application's back (or its seal was deleted); "
            "it is not trusted, the aggregate is replayed from its events",
        )
    if seal.current_chain_hash is None:
        return SnapshotProblem(
            oid, version, "snapshot-orphaned",
            f"{what} stands for an event that is no longer in the chain: the event was deleted or renumbered",
        )
    if seal.current_chain_hash != seal.chain_hash:
        return SnapshotProblem(
            oid, version, "snapshot-unbound",
            f"{what} was sealed for a chain link {seal.chain_hash[:12]}…, but that event's link is now "
            f"{seal.current_chain_hash[:12]}…: the history behind it was rewritten",
        )
    return None


def _altered(snapshot: StoredEvent) -> SnapshotProblem:
    oid, version = canonical_id(snapshot.originator_id), int(snapshot.originator_version)
    return SnapshotProblem(
        oid, version, "snapshot-altered",
        f"{_what(oid, version)} no longer matches its signed seal: its state or topic was edited in the database "
        "(or the seal was forged); it is not trusted, the aggregate is replayed from its events",
    )


def snapshot_problem(
    snapshot: StoredEvent, seal: SnapshotSeal | None, public_key: Ed25519PublicKey
) -> SnapshotProblem | None:
    """What is wrong with a stored snapshot, or None if its seal holds by its own signature."""
    problem = _binding_problem(snapshot, seal)
    if problem is not None or seal is None:
        return problem
    prev_link, signature = parse_seal_signature(seal.signature)
    if not is_valid_signature(public_key, signature, _seal_message(snapshot, seal.chain_hash, prev_link)):
        return _altered(snapshot)
    return None


def snapshot_problems(
    sealed: Iterable[tuple[StoredEvent, SnapshotSeal | None]], public_key: Ed25519PublicKey
) -> Iterator[SnapshotProblem]:
    """What is wrong with each of the stored snapshots, given in (aggregate, version) order with their seals.

    Per aggregate, from its newest seal down: a seal named by the link of a seal that holds holds too (its message
    and signature hash to what the one above signed); any other is checked by its own signature. The newest seal
    of an aggregate is the only signature checked when nothing was touched.
    """
    for _, group in groupby(sealed, key=lambda pair: pair[0].originator_id):
        yield from _aggregate_problems(list(group), public_key)


def _aggregate_problems(
    pairs: list[tuple[StoredEvent, SnapshotSeal | None]], public_key: Ed25519PublicKey
) -> list[SnapshotProblem]:
    problems: dict[int, SnapshotProblem] = {}
    checkable: list[tuple[int, bytes, str | None, str]] = []  # (index, message, link below, signature)
    index_of_link: dict[str, int] = {}
    oid = canonical_id(pairs[0][0].originator_id)  # One aggregate: its id is parsed once, not per snapshot.
    for index, (snapshot, seal) in enumerate(pairs):
        problem = _binding_problem(snapshot, seal)
        if problem is not None or seal is None:
            if problem is not None:
                problems[index] = problem
            continue
        prev_link, signature = parse_seal_signature(seal.signature)
        message = _seal_message(snapshot, seal.chain_hash, prev_link, oid)
        checkable.append((index, message, prev_link, signature))
        index_of_link[seal_link(message, seal.signature)] = index
    vouched: set[int] = set()
    dangling: list[int] = []
    for index, message, prev_link, signature in reversed(checkable):
        if index not in vouched and not is_valid_signature(public_key, signature, message):
            problems[index] = _altered(pairs[index][0])
            continue
        if prev_link is None or prev_link == SEAL_GENESIS:
            continue
        below = index_of_link.get(prev_link)
        if below is None:
            dangling.append(index)
        elif below < index:
            vouched.add(below)
    for index in dangling:
        # A seal below was edited or unbound (reported as such), or it is gone: only the last is said here.
        if not any(other < index for other in problems):
            snapshot = pairs[index][0]
            oid, version = canonical_id(snapshot.originator_id), int(snapshot.originator_version)
            problems[index] = SnapshotProblem(
                oid, version, "snapshot-missing",
                f"the seal of {_what(oid, version)} follows a sealed snapshot of that aggregate below version "
                f"{version} that is no longer in the store: a snapshot was deleted in the database (with or without "
                "its seal); nothing untrue is trusted, the aggregate is replayed from further back",
            )
    return [problems[index] for index in sorted(problems)]


class SealedSnapshots:
    """What the snapshot recorders of both backends share: the seal check on load, and the walk for verify."""

    events_table_name: str
    _chain: HashChainedRecorder | None = None
    # The format new seals are written in: 2 chains each to the aggregate's seal below it. 1 is what stores hold
    # from before the seal chains; writing it is kept so that tests and benchmarks can make such a store.
    seal_format: int = 2
    _newest_links: dict[str, tuple[int, str]] | None = None

    @property
    def seals_table_name(self) -> str:
        return self.events_table_name + SEALS_TABLE_SUFFIX

    @property
    def signer(self) -> HeadSigner | None:
        return None if self._chain is None else self._chain.signer

    def attach(self, chain: HashChainedRecorder) -> None:
        """Bind to the application recorder whose chain (and signer) the seals refer to."""
        self._chain = chain
        self._configure(chain)

    @abstractmethod
    def _configure(self, chain: HashChainedRecorder) -> None: ...

    @abstractmethod
    def _select_seal(self, snapshot: StoredEvent) -> SnapshotSeal | None: ...

    @abstractmethod
    def iter_sealed(self) -> Iterator[tuple[StoredEvent, SnapshotSeal | None]]:
        """Every stored snapshot with its seal (None if it has none), in (aggregate, version) order."""

    def _seal_columns(
        self,
        signer: HeadSigner,
        snapshot: StoredEvent,
        chain_hash: str,
        written: dict[str, tuple[int, str]],
        select_below: Callable[[StoredEvent], tuple[StoredEvent, SnapshotSeal] | None],
    ) -> tuple[str, str]:
        """(key id, stored signature) of a new seal, in the writing transaction; written collects the links of the
        seals written in it, to be remembered once it commits (see remember_links)."""
        oid, version = canonical_id(snapshot.originator_id), int(snapshot.originator_version)
        if self.seal_format == 1:
            return signer.seal_snapshot(oid, version, chain_hash, str(snapshot.topic), _state_bytes(snapshot.state))
        prev_link = self._link_below(signer, snapshot, oid, version, written, select_below)
        message = _seal_message(snapshot, chain_hash, prev_link)
        key_id, signature = signer.sign_snapshot_message(message)
        stored = format_seal_signature(prev_link, signature)
        written[oid] = (version, seal_link(message, stored))
        return key_id, stored

    def _link_below(
        self,
        signer: HeadSigner,
        snapshot: StoredEvent,
        oid: str,
        version: int,
        written: dict[str, tuple[int, str]],
        select_below: Callable[[StoredEvent], tuple[StoredEvent, SnapshotSeal] | None],
    ) -> str:
        # The link of a seal this process wrote itself needs no check. Any other is chained onto only if its own
        # signature holds now: a seal above an edited one would vouch for the edit. A link that is not the newest
        # below (another process sealed one in between) only costs verify one more signature to check.
        known = written.get(oid) or (self._newest_links or {}).get(oid)
        if known is not None and known[0] < version:
            return known[1]
        found = select_below(snapshot)
        if found is None:
            return SEAL_GENESIS
        below, seal = found
        try:
            public_key = signer.public_key
        except SigningKeyError:
            return SEAL_GENESIS
        if snapshot_problem(below, seal, public_key) is not None:
            return SEAL_GENESIS
        prev_link, _ = parse_seal_signature(seal.signature)
        return seal_link(_seal_message(below, seal.chain_hash, prev_link), seal.signature)

    def remember_links(self, written: dict[str, tuple[int, str]]) -> None:
        """After the commit: the newest link of each aggregate sealed, for the next seal of the same aggregate."""
        if not written:
            return
        links = self._newest_links
        if links is None or len(links) > _LINK_CACHE_LIMIT:
            links = self._newest_links = {}
        for oid, (version, link) in written.items():
            if oid not in links or links[oid][0] < version:
                links[oid] = (version, link)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        # Mixed in before the backend's aggregate recorder: a snapshot is handed out only if its seal holds.
        snapshots: Sequence[StoredEvent] = super().select_events(  # type: ignore[misc]
            originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        return [s for s in snapshots if self._trusted(s)]

    def _trusted(self, snapshot: StoredEvent) -> bool:
        signer = self.signer
        if signer is None or not signer.has_key():
            return False
        try:
            public_key = signer.public_key
        except SigningKeyError:
            return False
        problem = snapshot_problem(snapshot, self._select_seal(snapshot), public_key)
        if problem is not None:
            logger.warning("snapshot ignored, replaying from events: %s (%s)", problem.detail, problem.kind)
            return False
        return True
