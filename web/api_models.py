"""What the JSON API takes and gives: the pydantic models its OpenAPI document is made of.

Built from the engine's aggregates and the read models' plain rows by the `from_*` functions, so that a change of
a read model shows up here as a type error, not as a silently different document.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from domain.decisions import DecisionAct
from domain.dossier import Dossier
from domain.values import Answer, Classification, DossierState, Grade, NotRatedGround, Role
from projections.models import audit as audit_model
from projections.models import dossiers as dossiers_model
from projections.models import statistics as statistics_model
from projections.models import units as units_model
from web.forms import plain_decimal

# The longest text a field may carry (the same bound as the pages' forms).
MAX_TEXT = 20_000
MAX_CODE = 200


# A whole number in a query or a text: ASCII digits, with a minus sign at most (so that a negative number is refused
# by the parameter's bounds, saying what they are). Pydantic alone reads "2_024", "+2024", " 2024" and "2024.0" as
# 2024: a number that reads otherwise in the address than it is taken. Refused as pydantic refuses "abc", so that
# the caller is told so in their language; pydantic still reads the digits and checks the bounds.
_PLAIN_WHOLE = re.compile(r"-?[0-9]+")


def _plain_whole(value: object) -> object:
    if isinstance(value, str) and not _PLAIN_WHOLE.fullmatch(value):
        raise PydanticCustomError("int_parsing", "Input should be a valid integer")
    return value


# Written after a parameter's Query(ge=…, le=…) or a field's Field(ge=…, le=…): before them, pydantic could not fold
# the bounds into the integer's schema and the OpenAPI document would give them as "ge" and "le", not as minimum and
# maximum. A JSON number is a number by its grammar: only text is checked.
PLAIN_DIGITS = BeforeValidator(_plain_whole)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors --------------------------------------------------------------------------------------------------------


class ProblemItem(BaseModel):
    location: list[str | int] = Field(description="Where in the request, such as ['query', 'limit'].")
    message: str = Field(description="What is wrong there, in the caller's language (Accept-Language).")
    kind: str | None = Field(None, description="For programs: the validation error's type, such as 'int_parsing', "
                             "'missing' or 'less_than_equal' (pydantic's names).")


class Problem(BaseModel):
    """Every refusal: the HTTP status, a headline in the caller's language, and the engine's own sentence."""

    status: int
    title: str
    detail: str
    errors: list[ProblemItem] = Field(default_factory=list)


# --- dossiers ------------------------------------------------------------------------------------------------------


class UnitRef(BaseModel):
    id: UUID
    code: str
    name: str


class DossierSummary(BaseModel):
    """One dossier as the lists show it (from the dossiers read model)."""

    id: UUID
    unit: UnitRef
    year: int
    state: DossierState
    state_since: datetime
    round: int
    suggested_level: Classification | None
    proposed_level: Classification | None
    final_level: Classification | None
    four_good: bool | None
    waiting_step: str | None
    deadline: date | None
    opened_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None


class DossierPage(BaseModel):
    total: int = Field(description="How many dossiers match in all.")
    offset: int
    limit: int
    items: list[DossierSummary]


class AnswerOut(BaseModel):
    grade: Grade | None
    points: Decimal | None
    met: bool | None
    sub_items: dict[str, bool]
    comment: str


class EvidenceOut(BaseModel):
    sha256: str
    name: str
    size: int
    media_type: str


class ActionOut(BaseModel):
    action: str
    label: str
    needs_reason: bool


class Endorsement(BaseModel):
    level: Classification | None
    note: str


class DecisionActOut(BaseModel):
    """The act a decision was taken by, as the deciding body issues it."""

    number: str = Field(description="The act's number, e.g. 125-QĐ/HU: unique per deciding unit and period.")
    date: date


class Decision(BaseModel):
    level: Classification | None
    reason: str
    act: DecisionActOut | None = Field(default=None, description="None when decided without an act number.")


class DossierDetail(BaseModel):
    """A dossier from the event log: now, as of a moment, or at a version. Its `version` is the ETag."""

    id: UUID
    unit: UnitRef
    year: int
    version: int
    state: DossierState
    round: int
    workflow_version: int
    rule_set_id: str
    recognition_model_id: str | None
    answers: dict[str, AnswerOut]
    facts: dict[str, bool | int | str] = Field(description="Numbers that are not whole are given as decimal text.")
    evidence: list[EvidenceOut]
    last_reason: str | None
    proposed_level: Classification | None
    level: Classification | None
    four_good: bool | None
    endorsement: Endorsement | None
    decision: Decision | None
    as_of: datetime | None = Field(description="Set when the dossier is shown as it stood at a moment.")
    actions: list[ActionOut] = Field(
        description="What the caller may do now (empty for a past view): the engine's own list."
    )


class OpenDossier(_Model):
    unit: str = Field(min_length=1, max_length=MAX_CODE, description="The unit's code, such as lc-kim-tan-cb1.")
    year: Annotated[int, Field(ge=1900, le=9999), PLAIN_DIGITS]


def _plain_points(value: object) -> object:
    # Pydantic reads a decimal text as Python does: "٤" as 4, "1_0" as 10. Text is ASCII digits and a point here,
    # as the schema's pattern says; a JSON number is so by its grammar.
    if isinstance(value, str):
        number = plain_decimal(value, comma=False)
        if number is None:
            raise PydanticCustomError("decimal_parsing", "Input should be a valid decimal")
        return number
    return value


class AnswerIn(_Model):
    grade: Grade | None = None
    points: Annotated[Decimal | None, BeforeValidator(_plain_points)] = Field(
        default=None, allow_inf_nan=False, max_digits=12
    )
    met: bool | None = None
    sub_items: dict[str, bool] = Field(default_factory=dict, max_length=200)
    comment: str | None = Field(default=None, max_length=MAX_TEXT, description="Omitted: the recorded one stays.")


class SelfAssessment(_Model):
    """Answers by criterion id and facts by fact id; what is not given stays as recorded."""

    answers: dict[str, AnswerIn] = Field(default_factory=dict, max_length=500)
    facts: dict[str, bool | int | str] = Field(
        default_factory=dict,
        max_length=500,
        description="bool facts: true or false; counts: whole numbers; percentages: a number or decimal text "
        "such as \"92.5\"; grades: excellent, good, average or poor.",
    )


class ActionIn(_Model):
    reason: str = Field(default="", max_length=MAX_TEXT, description="Why: needed for returns, withdrawals…")
    level: Classification | None = Field(
        default=None, description="endorse: the proposed level; approve: the decided level (default: the proposal)."
    )
    note: str = Field(default="", max_length=MAX_TEXT, description="endorse: the committee's note.")
    ground: NotRatedGround | None = Field(default=None, description="mark_not_rated: why the unit is not rated.")
    legal_basis: str = Field(default="", max_length=MAX_TEXT, description="reopen: the legal basis.")
    act_number: str = Field(
        default="", max_length=MAX_CODE,
        description="approve: the number of the act deciding it (unique per deciding unit and period; optional).",
    )
    act_date: date | None = Field(
        default=None, description="approve: the act's date, YYYY-MM-DD (default: today; only with a number).",
    )


class DecisionLine(_Model):
    dossier: UUID
    level: Classification | None = Field(default=None, description="Default: the committee's proposal.")
    reason: str = Field(default="", max_length=MAX_TEXT, description="Needed when the level differs from the proposal.")
    version: Annotated[
        int | None, Field(ge=1, le=10**9, description="The version seen; a newer one is 409."), PLAIN_DIGITS
    ] = None


class DecisionListIn(_Model):
    superior: str = Field(min_length=1, max_length=MAX_CODE, description="The deciding unit's code.")
    year: Annotated[int, Field(ge=1900, le=9999), PLAIN_DIGITS]
    decisions: list[DecisionLine] = Field(min_length=1, max_length=1000)
    act_number: str = Field(
        default="", max_length=MAX_CODE,
        description="The act's number (at most 50 characters, unique per deciding unit and period; a number already "
        "taken is 409). Empty: decided without one.",
    )
    act_date: date | None = Field(
        default=None, description="The act's date, YYYY-MM-DD: not after today, not before the period (default: "
        "today). Only with a number.",
    )


class QuotaFigure(BaseModel):
    group: str
    good_or_better: int
    excellent: int
    cap: int | None


class DecidedDossier(BaseModel):
    id: UUID
    version: int
    state: DossierState
    level: Classification | None


class Candidate(BaseModel):
    id: UUID
    unit: UnitRef
    group: str
    version: int = Field(description="Send it back as the line's version.")
    state: DossierState
    proposed_level: Classification | None


class DecisionListView(BaseModel):
    """What a standing committee decides at one meeting: the dossiers directly below waiting for a decision."""

    superior: UnitRef
    year: int
    candidates: list[Candidate]
    quota: list[QuotaFigure] = Field(description="The excellent-quota of each group now.")


class DecisionListOut(BaseModel):
    quota: list[QuotaFigure] = Field(description="The excellent-quota of each group touched, after the decisions.")
    dossiers: list[DecidedDossier]
    act: DecisionActOut | None = Field(default=None, description="The act recorded, if a number was given.")


# --- history and audit ---------------------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    position: int = Field(description="The event's place in the log.")
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
    changes: dict[str, Any] | None
    chain_hash: str | None


class AuditPage(BaseModel):
    total: int = Field(description="How many events match, counted up to 10,000 past this page (see total_exact).")
    total_exact: bool = Field(
        default=True, description="False when more events match than were counted: `total` is then a lower bound."
    )
    offset: int
    limit: int
    items: list[AuditEntry]


class Verification(BaseModel):
    checked: bool = Field(description="False until a first verification has finished.")
    ok: bool | None
    position: int = Field(description="The last event the verdict covers.")
    head: int = Field(description="The last event in the log now.")
    up_to_date: bool
    checked_at: datetime | None
    findings: int
    first_finding: str


class CouldActOut(BaseModel):
    person_id: UUID
    username: str
    full_name: str
    role: Role
    unit: UnitRef = Field(description="The unit the role is held over, named as it was that day.")
    grant_id: UUID
    triggers: list[str] = Field(description="The steps they could take that day; empty before the dossier was "
                                "opened (nobody could act on it then: they held the roles that would have).")
    on_behalf_of: UUID | None = Field(description="By delegation: the person whose role this is.")
    delegation_id: UUID | None


class WhoCouldAct(BaseModel):
    dossier: UUID
    unit: UnitRef
    year: int
    on: date = Field(description="The day asked about: the answer holds at its end, Vietnam time.")
    opened: bool = Field(description="Whether the dossier had been opened by then.")
    state: DossierState | None = Field(description="The dossier's state that day; null before it was opened.")
    people: list[CouldActOut] = Field(
        description="Who could act on it that day; before it was opened, who held the workflow's roles over its unit "
        "(the unit itself, the one directly above it, those above), with no steps."
    )


# --- classifications, statistics, units ----------------------------------------------------------------------------


class ClassificationOut(BaseModel):
    unit: UnitRef
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
    act_number: str | None = Field(default=None, description="The number of the act that decided it, if any.")
    act_date: date | None = Field(default=None, description="The date of that act.")


class Classifications(BaseModel):
    period: int
    unit: UnitRef
    items: list[ClassificationOut]


class ActUnit(BaseModel):
    unit: UnitRef = Field(description="The unit, named as at the end of the period.")
    dossier_id: UUID
    level: Classification = Field(description="The level this act gave it (a later act may have changed it since).")
    four_good: bool | None


class DecisionActListed(BaseModel):
    number: str
    date: date
    units: list[ActUnit]


class DecisionActs(BaseModel):
    superior: UnitRef = Field(description="The deciding unit.")
    period: int
    acts: list[DecisionActListed]


class TargetOut(BaseModel):
    name: str
    figure: int
    of: int
    wanted: str
    met: bool


class CommitteesBelowOut(BaseModel):
    committees: int
    pilot_met: int
    model_met: int
    all_good_met: int


class QuotaMeterOut(BaseModel):
    group: str
    good_or_better: int
    excellent: int
    allowed: int | None
    remaining: int | None
    over: bool


class StatisticsOut(BaseModel):
    unit: UnitRef
    period: int
    dossiers: int
    by_state: dict[str, int]
    by_level: dict[str, int]
    by_kind: dict[str, int]
    decided: int
    cells: int
    four_good_cells: int
    four_good_share: float | None
    pilot_cells: int
    four_good_committees: int
    targets: list[TargetOut]
    committees_below: CommitteesBelowOut
    quota: list[QuotaMeterOut] = Field(description="The excellent-quota meter of each group directly below.")


class UnitLine(BaseModel):
    depth: int = Field(description="0 for the top of the caller's part of the tree.")
    code: str
    name: str
    kind: str
    parent_code: str | None


class UnitsOut(BaseModel):
    as_of: date
    units: list[UnitLine] = Field(description="Depth first, siblings by name: the caller's units and those below.")


class RoleOut(BaseModel):
    role: Role
    unit: UnitRef
    on_behalf_of: UUID | None


class Me(BaseModel):
    id: UUID
    username: str
    full_name: str
    roles: list[RoleOut]


# --- building them -------------------------------------------------------------------------------------------------


def answer_out(answer: Answer) -> AnswerOut:
    return AnswerOut(
        grade=answer.grade, points=answer.points, met=answer.met, sub_items=dict(answer.sub_items),
        comment=answer.comment,
    )


def fact_out(value: Any) -> bool | int | str:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, Grade):
        return value.value
    return str(value)


def dossier_detail(
    dossier: Dossier, unit: UnitRef, actions: list[ActionOut], as_of: datetime | None = None
) -> DossierDetail:
    endorsement = dossier.endorsement
    decision = dossier.decision
    return DossierDetail(
        id=dossier.id, unit=unit, year=dossier.year, version=dossier.version, state=dossier.state,
        round=dossier.round, workflow_version=dossier.workflow_version, rule_set_id=dossier.rule_set_id,
        recognition_model_id=dossier.recognition_model_id,
        answers={k: answer_out(a) for k, a in dossier.answers.items()},
        facts={k: fact_out(v) for k, v in dossier.facts.items() if v is not None},
        evidence=[EvidenceOut(sha256=e.sha256, name=e.name, size=e.size, media_type=e.media_type)
                  for e in dossier.evidence.values()],
        last_reason=dossier.last_reason, proposed_level=dossier.proposed_level, level=dossier.level,
        four_good=dossier.four_good,
        endorsement=None if endorsement is None else Endorsement(
            level=endorsement.get("level"), note=str(endorsement.get("note") or "")
        ),
        decision=None if decision is None else Decision(
            level=decision.get("level"), reason=str(decision.get("reason") or ""), act=act_out(decision.get("act")),
        ),
        as_of=as_of, actions=actions,
    )


def dossier_summary(row: dossiers_model.DossierRow, name: str) -> DossierSummary:
    return DossierSummary(
        id=row.dossier_id, unit=UnitRef(id=row.unit_id, code=row.unit_code, name=name), year=row.year,
        state=row.state, state_since=row.state_since, round=row.round, suggested_level=row.suggested_level,
        proposed_level=row.proposed_level, final_level=row.final_level, four_good=row.four_good,
        waiting_step=row.waiting_step, deadline=row.deadline, opened_at=row.opened_at,
        submitted_at=row.submitted_at, decided_at=row.decided_at,
    )


def audit_entry(row: audit_model.AuditRow) -> AuditEntry:
    return AuditEntry(
        position=row.position, recorded_at=row.recorded_at, person_id=row.person_id, person_name=row.person_name,
        role=row.role, role_unit_id=row.role_unit_id, on_behalf_of=row.on_behalf_of,
        on_behalf_of_name=row.on_behalf_of_name, grant_id=row.grant_id, delegation_id=row.delegation_id,
        action=row.action, label=row.label, aggregate_kind=row.aggregate_kind, aggregate_id=row.aggregate_id,
        aggregate_version=row.aggregate_version, dossier_id=row.dossier_id, unit_id=row.unit_id, year=row.year,
        subject_person_id=row.subject_person_id, reason=row.reason, from_state=row.from_state,
        to_state=row.to_state, level=row.level, previous_level=row.previous_level,
        changes=dict(row.changes) if row.changes is not None else None, chain_hash=row.chain_hash,
    )


def act_out(act: DecisionAct | None) -> DecisionActOut | None:
    return None if act is None else DecisionActOut(number=act.number, date=act.day)


def classification_out(row: dossiers_model.ClassificationRow, name: str) -> ClassificationOut:
    return ClassificationOut(
        unit=UnitRef(id=row.unit_id, code=row.unit_code, name=name), year=row.year, dossier_id=row.dossier_id,
        level=row.level, four_good=row.four_good, recognition_suspended=row.recognition_suspended,
        reopened=row.reopened, rule_set_id=row.rule_set_id, rule_set_version=row.rule_set_version,
        decided_at=row.decided_at, decided_by=row.decided_by, reason=row.reason, act_number=row.act_number,
        act_date=row.act_date,
    )


def statistics_out(
    stats: statistics_model.Statistics, unit: UnitRef, meters: tuple[statistics_model.QuotaMeter, ...]
) -> StatisticsOut:
    return StatisticsOut(
        unit=unit, period=stats.year, dossiers=stats.dossiers, by_state=dict(stats.by_state),
        by_level=dict(stats.by_level), by_kind=dict(stats.by_kind), decided=stats.decided, cells=stats.cells,
        four_good_cells=stats.four_good_cells, four_good_share=stats.four_good_share, pilot_cells=stats.pilot_cells,
        four_good_committees=stats.four_good_committees,
        targets=[TargetOut(name=t.name, figure=t.figure, of=t.of, wanted=t.wanted, met=t.met) for t in stats.targets],
        committees_below=CommitteesBelowOut(
            committees=stats.committees_below.committees, pilot_met=stats.committees_below.pilot_met,
            model_met=stats.committees_below.model_met, all_good_met=stats.committees_below.all_good_met,
        ),
        quota=[
            QuotaMeterOut(group=m.group, good_or_better=m.good_or_better, excellent=m.excellent, allowed=m.allowed,
                          remaining=m.remaining, over=m.over)
            for m in meters
        ],
    )


def unit_line(row: units_model.TreeRow, depth: int) -> UnitLine:
    return UnitLine(depth=depth, code=row.code, name=row.name, kind=row.kind, parent_code=row.parent_code)
