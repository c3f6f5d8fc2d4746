"""Rule sets and recognition models as data (workflow/rulesets/*.toml), and the pure evaluator over them."""

from __future__ import annotations

import hashlib
import itertools
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from domain.errors import InvalidInput, RuleSetError
from domain.values import Answer, Classification, Grade, UnitKind

DEFAULT_RULES_DIR = Path(__file__).resolve().parent / "rulesets"

Scheme = Literal["graded", "points"]
Scale = Literal["grade", "points", "met"]
FactType = Literal["bool", "percent", "count", "grade"]
Operator = Literal["==", "!=", ">=", ">", "<=", "<"]
FactValue = bool | int | Decimal | Grade

HUNDRED = Decimal(100)


# --------------------------------------------------------------------------------------------------------------
# The rule book as the engine sees it: frozen, plain, hashable.


@dataclass(frozen=True)
class SubItem:
    id: str
    title_vi: str
    title_en: str
    source: str


@dataclass(frozen=True)
class Criterion:
    id: str
    title_vi: str
    title_en: str
    source: str
    scale: Scale
    max_points: Decimal | None = None
    sub_items: tuple[SubItem, ...] = ()
    # True: derived by the engine from other dossiers (all subordinates four-good); typing an answer is refused.
    computed: bool = False
    group: str | None = None

    @property
    def sub_item_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sub_items)


@dataclass(frozen=True)
class CriterionGroup:
    id: str
    title_vi: str
    title_en: str
    source: str
    max_points: Decimal


@dataclass(frozen=True)
class Fact:
    id: str
    title_vi: str
    title_en: str
    source: str
    type: FactType
    required: bool = True
    # What this fact can disqualify, from the rule set's disqualifiers (None when it disqualifies nothing).
    disqualifier: str | None = None


@dataclass(frozen=True)
class Condition:
    fact: str
    op: Operator
    value: FactValue
    # A bool fact that, when true, excuses a failed comparison ("no discipline, except violations self-remedied").
    waived_by: str | None = None


@dataclass(frozen=True)
class SubordinateThreshold:
    """Shares (in %) of the decided subordinates (or, for a cell, members) a level needs."""

    min_completed_percent: Decimal | None
    min_good_percent: Decimal | None
    source: str


@dataclass(frozen=True)
class LevelRule:
    level: Classification
    source: str
    min_grade: Grade | None = None
    min_points: Decimal | None = None
    conditions: tuple[Condition, ...] = ()
    subordinates: SubordinateThreshold | None = None


@dataclass(frozen=True)
class Disqualifier:
    id: str
    description: str
    source: str
    when: tuple[Condition, ...]
    unless: str | None = None


@dataclass(frozen=True)
class RuleSet:
    id: str
    version: int
    title: str
    title_vi: str
    source: str
    scheme: Scheme
    from_year: int
    to_year: int | None
    criteria: tuple[Criterion, ...]
    facts: tuple[Fact, ...]
    # excellent, good, completed: the order they are tested in; not_completed is what is left.
    levels: tuple[LevelRule, ...]
    disqualifiers: tuple[Disqualifier, ...]
    quota_enabled: bool
    quota_share: Decimal
    quota_source: str
    sha256: str
    groups: tuple[CriterionGroup, ...] = ()
    file_name: str = ""

    def criterion(self, criterion_id: str) -> Criterion:
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise RuleSetError(
            f"rule set {self.id} has no criterion '{criterion_id}'; its criteria are: {_ids(self.criteria)}"
        )

    def fact(self, fact_id: str) -> Fact:
        for f in self.facts:
            if f.id == fact_id:
                return f
        raise RuleSetError(f"rule set {self.id} has no fact '{fact_id}'; its facts are: {_ids(self.facts)}")

    def level(self, level: Classification) -> LevelRule:
        for rule in self.levels:
            if rule.level is level:
                return rule
        raise RuleSetError(f"rule set {self.id} has no conditions for level {level.value}")

    def covers(self, year: int) -> bool:
        return self.from_year <= year and (self.to_year is None or year <= self.to_year)

    def quota_cap(self, good_or_better: int) -> int | None:
        if good_or_better < 0:
            raise ValueError(f"a count of units cannot be negative: {good_or_better}")
        if not self.quota_enabled:
            return None
        return int((self.quota_share * good_or_better).to_integral_value(rounding=ROUND_FLOOR))

    def describe_quota(self, good_or_better: int) -> str:
        cap = self.quota_cap(good_or_better)
        if cap is None:
            return f"quota: disabled in rule set {self.id}"
        return f"quota: {good_or_better} good-or-better allow {cap} excellent"


@dataclass(frozen=True)
class RecognitionModel:
    id: str
    version: int
    title: str
    title_vi: str
    source: str
    applies_to: tuple[UnitKind, ...]
    criteria: tuple[Criterion, ...]
    sha256: str
    file_name: str = ""

    def criterion(self, criterion_id: str) -> Criterion:
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise RuleSetError(
            f"recognition model {self.id} has no criterion '{criterion_id}'; its criteria are: {_ids(self.criteria)}"
        )


