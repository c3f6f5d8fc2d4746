"""Dossiers as rows, their state history, and the classifications decided per unit and period.

One projection ("dossiers") keeps:

- `dossiers`: one row per dossier: its unit (and the unit's parent when it was opened), period, rule set, workflow
  version, state and since when, round, the suggested level (the rules' evaluation recorded at endorsement or
  decision), the proposed and the final level, four-good recognition (and whether it was suspended), the total points
  when the rule set counts points, who submitted it, the last actor, the opening, submission and decision times, and
  the deadline of the step it waits for (overdue is a comparison with the day asked about, at query time);
- `dossier_states`: every change of state (who, as what, when, from and to), so that the state on any date, and
  what a person acted on, is one indexed query;
- `dossier_submitters`: who submitted each dossier (nobody reviews or decides what they submitted);
- `classifications` and `classification_history`: per unit and period, the decision in force (with its rule set,
  time, and the number and date of the act it was taken by) and every decision before it; a re-classification
  replaces the current row and the history keeps them all, so an act reads back whole even after one of its units
  was decided again by a later act;
- `dossier_scope`: each dossier once under its own unit (depth 0) and once under each unit above it now (depth 1
  is the unit directly above), with what queues and listings filter and sort on (state and since when, year, unit
  code, deadline). "The dossiers waiting in state S below X, oldest first" and "a page of the dossiers below X" are
  then one index range each, counted without touching the dossiers: at national scale a province holds some 60,000
  dossiers, too many to probe one by one in 100 ms. A state change rewrites the dossier's handful of scope rows; a
  unit's move rewrites those of every dossier below it (rare);
- `dossier_periods` and `dossier_units`: the periods' deadlines and closure, and each unit's code and current
  parent, read from their own events (a read model never reads another one's tables while it is fed).

Times are stored as integer microseconds since the epoch (UTC): exact, ordered alike on both backends, indexable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, ClassVar, NamedTuple
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    select,
    text,
    tuple_,
    update,
)

from domain.dossier import Dossier
from domain.ids import period_id
from domain.period import EvaluationPeriod
from domain.unit import Unit
from domain.values import Classification, DossierState
from projections.core import LoggedEvent, Page, Projection
from projections.models.units import UnitsProjection
from projections.store import ReadModelStore

_D: Any = Dossier
_P: Any = EvaluationPeriod
_U: Any = Unit

# Vietnam keeps one offset all year (workflow/clock.py says the same; projections do not import workflow).
VIETNAM = timezone(timedelta(hours=7), "ICT")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

# The step a dossier waits for in each state, whose deadline the period sets. A withdrawn draft still owes its
# self-assessment; a decided dossier waits for nothing, and a re-opened one has no deadline (a re-classification
# comes when defects are found, after the season).
STEP_OF_STATE: dict[DossierState, str] = {
    DossierState.DRAFT: "self_assessment",
    DossierState.WITHDRAWN: "self_assessment",
    DossierState.RETURNED_TO_UNIT: "self_assessment",
    DossierState.SUBMITTED: "review",
    DossierState.RETURNED_TO_COMMITTEE: "review",
    DossierState.ENDORSED: "decision",
}

# The events that move a dossier from one state to another, by the trigger that records them.
STATE_EVENTS: dict[type, str] = {
    _D.Submitted: "submit",
    _D.Resubmitted: "resubmit",
    _D.Withdrawn: "withdraw",
    _D.Restored: "restore",
    _D.Endorsed: "endorse",
    _D.ReturnedToUnit: "return_to_unit",
    _D.Approved: "approve",
    _D.ReturnedToCommittee: "return_to_committee",
    _D.MarkedNotRated: "mark_not_rated",
    _D.Reopened: "reopen",
}
SUBMITTING = (_D.Submitted, _D.Resubmitted)
DECIDING = (_D.Approved, _D.MarkedNotRated)
# The events `apply` does not hand to `_changed`.
_NOT_CHANGES = (_U.Registered, _U.Moved, _P.Opened, _P.DeadlinesChanged, _P.Closed, _D.Opened)


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICRO


def from_micros(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + value * _MICRO


def moment_of(moment: datetime | date) -> datetime:
    """A moment asked about: a date means the end of that day in Vietnam, as the engine's `dossier_as_of` reads it."""
    if isinstance(moment, datetime):
        return moment
    return datetime.combine(moment, time.max, tzinfo=VIETNAM)


def vietnam_day(moment: datetime) -> date:
    return moment.astimezone(VIETNAM).date()


def _level(value: Any) -> str | None:
    if value is None:
        return None
    return value.value if isinstance(value, Classification) else str(value)


