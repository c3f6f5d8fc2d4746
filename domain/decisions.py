from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.errors import AlreadyExists, InvalidInput, QuotaExceeded
from domain.ids import decision_book_id
from domain.messages import N_, Message, Series, Term
from domain.text import clean_text
from domain.values import Classification

QuotaCap = Callable[[int], int | None]

# An act's number as printed in its heading ("125-QĐ/HU", "07/NQ-ĐU"): short, on one line.
MAX_ACT_NUMBER = 50


@dataclass(frozen=True)
class DecisionAct:
    """The act a decision is taken by: its number and its date, as the deciding body's decision is printed."""

    number: str
    day: date

    @property
    def key(self) -> str:
        return act_key(self.number)


def act_key(number: str) -> str:
    """What makes two numbers the same act: "125-QĐ/HU" and "125-qđ/hu " are; so are the composed and decomposed
    spellings of Đ or of a tone mark, which look alike on paper."""
    return " ".join(unicodedata.normalize("NFC", number).casefold().split())


def decision_act(number: str, day: date | None, *, year: int, today: date) -> DecisionAct | None:
    """The act as typed, checked: a printable number on one line, and a date between the period's first day and
    today (today when not given). No number, no act; a date without its number is refused, not dropped."""
    text = clean_text(number, N_("the decision's number"), max_length=MAX_ACT_NUMBER)
    if not text:
        if day is not None:
            raise InvalidInput(N_("a decision's date is given with its number; the number is missing"))
        return None
    if not text.isprintable():
        raise InvalidInput(N_("the decision's number %(number)s holds a character that is not printed"), number=text)
    text = " ".join(unicodedata.normalize("NFC", text).split())
    day = today if day is None else day
    if day > today:
        raise InvalidInput(N_("the decision's date %(day)s is after today (%(today)s)"), day=day, today=today)
    first = date(year, 1, 1)
    if day < first:
        raise InvalidInput(
            N_("the decision's date %(day)s is before the period %(year)s began (%(first)s)"),
            day=day, year=year, first=first,
        )
    return DecisionAct(text, day)


@dataclass(frozen=True)
class DecisionEntry:
    """Where one unit below the superior stands: its decided level, or (decided=False) its endorsed proposal."""

    unit_id: UUID
    dossier_id: UUID
    group: str
    level: Classification
    four_good: bool | None
    decided: bool = True

    @property
    def in_base(self) -> bool:
        """Counted in the quota's base: rated good or better by its decision or, undecided, by its proposal."""
        return self.level >= Classification.GOOD

    @property
    def excellent(self) -> bool:
        # Only decisions use up the quota: a proposal of excellent is what the approver decides on.
        return self.decided and self.level is Classification.EXCELLENT


@dataclass(frozen=True)
class QuotaFigures:
    group: str
    good_or_better: int
    excellent: int
    cap: int | None

    @property
    def overflow(self) -> int:
        return 0 if self.cap is None else self.excellent - self.cap

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


@dataclass(frozen=True)
class SubordinateStanding:
    """The decided units among those asked about, and those still undecided."""

    decided: tuple[DecisionEntry, ...]
    undecided: tuple[UUID, ...]


