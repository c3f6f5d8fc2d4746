from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.errors import InvalidInput, InvalidTransition
from domain.ids import unit_id
from domain.messages import N_
from domain.text import MAX_CODE_LENGTH, clean_text
from domain.values import UnitKind


@dataclass(frozen=True)
class UnitVersion:
    """The unit as it stood from `effective_from` until the next version."""

    effective_from: date
    name: str
    parent_id: UUID | None
    active: bool


class Unit(Aggregate):
    """A unit of the party hierarchy. Renames, moves and dissolution are dated, so the past stays answerable."""

    @staticmethod
    def create_id(code: str) -> UUID:
        return unit_id(code)

    @classmethod
    def register(
        cls,
        *,
        code: str,
        name: str,
        kind: UnitKind,
        parent_id: UUID | None,
        group: str,
        established_on: date,
        actor: Actor,
        timestamp: datetime,
    ) -> Unit:
        if not code.strip() or not name.strip():
            raise InvalidInput(N_("a unit needs a code and a name"))
        code = clean_text(code, N_("a unit's code"), max_length=MAX_CODE_LENGTH)
        if "/" in code:
            # A dossier is named UNIT-CODE/YEAR, and the pages' addresses carry the code as one path segment.
            raise InvalidInput(
                N_("a unit's code cannot contain '/' (a dossier is named %(example)s)"), example="CODE/2024"
            )
        name = clean_text(name, N_("a unit's name"), required=True)
        group = clean_text(group, N_("a unit's group"))
        return cls(
            code=code,
            name=name,
            kind=kind,
            parent_id=parent_id,
            group=group or kind.value,
            established_on=established_on,
            actor=actor,
            timestamp=timestamp,
        )

    @event("Registered")
    def __init__(
        self,
        code: str,
        name: str,
        kind: UnitKind,
        parent_id: UUID | None,
        group: str,
        established_on: date,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self.code = code
        self.kind = kind
        self.group = group
        self.established_on = established_on
        self.timeline: list[UnitVersion] = [UnitVersion(established_on, name, parent_id, True)]
        # Children are kept on the parent so that "the units below X as of a date" needs no index.
        # Keys are strings because snapshots go through JSON, whose object keys must be strings.
        self.children: dict[str, list[tuple[date, date | None]]] = {}
        # How many children hold an open span now, and the latest date any child came or went: when nothing
        # changed after a day, the children on that day are exactly the open ones, and counting them is O(1).
        self.open_children = 0
        self.children_changed_on: date | None = None

    # --- queries -------------------------------------------------------------------------------

    def as_of(self, day: date) -> UnitVersion | None:
        current = None
        for version in self.timeline:
            if version.effective_from <= day:
                current = version
        return current

    @property
    def current(self) -> UnitVersion:
        return self.timeline[-1]

    @property
    def name(self) -> str:
        return self.current.name

    @property
    def parent_id(self) -> UUID | None:
        return self.current.parent_id

    def children_as_of(self, day: date) -> list[UUID]:
        return [
            UUID(child)
            for child, spans in self.children.items()
            if any(start <= day and (end is None or day < end) for start, end in spans)
        ]

    def age_in_months(self, day: date) -> int:
        months = (day.year - self.established_on.year) * 12 + day.month - self.established_on.month
        return months - (1 if day.day < self.established_on.day else 0)

    # --- commands ------------------------------------------------------------------------------

    def _check_effective(self, effective_from: date) -> None:
        if not self.current.active:
            raise InvalidTransition(
                N_("unit %(code)s was dissolved on %(day)s"), code=self.code, day=self.current.effective_from
            )
        if effective_from < self.current.effective_from:
            raise InvalidInput(
                N_("a change to unit %(code)s cannot take effect on %(day)s, before its last change on %(last)s"),
                code=self.code, day=effective_from, last=self.current.effective_from,
            )

    def rename(self, *, name: str, effective_from: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        if not name.strip():
            raise InvalidInput(N_("a unit's name cannot be empty"))
        name = clean_text(name, N_("a unit's name"))
        self._check_effective(effective_from)
        if name == self.current.name:
            # Changes are never dated before the last one, so the current name is the name on that day: nothing
            # would change but a second event (a form sent twice).
            raise InvalidInput(N_("unit %(code)s is already named %(name)s"), code=self.code, name=name)
        if not reason.strip():
            raise InvalidInput(N_("renaming a unit needs a reason (the decision that renames it)"))
        reason = clean_text(reason, N_("the reason for renaming a unit"))
        self._renamed(name=name, effective_from=effective_from, reason=reason, actor=actor, timestamp=timestamp)

    class Renamed(Aggregate.Event):
        """Version 2 carries the reason. Version 1 (stored before it) had none: it reads as an empty reason, and its
        stored bytes, which the hash chain covers, stay as they were."""

        class_version = 2

        name: str
        effective_from: date
        reason: str
        actor: Actor

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason"] = ""

    @event(Renamed)
    def _renamed(self, name: str, effective_from: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        self._append(effective_from, name=name)

    def move(self, *, parent_id: UUID, effective_from: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        if parent_id == self.id:
            raise InvalidInput(N_("a unit cannot be its own parent"))
        self._check_effective(effective_from)
        reason = clean_text(reason, N_("the reason for moving a unit"))
        self._moved(
            from_parent=self.parent_id,
            parent_id=parent_id,
            effective_from=effective_from,
            reason=reason,
            actor=actor,
            timestamp=timestamp,
        )

    @event("Moved")
    def _moved(
        self,
        from_parent: UUID | None,
        parent_id: UUID,
        effective_from: date,
        reason: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        self._append(effective_from, parent_id=parent_id)

    def dissolve(self, *, effective_from: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        self._check_effective(effective_from)
        if not reason.strip():
            raise InvalidInput(N_("dissolving a unit needs a reason (the decision that dissolves it)"))
        reason = clean_text(reason, N_("the reason for dissolving a unit"))
        self._dissolved(effective_from=effective_from, reason=reason, actor=actor, timestamp=timestamp)

    @event("Dissolved")
    def _dissolved(self, effective_from: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        self._append(effective_from, active=False)

    def attach_child(self, *, child_id: UUID, effective_from: date, actor: Actor, timestamp: datetime) -> None:
        if not self.current.active:
            raise InvalidTransition(N_("unit %(code)s was dissolved; nothing can be placed under it"), code=self.code)
        if self.kind in (UnitKind.PARTY_CELL, UnitKind.GRASSROOTS_CELL):
            # A cell is the bottom of the hierarchy (DOMAIN.md): below it are its members, never another unit.
            raise InvalidInput(
                N_("unit %(code)s is a party cell; a party cell has no units under it"), code=self.code
            )
        if effective_from < self.established_on:
            # The hierarchy as of a day before would hold a unit under a parent that did not exist yet.
            raise InvalidInput(
                N_("unit %(code)s was established on %(day)s; nothing can be placed under it from %(start)s"),
                code=self.code, day=self.established_on, start=effective_from,
            )
        self._child_attached(child_id=child_id, effective_from=effective_from, actor=actor, timestamp=timestamp)

    @event("ChildAttached")
    def _child_attached(self, child_id: UUID, effective_from: date, actor: Actor, timestamp: datetime) -> None:
        # Replaced, not appended to: a copy of this unit shares the span lists (see domain/copying.py).
        key = str(child_id)
        self.children[key] = [*self.children.get(key, []), (effective_from, None)]
        self.open_children += 1
        self._children_changed(effective_from)

    def detach_child(self, *, child_id: UUID, effective_from: date, actor: Actor, timestamp: datetime) -> None:
        self._child_detached(child_id=child_id, effective_from=effective_from, actor=actor, timestamp=timestamp)

    @event("ChildDetached")
    def _child_detached(self, child_id: UUID, effective_from: date, actor: Actor, timestamp: datetime) -> None:
        key = str(child_id)
        spans = self.children.get(key, [])
        if spans and spans[-1][1] is None:
            # The span list is replaced whole, never assigned into: a copy of this unit shares it (domain/copying.py),
            # and after a snapshot round trip a span is a list, not a tuple.
            self.children[key] = [*spans[:-1], (spans[-1][0], effective_from)]
            self.open_children -= 1
            self._children_changed(effective_from)

    def _children_changed(self, effective_from: date) -> None:
        if self.children_changed_on is None or effective_from > self.children_changed_on:
            self.children_changed_on = effective_from

    def children_count_as_of(self, day: date) -> int:
        if self.children_changed_on is None or self.children_changed_on <= day:
            return self.open_children
        return len(self.children_as_of(day))

    def _append(self, effective_from: date, **changes: Any) -> None:
        last = self.timeline[-1]
        version = replace(last, effective_from=effective_from, **changes)
        if last.effective_from == effective_from:
            self.timeline[-1] = version
        else:
            self.timeline.append(version)
