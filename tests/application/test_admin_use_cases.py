"""The use cases the administration pages needed and the engine lacked: ending a delegation before its term, and
which administrator may manage whose sign-in."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from domain.errors import AlreadyExists, InvalidInput, NotAuthorized, NotFound
from domain.ids import person_id
from domain.values import Role, UnitKind
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


def test_an_administrator_manages_the_sign_in_of_people_holding_roles_in_their_units_only(world: World) -> None:
    engine = world.engine
    committee_admin = engine.register_person(world.admin, username="committee-admin", full_name="Văn phòng Đảng ủy")
    engine.grant_role(
        world.admin, committee_admin.value, role=Role.ADMINISTRATOR, unit_id=world.units["committee"],
        valid_from=date(2023, 1, 1), basis="Quyết định phân công",
    )
    actor = world.actor("committee-admin", Role.ADMINISTRATOR, "committee")
    assert engine.check_person_admin(actor, person_id("sec-cell-a")).username == "sec-cell-a"
    with pytest.raises(NotAuthorized, match="covers"):
        engine.check_person_admin(actor, person_id("sec-treasury"))
    newcomer = engine.register_person(actor, username="newcomer", full_name="Người mới").value
    assert engine.check_person_admin(actor, newcomer).full_name == "Người mới"
    assert engine.check_person_admin(world.admin, person_id("sec-treasury")).username == "sec-treasury"
    with pytest.raises(NotAuthorized, match="administrator role"):
        engine.check_person_admin(world.auditor, newcomer)


def test_a_unit_is_renamed_with_a_reason_and_an_empty_reason_is_refused_with_nothing_changed(world: World) -> None:
    engine, uid = world.engine, world.units["treasury"]
    before = engine.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="renaming a unit needs a reason"):
        engine.rename_unit(world.admin, uid, name="Chi bộ Kho bạc mới", effective_from=date(2024, 6, 1), reason=" ")
    assert engine.unit(uid).name == "Chi bộ Kho bạc Nhà nước"
    assert engine.recorder.max_notification_id() == before
    engine.rename_unit(
        world.admin, uid, name="Chi bộ Kho bạc mới", effective_from=date(2024, 6, 1), reason="Quyết định 9-QĐ/HU"
    )
    renamed = list(engine.history(uid))[-1]
    assert type(renamed).__name__ == "Renamed"
    assert (renamed.name, renamed.reason) == ("Chi bộ Kho bạc mới", "Quyết định 9-QĐ/HU")


def test_a_one_time_password_is_recorded_by_an_administrator_and_a_changed_one_by_its_holder_only(
    world: World,
) -> None:
    engine = world.engine
    pid = person_id("sec-cell-a")
    before = engine.recorder.max_notification_id()
    with pytest.raises(NotAuthorized):
        engine.give_one_time_password(world.auditor, pid)
    with pytest.raises(NotAuthorized, match="only Bí thư cell-a may choose their own password"):
        engine.change_own_password(world.secretary("cell-b"), pid)
    with pytest.raises(NotAuthorized, match="holds no reviewer role"):
        engine.change_own_password(world.actor("sec-cell-a", Role.REVIEWER, "committee"), pid)
    assert engine.recorder.max_notification_id() == before
    engine.give_one_time_password(world.admin, pid)
    engine.change_own_password(world.secretary("cell-a"), pid)
    given, changed = list(engine.history(pid))[-2:]
    assert (type(given).__name__, given.actor.person_id) == ("OneTimePasswordGiven", world.admin.person_id)
    assert (type(changed).__name__, changed.actor.person_id) == ("PasswordChanged", pid)
    # Who, when, as what: nothing of the password itself.
    for event in (given, changed):
        assert set(vars(event)) == {"originator_id", "originator_version", "timestamp", "actor"}


def test_a_role_revoked_once_cannot_be_revoked_again_to_give_back_the_days_it_lost(world: World) -> None:
    approver = world.engine.person(person_id("district-approver"))
    (grant,) = approver.grants.values()
    world.engine.revoke_role(world.admin, approver.id, grant.grant_id, on=date(2024, 10, 1), reason="Nghỉ hưu")
    version = world.engine.person(approver.id).version
    with pytest.raises(InvalidInput, match="already revoked on 2024-10-01"):
        world.engine.revoke_role(world.admin, approver.id, grant.grant_id, on=date(2030, 1, 1), reason="Nghỉ hưu")
    after = world.engine.person(approver.id)
    assert after.version == version
    assert after.grants[str(grant.grant_id)].revoked_on == date(2024, 10, 1)


def test_a_role_already_held_over_a_unit_for_an_overlapping_time_is_not_granted_twice(world: World) -> None:
    approver = world.engine.person(person_id("district-approver"))
    (grant,) = approver.grants.values()
    version = approver.version
    with pytest.raises(AlreadyExists, match="already holds the approver role over"):
        world.engine.grant_role(
            world.admin, approver.id, role=grant.role, unit_id=grant.unit_id, valid_from=date(2024, 6, 1),
            basis="Quyết định số 1",
        )
    assert world.engine.person(approver.id).version == version
    # Once the first has ended, the same role may be granted again from that day, and other roles at any time.
    world.engine.revoke_role(world.admin, approver.id, grant.grant_id, on=date(2024, 10, 1), reason="Nghỉ hưu")
    world.engine.grant_role(
        world.admin, approver.id, role=grant.role, unit_id=grant.unit_id, valid_from=date(2024, 10, 1),
        basis="Quyết định số 2",
    )
    world.engine.grant_role(
        world.admin, approver.id, role=Role.AUDITOR, unit_id=grant.unit_id, valid_from=date(2024, 6, 1),
        basis="Quyết định số 3",
    )
    assert len(world.engine.person(approver.id).grants) == 3


def test_renaming_a_unit_to_the_name_it_bears_is_refused_and_records_nothing(world: World) -> None:
    unit = world.engine.unit(world.units["treasury"])
    with pytest.raises(InvalidInput, match="already named"):
        world.engine.rename_unit(
            world.admin, unit.id, name=unit.current.name, effective_from=date(2024, 6, 1), reason="QĐ 6"
        )
    assert world.engine.unit(unit.id).version == unit.version


def test_closing_a_period_needs_a_reason(world: World) -> None:
    with pytest.raises(InvalidInput, match="closing a period needs a reason"):
        world.engine.close_period(world.admin, 2024, reason="  ")
    assert not world.engine.period(2024).closed


def test_moving_a_unit_under_the_unit_it_is_already_under_is_refused_as_bad_input_and_records_nothing(
    world: World,
) -> None:
    unit = world.engine.unit(world.units["cell-a"])
    assert unit.parent_id is not None
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="is already under"):
        world.engine.move_unit(
            world.admin, unit.id, parent_id=unit.parent_id, effective_from=date(2024, 6, 1), reason="QĐ 6"
        )
    assert world.engine.recorder.max_notification_id() == head


def test_a_delegation_already_made_to_the_same_deputy_for_overlapping_days_is_not_made_twice(world: World) -> None:
    principal, delegation = _deputy_of_the_district_approver(world)
    approver = world.engine.person(principal)
    grant_id = approver.delegations[str(delegation)].grant_id
    with pytest.raises(AlreadyExists, match="already delegated to the same deputy from 2024-10-01 to 2025-02-01"):
        world.engine.delegate(
            world.admin, principal, grant_id, deputy_id=person_id("deputy"), valid_from=date(2024, 12, 1),
            valid_to=date(2025, 3, 1), legal_basis="Quyết định số 15-QĐ/HU",
        )
    assert world.engine.person(principal).version == approver.version
    # Ended early, the same deputy may be given the days after the end.
    world.engine.end_delegation(world.admin, principal, delegation, on=date(2024, 11, 1), reason="Trở lại công tác")
    world.engine.delegate(
        world.admin, principal, grant_id, deputy_id=person_id("deputy"), valid_from=date(2024, 12, 1),
        valid_to=date(2025, 3, 1), legal_basis="Quyết định số 16-QĐ/HU",
    )


def test_a_unit_code_with_a_slash_is_refused_as_it_could_not_be_told_from_its_year_in_a_reference(
    world: World,
) -> None:
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="cannot contain '/'"):
        world.engine.register_unit(
            world.admin, code="cb/2", name="Chi bộ 2", kind=UnitKind.PARTY_CELL, parent_id=world.units["committee"],
            established_on=date(2020, 1, 1),
        )
    assert world.engine.recorder.max_notification_id() == head


def test_a_unit_is_not_placed_under_a_parent_before_the_parent_was_established(world: World) -> None:
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="committee was established on 2010-01-01; nothing can be placed under it"):
        world.engine.register_unit(
            world.admin, code="old-cell", name="Chi bộ cũ", kind=UnitKind.PARTY_CELL,
            parent_id=world.units["committee"], established_on=date(1990, 1, 1),
        )
    assert world.engine.recorder.max_notification_id() == head
    older = world.engine.register_unit(
        world.admin, code="old-cell", name="Chi bộ cũ", kind=UnitKind.PARTY_CELL, parent_id=world.units["district"],
        established_on=date(2001, 1, 1),
    ).value
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="nothing can be placed under it from 2005-01-01"):
        world.engine.move_unit(
            world.admin, older, parent_id=world.units["committee"], effective_from=date(2005, 1, 1), reason="QĐ 6"
        )
    assert world.engine.recorder.max_notification_id() == head


@pytest.mark.parametrize("cell", ["cell-a", "treasury"])
def test_no_unit_is_registered_or_moved_under_a_party_cell(world: World, cell: str) -> None:
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match=f"unit {cell} is a party cell; a party cell has no units under it"):
        world.engine.register_unit(
            world.admin, code="sub-cell", name="Chi bộ con", kind=UnitKind.PARTY_CELL,
            parent_id=world.units[cell], established_on=date(2020, 1, 1),
        )
    with pytest.raises(InvalidInput, match="a party cell has no units under it"):
        world.engine.move_unit(
            world.admin, world.units["cell-b"], parent_id=world.units[cell], effective_from=date(2024, 1, 1),
            reason="QĐ 7",
        )
    assert world.engine.recorder.max_notification_id() == head
    assert world.engine.unit(world.units["cell-b"]).parent_id == world.units["committee"]


def test_a_code_or_username_equal_to_an_existing_one_but_for_case_is_refused(world: World) -> None:
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(AlreadyExists, match="a unit with code 'committee' already exists; codes that differ only"):
        world.engine.register_unit(
            world.admin, code="COMMITTEE", name="Đảng bộ khác", kind=UnitKind.GRASSROOTS_COMMITTEE,
            parent_id=world.units["district"], established_on=date(2020, 1, 1),
        )
    world.engine.register_person(world.admin, username="deputy", full_name="Phó Bí thư")
    with pytest.raises(AlreadyExists, match="username 'deputy' already exists; usernames that differ only"):
        world.engine.register_person(world.admin, username="Deputy", full_name="Người khác")
    # The person's registration and its claim on the username in every case (domain/claims.py); nothing of the twin.
    assert world.engine.recorder.max_notification_id() == head + 2


@pytest.mark.parametrize("username", ["nguyen van a", "cb/1", "a\\b", "nguyen\u00a0a"])
def test_a_username_is_one_word_without_spaces_or_slashes(world: World, username: str) -> None:
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="a username is one word"):
        world.engine.register_person(world.admin, username=username, full_name="Nguyễn Văn A")
    assert world.engine.recorder.max_notification_id() == head
