"""The demo season's data (season2024.toml), checked on load: a misspelt key, a wrong type or a code that names no
unit fails with the file and the field, before anything is written to the store."""

from __future__ import annotations

import tomllib
import unicodedata
from datetime import date
from pathlib import Path
from string import Formatter
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, field_validator

from domain.values import Classification, Grade, Role, UnitKind

DEFAULT_SEASON_FILE = Path(__file__).resolve().parent / "season2024.toml"

_Text = Annotated[str, StringConstraints(min_length=1)]
_Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]
_Username = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]


class DemoDataError(ValueError):
    """The season file cannot be played: the message names the file and every field at fault."""


class _Schema(BaseModel):
    # A misspelt key must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_placeholders(text: str, allowed: frozenset[str]) -> str:
    used = {field for _, field, _, _ in Formatter().parse(text) if field is not None}
    unknown = sorted(used - allowed)
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; this text may use {_names(allowed)}")
    return text


def _names(allowed: frozenset[str]) -> str:
    return ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "no placeholder (write {{ and }} for braces)"


class _Templates(_Schema):
    """Texts filled with str.format: a placeholder that play does not fill would fail mid-season, so it fails here."""

    placeholders: ClassVar[dict[str, frozenset[str]]] = {}

    @field_validator("*")
    @classmethod
    def _known_placeholders(cls, value: object, info: ValidationInfo) -> object:
        allowed = cls.placeholders.get(info.field_name or "")
        if allowed is None:
            return value
        for text in value if isinstance(value, list) else [value]:
            assert isinstance(text, str)
            _check_placeholders(text, allowed)
        return value


class Place(_Schema):
    code: _Code
    name: _Text
    established: date


class Root(Place):
    admin_username: _Username
    admin_name: _Text


class Deadlines(_Schema):
    self_assessment: date
    review: date
    decision: date


class Period(_Schema):
    year: int = Field(ge=2000, le=2100)
    rule_set: _Text
    recognition_models: list[_Text] = []
    deadlines: Deadlines


class DemoUnit(_Schema):
    code: _Code
    name: _Text
    kind: UnitKind
    parent: _Code
    group: str = ""  # units compared for the quota of excellent; party cells have none
    level: Classification  # what the unit assesses itself at in the first season
    four_good_miss: str | None = None  # why it is not four-good, a key of `misses`; None: every criterion met
    established: date

    @field_validator("kind")
    @classmethod
    def _grassroots(cls, kind: UnitKind) -> UnitKind:
        if kind is UnitKind.SUPERIOR_COMMITTEE:
            raise ValueError("a unit of the list is grassroots; superior committees are [root], [city], [district]")
        return kind

    @field_validator("level")
    @classmethod
    def _rated(cls, level: Classification) -> Classification:
        if level is Classification.NOT_RATED:
            raise ValueError("a unit assesses itself at a level; 'not_rated' is decided, not claimed")
        return level


class Names(_Schema):
    kinh_family: list[_Text] = Field(min_length=1)
    kinh_middle: list[_Text] = Field(min_length=1)
    kinh_given: list[_Text] = Field(min_length=1)
    highland: list[_Text] = Field(min_length=1)


class Grant(_Schema):
    role: Role
    unit: _Code
    valid_from: date
    valid_to: date | None = None
    basis: _Text


class Official(_Schema):
    username: _Username
    name: _Text
    grants: list[Grant] = []


class CommitteeOfficials(_Schema):
    reviewer: _Text
    approver: _Text


class Bases(_Templates):
    placeholders: ClassVar[dict[str, frozenset[str]]] = {
        "secretary": frozenset({"unit"}),
        "committee_reviewer": frozenset({"unit"}),
        "committee_approver": frozenset({"unit"}),
    }

    secretary: _Text
    committee_reviewer: _Text
    committee_approver: _Text
    delegation: _Text
    reclassification: _Text


class ProvinceOfficial(_Schema):
    username: _Username
    name: _Text
    role: Role
    basis: _Text


class Restructuring(_Schema):
    effective: date
    merged_root_name: _Text
    basis: _Text
    officials: list[ProvinceOfficial]


class LevelNames(_Schema):
    excellent: _Text
    good: _Text
    completed: _Text
    not_completed: _Text

    def of(self, level: Classification) -> str:
        name: str = getattr(self, level.value)
        return name


class GradeComments(_Schema):
    excellent: _Text
    good: _Text
    average: _Text
    poor: _Text

    def of(self, grade: Grade) -> str:
        comment: str = getattr(self, grade.value)
        return comment


class Comments(_Schema):
    met_default: _Text
    graded: dict[str, GradeComments]
    points: dict[str, _Text]
    four_good: dict[str, _Text]


class Miss(_Schema):
    criterion: _Text
    sub_item: _Text | None = None  # None: the criterion as a whole is not met
    comment: _Text


class Evidence(_Templates):
    placeholders: ClassVar[dict[str, frozenset[str]]] = {
        "report_name": frozenset({"year"}),
        "report_lines": frozenset({"unit", "year", "level", "date"}),
        "checklist_name": frozenset({"year"}),
        "minutes_name": frozenset({"year"}),
        "minutes": frozenset({"unit_upper", "year", "level", "date", "present"}),
    }

    report_name: _Text
    report_lines: list[_Text] = Field(min_length=1)
    checklist_name: _Text
    minutes_name: _Text
    minutes: _Text


