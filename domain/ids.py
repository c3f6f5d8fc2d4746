from __future__ import annotations

from uuid import UUID, uuid5

# Natural keys map to stable ids, so "one dossier per unit and period" and "one unit per code" are enforced by the
# event store itself: a second creation collides on version 1 of the same id.
_NAMESPACE = UUID("7c0e3a52-44a1-4c6e-9d8f-2f5b0f1d6a10")


def unit_id(code: str) -> UUID:
    return uuid5(_NAMESPACE, f"unit:{code}")


def person_id(username: str) -> UUID:
    return uuid5(_NAMESPACE, f"person:{username}")


def period_id(year: int) -> UUID:
    return uuid5(_NAMESPACE, f"period:{year}")


def dossier_id(unit: UUID, year: int) -> UUID:
    return uuid5(_NAMESPACE, f"dossier:{unit}:{year}")


def decision_book_id(deciding_unit: UUID, year: int) -> UUID:
    return uuid5(_NAMESPACE, f"decisions:{deciding_unit}:{year}")
