from __future__ import annotations

from pathlib import Path

from workflow import store
from workflow.clock import Clock, system_clock
from workflow.engine import Engine
from workflow.evidence import EvidencePolicy, FileBlobStore
from workflow.rules import load_rule_book


def build_engine(
    *,
    database_url: str | None,
    data_dir: Path,
    clock: Clock = system_clock,
    max_evidence_bytes: int | None = None,
    signing_key: Path | None = None,
) -> Engine:
    """The one place that wires the engine to its store, rules, clock, signing key and evidence files.

    The signing key defaults to data_dir/signing-key.pem (created, owner-only, on first write); the newest signed
    head is remembered in data_dir/chain-head.json, outside the database.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    env = store.application_env(
        database_url,
        data_dir / "events.sqlite",
        signing_key=signing_key or data_dir / "signing-key.pem",
        head_file=data_dir / "chain-head.json",
    )
    policy = EvidencePolicy(max_bytes=max_evidence_bytes) if max_evidence_bytes else EvidencePolicy()
    return Engine(
        env,
        rule_book=load_rule_book(),
        clock=clock,
        blobs=FileBlobStore(data_dir / "evidence"),
        evidence_policy=policy,
    )
