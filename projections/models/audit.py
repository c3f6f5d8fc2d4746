"""The audit trail read model: every event as a row, searchable, and exportable as CSV.

Each row says when, who (the person, the role and the unit it is held over, on whose behalf, the grant and the
delegation the action rested on), what (the event and a human label), on what (the aggregate; for a dossier its unit
and year, for a unit the unit, for a person the person), why (the reason or legal basis, when the event has one),
what changed (field-level before/after for answers, the changes between rounds, states, levels) and the event's
link in the hash chain, so that a row can be checked against the log.

Small tables beside the rows give each event its context without reading the log again: the persons' names (joined
at query time: a name never changes, and a row must not depend on which page a name arrived in), each dossier's,
decision book's and period's unit and year, the current answers and facts of each dossier (the "before" of the next
change), grants and delegations (the unit a revocation concerns), and the hierarchy as a closure table, for "this
unit and everything below it" (the current hierarchy: a moved unit's history follows it).

Events are handled a page at a time (`Page.gather`): the context rows a page needs are loaded in a few queries, and
the audit rows are appended in bulk.
"""

from __future__ import annotations

import csv
import json
import json.encoder
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from operator import attrgetter, methodcaller
from typing import Any, NamedTuple, TextIO
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from domain import claims as _claims
from domain import decisions as _decisions
from domain import dossier as _dossier
from domain import period as _period
from domain import person as _person
from domain import unit as _unit
from domain.values import Answer
from projections.core import LoggedEvent, Page, Projection, Row, uuid_text
from projections.store import ReadModelStore

ID = 36
# The columns a search filters on besides the person and the dossier (each of those picks a few rows by itself).
_COVERED = ("unit_id", "action", "year", "recorded_at")

# The event classes are made by eventsourcing's @event at import time, out of mypy's sight.
Dossier: Any = _dossier.Dossier
Unit: Any = _unit.Unit
Person: Any = _person.Person
Period: Any = _period.EvaluationPeriod
DecisionBook: Any = _decisions.DecisionBook
NameClaim: Any = _claims.NameClaim

LABELS = {
    "Unit.Registered": "registered a unit",
    "Unit.Renamed": "renamed a unit",
    "Unit.Moved": "moved a unit under another parent",
    "Unit.Dissolved": "dissolved a unit",
    "Unit.ChildAttached": "placed a unit under this one",
    "Unit.ChildDetached": "took a unit from under this one",
    "Person.Registered": "registered a person",
    "Person.RoleGranted": "granted a role",
    "Person.RoleRevoked": "revoked a role",
    "Person.Delegated": "delegated a role",
    "Person.DelegationEnded": "ended a delegation",
    "Person.OneTimePasswordGiven": "gave a one-time password (the password itself is never recorded)",
    "Person.PasswordChanged": "chose their own password (the password itself is never recorded)",
    "EvaluationPeriod.Opened": "opened an evaluation period",
    "EvaluationPeriod.DeadlinesChanged": "changed the step deadlines of an evaluation period",
    "EvaluationPeriod.Closed": "closed an evaluation period",
    "Dossier.Opened": "opened a dossier",
    "Dossier.AnswersRecorded": "recorded answers",
    "Dossier.EvidenceAttached": "attached evidence",
    "Dossier.EvidenceRemoved": "removed evidence",
    "Dossier.Submitted": "submitted the self-assessment",
    "Dossier.Resubmitted": "resubmitted the self-assessment",
    "Dossier.Withdrawn": "withdrew the draft",
    "Dossier.Restored": "restored the draft",
    "Dossier.Endorsed": "endorsed with a proposed level",
    "Dossier.ReturnedToUnit": "returned the dossier to its unit",
    "Dossier.Approved": "decided the classification",
    "Dossier.ReturnedToCommittee": "returned the dossier to the committee",
    "Dossier.MarkedNotRated": "marked the dossier not rated",
    "Dossier.Reopened": "re-opened the decision for re-classification",
    "Dossier.RecognitionSuspended": "suspended the four-good recognition",
    "DecisionBook.Started": "started a decision book",
    "DecisionBook.ProposalRecorded": "recorded a proposal in the decision book",
    "DecisionBook.ProposalWithdrawn": "withdrew a proposal from the decision book",
    "DecisionBook.DecisionsRecorded": "recorded decisions against the quota",
    "DecisionBook.DecisionSuspended": "suspended a decision in the decision book",
    "DecisionBook.SuperiorDecided": "noted the superior's decision",
    "DecisionBook.SuperiorReopened": "noted the superior's re-opening",
    "NameClaim.Claimed": "reserved the code or username in every letter case",
}

# The columns of a row, in the order of the CSV export.
COLUMNS = (
    "position", "recorded_at", "person_id", "person_name", "role", "role_unit_id", "on_behalf_of",
    "on_behalf_of_name", "grant_id", "delegation_id", "action", "label", "aggregate_kind", "aggregate_id",
    "aggregate_version", "dossier_id", "unit_id", "year", "subject_person_id", "reason", "from_state", "to_state",
    "level", "previous_level", "changes", "chain_hash",
)


@dataclass(frozen=True)
class AuditRow:
    position: int
    recorded_at: datetime
    person_id: UUID | None
    person_name: str | None
    role: str | None
    role_unit_id: UUID | None
    on_behalf_of: UUID | None
    on_behalf_of_name: str | None
    grant_id: UUID | None
    delegation_id: UUID | None
    action: str
    label: str
    aggregate_kind: str
    aggregate_id: UUID
    aggregate_version: int
    dossier_id: UUID | None
    unit_id: UUID | None
    year: int | None
    subject_person_id: UUID | None
    reason: str | None
    from_state: str | None
    to_state: str | None
    level: str | None
    previous_level: str | None
    changes: Mapping[str, Any] | None
    chain_hash: str | None


