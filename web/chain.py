"""The badge every history page shows: whether the signed chain verified, up to which event, and when.

Verifying walks the whole log, so no request does it: a thread verifies once at start and again when the log has
moved on, at most once a `every` seconds, and pages show the last verdict with the position it covers.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

from workflow.engine import Engine
from workflow.store import SignedHead


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    position: int
    checked_at: float
    findings: int
    first_finding: str
    # The newest signed head the check found holding: what a checkpoint downloaded from the audit page re-signs.
    signed_head: SignedHead | None = None


class ChainWatch:
    def __init__(self, engine: Engine, every: float = 60.0) -> None:
        self.engine = engine
        self.every = every
        self.verdict: ChainVerdict | None = None
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

    def check_now(self) -> ChainVerdict:
        head = self.engine.recorder.max_notification_id() or 0
        report = self.engine.verify()
        problems = [f"{f.subject}: {f.detail}" for f in report.findings]
        if report.first_break is not None:
            problems.insert(0, str(report.first_break))
        verdict = ChainVerdict(
            ok=report.ok, position=head, checked_at=time.time(), findings=len(problems),
            first_finding=problems[0] if problems else "", signed_head=report.signed_head,
        )
        self.verdict = verdict
        return verdict

    def _run(self) -> None:
        while not self._stop.is_set():
            head = self.engine.recorder.max_notification_id() or 0
            if self.verdict is None or head != self.verdict.position:
                # A failure to read is not a verdict on the chain: the badge keeps saying "not verified yet".
                with contextlib.suppress(Exception):
                    self.check_now()
            self._kick.wait(self.every)
            self._kick.clear()
