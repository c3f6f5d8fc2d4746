"""An approval records the evaluation of what it decides on at that moment, even when its endorsement saw less."""

from __future__ import annotations

from domain.values import Classification
from tests.application.conftest import World
from tests.application.helpers import decided, endorsed
from workflow.rules import classify, recognize


def test_a_committee_approved_after_a_cell_lost_four_good_is_not_recognized_on_its_endorsement(world: World) -> None:
    engine = world.engine
    decided(world, "cell-a", four_good=True)
    cell_b = decided(world, "cell-b", four_good=True)
    committee = endorsed(world, "committee")
    assert engine.dossier(committee).endorsement is not None
    assert engine.evaluate(committee)[1] is not None
    assert engine.evaluate(committee)[1].recognized is True  # type: ignore[union-attr]

    engine.reopen(world.committee_approver, cell_b, legal_basis="Kết luận kiểm tra 7-KL/UBKT")
    engine.approve(world.committee_approver, cell_b, level=Classification.COMPLETED, reason="Theo kết luận 7-KL/UBKT")
    engine.approve(world.district_approver, committee)

    dossier = engine.dossier(committee)
    assert dossier.four_good is False
    assert dossier.decision["recognition"]["criteria"]["fg_subordinate_cells_four_good"] is False


def test_an_approval_on_unchanged_inputs_records_what_a_fresh_evaluation_gives(world: World) -> None:
    engine = world.engine
    did = endorsed(world, "treasury", Classification.GOOD)
    engine.approve(world.district_approver, did)

    dossier = engine.dossier(did)
    period = engine.period(2024)
    rule_set = engine.rule_book.rule_set(period.rule_set_id)
    age = dossier.decision["evaluation"]["inputs"]["unit_age_months"]
    fresh = classify(rule_set, dossier.answers, dossier.facts, None, age)
    assert dossier.decision["evaluation"]["explanation"] == list(fresh.explanation)
    assert dossier.decision["evaluation"]["level"] == fresh.level.value
    model = engine.rule_book.recognition(dossier.recognition_model_id)  # type: ignore[arg-type]
    assert dossier.decision["recognition"]["criteria"] == recognize(model, dossier.answers, None).criteria
    assert engine.recompute_decision(did).matches
