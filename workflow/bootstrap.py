from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workflow import store
from workflow.clock import Clock, system_clock
from workflow.store.application import StoreApplication
from workflow.store.timeouts import DEFAULT_CONNECT_TIMEOUT, DEFAULT_LOCK_TIMEOUT

if TYPE_CHECKING:
    from workflow.engine import Engine


def build_engine(
    *,
    database_url: str | None,
    data_dir: Path,
    clock: Clock = system_clock,
    max_evidence_bytes: int | None = None,
    read_only: bool = False,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    lock_timeout: int = DEFAULT_LOCK_TIMEOUT,
    signing_key: Path | None = None,
    single_connection: bool = False,
) -> Engine:
    """The one place that wires the engine to its store, rules, clock, signing key and evidence files.

    read_only: for commands that only read. Nothing is created (a data directory that does not exist is an error,
    StoreUnavailable, not a new empty store) and the store is opened for reading only.
    The signing key defaults to data_dir/signing-key.pem (created, owner-only, on first write); the newest signed
    head is remembered in data_dir/chain-head.json, outside the database.
    single_connection: for a process of one thread (a command of the command line), see store.application_env.
    """
    # Imported here: the engine's modules (rules and their schema, evaluations, evidence) are most of the start-up
    # of a listing that opens only the store (open_store).
    from workflow.engine import Engine
    from workflow.evidence import EvidencePolicy, FileBlobStore
    from workflow.rules import load_rule_book

    if not read_only:
        if data_dir.exists() and not data_dir.is_dir():
            # mkdir says only "[Errno 17] File exists".
            raise store.StoreUnavailable(
                f"{data_dir} is a file, not a directory (set DOSSIERFLOW_DATA_DIR to the data directory)"
            )
        data_dir.mkdir(parents=True, exist_ok=True)
    env = _store_env(database_url, data_dir, read_only, connect_timeout, lock_timeout, signing_key, single_connection)
    policy = EvidencePolicy(max_bytes=max_evidence_bytes) if max_evidence_bytes else EvidencePolicy()
    return Engine(
        env,
        rule_book=load_rule_book(),
        clock=clock,
        blobs=FileBlobStore(data_dir / "evidence", read_only=read_only),
        evidence_policy=policy,
    )


def open_store(
    *,
    database_url: str | None,
    data_dir: Path,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    lock_timeout: int = DEFAULT_LOCK_TIMEOUT,
    signing_key: Path | None = None,
    single_connection: bool = False,
) -> StoreApplication:
    """The store as build_engine(read_only=True) opens it (the same checks, the same refusals when there is none), as
    a log and nothing more: for listings of the read models, which need its events but none of the use cases."""
    env = _store_env(database_url, data_dir, True, connect_timeout, lock_timeout, signing_key, single_connection)
    return StoreApplication(env)


def _store_env(
    database_url: str | None,
    data_dir: Path,
    read_only: bool,
    connect_timeout: int,
    lock_timeout: int,
    signing_key: Path | None,
    single_connection: bool,
) -> dict[str, str]:
    return store.application_env(
        database_url,
        data_dir / "events.sqlite",
        read_only=read_only,
        connect_timeout=connect_timeout,
        lock_timeout=lock_timeout,
        signing_key=signing_key or data_dir / "signing-key.pem",
        head_file=data_dir / "chain-head.json",
        single_connection=single_connection,
    )
