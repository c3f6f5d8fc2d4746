"""At most one runner feeds a generation of a read model at a time: a PostgreSQL advisory lock held on its own
connection, or on SQLite a file lock beside the read models' file. A runner that cannot take a lock leaves that
read model to whoever holds it and tries again on its next pass (if that runner dies, its lock dies with it)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, text


class Locks(Protocol):
    def acquire(self, name: str, generation: int) -> bool: ...

    def release_all(self) -> None: ...


class NoLocks:
    """For a runner that is alone by construction (a test, a throwaway database)."""

    def acquire(self, name: str, generation: int) -> bool:
        return True

    def release_all(self) -> None:
        return None


class FileLocks:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[tuple[str, int], int] = {}
        self._mutex = threading.Lock()

    def acquire(self, name: str, generation: int) -> bool:
        key = (name, generation)
        with self._mutex:
            if key in self._held:
                return True
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / f"{name}.g{generation}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._held[key] = fd
            return True

    def release_all(self) -> None:
        with self._mutex:
            for fd in self._held.values():
                os.close(fd)
            self._held.clear()


def advisory_key(name: str, generation: int) -> int:
    digest = hashlib.sha256(f"dossierflow-read-model:{name}:{generation}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLocks:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._held: set[tuple[str, int]] = set()
        self._mutex = threading.Lock()

    def acquire(self, name: str, generation: int) -> bool:
        key = (name, generation)
        with self._mutex:
            if key in self._held:
                return True
            if self._conn is None:
                # Session-level locks live as long as this connection: it stays open, outside the pool's reach.
                self._conn = self.engine.connect()
                self._conn.execution_options(isolation_level="AUTOCOMMIT")
            got = bool(
                self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name, generation)})
                .scalar_one()
            )
            if got:
                self._held.add(key)
            return got

    def release_all(self) -> None:
        with self._mutex:
            if self._conn is not None:
                # The connection goes back to the pool, alive: its session's locks must be let go first.
                with contextlib.suppress(Exception):
                    self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self._conn.close()
                self._conn = None
            self._held.clear()


def locks_for(engine: Engine, sqlite_file: Path | None) -> Locks:
    if engine.dialect.name == "postgresql":
        return AdvisoryLocks(engine)
    if sqlite_file is None:
        return NoLocks()
    return FileLocks(sqlite_file.with_name(sqlite_file.name + ".locks"))
