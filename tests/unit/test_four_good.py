from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.values import Answer, Grade, UnitKind
from workflow.rules import (
    RecognitionModel,
    SubordinateSummary,
    load_rule_book,
    missing_answers,
    recognize,
    validate_answers,
)

BOOK = load_rule_book()
CELL: RecognitionModel = BOOK.recognition("four-good-cell-LC2024")
COMMITTEE: RecognitionModel = BOOK.recognition("four-good-committee-LC2024")
QD124 = BOOK.rule_set("QD124-2023")
COMPUTED = "fg_subordinate_cells_four_good"

MEETING_SUB_ITEMS = [s.id for s in CELL.criterion("fg_meeting_quality").sub_items]


def all_met(model: RecognitionModel, **changes: Answer) -> dict[str, Answer]:
    answers = {
        c.id: Answer(met=True, sub_items=dict.fromkeys(c.sub_item_ids, True)) for c in model.criteria if not c.computed
    }
    return {**answers, **changes}


def all_four_good(total: int = 2) -> SubordinateSummary:
    return SubordinateSummary(total=total, completed_or_better=total, good_or_better=total, four_good=total)


# --- the four-good party cell ----------------------------------------------------------------------------------


def test_the_cell_model_has_the_four_criteria_of_the_seeds() -> None:
    assert [c.id for c in CELL.criteria] == [
        "fg_political_tasks",
        "fg_meeting_quality",
        "fg_solidarity_discipline",
        "fg_cadres_members",
    ]
    assert all(c.scale == "met" and not c.computed for c in CELL.criteria)


def test_meeting_quality_checks_the_sub_items_of_guidance_12_hd() -> None:
    assert MEETING_SUB_ITEMS == [
        "year_start_programme",
        "model_registration",
        "monthly_meetings_held",
        "thematic_meetings_per_plan",
        "half_year_and_year_end_reviews",
        "attendance_above_85_percent",
        "no_unexcused_absence",
        "no_member_over_3_consecutive_excused_absences",
    ]


def test_a_cell_meeting_all_four_criteria_is_four_good() -> None:
    recognition = recognize(CELL, all_met(CELL), None)
    assert recognition.recognized
    assert recognition.criteria == dict.fromkeys((c.id for c in CELL.criteria), True)
    assert recognition.explanation[-1] == "recognized: all 4 criteria met"


@pytest.mark.parametrize("sub_item", MEETING_SUB_ITEMS)
def test_a_single_unmet_meeting_sub_item_keeps_the_cell_from_four_good(sub_item: str) -> None:
    ticks = {**dict.fromkeys(MEETING_SUB_ITEMS, True), sub_item: False}
    recognition = recognize(CELL, all_met(CELL, fg_meeting_quality=Answer(met=True, sub_items=ticks)), None)
    assert not recognition.recognized
    assert recognition.criteria["fg_meeting_quality"] is False
    assert f"criterion 'fg_meeting_quality': not met — sub-item '{sub_item}' not met" in recognition.explanation
    assert recognition.explanation[-1] == "not recognized: 1 of 4 criteria not met (fg_meeting_quality)"


def test_a_sub_item_left_unanswered_is_not_met() -> None:
    ticks = dict.fromkeys(MEETING_SUB_ITEMS[:-1], True)
    recognition = recognize(CELL, all_met(CELL, fg_meeting_quality=Answer(met=True, sub_items=ticks)), None)
    assert recognition.criteria["fg_meeting_quality"] is False
    assert any(f"sub-item '{MEETING_SUB_ITEMS[-1]}' not answered" in line for line in recognition.explanation)


def test_a_criterion_answered_not_met_is_not_met_even_with_every_sub_item_ticked() -> None:
    ticks = dict.fromkeys(MEETING_SUB_ITEMS, True)
    recognition = recognize(CELL, all_met(CELL, fg_meeting_quality=Answer(met=False, sub_items=ticks)), None)
    assert recognition.criteria["fg_meeting_quality"] is False
    assert "criterion 'fg_meeting_quality': not met — answered not met" in recognition.explanation


def test_ticked_sub_items_alone_do_not_answer_the_criterion() -> None:
    ticks = dict.fromkeys(MEETING_SUB_ITEMS, True)
    recognition = recognize(CELL, all_met(CELL, fg_meeting_quality=Answer(sub_items=ticks)), None)
    assert recognition.criteria["fg_meeting_quality"] is False


def test_good_cadres_needs_every_member_classified_completed_or_better() -> None:
    answer = Answer(met=True, sub_items={"all_members_completed_or_better": False})
    recognition = recognize(CELL, all_met(CELL, fg_cadres_members=answer), None)
    assert recognition.criteria["fg_cadres_members"] is False


def test_an_unanswered_criterion_is_not_met() -> None:
    answers = all_met(CELL)
    del answers["fg_solidarity_discipline"]
    recognition = recognize(CELL, answers, None)
    assert not recognition.recognized
    assert "criterion 'fg_solidarity_discipline': not met — not answered" in recognition.explanation


