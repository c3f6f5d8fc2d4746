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

    def describe(self) -> str:
        text = f"{self.role.value} over {self.unit_id}"
        if self.on_behalf_of is not None:
            text += f" on behalf of {self.on_behalf_of}"
        return text
