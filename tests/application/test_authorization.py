from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

import pytest

from domain.errors import InvalidInput, NotAuthorized
from domain.ids import person_id
from domain.values import Classification, DossierState, Role
from tests.application.conftest import World
from tests.application.helpers import draft, endorsed


def test_a_secretary_acts_only_on_their_own_units_dossier(world: World) -> None:
    did = draft(world, "treasury")
    with pytest.raises(NotAuthorized):
        world.engine.submit(world.secretary("cell-a"), did)
    # Claiming a role over a unit one holds no grant over does not help either.
    impostor = world.actor("sec-cell-a", Role.SECRETARY, "treasury")
    with pytest.raises(NotAuthorized, match="holds no secretary role"):
        world.engine.submit(impostor, did)
    assert world.engine.dossier(did).state is DossierState.DRAFT


def test_a_reviewer_acts_only_on_units_directly_below_their_committee(world: World) -> None:
    did = draft(world, "cell-a")
    world.engine.submit(world.secretary("cell-a"), did)
    # The district is two levels above the cell: its reviewer does not appraise it.
    with pytest.raises(NotAuthorized, match="directly above"):
        world.engine.endorse(world.district_reviewer, did)
    world.engine.endorse(world.committee_reviewer, did)


def test_an_approver_acts_only_below_their_committee(world: World) -> None:
    did = endorsed(world, "treasury")
    with pytest.raises(NotAuthorized, match="above the unit"):
        world.engine.approve(world.committee_approver, did)
    world.engine.approve(world.district_approver, did)


def test_an_auditor_reads_everything_and_acts_on_nothing(world: World) -> None:
    did = endorsed(world, "treasury")
    assert world.engine.available_actions(world.auditor, did) == []
    with pytest.raises(NotAuthorized, match="needs the approver role"):
        world.engine.approve(world.auditor, did)
    assert list(world.engine.history(did))


def test_nobody_reviews_or_approves_a_dossier_they_submitted(world: World) -> None:
    # The treasury's secretary also sits on the district's organization board and standing committee.
    pid = person_id("sec-treasury")
    for role in (Role.REVIEWER, Role.APPROVER):
        world.engine.grant_role(
            world.admin, pid, role=role, unit_id=world.units["district"], valid_from=date(2023, 1, 1), basis="test"
        )
    did = draft(world, "treasury")
    world.engine.submit(world.secretary("treasury"), did)
    as_reviewer = world.actor("sec-treasury", Role.REVIEWER, "district")
    assert world.engine.available_actions(as_reviewer, did) == []
    with pytest.raises(NotAuthorized, match="they submitted"):
        world.engine.endorse(as_reviewer, did)
    world.engine.endorse(world.district_reviewer, did)
    as_approver = world.actor("sec-treasury", Role.APPROVER, "district")
    assert world.engine.available_actions(as_approver, did) == []
    with pytest.raises(NotAuthorized, match="they submitted"):
        world.engine.approve(as_approver, did)
    with pytest.raises(NotAuthorized, match="they submitted"):
        world.engine.return_to_committee(as_approver, did, reason="Tự trả lại")
    # Nor through a deputy acting on the submitter's behalf.
    (approver_grant,) = [g for g in world.engine.person(pid).grants.values() if g.role is Role.APPROVER]
    deputy = world.engine.register_person(world.admin, username="deputy", full_name="Phó Bí thư").value
    world.engine.delegate(
        world.admin,
        pid,
        approver_grant.grant_id,
        deputy_id=deputy,
        valid_from=date(2024, 10, 1),
        valid_to=date(2025, 2, 1),
        legal_basis="Quyết định số 9-QĐ/HU",
    )
    with pytest.raises(NotAuthorized, match="they submitted"):
        world.engine.approve(world.actor("deputy", Role.APPROVER, "district", on_behalf_of="sec-treasury"), did)
    world.engine.approve(world.district_approver, did)