class RuleBook:
    def __init__(self, rule_sets: Sequence[RuleSet], recognition_models: Sequence[RecognitionModel]) -> None:
        self._rule_sets = tuple(rule_sets)
        self._models = tuple(recognition_models)
        _check_book(self._rule_sets, self._models)
        self._by_id = {rs.id: rs for rs in self._rule_sets}
        self._models_by_id = {m.id: m for m in self._models}

    @property
    def rule_sets(self) -> tuple[RuleSet, ...]:
        return self._rule_sets

    @property
    def recognition_models(self) -> tuple[RecognitionModel, ...]:
        return self._models

    def rule_set(self, rule_set_id: str) -> RuleSet:
        try:
            return self._by_id[rule_set_id]
        except KeyError:
            raise RuleSetError(
                f"unknown rule set '{rule_set_id}'; known rule sets: {', '.join(self._by_id) or 'none'}"
            ) from None

    def rule_set_for_year(self, year: int) -> RuleSet:
        for rs in self._rule_sets:
            if rs.covers(year):
                return rs
        known = ", ".join(f"{rs.id} ({_years(rs)})" for rs in self._rule_sets) or "none"
        raise RuleSetError(f"no rule set covers the year {year}; known rule sets: {known}")

    def recognition(self, model_id: str) -> RecognitionModel:
        try:
            return self._models_by_id[model_id]
        except KeyError:
            raise RuleSetError(
                f"unknown recognition model '{model_id}'; known models: {', '.join(self._models_by_id) or 'none'}"
            ) from None

    def recognition_for(self, model_ids: Sequence[str], kind: UnitKind) -> RecognitionModel | None:
        matching = [m for m in map(self.recognition, model_ids) if kind in m.applies_to]
        if len(matching) > 1:
            raise RuleSetError(f"several recognition models apply to {kind.value}: {', '.join(m.id for m in matching)}")
        return matching[0] if matching else None


# --------------------------------------------------------------------------------------------------------------
# Results.


@dataclass(frozen=True)
class SubordinateSummary:
    """Counts among the DECIDED subordinate organizations (for a cell: its members), as the engine computes them."""

    total: int
    completed_or_better: int
    good_or_better: int
    four_good: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.good_or_better <= self.completed_or_better <= self.total):
            raise ValueError(f"inconsistent subordinate counts: {self}")
        if not 0 <= self.four_good <= self.total:
            raise ValueError(f"inconsistent four-good count: {self}")


@dataclass(frozen=True)
class Evaluation:
    level: Classification
    explanation: tuple[str, ...]
    rule_set_id: str
    rule_set_version: int
    rule_set_sha256: str
    total_points: Decimal | None = None

    def as_record(self) -> dict[str, object]:
        record: dict[str, object] = {
            "level": self.level.value,
            "explanation": list(self.explanation),
            "rule_set_id": self.rule_set_id,
            "rule_set_version": self.rule_set_version,
            "rule_set_sha256": self.rule_set_sha256,
        }
        if self.total_points is not None:
            record["total_points"] = str(self.total_points)
        return record


@dataclass(frozen=True)
class Recognition:
    model_id: str
    model_version: int
    recognized: bool
    criteria: dict[str, bool]
    explanation: tuple[str, ...]
    model_sha256: str = ""

    def as_record(self) -> dict[str, object]:
        return {
            "model_id": self.model_id,
            "model_version": self.model_version,
            "model_sha256": self.model_sha256,
            "recognized": self.recognized,
            "criteria": dict(self.criteria),
            "explanation": list(self.explanation),
        }


# --------------------------------------------------------------------------------------------------------------
# Checking what a secretary typed in.


def validate_answers(
    rule_set: RuleSet,
    model: RecognitionModel | None,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
) -> None:
    criteria = _all_criteria(rule_set, model)
    for criterion_id, answer in answers.items():
        criterion = criteria.get(criterion_id)
        if criterion is None:
            raise InvalidInput(
                f"unknown criterion '{criterion_id}'; the criteria of {_where(rule_set, model)} are: "
                f"{', '.join(criteria)}"
            )
        if criterion.computed:
            raise InvalidInput(_computed_refusal(criterion))
        _check_answer(criterion, answer)
    _check_facts(rule_set, facts)


def missing_answers(
    rule_set: RuleSet,
    model: RecognitionModel | None,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
) -> list[str]:
    """Ids still to fill in before submission: criteria, `criterion.sub_item`, then facts."""
    missing: list[str] = []
    for criterion in _all_criteria(rule_set, model).values():
        if criterion.computed:
            continue
        answer = answers.get(criterion.id)
        if answer is None or _given(criterion, answer) is None:
            missing.append(criterion.id)
        ticked = answer.sub_items if answer is not None else {}
        missing.extend(f"{criterion.id}.{s.id}" for s in criterion.sub_items if s.id not in ticked)
    missing.extend(f.id for f in rule_set.facts if f.required and facts.get(f.id) is None)
    return missing


def _all_criteria(rule_set: RuleSet, model: RecognitionModel | None) -> dict[str, Criterion]:
    criteria = {c.id: c for c in rule_set.criteria}
    if model is not None:
        criteria.update((c.id, c) for c in model.criteria)
    return criteria


def _where(rule_set: RuleSet, model: RecognitionModel | None) -> str:
    return rule_set.id if model is None else f"{rule_set.id} and {model.id}"


def _computed_refusal(criterion: Criterion) -> str:
    return (
        f"criterion '{criterion.id}' is computed from the subordinates' decided dossiers and cannot be answered by hand"
    )


