"""PostgreSQL's LISTEN/NOTIFY as a wake-up call: a thread that calls back on every notification of a channel.

A notification is a hint, never the truth: whoever is woken reads the tables. A notification lost with its
connection costs the listener nothing but the wait until the next periodic wake; the thread reconnects by itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

READ_MODELS_CHANNEL = "dossierflow_read_models"
_STOP_WITHIN = 0.5  # seconds


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1).replace("postgres://", "postgresql://", 1)


class Listener:
    def __init__(self, url: str, channel: str, callback: Callable[[], None], *, poll_seconds: float = 1.0) -> None:
        self.url = libpq_url(url)
        self.channel = channel
        self.callback = callback
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"listen-{self.channel}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(self.poll_seconds, _STOP_WITHIN) * 3)
            self._thread = None

    def _loop(self) -> None:
        # psycopg is imported where it is used: a command on the embedded SQLite store never loads it (a tenth of a
        # second of every command's start-up).
        import psycopg
        from psycopg import sql

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    # Anything committed while we were not listening is read on this first call.
                    self.callback()
                    while not self._stop.is_set():
                        # Waiting at most half a second at a time, so that stop() ends within that, not within a
                        # poll interval (a listener polling every 30 s held its read side's close for a minute).
                        for _ in conn.notifies(timeout=min(self.poll_seconds, _STOP_WITHIN), stop_after=1):
                            self.callback()
            except psycopg.Error:
                self._stop.wait(self.poll_seconds)


def wait_for_notification(url: str, channel: str, timeout: float, ready: Callable[[], bool]) -> bool:
    """Listen on `channel` until `ready()` holds or `timeout` passes; True if it holds. `ready` is asked once
    the listener is in place (so nothing committed in between is missed) and after each notification."""
    import time

    import psycopg
    from psycopg import sql

    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        while True:
            if ready():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for _ in conn.notifies(timeout=remaining, stop_after=1):
                pass
