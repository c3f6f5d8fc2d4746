"""Who may read the decided classifications below a unit (reports, exports, decision lists): the engine's answer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.errors import NotAuthorized
from domain.values import Role
from tests.application.conftest import World


@pytest.mark.parametrize("username", ["district-reviewer", "district-approver", "auditor"])
def test_the_districts_reviewer_approver_and_auditor_read_every_unit_below_it(world: World, username: str) -> None:
    role = {"district-reviewer": Role.REVIEWER, "district-approver": Role.APPROVER}.get(username, Role.AUDITOR)
    actor = world.actor(username, role, "district")
    for unit in ("district", "committee", "cell-a", "treasury"):
        world.engine.authorize_reading(actor, world.units[unit], year=2024)


def test_an_administrator_reads_the_units_below_the_unit_their_role_covers(world: World) -> None:
    world.engine.authorize_reading(world.admin, world.units["cell-b"], year=2024)


def test_a_committees_reviewer_reads_its_cells_but_not_a_sibling_nor_the_district(world: World) -> None:
    world.engine.authorize_reading(world.committee_reviewer, world.units["cell-a"])
    for unit in ("treasury", "district"):
        with pytest.raises(NotAuthorized, match="outside the units your reviewer role covers"):
            world.engine.authorize_reading(world.committee_reviewer, world.units[unit])


def test_a_secretary_reads_no_report_not_even_of_their_own_unit(world: World) -> None:
    with pytest.raises(NotAuthorized, match="you act as secretary"):
        world.engine.authorize_reading(world.secretary("cell-a"), world.units["cell-a"])


def test_claiming_a_reading_role_one_does_not_hold_is_refused(world: World) -> None:
    impostor = world.actor("sec-cell-a", Role.AUDITOR, "district")
    with pytest.raises(NotAuthorized, match="holds no auditor role"):
        world.engine.authorize_reading(impostor, world.units["cell-a"])


def test_a_revoked_grant_reads_nothing(world: World) -> None:
    auditor = world.engine.person(world.auditor.person_id)
    grant = next(iter(auditor.grants.values()))
    world.engine.revoke_role(world.admin, auditor.id, grant.grant_id, on=date(2024, 11, 1), reason="left the post")
    with pytest.raises(NotAuthorized, match="holds no auditor role"):
        world.engine.authorize_reading(world.auditor, world.units["cell-a"], year=2024)


def test_a_cell_moved_away_since_is_still_read_by_its_old_committee_for_the_period_before_the_move(
    world: World,
) -> None:
    world.engine.move_unit(
        world.admin, world.units["cell-a"], parent_id=world.units["district"], effective_from=date(2025, 7, 1),
        reason="restructuring",
    )
    world.clock.set(datetime(2025, 8, 1, 2, 0, tzinfo=UTC))
    # 2024 was decided under the committee: its reviewer still reads it; the cell today is no longer theirs.
    world.engine.authorize_reading(world.committee_reviewer, world.units["cell-a"], year=2024)
    with pytest.raises(NotAuthorized, match="outside the units"):
        world.engine.authorize_reading(world.committee_reviewer, world.units["cell-a"])