class DossiersProjection(Projection):
    name: ClassVar[str] = "dossiers"
    # Seconds on the bench's 899,308-event SQLite log (see Projection.rebuild_cost): its pages and indexes in a
    # one-process rebuild (bench/issue6_figures.py --no-helper), and decoding the events it reads (the log's
    # read_wanted, scaled to the decoding inside a rebuild, which pauses the garbage collector).
    rebuild_cost = 42.0
    rebuild_reads = 44.0
    rebuild_apart_on_postgresql = True
    handles: ClassVar[tuple[type, ...]] = (
        _D.Opened,
        _D.AnswersRecorded,
        _D.EvidenceAttached,
        _D.EvidenceRemoved,
        _D.RecognitionSuspended,
        *STATE_EVENTS,
        _P.Opened,
        _P.DeadlinesChanged,
        _P.Closed,
        _U.Registered,
        _U.Moved,
    )

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        dossiers = Table(
            f"dossiers{suffix}",
            metadata,
            Column("dossier_id", Uuid, primary_key=True),
            Column("unit_id", Uuid, nullable=False),
            Column("unit_code", String(100), nullable=False),
            Column("parent_id", Uuid, nullable=True),
            Column("year", Integer, nullable=False),
            Column("rule_set_id", String(100), nullable=False),
            Column("workflow_version", Integer, nullable=False),
            Column("recognition_model_id", String(100), nullable=True),
            Column("state", String(40), nullable=False),
            Column("state_since_us", BigInteger, nullable=False),
            Column("round", Integer, nullable=False),
            Column("suggested_level", String(20), nullable=True),
            Column("proposed_level", String(20), nullable=True),
            Column("final_level", String(20), nullable=True),
            Column("four_good", Boolean, nullable=True),
            Column("recognition_suspended", Boolean, nullable=False),
            Column("points", String(20), nullable=True),
            Column("submitters", Text, nullable=False),
            Column("last_actor_id", Uuid, nullable=True),
            Column("last_role", String(20), nullable=True),
            Column("last_unit_id", Uuid, nullable=True),
            Column("last_on_behalf_of", Uuid, nullable=True),
            Column("last_at_us", BigInteger, nullable=True),
            Column("opened_at_us", BigInteger, nullable=False),
            Column("submitted_at_us", BigInteger, nullable=True),
            Column("decided_at_us", BigInteger, nullable=True),
            Column("waiting_step", String(20), nullable=True),
            Column("deadline", Date, nullable=True),
            # How many rows it has in `dossier_scope`: its unit and the units above it, when last written.
            Column("levels", Integer, nullable=False),
            # Listing order: newest year first, then by unit code.
            Index(f"ix_dossiers{suffix}_year_code", text("year DESC"), "unit_code", "dossier_id"),
            # Work queues: by state, oldest first; or, for a small scope, by unit.
            Index(f"ix_dossiers{suffix}_state_since", "state", "state_since_us"),
            Index(f"ix_dossiers{suffix}_unit", "unit_id", "state"),
            Index(f"ix_dossiers{suffix}_deadline", "deadline"),
        )
        states = Table(
            f"dossier_states{suffix}",
            metadata,
            Column("dossier_id", Uuid, primary_key=True),
            Column("position", BigInteger, primary_key=True),
            Column("at_us", BigInteger, nullable=False),
            Column("trigger", String(40), nullable=False),
            Column("from_state", String(40), nullable=True),
            Column("to_state", String(40), nullable=False),
            Column("actor_id", Uuid, nullable=True),
            Column("role", String(20), nullable=True),
            Column("actor_unit_id", Uuid, nullable=True),
            Column("on_behalf_of", Uuid, nullable=True),
            Column("grant_id", Uuid, nullable=True),
            Column("delegation_id", Uuid, nullable=True),
            Column("reason", Text, nullable=True),
            # A person's archive: what they acted on, latest first.
            Index(f"ix_dossier_states{suffix}_actor", "actor_id", "at_us"),
        )
        submitters = Table(
            f"dossier_submitters{suffix}",
            metadata,
            Column("dossier_id", Uuid, primary_key=True),
            Column("person_id", Uuid, primary_key=True),
            # A queue's count is everything in scope less what the person submitted: found by person.
            Index(f"ix_dossier_submitters{suffix}_person", "person_id", "dossier_id"),
        )
        scope = Table(
            f"dossier_scope{suffix}",
            metadata,
            Column("dossier_id", Uuid, primary_key=True),
            Column("depth", Integer, primary_key=True),
            Column("ancestor_id", Uuid, nullable=False),
            Column("year", Integer, nullable=False),
            Column("unit_code", String(100), nullable=False),
            Column("state", String(40), nullable=False),
            Column("state_since_us", BigInteger, nullable=False),
            Column("deadline", Date, nullable=True),
            # Queues: below X, in state S, oldest first; depth and year filtered inside the index.
            Index(
                f"ix_dossier_scope{suffix}_queue",
                "ancestor_id", "state", "state_since_us", "dossier_id", "depth", "year",
            ),
            # Listings: below X, newest year first, by unit code; state and deadline filtered inside the index.
            Index(
                f"ix_dossier_scope{suffix}_list",
                "ancestor_id", text("year DESC"), "unit_code", "dossier_id", "state", "deadline",
            ),
        )
        periods = Table(
            f"dossier_periods{suffix}",
            metadata,
            Column("year", Integer, primary_key=True),
            Column("rule_set_id", String(100), nullable=False),
            Column("rule_set_version", Integer, nullable=False),
            Column("self_assessment", Date, nullable=True),
            Column("review", Date, nullable=True),
            Column("decision", Date, nullable=True),
            Column("closed_at_us", BigInteger, nullable=True),
        )
        units = Table(
            f"dossier_units{suffix}",
            metadata,
            Column("unit_id", Uuid, primary_key=True),
            Column("code", String(100), nullable=False),
            Column("parent_id", Uuid, nullable=True),
            # A move finds the units below the moved one.
            Index(f"ix_dossier_units{suffix}_parent", "parent_id"),
        )
        classifications = Table(
            f"classifications{suffix}",
            metadata,
            Column("unit_id", Uuid, primary_key=True),
            Column("year", Integer, primary_key=True),
            Column("unit_code", String(100), nullable=False),
            Column("dossier_id", Uuid, nullable=False),
            Column("level", String(20), nullable=False),
            Column("four_good", Boolean, nullable=True),
            Column("recognition_suspended", Boolean, nullable=False),
            # Between a re-opening and the next decision: the classification stands under re-examination.
            Column("reopened", Boolean, nullable=False),
            Column("rule_set_id", String(100), nullable=False),
            Column("rule_set_version", Integer, nullable=True),
            Column("decided_at_us", BigInteger, nullable=False),
            Column("decided_by", Uuid, nullable=True),
            Column("reason", Text, nullable=False),
            Column("position", BigInteger, nullable=False),
            # The act the decision in force was taken by: None for a unit marked not rated, or decided without one.
            Column("act_number", String(60), nullable=True),
            Column("act_date", Date, nullable=True),
            Index(f"ix_classifications{suffix}_year", "year", "unit_code"),
        )
        history = Table(
            f"classification_history{suffix}",
            metadata,
            Column("unit_id", Uuid, primary_key=True),
            Column("year", Integer, primary_key=True),
            Column("position", BigInteger, primary_key=True),
            Column("dossier_id", Uuid, nullable=False),
            Column("event", String(40), nullable=False),
            Column("level", String(20), nullable=True),
            Column("four_good", Boolean, nullable=True),
            Column("rule_set_id", String(100), nullable=False),
            Column("rule_set_version", Integer, nullable=True),
            Column("at_us", BigInteger, nullable=False),
            Column("actor_id", Uuid, nullable=True),
            Column("reason", Text, nullable=False),
            Column("act_number", String(60), nullable=True),
            Column("act_date", Date, nullable=True),
        )
        return {
            "dossiers": dossiers,
            "dossier_states": states,
            "dossier_submitters": submitters,
            "dossier_scope": scope,
            "dossier_periods": periods,
            "dossier_units": units,
            "classifications": classifications,
            "classification_history": history,
        }

    # --- applying events -----------------------------------------------------------------------

    def prepare(self, page: Page, events: Sequence[LoggedEvent]) -> None:
        # A page's dossiers, their units and every unit above them, and the classifications it may change: a query
        # per table and level instead of several per event (each a round trip on PostgreSQL).
        dossiers, units = page.rows("dossiers"), page.rows("dossier_units")
        changed = [e for e in events if not isinstance(e.event, _NOT_CHANGES)]
        dossiers.load((e.originator_id,) for e in changed)
        wanted = {e.event.unit_id for e in events if isinstance(e.event, _D.Opened)}
        found = [(e, row) for e in changed if (row := dossiers.get(e.originator_id)) is not None]
        # Only a change of state rewrites the scope rows, and only their state: the units above the dossier are
        # the ones its scope rows already name (written when it was opened, rewritten when a unit above moved), so
        # its scope rows are read in one query, where finding the units again cost a query per level.
        page.rows("dossier_scope").load_by_first(
            row["dossier_id"] for e, row in found if type(e.event) in STATE_EVENTS
        )
        seen: set[UUID] = set()
        while wanted:
            units.load((uid,) for uid in wanted)
            seen |= wanted
            wanted = {
                parent for uid in wanted
                if (unit := units.get(uid)) is not None and (parent := unit["parent_id"]) is not None
            } - seen
        page.rows("classifications").load(
            (row["unit_id"], row["year"])
            for e, row in found
            if isinstance(e.event, (_D.Reopened, _D.RecognitionSuspended))
        )

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        event = logged.event
        if isinstance(event, _U.Registered):
            page.rows("dossier_units").put(
                {"unit_id": logged.originator_id, "code": event.code, "parent_id": event.parent_id}
            )
        elif isinstance(event, _U.Moved):
            page.rows("dossier_units").update(logged.originator_id, parent_id=event.parent_id)
            self._moved(page, logged.originator_id)
        elif isinstance(event, _P.Opened):
            deadlines = dict(event.deadlines)
            page.rows("dossier_periods").put(
                {
                    "year": event.year,
                    "rule_set_id": event.rule_set_id,
                    "rule_set_version": event.rule_set_version,
                    "self_assessment": deadlines.get("self_assessment"),
                    "review": deadlines.get("review"),
                    "decision": deadlines.get("decision"),
                    "closed_at_us": None,
                }
            )
        elif isinstance(event, _P.DeadlinesChanged):
            self._deadlines_changed(page, logged)
        elif isinstance(event, _P.Closed):
            closed = micros(logged.timestamp)
            page.rows("dossier_periods").update(_period_year(logged.originator_id), closed_at_us=closed)
        elif isinstance(event, _D.Opened):
            self._opened(page, logged)
        else:
            self._changed(page, logged)

    def _opened(self, page: Page, logged: LoggedEvent) -> None:
        event = logged.event
        at = micros(logged.timestamp)
        unit = page.rows("dossier_units").get(event.unit_id)
        row = {
            "dossier_id": logged.originator_id,
            "unit_id": event.unit_id,
            "unit_code": unit["code"] if unit else "",
            "parent_id": unit["parent_id"] if unit else None,
            "year": event.year,
            "rule_set_id": event.rule_set_id,
            "workflow_version": event.workflow_version,
            "recognition_model_id": event.recognition_model_id,
            "state": DossierState.DRAFT.value,
            "state_since_us": at,
            "round": 1,
            "suggested_level": None,
            "proposed_level": None,
            "final_level": None,
            "four_good": None,
            "recognition_suspended": False,
            "points": None,
            "submitters": "",
            "opened_at_us": at,
            "submitted_at_us": None,
            "decided_at_us": None,
            "levels": 0,
            **_last_actor(event, at),
            **self._waiting(page, event.year, DossierState.DRAFT),
        }
        row["levels"] = _write_scope(page, row)
        page.rows("dossiers").put(row)
        self._state_row(page, logged, "open", None, DossierState.DRAFT)

    def _changed(self, page: Page, logged: LoggedEvent) -> None:
        event = logged.event
        did = logged.originator_id
        at = micros(logged.timestamp)
        dossiers = page.rows("dossiers")
        row = dossiers.get(did)
        if row is None:
            raise LookupError(f"dossier {did} changed before it was opened")
        changes: dict[str, Any] = _last_actor(event, at)
        trigger = STATE_EVENTS.get(type(event))
        if trigger is not None:
            to_state: DossierState = event.to_state
            changes.update(state=to_state.value, state_since_us=at, **self._waiting(page, row["year"], to_state))
            changes["round"] = getattr(event, "round", row["round"])
            self._state_row(page, logged, trigger, event.from_state, to_state)
        if isinstance(event, SUBMITTING):
            person = str(event.actor.person_id)
            submitters = [p for p in row["submitters"].split(",") if p]
            if person not in submitters:
                changes["submitters"] = ",".join([*submitters, person])
                page.rows("dossier_submitters").put({"dossier_id": did, "person_id": event.actor.person_id})
            changes["submitted_at_us"] = at
            if isinstance(event, _D.Resubmitted):
                changes["proposed_level"] = None
        elif isinstance(event, _D.ReturnedToUnit):
            changes["proposed_level"] = None
        elif isinstance(event, _D.Endorsed):
            changes.update(
                proposed_level=_level(event.level),
                suggested_level=_level(event.evaluation.get("level")),
                points=event.evaluation.get("total_points"),
            )
        elif isinstance(event, _D.Approved):
            changes.update(
                final_level=_level(event.level),
                suggested_level=_level(event.evaluation.get("level")),
                points=event.evaluation.get("total_points"),
                four_good=event.four_good,
                recognition_suspended=False,
                decided_at_us=at,
            )
        elif isinstance(event, _D.MarkedNotRated):
            changes.update(
                final_level=Classification.NOT_RATED.value, four_good=None, recognition_suspended=False,
                decided_at_us=at,
            )
        elif isinstance(event, _D.RecognitionSuspended):
            changes.update(four_good=None, recognition_suspended=True)
        if trigger is not None:
            changes["levels"] = _restate_scope(page, {**row, **changes})
        dossiers.update(did, **changes)
        if isinstance(event, (*DECIDING, _D.Reopened, _D.RecognitionSuspended)):
            self._classification(page, logged, {**row, **changes})

    @staticmethod
    def _moved(page: Page, unit_id: UUID) -> None:
        """A unit moved: rewrite the scope rows of every dossier of it and of every unit below it."""
        page.flush()
        units, dossiers = page.tables["dossier_units"], page.tables["dossiers"]
        below = select(units.c.unit_id).where(units.c.unit_id == unit_id).cte("below", recursive=True)
        below = below.union_all(select(units.c.unit_id).where(units.c.parent_id == below.c.unit_id))
        affected = [
            (r.dossier_id, r.unit_id)
            for r in page.conn.execute(
                select(dossiers.c.dossier_id, dossiers.c.unit_id).where(
                    dossiers.c.unit_id.in_(select(below.c.unit_id))
                )
            )
        ]
        rows = page.rows("dossiers")
        rows.load((did,) for did, _ in affected)
        page.rows("dossier_units").load((uid,) for _, uid in affected)
        for did, _ in affected:
            row = rows.get(did)
            if row is not None:
                rows.update(did, levels=_write_scope(page, row))

    @staticmethod
    def _deadlines_changed(page: Page, logged: LoggedEvent) -> None:
        """New deadlines for a period: its row, then every dossier of that year waiting for a changed step, set-wise
        (a national season has some 52,000 dossiers a year, each with a handful of scope rows)."""
        year = _period_year(logged.originator_id)
        changed: dict[str, date] = dict(logged.event.deadlines)
        page.rows("dossier_periods").update(year, **changed)
        page.flush()
        dossiers, scope = page.tables["dossiers"], page.tables["dossier_scope"]
        for step, day in changed.items():
            states = [state.value for state, waits_for in STEP_OF_STATE.items() if waits_for == step]
            page.conn.execute(
                update(dossiers).where(dossiers.c.year == year, dossiers.c.waiting_step == step).values(deadline=day)
            )
            page.conn.execute(
                update(scope).where(scope.c.year == year, scope.c.state.in_(states)).values(deadline=day)
            )
        page.rows("dossiers").forget()
        page.rows("dossier_scope").forget()

    @staticmethod
    def _waiting(page: Page, year: int, state: DossierState) -> dict[str, Any]:
        step = STEP_OF_STATE.get(state)
        period = page.rows("dossier_periods").get(year) if step else None
        return {"waiting_step": step, "deadline": period[step] if period and step else None}

    @staticmethod
    def _state_row(
        page: Page, logged: LoggedEvent, trigger: str, from_state: DossierState | None, to_state: DossierState
    ) -> None:
        event = logged.event
        actor = event.actor
        page.append(
            "dossier_states",
            {
                "dossier_id": logged.originator_id,
                "position": logged.position,
                "at_us": micros(logged.timestamp),
                "trigger": trigger,
                "from_state": from_state.value if from_state else None,
                "to_state": to_state.value,
                "actor_id": actor.person_id,
                "role": actor.role.value,
                "actor_unit_id": actor.unit_id,
                "on_behalf_of": actor.on_behalf_of,
                "grant_id": actor.grant_id,
                "delegation_id": actor.delegation_id,
                "reason": getattr(event, "reason", None),
            },
        )

    @staticmethod
    def _classification(page: Page, logged: LoggedEvent, dossier: dict[str, Any]) -> None:
        event = logged.event
        key = (dossier["unit_id"], dossier["year"])
        current = page.rows("classifications")
        at = micros(logged.timestamp)
        act = getattr(event, "act", None)
        act_fields = {"act_number": act.number if act else None, "act_date": act.day if act else None}
        if isinstance(event, DECIDING):
            period = page.rows("dossier_periods").get(dossier["year"])
            evaluation = getattr(event, "evaluation", None) or {}
            rule_set_id = evaluation.get("rule_set_id") or dossier["rule_set_id"]
            version = evaluation.get("rule_set_version") or (period["rule_set_version"] if period else None)
            current.put(
                {
                    "unit_id": key[0],
                    "year": key[1],
                    "unit_code": dossier["unit_code"],
                    "dossier_id": logged.originator_id,
                    "level": dossier["final_level"],
                    "four_good": dossier["four_good"],
                    "recognition_suspended": False,
                    "reopened": False,
                    "rule_set_id": rule_set_id,
                    "rule_set_version": version,
                    "decided_at_us": at,
                    "decided_by": event.actor.person_id,
                    "reason": event.reason,
                    "position": logged.position,
                    **act_fields,
                }
            )
            level, four_good = dossier["final_level"], dossier["four_good"]
        else:
            found = current.get(*key)
            if found is None:
                return
            if isinstance(event, _D.Reopened):
                current.update(*key, reopened=True)
            else:
                current.update(*key, four_good=None, recognition_suspended=True)
            rule_set_id, version = found["rule_set_id"], found["rule_set_version"]
            level, four_good = found["level"], found["four_good"]
        page.append(
            "classification_history",
            {
                "unit_id": key[0],
                "year": key[1],
                "position": logged.position,
                "dossier_id": logged.originator_id,
                "event": type(event).__name__,
                "level": level,
                "four_good": four_good,
                "rule_set_id": rule_set_id,
                "rule_set_version": version,
                "at_us": at,
                "actor_id": event.actor.person_id,
                "reason": getattr(event, "reason", None) or getattr(event, "legal_basis", "") or "",
                **act_fields,
            },
        )


