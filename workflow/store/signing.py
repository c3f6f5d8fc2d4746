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

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# cryptography is imported where a key is read, made or used: a command that opens the store and signs nothing (a
# listing of the read models) does not pay for it at start-up.

SIGNING_KEY_ENV = "DOSSIERFLOW_SIGNING_KEY"
HEAD_FILE_ENV = "DOSSIERFLOW_HEAD_FILE"
HEAD_FILE_DELAY_ENV = "DOSSIERFLOW_HEAD_FILE_DELAY_MS"
# Seconds between two writes of the head file at most: what a process killed without closing may leave unwritten.
HEAD_FILE_DELAY = 0.05
_HEAD_DOMAIN = b"dossierflow signed chain head v1\x00"
_SNAPSHOT_DOMAIN = b"dossierflow sealed snapshot v1\x00"
_SNAPSHOT_DOMAIN_V2 = b"dossierflow sealed snapshot v2\x00"

_log = logging.getLogger(__name__)


class SigningKeyError(Exception):
    """The signing key or a public key cannot be read (missing, unreadable, not an Ed25519 key)."""


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the first 16 bytes of sha256 of its raw form, in hex."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def _libsodium_signer(key: Ed25519PrivateKey) -> Callable[[bytes], bytes]:
    """A function giving the key's Ed25519 signature of a message, computed by libsodium (PyNaCl).

    Every commit signs its head, and cryptography's Ed25519 (OpenSSL's) took 460,000 instructions a signature,
    a third of what opening a dossier costs; libsodium takes 260,000. Ed25519 signatures are deterministic
    (RFC 8032): for one key and one message both give the very same bytes, so nothing stored or verified changes,
    and the key stays cryptography's (its file, its public half, every verification). Checked once per key.
    """
    from cryptography.hazmat.primitives import serialization
    from nacl.bindings import crypto_sign, crypto_sign_BYTES, crypto_sign_seed_keypair

    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    _, secret = crypto_sign_seed_keypair(seed)

    def sign(message: bytes) -> bytes:
        # crypto_sign gives the signature followed by the message.
        return crypto_sign(message, secret)[:crypto_sign_BYTES]

    probe = b"dossierflow signer self-check\x00" + os.urandom(16)
    if sign(probe) != key.sign(probe):
        raise SigningKeyError("libsodium and cryptography disagree on an Ed25519 signature; nothing is signed")
    return sign


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file (as `dossierflow public-key` writes it), or the public half of a private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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


