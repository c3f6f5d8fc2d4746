"""Cheap, safe copies of this domain's aggregates.

The engine keeps recently used aggregates and hands each command its own copy, so that a refused command, or one
running in another thread, never changes what the others see. A full ``copy.deepcopy`` walks every answer, grant
and decision entry: it was half the cost of an approval. These aggregates need less, because of one rule that
every aggregate in ``domain/`` follows:

    An aggregate's state is made of its own attributes; an attribute is an immutable value (str, int, date, UUID,
    Enum, frozen dataclass, tuple of those...) or a container (dict, list, set) of such values, one level deep.
    Event methods never change a value held inside a container in place: they assign, delete or append at the
    container itself, and replace a nested value whole (``self.children[key] = [*spans, new]``, not
    ``spans.append(new)``).

So a copy needs new containers for the attributes, and may share every value inside them. A value nested deeper
than one container (``submitted_content``, the recorded evaluation of an endorsement) is shared too, which is
safe for the same reason: nothing ever mutates it after it is assigned. ``tests/unit/test_copying.py`` replays
every kind of event onto copies and checks the original did not move, for every aggregate class in ``domain/``.
"""

from __future__ import annotations

from typing import TypeVar

from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)

_CONTAINERS = (dict, list, set)


def copy_aggregate(aggregate: A) -> A:
    """A copy that no command on it can reach back from: new containers, shared immutable values."""
    state = aggregate.__dict__.copy()
    for name, value in state.items():
        if type(value) in _CONTAINERS:
            state[name] = value.copy()
    copy = object.__new__(type(aggregate))
    copy.__dict__.update(state)
    return copy
