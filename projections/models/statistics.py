"""The statistics read model: per superior unit (and everything below it) and period, what a province's page shows.

Counts are materialized, never counted at query time: every dossier keeps one row holding its *current
contribution* (its state, its decided level, four-good or not, taking part in the model or not), and an event that
changes it subtracts the old contribution from, and adds the new one to, the counters of every unit above the
dossier's unit. So the statistics of a province over ~300,000 dossiers are a primary-key read of a few dozen
counters, whatever the size below it.

What is kept, and why each table exists:

* ``units``: each unit's parent, kind and strict ancestors (top first), from `Unit.Registered` and `Unit.Moved`:
  our own copy, so that this read model depends on no other. A move re-attributes the moved subtree's dossiers
  (subtracted from the old ancestors, added to the new); moves are rare, so they may query.
* ``dossiers``: the current contribution of each dossier.
* ``counts``: (ancestor, year, metric) -> n, additive (`page.counters`).
* ``committees``: per unit and year, the figures of its *direct* party cells, for the pilot and model-cell targets
  of DOMAIN.md; whether each target is met is itself counted upwards ("committees below meeting it").
* ``book_entries`` and ``quota``: the decision books replayed (proposals, decisions, suspensions) into the
  excellent-quota meter of each group under each direct superior; the figures a decision list recorded (base,
  excellent, cap) overwrite the replayed tally, so the meter shows what the engine itself decided on.

Overdue is not materialized: it depends on today; the dossiers read model answers it.

Events are handled a page at a time (`Page.gather`): the rows a page's events need are loaded in a few queries,
then the events are applied in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    or_,
    select,
)

from domain import decisions as _decisions
from domain import dossier as _dossier
from domain import unit as _unit
from domain.decisions import DecisionEntry
from domain.ids import decision_book_id
from domain.values import DECIDED_STATES, Classification, DossierState, UnitKind
from projections.core import LoggedEvent, Page, Projection, Row, uuid_text
from projections.reading import Reading, reading_of
from projections.store import ReadModelStore

ID = 36  # a UUID as text: the same on both backends, and a counter key needs no conversion per event
CELL_KINDS = (UnitKind.PARTY_CELL.value, UnitKind.GRASSROOTS_CELL.value)
# DOMAIN.md's targets are set per grassroots committee over its party cells; a grassroots cell directly under a
# district is a cell for the four-good share, but no committee's pilot.
COMMITTEE_CELL_KIND = UnitKind.PARTY_CELL.value
GOOD_OR_BETTER = (Classification.GOOD.value, Classification.EXCELLENT.value)
DECIDED = frozenset(s.value for s in DECIDED_STATES)
PILOT_CELLS_WANTED = 2
MODEL_SHARE_WANTED = Decimal("0.20")
DEFAULT_QUOTA_SHARE = Decimal("0.20")

# The event classes are made by eventsourcing's @event at import time, out of mypy's sight.
Dossier: Any = _dossier.Dossier
Unit: Any = _unit.Unit
DecisionBook: Any = _decisions.DecisionBook

_STATE_CHANGES = (
    Dossier.Submitted,
    Dossier.Resubmitted,
    Dossier.Withdrawn,
    Dossier.Restored,
    Dossier.Endorsed,
    Dossier.ReturnedToUnit,
    Dossier.ReturnedToCommittee,
    Dossier.Approved,
    Dossier.MarkedNotRated,
    Dossier.Reopened,
)
_DOSSIER_EVENTS = (Dossier.Opened, Dossier.RecognitionSuspended, *_STATE_CHANGES)
_BOOK_EVENTS = (
    DecisionBook.ProposalRecorded,
    DecisionBook.ProposalWithdrawn,
    DecisionBook.DecisionsRecorded,
    DecisionBook.DecisionSuspended,
)


# --- what the queries return ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One target of DOMAIN.md for one committee: the figure, what is wanted, and whether it is met."""

    name: str
    figure: int
    of: int
    wanted: str
    met: bool

    @property
    def share(self) -> float | None:
        return None if not self.of else self.figure / self.of