def test_recognize_refuses_an_answer_on_the_wrong_scale() -> None:
    with pytest.raises(InvalidInput, match="criterion 'fg_political_tasks' is answered met or not met; grade given"):
        recognize(CELL, all_met(CELL, fg_political_tasks=Answer(grade=Grade.GOOD)), None)


@pytest.mark.parametrize(
    ("kind", "model_id"),
    [
        (UnitKind.PARTY_CELL, "four-good-cell-LC2024"),
        (UnitKind.GRASSROOTS_CELL, "four-good-cell-LC2024"),
        (UnitKind.GRASSROOTS_COMMITTEE, "four-good-committee-LC2024"),
    ],
)
def test_each_model_applies_to_its_unit_kinds(kind: UnitKind, model_id: str) -> None:
    assert kind in BOOK.recognition(model_id).applies_to
    other = {"four-good-cell-LC2024": COMMITTEE, "four-good-committee-LC2024": CELL}[model_id]
    assert kind not in other.applies_to


# --- the four-good grassroots committee ---------------------------------------------------------------------------


def test_the_committee_model_has_nine_criteria_the_fifth_computed() -> None:
    assert len(COMMITTEE.criteria) == 9
    assert COMMITTEE.criteria[4].id == COMPUTED
    assert [c.id for c in COMMITTEE.criteria if c.computed] == [COMPUTED]


def test_a_committee_whose_subordinate_cells_are_all_four_good_is_recognized() -> None:
    recognition = recognize(COMMITTEE, all_met(COMMITTEE), all_four_good(4))
    assert recognition.recognized
    assert f"criterion '{COMPUTED}': met — 4 of 4 subordinate cells recognized four-good (needs all)" in (
        recognition.explanation
    )


def test_one_subordinate_cell_short_of_four_good_keeps_the_committee_from_it() -> None:
    subordinates = SubordinateSummary(total=4, completed_or_better=4, good_or_better=4, four_good=3)
    recognition = recognize(COMMITTEE, all_met(COMMITTEE), subordinates)
    assert not recognition.recognized
    assert recognition.criteria[COMPUTED] is False
    assert f"criterion '{COMPUTED}': not met — 3 of 4 subordinate cells recognized four-good (needs all)" in (
        recognition.explanation
    )


@pytest.mark.parametrize("subordinates", [None, SubordinateSummary(0, 0, 0, 0)])
def test_a_committee_without_decided_subordinate_cells_cannot_meet_criterion_5(
    subordinates: SubordinateSummary | None,
) -> None:
    recognition = recognize(COMMITTEE, all_met(COMMITTEE), subordinates)
    assert recognition.criteria[COMPUTED] is False
    assert any("no decided subordinate cells" in line for line in recognition.explanation)


def test_criterion_5_cannot_be_typed_in() -> None:
    typed = {COMPUTED: Answer(met=True)}
    with pytest.raises(InvalidInput, match=f"criterion '{COMPUTED}' is computed"):
        validate_answers(QD124, COMMITTEE, typed, {})
    with pytest.raises(InvalidInput, match=f"criterion '{COMPUTED}' is computed"):
        recognize(COMMITTEE, all_met(COMMITTEE, **typed), all_four_good())


def test_criterion_5_is_never_missing_from_a_dossier() -> None:
    missing = missing_answers(QD124, COMMITTEE, {}, {})
    assert "fg_implements_guidelines" in missing
    assert COMPUTED not in missing


def test_a_committee_failing_one_typed_criterion_is_not_recognized() -> None:
    answers = all_met(COMMITTEE, fg_inspection_supervision=Answer(met=False))
    recognition = recognize(COMMITTEE, answers, all_four_good())
    assert not recognition.recognized
    assert recognition.explanation[-1] == "not recognized: 1 of 9 criteria not met (fg_inspection_supervision)"


def test_the_recognition_records_the_model_and_is_plain_json() -> None:
    recognition = recognize(COMMITTEE, all_met(COMMITTEE), all_four_good())
    record = recognition.as_record()
    assert json.loads(json.dumps(record)) == record
    assert record["model_id"] == "four-good-committee-LC2024"
    assert record["model_version"] == 1
    assert record["model_sha256"] == COMMITTEE.sha256
    assert record["recognized"] is True


@given(st.dictionaries(st.sampled_from([c.id for c in COMMITTEE.criteria if not c.computed]), st.booleans()))
def test_the_committee_is_recognized_exactly_when_every_criterion_is_met(met: dict[str, bool]) -> None:
    recognition = recognize(COMMITTEE, {cid: Answer(met=value) for cid, value in met.items()}, all_four_good())
    assert recognition.recognized == all(recognition.criteria.values())
    assert recognition.recognized == (len(met) == 8 and all(met.values()))


def test_subordinate_counts_that_contradict_each_other_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="four-good"):
        SubordinateSummary(total=2, completed_or_better=2, good_or_better=2, four_good=3)
    with pytest.raises(ValueError, match="inconsistent"):
        SubordinateSummary(total=2, completed_or_better=1, good_or_better=2)