# EvaluationPeriod.Closed carries no year; a period's id is derived from its year (2000-2100, as `open` checks).
_YEAR_OF_PERIOD = {period_id(year): year for year in range(2000, 2101)}


def _period_year(pid: UUID) -> int:
    try:
        return _YEAR_OF_PERIOD[pid]
    except KeyError:
        raise LookupError(f"no evaluation year has the period id {pid}") from None


def _restate_scope(page: Page, dossier: dict[str, Any]) -> int:
    """The dossier's new state, since and deadline in its scope rows, under the units they name; returns how many
    it has. Rows missing (none written yet, or fewer than the dossier counts) are written anew from the units."""
    scope = page.rows("dossier_scope")
    did, levels = dossier["dossier_id"], int(dossier["levels"])
    if levels == 0 or any(scope.get(did, depth) is None for depth in range(levels)):
        return _write_scope(page, dossier)
    for depth in range(levels):
        scope.update(
            did, depth, state=dossier["state"], state_since_us=dossier["state_since_us"], deadline=dossier["deadline"]
        )
    return levels


def _write_scope(page: Page, dossier: dict[str, Any]) -> int:
    """Put the dossier's scope rows (its unit, then each unit above it now) and drop any left from a deeper place;
    returns how many it has now."""
    units = page.rows("dossier_units")
    scope = page.rows("dossier_scope")
    chain: list[UUID] = [dossier["unit_id"]]
    found = units.get(dossier["unit_id"])
    parent = found["parent_id"] if found else None
    while parent is not None and parent not in chain:
        chain.append(parent)
        above = units.get(parent)
        parent = above["parent_id"] if above else None
    for depth, ancestor in enumerate(chain):
        scope.put(
            {
                "dossier_id": dossier["dossier_id"],
                "depth": depth,
                "ancestor_id": ancestor,
                "year": dossier["year"],
                "unit_code": dossier["unit_code"],
                "state": dossier["state"],
                "state_since_us": dossier["state_since_us"],
                "deadline": dossier["deadline"],
            }
        )
    for depth in range(len(chain), dossier["levels"]):
        scope.delete(dossier["dossier_id"], depth)
    return len(chain)