@dataclass(frozen=True)
class CommitteesBelow:
    """How many committees below a unit (with party cells evaluated this period) meet each target."""

    committees: int
    pilot_met: int
    model_met: int
    all_good_met: int


@dataclass(frozen=True)
class Statistics:
    """The figures of everything below one unit for one period (the unit's own dossier is not among them)."""

    unit_id: UUID
    year: int
    dossiers: int
    by_state: Mapping[str, int]
    by_level: Mapping[str, int]
    by_kind: Mapping[str, int]
    decided: int
    cells: int
    four_good_cells: int
    pilot_cells: int
    four_good_committees: int
    # The unit's own party cells against DOMAIN.md's targets (empty when it has none evaluated this period).
    targets: tuple[Target, ...]
    committees_below: CommitteesBelow

    @property
    def four_good_share(self) -> float | None:
        return None if not self.cells else self.four_good_cells / self.cells


@dataclass(frozen=True)
class QuotaMeter:
    """The excellent-quota of one group under one superior: excellent decided against what the base allows."""

    group: str
    good_or_better: int
    excellent: int
    allowed: int | None  # None: the period's rule set sets no cap
    recorded: bool  # whether a decision list recorded the figures this meter shows

    @property
    def remaining(self) -> int | None:
        return None if self.allowed is None else self.allowed - self.excellent

    @property
    def over(self) -> bool:
        return self.allowed is not None and self.excellent > self.allowed


# --- the projection ------------------------------------------------------------------------------------------