def _given(criterion: Criterion, answer: Answer) -> Grade | Decimal | bool | None:
    if criterion.scale == "grade":
        return answer.grade
    if criterion.scale == "points":
        return answer.points
    return answer.met


def _check_answer(criterion: Criterion, answer: Answer) -> None:
    name = f"criterion '{criterion.id}'"
    given = {
        "grade": answer.grade is not None,
        "points": answer.points is not None,
        "met": answer.met is not None,
    }
    wrong = [scale for scale, present in given.items() if present and scale != criterion.scale]
    if wrong:
        raise InvalidInput(f"{name} is {_scale_text(criterion)}; {' and '.join(wrong)} given instead")
    if answer.grade is not None and not isinstance(answer.grade, Grade):
        raise InvalidInput(f"{name}: grade must be one of {_grades()}, got {answer.grade!r}")
    if answer.met is not None and not isinstance(answer.met, bool):
        raise InvalidInput(f"{name}: met must be true or false, got {answer.met!r}")
    if answer.points is not None:
        points = _number(answer.points)
        assert criterion.max_points is not None  # the loader guarantees it for a points criterion
        if points is None or not Decimal(0) <= points <= criterion.max_points:
            raise InvalidInput(
                f"{name}: points must be a number from 0 to {_num(criterion.max_points)}, got {answer.points!r}"
            )
    for sub_id, ticked in answer.sub_items.items():
        if sub_id not in criterion.sub_item_ids:
            valid = ", ".join(criterion.sub_item_ids) or "none"
            raise InvalidInput(f"{name} has no sub-item '{sub_id}'; its sub-items are: {valid}")
        if not isinstance(ticked, bool):
            raise InvalidInput(f"{name}: sub-item '{sub_id}' must be true or false, got {ticked!r}")


def _scale_text(criterion: Criterion) -> str:
    if criterion.scale == "grade":
        return f"graded ({_grades()})"
    if criterion.scale == "points":
        assert criterion.max_points is not None
        return f"scored in points (0 to {_num(criterion.max_points)})"
    return "answered met or not met"


def _grades() -> str:
    return " | ".join(g.value for g in Grade)


def _check_facts(rule_set: RuleSet, facts: Mapping[str, object]) -> None:
    known = {f.id: f for f in rule_set.facts}
    for fact_id, value in facts.items():
        fact = known.get(fact_id)
        if fact is None:
            raise InvalidInput(f"unknown fact '{fact_id}'; the facts of {rule_set.id} are: {', '.join(known)}")
        if value is not None and _fact_value(fact, value) is None:
            raise InvalidInput(f"fact '{fact_id}' must be {_fact_type_text(fact.type)}, got {value!r}")


def _fact_value(fact: Fact, value: object) -> FactValue | None:
    """The value as the evaluator compares it, or None when it is not a valid value of the fact's type."""
    if fact.type == "bool":
        return value if isinstance(value, bool) else None
    if fact.type == "grade":
        return value if isinstance(value, Grade) else None
    number = _number(value)
    if number is None or number < 0:
        return None
    if fact.type == "percent":
        return number if number <= HUNDRED else None
    return int(number) if isinstance(value, int) else None


def _fact_type_text(fact_type: FactType) -> str:
    return {
        "bool": "true or false",
        "percent": "a percentage from 0 to 100 (int or Decimal)",
        "count": "a whole number, 0 or more",
        "grade": f"a grade ({_grades()})",
    }[fact_type]


def _number(value: object) -> Decimal | None:
    # Floats are refused: a recorded decision must recompute to the same figures everywhere.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


# --------------------------------------------------------------------------------------------------------------
# Classification.

_COMPARE: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


def classify(
    rule_set: RuleSet,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
    subordinates: SubordinateSummary | None,
) -> Evaluation:
    """Suggest a level. Only this rule set's criteria are read (answers may also hold a recognition model's);
    anything missing counts against the level that needs it, so a draft can be previewed."""
    for criterion in rule_set.criteria:
        if criterion.id in answers:
            _check_answer(criterion, answers[criterion.id])
    _check_facts(rule_set, facts)
    values = {f.id: v for f in rule_set.facts if (v := _fact_value(f, facts.get(f.id))) is not None}
    total = _total_points(rule_set, answers)

    lines: list[str] = []
    disqualified = False
    for disqualifier in rule_set.disqualifiers:
        triggered, text = _disqualifier_applies(rule_set, disqualifier, values)
        if triggered:
            disqualified = True
            lines.append(f"not_completed: disqualified — {disqualifier.description} ({text})")
        elif text:
            lines.append(text)
    if disqualified:
        return _evaluation(rule_set, Classification.NOT_COMPLETED, lines, total)
    lines.append("disqualifiers: none applies")

    if any(rule.subordinates is not None for rule in rule_set.levels) and (
        subordinates is None or subordinates.total == 0
    ):
        lines.append("subordinate thresholds: not applied (no decided subordinates)")

    for rule in rule_set.levels:
        checks = _level_checks(rule_set, rule, answers, values, subordinates, total)
        failed = [text for ok, text in checks if not ok]
        if failed:
            lines.append(f"{rule.level.value}: not met — {'; '.join(failed)}")
        else:
            lines.append(f"{rule.level.value}: met — {'; '.join(text for _, text in checks)}")
            return _evaluation(rule_set, rule.level, lines, total)
    lines.append("not_completed: meets none of the upper levels")
    return _evaluation(rule_set, Classification.NOT_COMPLETED, lines, total)