def _last_actor(event: Any, at: int) -> dict[str, Any]:
    actor = event.actor
    return {
        "last_actor_id": actor.person_id,
        "last_role": actor.role.value,
        "last_unit_id": actor.unit_id,
        "last_on_behalf_of": actor.on_behalf_of,
        "last_at_us": at,
    }


# --- queries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DossierRow:
    dossier_id: UUID
    unit_id: UUID
    unit_code: str
    parent_id: UUID | None
    year: int
    rule_set_id: str
    workflow_version: int
    recognition_model_id: str | None
    state: DossierState
    state_since: datetime
    round: int
    suggested_level: Classification | None
    proposed_level: Classification | None
    final_level: Classification | None
    four_good: bool | None
    recognition_suspended: bool
    points: str | None
    submitters: tuple[UUID, ...]
    last_actor_id: UUID | None
    last_role: str | None
    last_unit_id: UUID | None
    last_on_behalf_of: UUID | None
    last_at: datetime | None
    opened_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    waiting_step: str | None
    deadline: date | None

    def overdue_on(self, day: date) -> bool:
        """Late on `day` for the step it waits for (after the deadline's day, as `EvaluationPeriod.is_late`)."""
        return self.deadline is not None and day > self.deadline


@dataclass(frozen=True)
class DossierPage:
    total: int
    rows: list[DossierRow]