@dataclass(frozen=True)
class AuditTrail:
    rows: tuple[AuditRow, ...]
    total: int
    # False when the count stopped at the `count_limit` asked for: `total` is then that limit, and more match.
    total_exact: bool = True
    # Whether rows match after the last row of the page, and before its first (the pager's next and previous).
    more: bool = False
    earlier: bool = False


class AuditProjection(Projection):
    name = "audit"
    # Seconds on the bench's 899,308-event SQLite log (see Projection.rebuild_cost): its pages and indexes in a
    # one-process rebuild (bench/issue6_figures.py --no-helper), and decoding the events it reads (the log's
    # read_wanted, scaled to the decoding inside a rebuild, which pauses the garbage collector).
    rebuild_cost = 102.0
    rebuild_reads = 64.0
    handles = ()  # every event

    def tables(self, metadata: MetaData, suffix: str) -> dict[str, Table]:
        def id_column(name: str, **kw: Any) -> Column[Any]:
            return Column(name, String(ID), **kw)

        events = Table(
            "audit_events" + suffix,
            metadata,
            Column("position", BigInteger, primary_key=True, autoincrement=False),
            Column("recorded_at", DateTime(timezone=True), nullable=False),
            id_column("person_id", nullable=True),
            Column("role", String(20), nullable=True),
            id_column("role_unit_id", nullable=True),
            id_column("on_behalf_of", nullable=True),
            id_column("grant_id", nullable=True),
            id_column("delegation_id", nullable=True),
            Column("action", String(80), nullable=False),
            Column("label", String(200), nullable=False),
            Column("aggregate_kind", String(40), nullable=False),
            id_column("aggregate_id", nullable=False),
            Column("aggregate_version", Integer, nullable=False),
            id_column("dossier_id", nullable=True),
            id_column("unit_id", nullable=True),
            Column("year", Integer, nullable=True),
            id_column("subject_person_id", nullable=True),
            Column("reason", Text, nullable=True),
            Column("from_state", String(40), nullable=True),
            Column("to_state", String(40), nullable=True),
            Column("level", String(20), nullable=True),
            Column("previous_level", String(20), nullable=True),
            Column("changes", Text, nullable=True),
            Column("chain_hash", String(128), nullable=True),
            # Each filter of audit_trail walks its own index in position order.
            Index(f"ix_audit_person{suffix}", "person_id", "position"),
            Index(f"ix_audit_behalf{suffix}", "on_behalf_of", "position"),
            Index(f"ix_audit_unit{suffix}", "unit_id", "position"),
            Index(f"ix_audit_dossier{suffix}", "dossier_id", "position"),
            # The search of a broad scope (a province, a common action) walks this in position order, its filters
            # read from the index alone: a page, a deep page after a position and a capped count never read rows.
            Index(f"ix_audit_scan{suffix}", "position", *_COVERED),
            # Each filter that may lead a search, with every other filter's column: the rows a search picks are
            # found and counted from one index alone; only the page's fifty rows are read (a row read is a random
            # read of a file of gigabytes, and a thousand of them cost more than the rest of the request).
            Index(f"ix_audit_unit_filters{suffix}", *_COVERED, "position"),
            Index(f"ix_audit_action_cover{suffix}", "action", "position", *_COVERED),
            Index(f"ix_audit_year_cover{suffix}", "year", "position", *_COVERED),
            Index(f"ix_audit_time_cover{suffix}", "recorded_at", "position", *_COVERED),
        )
        persons = Table(
            "audit_persons" + suffix,
            metadata,
            id_column("person_id", primary_key=True),
            Column("username", String(200), nullable=False),
            Column("full_name", Text, nullable=False),
        )
        contexts = Table(
            # A dossier's, a decision book's or a period's unit and year, for that aggregate's later events.
            "audit_contexts" + suffix,
            metadata,
            id_column("aggregate_id", primary_key=True),
            id_column("unit_id", nullable=True),
            Column("year", Integer, nullable=True),
        )
        answers = Table(
            "audit_answers" + suffix,
            metadata,
            id_column("dossier_id", primary_key=True),
            Column("answers", Text, nullable=False),
            Column("facts", Text, nullable=False),
        )
        units = Table(
            "audit_units" + suffix,
            metadata,
            id_column("unit_id", primary_key=True),
            Column("name", Text, nullable=False),
            # The strict ancestors, top first, joined by "/".
            Column("ancestors", Text, nullable=False),
        )
        closure = Table(
            "audit_closure" + suffix,
            metadata,
            id_column("ancestor_id", primary_key=True),
            id_column("unit_id", primary_key=True),
            Index(f"ix_audit_closure_unit{suffix}", "unit_id"),
        )
        grants = Table(
            # A grant's or a delegation's unit, for the revocation or the end that names only its id.
            "audit_grants" + suffix,
            metadata,
            id_column("grant_id", primary_key=True),
            id_column("unit_id", nullable=False),
        )
        return {
            "events": events,
            "persons": persons,
            "contexts": contexts,
            "answers": answers,
            "units": units,
            "closure": closure,
            "grants": grants,
        }

    def apply(self, page: Page, logged: LoggedEvent) -> None:
        page.gather(self.name, logged, lambda items: self._apply_all(page, items))

    # --- a page at a time --------------------------------------------------------------------------------------

    def _apply_all(self, page: Page, items: list[LoggedEvent]) -> None:
        self._preload(page, items)
        page.append_values("events", EVENT_COLUMNS, [self._row(page, logged) for logged in items])

    def _preload(self, page: Page, items: list[LoggedEvent]) -> None:
        with_context = Dossier.Event | DecisionBook.Event | Period.Event
        page.rows("contexts").load((uuid_text(i.originator_id),) for i in items if isinstance(i.event, with_context))
        page.rows("answers").load(
            (uuid_text(i.originator_id),) for i in items if isinstance(i.event, Dossier.AnswersRecorded)
        )
        unit_ids: set[str] = set()
        grant_ids: set[str] = set()
        for logged in items:
            event = logged.event
            if isinstance(event, Unit.Event):
                unit_ids.add(uuid_text(logged.originator_id))
                parent = getattr(event, "parent_id", None)  # registered under it, or moved under it
                if parent is not None:
                    unit_ids.add(uuid_text(parent))
            elif isinstance(event, Person.RoleRevoked):
                grant_ids.add(uuid_text(event.grant_id))
            elif isinstance(event, Person.Delegated):
                grant_ids.add(uuid_text(event.delegation.grant_id))
            elif isinstance(event, Person.DelegationEnded):
                grant_ids.add(uuid_text(event.delegation_id))
        page.rows("units").load((u,) for u in unit_ids)
        page.rows("grants").load((g,) for g in grant_ids)

    def _row(self, page: Page, logged: LoggedEvent) -> tuple[Any, ...]:
        """The event's row of `audit_events`, its values in the order of EVENT_COLUMNS (a row a dict would be
        built, then taken apart again by column, for every event of the log)."""
        event = logged.event
        facts = _FACTS.get(type(event))
        if facts is None:
            facts = _FACTS[type(event)] = _facts(type(event))
        # As getattr(event, name, None): where the class holds none of the names read, the instance's own
        # attributes are all there is to find.
        get = event.__dict__.get if facts.plain else partial(_attribute, event)
        actor = get("actor")
        if actor:
            person, role, role_unit = _text(actor.person_id), actor.role.value, _text(actor.unit_id)
            behalf, grant, delegation = _text(actor.on_behalf_of), _text(actor.grant_id), _text(actor.delegation_id)
        else:
            person = role = role_unit = behalf = grant = delegation = None
        reason = get("reason") or get("legal_basis")
        if reason:
            reason = str(reason)
        elif facts.basis is not None:
            reason = str(facts.basis(event)) or None
        else:
            reason = None
        from_state, to_state, level, previous = get("from_state"), get("to_state"), get("level"), get("previous_level")
        # The columns an aggregate's handler fills in (and the levels it may correct).
        row: Row = {
            "dossier_id": None,
            "unit_id": None,
            "year": None,
            "subject_person_id": None,
            "level": None if level is None else _value(level),
            "previous_level": None if previous is None else _value(previous),
        }
        changes = facts.handle(self, page, logged, row) if facts.handle is not None else None
        return (
            logged.position,
            _utc(event.timestamp),
            person,
            role,
            role_unit,
            behalf,
            grant,
            delegation,
            facts.action,
            facts.label,
            facts.kind,
            uuid_text(logged.originator_id),
            logged.originator_version,
            row["dossier_id"],
            row["unit_id"],
            row["year"],
            row["subject_person_id"],
            reason,
            None if from_state is None else _value(from_state),
            None if to_state is None else _value(to_state),
            row["level"],
            row["previous_level"],
            _ENCODE(_plain(changes)) if changes else None,
            logged.chain_hash,
        )

    # --- per kind of aggregate ---------------------------------------------------------------------------------

    def _dossier(self, page: Page, logged: LoggedEvent, row: Row) -> Any:
        event = logged.event
        dossier_id = uuid_text(logged.originator_id)
        contexts = page.rows("contexts")
        row["dossier_id"] = dossier_id
        if isinstance(event, Dossier.Opened):
            contexts.put({"aggregate_id": dossier_id, "unit_id": uuid_text(event.unit_id), "year": event.year})
            page.rows("answers").put({"dossier_id": dossier_id, "answers": "{}", "facts": "{}"})
        context = contexts.get(dossier_id)
        if context is not None:
            row["unit_id"], row["year"] = context["unit_id"], context["year"]
        if isinstance(event, Dossier.Opened):
            return {
                "rule_set_id": event.rule_set_id,
                "recognition_model_id": event.recognition_model_id,
                "workflow_version": event.workflow_version,
            }
        if isinstance(event, Dossier.AnswersRecorded):
            return self._answers(page, dossier_id, event)
        if isinstance(event, Dossier.Resubmitted):
            return {"round": event.round, **event.changes}
        if isinstance(event, Dossier.Reopened):
            row["previous_level"] = _value(event.decided_level)
            return {"round": event.round}
        if isinstance(event, Dossier.MarkedNotRated):
            row["level"] = "not_rated"
            return {"ground": event.ground, "unit_age_months": event.unit_age_months}
        if isinstance(event, Dossier.Approved):
            return {"four_good": event.four_good, "quota": event.quota, "round": event.round}
        if isinstance(event, Dossier.Endorsed):
            return {"round": event.round, "note": event.note}
        if isinstance(event, Dossier.EvidenceAttached):
            return {"evidence": event.evidence}
        if isinstance(event, Dossier.EvidenceRemoved):
            return {"sha256": event.sha256}
        if isinstance(event, Dossier.RecognitionSuspended):
            return {"unit_id": event.unit_id, "unit_name": event.unit_name, "criterion": event.criterion}
        if isinstance(event, Dossier.Submitted | Dossier.ReturnedToUnit | Dossier.ReturnedToCommittee):
            return {"round": event.round}
        return None

    def _answers(self, page: Page, dossier_id: str, event: Any) -> dict[str, Any]:
        """Field by field, what the answers and facts were before this event and what they are after it."""
        stored = page.rows("answers")
        current = stored.get(dossier_id) or {"dossier_id": dossier_id, "answers": "{}", "facts": "{}"}
        changes: dict[str, Any] = {}
        updated: Row = {"dossier_id": dossier_id}
        for field_name in ("answers", "facts"):
            values = json.loads(current[field_name])
            changed = {}
            for key, value in sorted(getattr(event, field_name).items()):
                after = _plain(value)
                changed[key] = {"before": values.get(key), "after": after}
                values[key] = after
            changes[field_name] = changed
            updated[field_name] = _ENCODE(values)
        stored.put(updated)
        return _Plain(changes)

    def _unit(self, page: Page, logged: LoggedEvent, row: Row) -> Any:
        event = logged.event
        unit_id = uuid_text(logged.originator_id)
        units = page.rows("units")
        row["unit_id"] = unit_id
        if isinstance(event, Unit.Registered):
            parent = uuid_text(event.parent_id) if event.parent_id is not None else None
            above = self._lineage(page, parent)
            units.put({"unit_id": unit_id, "name": event.name, "ancestors": "/".join(above)})
            for ancestor in [*above, unit_id]:
                page.append("closure", {"ancestor_id": ancestor, "unit_id": unit_id})
            return {
                "code": event.code, "name": event.name, "kind": event.kind, "parent_id": event.parent_id,
                "group": event.group, "established_on": event.established_on,
            }
        if isinstance(event, Unit.Renamed):
            before = units.get(unit_id)
            if before is not None:
                units.update(unit_id, name=event.name)
            return {
                "name": {"before": before["name"] if before else None, "after": event.name},
                "effective_from": event.effective_from,
            }
        if isinstance(event, Unit.Moved):
            self._move(page, unit_id, uuid_text(event.parent_id))
            return {
                "parent_id": {"before": event.from_parent, "after": event.parent_id},
                "effective_from": event.effective_from,
            }
        if isinstance(event, Unit.Dissolved):
            return {"effective_from": event.effective_from}
        if isinstance(event, Unit.ChildAttached | Unit.ChildDetached):
            return {"child_id": event.child_id, "effective_from": event.effective_from}
        return None

    def _lineage(self, page: Page, unit_id: str | None) -> list[str]:
        if unit_id is None:
            return []
        found = page.rows("units").get(unit_id)
        above = found["ancestors"].split("/") if found is not None and found["ancestors"] else []
        return [*above, unit_id]

    def _move(self, page: Page, unit_id: str, parent_id: str) -> None:
        """The moved unit and everything below it leave the old ancestors and join the new ones. Rare: it queries."""
        units = page.rows("units")
        moved = units.get(unit_id)
        if moved is None:
            raise LookupError(f"unit {unit_id} moved before it was registered")
        old_above = moved["ancestors"].split("/") if moved["ancestors"] else []
        new_above = self._lineage(page, parent_id)
        page.flush()
        closure = page.tables["closure"]
        subtree = list(
            page.conn.execute(select(closure.c.unit_id).where(closure.c.ancestor_id == unit_id)).scalars()
        )
        units.load((u,) for u in subtree)
        for chunk in _chunks(subtree):
            if old_above:
                page.conn.execute(
                    delete(closure).where(closure.c.unit_id.in_(chunk), closure.c.ancestor_id.in_(old_above))
                )
        for below in subtree:
            for ancestor in new_above:
                page.append("closure", {"ancestor_id": ancestor, "unit_id": below})
            found = units.get(below)
            if found is not None:
                rest = found["ancestors"].split("/")[len(old_above) :] if found["ancestors"] else []
                units.update(below, ancestors="/".join(new_above + rest))

    def _person(self, page: Page, logged: LoggedEvent, row: Row) -> Any:
        event = logged.event
        row["subject_person_id"] = uuid_text(logged.originator_id)
        grants = page.rows("grants")
        if isinstance(event, Person.Registered):
            page.rows("persons").put(
                {"person_id": uuid_text(logged.originator_id), "username": event.username, "full_name": event.full_name}
            )
            return {"username": event.username, "full_name": event.full_name}
        if isinstance(event, Person.RoleGranted):
            grant = event.grant
            grants.put({"grant_id": uuid_text(grant.grant_id), "unit_id": uuid_text(grant.unit_id)})
            row["unit_id"] = uuid_text(grant.unit_id)
            return {"grant": grant}
        if isinstance(event, Person.RoleRevoked):
            found = grants.get(uuid_text(event.grant_id))
            row["unit_id"] = found["unit_id"] if found else None
            return {"grant_id": event.grant_id, "on": event.on}
        if isinstance(event, Person.Delegated):
            delegation = event.delegation
            found = grants.get(uuid_text(delegation.grant_id))
            row["unit_id"] = found["unit_id"] if found else None
            if found is not None:
                grants.put({"grant_id": uuid_text(delegation.delegation_id), "unit_id": found["unit_id"]})
            return {"delegation": delegation}
        if isinstance(event, Person.DelegationEnded):
            found = grants.get(uuid_text(event.delegation_id))
            row["unit_id"] = found["unit_id"] if found else None
            return {"delegation_id": event.delegation_id, "on": event.on}
        return None

    def _book(self, page: Page, logged: LoggedEvent, row: Row) -> Any:
        event = logged.event
        book_id = uuid_text(logged.originator_id)
        contexts = page.rows("contexts")
        if isinstance(event, DecisionBook.Started):
            contexts.put({"aggregate_id": book_id, "unit_id": uuid_text(event.superior_id), "year": event.year})
        context = contexts.get(book_id)
        if context is not None:
            row["unit_id"], row["year"] = context["unit_id"], context["year"]
        if isinstance(event, DecisionBook.ProposalRecorded):
            return {"entry": event.entry}
        if isinstance(event, DecisionBook.DecisionsRecorded):
            return {"entries": event.entries, "figures": event.figures}
        if isinstance(event, DecisionBook.ProposalWithdrawn):
            return {"unit_id": event.unit_id}
        if isinstance(event, DecisionBook.DecisionSuspended):
            return {"unit_id": event.unit_id, "proposal": event.proposal}
        if isinstance(event, DecisionBook.SuperiorDecided):
            return {"four_good": event.four_good}
        return None

    def _claim(self, page: Page, logged: LoggedEvent, row: Row) -> Any:
        # Saved with the registration it guards: the row stands beside that unit's or person's own.
        event = logged.event
        holder = uuid_text(event.holder_id)
        if event.kind == "code":
            row["unit_id"] = holder
        else:
            row["subject_person_id"] = holder
        return {"kind": event.kind, "name": event.name}

    def _period(self, page: Page, logged: LoggedEvent, row: Row) -> Any:
        event = logged.event
        period_id = uuid_text(logged.originator_id)
        contexts = page.rows("contexts")
        if isinstance(event, Period.Opened):
            contexts.put({"aggregate_id": period_id, "unit_id": None, "year": event.year})
        context = contexts.get(period_id)
        row["year"] = context["year"] if context else None
        if isinstance(event, Period.Opened):
            return {
                "rule_set_id": event.rule_set_id, "rule_set_version": event.rule_set_version,
                "rule_set_sha256": event.rule_set_sha256, "recognition_models": event.recognition_models,
                "deadlines": event.deadlines,
            }
        if isinstance(event, Period.DeadlinesChanged):
            return {
                "deadlines": {
                    step: {"before": event.previous.get(step), "after": day} for step, day in event.deadlines.items()
                }
            }
        return None