class StatisticsProjection(Projection):
    name = "statistics"
    # Seconds on the bench's 899,308-event SQLite log (see Projection.rebuild_cost): its pages and indexes in a
    # one-process rebuild (bench/issue6_figures.py --no-helper), and decoding the events it reads (the log's
    # read_wanted, scaled to the decoding inside a rebuild, which pauses the garbage collector).
    rebuild_cost = 28.0
    rebuild_reads = 32.0
    rebuild_apart_on_postgresql = True
    handles = (Unit.Registered, Unit.Moved, *_DOSSIER_EVENTS, *_BOOK_EVENTS)

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        units = Table(
            "stat_units" + suffix,
            metadata,
            Column("unit_id", String(ID), primary_key=True),
            Column("parent_id", String(ID), nullable=True),
            Column("kind", String(40), nullable=False),
            # The strict ancestors, top first, joined by "/": where a dossier of this unit is counted.
            Column("ancestors", Text, nullable=False),
        )
        dossiers = Table(
            "stat_dossiers" + suffix,
            metadata,
            Column("dossier_id", String(ID), primary_key=True),
            Column("unit_id", String(ID), nullable=False),
            Column("year", Integer, nullable=False),
            Column("kind", String(40), nullable=False),
            Column("state", String(40), nullable=False),
            Column("level", String(20), nullable=True),  # the decided level, while decided
            Column("four_good", Boolean, nullable=False),  # recognized four-good by a standing decision
            Column("participant", Boolean, nullable=False),  # opened under a recognition model
            # The unit's place, copied from `units` (and kept there by moves): a dossier's event needs no other row.
            Column("parent_id", String(ID), nullable=True),
            Column("ancestors", Text, nullable=False),
            # A move finds the dossiers of the moved subtree by unit.
            Index(f"ix_stat_dossiers_unit{suffix}", "unit_id"),
        )
        counts = Table(
            "stat_counts" + suffix,
            metadata,
            Column("unit_id", String(ID), primary_key=True),
            Column("year", Integer, primary_key=True),
            Column("metric", String(60), primary_key=True),
            Column("n", BigInteger, nullable=False, default=0),
        )
        committees = Table(
            "stat_committees" + suffix,
            metadata,
            Column("unit_id", String(ID), primary_key=True),
            Column("year", Integer, primary_key=True),
            *(Column(c, Integer, nullable=False) for c in _COMMITTEE_FIGURES),
        )
        entries = Table(
            "stat_book_entries" + suffix,
            metadata,
            Column("book_id", String(ID), primary_key=True),
            Column("unit_id", String(ID), primary_key=True),
            Column("group", String(200), nullable=False),
            Column("level", String(20), nullable=False),
            Column("decided", Boolean, nullable=False),
        )
        quota = Table(
            "stat_quota" + suffix,
            metadata,
            Column("book_id", String(ID), primary_key=True),
            Column("group", String(200), primary_key=True),
            Column("good_or_better", Integer, nullable=False),
            Column("excellent", Integer, nullable=False),
            # The cap the engine recorded with the last decision list of this group, and the base it was for.
            Column("recorded", Boolean, nullable=False),
            Column("cap", Integer, nullable=True),
            Column("cap_base", Integer, nullable=True),
        )
        return {
            "units": units,
            "dossiers": dossiers,
            "counts": counts,
            "committees": committees,
            "book_entries": entries,
            "quota": quota,
        }

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        page.gather(self.name, logged, lambda items: self._apply_all(page, items))

    # --- a page at a time --------------------------------------------------------------------------------------

    def _apply_all(self, page: Page, items: list[LoggedEvent]) -> None:
        self._preload(page, items)
        for logged in items:
            event = logged.event
            if isinstance(event, _DOSSIER_EVENTS):
                self._dossier_event(page, logged)
            elif isinstance(event, _BOOK_EVENTS):
                self._book_event(page, logged)
            elif isinstance(event, Unit.Registered):
                self._unit_registered(page, logged)
            elif isinstance(event, Unit.Moved):
                self._unit_moved(page, logged)

    def _preload(self, page: Page, items: list[LoggedEvent]) -> None:
        """Every row the page's events will ask for, in a few queries (none at all on a rebuild's first page)."""
        units, dossiers = page.rows("units"), page.rows("dossiers")
        dossiers.load((uuid_text(i.originator_id),) for i in items if isinstance(i.event, _DOSSIER_EVENTS))
        unit_ids: set[str] = set()
        # A party cell's committee and year: the committee's targets change with the cell's dossier.
        committees: set[tuple[str, int]] = set()
        for logged in items:
            event = logged.event
            if isinstance(event, Dossier.Opened):
                unit_ids.add(uuid_text(event.unit_id))
            elif isinstance(event, _DOSSIER_EVENTS):
                row = dossiers.get(uuid_text(logged.originator_id))
                if row is not None and row["parent_id"] and row["kind"] == COMMITTEE_CELL_KIND:
                    committees.add((row["parent_id"], row["year"]))
            elif isinstance(event, Unit.Registered) and event.parent_id is not None:
                unit_ids.add(uuid_text(event.parent_id))
            elif isinstance(event, Unit.Moved):
                unit_ids.update((uuid_text(logged.originator_id), uuid_text(event.parent_id)))
        units.load((u,) for u in unit_ids)
        for logged in items:
            event = logged.event
            if isinstance(event, Dossier.Opened):
                unit = units.get(uuid_text(event.unit_id))
                if unit is not None and unit["parent_id"] and unit["kind"] == COMMITTEE_CELL_KIND:
                    committees.add((unit["parent_id"], event.year))
        page.rows("committees").load(committees)
        books = page.rows("book_entries")
        book_keys = [(uuid_text(i.originator_id), str(u)) for i in items for u in _book_units(i.event)]
        books.load(book_keys)
        groups = {(book, row["group"]) for book, unit in book_keys if (row := books.get(book, unit)) is not None}
        groups.update((uuid_text(i.originator_id), g) for i in items for g in _book_groups(i.event))
        page.rows("quota").load(groups)

    # --- units -------------------------------------------------------------------------------------------------

    def _unit_registered(self, page: Page, logged: LoggedEvent) -> None:
        event = logged.event
        parent_id = uuid_text(event.parent_id) if event.parent_id is not None else None
        page.rows("units").put(
            {
                "unit_id": uuid_text(logged.originator_id),
                "parent_id": parent_id,
                "kind": event.kind.value,
                "ancestors": _join(self._lineage(page, parent_id)),
            }
        )

    def _lineage(self, page: Page, unit_id: str | None) -> list[str]:
        """The unit and its ancestors, top first ([] for no unit)."""
        if unit_id is None:
            return []
        row = page.rows("units").get(unit_id)
        return [*_split(row["ancestors"]), unit_id] if row is not None else [unit_id]

    def _unit_moved(self, page: Page, logged: LoggedEvent) -> None:
        """Re-attribute the moved subtree: its dossiers' figures and its committees' targets leave the old ancestors
        and reach the new ones. Rare, so it queries: the page is written first, then read back."""
        units, dossiers, committees = page.rows("units"), page.rows("dossiers"), page.rows("committees")
        moved = uuid_text(logged.originator_id)
        moved_row = units.get(moved)
        if moved_row is None:
            raise LookupError(f"unit {moved} moved before it was registered")
        old_parent = moved_row["parent_id"]
        old_above = _split(moved_row["ancestors"])
        new_above = self._lineage(page, uuid_text(logged.event.parent_id))
        page.flush()
        table = units.table
        subtree = [
            dict(r)
            for r in page.conn.execute(
                select(table).where(or_(table.c.unit_id == moved, table.c.ancestors.contains(moved)))
            ).mappings()
        ]
        subtree_ids = [r["unit_id"] for r in subtree]
        moved_dossiers = self._dossier_ids_of(page, subtree_ids)
        dossiers.load((d,) for d in moved_dossiers)
        by_unit: dict[str, list[Row]] = {}
        for dossier_id in moved_dossiers:
            row = dossiers.get(dossier_id)
            if row is not None:
                by_unit.setdefault(row["unit_id"], []).append(row)
        committee_keys = self._committee_keys_of(page, subtree_ids)
        committees.load(committee_keys)
        years_of: dict[str, list[int]] = {}
        for unit_id, year in committee_keys:
            years_of.setdefault(unit_id, []).append(year)
        counters = page.counters("counts")
        for unit in subtree:
            above_before = _split(unit["ancestors"])
            above_after = new_above + above_before[len(old_above) :]
            for row in by_unit.get(unit["unit_id"], []):
                figures = _contribution(row)
                _spread(counters, above_before, row["year"], figures, -1)
                _spread(counters, above_after, row["year"], figures, +1)
                changes: dict[str, Any] = {"ancestors": _join(above_after)}
                if unit["unit_id"] == moved:
                    changes["parent_id"] = uuid_text(logged.event.parent_id)
                dossiers.update(row["dossier_id"], **changes)
            for year in years_of.get(unit["unit_id"], []):
                committee = committees.get(unit["unit_id"], year)
                if committee is not None:
                    flags = _targets_met(committee)
                    _spread(counters, above_before, year, flags, -1)
                    _spread(counters, above_after, year, flags, +1)
            units.update(unit["unit_id"], ancestors=_join(above_after))
        units.update(moved, parent_id=uuid_text(logged.event.parent_id))
        # A party cell moved: its dossiers now count for the new parent's targets, no longer the old one's.
        if moved_row["kind"] == COMMITTEE_CELL_KIND:
            for row in by_unit.get(moved, []):
                cell = _cell_figures(row)
                if old_parent is not None:
                    self._committee_change(page, old_parent, old_above[:-1], row["year"], cell, -1)
                self._committee_change(page, uuid_text(logged.event.parent_id), new_above[:-1], row["year"], cell, +1)

    def _dossier_ids_of(self, page: Page, unit_ids: list[str]) -> list[str]:
        table = page.rows("dossiers").table
        found: list[str] = []
        for chunk in _chunks(unit_ids):
            found.extend(page.conn.execute(select(table.c.dossier_id).where(table.c.unit_id.in_(chunk))).scalars())
        return found

    def _committee_keys_of(self, page: Page, unit_ids: list[str]) -> list[tuple[str, int]]:
        table = page.rows("committees").table
        found: list[tuple[str, int]] = []
        for chunk in _chunks(unit_ids):
            query = select(table.c.unit_id, table.c.year).where(table.c.unit_id.in_(chunk))
            found.extend((r.unit_id, r.year) for r in page.conn.execute(query))
        return found

    # --- dossiers ----------------------------------------------------------------------------------------------

    def _dossier_event(self, page: Page, logged: LoggedEvent) -> None:
        dossiers = page.rows("dossiers")
        event = logged.event
        dossier_id = uuid_text(logged.originator_id)
        if isinstance(event, Dossier.Opened):
            unit = page.rows("units").get(uuid_text(event.unit_id))
            new: Row = {
                "dossier_id": dossier_id,
                "unit_id": uuid_text(event.unit_id),
                "year": event.year,
                "kind": unit["kind"] if unit is not None else "",
                "state": DossierState.DRAFT.value,
                "level": None,
                "four_good": False,
                "participant": event.recognition_model_id is not None,
                "parent_id": unit["parent_id"] if unit is not None else None,
                "ancestors": unit["ancestors"] if unit is not None else "",
            }
            self._change(page, None, new)
            dossiers.put(new)
            return
        old = dossiers.get(dossier_id)
        if old is None:
            raise LookupError(f"dossier {dossier_id}: {type(event).__qualname__} before it was opened")
        new = dict(old)
        if isinstance(event, _STATE_CHANGES):
            new["state"] = event.to_state.value
        if isinstance(event, Dossier.Approved):
            new["level"] = event.level.value
            new["four_good"] = bool(event.four_good)
        elif isinstance(event, Dossier.MarkedNotRated):
            new["level"] = Classification.NOT_RATED.value
            new["four_good"] = False
        elif isinstance(event, Dossier.RecognitionSuspended):
            new["four_good"] = False
        if new["state"] not in DECIDED:
            # Re-opened (or any state short of a decision): its level is no longer final, nor its recognition.
            new["level"] = None
            new["four_good"] = False
        self._change(page, old, new)
        dossiers.put(new)

    def _change(self, page: Page, old: Row | None, new: Row) -> None:
        """Subtract the old contribution and add the new one, above the dossier's unit and to its committee."""
        delta = _contribution_change(old, new)
        if not delta:
            return
        above = _split(new["ancestors"])
        _spread(page.counters("counts"), above, new["year"], delta, +1)
        if new["kind"] == COMMITTEE_CELL_KIND and new["parent_id"]:
            cell = _difference(_cell_figures(old) if old else {}, _cell_figures(new))
            if cell:
                # The committee is the cell's parent, the last of its ancestors; the committee's own are the rest.
                self._committee_change(page, new["parent_id"], above[:-1], new["year"], cell, +1)

    def _committee_change(
        self, page: Page, committee_id: str, above: list[str], year: int, cell: Mapping[str, int], sign: int
    ) -> None:
        committees = page.rows("committees")
        before = committees.get(committee_id, year)
        after: Row = dict(before) if before is not None else {"unit_id": committee_id, "year": year}
        for column in _COMMITTEE_FIGURES:
            after[column] = after.get(column, 0) + sign * cell.get(column, 0)
        committees.put(after)
        flags = _difference(_targets_met(before) if before else {}, _targets_met(after))
        if flags:
            _spread(page.counters("counts"), above, year, flags, +1)

    # --- decision books: the quota meter -----------------------------------------------------------------------

    def _book_event(self, page: Page, logged: LoggedEvent) -> None:
        event = logged.event
        book = uuid_text(logged.originator_id)
        if isinstance(event, DecisionBook.ProposalRecorded):
            self._put_entry(page, book, event.entry)
        elif isinstance(event, DecisionBook.ProposalWithdrawn):
            self._drop_entry(page, book, uuid_text(event.unit_id))
        elif isinstance(event, DecisionBook.DecisionSuspended):
            self._drop_entry(page, book, uuid_text(event.unit_id))
            if event.proposal is not None:
                self._put_entry(page, book, event.proposal)
        elif isinstance(event, DecisionBook.DecisionsRecorded):
            for entry in event.entries:
                self._put_entry(page, book, entry)
            # What the engine decided on: its figures, not our replay, are the meter from here on.
            for figure in event.figures:
                self._quota(page, book, str(figure["group"]), _figure_of(figure))

    def _put_entry(self, page: Page, book: str, entry: DecisionEntry) -> None:
        self._drop_entry(page, book, uuid_text(entry.unit_id))
        row = {
            "book_id": book,
            "unit_id": uuid_text(entry.unit_id),
            "group": entry.group,
            "level": entry.level.value,
            "decided": entry.decided,
        }
        page.rows("book_entries").put(row)
        self._tally(page, book, row, +1)

    def _drop_entry(self, page: Page, book: str, unit_id: str) -> None:
        entries = page.rows("book_entries")
        old = entries.get(book, unit_id)
        if old is not None:
            entries.delete(book, unit_id)
            self._tally(page, book, old, -1)

    def _tally(self, page: Page, book: str, entry: Row, sign: int) -> None:
        # The book's own bookkeeping (DecisionEntry.in_base, .excellent): a proposal counts in the base while
        # undecided; only decisions use up the quota.
        in_base = entry["level"] in GOOD_OR_BETTER
        excellent = bool(entry["decided"]) and entry["level"] == Classification.EXCELLENT.value
        if in_base or excellent:
            self._quota(page, book, entry["group"], {"good_or_better": sign * in_base, "excellent": sign * excellent})

    def _quota(self, page: Page, book: str, group: str, change: Mapping[str, Any]) -> None:
        quota = page.rows("quota")
        row = quota.get(book, group) or {
            "book_id": book,
            "group": group,
            "good_or_better": 0,
            "excellent": 0,
            "recorded": False,
            "cap": None,
            "cap_base": None,
        }
        row = dict(row)
        if "recorded" in change:
            row.update(change)
        else:
            row["good_or_better"] += change["good_or_better"]
            row["excellent"] += change["excellent"]
        quota.put(row)


