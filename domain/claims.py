"""A claim on a code or username in every spelling that differs from it only in case (domain.text.case_key).

Units and persons have ids derived from the exact text of their code or username (domain/ids.py), so the store
refuses only an exact second registration. A claim's id is derived from the case key instead, and it is created in
the same atomic save as the registration: of two twins saved at the same instant ("Kim-Tan", "kim-tan"), the second
collides on version 1 of the claim, and nothing of it is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.ids import name_claim_id
from domain.text import case_key

NameKind = Literal["code", "username"]


class NameClaim(Aggregate):
    @staticmethod
    def create_id(kind: str, key: str) -> UUID:
        return name_claim_id(kind, key)

    @classmethod
    def claim(cls, *, kind: NameKind, name: str, holder_id: UUID, actor: Actor, timestamp: datetime) -> NameClaim:
        """`name` as registered (already checked by the registration), held by the unit or person `holder_id`."""
        return cls(kind=kind, key=case_key(name), name=name, holder_id=holder_id, actor=actor, timestamp=timestamp)

    @event("Claimed")
    def __init__(
        self, kind: str, key: str, name: str, holder_id: UUID, actor: Actor, timestamp: datetime
    ) -> None:
        self.kind = kind
        self.key = key
        self.name = name
        self.holder_id = holder_id


def claim_id(kind: NameKind, name: str) -> UUID:
    return name_claim_id(kind, case_key(name))