def _evaluation(rule_set: RuleSet, level: Classification, lines: list[str], total: Decimal | None) -> Evaluation:
    return Evaluation(
        level=level,
        explanation=tuple(lines),
        rule_set_id=rule_set.id,
        rule_set_version=rule_set.version,
        rule_set_sha256=rule_set.sha256,
        total_points=total,
    )


def _total_points(rule_set: RuleSet, answers: Mapping[str, Answer]) -> Decimal | None:
    if rule_set.scheme != "points":
        return None
    return sum(
        (p for c in rule_set.criteria if (a := answers.get(c.id)) is not None and (p := a.points) is not None),
        Decimal(0),
    )


def _level_checks(
    rule_set: RuleSet,
    rule: LevelRule,
    answers: Mapping[str, Answer],
    values: Mapping[str, FactValue],
    subordinates: SubordinateSummary | None,
    total: Decimal | None,
) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    if rule.min_grade is not None:
        checks.append(_grade_check(rule_set, rule.min_grade, answers))
    if rule.min_points is not None:
        unscored = [c.id for c in rule_set.criteria if (a := answers.get(c.id)) is None or a.points is None]
        if unscored:
            checks.append((False, f"criteria not scored: {', '.join(unscored)}"))
        else:
            assert total is not None
            checks.append(
                (total >= rule.min_points, f"total {_num(total)} points (needs at least {_num(rule.min_points)})")
            )
    for condition in rule.conditions:
        checks.append(_requirement(rule_set, condition, values))
    if rule.subordinates is not None and subordinates is not None and subordinates.total > 0:
        checks.extend(_subordinate_checks(rule.subordinates, subordinates))
    return checks


def _grade_check(rule_set: RuleSet, min_grade: Grade, answers: Mapping[str, Answer]) -> tuple[bool, str]:
    failures: list[str] = []
    for c in rule_set.criteria:
        grade = answers[c.id].grade if c.id in answers else None
        if grade is None:
            failures.append(f"criterion '{c.id}' not graded")
        elif grade.rank < min_grade.rank:
            failures.append(f"criterion '{c.id}' graded {grade.value} (needs {min_grade.value} or better)")
    if failures:
        return False, "; ".join(failures)
    return True, f"every criterion {min_grade.value} or better"


def _subordinate_checks(threshold: SubordinateThreshold, s: SubordinateSummary) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    for count, minimum, label in (
        (s.completed_or_better, threshold.min_completed_percent, "completed or better"),
        (s.good_or_better, threshold.min_good_percent, "good or better"),
    ):
        if minimum is None:
            continue
        # Cross-multiplied so that 1 of 3 against 33.33% is decided exactly, not on a rounded share.
        ok = count * HUNDRED >= minimum * s.total
        share = _num((count * HUNDRED / s.total).quantize(Decimal("0.01")))
        checks.append((ok, f"subordinates {label}: {count} of {s.total} ({share}%, needs at least {_num(minimum)}%)"))
    return checks


def _compare(actual: FactValue, op: Operator, expected: FactValue) -> bool:
    return _COMPARE[op](_as_number(actual), _as_number(expected))


def _as_number(value: FactValue) -> Decimal:
    if isinstance(value, Grade):
        return Decimal(value.rank)
    return Decimal(int(value)) if isinstance(value, bool) else Decimal(value)


def _requirement(rule_set: RuleSet, condition: Condition, values: Mapping[str, FactValue]) -> tuple[bool, str]:
    fact = rule_set.fact(condition.fact)
    actual = values.get(fact.id)
    needs = _needs_text(fact, condition)
    if actual is None:
        return False, f"fact '{fact.id}' not given (needs {needs})"
    shown = f"fact '{fact.id}' is {_show(fact, actual)}"
    if _compare(actual, condition.op, condition.value):
        return True, f"{shown} (needs {needs})"
    if condition.waived_by is not None:
        if values.get(condition.waived_by) is True:
            return True, f"{shown}, excused by '{condition.waived_by}'"
        return False, f"{shown} (needs {needs}, unless '{condition.waived_by}')"
    return False, f"{shown} (needs {needs})"


def _disqualifier_applies(
    rule_set: RuleSet, disqualifier: Disqualifier, values: Mapping[str, FactValue]
) -> tuple[bool, str]:
    """Whether it applies, and the figures; a disqualifier on a missing fact cannot apply, but says so."""
    figures: list[str] = []
    for condition in disqualifier.when:
        fact = rule_set.fact(condition.fact)
        actual = values.get(fact.id)
        if actual is None:
            return False, f"disqualifier '{disqualifier.id}' not checked: fact '{fact.id}' not given"
        if not _compare(actual, condition.op, condition.value):
            return False, ""
        figures.append(f"fact '{fact.id}' is {_show(fact, actual)}")
    if disqualifier.unless is not None:
        if values.get(disqualifier.unless) is True:
            return False, f"disqualifier '{disqualifier.id}' excused by '{disqualifier.unless}'"
        figures.append(f"not excused by '{disqualifier.unless}'")
    return True, ", ".join(figures)


