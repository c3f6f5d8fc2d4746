"""The demo season: its data (season2024.toml, read by data.py) and the plot that plays it through the engine
(season.py). `dossierflow demo` runs `play_demo`; the constants name dossiers worth looking at."""

from web.demo.season import (
    DELEGATED,
    DELEGATION_BASIS,
    EXCELLENT,
    FOUR_GOOD_COMMITTEE,
    LATE,
    NOT_COMPLETED,
    NOT_FOUR_GOOD_COMMITTEE,
    NOT_RATED,
    QUOTA_REFUSED,
    RECLASSIFICATION_BASIS,
    RECLASSIFIED,
    RESTRUCTURING_BASIS,
    RETURNED_AND_RESUBMITTED,
    RETURNED_TO_COMMITTEE,
    SUBMITTED_2025,
    WITHDRAWN_AND_RESTORED,
    play_demo,
)

__all__ = [
    "DELEGATED",
    "DELEGATION_BASIS",
    "EXCELLENT",
    "FOUR_GOOD_COMMITTEE",
    "LATE",
    "NOT_COMPLETED",
    "NOT_FOUR_GOOD_COMMITTEE",
    "NOT_RATED",
    "QUOTA_REFUSED",
    "RECLASSIFICATION_BASIS",
    "RECLASSIFIED",
    "RESTRUCTURING_BASIS",
    "RETURNED_AND_RESUBMITTED",
    "RETURNED_TO_COMMITTEE",
    "SUBMITTED_2025",
    "WITHDRAWN_AND_RESTORED",
    "play_demo",
]
