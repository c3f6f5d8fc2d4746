from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.errors import QuotaExceeded
from domain.ids import decision_book_id
from domain.values import Classification

QuotaCap = Callable[[int], int | None]


@dataclass(frozen=True)
class DecisionEntry:
    unit_id: UUID
    dossier_id: UUID
    group: str
    level: Classification
    four_good: bool | None


@dataclass(frozen=True)
class QuotaFigures:
    group: str
    good_or_better: int
    excellent: int
    cap: int | None

    def as_record(self) -> dict[str, object]:
        return {
            "group": self.group,
            "good_or_better": self.good_or_better,
            "excellent": self.excellent,
            "cap": self.cap,
        }

    def describe(self) -> str:
        cap = "no cap" if self.cap is None else f"cap {self.cap}"
        return f"{self.excellent} excellent among {self.good_or_better} good or better in group '{self.group}' ({cap})"


class DecisionBook(Aggregate):
    """The decisions of one deciding unit in one period.

    Rules across dossiers (the quota of excellent) are checked here, and the book is saved in the same atomic
    save as the dossier, so two concurrent approvals cannot both pass the quota: the second collides on the
    book's version.
    """

    @staticmethod
    def create_id(deciding_unit_id: UUID, year: int) -> UUID:
        return decision_book_id(deciding_unit_id, year)

    @event("Started")
    def __init__(self, deciding_unit_id: UUID, year: int, actor: Actor, timestamp: datetime) -> None:
        self.deciding_unit_id = deciding_unit_id
        self.year = year
        self.entries: dict[str, DecisionEntry] = {}

    def figures(self, group: str, cap: QuotaCap, replacing: DecisionEntry | None = None) -> QuotaFigures:
        entries = {k: e for k, e in self.entries.items() if e.group == group}
        if replacing is not None:
            entries[str(replacing.unit_id)] = replacing
        good = sum(1 for e in entries.values() if e.level >= Classification.GOOD)
        excellent = sum(1 for e in entries.values() if e.level == Classification.EXCELLENT)
        return QuotaFigures(group, good, excellent, cap(good))

    def record(self, *, entry: DecisionEntry, cap: QuotaCap, actor: Actor, timestamp: datetime) -> QuotaFigures:
        after = self.figures(entry.group, cap, replacing=entry)
        if entry.level == Classification.EXCELLENT and after.cap is not None and after.excellent > after.cap:
            before = self.figures(entry.group, cap)
            raise QuotaExceeded(
                f"the quota of excellent is full: deciding this unit excellent would make {after.excellent} excellent "
                f"among {after.good_or_better} rated good or better in group '{entry.group}', and the cap is "
                f"{after.cap} (20% of {after.good_or_better}, rounded down); now {before.excellent} of cap {before.cap}"
            )
        self._recorded(entry=entry, figures=after.as_record(), actor=actor, timestamp=timestamp)
        return after

    @event("DecisionRecorded")
    def _recorded(self, entry: DecisionEntry, figures: dict[str, object], actor: Actor, timestamp: datetime) -> None:
        self.entries[str(entry.unit_id)] = entry

    def suspend(self, *, unit_id: UUID, reason: str, actor: Actor, timestamp: datetime) -> None:
        if str(unit_id) in self.entries:
            self._suspended(unit_id=unit_id, reason=reason, actor=actor, timestamp=timestamp)

    @event("DecisionSuspended")
    def _suspended(self, unit_id: UUID, reason: str, actor: Actor, timestamp: datetime) -> None:
        # A re-opened decision no longer counts toward the quota until it is decided again.
        del self.entries[str(unit_id)]

    def decision_for(self, unit_id: UUID) -> DecisionEntry | None:
        return self.entries.get(str(unit_id))
