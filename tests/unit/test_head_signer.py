"""The signer's signatures are the key's own Ed25519 signatures, whichever library computes them."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from workflow.store import HeadSigner
from workflow.store.signing import SignedHead, snapshot_message


def test_a_signed_head_carries_the_signature_cryptography_gives_for_the_same_key(tmp_path: Path) -> None:
    signer = HeadSigner(tmp_path / "signing-key.pem", tmp_path / "chain-head.json")
    head = signer.sign_head(7, 12, "ab" * 32)
    key = serialization.load_pem_private_key((tmp_path / "signing-key.pem").read_bytes(), password=None)
    message = SignedHead.message(head.position, head.notification_id, head.hash, head.signed_at, head.key_id)
    assert bytes.fromhex(head.signature) == key.sign(message)  # type: ignore[call-arg, union-attr]
    assert head.is_signed_by(signer.public_key)


def test_a_snapshot_seal_carries_the_signature_cryptography_gives_for_the_same_key(tmp_path: Path) -> None:
    signer = HeadSigner(tmp_path / "signing-key.pem", tmp_path / "chain-head.json")
    message = snapshot_message("0f" * 16, 25, "cd" * 32, "domain.dossier:Dossier", b"{}", prev_link="ef" * 32)
    key_id, signature = signer.sign_snapshot_message(message)
    key = serialization.load_pem_private_key((tmp_path / "signing-key.pem").read_bytes(), password=None)
    assert key_id == signer.key_id
    assert bytes.fromhex(signature) == key.sign(message)  # type: ignore[call-arg, union-attr]


def test_a_key_loaded_from_its_file_signs_as_the_process_that_created_it(tmp_path: Path) -> None:
    first = HeadSigner(tmp_path / "signing-key.pem", tmp_path / "chain-head.json")
    second = HeadSigner(tmp_path / "signing-key.pem", tmp_path / "chain-head.json")
    message = snapshot_message("0f" * 16, 25, "cd" * 32, "domain.dossier:Dossier", b"{}")
    assert first.sign_snapshot_message(message) == second.sign_snapshot_message(message)