def _show(fact: Fact, value: FactValue) -> str:
    if isinstance(value, Grade):
        return value.value
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{_num(Decimal(value))}%" if fact.type == "percent" else _num(Decimal(value))


def _needs_text(fact: Fact, condition: Condition) -> str:
    shown = _show(fact, condition.value)
    if isinstance(condition.value, Grade) and condition.op in (">=", "<="):
        return f"{shown} or {'better' if condition.op == '>=' else 'worse'}"
    return {
        "==": "{}",
        "!=": "not {}",
        ">=": "at least {}",
        ">": "more than {}",
        "<=": "at most {}",
        "<": "less than {}",
    }[condition.op].format(shown)


def _num(value: Decimal) -> str:
    # 100, not 1E+2 nor 100.00; 89.99 stays 89.99.
    return format(value.normalize(), "f")


# --------------------------------------------------------------------------------------------------------------
# Recognition (four-good).


def recognize(
    model: RecognitionModel,
    answers: Mapping[str, Answer],
    subordinates: SubordinateSummary | None,
) -> Recognition:
    met: dict[str, bool] = {}
    lines: list[str] = []
    for criterion in model.criteria:
        if criterion.computed:
            if criterion.id in answers:
                raise InvalidInput(_computed_refusal(criterion))
            ok, why = _all_subordinates_four_good(subordinates)
        else:
            answer = answers.get(criterion.id)
            if answer is not None:
                _check_answer(criterion, answer)
            ok, why = _criterion_met(criterion, answer)
        met[criterion.id] = ok
        lines.append(f"criterion '{criterion.id}': {'met' if ok else 'not met'}{f' — {why}' if why else ''}")
    unmet = [cid for cid, ok in met.items() if not ok]
    if unmet:
        lines.append(f"not recognized: {len(unmet)} of {len(met)} criteria not met ({', '.join(unmet)})")
    else:
        lines.append(f"recognized: all {len(met)} criteria met")
    return Recognition(
        model_id=model.id,
        model_version=model.version,
        recognized=not unmet,
        criteria=met,
        explanation=tuple(lines),
        model_sha256=model.sha256,
    )


def _criterion_met(criterion: Criterion, answer: Answer | None) -> tuple[bool, str]:
    if answer is None or answer.met is None:
        return False, "not answered"
    problems = [] if answer.met else ["answered not met"]
    for sub in criterion.sub_items:
        ticked = answer.sub_items.get(sub.id)
        if ticked is None:
            problems.append(f"sub-item '{sub.id}' not answered")
        elif not ticked:
            problems.append(f"sub-item '{sub.id}' not met")
    if problems:
        return False, "; ".join(problems)
    return True, f"all {len(criterion.sub_items)} sub-items met" if criterion.sub_items else ""


def _all_subordinates_four_good(subordinates: SubordinateSummary | None) -> tuple[bool, str]:
    if subordinates is None or subordinates.total == 0:
        return False, "no decided subordinate cells (needs at least one, every one recognized four-good)"
    s = subordinates
    return s.four_good == s.total, f"{s.four_good} of {s.total} subordinate cells recognized four-good (needs all)"


# --------------------------------------------------------------------------------------------------------------
# The files: a pydantic schema for their shape, then the checks across fields, then the frozen objects above.

_Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
_FileId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
_Text = Annotated[str, StringConstraints(min_length=1)]
_Percent = Annotated[Decimal, Field(ge=0, le=100)]


class _Schema(BaseModel):
    # A misspelt key must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


_M = TypeVar("_M", bound=_Schema)


class _SubItemFile(_Schema):
    id: _Id
    title_vi: _Text
    title_en: _Text
    source: _Text


class _CriterionFile(_Schema):
    id: _Id
    title_vi: _Text
    title_en: _Text
    source: _Text
    scale: Scale
    max_points: Decimal | None = None
    group: _Id | None = None
    computed: bool = False
    sub_items: list[_SubItemFile] = []


class _GroupFile(_Schema):
    id: _Id
    title_vi: _Text
    title_en: _Text
    source: _Text
    max_points: Annotated[Decimal, Field(gt=0)]


class _FactFile(_Schema):
    id: _Id
    title_vi: _Text
    title_en: _Text
    source: _Text
    type: FactType
    required: bool = True


class _ConditionFile(_Schema):
    fact: _Id
    op: Operator
    value: bool | int | Decimal | str
    waived_by: _Id | None = None


class _SubordinatesFile(_Schema):
    min_completed_percent: _Percent | None = None
    min_good_percent: _Percent | None = None
    source: _Text


class _LevelFile(_Schema):
    source: _Text
    min_grade: Grade | None = None
    min_points: _Percent | None = None
    conditions: list[_ConditionFile] = []
    subordinates: _SubordinatesFile | None = None


class _LevelsFile(_Schema):
    excellent: _LevelFile
    good: _LevelFile
    completed: _LevelFile


class _DisqualifierFile(_Schema):
    id: _Id
    description: _Text
    source: _Text
    when: Annotated[list[_ConditionFile], Field(min_length=1)]
    unless: _Id | None = None


class _QuotaFile(_Schema):
    enabled: bool
    share: Annotated[Decimal, Field(ge=0, le=1)]
    source: _Text


