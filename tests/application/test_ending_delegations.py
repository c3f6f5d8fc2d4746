"""Ending a delegation before its term: the use case the administration pages needed and the engine lacked."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from domain.errors import InvalidInput, NotAuthorized, NotFound
from domain.ids import person_id
from domain.values import Role
from tests.application.conftest import World
from tests.application.helpers import endorsed


def _deputy_of_the_district_approver(world: World) -> tuple[UUID, UUID]:
    approver = world.engine.person(person_id("district-approver"))
    (grant,) = approver.grants.values()
    deputy = world.engine.register_person(world.admin, username="deputy", full_name="Phó Bí thư Huyện ủy").value
    delegation = world.engine.delegate(
        world.admin, approver.id, grant.grant_id, deputy_id=deputy, valid_from=date(2024, 10, 1),
        valid_to=date(2025, 2, 1), legal_basis="Quyết định số 15-QĐ/HU",
    ).value
    return approver.id, delegation


def test_a_deputy_may_no_longer_act_once_an_administrator_ends_the_delegation(world: World) -> None:
    deputy_actor = world.actor("deputy", Role.APPROVER, "district", on_behalf_of="district-approver")
    did = endorsed(world, "treasury")
    principal, delegation = _deputy_of_the_district_approver(world)
    world.engine.end_delegation(
        world.admin, principal, delegation, on=date(2024, 10, 15), reason="Đã có quyết định mới"
    )
    ended = world.engine.person(principal).delegations[str(delegation)]
    assert ended.revoked_on == date(2024, 10, 15)
    with pytest.raises(NotAuthorized, match="no delegation"):
        world.engine.approve(deputy_actor, did)
    event = list(world.engine.history(principal))[-1]
    assert type(event).__name__ == "DelegationEnded"
    assert event.reason == "Đã có quyết định mới"
    assert event.actor.person_id == world.admin.person_id


def test_the_holder_of_a_grant_may_end_their_own_delegation(world: World) -> None:
    principal, delegation = _deputy_of_the_district_approver(world)
    world.engine.end_delegation(
        world.district_approver, principal, delegation, on=date(2024, 11, 1), reason="Trở lại công tác"
    )
    assert world.engine.person(principal).delegations[str(delegation)].revoked_on == date(2024, 11, 1)


def test_nobody_else_may_end_a_delegation(world: World) -> None:
    principal, delegation = _deputy_of_the_district_approver(world)
    with pytest.raises(NotAuthorized, match="administrator"):
        world.engine.end_delegation(world.auditor, principal, delegation, on=date(2024, 11, 1), reason="x")
    assert world.engine.person(principal).delegations[str(delegation)].revoked_on is None


def test_ending_a_delegation_needs_a_reason_and_happens_once(world: World) -> None:
    principal, delegation = _deputy_of_the_district_approver(world)
    with pytest.raises(InvalidInput, match="reason"):
        world.engine.end_delegation(world.admin, principal, delegation, on=date(2024, 11, 1), reason="  ")
    world.engine.end_delegation(world.admin, principal, delegation, on=date(2024, 11, 1), reason="Hết nhiệm vụ")
    with pytest.raises(InvalidInput, match="already ended"):
        world.engine.end_delegation(world.admin, principal, delegation, on=date(2024, 11, 2), reason="Lần nữa")
    assert world.engine.person(principal).delegations[str(delegation)].revoked_on == date(2024, 11, 1)


def test_ending_an_unknown_delegation_is_not_found(world: World) -> None:
    principal, _ = _deputy_of_the_district_approver(world)
    with pytest.raises(NotFound, match="no delegation"):
        world.engine.end_delegation(world.admin, principal, principal, on=date(2024, 11, 1), reason="x")
