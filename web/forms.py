"""The self-assessment form, built from the period's rule set and recognition model, and read back into answers.

Field names: `c.<criterion>.grade|points|met|comment`, `c.<criterion>.sub.<sub-item>` for a ticked sub-item (with
`c.<criterion>.subs` listing the sub-items shown, so an unticked box reads as "not met"), `f.<fact>` for a fact.
A field left empty records nothing: what was recorded before stays (the engine records changes, never erasures).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from domain.messages import N_, Message
from domain.values import Answer, Grade
from web.i18n import Formats
from workflow.rules.model import Criterion, Fact, RecognitionModel, RuleSet

# Rule-set titles in languages the rule files do not carry (their checksum is recorded with every decision, so
# they are not edited for a translation): <locale>.toml maps a rule set or model id to its items' titles.
TITLES_DIR = Path(__file__).resolve().parent / "locale" / "rulesets"


@cache
def _extra_titles(locale: str) -> dict[str, dict[str, str]]:
    path = TITLES_DIR / f"{locale}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {str(k): {str(i): str(t) for i, t in v.items()} for k, v in data.items()}


def title(owner_id: str, item: Any, locale: str) -> str:
    """An item's title (a criterion, sub-item, fact, group or the rule set itself, key "") in `locale`."""
    if locale == "vi":
        return str(getattr(item, "title_vi", "") or getattr(item, "title_en", "") or getattr(item, "title", ""))
    if locale == "en":
        return str(getattr(item, "title_en", "") or getattr(item, "title", "") or getattr(item, "title_vi", ""))
    key = "" if isinstance(item, RuleSet | RecognitionModel) else str(getattr(item, "id", ""))
    found = _extra_titles(locale).get(owner_id, {}).get(key)
    return found or title(owner_id, item, "en")


@dataclass
class FormSpec:
    rule_set: RuleSet
    model: RecognitionModel | None
    criteria: list[tuple[str, Criterion]] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


def form_spec(rule_set: RuleSet, model: RecognitionModel | None) -> FormSpec:
    spec = FormSpec(rule_set, model)
    spec.criteria = [(rule_set.id, c) for c in rule_set.criteria]
    if model is not None:
        spec.criteria.extend((model.id, c) for c in model.criteria if not c.computed)
    spec.facts = list(rule_set.facts)
    return spec


# Decimal() reads any script's digits ("٤" is 4), underscores ("1_0" is 10) and exponents ("1e1"): a number that
# reads otherwise on the page than it is recorded. A number typed is ASCII digits with one decimal sign at most (a
# sign kept, so that a negative number is refused by the engine's range, saying what the range is).
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")
_PLAIN_NUMBER_POINT_ONLY = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def plain_decimal(text: str, *, comma: bool = True) -> Decimal | None:
    """The number `text` writes in ASCII digits, with a point (or, where `comma`, a comma) as the decimal sign;
    None for anything else."""
    text = text.strip()
    if not (_PLAIN_NUMBER if comma else _PLAIN_NUMBER_POINT_ONLY).fullmatch(text):
        return None
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
        return None


def _decimal(text: str, what: Message) -> Decimal:
    value = plain_decimal(text)
    if value is None:
        raise InvalidInput(N_("%(what)s: '%(text)s' is not a number"), what=what, text=text[:40])
    return value


def read_form(
    spec: FormSpec,
    form: Mapping[str, str],
    recorded: Mapping[str, Answer],
    refused: dict[str, InvalidInput] | None = None,
) -> tuple[dict[str, Answer], dict[str, Any]]:
    """The answers and facts a submitted form gives; unknown field names are ignored (they are not ours).

    A field that cannot be read refuses the whole form; with `refused`, it is left out instead and its refusal kept
    there under its key (field_key), so that the others can be saved."""
    answers: dict[str, Answer] = {}
    for _, criterion in spec.criteria:
        try:
            answer = _read_answer(criterion, form, recorded)
        except InvalidInput as error:
            if refused is None:
                raise
            refused[field_key("c", criterion.id)] = error
            continue
        if answer is not None:
            answers[criterion.id] = answer
    facts: dict[str, Any] = {}
    for fact in spec.facts:
        raw = form.get(f"f.{fact.id}", "").strip()
        if not raw:
            continue
        try:
            facts[fact.id] = _read_fact(fact, raw)
        except InvalidInput as error:
            if refused is None:
                raise
            refused[field_key("f", fact.id)] = error
    return answers, facts


def field_key(kind: str, item_id: str) -> str:
    """The key of a criterion's ("c") or a fact's ("f") refusal, and the id of the element that says it, by its field
    (dots would read as class selectors where htmx looks the element up)."""
    return f"{kind}-{item_id}".replace(".", "-")


def _read_answer(criterion: Criterion, form: Mapping[str, str], recorded: Mapping[str, Answer]) -> Answer | None:
    prefix = f"c.{criterion.id}."
    before = recorded.get(criterion.id, Answer())
    grade = points = met = None
    raw = form.get(prefix + criterion.scale, "").strip()
    if raw:
        if criterion.scale == "grade":
            try:
                grade = Grade(raw)
            except ValueError:
                raise InvalidInput(
                    N_("criterion '%(criterion)s': '%(text)s' is not a grade"),
                    criterion=criterion.id, text=raw[:40],
                ) from None
        elif criterion.scale == "points":
            points = _decimal(raw, Message(N_("criterion '%(criterion)s'"), criterion=criterion.id))
        elif raw in ("yes", "no"):
            met = raw == "yes"
        else:
            raise InvalidInput(N_("criterion '%(criterion)s': answer met or not met"), criterion=criterion.id)
    subs = dict(before.sub_items)
    if form.get(prefix + "subs") == "shown":
        for sub in criterion.sub_items:
            subs[sub.id] = form.get(f"{prefix}sub.{sub.id}") == "on"
    comment = form.get(prefix + "comment")
    answer = Answer(
        grade=grade if grade is not None else before.grade,
        points=points if points is not None else before.points,
        met=met if met is not None else before.met,
        sub_items=subs,
        comment=comment.replace("\r\n", "\n") if comment is not None else before.comment,
    )
    if answer != Answer() and answer != recorded.get(criterion.id):
        return answer
    return None


def _read_fact(fact: Fact, raw: str) -> Any:
    if fact.type == "bool":
        if raw not in ("yes", "no"):
            raise InvalidInput(N_("fact '%(fact)s': answer yes or no"), fact=fact.id)
        return raw == "yes"
    if fact.type == "grade":
        try:
            return Grade(raw)
        except ValueError:
            raise InvalidInput(
                N_("fact '%(fact)s': '%(text)s' is not a grade"), fact=fact.id, text=raw[:40]
            ) from None
    if fact.type == "count":
        value = _decimal(raw, Message(N_("fact '%(fact)s'"), fact=fact.id))
        if value != value.to_integral_value():
            raise InvalidInput(
                N_("fact '%(fact)s': a count is a whole number, got '%(text)s'"), fact=fact.id, text=raw[:40]
            )
        return int(value)
    return _decimal(raw, Message(N_("fact '%(fact)s'"), fact=fact.id))


def fact_value(value: Any, fmt: Formats | None = None) -> str:
    """A recorded fact as its form field shows it (a number in the locale's way when `fmt` is given)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Grade):
        return value.value
    if fmt is not None and isinstance(value, int | float | Decimal):
        return fmt.field(value)
    return str(value)
