"""The codes and usernames the event log has registered, by their case key (domain.text.case_key).

Ids are derived from the exact text of a code or username (domain/ids.py), so the store itself refuses only an exact
second registration; one that differs only in case ("Kim-Tan" beside "kim-tan") gets an id of its own. Spellings
cannot be enumerated ("Admin", "aDmin", "ADMIN"...), and the read models may lag behind the log, so the engine asks
this index, which is read from the log's own Registered events: the first question reads every one of them (one
query a page of 500, filtered on the topic), each later one only those appended since.

What it cannot see is a registration another process is making at the same instant. That one the store refuses:
each registration is saved with a claim on its name (domain/claims.py), an aggregate whose id is derived from the
case key, in the same atomic save, so the second of two twins collides on the claim's first version and nothing of
it is stored; the engine then reads this index again and refuses it as it refuses a twin registered before, naming
the one registered. Registrations stored before claims existed have none: a twin of one of them is refused by this
index alone, which sees it: only a registration still being saved is out of its sight.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper

from domain.text import case_key

_PAGE = 500


class RegisteredNames:
    """For each kind of name (the attribute of the Registered event that holds it), the first name registered under
    each case key."""

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any], attributes: Mapping[str, str]) -> None:
        """`attributes`: the topic of each Registered event read, and the attribute holding its name."""
        self.recorder = recorder
        self.mapper = mapper
        self.attributes = dict(attributes)
        self._names: dict[str, dict[str, str]] = {attribute: {} for attribute in self.attributes.values()}
        self._position = 0
        self._lock = threading.Lock()

    def registered(self, attribute: str, name: str) -> str | None:
        """The name of this kind registered with the same case key as `name` (itself if registered as typed; the
        first registered if the log holds twins recorded before they were refused), or None."""
        self._catch_up()
        return self._names[attribute].get(case_key(name))

    def _catch_up(self) -> None:
        topics = list(self.attributes)
        with self._lock:
            while True:
                page = self.recorder.select_notifications(start=self._position + 1, limit=_PAGE, topics=topics)
                for notification in page:
                    attribute = self.attributes[notification.topic]
                    name = str(getattr(self.mapper.to_domain_event(notification), attribute))
                    self._names[attribute].setdefault(case_key(name), name)
                if page:
                    self._position = page[-1].id
                if len(page) < _PAGE:
                    return
