"""The store as an eventsourcing Application: its recorder and the mapper that decodes its events, no use case."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoder

from workflow.store.transcodings import FastJSONTranscoder, register_transcodings


class StoreApplication(Application[UUID]):
    """What the engine and the listings that read only read models share: the same store, named the same, its events
    decoded the same way. A listing opens this alone: the engine's module (the rules and their schema, evaluations,
    evidence) costs a command's start-up more than the listing itself."""

    # The tables' prefix on PostgreSQL and the environment's prefix: the engine's, whoever opens the store.
    name = "dossierflow"

    def construct_transcoder(self) -> Transcoder:
        transcoder = self.factory.transcoder()
        if type(transcoder) is JSONTranscoder:
            # The same bytes, less Python per value (workflow/store/transcodings.py); another transcoder configured
            # through the environment is kept as it is.
            transcoder = FastJSONTranscoder()
        if isinstance(transcoder, JSONTranscoder):
            self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        register_transcodings(transcoder)

    def is_empty(self) -> bool:
        return not self.recorder.max_notification_id()
