"""The event log as the projections read it: pages of decoded events after a position, with their chain hashes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, cast, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from projections.core import LoggedEvent


class EventLog(Protocol):
    def read(self, after: int, limit: int) -> list[LoggedEvent]:
        """Up to `limit` events with a position above `after`, in order."""

    def head(self) -> int:
        """The position of the newest event (0 for an empty log)."""

    def time_at(self, position: int) -> datetime | None:
        """When the event at `position` was recorded (None if there is none there)."""


@runtime_checkable
class _ChainLinks(Protocol):
    # What workflow.store's hash-chained recorders offer; the projections depend on no engine module to use it.
    def select_chain_links(self, after: int | None, stop: int, limit: int) -> Sequence[Any]: ...


class RecorderLog:
    """An `eventsourcing` application recorder read through its mapper: the log of one engine's store."""

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any]) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self._chained = isinstance(recorder, _ChainLinks)

    def read(self, after: int, limit: int) -> list[LoggedEvent]:
        notifications = self.recorder.select_notifications(after, limit, inclusive_of_start=False)
        if not notifications:
            return []
        hashes: dict[int, str] = {}
        if self._chained:
            links = self.recorder.select_chain_links(after, notifications[-1].id, limit)  # type: ignore[attr-defined]
            hashes = {link.notification_id: link.hash for link in links}
        to_event = self.mapper.to_domain_event
        return [
            LoggedEvent(
                n.id, to_event(n), cast(UUID, n.originator_id), n.originator_version, n.topic, hashes.get(n.id)
            )
            for n in notifications
        ]

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def time_at(self, position: int) -> datetime | None:
        if position <= 0:
            return None
        found = self.recorder.select_notifications(position, 1, stop=position)
        if not found:
            return None
        moment: datetime = cast(Any, self.mapper.to_domain_event(found[0])).timestamp
        return moment
