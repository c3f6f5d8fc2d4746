"""The badge every history page shows: whether the signed chain verified, up to which event, and when.

Verifying walks the log, so no request does it: a thread verifies at start and again when the log has moved on, at
most once every `every` seconds. After a first whole verification it checks only the links appended since the last
head it found intact (and the newest signed head), so a check costs what was added, not the whole log; a whole
verification is repeated every `whole_every` seconds (and `dossierflow verify` is always whole). With several
workers, one of them verifies (it holds a lock) and writes its verdict where the others read it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Boolean, Column, Engine, Float, Integer, MetaData, Table, Text, insert, select, update
from sqlalchemy.exc import DBAPIError

from projections.locks import Locks, locks_for
from workflow.engine import Engine as WorkflowEngine
from workflow.store import ChainReport, SignedHead, VerifiedHead

_meta = MetaData()
VERDICTS = Table(
    "web_chain_verdict",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("ok", Boolean, nullable=False),
    Column("position", Integer, nullable=False),
    Column("checked_at", Float, nullable=False),
    Column("findings", Integer, nullable=False),
    Column("first_finding", Text, nullable=False),
)
_LOCK_NAME = "web-chain-watch"


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    position: int
    checked_at: float
    findings: int
    first_finding: str
    # The newest signed head the check found holding: what a checkpoint downloaded from the audit page re-signs.
    # Not part of the verdict's identity: a follower worker reads the verdict without it (see SharedVerdict.read).
    signed_head: SignedHead | None = field(default=None, compare=False)


class SharedVerdict:
    """The verdict of the worker that verifies, for the others to show; and the lock that makes it one worker.

    Kept in the web database (web.sqlite, or the same PostgreSQL database): a PostgreSQL advisory lock, or on
    SQLite a file lock beside web.sqlite. Whoever holds the lock dies, the lock dies with it, and another takes it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            _meta.create_all(engine)
        except DBAPIError:
            # Workers starting together on PostgreSQL: another created the table between the check and the CREATE.
            _meta.create_all(engine)
        database = engine.url.database
        on_file = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
        sqlite_file = Path(database) if on_file and database else None
        self._locks: Locks = locks_for(engine, sqlite_file)

    def lead(self) -> bool:
        """True while this process holds the lock (taken on the first call that finds it free)."""
        return self._locks.acquire(_LOCK_NAME, 0)

    def release(self) -> None:
        self._locks.release_all()

    def publish(self, verdict: ChainVerdict) -> None:
        values = {
            "ok": verdict.ok, "position": verdict.position, "checked_at": verdict.checked_at,
            "findings": verdict.findings, "first_finding": verdict.first_finding,
        }
        with self.engine.begin() as conn:
            if not conn.execute(update(VERDICTS).where(VERDICTS.c.id == 1).values(**values)).rowcount:
                conn.execute(insert(VERDICTS).values(id=1, **values))

    def read(self) -> ChainVerdict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(VERDICTS).where(VERDICTS.c.id == 1)).first()
        if row is None:
            return None
        return ChainVerdict(
            bool(row.ok), int(row.position), float(row.checked_at), int(row.findings), str(row.first_finding)
        )


class ChainWatch:
    def __init__(
        self,
        engine: WorkflowEngine,
        every: float = 60.0,
        *,
        shared: SharedVerdict | None = None,
        whole_every: float = 24 * 3600.0,
        follow_every: float = 5.0,
    ) -> None:
        self.engine = engine
        self.every = every
        self.shared = shared
        self.whole_every = whole_every
        # How often a worker that does not verify reads the verdict of the one that does.
        self.follow_every = min(follow_every, every)
        self.verdict: ChainVerdict | None = None
        self._verified: VerifiedHead | None = None
        self._whole_at = 0.0
        self._checking = threading.Lock()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dossierflow-chain-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.shared is not None:
            self.shared.release()

    def check_now(self) -> ChainVerdict:
        """Verify now in this process: the links appended since the last head found intact, or the whole chain
        when there is none yet (or the last whole check is older than `whole_every`)."""
        with self._checking:
            head = self.engine.recorder.max_notification_id() or 0
            now = time.time()
            if self._verified is not None and now - self._whole_at < self.whole_every:
                report: ChainReport = self.engine.verify_since(self._verified)
            else:
                report = self.engine.verify()
                self._whole_at = now
            # A chain that did not hold is verified whole again next time: nothing after a break is vouched for.
            self._verified = report.verified_head
            problems = [f"{f.subject}: {f.detail}" for f in report.findings]
            if report.first_break is not None:
                problems.insert(0, str(report.first_break))
            verdict = ChainVerdict(
                ok=report.ok, position=max(head, report.last_notification_id or 0), checked_at=time.time(),
                findings=len(problems), first_finding=problems[0] if problems else "",
                signed_head=report.signed_head,
            )
            self.verdict = verdict
        if self.shared is not None:
            self.shared.publish(verdict)
        return verdict

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.every
            # A failure to read is not a verdict on the chain: the badge keeps the last one (or "not verified yet").
            with contextlib.suppress(Exception):
                if self.shared is None or self.shared.lead():
                    head = self.engine.recorder.max_notification_id() or 0
                    stale = time.time() - self._whole_at >= self.whole_every
                    if self.verdict is None or head != self.verdict.position or stale:
                        self.check_now()
                else:
                    wait = self.follow_every
                    self.verdict = self.shared.read() or self.verdict
            self._kick.wait(wait)
            self._kick.clear()
