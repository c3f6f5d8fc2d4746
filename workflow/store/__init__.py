"""The event store's storage, and the only package of the engine that knows it.

Three concerns live here, all below the engine's use cases (modules: chain, sqlite, postgres, verify, backend,
transcodings):

* **Backend choice.** :func:`application_env` turns one setting (``DATABASE_URL``) into the environment of an
  ``eventsourcing`` ``Application``: the library's own SQLite recorder (embedded default) or its PostgreSQL
  recorder (production), each subclassed to keep a hash chain.
* **Tamper evidence.** Every stored event gets a chain record, written in the same transaction as the event:
  ``hash = sha256(prev_hash || encoding(notification_id, originator_id, originator_version, topic, state))``.
  With a signing key (module signing), every commit also signs its new head with Ed25519 in the same transaction
  and remembers it in a head file outside the database; snapshots are sealed to the chain (module snapshots) and
  ignored on load unless their seal holds. :func:`verify_chain` recomputes the chain from the genesis, checks the
  newest signed head, the heads kept outside the database and the snapshots' seals, and names what is wrong.
* **Transcodings.** :func:`register_transcodings` teaches the JSON transcoder the domain's value objects, so that
  events come back from the store as the very objects that went in.

Errors. A version conflict (two writers saving the same aggregate version) raises
``eventsourcing.persistence.IntegrityError`` on both backends: SQLite's ``sqlite3.IntegrityError`` is translated by
``SQLiteTransaction``, psycopg's ``UniqueViolation`` by ``PostgresDatastore.get_connection``. The whole batch is
rolled back (events and chain records), so the engine may catch it, raise ``domain.errors.ConcurrencyConflict``,
and let the user retry on fresh state. The chain's own refusal to extend (the events table lost its newest rows)
is a :class:`ChainWriteRefused`, a PersistenceError but deliberately not an IntegrityError, so that it is not
retried as a conflict.
"""

from typing import TYPE_CHECKING, Any

from workflow.store.backend import application_env, is_postgres_url
from workflow.store.chain import (
    CHAIN_TABLE_SUFFIX,
    GENESIS_HASH,
    ChainLink,
    ChainWriteRefused,
    EventRow,
    HashChainedRecorder,
    link_hash,
)
from workflow.store.errors import StoreUnavailable
from workflow.store.signing import (
    HEAD_FILE_ENV,
    SIGNING_KEY_ENV,
    HeadSigner,
    SignedHead,
    SigningKeyError,
    fingerprint,
    load_public_key,
    public_key_pem,
)
from workflow.store.snapshots import SealedSnapshots
from workflow.store.transcodings import (
    TRANSCODED_DATACLASSES,
    TRANSCODED_ENUMS,
    DataclassAsDict,
    DateAsISO,
    EnumAsValue,
    FastJSONTranscoder,
    register_dataclass,
    register_enum,
    register_transcodings,
)

__all__ = [
    "CHAIN_TABLE_SUFFIX",
    "GENESIS_HASH",
    "HEAD_FILE_ENV",
    "PROGRESS_EVERY",
    "SIGNING_KEY_ENV",
    "TRANSCODED_DATACLASSES",
    "TRANSCODED_ENUMS",
    "ChainBreak",
    "ChainLink",
    "ChainReport",
    "ChainWriteRefused",
    "ChainedPostgresApplicationRecorder",
    "ChainedSQLiteApplicationRecorder",
    "DataclassAsDict",
    "DateAsISO",
    "EnumAsValue",
    "EventRow",
    "FastJSONTranscoder",
    "Finding",
    "HashChainedRecorder",
    "HeadSigner",
    "ProgressCallback",
    "SealedPostgresSnapshotRecorder",
    "SealedSQLiteSnapshotRecorder",
    "SealedSnapshots",
    "SignedHead",
    "SignedPostgresFactory",
    "SignedSQLiteFactory",
    "SigningKeyError",
    "StoreUnavailable",
    "VerifiedHead",
    "application_env",
    "chain_head",
    "fingerprint",
    "is_postgres_url",
    "link_hash",
    "load_public_key",
    "public_key_pem",
    "register_dataclass",
    "register_enum",
    "register_transcodings",
    "verify_chain",
    "verify_since",
]


if TYPE_CHECKING:
    from workflow.store.postgres import (
        ChainedPostgresApplicationRecorder,
        SealedPostgresSnapshotRecorder,
        SignedPostgresFactory,
    )
    from workflow.store.sqlite import (
        ChainedSQLiteApplicationRecorder,
        SealedSQLiteSnapshotRecorder,
        SignedSQLiteFactory,
    )
    from workflow.store.verify import (
        PROGRESS_EVERY,
        ChainBreak,
        ChainReport,
        Finding,
        ProgressCallback,
        VerifiedHead,
        chain_head,
        verify_chain,
        verify_since,
    )

_POSTGRES_NAMES = frozenset(
    {"ChainedPostgresApplicationRecorder", "SealedPostgresSnapshotRecorder", "SignedPostgresFactory"}
)


_SQLITE_NAMES = frozenset({"ChainedSQLiteApplicationRecorder", "SealedSQLiteSnapshotRecorder", "SignedSQLiteFactory"})
_VERIFY_NAMES = frozenset(
    {
        "PROGRESS_EVERY",
        "ChainBreak",
        "ChainReport",
        "Finding",
        "ProgressCallback",
        "VerifiedHead",
        "chain_head",
        "verify_chain",
        "verify_since",
    }
)


def __getattr__(name: str) -> Any:
    # The PostgreSQL recorders are loaded when first asked for: importing psycopg and its pool costs every command on
    # the embedded SQLite store a tenth of a second of start-up. The SQLite ones likewise for a command on PostgreSQL,
    # and verifying: a listing never verifies.
    if name in _POSTGRES_NAMES:
        from workflow.store import postgres

        return getattr(postgres, name)
    if name in _SQLITE_NAMES:
        from workflow.store import sqlite

        return getattr(sqlite, name)
    if name in _VERIFY_NAMES:
        from workflow.store import verify

        return getattr(verify, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
