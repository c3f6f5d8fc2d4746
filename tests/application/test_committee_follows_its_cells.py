"""A committee's four-good recognition follows its cells, and lower levels are decided first, even at one instant."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import ConcurrencyConflict, DomainError, OrderingViolation
from domain.values import Classification, DossierState
from tests.application.conftest import World
from tests.application.helpers import at_one_instant, decided, endorsed

BASIS = "Kết luận kiểm tra số 12-KL/UBKT ngày 10/3/2025"


def _four_good_committee(world: World) -> tuple[Any, Any, Any]:
    cell_a = decided(world, "cell-a", four_good=True)
    cell_b = decided(world, "cell-b", four_good=True)
    committee = endorsed(world, "committee")
    world.engine.approve(world.district_approver, committee)
    assert world.engine.dossier(committee).four_good is True
    return committee, cell_a, cell_b


def test_reopening_a_cell_suspends_its_committees_recognition_naming_the_cell_and_the_legal_basis(
    world: World,
) -> None:
    committee, cell_a, _ = _four_good_committee(world)
    world.engine.reopen(world.committee_approver, cell_a, legal_basis=BASIS)
    dossier = world.engine.dossier(committee)
    assert dossier.state is DossierState.APPROVED
    assert dossier.level is Classification.GOOD
    assert dossier.four_good is None
    suspended = list(world.engine.history(committee))[-1]
    assert type(suspended).__name__ == "RecognitionSuspended"
    assert (suspended.unit_id, suspended.unit_name) == (world.units["cell-a"], "Chi bộ Tổ dân phố 1")
    assert suspended.legal_basis == BASIS
    assert suspended.criterion == "fg_subordinate_cells_four_good"
    assert "until the approver decides the committee again" in suspended.rule


def test_the_recognition_stays_suspended_until_the_approver_decides_the_committee_again(world: World) -> None:
    committee, cell_a, _ = _four_good_committee(world)
    engine = world.engine
    engine.reopen(world.committee_approver, cell_a, legal_basis=BASIS)
    engine.approve(world.committee_approver, cell_a, level=Classification.COMPLETED, reason=BASIS)
    assert engine.dossier(committee).four_good is None
    engine.reopen(world.district_approver, committee, legal_basis=BASIS)
    engine.approve(world.district_approver, committee, reason=BASIS)
    decided_again = engine.dossier(committee)
    assert decided_again.four_good is False
    assert decided_again.decision["recognition"]["criteria"]["fg_subordinate_cells_four_good"] is False
    assert decided_again.recognition_suspended is None


def test_reopening_a_cell_of_a_committee_not_recognized_changes_nothing_on_the_committee(world: World) -> None:
    cell_a = decided(world, "cell-a", four_good=True)
    decided(world, "cell-b", four_good=False)
    committee = endorsed(world, "committee")
    world.engine.approve(world.district_approver, committee)
    version = world.engine.dossier(committee).version
    world.engine.reopen(world.committee_approver, cell_a, legal_basis=BASIS)
    assert world.engine.dossier(committee).version == version


def test_a_cell_reopened_before_its_committee_is_approved_keeps_the_committee_waiting(world: World) -> None:
    cell_a = decided(world, "cell-a")
    decided(world, "cell-b")
    committee = endorsed(world, "committee")
    world.engine.reopen(world.committee_approver, cell_a, legal_basis=BASIS)
    with pytest.raises(OrderingViolation, match=r"Chi bộ Tổ dân phố 1 \(reopened\)"):
        world.engine.approve(world.district_approver, committee)


def test_approving_a_committee_at_the_instant_one_of_its_cells_is_reopened_lets_exactly_one_through(
    world: World,
) -> None:
    cell_a = decided(world, "cell-a", four_good=True)
    decided(world, "cell-b", four_good=True)
    committee = endorsed(world, "committee")
    outcomes = at_one_instant(
        world,
        [
            lambda: world.engine.approve(world.district_approver, committee),
            lambda: world.engine.reopen(world.committee_approver, cell_a, legal_basis=BASIS),
        ],
    )
    assert sum(outcome is None for outcome in outcomes) == 1
    approval, reopening = outcomes
    if reopening is not None:
        assert isinstance(reopening, ConcurrencyConflict)
        assert "someone else changed this record at the same moment" in str(reopening)
    else:
        # An approval that collides on a decision book tries again on the new state (so that approvers of
        # different units under one superior do not refuse each other): the cell is re-opened by then, and the
        # approval is refused for the order of decisions rather than for the collision.
        assert isinstance(approval, OrderingViolation)
        assert "Chi bộ Tổ dân phố 1 (reopened)" in str(approval)
    committee_state = world.engine.dossier(committee).state
    cell_state = world.engine.dossier(cell_a).state
    # Never both: a committee decided on a cell that is re-opened under it.
    assert (committee_state, cell_state) in {
        (DossierState.APPROVED, DossierState.APPROVED),
        (DossierState.ENDORSED, DossierState.REOPENED),
    }


def test_after_the_race_the_loser_can_act_again_on_the_new_state(world: World) -> None:
    cell_a = decided(world, "cell-a", four_good=True)
    decided(world, "cell-b", four_good=True)
    committee = endorsed(world, "committee")
    outcomes = at_one_instant(
        world,
        [
            lambda: world.engine.approve(world.district_approver, committee),
            lambda: world.engine.reopen(world.committee_approver, cell_a, legal_basis=BASIS),
        ],
    )
    if outcomes[0] is None:
        # The committee won: re-opening the cell now suspends its recognition.
        world.engine.reopen(world.committee_approver, cell_a, legal_basis=BASIS)
        assert world.engine.dossier(committee).four_good is None
    else:
        with pytest.raises(DomainError, match="decided after the units below it"):
            world.engine.approve(world.district_approver, committee)
