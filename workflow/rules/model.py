"""The rule book as the engine sees it (frozen, plain, hashable), and the results of evaluating it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

from domain.errors import RuleSetError
from domain.messages import N_, Message, Titled
from domain.values import Classification, Grade, UnitKind

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "rulesets"

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
    rule: str | None = None

    @cached_property
    def sub_item_ids(self) -> tuple[str, ...]:
        # Asked for every answer checked; a criterion, loaded once, never changes.
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
class FactSum:
    """Facts that add up: `parts` sum to `total` (exact), or to at most `total`.

    With one figure of an exact sum missing, the evaluator derives it; figures that do not add up are refused.
    """

    total: str
    parts: tuple[str, ...]
    exact: bool
    description: str
    source: str


@dataclass(frozen=True)
class FactImplication:
    """When every `when` condition holds, `then` must hold; a missing `then` fact compared with == is derived."""

    when: tuple[Condition, ...]
    then: Condition
    description: str
    source: str


@dataclass(frozen=True)
class AgeRule:
    """Units younger than this at the end of the period are reviewed but not classified."""

    min_months: int
    source: str


DEFAULT_AGE_RULE = AgeRule(
    6,
    "Regulation 124-QĐ/TW; Guidance 25-HD/BTCTW: units under 6 months old at the end of the period (31 December) "
    "are reviewed but not classified",
)


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
    sums: tuple[FactSum, ...] = ()
    implications: tuple[FactImplication, ...] = ()
    age: AgeRule = DEFAULT_AGE_RULE

    def criterion(self, criterion_id: str) -> Criterion:
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise RuleSetError(
            N_("rule set %(rule_set)s has no criterion '%(criterion)s'; its criteria are: %(known)s"),
            rule_set=self.id, criterion=criterion_id, known=_ids(self.criteria),
        )

    @cached_property
    def facts_by_id(self) -> dict[str, Fact]:
        """The facts by id (the first of an id, as fact() finds it): an evaluation looks facts up a few dozen times."""
        index: dict[str, Fact] = {}
        for f in self.facts:
            index.setdefault(f.id, f)
        return index

    def fact(self, fact_id: str) -> Fact:
        found = self.facts_by_id.get(fact_id)
        if found is not None:
            return found
        raise RuleSetError(
            N_("rule set %(rule_set)s has no fact '%(fact)s'; its facts are: %(known)s"),
            rule_set=self.id, fact=fact_id, known=_ids(self.facts),
        )

    def level(self, level: Classification) -> LevelRule:
        for rule in self.levels:
            if rule.level is level:
                return rule
        raise RuleSetError(
            N_("rule set %(rule_set)s has no conditions for level %(level)s"), rule_set=self.id, level=level
        )

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
            N_("recognition model %(model)s has no criterion '%(criterion)s'; its criteria are: %(known)s"),
            model=self.id, criterion=criterion_id, known=_ids(self.criteria),
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
                N_("unknown rule set '%(rule_set)s'; known rule sets: %(known)s"),
                rule_set=rule_set_id, known=", ".join(self._by_id) or Message(N_("none")),
            ) from None

    def rule_set_for_year(self, year: int) -> RuleSet:
        for rs in self._rule_sets:
            if rs.covers(year):
                return rs
        known = ", ".join(f"{rs.id} ({_years(rs)})" for rs in self._rule_sets) or Message(N_("none"))
        raise RuleSetError(
            N_("no rule set covers the year %(year)s; known rule sets: %(known)s"), year=year, known=known
        )

    def recognition(self, model_id: str) -> RecognitionModel:
        try:
            return self._models_by_id[model_id]
        except KeyError:
            raise RuleSetError(
                N_("unknown recognition model '%(model)s'; known models: %(known)s"),
                model=model_id, known=", ".join(self._models_by_id) or Message(N_("none")),
            ) from None

    def recognition_for(self, model_ids: Sequence[str], kind: UnitKind) -> RecognitionModel | None:
        matching = [m for m in map(self.recognition, model_ids) if kind in m.applies_to]
        if len(matching) > 1:
            raise RuleSetError(
                N_("several recognition models apply to %(kind)s: %(models)s"),
                kind=kind, models=", ".join(m.id for m in matching),
            )
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
    # The same lines as sentences a page translates; `explanation` is their English, the words decisions record.
    lines: tuple[Message, ...] = field(default=(), compare=False, repr=False)

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
    # As in Evaluation: the explanation's lines as sentences, for a page to translate.
    lines: tuple[Message, ...] = field(default=(), compare=False, repr=False)

    def as_record(self) -> dict[str, object]:
        return {
            "model_id": self.model_id,
            "model_version": self.model_version,
            "model_sha256": self.model_sha256,
            "recognized": self.recognized,
            "criteria": dict(self.criteria),
            "explanation": list(self.explanation),
        }



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


def titled(owner: str, item: Criterion | SubItem | Fact) -> Titled:
    """An item as a sentence names it: by its id in English, by its title on a page."""
    return Titled(owner, item.id, item.title_vi, item.title_en)


def titled_fact(rule_set: RuleSet, fact_id: str) -> Titled | str:
    """A fact named by its id (a waiver, a disqualifier's excuse): titled when the rule set has it."""
    found = next((f for f in rule_set.facts if f.id == fact_id), None)
    return titled(rule_set.id, found) if found is not None else fact_id


def _ids(items: Sequence[Criterion] | Sequence[Fact]) -> str:
    return ", ".join(x.id for x in items)


def _num(value: Decimal) -> str:
    # 100, not 1E+2 nor 100.00; 89.99 stays 89.99.
    return format(value.normalize(), "f")


def _grades() -> str:
    return " | ".join(g.value for g in Grade)