# The columns of `audit_events` in the order `_row` gives their values.
EVENT_COLUMNS = (
    "position", "recorded_at", "person_id", "role", "role_unit_id", "on_behalf_of", "grant_id", "delegation_id",
    "action", "label", "aggregate_kind", "aggregate_id", "aggregate_version", "dossier_id", "unit_id", "year",
    "subject_person_id", "reason", "from_state", "to_state", "level", "previous_level", "changes", "chain_hash",
)
# The attributes of an event a row reads.
_READ = ("actor", "reason", "legal_basis", "from_state", "to_state", "level", "previous_level")

_Handler = Callable[[AuditProjection, Page, LoggedEvent, Row], Any]


class _Facts(NamedTuple):
    """What a row takes from an event's class alone: found once per class."""

    action: str
    kind: str
    label: str
    handle: _Handler | None
    # Whether the class defines none of the attributes of _READ (no default, no property) and its instances keep
    # their attributes in a dictionary: getattr(event, name, None) is then the dictionary's get.
    plain: bool
    # Where the reason of an event without one lies (a grant's basis, a delegation's legal basis).
    basis: Callable[[Any], Any] | None


_FACTS: dict[type, _Facts] = {}


def _attribute(event: Any, name: str) -> Any:
    return getattr(event, name, None)


