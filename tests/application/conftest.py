from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from uuid import UUID

import pytest

from domain.actor import Actor
from domain.ids import person_id
from domain.values import Role, UnitKind
from workflow.clock import SimulatedClock
from workflow.engine import Engine


@dataclass
class World:
    """A district with one grassroots committee of two cells, a grassroots cell, and a person for every role."""

    engine: Engine
    clock: SimulatedClock
    admin: Actor
    units: dict[str, UUID] = field(default_factory=dict)

    def actor(self, username: str, role: Role, unit: str, on_behalf_of: str | None = None) -> Actor:
        return Actor(person_id(username), role, self.units[unit], person_id(on_behalf_of) if on_behalf_of else None)

    def secretary(self, unit: str) -> Actor:
        return self.actor(f"sec-{unit}", Role.SECRETARY, unit)

    @property
    def district_reviewer(self) -> Actor:
        return self.actor("district-reviewer", Role.REVIEWER, "district")

    @property
    def district_approver(self) -> Actor:
        return self.actor("district-approver", Role.APPROVER, "district")

    @property
    def committee_reviewer(self) -> Actor:
        return self.actor("committee-reviewer", Role.REVIEWER, "committee")

    @property
    def committee_approver(self) -> Actor:
        return self.actor("committee-approver", Role.APPROVER, "committee")

    @property
    def auditor(self) -> Actor:
        return self.actor("auditor", Role.AUDITOR, "district")

    def person(self, username: str, full_name: str, grants: list[tuple[Role, str]]) -> UUID:
        pid = self.engine.register_person(self.admin, username=username, full_name=full_name).value
        for role, unit in grants:
            self.engine.grant_role(
                self.admin, pid, role=role, unit_id=self.units[unit], valid_from=date(2023, 1, 1), basis="test"
            )
        return pid


def build_world(env: dict[str, str] | None = None) -> World:
    clock = SimulatedClock(datetime(2024, 1, 2, 1, 0, tzinfo=UTC))
    engine = Engine(env or {"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    admin = engine.install(
        root_code="district",
        root_name="Huyện ủy Mường Khương",
        established_on=date(2000, 1, 1),
        admin_username="admin",
        admin_name="Quản trị viên",
    ).value
    world = World(engine, clock, admin, {"district": admin.unit_id})
    layout = [
        ("committee", "Đảng bộ phường Kim Tân", UnitKind.GRASSROOTS_COMMITTEE, "district"),
        ("cell-a", "Chi bộ Tổ dân phố 1", UnitKind.PARTY_CELL, "committee"),
        ("cell-b", "Chi bộ Tổ dân phố 2", UnitKind.PARTY_CELL, "committee"),
        ("treasury", "Chi bộ Kho bạc Nhà nước", UnitKind.GRASSROOTS_CELL, "district"),
    ]
    for code, name, kind, parent in layout:
        world.units[code] = engine.register_unit(
            admin, code=code, name=name, kind=kind, parent_id=world.units[parent], established_on=date(2010, 1, 1)
        ).value
    for code in ("committee", "cell-a", "cell-b", "treasury"):
        world.person(f"sec-{code}", f"Bí thư {code}", [(Role.SECRETARY, code)])
    world.person("district-reviewer", "Ban Tổ chức Huyện ủy", [(Role.REVIEWER, "district")])
    world.person("district-approver", "Thường trực Huyện ủy", [(Role.APPROVER, "district")])
    world.person("committee-reviewer", "Ban Tổ chức Đảng ủy", [(Role.REVIEWER, "committee")])
    world.person("committee-approver", "Thường trực Đảng ủy", [(Role.APPROVER, "committee")])
    world.person("auditor", "Ủy ban Kiểm tra", [(Role.AUDITOR, "district")])
    engine.open_period(
        admin,
        year=2024,
        recognition_models=["four-good-cell-LC2024", "four-good-committee-LC2024"],
        deadlines={"self_assessment": date(2024, 12, 15), "review": date(2024, 12, 25), "decision": date(2025, 1, 15)},
    )
    clock.set(datetime(2024, 11, 1, 2, 0, tzinfo=UTC))
    return world


@pytest.fixture
def world() -> World:
    return build_world()
