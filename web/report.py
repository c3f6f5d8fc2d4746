from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, Any, ParamSpec
from uuid import UUID

from domain.actor import Actor
from domain.dossier import Dossier
from domain.errors import NotFound
from domain.text import is_refused_character
from domain.values import Classification, DossierState
from workflow.clock import VIETNAM, local_date

if TYPE_CHECKING:
    from workflow.engine import Engine

# Plain-text views of the engine's queries for the command line. The pages will read projections instead.

P = ParamSpec("P")

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# Every character `is_refused_character` refuses, as one class: the categories it names are fixed sets of Unicode
# (Cc: C0, DEL and C1; Cs: surrogates; Zl: U+2028; Zp: U+2029), plus the bidirectional controls. One search per
# line instead of a category lookup per character: a listing of 250,000 units prints that many lines.
# tests/web/test_report_escapes.py checks it against `is_refused_character` over every code point.
_NEEDS_ESCAPE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """The text with every character that could start a line, move the cursor or reorder the display spelled out.

    Input refuses these characters, but events written before that rule (or by another tool) are printed as they
    are stored: a reason holding a line feed shows as `\\n` on its own line, never as a forged line of history.
    """
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return "".join(
        _ESCAPES.get(char) or (_escape(char) if is_refused_character(char) else char) for char in text
    )


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escaped_lines(lines: Callable[P, Iterator[str]]) -> Callable[P, Iterator[str]]:
    # Every line of a report is escaped whole: what the report adds around stored text never holds such characters.
    @wraps(lines)
    def escaped(*args: P.args, **kwargs: P.kwargs) -> Iterator[str]:
        return (printable(line) for line in lines(*args, **kwargs))

    return escaped


def _when(moment: datetime) -> str:
    return moment.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M")


def _value(value: Any) -> str:
    if isinstance(value, Classification | DossierState):
        return str(value.value)
    return str(value)