def _facts(event_class: type) -> _Facts:
    action = event_class.__qualname__
    handle: _Handler | None = None
    for base, handler in (
        (Dossier.Event, AuditProjection._dossier),
        (Unit.Event, AuditProjection._unit),
        (Person.Event, AuditProjection._person),
        (DecisionBook.Event, AuditProjection._book),
        (Period.Event, AuditProjection._period),
        (NameClaim.Event, AuditProjection._claim),
    ):
        if issubclass(event_class, base):
            handle = handler
            break
    plain = not any(hasattr(event_class, name) for name in _READ) and not any(
        "__slots__" in vars(k) for k in event_class.__mro__ if k is not object
    )
    basis: Callable[[Any], Any] | None = None
    if issubclass(event_class, Person.RoleGranted):
        basis = attrgetter("grant.basis")
    elif issubclass(event_class, Person.Delegated):
        basis = attrgetter("delegation.legal_basis")
    return _Facts(action, action.split(".", 1)[0], LABELS.get(action, action), handle, plain, basis)


# --- values ----------------------------------------------------------------------------------------------------


def _value(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.value) if isinstance(value, Enum) else str(value)


def _text(value: UUID | None) -> str | None:
    return None if value is None else uuid_text(value)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _Plain(dict[str, Any]):
    """Changes already made plain (the answers, converted one by one as they are compared): not converted again."""