@dataclass(frozen=True)
class StateChange:
    position: int
    at: datetime
    trigger: str
    from_state: DossierState | None
    to_state: DossierState
    actor_id: UUID | None
    role: str | None
    actor_unit_id: UUID | None
    on_behalf_of: UUID | None
    reason: str | None


@dataclass(frozen=True)
class ClassificationRow:
    unit_id: UUID
    unit_code: str
    year: int
    dossier_id: UUID
    level: Classification
    four_good: bool | None
    recognition_suspended: bool
    reopened: bool
    rule_set_id: str
    rule_set_version: int | None
    decided_at: datetime
    decided_by: UUID | None
    reason: str
    act_number: str | None = None
    act_date: date | None = None


@dataclass(frozen=True)
class ClassificationChange:
    position: int
    event: str
    level: Classification | None
    four_good: bool | None
    rule_set_id: str
    rule_set_version: int | None
    at: datetime
    actor_id: UUID | None
    reason: str


def _opt_level(value: str | None) -> Classification | None:
    return None if value is None else Classification(value)


def dossier_from(r: Any) -> DossierRow:
    return DossierRow(
        dossier_id=r.dossier_id,
        unit_id=r.unit_id,
        unit_code=r.unit_code,
        parent_id=r.parent_id,
        year=r.year,
        rule_set_id=r.rule_set_id,
        workflow_version=r.workflow_version,
        recognition_model_id=r.recognition_model_id,
        state=DossierState(r.state),
        state_since=_at(r.state_since_us),
        round=r.round,
        suggested_level=_opt_level(r.suggested_level),
        proposed_level=_opt_level(r.proposed_level),
        final_level=_opt_level(r.final_level),
        four_good=r.four_good,
        recognition_suspended=bool(r.recognition_suspended),
        points=r.points,
        submitters=tuple(UUID(p) for p in r.submitters.split(",") if p),
        last_actor_id=r.last_actor_id,
        last_role=r.last_role,
        last_unit_id=r.last_unit_id,
        last_on_behalf_of=r.last_on_behalf_of,
        last_at=from_micros(r.last_at_us),
        opened_at=_at(r.opened_at_us),
        submitted_at=from_micros(r.submitted_at_us),
        decided_at=from_micros(r.decided_at_us),
        waiting_step=r.waiting_step,
        deadline=r.deadline,
    )