class _RuleSetFile(_Schema):
    kind: Literal["rule_set"]
    id: _FileId
    version: Annotated[int, Field(ge=1)]
    title: _Text
    title_vi: _Text
    source: _Text
    scheme: Scheme
    from_year: Annotated[int, Field(ge=1930, le=9999)]
    to_year: Annotated[int, Field(ge=1930, le=9999)] | None = None
    quota: _QuotaFile
    groups: list[_GroupFile] = []
    criteria: Annotated[list[_CriterionFile], Field(min_length=1)]
    facts: list[_FactFile] = []
    levels: _LevelsFile
    disqualifiers: list[_DisqualifierFile] = []


class _ModelFile(_Schema):
    kind: Literal["recognition_model"]
    id: _FileId
    version: Annotated[int, Field(ge=1)]
    title: _Text
    title_vi: _Text
    source: _Text
    applies_to: Annotated[list[UnitKind], Field(min_length=1)]
    criteria: Annotated[list[_CriterionFile], Field(min_length=1)]


def load_rule_book(directory: Path = DEFAULT_RULES_DIR) -> RuleBook:
    if not directory.is_dir():
        raise RuleSetError(f"{directory}: not a directory of rule set files")
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise RuleSetError(f"{directory}: no rule set files (*.toml)")
    rule_sets: list[RuleSet] = []
    models: list[RecognitionModel] = []
    for path in paths:
        loaded = load_file(path)
        if isinstance(loaded, RuleSet):
            rule_sets.append(loaded)
        else:
            models.append(loaded)
    return RuleBook(rule_sets, models)


def load_file(path: Path) -> RuleSet | RecognitionModel:
    name = path.name
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RuleSetError(f"{name}: not UTF-8 (byte {e.start})") from None
    if not unicodedata.is_normalized("NFC", text):
        line = next(i for i, s in enumerate(text.splitlines(), 1) if not unicodedata.is_normalized("NFC", s))
        # Decomposed Vietnamese looks the same but breaks search and sort, so it is refused at the door.
        raise RuleSetError(f"{name}: line {line}: text is not in Unicode NFC form (use precomposed characters)")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RuleSetError(f"{name}: invalid TOML: {e}") from None
    sha256 = hashlib.sha256(data).hexdigest()
    kind = raw.get("kind")
    if kind == "rule_set":
        return _build_rule_set(name, path.stem, _parse(name, _RuleSetFile, raw), sha256)
    if kind == "recognition_model":
        return _build_model(name, path.stem, _parse(name, _ModelFile, raw), sha256)
    raise RuleSetError(f"{name}: kind: must be 'rule_set' or 'recognition_model', got {kind!r}")


def _parse(name: str, schema: type[_M], raw: dict[str, Any]) -> _M:
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        raise RuleSetError("\n".join(f"{name}: {_loc(err['loc'])}: {err['msg']}" for err in e.errors())) from None


def _loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path or "(top level)"