_SCALARS = frozenset({type(None), bool, int, float, str})


def _answer(answer: Answer) -> dict[str, Any]:
    # The commonest value of all (twenty or so per recording): spelled out rather than found by reflection.
    return {
        "grade": None if answer.grade is None else answer.grade.value,
        "points": None if answer.points is None else str(answer.points),
        "met": answer.met,
        "sub_items": dict(answer.sub_items),
        "comment": answer.comment,
    }


def _plain(value: Any) -> Any:
    """A value as JSON holds it: enums by value, decimals and dates as text, dataclasses as objects."""
    convert = _CONVERTERS.get(type(value))
    if convert is None:
        convert = _CONVERTERS[type(value)] = _converter(type(value))
    return convert(value)


def _same(value: Any) -> Any:
    return value


def _converter(kind: type) -> Callable[[Any], Any]:
    """How `_plain` converts a value of this class: every test below depends on the class alone, so it is made
    once per class (a rebuild converts millions of values, and a chain of isinstance tests each time cost more
    than the conversions)."""
    if kind in _SCALARS or kind is _Plain:
        return _same
    if kind is Answer:
        return _answer
    if issubclass(kind, Enum):
        return attrgetter("value")
    if issubclass(kind, UUID):
        return uuid_text
    if issubclass(kind, Decimal):
        return str
    if issubclass(kind, datetime | date):
        return methodcaller("isoformat")
    # A scalar inside a value is kept as it is without a call of `_plain` (most of what a change holds).
    scalars = _SCALARS
    if is_dataclass(kind) and not issubclass(kind, type):
        names = tuple(f.name for f in fields(kind))
        if not names:
            return lambda value: {}
        picked = attrgetter(*names) if len(names) > 1 else lambda value: (getattr(value, names[0]),)
        return lambda value: {
            name: item if type(item) in scalars else _plain(item)
            for name, item in zip(names, picked(value), strict=True)
        }
    if issubclass(kind, Mapping):
        return lambda value: {str(k): v if type(v) in scalars else _plain(v) for k, v in value.items()}
    if issubclass(kind, set | frozenset):
        return lambda value: sorted((_plain(v) for v in value), key=json.dumps)
    if issubclass(kind, list | tuple):
        return lambda value: [v if type(v) in scalars else _plain(v) for v in value]
    return str


