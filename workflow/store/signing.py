"""Signed chain heads: an Ed25519 key kept outside the database, and the newest signed head remembered beside it.

A hash chain vouches only for the links before its head: whoever can write to the database can rewrite events and
recompute every link, cut off the newest events, or append an event with a correct link. A signature over the head
by a key the database never sees closes the first and the last; a copy of the newest signed head kept outside the
database (the head file, or an exported checkpoint) closes the second.

What is signed is a :class:`SignedHead`: (position, notification id, hash) of a link, the time, and the
fingerprint of the key. The recorders sign one at every commit, in the same transaction as the events, so the
newest link of an untampered store is always signed; ``dossierflow checkpoint`` exports one to a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNING_KEY_ENV = "DOSSIERFLOW_SIGNING_KEY"
HEAD_FILE_ENV = "DOSSIERFLOW_HEAD_FILE"
_HEAD_DOMAIN = b"dossierflow signed chain head v1\x00"
_SNAPSHOT_DOMAIN = b"dossierflow sealed snapshot v1\x00"


class SigningKeyError(Exception):
    """The signing key or a public key cannot be read (missing, unreadable, not an Ed25519 key)."""


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the first 16 bytes of sha256 of its raw form, in hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file (as `dossierflow public-key` writes it), or the public half of a private key."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"cannot read the public key {path}: {error.strerror or error}") from None
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise SigningKeyError(f"{path} holds no PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def _is_valid(public_key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class SignedHead:
    """A link of the chain, vouched for by the signing key at a moment. Also the format of a checkpoint file."""

    position: int
    notification_id: int
    hash: str
    signed_at: str
    key_id: str
    signature: str

    @staticmethod
    def message(position: int, notification_id: int, hash_: str, signed_at: str, key_id: str) -> bytes:
        return _HEAD_DOMAIN + f"{position}\x00{notification_id}\x00{hash_}\x00{signed_at}\x00{key_id}".encode()

    def is_signed_by(self, public_key: Ed25519PublicKey) -> bool:
        message = self.message(self.position, self.notification_id, self.hash, self.signed_at, self.key_id)
        return _is_valid(public_key, self.signature, message)

    def to_json(self) -> str:
        return json.dumps({"format": "dossierflow-signed-head/1", **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str) -> SignedHead:
        try:
            data = json.loads(text)
            if data.get("format") != "dossierflow-signed-head/1":
                raise ValueError("not a dossierflow signed head")
            return cls(
                position=int(data["position"]),
                notification_id=int(data["notification_id"]),
                hash=str(data["hash"]),
                signed_at=str(data["signed_at"]),
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise SigningKeyError(f"{source} is not a signed head written by dossierflow ({error})") from None

    @classmethod
    def read(cls, path: Path) -> SignedHead:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SigningKeyError(f"cannot read {path}: {error.strerror or error}") from None
        return cls.from_json(text, str(path))


def snapshot_message(originator_id: str, originator_version: int, chain_hash: str, topic: str, state: bytes) -> bytes:
    """What a snapshot's seal signs: the event it stands for (by its chain hash) and a digest of its own content."""
    content = hashlib.sha256(len(topic).to_bytes(8, "big") + topic.encode() + bytes(state)).hexdigest()
    return _SNAPSHOT_DOMAIN + f"{originator_id}\x00{originator_version}\x00{chain_hash}\x00{content}".encode()


def snapshot_seal_is_valid(
    public_key: Ed25519PublicKey,
    signature_hex: str,
    originator_id: str,
    originator_version: int,
    chain_hash: str,
    topic: str,
    state: bytes,
) -> bool:
    return _is_valid(
        public_key, signature_hex, snapshot_message(originator_id, originator_version, chain_hash, topic, state)
    )


class HeadSigner:
    """The signing key (created on first use, owner-only) and the head file beside it.

    The key is created when it is first needed to sign, not when the store is opened, so that reading a store
    (and verifying a copy of one with another party's public key) never mints a key of its own.
    """

    def __init__(self, key_path: Path, head_path: Path) -> None:
        self.key_path = key_path
        self.head_path = head_path
        self._private: Ed25519PrivateKey | None = None
        self._key_id: str | None = None

    def __repr__(self) -> str:
        return f"HeadSigner(key_path={self.key_path!s}, head_path={self.head_path!s})"

    # --- the key -------------------------------------------------------------------------------------------------

    def has_key(self) -> bool:
        return self._private is not None or self.key_path.exists()

    def _key(self) -> Ed25519PrivateKey:
        if self._private is None:
            self._private = self._load_or_create()
            self._key_id = fingerprint(self._private.public_key())
        return self._private

    def _load_or_create(self) -> Ed25519PrivateKey:
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            # O_EXCL: two processes starting at once must not each write a key of their own; 0600 from creation,
            # so the key is never readable by others, not even between the write and a chmod.
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._load()
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        return key

    def _load(self) -> Ed25519PrivateKey:
        try:
            data = self.key_path.read_bytes()
        except OSError as error:
            raise SigningKeyError(f"cannot read the signing key {self.key_path}: {error.strerror or error}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise SigningKeyError(f"{self.key_path} holds no unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{self.key_path} holds a {type(key).__name__}, not an Ed25519 key")
        return key

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half; reading it needs the key file to exist (it is not created for a read)."""
        if self._private is None and not self.key_path.exists():
            raise SigningKeyError(
                f"no signing key at {self.key_path}: nothing was ever written with it; to verify a copy of another "
                "installation's store, give that installation's public key"
            )
        return self._key().public_key()

    @property
    def key_id(self) -> str:
        self._key()
        assert self._key_id is not None
        return self._key_id

    # --- signing -------------------------------------------------------------------------------------------------

    def sign_head(self, position: int, notification_id: int, hash_: str) -> SignedHead:
        key = self._key()
        signed_at = datetime.now(UTC).isoformat(timespec="microseconds")
        key_id = self.key_id
        signature = key.sign(SignedHead.message(position, notification_id, hash_, signed_at, key_id)).hex()
        return SignedHead(position, notification_id, hash_, signed_at, key_id, signature)

    def seal_snapshot(
        self, originator_id: str, originator_version: int, chain_hash: str, topic: str, state: bytes
    ) -> tuple[str, str]:
        """(key id, signature) of a snapshot's seal."""
        message = snapshot_message(originator_id, originator_version, chain_hash, topic, state)
        return self.key_id, self._key().sign(message).hex()

    # --- the head file -------------------------------------------------------------------------------------------

    def remembered_head(self) -> SignedHead | None:
        """The newest signed head recorded outside the database, or None if none was ever recorded here."""
        if not self.head_path.exists():
            return None
        return SignedHead.read(self.head_path)

    def remember(self, head: SignedHead) -> None:
        """Record head in the head file, unless the file already holds a later one (other writers share it)."""
        self.head_path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.head_path.with_name(self.head_path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = self.remembered_head()
            except SigningKeyError:
                current = None
            if current is not None and current.position >= head.position:
                return
            tmp = self.head_path.with_name(f".{self.head_path.name}.{os.getpid()}.tmp")
            try:
                tmp.write_text(head.to_json(), encoding="utf-8")
                os.replace(tmp, self.head_path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


def signer_from_env(get: Any) -> HeadSigner | None:
    """The signer named by an application environment (an eventsourcing Environment's get), if any."""
    key = get(SIGNING_KEY_ENV)
    if not key:
        return None
    key_path = Path(key)
    head = get(HEAD_FILE_ENV)
    return HeadSigner(key_path, Path(head) if head else key_path.with_name("chain-head.json"))
