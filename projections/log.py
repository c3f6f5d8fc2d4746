"""The event log as the projections read it: pages of decoded events after a position, with their chain hashes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, cast, runtime_checkable
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from eventsourcing.utils import TopicError, resolve_topic

from projections.core import LoggedEvent


class EventLog(Protocol):
    def read(self, after: int, limit: int) -> list[LoggedEvent]:
        """Up to `limit` events with a position above `after`, in order."""

    def head(self) -> int:
        """The position of the newest event (0 for an empty log)."""

    def time_at(self, position: int) -> datetime | None:
        """When the event at `position` was recorded (None if there is none there)."""


@runtime_checkable
class _HashedNotifications(Protocol):
    # PostgreSQL's chained recorder: the events and their chain hashes in one statement (a round trip each cost
    # more than a live pass's few events).
    def select_hashed_notifications(self, after: int, limit: int) -> Sequence[tuple[Notification, str | None]]: ...


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
        self._hashed = isinstance(recorder, _HashedNotifications)
        self._classes: dict[str, type | None] = {}
        # Whatever must live as long as this log (an application closes its recorder when it is collected).
        self.owner: object | None = None

    def read(self, after: int, limit: int) -> list[LoggedEvent]:
        return self.read_wanted(after, limit, None)

    def read_wanted(self, after: int, limit: int, wanted: tuple[type, ...] | None) -> list[LoggedEvent]:
        """As `read`, decoding only the events of the classes in `wanted` (None: all). The others keep their place
        and position with no event (None): decoding is most of reading, and a read model rebuilt alone may want a
        tenth of the log. A stored topic is resolved to its class once, as the mapper resolves it."""
        hashes: dict[int, str | None] = {}
        if self._hashed:
            pairs = cast(_HashedNotifications, self.recorder).select_hashed_notifications(after, limit)
            notifications: Sequence[Notification] = [n for n, _ in pairs]
            hashes = {n.id: link_hash for n, link_hash in pairs}
        else:
            notifications = self.recorder.select_notifications(after, limit, inclusive_of_start=False)
        if not notifications:
            return []
        if self._chained and not self._hashed:
            links = self.recorder.select_chain_links(after, notifications[-1].id, limit)  # type: ignore[attr-defined]
            hashes = {link.notification_id: link.hash for link in links}
        to_event = self.mapper.to_domain_event
        if wanted is None:
            return [
                LoggedEvent(
                    n.id, to_event(n), cast(UUID, n.originator_id), n.originator_version, n.topic, hashes.get(n.id)
                )
                for n in notifications
            ]
        return [
            LoggedEvent(
                n.id,
                to_event(n) if self._is_wanted(n.topic, wanted) else None,
                cast(UUID, n.originator_id),
                n.originator_version,
                n.topic,
                hashes.get(n.id),
            )
            for n in notifications
        ]

    def _is_wanted(self, topic: str, wanted: tuple[type, ...]) -> bool:
        if topic not in self._classes:
            try:
                self._classes[topic] = resolve_topic(topic)
            except TopicError:
                # Decoded as usual, so that whatever the mapper makes of it (or the error it raises) is the same.
                self._classes[topic] = None
        found = self._classes[topic]
        return found is None or issubclass(found, wanted)

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


def open_application_log(application: type[Application[Any]], env: dict[str, str]) -> RecorderLog:
    """The log of the store `env` names, opened anew as `application` opens it (its recorder, and its mapper with its
    transcodings): for a rebuild's helper process, given `partial(open_application_log, cls, env)`."""
    opened = application(env)
    log = RecorderLog(opened.recorder, opened.mapper)
    log.owner = opened
    return log