class DecisionBook(Aggregate):
    """Where the units directly below one superior unit stand in one period: proposals and decisions.

    Rules across dossiers are checked here: the quota of excellent ("within the same superior, period and group of
    similar units"), and "lower levels first" (a committee's decision reads its own book, the book of the units
    below it). The book is saved in the same atomic save as the dossiers it speaks of, so two concurrent commands
    that would each break a rule cannot both pass: the second collides on the book's version.
    """

    # Version 2 keeps the numbers of the acts taken (`acts`); a snapshot of version 1 has none, as its events had.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["acts"] = {}

    class DecisionsRecorded(Aggregate.Event):
        """Version 2 names the act (`act`, None when no number was given); version 1 events had none."""

        class_version = 2

        entries: list[DecisionEntry]
        figures: list[dict[str, object]]
        act: DecisionAct | None
        actor: Actor
        timestamp: datetime

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["act"] = None

    @staticmethod
    def create_id(superior_id: UUID, year: int) -> UUID:
        return decision_book_id(superior_id, year)

    @event("Started")
    def __init__(self, superior_id: UUID, year: int, actor: Actor, timestamp: datetime) -> None:
        self.superior_id = superior_id
        self.year = year
        self.entries: dict[str, DecisionEntry] = {}
        # Per group: [good or better, decided excellent], kept as entries change so the meter costs the same for
        # ten units or a thousand. Lists, not tuples, because snapshots go through JSON.
        self.tallies: dict[str, list[int]] = {}
        # The superior's own decision, recorded here so that re-opening a unit below it collides with (and is
        # ordered against) a concurrent decision on the superior.
        self.superior_decided: bool = False
        self.superior_four_good: bool | None = None
        # Counts over the decided entries, kept as entries change: the standing of a committee's cells (how many
        # decided, rated, completed or better, good or better, four-good) costs the same for ten cells or a thousand.
        self.decided: dict[str, int] = {"decided": 0, "rated": 0, "completed": 0, "good": 0, "four_good": 0}
        # The acts taken on this book, by `act_key` of their number, with the date: a number names one act of one
        # deciding body in one period.
        self.acts: dict[str, str] = {}

    # --- queries -------------------------------------------------------------------------------

    def figures(self, group: str, cap: QuotaCap) -> QuotaFigures:
        good, excellent = self.tallies.get(group, [0, 0])
        return QuotaFigures(group, good, excellent, cap(good))

    def decision_for(self, unit_id: UUID) -> DecisionEntry | None:
        entry = self.entries.get(str(unit_id))
        return entry if entry is not None and entry.decided else None

    def standing(self, unit_ids: Iterable[UUID]) -> SubordinateStanding:
        decided: list[DecisionEntry] = []
        undecided: list[UUID] = []
        for uid in unit_ids:
            entry = self.decision_for(uid)
            if entry is None:
                undecided.append(uid)
            else:
                decided.append(entry)
        return SubordinateStanding(tuple(decided), tuple(undecided))

    # --- proposals -----------------------------------------------------------------------------

    def propose(self, *, entry: DecisionEntry, actor: Actor, timestamp: datetime) -> None:
        if entry.decided:
            raise InvalidInput(N_("a proposal is not a decision"))
        self._proposed(entry=entry, actor=actor, timestamp=timestamp)

    @event("ProposalRecorded")
    def _proposed(self, entry: DecisionEntry, actor: Actor, timestamp: datetime) -> None:
        self._put(entry)

    def withdraw_proposal(self, *, unit_id: UUID, reason: str, actor: Actor, timestamp: datetime) -> None:
        entry = self.entries.get(str(unit_id))
        if entry is not None and not entry.decided:
            self._proposal_withdrawn(unit_id=unit_id, reason=reason, actor=actor, timestamp=timestamp)

    @event("ProposalWithdrawn")
    def _proposal_withdrawn(self, unit_id: UUID, reason: str, actor: Actor, timestamp: datetime) -> None:
        self._drop(str(unit_id))

    # --- decisions -----------------------------------------------------------------------------

    def preview(self, entries: Sequence[DecisionEntry], cap: QuotaCap) -> dict[str, tuple[QuotaFigures, QuotaFigures]]:
        """Per group touched: the figures now and after these decisions, without recording anything."""
        groups = sorted({e.group for e in entries} | {old.group for e in entries if (old := self._old(e))})
        after = {g: list(self.tallies.get(g, [0, 0])) for g in groups}
        for entry in entries:
            old = self._old(entry)
            if old is not None:
                _count(after[old.group], old, -1)
            _count(after[entry.group], entry, +1)
        return {
            g: (self.figures(g, cap), QuotaFigures(g, after[g][0], after[g][1], cap(after[g][0]))) for g in groups
        }

    def decide(
        self,
        *,
        entries: Sequence[DecisionEntry],
        cap: QuotaCap,
        actor: Actor,
        timestamp: datetime,
        act: DecisionAct | None = None,
    ) -> dict[str, QuotaFigures]:
        """Record decisions as one act (a single decision, or a decision list of one meeting).

        Refused whole when its final tally breaks a group's cap: when, after it, a group holds more excellent than
        its cap allows, and it added an excellent or widened the excess. So the refusal falls on whatever makes the
        tally break the cap, whatever the order of decisions, including a downgrade that shrinks the base under the
        excellent already decided; a group left over its cap by a return still takes decisions that do not worsen
        it.
        """
        units = [str(e.unit_id) for e in entries]
        if len(set(units)) != len(units):
            raise InvalidInput(N_("a decision list names the same unit twice"))
        if any(not e.decided for e in entries):
            raise InvalidInput(N_("a proposal is not a decision"))
        if act is not None and act.key in self.acts:
            raise AlreadyExists(
                N_(
                    "the decision number %(number)s is already taken by an act of %(day)s for the units below this "
                    "superior in %(year)s; a new act needs a number of its own"
                ),
                number=act.number, day=date.fromisoformat(self.acts[act.key]), year=self.year,
            )
        figures = self.preview(entries, cap)
        broken = [
            (before, after)
            for before, after in figures.values()
            if after.overflow > 0 and (after.overflow > before.overflow or after.excellent > before.excellent)
        ]
        if broken:
            raise QuotaExceeded(_refusal(broken, entries))
        self._decided(
            entries=list(entries),
            figures=[after.as_record() for _, after in figures.values()],
            act=act,
            actor=actor,
            timestamp=timestamp,
        )
        return {g: after for g, (_, after) in figures.items()}

    def act_day(self, number: str) -> date | None:
        """The date of the act of this number taken on this book, if any."""
        found = self.acts.get(act_key(number))
        return None if found is None else date.fromisoformat(found)

    @event(DecisionsRecorded)
    def _decided(
        self,
        entries: list[DecisionEntry],
        figures: list[dict[str, object]],
        act: DecisionAct | None,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        for entry in entries:
            self._put(entry)
        if act is not None:
            # A new dict rather than an update in place, as for the tallies: copies share nested values.
            self.acts = {**self.acts, act.key: act.day.isoformat()}

    def suspend(
        self, *, unit_id: UUID, proposal: DecisionEntry | None, reason: str, actor: Actor, timestamp: datetime
    ) -> None:
        """A re-opened decision no longer counts; the unit stands again by its endorsed proposal, if it has one."""
        if self.decision_for(unit_id) is not None:
            self._suspended(unit_id=unit_id, proposal=proposal, reason=reason, actor=actor, timestamp=timestamp)

    @event("DecisionSuspended")
    def _suspended(
        self, unit_id: UUID, proposal: DecisionEntry | None, reason: str, actor: Actor, timestamp: datetime
    ) -> None:
        self._drop(str(unit_id))
        if proposal is not None:
            self._put(proposal)

    # --- the superior's own decision -----------------------------------------------------------

    def note_superior_decided(
        self, *, level: Classification, four_good: bool | None, actor: Actor, timestamp: datetime
    ) -> None:
        self._superior_decided(level=level, four_good=four_good, actor=actor, timestamp=timestamp)

    @event("SuperiorDecided")
    def _superior_decided(
        self, level: Classification, four_good: bool | None, actor: Actor, timestamp: datetime
    ) -> None:
        self.superior_decided = True
        self.superior_four_good = four_good

    def note_superior_reopened(self, *, reason: str, actor: Actor, timestamp: datetime) -> None:
        if self.superior_decided:
            self._superior_reopened(reason=reason, actor=actor, timestamp=timestamp)

    @event("SuperiorReopened")
    def _superior_reopened(self, reason: str, actor: Actor, timestamp: datetime) -> None:
        self.superior_decided = False
        self.superior_four_good = None

    # --- bookkeeping (applied on replay too: no checks here) -----------------------------------

    def _old(self, entry: DecisionEntry) -> DecisionEntry | None:
        return self.entries.get(str(entry.unit_id))

    def _put(self, entry: DecisionEntry) -> None:
        self._drop(str(entry.unit_id))
        self.entries[str(entry.unit_id)] = entry
        self._count(entry, +1)

    def _drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self._count(old, -1)

    def _count(self, entry: DecisionEntry, sign: int) -> None:
        # A new list rather than an update in place: copies of the book share nested values with the original.
        tally = list(self.tallies.get(entry.group, [0, 0]))
        _count(tally, entry, sign)
        self.tallies[entry.group] = tally
        if entry.decided:
            rated = entry.level is not Classification.NOT_RATED
            counts = dict(self.decided)
            counts["decided"] += sign
            counts["rated"] += sign * rated
            counts["completed"] += sign * (rated and entry.level >= Classification.COMPLETED)
            counts["good"] += sign * (rated and entry.level >= Classification.GOOD)
            counts["four_good"] += sign * (rated and bool(entry.four_good))
            self.decided = counts


def _count(tally: list[int], entry: DecisionEntry, sign: int) -> None:
    tally[0] += sign * entry.in_base
    tally[1] += sign * entry.excellent


def _refusal(broken: list[tuple[QuotaFigures, QuotaFigures]], entries: Sequence[DecisionEntry]) -> Message:
    what = (
        Message(N_("this decision")) if len(entries) == 1
        else Message(N_("this decision list of %(count)s units"), count=len(entries))
    )
    parts = [
        Message(
            N_(
                "in group '%(group)s' it would make %(excellent)s excellent among %(base)s rated good or better (by "
                "decision, or by endorsed proposal while undecided), above the cap of %(cap)s that %(base)s allow; now "
                "%(excellent_before)s excellent among %(base_before)s, cap %(cap_before)s"
            ),
            # A Term, so a page names the group in its reader's language; the English sentence keeps it as typed.
            group=Term("group", after.group, after.group),
            excellent=after.excellent, base=after.good_or_better, cap=after.cap,
            excellent_before=before.excellent, base_before=before.good_or_better, cap_before=before.cap,
        )
        for before, after in broken
    ]
    return Message(
        N_("the quota of excellent is full: %(what)s is refused whole; %(groups)s"),
        what=what, groups=Series(parts, "; "),
    )