_CONVERTERS: dict[type, Callable[[Any], Any]] = {}
def _encoder() -> Callable[[Any], str]:
    """`json.dumps(value, ensure_ascii=False)`: the same C encoder, made once (`dumps` makes a JSONEncoder per call,
    and its `encode` a C encoder per call, a third of encoding a small change). No check for circular references:
    what it encodes is made plain by `_plain`, a tree."""
    standard = json.JSONEncoder(ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)  # the C accelerator; None without it
    if make is None:
        return standard.encode
    chunks = make(
        None, standard.default, json.encoder.encode_basestring, None, standard.key_separator,
        standard.item_separator, False, False, True,
    )
    return lambda value: "".join(chunks(value, 0))


_ENCODE = _encoder()


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- queries ---------------------------------------------------------------------------------------------------


# How many rows one filter's own index may hold for it to lead the search: below this, the rows it picks are
# counted exactly and sorted by position (a few milliseconds); above it, every such filter is broad, and the search
# walks the log in position order instead (ix_audit_scan), where a broad filter matches often.
LEAD_LIMIT = 20_000
# A subtree of more units than this is never listed to lead (listing it alone costs more than a broad walk); a
# national district's 5,000 units are listed.
SUBTREE_LEAD_LIMIT = 10_000


@dataclass(frozen=True)
class _Search:
    """A search as the database is asked it: every condition, and on SQLite the index it walks (the planner there
    knows nothing of how many units lie below a province, and would read millions of rows to sort them)."""

    where: list[Any]
    index: str | None
    # How many rows match, when a lead counted them with every condition (exact below LEAD_LIMIT, else at least):
    # the count need not be asked again.
    counted: int | None = None


def _search(
    conn: Connection,
    tables: Mapping[str, Table],
    *,
    person_id: UUID | None,
    unit_id: UUID | None,
    below_unit: bool,
    action: str | None,
    year: int | None,
    since: datetime | None,
    until: datetime | None,
    dossier_id: UUID | None,
    as_of: datetime | None,
) -> _Search:
    events, closure = tables["events"], tables["closure"]
    where: list[Any] = []
    if action is not None:
        # "Approved" or "Dossier.Approved".
        where.append(events.c.action == action if "." in action else events.c.action.endswith("." + action))
    if year is not None:
        where.append(events.c.year == year)
    times: list[Any] = []
    if since is not None:
        times.append(events.c.recorded_at >= _utc(since))
    if until is not None:
        times.append(events.c.recorded_at <= _utc(until))
    if as_of is not None:
        times.append(events.c.recorded_at <= _utc(as_of))
    where.extend(times)
    if dossier_id is not None:
        where.append(events.c.dossier_id == str(dossier_id))
    # The scope as a list of units leads a search when it is a small subtree; led by another index (or by none),
    # it is checked row by row against the closure's primary key, never read whole (a province's 250,000 units).
    listed: Any = None
    checked: Any = None
    if unit_id is not None:
        if not below_unit:
            listed = checked = events.c.unit_id == str(unit_id)
        else:
            below = select(closure.c.unit_id).where(closure.c.ancestor_id == str(unit_id))
            listed = events.c.unit_id.in_(below)
            checked = select(closure.c.unit_id).where(
                closure.c.ancestor_id == str(unit_id), closure.c.unit_id == events.c.unit_id
            ).exists()
    if person_id is not None:
        # Acts by the person, and acts done on their behalf by a deputy: a person's own indexes, a few rows.
        where.append(or_(events.c.person_id == str(person_id), events.c.on_behalf_of == str(person_id)))
    if person_id is not None or dossier_id is not None:
        if checked is not None:
            where.append(checked)
        return _Search(where, _index(events, "ix_audit_dossier") if person_id is None else None)
    # A filter whose own index picks few rows leads; each is counted up to LEAD_LIMIT only, from its index alone.
    # A subtree small enough to list (a district's 5,000 units) is listed once and checked in memory, and its rows,
    # read from the units' index and sorted, lead unless another filter picks fewer: a walk along the whole log
    # would pass sixty rows of other districts for each of its own.
    listable = listed is not None and (not below_unit or _subtree(conn, closure, unit_id) < SUBTREE_LEAD_LIMIT)
    scope = listed if listable else checked
    leads: list[tuple[int, str]] = []
    if action is not None and "." in action:
        leads.append((_picked(conn, events, "ix_audit_action_cover", where[:1]), "ix_audit_action_cover"))
    if year is not None:
        lead = "ix_audit_year_cover"
        leads.append((_picked(conn, events, lead, [events.c.year == year]), lead))
    if times:
        leads.append((_picked(conn, events, "ix_audit_time_cover", times), "ix_audit_time_cover"))
    fewest = min(leads, default=None, key=lambda lead: lead[0])
    conditions = [*where, scope] if scope is not None else where
    if listable:
        # The units' index holds every other filter's column: what it picks is what matches.
        counted = _picked(conn, events, "ix_audit_unit_filters", [listed, *where])
        if fewest is None or fewest[0] >= counted:
            # Their own positions (ix_audit_unit) when the unit is the only filter: a page after a position seeks.
            return _Search(conditions, _index(events, "ix_audit_unit_filters" if where else "ix_audit_unit"), counted)
        return _Search(conditions, _index(events, fewest[1]), counted)
    if fewest is not None and fewest[0] < LEAD_LIMIT:
        # Up to LEAD_LIMIT rows to check: the subtree listed once in memory, when it holds fewer units than twice
        # the rows (a city's), costs less than a lookup per row; a province's 250,000 units cost more.
        if listed is not None and _subtree(conn, closure, unit_id, 2 * fewest[0]) < 2 * fewest[0]:
            scope = listed
        return _Search([*where, scope] if scope is not None else where, _index(events, fewest[1]))
    # Every filter is broad, so rows match often along the log: walked in position order, from the index alone.
    return _Search(conditions, _index(events, "ix_audit_scan"))


