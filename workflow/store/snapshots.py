"""Sealed snapshots: a snapshot is trusted only if it is bound to the chain and signed.

A snapshot stands for an aggregate at one version. Its seal, written in the same transaction as the snapshot, is an
Ed25519 signature over (aggregate id, version, the chain hash of the event at that version, sha256 of the
snapshot's topic and state). Whoever edits a snapshot's state in the database cannot make a new seal without the key,
and a snapshot carried over to a rewritten history no longer matches the chain hash of its event.

On load, a snapshot whose seal is missing or does not hold is ignored and the aggregate is replayed from its
events: a snapshot is only a cache of the events, so ignoring one costs time, never correctness, and an edited
snapshot cannot stop the service. It is logged, and verify reports it (naming the aggregate and version).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import NamedTuple
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.persistence import StoredEvent

from workflow.store.chain import HashChainedRecorder
from workflow.store.signing import HeadSigner, SigningKeyError, snapshot_seal_is_valid

SEALS_TABLE_SUFFIX = "_seals"
SEAL_COLUMNS = ("originator_id", "originator_version", "chain_hash", "key_id", "signature")

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


def snapshot_problem(
    snapshot: StoredEvent, seal: SnapshotSeal | None, public_key: Ed25519PublicKey
) -> SnapshotProblem | None:
    """What is wrong with a stored snapshot, or None if its seal holds."""
    oid, version = canonical_id(snapshot.originator_id), int(snapshot.originator_version)
    what = f"the snapshot of aggregate {oid} at version {version}"
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
    valid = snapshot_seal_is_valid(
        public_key, seal.signature, oid, version, seal.chain_hash, str(snapshot.topic), bytes(snapshot.state)
    )
    if not valid:
        return SnapshotProblem(
            oid, version, "snapshot-altered",
            f"{what} no longer matches its signed seal: its state or topic was edited in the database "
            "(or the seal was forged); it is not trusted, the aggregate is replayed from its events",
        )
    return None


class SealedSnapshots:
    """What the snapshot recorders of both backends share: the seal check on load, and the walk for verify."""

    events_table_name: str
    _chain: HashChainedRecorder | None = None

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
        """Every stored snapshot with its seal (None if it has none)."""

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
