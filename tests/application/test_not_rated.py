"""Units under 6 months old at the end of the period, or suspended or exempted, are reviewed but not classified."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from domain.errors import ClassificationRefused, InvalidInput, ReasonRequired
from domain.messages import Message
from domain.values import Classification, DossierState, NotRatedGround, Role, UnitKind
from tests.application.conftest import World
from tests.application.helpers import draft


def _young_cell(world: World, established_on: date, code: str = "new-cell") -> UUID:
    world.units[code] = world.engine.register_unit(
        world.admin,
        code=code,
        name="Chi bộ mới thành lập",
        kind=UnitKind.GRASSROOTS_CELL,
        parent_id=world.units["district"],
        established_on=established_on,
    ).value
    world.person(f"sec-{code}", "Bí thư chi bộ mới", [(Role.SECRETARY, code)])
    did = draft(world, code, Classification.GOOD)
    world.engine.submit(world.secretary(code), did)
    return did


def test_evaluation_suggests_not_rated_for_a_unit_four_months_old_and_says_why(world: World) -> None:
    did = _young_cell(world, date(2024, 9, 1))
    evaluation, _, _ = world.engine.evaluate(did)
    assert evaluation.level is Classification.NOT_RATED
    assert "4 months old at the end of the period, under 6 months" in evaluation.explanation[0]
    assert "(from the answers alone: good)" in evaluation.explanation


def test_endorsing_or_deciding_a_young_unit_into_a_level_is_refused_with_its_age(world: World) -> None:
    did = _young_cell(world, date(2024, 9, 1))
    with pytest.raises(ClassificationRefused, match="4 months old"):
        world.engine.endorse(world.district_reviewer, did, level=Classification.GOOD)
    assert world.engine.endorse(world.district_reviewer, did).value is Classification.NOT_RATED
    with pytest.raises(ClassificationRefused, match="4 months old"):
        world.engine.approve(world.district_approver, did, level=Classification.GOOD)
    with pytest.raises(InvalidInput, match="mark the dossier not rated"):
        world.engine.approve(world.district_approver, did)
    assert world.engine.dossier(did).state is DossierState.ENDORSED


def test_the_refusal_to_classify_a_young_unit_carries_its_age_as_a_sentence_a_page_can_translate(
    world: World,
) -> None:
    did = _young_cell(world, date(2024, 9, 1))
    with pytest.raises(ClassificationRefused) as endorsing:
        world.engine.endorse(world.district_reviewer, did, level=Classification.GOOD)
    world.engine.endorse(world.district_reviewer, did)
    with pytest.raises(ClassificationRefused) as approving:
        world.engine.approve(world.district_approver, did, level=Classification.GOOD)
    for refused in (endorsing, approving):
        why = refused.value.message.params["why"]
        # The rules' own sentence with its values, not the English line recorded in the evaluation.
        assert isinstance(why, Message)
        assert why.params["months"] == 4
        assert why.params["minimum"] == 6
        assert "4 months old at the end of the period, under 6 months" in str(refused.value)


def test_a_young_unit_is_marked_not_rated_on_its_age_alone_and_the_event_records_it(world: World) -> None:
    did = _young_cell(world, date(2024, 9, 1))
    world.engine.mark_not_rated(world.district_approver, did)
    dossier = world.engine.dossier(did)
    assert (dossier.state, dossier.level) == (DossierState.NOT_RATED, Classification.NOT_RATED)
    marked = list(world.engine.history(did))[-1]
    assert (marked.ground, marked.unit_age_months) == (NotRatedGround.UNDER_SIX_MONTHS, 4)
    assert "under 6 months" in marked.reason


def test_a_unit_exactly_six_months_old_at_the_end_of_the_period_is_classified(world: World) -> None:
    # Established on 1 July: six whole months to the end of 31 December.
    did = _young_cell(world, date(2024, 7, 1))
    evaluation, _, _ = world.engine.evaluate(did)
    assert evaluation.level is Classification.GOOD
    world.engine.endorse(world.district_reviewer, did)
    world.engine.approve(world.district_approver, did)
    assert world.engine.dossier(did).level is Classification.GOOD
    with pytest.raises(ClassificationRefused, match="6 months old at the end of the period, so it is classified"):
        world.engine.mark_not_rated(world.district_approver, _young_cell(world, date(2024, 7, 1), "other-cell"))


def test_a_unit_one_day_short_of_six_months_is_not_classified(world: World) -> None:
    did = _young_cell(world, date(2024, 7, 2))
    evaluation, _, _ = world.engine.evaluate(did)
    assert evaluation.level is Classification.NOT_RATED
    assert "5 months old" in evaluation.explanation[0]


def test_an_old_unit_is_left_not_rated_only_on_a_suspension_or_exemption_with_its_basis(world: World) -> None:
    did = draft(world, "treasury", Classification.GOOD)
    world.engine.submit(world.secretary("treasury"), did)
    with pytest.raises(ClassificationRefused, match="needs its ground"):
        world.engine.mark_not_rated(world.district_approver, did, reason="ít đảng viên")
    with pytest.raises(ClassificationRefused, match="needs its ground"):
        world.engine.mark_not_rated(world.district_approver, did, ground=NotRatedGround.UNDER_SIX_MONTHS)
    with pytest.raises(ReasonRequired):
        world.engine.mark_not_rated(world.district_approver, did, ground=NotRatedGround.SUSPENDED, reason=" ")
    assert world.engine.dossier(did).state is DossierState.SUBMITTED
    basis = "Quyết định số 15-QĐ/HU ngày 02/12/2024 tạm đình chỉ sinh hoạt chi bộ"
    world.engine.mark_not_rated(world.district_approver, did, ground=NotRatedGround.SUSPENDED, reason=basis)
    marked = list(world.engine.history(did))[-1]
    assert (marked.ground, marked.reason) == (NotRatedGround.SUSPENDED, basis)
    assert marked.unit_age_months > 6