class _Problems:
    """Every problem of a file at once, each as `file: field.path: message`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{self.name}: {path}: {message}")

    def raise_any(self) -> None:
        if self.items:
            raise RuleSetError("\n".join(self.items))


def _build_rule_set(name: str, stem: str, f: _RuleSetFile, sha256: str) -> RuleSet:
    p = _Problems(name)
    _check_file_id(p, f.id, stem)
    if f.to_year is not None and f.to_year < f.from_year:
        p.add("to_year", f"{f.to_year} is before from_year {f.from_year}")
    groups = _build_groups(p, f)
    criteria = _build_criteria(p, f.criteria, allowed_scale="grade" if f.scheme == "graded" else "points")
    _check_points(p, f, criteria, groups)

    facts: dict[str, _FactFile] = {}
    criterion_ids = {c.id for c in criteria}
    for i, fact in enumerate(f.facts):
        if fact.id in facts:
            p.add(f"facts[{i}].id", f"duplicate fact id '{fact.id}'")
        if fact.id in criterion_ids:
            p.add(f"facts[{i}].id", f"'{fact.id}' is already a criterion id")
        facts[fact.id] = fact
    types = {fid: fact.type for fid, fact in facts.items()}

    levels = tuple(
        _build_level(p, f.scheme, level, getattr(f.levels, level.value), types)
        for level in (Classification.EXCELLENT, Classification.GOOD, Classification.COMPLETED)
    )
    _check_level_order(p, levels)

    disqualifiers: list[Disqualifier] = []
    described: dict[str, list[str]] = {}
    for i, d in enumerate(f.disqualifiers):
        path = f"disqualifiers[{i}]"
        if any(d.id == other.id for other in disqualifiers):
            p.add(f"{path}.id", f"duplicate disqualifier id '{d.id}'")
        when = tuple(
            c
            for j, raw in enumerate(d.when)
            if (c := _build_condition(p, f"{path}.when[{j}]", raw, types, allow_waiver=False)) is not None
        )
        if d.unless is not None:
            _check_bool_fact(p, f"{path}.unless", d.unless, types)
        for c in when:
            described.setdefault(c.fact, []).append(d.description)
        disqualifiers.append(Disqualifier(d.id, d.description, d.source, when, d.unless))
    p.raise_any()

    return RuleSet(
        id=f.id,
        version=f.version,
        title=f.title,
        title_vi=f.title_vi,
        source=f.source,
        scheme=f.scheme,
        from_year=f.from_year,
        to_year=f.to_year,
        criteria=criteria,
        facts=tuple(
            Fact(x.id, x.title_vi, x.title_en, x.source, x.type, x.required, "; ".join(described.get(x.id, [])) or None)
            for x in f.facts
        ),
        levels=levels,
        disqualifiers=tuple(disqualifiers),
        quota_enabled=f.quota.enabled,
        quota_share=f.quota.share,
        quota_source=f.quota.source,
        sha256=sha256,
        groups=groups,
        file_name=name,
    )


def _build_model(name: str, stem: str, f: _ModelFile, sha256: str) -> RecognitionModel:
    p = _Problems(name)
    _check_file_id(p, f.id, stem)
    criteria = _build_criteria(p, f.criteria, allowed_scale="met")
    for i, c in enumerate(criteria):
        if c.computed and c.sub_items:
            p.add(f"criteria[{i}].sub_items", "a computed criterion has nothing to tick")
        if c.group is not None:
            p.add(f"criteria[{i}].group", "a recognition model has no point groups")
    if len(set(f.applies_to)) != len(f.applies_to):
        p.add("applies_to", "a unit kind is listed twice")
    p.raise_any()
    return RecognitionModel(
        id=f.id,
        version=f.version,
        title=f.title,
        title_vi=f.title_vi,
        source=f.source,
        applies_to=tuple(f.applies_to),
        criteria=criteria,
        sha256=sha256,
        file_name=name,
    )


def _check_file_id(p: _Problems, file_id: str, stem: str) -> None:
    # One id per file, named after it, so the file behind a recorded decision is found by its id.
    if file_id != stem:
        p.add("id", f"'{file_id}' does not match the file name (expected '{stem}')")


def _build_criteria(p: _Problems, raw: list[_CriterionFile], *, allowed_scale: Scale) -> tuple[Criterion, ...]:
    seen: set[str] = set()
    for i, c in enumerate(raw):
        path = f"criteria[{i}]"
        if c.id in seen:
            p.add(f"{path}.id", f"duplicate criterion id '{c.id}'")
        seen.add(c.id)
        if c.scale != allowed_scale:
            p.add(f"{path}.scale", f"must be '{allowed_scale}' here, got '{c.scale}'")
        if c.scale == "points" and (c.max_points is None or c.max_points <= 0):
            p.add(f"{path}.max_points", "a points criterion needs max_points above 0")
        if c.scale != "points" and c.max_points is not None:
            p.add(f"{path}.max_points", f"only a points criterion has max_points (this one is '{c.scale}')")
        if c.sub_items and c.scale != "met":
            p.add(f"{path}.sub_items", "only a met / not met criterion has sub-items")
        if c.computed and allowed_scale != "met":
            p.add(f"{path}.computed", "only a recognition model's criterion can be computed")
        sub_ids: set[str] = set()
        for j, s in enumerate(c.sub_items):
            if s.id in sub_ids:
                p.add(f"{path}.sub_items[{j}].id", f"duplicate sub-item id '{s.id}'")
            sub_ids.add(s.id)
    return tuple(
        Criterion(
            id=c.id,
            title_vi=c.title_vi,
            title_en=c.title_en,
            source=c.source,
            scale=c.scale,
            max_points=c.max_points,
            sub_items=tuple(SubItem(s.id, s.title_vi, s.title_en, s.source) for s in c.sub_items),
            computed=c.computed,
            group=c.group,
        )
        for c in raw
    )


def _build_groups(p: _Problems, f: _RuleSetFile) -> tuple[CriterionGroup, ...]:
    if f.groups and f.scheme != "points":
        p.add("groups", "only a points scheme has point groups")
    ids = [g.id for g in f.groups]
    for i, gid in enumerate(ids):
        if gid in ids[:i]:
            p.add(f"groups[{i}].id", f"duplicate group id '{gid}'")
    return tuple(CriterionGroup(g.id, g.title_vi, g.title_en, g.source, g.max_points) for g in f.groups)


def _check_points(
    p: _Problems, f: _RuleSetFile, criteria: tuple[Criterion, ...], groups: tuple[CriterionGroup, ...]
) -> None:
    if f.scheme != "points":
        return
    total = sum((c.max_points or Decimal(0) for c in criteria), Decimal(0))
    if total != HUNDRED:
        p.add("criteria", f"max_points sum to {_num(total)}, must be 100")
    if not groups:
        for i, c in enumerate(criteria):
            if c.group is not None:
                p.add(f"criteria[{i}].group", f"unknown group '{c.group}': the rule set declares no groups")
        return
    by_group = {g.id: Decimal(0) for g in groups}
    for i, c in enumerate(criteria):
        if c.group not in by_group:
            p.add(f"criteria[{i}].group", f"must be one of: {', '.join(by_group)}; got {c.group!r}")
        else:
            by_group[c.group] += c.max_points or Decimal(0)
    for i, g in enumerate(groups):
        if by_group[g.id] != g.max_points:
            p.add(
                f"groups[{i}].max_points",
                f"group '{g.id}' has {_num(g.max_points)} points but its criteria sum to {_num(by_group[g.id])}",
            )
    group_total = sum((g.max_points for g in groups), Decimal(0))
    if group_total != HUNDRED:
        p.add("groups", f"max_points sum to {_num(group_total)}, must be 100")


def _build_level(
    p: _Problems, scheme: Scheme, level: Classification, f: _LevelFile, types: Mapping[str, FactType]
) -> LevelRule:
    path = f"levels.{level.value}"
    if scheme == "graded":
        if f.min_grade is None:
            p.add(f"{path}.min_grade", "a graded rule set needs the lowest grade every criterion must reach")
        if f.min_points is not None:
            p.add(f"{path}.min_points", "a graded rule set has no points")
    else:
        if f.min_points is None:
            p.add(f"{path}.min_points", "a points rule set needs the least total of points")
        if f.min_grade is not None:
            p.add(f"{path}.min_grade", "a points rule set has no grades")
    conditions = tuple(
        c
        for i, raw in enumerate(f.conditions)
        if (c := _build_condition(p, f"{path}.conditions[{i}]", raw, types, allow_waiver=True)) is not None
    )
    subordinates = None
    if f.subordinates is not None:
        s = f.subordinates
        if s.min_completed_percent is None and s.min_good_percent is None:
            p.add(f"{path}.subordinates", "give min_completed_percent, min_good_percent or both")
        subordinates = SubordinateThreshold(s.min_completed_percent, s.min_good_percent, s.source)
    return LevelRule(level, f.source, f.min_grade, f.min_points, conditions, subordinates)


def _check_level_order(p: _Problems, levels: tuple[LevelRule, ...]) -> None:
    # A lower level asking more than a higher one would make the top-down test skip it silently.
    for upper, lower in itertools.pairwise(levels):
        path = f"levels.{lower.level.value}"
        if upper.min_points is not None and lower.min_points is not None and lower.min_points > upper.min_points:
            p.add(f"{path}.min_points", f"{_num(lower.min_points)} is above {upper.level.value}'s")
        if upper.min_grade is not None and lower.min_grade is not None and lower.min_grade.rank > upper.min_grade.rank:
            p.add(f"{path}.min_grade", f"{lower.min_grade.value} is above {upper.level.value}'s")


def _build_condition(
    p: _Problems, path: str, c: _ConditionFile, types: Mapping[str, FactType], *, allow_waiver: bool
) -> Condition | None:
    fact_type = types.get(c.fact)
    if fact_type is None:
        p.add(f"{path}.fact", f"unknown fact '{c.fact}'; the facts are: {', '.join(types) or 'none'}")
        return None
    if c.waived_by is not None:
        if allow_waiver:
            _check_bool_fact(p, f"{path}.waived_by", c.waived_by, types)
        else:
            p.add(f"{path}.waived_by", "a disqualifier is excused with `unless`, not per condition")
    value = _condition_value(c.value, fact_type)
    if value is None:
        p.add(f"{path}.value", f"{c.value!r} is not {_fact_type_text(fact_type)} (fact '{c.fact}')")
        return None
    if fact_type == "bool" and c.op not in ("==", "!="):
        p.add(f"{path}.op", f"a yes/no fact is compared with == or !=, not {c.op}")
    return Condition(c.fact, c.op, value, c.waived_by)


def _condition_value(value: bool | int | Decimal | str, fact_type: FactType) -> FactValue | None:
    if fact_type == "bool":
        return value if isinstance(value, bool) else None
    if fact_type == "grade":
        return Grade(value) if isinstance(value, str) and value in {g.value for g in Grade} else None
    if isinstance(value, bool | str):
        return None
    if fact_type == "count":
        return value if isinstance(value, int) and value >= 0 else None
    return Decimal(value) if 0 <= value <= 100 else None


def _check_bool_fact(p: _Problems, path: str, fact_id: str, types: Mapping[str, FactType]) -> None:
    if types.get(fact_id) != "bool":
        p.add(path, f"must name a yes/no fact, got '{fact_id}'")


def _check_book(rule_sets: tuple[RuleSet, ...], models: tuple[RecognitionModel, ...]) -> None:
    problems: list[str] = []
    seen: dict[str, str] = {}
    items: tuple[RuleSet | RecognitionModel, ...] = (*rule_sets, *models)
    for item in items:
        if item.id in seen:
            problems.append(f"{item.file_name}: id: '{item.id}' is already the id of {seen[item.id]}")
        seen[item.id] = item.file_name or item.id
    for i, a in enumerate(rule_sets):
        for b in rule_sets[i + 1 :]:
            overlap = max(a.from_year, b.from_year)
            if a.covers(overlap) and b.covers(overlap):
                problems.append(
                    f"{b.file_name}: from_year: {b.id} ({_years(b)}) overlaps {a.id} ({_years(a)}) in {overlap}"
                )
    # A dossier keeps one answers mapping for its rule set and its recognition model together.
    taken = {cid: rs.id for rs in rule_sets for cid in (*(c.id for c in rs.criteria), *(f.id for f in rs.facts))}
    for m in models:
        for i, c in enumerate(m.criteria):
            if c.id in taken:
                problems.append(f"{m.file_name}: criteria[{i}].id: '{c.id}' is already used by {taken[c.id]}")
    if problems:
        raise RuleSetError("\n".join(problems))


def _years(rule_set: RuleSet) -> str:
    return f"{rule_set.from_year}–{rule_set.to_year if rule_set.to_year is not None else 'onward'}"


def _ids(items: Sequence[Criterion] | Sequence[Fact]) -> str:
    return ", ".join(x.id for x in items)