# --- contributions ---------------------------------------------------------------------------------------------

_COMMITTEE_FIGURES = ("cells", "participants", "four_good", "good_or_better", "decided")


def _contribution(row: Mapping[str, Any]) -> dict[str, int]:
    """What one dossier adds to the counters of every unit above it."""
    kind = row["kind"]
    figures = {"dossiers": 1, f"state:{row['state']}": 1, f"kind:{kind}": 1}
    if row["participant"]:
        figures[f"participants:{kind}"] = 1
    level = row["level"]
    if level is not None:
        figures[f"level:{level}"] = 1
        figures[f"decided:{kind}"] = 1
        if level in GOOD_OR_BETTER:
            figures[f"good_or_better:{kind}"] = 1
    if row["four_good"]:
        figures[f"four_good:{kind}"] = 1
    return figures


def _contribution_change(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Mapping[str, int]:
    """`_difference` of the two contributions, found once per pair of what they depend on (a handful of states and
    levels: a rebuild computed the same few differences for every event). Read only: the same mapping is shared."""
    key = (_contribution_key(old) if old else None, _contribution_key(new))
    found = _CHANGES.get(key)
    if found is None:
        found = _CHANGES[key] = _difference(_contribution(old) if old else {}, _contribution(new))
    return found


def _contribution_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    # Everything `_contribution` reads.
    return (row["kind"], row["state"], bool(row["participant"]), row["level"], bool(row["four_good"]))


_CHANGES: dict[tuple[Any, ...], Mapping[str, int]] = {}


def _cell_figures(row: Mapping[str, Any]) -> dict[str, int]:
    """What one party cell's dossier adds to its committee's targets."""
    decided = row["level"] is not None
    return {
        "cells": 1,
        "participants": int(bool(row["participant"])),
        "four_good": int(bool(row["four_good"])),
        "good_or_better": int(row["level"] in GOOD_OR_BETTER),
        "decided": int(decided),
    }


def _targets_met(row: Mapping[str, Any]) -> dict[str, int]:
    """What one committee adds, above it, to the count of committees meeting each target."""
    cells = row["cells"]
    if cells <= 0:
        return {}
    return {
        "committees": 1,
        "committees:pilot": int(_pilot_met(row)),
        "committees:model": int(_model_met(row)),
        "committees:all_good": int(_all_good_met(row)),
    }


def _pilot_met(row: Mapping[str, Any]) -> bool:
    return bool(row["participants"] >= PILOT_CELLS_WANTED)


def _model_met(row: Mapping[str, Any]) -> bool:
    return bool(row["cells"] > 0 and row["four_good"] >= MODEL_SHARE_WANTED * row["cells"])


def _all_good_met(row: Mapping[str, Any]) -> bool:
    return bool(row["cells"] > 0 and row["good_or_better"] == row["cells"])


def _difference(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in before.keys() | after.keys()}
    return {k: v for k, v in delta.items() if v}


def _spread(counters: Any, above: Iterable[str], year: int, figures: Mapping[str, int], sign: int) -> None:
    add = counters.add_to
    changes = [(metric, sign * n) for metric, n in figures.items()]
    for unit_id in above:
        for metric, n in changes:
            add((unit_id, year, metric), "n", n)


def _figure_of(figure: Mapping[str, Any]) -> dict[str, Any]:
    good = int(figure["good_or_better"])
    cap = figure.get("cap")
    return {
        "good_or_better": good,
        "excellent": int(figure["excellent"]),
        "recorded": True,
        "cap": None if cap is None else int(cap),
        "cap_base": good,
    }


def _book_units(event: object) -> list[UUID]:
    if isinstance(event, DecisionBook.ProposalRecorded):
        return [event.entry.unit_id]
    if isinstance(event, DecisionBook.ProposalWithdrawn | DecisionBook.DecisionSuspended):
        return [event.unit_id]
    if isinstance(event, DecisionBook.DecisionsRecorded):
        return [e.unit_id for e in event.entries]
    return []


def _book_groups(event: object) -> list[str]:
    if isinstance(event, DecisionBook.ProposalRecorded):
        return [event.entry.group]
    if isinstance(event, DecisionBook.DecisionSuspended) and event.proposal is not None:
        return [event.proposal.group]
    if isinstance(event, DecisionBook.DecisionsRecorded):
        return [e.group for e in event.entries] + [str(f["group"]) for f in event.figures]
    return []


def _split(ancestors: str) -> list[str]:
    return ancestors.split("/") if ancestors else []


def _join(ids: list[str]) -> str:
    return "/".join(ids)


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- queries ---------------------------------------------------------------------------------------------------


def statistics(store: ReadModelStore, unit_id: UUID, year: int) -> Statistics:
    """Everything below `unit_id` in `year`: two primary-key reads, whatever the size of the hierarchy."""
    tables = store.live_tables(StatisticsProjection.name)
    counts, committees = tables["counts"], tables["committees"]
    unit = str(unit_id)
    with store.engine.connect() as conn:
        figures = {
            r.metric: int(r.n)
            for r in conn.execute(
                select(counts.c.metric, counts.c.n).where(counts.c.unit_id == unit, counts.c.year == year)
            )
        }
        own = conn.execute(
            select(committees).where(committees.c.unit_id == unit, committees.c.year == year)
        ).mappings().first()
    own_row = dict(own) if own is not None else None

    def total(prefix: str, kinds: Iterable[str]) -> int:
        return sum(figures.get(f"{prefix}:{k}", 0) for k in kinds)

    all_kinds = [k.value for k in UnitKind]
    committee = UnitKind.GRASSROOTS_COMMITTEE.value
    return Statistics(
        unit_id=unit_id,
        year=year,
        dossiers=figures.get("dossiers", 0),
        by_state={s.value: figures.get(f"state:{s.value}", 0) for s in DossierState},
        by_level={c.value: figures.get(f"level:{c.value}", 0) for c in Classification},
        by_kind={k: figures.get(f"kind:{k}", 0) for k in all_kinds},
        decided=total("decided", all_kinds),
        cells=total("kind", CELL_KINDS),
        four_good_cells=total("four_good", CELL_KINDS),
        pilot_cells=total("participants", CELL_KINDS),
        four_good_committees=figures.get(f"four_good:{committee}", 0),
        targets=_targets(own_row) if own_row is not None and own_row["cells"] > 0 else (),
        committees_below=CommitteesBelow(
            committees=figures.get("committees", 0),
            pilot_met=figures.get("committees:pilot", 0),
            model_met=figures.get("committees:model", 0),
            all_good_met=figures.get("committees:all_good", 0),
        ),
    )


@dataclass(frozen=True)
class PeriodTotals:
    """A whole period counted: what the counters of its top-level units hold, plus those units' own dossiers
    (counted above their unit only, so in no counter)."""

    year: int
    dossiers: int
    by_state: dict[str, int]
    by_level: dict[str, int]
    four_good: int


def period_totals(store: ReadModelStore, year: int, top_unit_ids: Iterable[UUID]) -> PeriodTotals:
    """Every dossier of `year` counted, given the units at the top of the hierarchy: a primary-key read of their
    counters and an indexed read of their own dossiers, instead of counting 300,000 dossiers."""
    tables = store.live_tables(StatisticsProjection.name)
    counts, dossiers = tables["counts"], tables["dossiers"]
    tops = [str(u) for u in top_unit_ids]
    figures: dict[str, int] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(tops), 500):
            chunk = tops[start : start + 500]
            for metric, n in conn.execute(
                select(counts.c.metric, counts.c.n).where(counts.c.unit_id.in_(chunk), counts.c.year == year)
            ):
                figures[metric] = figures.get(metric, 0) + int(n)
            own = select(dossiers).where(dossiers.c.unit_id.in_(chunk), dossiers.c.year == year)
            for row in conn.execute(own).mappings():
                for metric, n in _contribution(dict(row)).items():
                    figures[metric] = figures.get(metric, 0) + n
    prefix = "state:", "level:", "four_good:"
    return PeriodTotals(
        year=year,
        dossiers=figures.get("dossiers", 0),
        by_state={m[len(prefix[0]) :]: n for m, n in figures.items() if m.startswith(prefix[0]) and n},
        by_level={m[len(prefix[1]) :]: n for m, n in figures.items() if m.startswith(prefix[1]) and n},
        four_good=sum(n for m, n in figures.items() if m.startswith(prefix[2])),
    )


