from __future__ import annotations

from datetime import date

import pytest

from domain.errors import ConcurrencyConflict, InvalidInput, OrderingViolation, QuotaExceeded
from domain.values import Answer, Classification, Role, UnitKind
from tests.application.conftest import World
from tests.application.helpers import at_one_instant, decided, draft, endorsed


def _cells(world: World, count: int) -> list[str]:
    codes = []
    for n in range(count):
        code = f"gc-{n}"
        world.units[code] = world.engine.register_unit(
            world.admin,
            code=code,
            name=f"Chi bộ cơ sở số {n}",
            kind=UnitKind.GRASSROOTS_CELL,
            parent_id=world.units["district"],
            established_on=date(2010, 1, 1),
            group="agencies",
        ).value
        world.person(f"sec-{code}", f"Bí thư {n}", [(Role.SECRETARY, code)])
        codes.append(code)
    return codes


def test_the_quota_refuses_an_excellent_decision_beyond_twenty_percent_of_good_with_the_figures(world: World) -> None:
    codes = _cells(world, 6)
    for code in codes[:4]:
        decided(world, code, Classification.GOOD)
    first = endorsed(world, codes[4], Classification.EXCELLENT)
    # 5 good or better allow floor(20% x 5) = 1 excellent.
    figures = world.engine.approve(world.district_approver, first).value
    assert (figures.good_or_better, figures.excellent, figures.cap) == (5, 1, 1)

    second = endorsed(world, codes[5], Classification.EXCELLENT)
    version = world.engine.dossier(second).version
    with pytest.raises(QuotaExceeded, match=r"2 excellent among 6 .* above the cap of 1"):
        world.engine.approve(world.district_approver, second)
    assert world.engine.dossier(second).version == version
    world.engine.approve(world.district_approver, second, level=Classification.GOOD, reason="Vượt hạn mức 20%")
    assert world.engine.quota(world.units["district"], 2024, "agencies").excellent == 1


def test_the_quota_counts_within_one_group_of_similar_units(world: World) -> None:
    codes = _cells(world, 5)
    for code in codes[:4]:
        decided(world, code, Classification.GOOD)
    # The treasury is in another group (its kind): 1 good-or-better there allows no excellent.
    treasury = endorsed(world, "treasury", Classification.EXCELLENT)
    with pytest.raises(QuotaExceeded, match="group 'grassroots_cell'"):
        world.engine.approve(world.district_approver, treasury)
    in_group = endorsed(world, codes[4], Classification.EXCELLENT)
    world.engine.approve(world.district_approver, in_group)


def test_two_concurrent_approvals_cannot_both_pass_the_quota(world: World) -> None:
    codes = _cells(world, 6)
    for code in codes[:4]:
        decided(world, code, Classification.GOOD)
    a = endorsed(world, codes[4], Classification.EXCELLENT)
    b = endorsed(world, codes[5], Classification.EXCELLENT)
    engine = world.engine
    # Both approvers load the book before either saves: each alone would pass the quota.
    from domain.decisions import DecisionBook
    from domain.ids import decision_book_id

    book_id = decision_book_id(world.units["district"], 2024)
    original_book = engine._book
    seen_version = engine._get(DecisionBook, book_id, "decision book").version

    def book_as_first_loaded(unit, year, actor, moment):  # type: ignore[no-untyped-def]
        return engine._get(DecisionBook, book_id, "decision book", version=seen_version)

    engine._book = book_as_first_loaded  # type: ignore[method-assign]
    engine.approve(world.district_approver, a)
    with pytest.raises(ConcurrencyConflict):
        engine.approve(world.district_approver, b)
    engine._book = original_book  # type: ignore[method-assign]
    assert engine.quota(world.units["district"], 2024, "agencies").excellent == 1
    assert engine.dossier(b).level is None


def test_approvals_of_two_units_under_one_superior_at_one_instant_both_go_through(world: World) -> None:
    codes = _cells(world, 2)
    a, b = (endorsed(world, code, Classification.GOOD) for code in codes)
    engine = world.engine
    # Both load the superior's decision book before either saves: they collide on it, for nothing either did to
    # the other's dossier, and the one that lost tries again on the book as the other left it.
    outcomes = at_one_instant(
        world, [lambda: engine.approve(world.district_approver, a), lambda: engine.approve(world.district_approver, b)]
    )
    assert outcomes == [None, None]
    assert engine.dossier(a).level is Classification.GOOD
    assert engine.dossier(b).level is Classification.GOOD
    assert engine.quota(world.units["district"], 2024, "agencies").good_or_better == 2