def _at(value: int) -> datetime:
    return _EPOCH + value * _MICRO


def list_dossiers(
    store: ReadModelStore,
    *,
    year: int | None = None,
    unit_below: UUID | None = None,
    states: Iterable[DossierState] | None = None,
    overdue_on: date | None = None,
    offset: int = 0,
    limit: int = 50,
) -> DossierPage:
    """A page of dossiers (newest year first, then by unit code) and how many match in all.

    `unit_below` keeps the dossiers of that unit and of every unit under it now; `overdue_on` those past the deadline
    of the step they wait for on that day.
    """
    tables = store.live_tables(DossiersProjection.name)
    d = tables["dossiers"]
    # Below a unit, the scope rows under it carry every column filtered and sorted on: one index range.
    source = d if unit_below is None else tables["dossier_scope"]
    conditions: list[Any] = []
    if unit_below is not None:
        conditions.append(source.c.ancestor_id == unit_below)
    if year is not None:
        conditions.append(source.c.year == year)
    if states is not None:
        conditions.append(source.c.state.in_([s.value for s in states]))
    if overdue_on is not None:
        conditions.append(source.c.deadline < overdue_on)
    page = (
        select(source.c.dossier_id)
        .where(*conditions)
        .order_by(source.c.year.desc(), source.c.unit_code, source.c.dossier_id)
        .offset(offset)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(source).where(*conditions)).scalar_one()
        ids = [r.dossier_id for r in conn.execute(page)]
        found = {r.dossier_id: dossier_from(r) for r in conn.execute(select(d).where(d.c.dossier_id.in_(ids)))}
    return DossierPage(int(total), [found[i] for i in ids if i in found])


class ListedDossier(NamedTuple):
    """A dossier as a listing line shows it (a named tuple: a national period makes 300,000 of them)."""

    unit_code: str
    unit_name: str | None
    state: str
    final_level: str | None
    four_good: bool | None


def iter_dossiers(
    store: ReadModelStore,
    year: int,
    *,
    unit_below: UUID | None = None,
    states: Iterable[DossierState] | None = None,
    limit: int | None = None,
) -> Iterator[ListedDossier]:
    """A period's dossiers by unit code (those of `unit_below` and every unit under it now, in `states`), with their
    units' current names, read as they are consumed: keyset pages of the listing index, so that every row is read
    once, whatever the size of the period. At most `limit`."""
    tables = store.live_tables(DossiersProjection.name)
    d = tables["dossiers"]
    names = store.live_tables(UnitsProjection.name)["units"]
    source = d if unit_below is None else tables["dossier_scope"]
    conditions: list[Any] = [source.c.year == year]
    if unit_below is not None:
        conditions.append(source.c.ancestor_id == unit_below)
    if states is not None:
        conditions.append(source.c.state.in_([s.value for s in states]))
    code, did = source.c.unit_code, source.c.dossier_id
    base = select(code, did, d.c.state, d.c.final_level, d.c.four_good, names.c.name)
    if source is not d:
        base = base.join_from(source, d, d.c.dossier_id == source.c.dossier_id)
    base = base.join(names, names.c.unit_id == d.c.unit_id, isouter=True).where(*conditions).order_by(code, did)
    left = limit
    after: tuple[str, UUID] | None = None
    while left is None or left > 0:
        size = _ITER_PAGE if left is None else min(left, _ITER_PAGE)
        query = base if after is None else base.where(tuple_(code, did) > tuple_(after[0], after[1]))
        with store.engine.connect() as conn:
            page = conn.execute(query.limit(size)).all()
        for unit_code, _, state, level, four_good, name in page:
            yield ListedDossier(unit_code, name, state, level, four_good)
        if len(page) < size:
            return
        after = (page[-1][0], page[-1][1])
        if left is not None:
            left -= len(page)