def is_valid_signature(public_key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

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
        return is_valid_signature(public_key, self.signature, message)

    def to_json(self) -> str:
        return json.dumps({"format": "dossierflow-signed-head/1", **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, source: str) -> SignedHead:
        try:
            # Bytes are decoded here, so that a file that is not UTF-8 text is refused as any other garbage.
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
        # OverflowError: a position of 1e400 (infinity); RecursionError: arrays nested a hundred thousand deep.
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as error:
            raise SigningKeyError(f"{source} is not a signed head written by dossierflow ({error})") from None

    @classmethod
    def read(cls, path: Path) -> SignedHead:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise SigningKeyError(f"cannot read {path}: {error.strerror or error}") from None
        return cls.from_json(data, str(path))


def snapshot_content_digest(topic: str, state: bytes) -> str:
    # The state fed on its own, not concatenated: a decision book's snapshot is hundreds of KB, copied for nothing.
    digest = hashlib.sha256(len(topic).to_bytes(8, "big") + topic.encode())
    digest.update(state)
    return digest.hexdigest()


def snapshot_message(
    originator_id: str,
    originator_version: int,
    chain_hash: str,
    topic: str,
    state: bytes,
    prev_link: str | None = None,
) -> bytes:
    """What a snapshot's seal signs: the event it stands for (by its chain hash) and a digest of its own content.

    A seal of the second format also signs prev_link, the link of the aggregate's seal before it (see
    workflow.store.snapshots): one checked signature then vouches for every seal below it. Without prev_link, the
    message of the first format, which seals written before the seal chains still carry.
    """
    content = snapshot_content_digest(topic, state)
    if prev_link is None:
        return _SNAPSHOT_DOMAIN + f"{originator_id}\x00{originator_version}\x00{chain_hash}\x00{content}".encode()
    return (
        _SNAPSHOT_DOMAIN_V2
        + f"{originator_id}\x00{originator_version}\x00{chain_hash}\x00{content}\x00{prev_link}".encode()
    )


def snapshot_seal_is_valid(
    public_key: Ed25519PublicKey,
    signature_hex: str,
    originator_id: str,
    originator_version: int,
    chain_hash: str,
    topic: str,
    state: bytes,
    prev_link: str | None = None,
) -> bool:
    return is_valid_signature(
        public_key,
        signature_hex,
        snapshot_message(originator_id, originator_version, chain_hash, topic, state, prev_link),
    )


class HeadSigner:
    """The signing key (created on first use, owner-only) and the head file beside it.

    The key is created when it is first needed to sign, not when the store is opened, so that reading a store
    (and verifying a copy of one with another party's public key) never mints a key of its own.
    """

    def __init__(self, key_path: Path, head_path: Path, *, head_file_delay: float = HEAD_FILE_DELAY) -> None:
        self.key_path = key_path
        self.head_path = head_path
        self._head_file = HeadFile(head_path, head_file_delay)
        self._private: Ed25519PrivateKey | None = None
        self._key_id: str | None = None
        self._signature: Callable[[bytes], bytes] | None = None

    def __repr__(self) -> str:
        return f"HeadSigner(key_path={self.key_path!s}, head_path={self.head_path!s})"

    # --- the key -------------------------------------------------------------------------------------------------

    def has_key(self) -> bool:
        return self._private is not None or self.key_path.exists()

    def ensure_key(self) -> None:
        """Load the key, or make it if there is none yet. Raises SigningKeyError if it can be neither."""
        self._key()

    def _key(self) -> Ed25519PrivateKey:
        if self._private is None:
            key = self._load_or_create()
            self._key_id = fingerprint(key.public_key())
            self._signature = _libsodium_signer(key)
            # Set last: a thread that sees the key sees its fingerprint and its signer too.
            self._private = key
        return self._private

    def _sign(self, message: bytes) -> str:
        self._key()
        assert self._signature is not None
        return self._signature(message).hex()

    def _load_or_create(self) -> Ed25519PrivateKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once must not each write a key of their own; 0600 from creation,
            # so the key is never readable by others, not even between the write and a chmod.
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._load()
        except OSError as error:
            raise SigningKeyError(f"cannot create the signing key {self.key_path}: {error.strerror or error}") from None
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        return key

    def _load(self) -> Ed25519PrivateKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
        signed_at = datetime.now(UTC).isoformat(timespec="microseconds")
        key_id = self.key_id
        signature = self._sign(SignedHead.message(position, notification_id, hash_, signed_at, key_id))
        return SignedHead(position, notification_id, hash_, signed_at, key_id, signature)

    def seal_snapshot(
        self,
        originator_id: str,
        originator_version: int,
        chain_hash: str,
        topic: str,
        state: bytes,
        prev_link: str | None = None,
    ) -> tuple[str, str]:
        """(key id, signature) of a snapshot's seal (of the first format if prev_link is None)."""
        return self.sign_snapshot_message(
            snapshot_message(originator_id, originator_version, chain_hash, topic, state, prev_link)
        )

    def sign_snapshot_message(self, message: bytes) -> tuple[str, str]:
        """(key id, signature) over a message made by snapshot_message."""
        return self.key_id, self._sign(message)

    # --- the head file -------------------------------------------------------------------------------------------

    def remembered_head(self) -> SignedHead | None:
        """The newest signed head recorded outside the database: the head file's, or a newer one this process
        committed and has not written to it yet. None if none was ever recorded here."""
        return self._head_file.newest()

    def remember(self, head: SignedHead) -> None:
        """Record head outside the database: at once in memory, in the head file within the delay (see HeadFile)."""
        self._head_file.remember(head)

    def flush(self) -> None:
        """Write the newest remembered head to the head file now, if it is not there yet."""
        self._head_file.flush()

    def close(self) -> None:
        """Flush the head file and stop its writer; a later remember() writes at once."""
        self._head_file.close()


class HeadFile:
    """The newest signed head, kept in memory and written to a file outside the database, cheaply.

    Writing the file is what costs: replacing a file by rename makes ext4 (and others) write the new file's data
    out before the rename, hundreds of µs, more than the rest of a command. So a commit only records its head in
    memory, and a writer thread replaces the file at most once per ``delay`` seconds (the first head after a quiet
    spell at once), off the commit path; close() and interpreter exit write the last one. With ``delay`` 0 the
    file is written before remember() returns.

    The window this leaves: if the process dies without closing (killed, crashed, power lost), the head file may
    miss the heads of the last ``delay`` seconds of commits (plus one write's time). Only truncation detection
    against the head file is weakened, and only for those newest events: every commit is still signed in the
    database in the same transaction, and this process itself refuses to write over a loss from memory.

    Several processes may share the file: writes are serialized by an flock on a lock file beside it, and each
    writer re-reads the file under that lock and never replaces a head with an older one. Reads on the commit path
    stat the file and re-read it only when it changed.
    """

    def __init__(self, path: Path, delay: float) -> None:
        self.path = path
        self.delay = delay
        self._lock = threading.Lock()  # guards the fields below
        self._write_lock = threading.Lock()  # one write at a time in this process: the flock is per descriptor
        self._known: SignedHead | None = None  # the newest head this process committed or wrote
        self._pending: SignedHead | None = None  # committed, not yet in the file
        self._file_head: SignedHead | None = None  # what the file held when last read or written ...
        self._file_stat: tuple[int, int, int, int] | None = None  # ... and its stat then
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._lock_fd: int | None = None
        self._warned = ""  # the last failure to write said, so that it is said once

    def newest(self) -> SignedHead | None:
        """The head file's head or the newest one this process knows, whichever is later (the file's if equal, so
        that a head file edited in place shows). Raises SigningKeyError if the file cannot be read or parsed."""
        file_head = self._read_if_changed()
        with self._lock:
            known = self._known
        if known is not None and (file_head is None or known.position > file_head.position):
            return known
        return file_head

    def _read_if_changed(self) -> SignedHead | None:
        try:
            stat = _stat_key(os.stat(self.path))
        except FileNotFoundError:
            return None
        except OSError as error:
            raise SigningKeyError(f"cannot read {self.path}: {error.strerror or error}") from None
        with self._lock:
            if stat == self._file_stat:
                return self._file_head
        head = SignedHead.read(self.path)
        with self._lock:
            self._file_head, self._file_stat = head, stat
        return head

    def remember(self, head: SignedHead) -> None:
        with self._lock:
            if self._known is not None and self._known.position >= head.position:
                return
            self._known = self._pending = head
            synchronous = self.delay <= 0 or self._stop.is_set()
            if not synchronous and self._writer is None:
                self._writer = threading.Thread(target=self._write_behind, name=f"head file {self.path}", daemon=True)
                self._writer.start()
                _OPEN.add(self)
        if synchronous:
            self.flush()
        else:
            self._wake.set()

    def _write_behind(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except OSError as error:
                # Nobody to raise to: say so, and keep the head pending for the next attempt (or close()).
                self._warn(error)
            # At most one write per delay: the heads committed meanwhile are coalesced into the next one.
            self._stop.wait(self.delay)

    def _warn(self, error: OSError) -> None:
        # Once per cause, not once per attempt: a disk stays full for a while.
        said = f"cannot write the head file {self.path}: {error.strerror or error}"
        if said != self._warned:
            self._warned = said
            _log.warning("%s; it keeps an older head until a later write succeeds", said)

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                head, self._pending = self._pending, None
            if head is None:
                return
            try:
                self._write(head)
            except BaseException:
                with self._lock:
                    if self._pending is None:
                        self._pending = head
                raise
            self._warned = ""

    def _write(self, head: SignedHead) -> None:
        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            self._lock_fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            # Re-read under the lock, whatever the stat says: another process may have written a later head, and
            # a recycled inode with the same size and (coarse) mtime would pass for our own file. Off the commit
            # path and once per delay at most, this read costs nothing that matters.
            try:
                current: SignedHead | None = SignedHead.read(self.path)
            except SigningKeyError:
                current = None  # Missing or unreadable: replaced below.
            if current is not None and current.position >= head.position:
                return
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, head.to_json().encode("utf-8"))
                finally:
                    os.close(fd)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise
            stat = _stat_key(os.stat(self.path))
            with self._lock:
                self._file_head, self._file_stat = head, stat
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join()
        _OPEN.discard(self)
        try:
            self.flush()
        except OSError as error:
            # A full disk, say. Every head is signed in the database, committed: only this file lags, as after a
            # kill (see above), and the next command to commit writes it again. Raising here stopped the store
            # from closing at all (its connections left open, a traceback on exit).
            self._warn(error)
        finally:
            with self._write_lock:
                if self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None


def _stat_key(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


# Head files with a writer thread, flushed at interpreter exit: an application that is never closed still leaves its
# last head in the file (daemon threads are stopped before atexit handlers run, not joined).
_OPEN: weakref.WeakSet[HeadFile] = weakref.WeakSet()


@atexit.register
def _flush_open_head_files() -> None:
    for head_file in list(_OPEN):
        with contextlib.suppress(Exception):
            head_file.close()


def signer_from_env(get: Any) -> HeadSigner | None:
    """The signer named by an application environment (an eventsourcing Environment's get), if any."""
    key = get(SIGNING_KEY_ENV)
    if not key:
        return None
    key_path = Path(key)
    head = get(HEAD_FILE_ENV)
    delay = HEAD_FILE_DELAY
    delay_ms = get(HEAD_FILE_DELAY_ENV)
    if delay_ms:
        try:
            delay = float(delay_ms) / 1000
        except ValueError:
            delay = -1.0
        if not 0 <= delay <= 60:  # A minute: beyond it, the window would defeat the head file's purpose.
            msg = f"{HEAD_FILE_DELAY_ENV} must be a number of milliseconds from 0 to 60000, not {delay_ms!r}"
            raise SigningKeyError(msg)
    return HeadSigner(
        key_path, Path(head) if head else key_path.with_name("chain-head.json"), head_file_delay=delay
    )