def test_a_revoked_grant_gives_no_right_from_its_revocation_on(world: World) -> None:
    did = draft(world, "treasury")
    person = world.engine.person(person_id("sec-treasury"))
    (grant,) = person.grants.values()
    world.engine.revoke_role(world.admin, person.id, grant.grant_id, on=date(2024, 10, 1), reason="Chuyển công tác")
    with pytest.raises(NotAuthorized, match="valid on 2024-11-01"):
        world.engine.submit(world.secretary("treasury"), did)


def test_a_grant_that_starts_later_gives_no_right_yet(world: World) -> None:
    pid = world.engine.register_person(world.admin, username="new-secretary", full_name="Bí thư mới").value
    world.engine.grant_role(
        world.admin, pid, role=Role.SECRETARY, unit_id=world.units["treasury"], valid_from=date(2025, 1, 1)
    )
    did = draft(world, "treasury")
    with pytest.raises(NotAuthorized):
        world.engine.submit(world.actor("new-secretary", Role.SECRETARY, "treasury"), did)


def _deputy_of_the_district_approver(world: World, valid_to: date, legal_basis: str) -> UUID:
    """A deputy, and the district approver's delegation to them from 1 October 2024; the deputy's id."""
    approver = world.engine.person(person_id("district-approver"))
    (grant,) = approver.grants.values()
    deputy = world.engine.register_person(world.admin, username="deputy", full_name="Phó Bí thư Huyện ủy").value
    world.engine.delegate(
        world.district_approver,
        approver.id,
        grant.grant_id,
        deputy_id=deputy,
        valid_from=date(2024, 10, 1),
        valid_to=valid_to,
        legal_basis=legal_basis,
    )
    return deputy


def test_a_delegation_needs_its_legal_basis(world: World) -> None:
    with pytest.raises(InvalidInput, match="legal basis"):
        _deputy_of_the_district_approver(world, date(2025, 2, 1), legal_basis="")


def test_a_deputy_approves_on_behalf_of_the_approver_only_while_the_delegation_is_valid(world: World) -> None:
    deputy_actor = world.actor("deputy", Role.APPROVER, "district", on_behalf_of="district-approver")
    did = endorsed(world, "treasury")
    with pytest.raises(NotAuthorized, match="no delegation"):
        world.engine.approve(deputy_actor, did)

    deputy = _deputy_of_the_district_approver(world, date(2025, 2, 1), "Quyết định số 15-QĐ/HU ngày 01/10/2024")
    world.engine.approve(deputy_actor, did)
    approved = list(world.engine.history(did))[-1]
    approver = world.engine.person(person_id("district-approver"))
    (grant,) = approver.grants.values()
    assert approved.actor.on_behalf_of == approver.id
    assert approved.actor.person_id == deputy
    assert approved.actor.grant_id == grant.grant_id
    assert approved.actor.delegation_id is not None
    assert approver.delegations[str(approved.actor.delegation_id)].legal_basis == (
        "Quyết định số 15-QĐ/HU ngày 01/10/2024"
    )


def test_a_delegation_does_not_outlive_its_period(world: World) -> None:
    _deputy_of_the_district_approver(world, date(2024, 12, 1), "Quyết định số 15-QĐ/HU")
    did = endorsed(world, "treasury")
    world.clock.set(datetime(2024, 12, 5, 3, 0, tzinfo=UTC))
    with pytest.raises(NotAuthorized, match="no delegation"):
        world.engine.approve(world.actor("deputy", Role.APPROVER, "district", on_behalf_of="district-approver"), did)