def _subtree(conn: Connection, closure: Table, unit_id: UUID | None, most: int = SUBTREE_LEAD_LIMIT) -> int:
    """How many units the subtree holds, counted up to `most` (the closure's primary key alone)."""
    capped = select(closure.c.unit_id).where(closure.c.ancestor_id == str(unit_id)).limit(most)
    return int(conn.execute(select(func.count()).select_from(capped.subquery())).scalar_one())


def _index(events: Table, name: str) -> str:
    # The generation's own name of an index: ix_audit_unit__g3 (the suffix of audit_events__g3).
    return name + events.name[len("audit_events"):]


def _picked(conn: Connection, events: Table, prefix: str, conditions: list[Any]) -> int:
    """How many rows of one index these conditions pick, counted up to LEAD_LIMIT (from the index alone)."""
    query = _hinted(select(literal(1)).select_from(events).where(*conditions), events, _index(events, prefix))
    capped = query.limit(LEAD_LIMIT).subquery()
    return int(conn.execute(select(func.count()).select_from(capped)).scalar_one())


def _hinted(query: Select[Any], events: Table, index: str | None) -> Select[Any]:
    # PostgreSQL's planner has the statistics to choose; it ignores a hint meant for SQLite.
    return query if index is None else query.with_hint(events, f"INDEXED BY {index}", dialect_name="sqlite")


def _select_rows(tables: Mapping[str, Table], where: list[Any]) -> Select[Any]:
    events, persons = tables["events"], tables["persons"]
    actor, principal = persons.alias("actor"), persons.alias("principal")
    return (
        select(
            events,
            actor.c.full_name.label("person_name"),
            principal.c.full_name.label("on_behalf_of_name"),
        )
        .select_from(
            events.outerjoin(actor, actor.c.person_id == events.c.person_id).outerjoin(
                principal, principal.c.person_id == events.c.on_behalf_of
            )
        )
        .where(*where)
        .order_by(events.c.position)
    )


def _audit_row(r: Any) -> AuditRow:
    def uid(name: str) -> UUID | None:
        value = r[name]
        return None if value is None else UUID(value)

    changes = r["changes"]
    return AuditRow(
        position=int(r["position"]),
        recorded_at=_utc(r["recorded_at"]),
        person_id=uid("person_id"),
        person_name=r["person_name"],
        role=r["role"],
        role_unit_id=uid("role_unit_id"),
        on_behalf_of=uid("on_behalf_of"),
        on_behalf_of_name=r["on_behalf_of_name"],
        grant_id=uid("grant_id"),
        delegation_id=uid("delegation_id"),
        action=r["action"],
        label=r["label"],
        aggregate_kind=r["aggregate_kind"],
        aggregate_id=UUID(r["aggregate_id"]),
        aggregate_version=int(r["aggregate_version"]),
        dossier_id=uid("dossier_id"),
        unit_id=uid("unit_id"),
        year=r["year"],
        subject_person_id=uid("subject_person_id"),
        reason=r["reason"],
        from_state=r["from_state"],
        to_state=r["to_state"],
        level=r["level"],
        previous_level=r["previous_level"],
        changes=json.loads(changes) if changes else None,
        chain_hash=r["chain_hash"],
    )


