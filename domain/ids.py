from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

from domain.errors import InvalidInput
from domain.messages import N_, Message
from domain.text import describe_character

# Natural keys map to stable ids, so "one dossier per unit and period" and "one unit per code" are enforced by the
# event store itself: a second creation collides on version 1 of the same id.
_NAMESPACE = UUID("7c0e3a52-44a1-4c6e-9d8f-2f5b0f1d6a10")
# uuid5 hashes with SHA-1 on every call, and a command derives several ids (its period, its dossier, a decision
# book): the functions are pure, so their answers are kept (errors are not cached: a refused name is refused again).
_IDS_KEPT = 1 << 16


def _encodable(text: str, what: str) -> str:
    # uuid5 hashes the UTF-8 bytes of the name; a lone surrogate (an undecodable byte of a command line) has none.
    for char in text:
        if "\ud800" <= char <= "\udfff":
            raise InvalidInput(
                N_("%(what)s contains %(character)s"), what=Message(what), character=describe_character(char)
            )
    return text


@lru_cache(maxsize=_IDS_KEPT, typed=True)
def unit_id(code: str) -> UUID:
    # Outside the f-string: Babel reads no call inside one, and the phrase must reach the catalogs.
    checked = _encodable(code, N_("a unit code"))
    return uuid5(_NAMESPACE, f"unit:{checked}")


@lru_cache(maxsize=_IDS_KEPT, typed=True)
def person_id(username: str) -> UUID:
    checked = _encodable(username, N_("a username"))
    return uuid5(_NAMESPACE, f"person:{checked}")


@lru_cache(maxsize=_IDS_KEPT, typed=True)
def period_id(year: int) -> UUID:
    return uuid5(_NAMESPACE, f"period:{year}")


@lru_cache(maxsize=_IDS_KEPT, typed=True)
def dossier_id(unit: UUID, year: int) -> UUID:
    return uuid5(_NAMESPACE, f"dossier:{unit}:{year}")


@lru_cache(maxsize=_IDS_KEPT, typed=True)
def decision_book_id(deciding_unit: UUID, year: int) -> UUID:
    return uuid5(_NAMESPACE, f"decisions:{deciding_unit}:{year}")


@lru_cache(maxsize=_IDS_KEPT, typed=True)
def name_claim_id(kind: str, key: str) -> UUID:
    """The claim on a code or username in every spelling of it (`key`: its domain.text.case_key): twins share it,
    so the store itself refuses the second registration, however close together the two are saved."""
    return uuid5(_NAMESPACE, f"claim:{kind}:{key}")
