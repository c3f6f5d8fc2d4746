"""The rule-set files: a pydantic schema for their shape, the checks across fields, then the frozen model."""

from __future__ import annotations

import hashlib
import itertools
import tomllib
import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from domain.errors import RuleSetError
from domain.values import Classification, Grade, UnitKind
from workflow.rules.facts import _fact_type_text
from workflow.rules.model import (
    DEFAULT_AGE_RULE,
    DEFAULT_RULES_DIR,
    HUNDRED,
    AgeRule,
    Condition,
    Criterion,
    CriterionGroup,
    Disqualifier,
    Fact,
    FactImplication,
    FactSum,
    FactType,
    FactValue,
    LevelRule,
    Operator,
    RecognitionModel,
    RuleBook,
    RuleSet,
    Scale,
    Scheme,
    SubItem,
    SubordinateThreshold,
    _num,
)

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
    # For a computed criterion: the rule across dossiers in words, and what happens when a subordinate changes.
    rule: _Text | None = None
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


class _SumFile(_Schema):
    total: _Id
    parts: Annotated[list[_Id], Field(min_length=1)]
    exact: bool
    description: _Text
    source: _Text


class _ImplicationFile(_Schema):
    when: Annotated[list[_ConditionFile], Field(min_length=1)]
    then: _ConditionFile
    description: _Text
    source: _Text


class _AgeFile(_Schema):
    min_months: Annotated[int, Field(ge=0, le=120)]
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
    not_rated: _AgeFile | None = None
    sums: list[_SumFile] = []
    implications: list[_ImplicationFile] = []


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
    sums = _build_sums(p, f.sums, types)
    implications = tuple(
        FactImplication(when, then, imp.description, imp.source)
        for i, imp in enumerate(f.implications)
        if (when := _build_conditions(p, f"implications[{i}].when", imp.when, types))
        and (then := _build_condition(p, f"implications[{i}].then", imp.then, types, allow_waiver=False)) is not None
    )
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
        sums=sums,
        implications=implications,
        age=AgeRule(f.not_rated.min_months, f.not_rated.source) if f.not_rated else DEFAULT_AGE_RULE,
    )


def _build_sums(p: _Problems, raw: list[_SumFile], types: Mapping[str, FactType]) -> tuple[FactSum, ...]:
    sums: list[FactSum] = []
    for i, s in enumerate(raw):
        path = f"sums[{i}]"
        named = [s.total, *s.parts]
        if len(set(named)) != len(named):
            p.add(path, "a fact appears twice in the sum")
        kinds = {types.get(fact) for fact in named}
        if None in kinds:
            unknown = [fact for fact in named if fact not in types]
            p.add(path, f"unknown fact(s) {', '.join(unknown)}; the facts are: {', '.join(types) or 'none'}")
        elif len(kinds) != 1 or kinds.pop() not in ("percent", "count"):
            p.add(path, "a sum adds facts of one numeric type (all percent or all count)")
        sums.append(FactSum(s.total, tuple(s.parts), s.exact, s.description, s.source))
    return tuple(sums)


def _build_conditions(
    p: _Problems, path: str, raw: list[_ConditionFile], types: Mapping[str, FactType]
) -> tuple[Condition, ...]:
    built = [_build_condition(p, f"{path}[{j}]", c, types, allow_waiver=False) for j, c in enumerate(raw)]
    return tuple(c for c in built if c is not None)


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
        if c.rule is not None and not c.computed:
            p.add(f"{path}.rule", "only a computed criterion states a rule across dossiers")
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
            rule=c.rule,
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