_ITER_PAGE = 2000


def dossier_row(store: ReadModelStore, dossier_id: UUID) -> DossierRow | None:
    d = store.live_tables(DossiersProjection.name)["dossiers"]
    with store.engine.connect() as conn:
        found = conn.execute(select(d).where(d.c.dossier_id == dossier_id)).first()
    return dossier_from(found) if found is not None else None


def dossier_rows(store: ReadModelStore, dossier_ids: Iterable[UUID]) -> dict[UUID, DossierRow]:
    """The dossiers asked for that exist, by id, in one query per 500 (a page's units and their year)."""
    d = store.live_tables(DossiersProjection.name)["dossiers"]
    wanted = list(set(dossier_ids))
    found: dict[UUID, DossierRow] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            query = select(d).where(d.c.dossier_id.in_(wanted[start : start + 500]))
            found.update({r.dossier_id: dossier_from(r) for r in conn.execute(query)})
    return found


def state_history(store: ReadModelStore, dossier_id: UUID) -> list[StateChange]:
    s = store.live_tables(DossiersProjection.name)["dossier_states"]
    query = select(s).where(s.c.dossier_id == dossier_id).order_by(s.c.position)
    with store.engine.connect() as conn:
        return [
            StateChange(
                r.position, _at(r.at_us), r.trigger, DossierState(r.from_state) if r.from_state else None,
                DossierState(r.to_state), r.actor_id, r.role, r.actor_unit_id, r.on_behalf_of, r.reason,
            )
            for r in conn.execute(query)
        ]


