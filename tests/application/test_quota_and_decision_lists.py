"""The quota of excellent does not depend on the order of decisions; a group can be decided as one decision list."""

from __future__ import annotations

import random
from datetime import date
from uuid import UUID

import pytest

from domain.errors import QuotaExceeded
from domain.values import Classification, DossierState, Role, UnitKind
from tests.application.conftest import World, build_world
from tests.application.helpers import at_one_instant, endorsed
from workflow.engine import DecisionRequest

EXC, GOOD, DONE = Classification.EXCELLENT, Classification.GOOD, Classification.COMPLETED


def _group(world: World, proposals: list[Classification]) -> list[UUID]:
    """Grassroots cells of one group under the district, each endorsed with its proposal."""
    dossiers = []
    for n, level in enumerate(proposals):
        code = f"gc-{n}"
        world.units[code] = world.engine.register_unit(
            world.admin, code=code, name=f"Chi bộ cơ sở số {n}", kind=UnitKind.GRASSROOTS_CELL,
            parent_id=world.units["district"], established_on=date(2010, 1, 1), group="agencies",
        ).value
        world.person(f"sec-{code}", f"Bí thư {n}", [(Role.SECRETARY, code)])
        dossiers.append(endorsed(world, code, level))
    return dossiers


def _decide_in_order(world: World, dossiers: list[UUID]) -> list[UUID]:
    """Approve each as proposed, in this order; the dossiers refused by the quota."""
    refused = []
    for did in dossiers:
        try:
            world.engine.approve(world.district_approver, did)
        except QuotaExceeded:
            refused.append(did)
    return refused


@pytest.mark.parametrize("goods_first", [True, False])
def test_ten_good_or_better_allow_two_excellent_whatever_the_order(goods_first: bool) -> None:
    world = build_world()
    dossiers = _group(world, [GOOD] * 7 + [EXC] * 3)
    excellent = dossiers[7:]
    order = dossiers if goods_first else excellent + dossiers[:7]
    refused = _decide_in_order(world, order)
    # The refusal falls on the third excellent decision, the one that breaks the cap of 2 (20% of 10).
    assert refused == [excellent[2]]
    figures = world.engine.quota(world.units["district"], 2024, "agencies")
    assert (figures.good_or_better, figures.excellent, figures.cap) == (10, 2, 2)


def test_in_any_order_of_single_decisions_the_refusal_falls_on_the_decision_that_breaks_the_cap() -> None:
    shuffler = random.Random(20241231)
    for _ in range(4):
        world = build_world()
        dossiers = _group(world, [GOOD] * 7 + [EXC] * 3)
        order = dossiers[:]
        shuffler.shuffle(order)
        refused = _decide_in_order(world, order)
        excellent_in_order = [d for d in order if d in dossiers[7:]]
        assert refused == [excellent_in_order[2]]


def test_five_good_or_better_allow_one_excellent_even_when_it_is_decided_first() -> None:
    world = build_world()
    dossiers = _group(world, [EXC, GOOD, GOOD, GOOD, GOOD])
    assert _decide_in_order(world, dossiers) == []
    assert world.engine.dossier(dossiers[0]).level is EXC


def test_four_good_or_better_allow_no_excellent() -> None:
    world = build_world()
    dossiers = _group(world, [EXC, GOOD, GOOD, GOOD])
    with pytest.raises(QuotaExceeded, match=r"1 excellent among 4 .* above the cap of 0"):
        world.engine.approve(world.district_approver, dossiers[0])


def test_a_downgrade_that_would_push_the_group_over_the_cap_is_refused() -> None:
    world = build_world()
    dossiers = _group(world, [GOOD] * 8 + [EXC] * 2)
    assert _decide_in_order(world, dossiers[8:]) == []
    version = world.engine.dossier(dossiers[0]).version
    with pytest.raises(QuotaExceeded, match=r"2 excellent among 9 .* above the cap of 1"):
        world.engine.approve(world.district_approver, dossiers[0], level=DONE, reason="Chậm tiến độ")
    assert world.engine.dossier(dossiers[0]).version == version