def _targets(row: Mapping[str, Any]) -> tuple[Target, ...]:
    cells = int(row["cells"])
    return (
        Target("pilot cells", int(row["participants"]), cells, f"at least {PILOT_CELLS_WANTED}", _pilot_met(row)),
        Target(
            "model cells (recognized four-good)", int(row["four_good"]), cells,
            f"at least {int(MODEL_SHARE_WANTED * 100)}% of the cells", _model_met(row),
        ),
        Target("cells good or better", int(row["good_or_better"]), cells, "100% of the cells", _all_good_met(row)),
    )


_QUOTA_OF_BOOK: dict[Table, Any] = {}


def quota_meters(
    store: ReadModelStore, superior_id: UUID, year: int, *, share: Decimal = DEFAULT_QUOTA_SHARE,
    reading: Reading | None = None,
) -> tuple[QuotaMeter, ...]:
    """The excellent-quota meter of each group directly under `superior_id` in `year`, by group name.

    `allowed` is the cap the engine recorded with the group's last decision list while the base is still the one
    it was recorded for; after a proposal or a withdrawal moved the base, it is floor(share × base), the rule of
    both rule sets so far (`share`). A book whose decisions recorded no cap (the rule set sets none) shows none.
    """
    book = str(decision_book_id(superior_id, year))
    # `reading`: a page's (My work reads everything through one connection).
    with reading_of(store, reading) as reader:
        quota = reader.tables(StatisticsProjection.name)["quota"]
        statement = _QUOTA_OF_BOOK.get(quota)
        if statement is None:
            # Built once per generation of the table: building it cost more than SQLite takes to answer it.
            statement = _QUOTA_OF_BOOK[quota] = select(quota).where(quota.c.book_id == bindparam("book"))
        rows = [dict(x) for x in reader.execute(statement, {"book": book}).mappings()]
    uncapped = any(r["recorded"] and r["cap"] is None for r in rows)
    meters = []
    for r in sorted(rows, key=lambda r: str(r["group"])):
        base = int(r["good_or_better"])
        if uncapped:
            allowed = None
        elif r["recorded"] and r["cap_base"] == base:
            allowed = r["cap"]
        else:
            allowed = int((share * base).to_integral_value(rounding=ROUND_FLOOR))
        meters.append(QuotaMeter(str(r["group"]), base, int(r["excellent"]), allowed, bool(r["recorded"])))
    return tuple(meters)