def dossier_state_on(store: ReadModelStore, dossier_id: UUID, moment: datetime | date) -> DossierState | None:
    """The dossier's state at a moment (a date: the end of that day in Vietnam); None before it was opened."""
    s = store.live_tables(DossiersProjection.name)["dossier_states"]
    query = (
        select(s.c.to_state)
        .where(s.c.dossier_id == dossier_id, s.c.at_us <= micros(moment_of(moment)))
        .order_by(s.c.at_us.desc(), s.c.position.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        found = conn.execute(query).scalar()
    return None if found is None else DossierState(found)


def classifications(store: ReadModelStore, year: int, unit_below: UUID | None = None) -> list[ClassificationRow]:
    """The classification in force for each unit decided in `year` (optionally at or under a unit), by unit code."""
    c = store.live_tables(DossiersProjection.name)["classifications"]
    conditions: list[Any] = [c.c.year == year]
    if unit_below is not None:
        scope = store.live_tables(DossiersProjection.name)["dossier_scope"]
        conditions.append(
            select(scope.c.depth)
            .where(scope.c.dossier_id == c.c.dossier_id, scope.c.ancestor_id == unit_below)
            .exists()
        )
    query = select(c).where(*conditions).order_by(c.c.unit_code)
    with store.engine.connect() as conn:
        return [
            ClassificationRow(
                r.unit_id, r.unit_code, r.year, r.dossier_id, Classification(r.level), r.four_good,
                bool(r.recognition_suspended), bool(r.reopened), r.rule_set_id, r.rule_set_version,
                _at(r.decided_at_us), r.decided_by, r.reason, r.act_number, r.act_date,
            )
            for r in conn.execute(query)
        ]


def classification_history(store: ReadModelStore, unit_id: UUID, year: int) -> list[ClassificationChange]:
    """Every decision on the unit's classification for `year`, and every re-opening and suspension of recognition
    between them, oldest first: the last decision is the one in force unless a re-opening follows it."""
    h = store.live_tables(DossiersProjection.name)["classification_history"]
    query = select(h).where(h.c.unit_id == unit_id, h.c.year == year).order_by(h.c.position)
    with store.engine.connect() as conn:
        return [
            ClassificationChange(
                r.position, r.event, _opt_level(r.level), r.four_good, r.rule_set_id, r.rule_set_version,
                _at(r.at_us), r.actor_id, r.reason,
            )
            for r in conn.execute(query)
        ]


def periods(store: ReadModelStore) -> dict[int, dict[str, Any]]:
    """Every evaluation period: its rule set, deadlines, and when it was closed (None while open)."""
    p = store.live_tables(DossiersProjection.name)["dossier_periods"]
    with store.engine.connect() as conn:
        return {
            r.year: {
                "rule_set_id": r.rule_set_id,
                "rule_set_version": r.rule_set_version,
                "deadlines": {"self_assessment": r.self_assessment, "review": r.review, "decision": r.decision},
                "closed_at": from_micros(r.closed_at_us),
            }
            for r in conn.execute(select(p))
        }


@dataclass(frozen=True)
class PeriodSummary:
    """A period's dossiers counted: by state, by decided level, and the four-good recognitions standing."""

    year: int
    dossiers: int
    by_state: dict[str, int]
    decided: dict[str, int]
    four_good: int


def period_summary(store: ReadModelStore, year: int) -> PeriodSummary:
    d = store.live_tables(DossiersProjection.name)["dossiers"]
    decided_states = [DossierState.APPROVED.value, DossierState.NOT_RATED.value]
    with store.engine.connect() as conn:
        by_state = {
            r.state: int(r.n)
            for r in conn.execute(
                select(d.c.state, func.count().label("n")).where(d.c.year == year).group_by(d.c.state)
            )
        }
        decided = {
            r.final_level: int(r.n)
            for r in conn.execute(
                select(d.c.final_level, func.count().label("n"))
                .where(d.c.year == year, d.c.state.in_(decided_states), d.c.final_level.is_not(None))
                .group_by(d.c.final_level)
            )
        }
        four_good = conn.execute(
            select(func.count()).select_from(d).where(d.c.year == year, d.c.four_good.is_(True))
        ).scalar_one()
    return PeriodSummary(year, sum(by_state.values()), by_state, decided, int(four_good))


@dataclass(frozen=True)
class DecidedRow:
    """A classification in force, with what an export prints beside it: the dossier's total points, if counted."""

    classification: ClassificationRow
    points: str | None


def decided_page(
    store: ReadModelStore,
    year: int,
    *,
    unit_below: UUID | None = None,
    unit_ids: Iterable[UUID] | None = None,
    after: tuple[str, UUID] | None = None,
    limit: int = 1000,
) -> list[DecidedRow]:
    """A page of the classifications in force for `year`, by unit code, after the (unit code, dossier id) `after`.

    Keyset pages rather than offsets, so that an export of a whole province reads each row once, whatever its size.
    `unit_below` keeps the unit and everything under it now: read along the scope rows under it, which are kept in
    unit-code order by their index (an EXISTS probe per classification instead took 0.7 s a page of 1,000 out of
    5,000 on SQLite). `unit_ids` keeps those units only.
    """
    tables = store.live_tables(DossiersProjection.name)
    c, d = tables["classifications"], tables["dossiers"]
    if unit_below is not None:
        scope = tables["dossier_scope"]
        code, did = scope.c.unit_code, scope.c.dossier_id
        source = scope.join(d, d.c.dossier_id == scope.c.dossier_id).join(
            c, (c.c.unit_id == d.c.unit_id) & (c.c.year == scope.c.year)
        )
        conditions: list[Any] = [scope.c.ancestor_id == unit_below, scope.c.year == year]
    else:
        code, did = c.c.unit_code, c.c.dossier_id
        source = c.join(d, d.c.dossier_id == c.c.dossier_id, isouter=True)
        conditions = [c.c.year == year]
    if unit_ids is not None:
        conditions.append(c.c.unit_id.in_(list(unit_ids)))
    if after is not None:
        conditions.append(tuple_(code, did) > tuple_(after[0], after[1]))
    query = select(c, d.c.points).select_from(source).where(*conditions).order_by(code, did).limit(limit)
    with store.engine.connect() as conn:
        return [
            DecidedRow(
                ClassificationRow(
                    r.unit_id, r.unit_code, r.year, r.dossier_id, Classification(r.level), r.four_good,
                    bool(r.recognition_suspended), bool(r.reopened), r.rule_set_id, r.rule_set_version,
                    _at(r.decided_at_us), r.decided_by, r.reason, r.act_number, r.act_date,
                ),
                r.points,
            )
            for r in conn.execute(query)
        ]


@dataclass(frozen=True)
class ActSummary:
    """One decision act of a deciding body in a period: its number, its date, how many units it decided."""

    number: str
    day: date
    units: int


@dataclass(frozen=True)
class ActLine:
    """One unit as an act decided it (read from the history: a later act deciding it again leaves this one whole)."""

    unit_id: UUID
    dossier_id: UUID
    level: Classification
    four_good: bool | None
    at: datetime
    act_date: date


def _act_rows(store: ReadModelStore, year: int, unit_ids: Iterable[UUID], number: str | None) -> list[Any]:
    h = store.live_tables(DossiersProjection.name)["classification_history"]
    wanted = list(unit_ids)
    found: list[Any] = []
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            conditions: list[Any] = [
                h.c.unit_id.in_(wanted[start : start + 500]), h.c.year == year, h.c.act_number.is_not(None),
            ]
            if number is not None:
                conditions.append(h.c.act_number == number)
            found += conn.execute(select(h).where(*conditions)).all()
    return found


def decision_acts(store: ReadModelStore, year: int, unit_ids: Iterable[UUID]) -> list[ActSummary]:
    """The acts that decided any of these units (the units directly below one deciding body) in `year`, the
    latest first."""
    acts: dict[str, tuple[date, set[UUID]]] = {}
    for r in _act_rows(store, year, unit_ids, None):
        acts.setdefault(r.act_number, (r.act_date, set()))[1].add(r.unit_id)
    return sorted(
        (ActSummary(number, day, len(units)) for number, (day, units) in acts.items()),
        key=lambda a: (a.day, a.number), reverse=True,
    )


def act_lines(store: ReadModelStore, year: int, unit_ids: Iterable[UUID], number: str) -> list[ActLine]:
    """The units one act decided among these, with the level it gave each."""
    return [
        ActLine(r.unit_id, r.dossier_id, Classification(r.level), r.four_good, _at(r.at_us), r.act_date)
        for r in _act_rows(store, year, unit_ids, number)
    ]