class Texts(_Schema):
    withdrawal: _Text
    restored_leadership: _Text
    pilot_endorsement: _Text
    pilot_return: _Text
    pilot_minutes_name: _Text
    pilot_minutes: _Text
    pilot_reendorsement: _Text
    district_endorsement: _Text
    district_lowering: _Text
    district_reendorsement: _Text
    city_endorsement: _Text
    not_rated: _Text
    return_to_committee: _Text
    committee_reappraisal: _Text
    agreed_with_board: _Text
    quota_full: _Text
    close: _Text
    reclassification: _Text
    province_endorsement: _Text


class Lowered(_Schema):
    level: Classification
    reason: _Text


class DistrictReview(_Schema):
    returned: dict[_Code, _Text]
    lowered: dict[_Code, Lowered]


class SeasonData(_Schema):
    root: Root
    city: Place
    district: Place
    season: Period
    next_season: Period
    units: list[DemoUnit] = Field(min_length=1)
    names: Names
    officials: list[Official]
    committee_officials: dict[_Code, CommitteeOfficials]
    bases: Bases
    restructuring: Restructuring
    level_names: LevelNames
    comments: Comments
    misses: dict[str, Miss]
    evidence: Evidence
    texts: Texts
    district_review: DistrictReview

    def unit(self, code: str) -> DemoUnit:
        return next(u for u in self.units if u.code == code)


def load_season(path: Path = DEFAULT_SEASON_FILE) -> SeasonData:
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise DemoDataError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise DemoDataError(f"{name}: not UTF-8 (byte {e.start})") from None
    if not unicodedata.is_normalized("NFC", text):
        line = next(i for i, s in enumerate(text.splitlines(), 1) if not unicodedata.is_normalized("NFC", s))
        # Decomposed Vietnamese looks the same but would make names that compare unequal to the same name typed.
        raise DemoDataError(f"{name}: line {line}: text is not in Unicode NFC form (use precomposed characters)")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DemoDataError(f"{name}: invalid TOML: {e}") from None
    try:
        data = SeasonData.model_validate(raw)
    except ValidationError as e:
        raise DemoDataError("\n".join(f"{name}: {_loc(err['loc'])}: {err['msg']}" for err in e.errors())) from None
    problems = [f"{name}: {problem}" for problem in _cross_references(data)]
    if problems:
        raise DemoDataError("\n".join(problems))
    return data


def _loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path or "(top level)"


def _cross_references(data: SeasonData) -> list[str]:
    """What one field cannot check alone: every code names a unit of the file, every unit and user is there once."""
    problems: list[str] = []
    superiors = {data.root.code, data.city.code, data.district.code}
    codes = [*superiors, *(u.code for u in data.units)]
    known = set(codes)
    if len(known) != len(codes):
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        problems.append(f"units: code {duplicates[0]!r} is given to more than one unit")
    kinds = {u.code: u.kind for u in data.units}
    for i, unit in enumerate(data.units):
        if unit.parent not in known:
            problems.append(f"units[{i}].parent: {unit.parent!r} is not a unit of this file")
        elif unit.kind is UnitKind.PARTY_CELL and kinds.get(unit.parent) is not UnitKind.GRASSROOTS_COMMITTEE:
            problems.append(f"units[{i}].parent: a party cell belongs to a grassroots committee, not {unit.parent!r}")
        elif unit.kind is UnitKind.PARTY_CELL and unit.parent not in data.committee_officials:
            # Its committee's own board and standing committee review and decide it: they must exist.
            problems.append(f"units[{i}].parent: {unit.parent!r} has no entry in [committee_officials]")
        elif unit.kind is not UnitKind.PARTY_CELL and unit.parent not in superiors:
            problems.append(f"units[{i}].parent: a grassroots unit belongs to a superior, not {unit.parent!r}")
        if unit.four_good_miss is not None and unit.four_good_miss not in data.misses:
            problems.append(f"units[{i}].four_good_miss: {unit.four_good_miss!r} is not a key of [misses]")
    for i, official in enumerate(data.officials):
        for j, grant in enumerate(official.grants):
            if grant.unit not in known:
                problems.append(f"officials[{i}].grants[{j}].unit: {grant.unit!r} is not a unit of this file")
    for code in data.committee_officials:
        if kinds.get(code) is not UnitKind.GRASSROOTS_COMMITTEE:
            problems.append(f"committee_officials.{code}: not a grassroots committee of this file")
    for table, review_codes in (
        ("returned", data.district_review.returned), ("lowered", data.district_review.lowered)
    ):
        for code in review_codes:
            if code not in kinds:
                problems.append(f"district_review.{table}.{code}: not a grassroots unit of this file")
    usernames = [
        data.root.admin_username, *(o.username for o in data.officials),
        *(u for c in data.committee_officials for u in (f"tc-{c}", f"tt-{c}")),
        *(o.username for o in data.restructuring.officials), *(f"bt-{u.code}" for u in data.units),
    ]
    if len(set(usernames)) != len(usernames):
        duplicates = sorted({u for u in usernames if usernames.count(u) > 1})
        problems.append(f"officials: username {duplicates[0]!r} is given to more than one person")
    return problems