def audit_trail(
    store: ReadModelStore,
    *,
    person_id: UUID | None = None,
    unit_id: UUID | None = None,
    below_unit: bool = True,
    action: str | None = None,
    year: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    dossier_id: UUID | None = None,
    as_of: datetime | None = None,
    offset: int = 0,
    after: int | None = None,
    before: int | None = None,
    limit: int = 100,
    count_limit: int | None = None,
) -> AuditTrail:
    """The rows matching every filter given, oldest first, a page of them, and how many match in all.

    `unit_id` with `below_unit` is that unit and everything below it now; `as_of` is the trail up to a moment
    (with `dossier_id`, the dossier's history as it stood then). The page is the rows after position `after`, or the
    rows just before position `before`, or else the rows from `offset` on: a page link that carries its neighbour's
    position costs the same however deep it is. `count_limit` stops counting there (a province's whole trail is
    millions of rows: counting them all costs more than the page itself).
    """
    tables = store.live_tables(AuditProjection.name)
    events = tables["events"]
    with store.engine.connect() as conn:
        search = _search(
            conn, tables, person_id=person_id, unit_id=unit_id, below_unit=below_unit, action=action, year=year,
            since=since, until=until, dossier_id=dossier_id, as_of=as_of,
        )
        matching = _hinted(select(events.c.position).where(*search.where), events, search.index)
        if search.counted is not None and (search.counted < LEAD_LIMIT or (
            count_limit is not None and search.counted > count_limit
        )):
            total = search.counted if search.counted < LEAD_LIMIT else count_limit + 1  # type: ignore[operator]
        elif count_limit is None:
            counted = _hinted(select(func.count()).select_from(events).where(*search.where), events, search.index)
            total = conn.execute(counted).scalar_one()
        else:
            capped = matching.limit(count_limit + 1).subquery()
            total = conn.execute(select(func.count()).select_from(capped)).scalar_one()
        # The page's positions first, from the indexes alone (one more, to know whether a page follows); then only
        # those rows, whole: sorting every matching row with all its columns to keep fifty costs seconds.
        position = events.c.position
        if before is not None:
            found = [r[0] for r in conn.execute(
                matching.where(position < before).order_by(position.desc()).limit(limit + 1)
            )]
            earlier, more = len(found) > limit, True
            positions = found[:limit][::-1]
        else:
            if after is not None:
                query = matching.where(position > after).order_by(position).limit(limit + 1)
            else:
                query = matching.order_by(position).offset(offset).limit(limit + 1)
            found = [r[0] for r in conn.execute(query)]
            earlier, more = after is not None or offset > 0, len(found) > limit
            positions = found[:limit]
        rows = (
            conn.execute(_select_rows(tables, [position.in_(positions)])).mappings().all() if positions else []
        )
    exact = count_limit is None or total <= count_limit
    return AuditTrail(
        tuple(_audit_row(r) for r in rows), int(total if exact else count_limit or 0), exact, more, earlier
    )


def iter_audit(store: ReadModelStore, *, chunk: int = 1000, **filters: Any) -> Iterator[AuditRow]:
    """Every matching row, oldest first, read a chunk at a time (by position, not by offset)."""
    tables = store.live_tables(AuditProjection.name)
    events = tables["events"]
    with store.engine.connect() as conn:
        search = _search(conn, tables, **_defaults(filters))
    after = 0
    while True:
        with store.engine.connect() as conn:
            positions = [r[0] for r in conn.execute(
                _hinted(select(events.c.position).where(*search.where, events.c.position > after), events,
                        search.index).order_by(events.c.position).limit(chunk)
            )]
            found = conn.execute(
                _select_rows(tables, [events.c.position.in_(positions)])
            ).mappings().all() if positions else []
        for r in found:
            yield _audit_row(r)
        if len(positions) < chunk:
            return
        after = positions[-1]


def audit_csv(store: ReadModelStore, out: TextIO, **filters: Any) -> int:
    """Write the matching rows to `out` as CSV, one header row first, streamed; returns how many rows."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in iter_audit(store, **filters):
        writer.writerow(csv_values(row))
        count += 1
    return count


def csv_values(row: AuditRow) -> list[Any]:
    """One row's cells in the order of COLUMNS, as the CSV export writes them (a web download streams the same)."""
    values: list[Any] = []
    for column in COLUMNS:
        value = getattr(row, column)
        if column == "changes":
            value = "" if value is None else json.dumps(value, ensure_ascii=False)
        elif isinstance(value, datetime):
            value = value.isoformat()
        values.append("" if value is None else value)
    return values


def _defaults(filters: Mapping[str, Any]) -> dict[str, Any]:
    known = {
        "person_id": None, "unit_id": None, "below_unit": True, "action": None, "year": None, "since": None,
        "until": None, "dossier_id": None, "as_of": None,
    }
    unknown = sorted(set(filters) - set(known))
    if unknown:
        raise TypeError(f"unknown audit filter(s): {', '.join(unknown)}")
    return {**known, **filters}


def latest_changes(
    store: ReadModelStore,
    actions: Sequence[str],
    *,
    unit_id: UUID | None = None,
    subject_person_id: UUID | None = None,
    limit: int = 20,
) -> list[AuditRow]:
    """The newest rows of these actions ("Unit.Moved", ...) over one unit or about one person, newest first: what
    the administration pages show as a unit's or a person's recent changes."""
    tables = store.live_tables(AuditProjection.name)
    events = tables["events"]
    where: list[Any] = [events.c.action.in_(list(actions))]
    if unit_id is not None:
        where.append(events.c.unit_id == str(unit_id))
    if subject_person_id is not None:
        where.append(events.c.subject_person_id == str(subject_person_id))
    query = _select_rows(tables, where).order_by(None).order_by(events.c.position.desc()).limit(limit)
    with store.engine.connect() as conn:
        return [_audit_row(r) for r in conn.execute(query).mappings()]