def test_an_approval_tried_again_after_a_collision_still_checks_the_version_it_was_given(world: World) -> None:
    (code,) = _cells(world, 1)
    did = endorsed(world, code, Classification.GOOD)
    engine = world.engine
    version = engine.dossier(did).version
    outcomes = at_one_instant(
        world,
        [
            lambda: engine.approve(world.district_approver, did, expected_version=version),
            lambda: engine.approve(world.district_approver, did, expected_version=version),
        ],
    )
    assert sum(outcome is None for outcome in outcomes) == 1
    (failure,) = [o for o in outcomes if o is not None]
    # The second try reloads the dossier and finds it past the version its page showed.
    assert isinstance(failure, ConcurrencyConflict)
    assert "the dossier changed since you loaded it" in str(failure)
    assert engine.dossier(did).version == version + 1


def test_two_excellent_approvals_at_one_instant_tried_again_cannot_both_pass_the_quota(world: World) -> None:
    codes = _cells(world, 6)
    for code in codes[:4]:
        decided(world, code, Classification.GOOD)
    a, b = (endorsed(world, code, Classification.EXCELLENT) for code in codes[4:])
    engine = world.engine
    outcomes = at_one_instant(
        world, [lambda: engine.approve(world.district_approver, a), lambda: engine.approve(world.district_approver, b)]
    )
    # The one that collided tries again on the book that counts the other's excellent: the quota refuses it.
    assert sum(outcome is None for outcome in outcomes) == 1
    (failure,) = [o for o in outcomes if o is not None]
    assert isinstance(failure, QuotaExceeded)
    assert engine.quota(world.units["district"], 2024, "agencies").excellent == 1


def test_a_grassroots_committee_is_decided_only_after_its_cells(world: World) -> None:
    committee = endorsed(world, "committee")
    decided(world, "cell-a")
    with pytest.raises(OrderingViolation, match="Chi bộ Tổ dân phố 2"):
        world.engine.approve(world.district_approver, committee)
    decided(world, "cell-b")
    world.engine.approve(world.district_approver, committee)


def test_the_committee_is_four_good_only_when_every_cell_is_four_good(world: World) -> None:
    decided(world, "cell-a", four_good=True)
    decided(world, "cell-b", four_good=False)
    committee = endorsed(world, "committee")
    world.engine.approve(world.district_approver, committee)
    dossier = world.engine.dossier(committee)
    assert dossier.four_good is False
    recognition = dossier.decision["recognition"]
    assert recognition["criteria"]["fg_subordinate_cells_four_good"] is False


def test_the_committee_is_four_good_when_both_cells_are(world: World) -> None:
    decided(world, "cell-a", four_good=True)
    decided(world, "cell-b", four_good=True)
    committee = endorsed(world, "committee")
    world.engine.approve(world.district_approver, committee)
    assert world.engine.dossier(committee).four_good is True


def test_the_subordinate_cells_criterion_cannot_be_typed_in(world: World) -> None:
    did = draft(world, "committee")
    with pytest.raises(InvalidInput, match="fg_subordinate_cells_four_good"):
        world.engine.record_answers(
            world.secretary("committee"), did, answers={"fg_subordinate_cells_four_good": Answer(met=True)}
        )


def test_reopening_a_decision_frees_its_place_in_the_quota(world: World) -> None:
    codes = _cells(world, 6)
    for code in codes[:4]:
        decided(world, code, Classification.GOOD)
    first = decided(world, codes[4], Classification.EXCELLENT)
    second = endorsed(world, codes[5], Classification.EXCELLENT)
    with pytest.raises(QuotaExceeded):
        world.engine.approve(world.district_approver, second)
    world.engine.reopen(world.district_approver, first, legal_basis="Kết luận kiểm tra 3-KL/UBKT")
    world.engine.approve(world.district_approver, first, level=Classification.GOOD, reason="Theo kết luận 3-KL/UBKT")
    world.engine.approve(world.district_approver, second)
    assert world.engine.dossier(second).level is Classification.EXCELLENT


def test_a_unit_reclassified_below_good_is_no_longer_four_good(world: World) -> None:
    did = decided(world, "treasury", Classification.GOOD, four_good=True)
    assert world.engine.dossier(did).four_good is True
    world.engine.reopen(world.district_approver, did, legal_basis="Kết luận kiểm tra 7-KL/UBKT")
    world.engine.approve(world.district_approver, did, level=Classification.COMPLETED, reason="Theo kết luận 7-KL/UBKT")
    dossier = world.engine.dossier(did)
    assert dossier.level is Classification.COMPLETED
    assert dossier.four_good is False
    # The checklist itself is kept as it was answered: only the recognition is withheld.
    assert dossier.decision["recognition"]["recognized"] is True
