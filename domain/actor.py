from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.values import Role


@dataclass(frozen=True)
class Actor:
    """Who acts, as what, over which unit, and on whose behalf (a delegation) if not their own grant."""

    person_id: UUID
    role: Role
    unit_id: UUID
    on_behalf_of: UUID | None = None
    # Filled in by the engine once authorized: the grant, and the delegation if any, that the action rests on.
    grant_id: UUID | None = None
    delegation_id: UUID | None = None

    def claim(self) -> Actor:
        """The actor as a caller states it, without what the engine found to authorize it."""
        return Actor(self.person_id, self.role, self.unit_id, self.on_behalf_of)

    def describe(self) -> str:
        text = f"{self.role.value} over {self.unit_id}"
        if self.on_behalf_of is not None:
            text += f" on behalf of {self.on_behalf_of}"
        return text
