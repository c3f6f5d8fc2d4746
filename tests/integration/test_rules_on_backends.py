"""Rules across dossiers on the real stores: decisions at one instant, decision lists, committee recognition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.errors import ConcurrencyConflict, OrderingViolation
from domain.values import Classification, DossierState
from tests.application.conftest import build_world
from tests.application.helpers import at_one_instant, decided, endorsed
from workflow.engine import DecisionRequest, Engine

if TYPE_CHECKING:
    from tests.conftest import Backend

BASIS = "Kết luận kiểm tra số 12-KL/UBKT"


def test_a_committee_approved_at_the_instant_a_cell_is_reopened_lets_exactly_one_through(backend: Backend) -> None:
    world = build_world(backend.env)
    try:
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
        else:
            # The approval that collided on the committee's decision book tried again on the new state, where the
            # cell is re-opened: it is refused for the order of decisions rather than for the collision.
            assert isinstance(approval, OrderingViolation)
        states = (world.engine.dossier(committee).state, world.engine.dossier(cell_a).state)
        assert states in {
            (DossierState.APPROVED, DossierState.APPROVED),
            (DossierState.ENDORSED, DossierState.REOPENED),
        }
    finally:
        world.engine.close()


def test_a_decision_list_and_a_suspended_recognition_survive_a_reload(backend: Backend) -> None:
    world = build_world(backend.env)
    try:
        cells = [decided(world, "cell-a", four_good=True), endorsed(world, "cell-b", four_good=True)]
        world.engine.decide_list(world.committee_approver, [DecisionRequest(cells[1])])
        committee = endorsed(world, "committee")
        world.engine.decide_list(world.district_approver, [DecisionRequest(committee)])
        world.engine.reopen(world.committee_approver, cells[0], legal_basis=BASIS)
    finally:
        world.engine.close()
    reloaded = Engine(backend.env)
    try:
        dossier = reloaded.dossier(committee)
        assert dossier.level is Classification.GOOD
        assert dossier.four_good is None
        assert dossier.recognition_suspended is not None
        assert dossier.recognition_suspended["legal_basis"] == BASIS
    finally:
        reloaded.close()
