"""What our factories of both backends share: recorders that sign every commit, and snapshots sealed to the chain."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from eventsourcing.persistence import AggregateRecorder, ApplicationRecorder

from workflow.store.chain import HashChainedRecorder
from workflow.store.signing import signer_from_env


class SigningFactoryMixin:
    """Mixed into an eventsourcing Factory, before it.

    The signing key comes from the application's environment (DOSSIERFLOW_SIGNING_KEY); without one, nothing is
    signed and no snapshot is ever trusted.
    """

    env: Any

    def application_recorder(self) -> ApplicationRecorder:
        signer = signer_from_env(self.env.get)
        if signer is not None and self.env_create_table():  # type: ignore[attr-defined]
            # A store opened to be written: a key that cannot be read or made is said now, before the store's
            # tables are made, not as the first command's failure (a traceback on the command line, a 500).
            signer.ensure_key()
        recorder: ApplicationRecorder = super().application_recorder()  # type: ignore[misc]
        if isinstance(recorder, HashChainedRecorder):
            recorder.signer = signer
            self._chained: HashChainedRecorder | None = recorder
        return recorder

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        chained = getattr(self, "_chained", None)
        if purpose != "snapshots" or chained is None:
            recorder: AggregateRecorder = super().aggregate_recorder(purpose)  # type: ignore[misc]
            return recorder
        return self._sealed_snapshot_recorder(purpose, chained)

    @abstractmethod
    def _sealed_snapshot_recorder(self, purpose: str, chained: HashChainedRecorder) -> AggregateRecorder:
        """The backend's snapshot recorder, attached to the chain it seals snapshots to, its tables ready."""