def test_only_an_administrator_over_the_unit_manages_it(world: World) -> None:
    with pytest.raises(NotAuthorized, match="administrator role"):
        world.engine.register_person(world.district_approver, username="x", full_name="X")
    local_admin = world.engine.register_person(world.admin, username="local-admin", full_name="Cán bộ tổ chức").value
    world.engine.grant_role(
        world.admin, local_admin, role=Role.ADMINISTRATOR, unit_id=world.units["committee"], valid_from=date(2023, 1, 1)
    )
    actor = world.actor("local-admin", Role.ADMINISTRATOR, "committee")
    world.engine.rename_unit(
        actor, world.units["cell-a"], name="Chi bộ Tổ dân phố số 1", effective_from=date(2024, 6, 1), reason="QĐ 4"
    )
    with pytest.raises(NotAuthorized, match="outside"):
        world.engine.rename_unit(
            actor, world.units["treasury"], name="X", effective_from=date(2024, 6, 1), reason="QĐ 5"
        )
    with pytest.raises(NotAuthorized, match="top-level"):
        world.engine.close_period(actor, 2024, reason="x")


def test_rights_follow_the_hierarchy_after_a_unit_moves(world: World) -> None:
    did = draft(world, "cell-a")
    world.engine.submit(world.secretary("cell-a"), did)
    world.engine.move_unit(
        world.admin,
        world.units["cell-a"],
        parent_id=world.units["district"],
        effective_from=date(2024, 11, 1),
        reason="Sắp xếp lại tổ chức",
    )
    with pytest.raises(NotAuthorized):
        world.engine.endorse(world.committee_reviewer, did)
    assert world.engine.endorse(world.district_reviewer, did).value is Classification.GOOD


def test_the_hierarchy_as_of_a_date_shows_units_where_and_as_they_were(world: World) -> None:
    world.engine.move_unit(
        world.admin,
        world.units["cell-a"],
        parent_id=world.units["district"],
        effective_from=date(2025, 7, 1),
        reason="Sắp xếp tổ chức bộ máy",
    )
    world.engine.rename_unit(
        world.admin, world.units["committee"], name="Đảng bộ phường Lào Cai", effective_from=date(2025, 7, 1),
        reason="Sắp xếp tổ chức bộ máy",
    )
    world.engine.dissolve_unit(world.admin, world.units["treasury"], effective_from=date(2025, 7, 1), reason="Hợp nhất")

    def tree(day: date) -> list[tuple[int, str]]:
        return [(depth, version.name) for depth, _, version in world.engine.hierarchy(day)]

    assert tree(date(2024, 12, 31)) == [
        (0, "Huyện ủy Mường Khương"),
        (1, "Chi bộ Kho bạc Nhà nước"),
        (1, "Đảng bộ phường Kim Tân"),
        (2, "Chi bộ Tổ dân phố 1"),
        (2, "Chi bộ Tổ dân phố 2"),
    ]
    assert tree(date(2025, 7, 1)) == [
        (0, "Huyện ủy Mường Khương"),
        (1, "Chi bộ Tổ dân phố 1"),
        (1, "Đảng bộ phường Lào Cai"),
        (2, "Chi bộ Tổ dân phố 2"),
    ]
    assert tree(date(1999, 1, 1)) == []


def test_a_delegation_cannot_cover_days_the_delegated_grant_does_not(world: World) -> None:
    approver = world.engine.person(person_id("district-approver"))
    (grant,) = approver.grants.values()
    deputy = world.engine.register_person(world.admin, username="deputy", full_name="Phó Bí thư Huyện ủy").value
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="cannot start before the delegated role does"):
        world.engine.delegate(
            world.district_approver, approver.id, grant.grant_id, deputy_id=deputy, valid_from=date(2022, 6, 1),
            valid_to=date(2023, 6, 1), legal_basis="QĐ 15",
        )
    world.engine.revoke_role(
        world.admin, approver.id, grant.grant_id, on=date(2025, 1, 1), reason="Nghỉ hưu"
    )
    with pytest.raises(InvalidInput, match="cannot cover days the delegated role does not"):
        world.engine.delegate(
            world.district_approver, approver.id, grant.grant_id, deputy_id=deputy, valid_from=date(2024, 10, 1),
            valid_to=date(2025, 6, 1), legal_basis="QĐ 15",
        )
    assert world.engine.recorder.max_notification_id() == head + 1
    assert world.engine.person(approver.id).delegations == {}
