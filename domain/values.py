from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

# Plain Enums (no str mixin): the JSON transcoder would store a str-mixin member as a bare string and
# replay would hand back a `str`; a plain Enum goes through a registered transcoding and comes back whole.
#
# Each is hashed by identity (`__hash__ = object.__hash__`): a member equals only itself, so the hash agrees with
# equality, and it is computed in C. Enum's own __hash__ is a Python method (hash of the member's name), called at
# every look-up of a member in a dict or a set: the ranks, the transition tables, the encoder, a few dozen times a
# command. Only the iteration order of a set of members changes, which string hashing already varied by process.


class Role(Enum):
    __hash__ = object.__hash__

    SECRETARY = "secretary"
    REVIEWER = "reviewer"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"


class UnitKind(Enum):
    __hash__ = object.__hash__

    PARTY_CELL = "party_cell"
    GRASSROOTS_CELL = "grassroots_cell"
    GRASSROOTS_COMMITTEE = "grassroots_committee"
    SUPERIOR_COMMITTEE = "superior_committee"


class Classification(Enum):
    __hash__ = object.__hash__

    EXCELLENT = "excellent"
    GOOD = "good"
    COMPLETED = "completed"
    NOT_COMPLETED = "not_completed"
    NOT_RATED = "not_rated"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: Classification) -> bool:
        return self.rank < other.rank

    def __le__(self, other: Classification) -> bool:
        return self.rank <= other.rank


_RANK = {
    Classification.NOT_RATED: -1,
    Classification.NOT_COMPLETED: 0,
    Classification.COMPLETED: 1,
    Classification.GOOD: 2,
    Classification.EXCELLENT: 3,
}

RATED_LEVELS = (
    Classification.EXCELLENT,
    Classification.GOOD,
    Classification.COMPLETED,
    Classification.NOT_COMPLETED,
)


class NotRatedGround(Enum):
    """Why a unit is reviewed but not classified: its age at the end of the period, or a decision about it."""

    __hash__ = object.__hash__

    UNDER_SIX_MONTHS = "under_six_months"
    SUSPENDED = "suspended"
    EXEMPTED = "exempted"


class Grade(Enum):
    __hash__ = object.__hash__

    EXCELLENT = "excellent"
    GOOD = "good"
    AVERAGE = "average"
    POOR = "poor"

    @property
    def rank(self) -> int:
        return _GRADE_RANKS[self]


_GRADE_RANKS = {Grade.POOR: 0, Grade.AVERAGE: 1, Grade.GOOD: 2, Grade.EXCELLENT: 3}


class DossierState(Enum):
    __hash__ = object.__hash__

    DRAFT = "draft"
    WITHDRAWN = "withdrawn"
    SUBMITTED = "submitted"
    RETURNED_TO_UNIT = "returned_to_unit"
    ENDORSED = "endorsed"
    RETURNED_TO_COMMITTEE = "returned_to_committee"
    APPROVED = "approved"
    NOT_RATED = "not_rated"
    REOPENED = "reopened"


DECIDED_STATES = frozenset({DossierState.APPROVED, DossierState.NOT_RATED})


def four_good_after(level: Classification, recognized: bool) -> bool:
    """Four-good recognition stands only on a decision of good or better.

    Its first criterion is "completes its political tasks well" (hoàn thành tốt nhiệm vụ chính trị), the very words
    of the `good` level: a unit decided (or re-classified) below good is not four-good, whatever its checklist.
    """
    return recognized and level >= Classification.GOOD


@dataclass(frozen=True)
class Answer:
    """One criterion of a self-assessment: a grade, points, or met/not met with sub-items, and a comment."""

    grade: Grade | None = None
    points: Decimal | None = None
    met: bool | None = None
    sub_items: dict[str, bool] = field(default_factory=dict)
    comment: str = ""


@dataclass(frozen=True)
class Evidence:
    """A file attached to a dossier, by content: the bytes live in the content-addressed blob store."""

    sha256: str
    name: str
    size: int
    media_type: str
