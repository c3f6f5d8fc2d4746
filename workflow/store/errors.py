"""What can go wrong with the store itself, said so that the person at the keyboard knows what to do."""

from __future__ import annotations

from eventsourcing.persistence import PersistenceError


class StoreUnavailable(PersistenceError):
    """The store cannot be used at all: not there, damaged, unreachable, or locked. The message is one line."""