class Names:
    """Names of people and units, loaded once per report."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.person = lru_cache(maxsize=None)(self._person)
        self.unit = lru_cache(maxsize=None)(self._unit)

    def _person(self, pid: UUID) -> str:
        try:
            return self.engine.person(pid).full_name
        except NotFound:
            return str(pid)

    def _unit(self, uid: UUID, day: date | None = None) -> str:
        try:
            unit = self.engine.unit(uid)
        except NotFound:
            return str(uid)
        # A unit is named as it was named on the day in question: history outlives renames.
        then = unit.as_of(day) if day else None
        return then.name if then else unit.name

    def actor(self, actor: Actor, day: date | None = None) -> str:
        text = f"{self.person(actor.person_id)} as {actor.role.value} of {self.unit(actor.unit_id, day)}"
        if actor.on_behalf_of is not None:
            text += f", on behalf of {self.person(actor.on_behalf_of)}"
        return text


@escaped_lines
def history_lines(engine: Engine, did: UUID) -> Iterator[str]:
    names = Names(engine)
    dossier = engine.dossier(did)
    yield f"History of the {dossier.year} dossier of {names.unit(dossier.unit_id)} ({did})"
    for event in engine.history(did):
        kind = type(event).__name__
        fields = vars(event)
        head = f"v{event.originator_version:<3} {_when(event.timestamp)}  {kind}"
        if "from_state" in fields:
            head += f" ({_value(fields['from_state'])} -> {_value(fields['to_state'])})"
        yield head
        yield f"       by {names.actor(fields['actor'], local_date(event.timestamp))}"
        details = []
        for key in ("round", "level", "previous_level", "decided_level", "late", "unit_age_months"):
            if fields.get(key) not in (None, False):
                details.append(f"{key.replace('_', ' ')}: {_value(fields[key])}")
        if fields.get("answers") or fields.get("facts"):
            details.append(
                f"answers: {', '.join(sorted(fields.get('answers', {})))} facts: "
                f"{', '.join(sorted(fields.get('facts', {})))}"
            )
        if "evidence" in fields:
            ev = fields["evidence"]
            details.append(f"file: {ev.name} ({ev.media_type}, {ev.size} bytes, sha256 {ev.sha256[:12]}…)")
        changes = fields.get("changes")
        if changes:
            changed = [*changes["answers"], *changes["facts"]]
            details.append(
                "changed since the last round: "
                + (", ".join(changed) or "no answers")
                + (f"; files added {len(changes['evidence_added'])}" if changes["evidence_added"] else "")
                + (f"; files removed {len(changes['evidence_removed'])}" if changes["evidence_removed"] else "")
            )
        evaluation = fields.get("evaluation")
        if evaluation:
            details.append(
                f"rules: {evaluation['rule_set_id']} v{evaluation['rule_set_version']} computed {evaluation['level']}"
            )
        act = fields.get("act")
        if act is not None:
            details.append(f"by act: {act.number} of {act.day.isoformat()}")
        quota = fields.get("quota")
        if quota:
            details.append(
                f"quota after: {quota['excellent']} excellent of cap {quota['cap']} "
                f"({quota['good_or_better']} good or better, group {quota['group']})"
            )
        for line in details:
            yield f"       {line}"
        if fields.get("reason"):
            yield f"       why: {fields['reason']}"


@escaped_lines
def dossier_lines(engine: Engine, dossier: Dossier) -> Iterator[str]:
    names = Names(engine)
    yield f"{names.unit(dossier.unit_id)}: {dossier.year} dossier {dossier.id}"
    yield f"  as of version {dossier.version}, {_when(dossier.modified_on)}"
    yield f"  state: {dossier.state.value}   round: {dossier.round}   rule set: {dossier.rule_set_id}"
    if dossier.recognition_model_id:
        yield f"  recognition model: {dossier.recognition_model_id}"
    if dossier.proposed_level is not None:
        yield f"  proposed by the committee: {dossier.proposed_level.value}"
    if dossier.level is not None:
        four_good = "" if dossier.four_good is None else f"   four-good: {'yes' if dossier.four_good else 'no'}"
        yield f"  decided: {dossier.level.value}{four_good}"
    if dossier.last_reason:
        yield f"  last reason given: {dossier.last_reason}"
    yield "  answers:"
    for key, answer in sorted(dossier.answers.items()):
        value = answer.grade.value if answer.grade else answer.points if answer.points is not None else answer.met
        subs = f" {sum(answer.sub_items.values())}/{len(answer.sub_items)} sub-items" if answer.sub_items else ""
        yield f"    {key}: {value}{subs}{'  — ' + answer.comment if answer.comment else ''}"
    if dossier.facts:
        yield "  facts:"
        for key, fact in sorted(dossier.facts.items()):
            yield f"    {key}: {_value(getattr(fact, 'value', fact))}"
    if dossier.evidence:
        yield "  evidence:"
        for ev in dossier.evidence.values():
            yield f"    {ev.name} ({ev.media_type}, {ev.size} bytes) sha256 {ev.sha256}"


@escaped_lines
def status_lines(engine: Engine, year: int | None) -> Iterator[str]:
    names = Names(engine)
    dossiers = [engine.dossier(did) for did in engine.aggregate_ids(Dossier, "Opened")]
    for period in engine.periods():
        if year is not None and period.year != year:
            continue
        mine = [d for d in dossiers if d.year == period.year]
        state = "closed" if period.closed else "open"
        rules = f"rule set {period.rule_set_id} v{period.rule_set_version}"
        yield f"== {period.year} ({state}), {rules}: {len(mine)} dossiers"
        by_state = Counter(d.state.value for d in mine)
        yield "   by state: " + (", ".join(f"{k} {v}" for k, v in sorted(by_state.items())) or "none yet")
        levels = Counter(
            d.level.value
            for d in mine
            if d.level is not None and d.state in (DossierState.APPROVED, DossierState.NOT_RATED)
        )
        if levels:
            yield "   decided: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items()))
            yield f"   four-good recognized: {sum(1 for d in mine if d.four_good)}"
        for d in sorted(mine, key=lambda d: names.unit(d.unit_id)):
            level = f" -> {d.level.value}" if d.level is not None else ""
            four = " (four-good)" if d.four_good else ""
            yield f"   {names.unit(d.unit_id):<60} {d.state.value:<22}{level}{four}"


@escaped_lines
def unit_lines(engine: Engine, day: date) -> Iterator[str]:
    tree = engine.hierarchy(day)
    if not tree:
        return
    yield f"Units on {day}:"
    for depth, unit, version in tree:
        yield f"{'  ' * depth}{version.name}  [{unit.code}, {unit.kind.value}]"