def test_a_decision_list_that_breaks_the_cap_is_refused_whole_with_the_figures_and_changes_nothing() -> None:
    world = build_world()
    dossiers = _group(world, [GOOD] * 7 + [EXC] * 3)
    versions = [world.engine.dossier(d).version for d in dossiers]
    with pytest.raises(QuotaExceeded, match=r"decision list of 10 units is refused whole.*3 excellent among 10"):
        world.engine.decide_list(world.district_approver, [DecisionRequest(d) for d in dossiers])
    assert [world.engine.dossier(d).version for d in dossiers] == versions
    assert world.engine.quota(world.units["district"], 2024, "agencies").excellent == 0


def test_a_decision_list_decides_a_whole_group_at_one_meeting() -> None:
    world = build_world()
    dossiers = _group(world, [GOOD] * 7 + [EXC] * 3)
    requests = [DecisionRequest(d) for d in dossiers[:9]]
    requests.append(DecisionRequest(dossiers[9], GOOD, "Hạn mức 20%: chọn hai đơn vị xuất sắc"))
    figures = world.engine.decide_list(world.district_approver, requests).value
    assert figures["agencies"].as_record() == {"group": "agencies", "good_or_better": 10, "excellent": 2, "cap": 2}
    states = {world.engine.dossier(d).state for d in dossiers}
    assert states == {DossierState.APPROVED}
    assert [world.engine.dossier(d).level for d in dossiers].count(EXC) == 2


def test_a_decision_list_holds_the_units_of_one_superior_only() -> None:
    world = build_world()
    (grassroots,) = _group(world, [GOOD])
    cell = endorsed(world, "cell-a")
    with pytest.raises(Exception, match="one superior unit and one period"):
        world.engine.decide_list(world.district_approver, [DecisionRequest(grassroots), DecisionRequest(cell)])
    assert world.engine.dossier(grassroots).state is DossierState.ENDORSED


def test_two_decision_lists_of_one_group_at_one_instant_cannot_both_pass_the_cap() -> None:
    world = build_world()
    # 10 good or better allow 2 excellent: either list alone keeps to it, the two together would decide 3.
    dossiers = _group(world, [GOOD] * 7 + [EXC] * 3)
    first, second = dossiers[7:9], dossiers[9:]
    engine = world.engine
    outcomes = at_one_instant(world, [
        lambda: engine.decide_list(world.district_approver, [DecisionRequest(d) for d in first]),
        lambda: engine.decide_list(world.district_approver, [DecisionRequest(d) for d in second]),
    ])
    # The list that collided on the group's decision book tries again on the book the other left, and is refused
    # whole: none of its dossiers is decided.
    assert sum(outcome is None for outcome in outcomes) == 1
    (failure,) = [o for o in outcomes if o is not None]
    assert isinstance(failure, QuotaExceeded)
    refused = second if outcomes[0] is None else first
    assert {engine.dossier(d).state for d in refused} == {DossierState.ENDORSED}
    expected = 2 if outcomes[0] is None else 1
    assert engine.quota(world.units["district"], 2024, "agencies").excellent == expected


def test_a_decision_list_and_a_single_approval_at_one_instant_cannot_both_pass_the_cap() -> None:
    world = build_world()
    dossiers = _group(world, [GOOD] * 7 + [EXC] * 3)
    engine = world.engine
    outcomes = at_one_instant(world, [
        lambda: engine.decide_list(world.district_approver, [DecisionRequest(d) for d in dossiers[7:9]]),
        lambda: engine.approve(world.district_approver, dossiers[9]),
    ])
    assert sum(outcome is None for outcome in outcomes) == 1
    assert all(isinstance(o, QuotaExceeded) for o in outcomes if o is not None)
    assert engine.quota(world.units["district"], 2024, "agencies").excellent <= 2
