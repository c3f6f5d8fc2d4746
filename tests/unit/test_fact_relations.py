"""Facts that must agree: what follows is derived, what contradicts is refused before any classification."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidInput
from domain.values import Answer, Classification
from workflow.rules import classify, load_rule_book, missing_answers, validate_answers

BOOK = load_rule_book()
QD366 = BOOK.rule_set("QD366-2025")
QD124 = BOOK.rule_set("QD124-2023")

CLEAN = {
    "subordinate_org_disciplined": False,
    "leadership_member_disciplined": False,
    "targets_met_percent": 100,
    "key_targets_missed": False,
    "leadership_collective_disciplined": False,
    "subordinates_disciplined_percent": 0,
    "internal_disunity_concluded": False,
    "tasks_exceeding_percent": 30,
    "shortcomings_remedied_percent": 100,
}
FULL_MARKS = {c.id: Answer(points=c.max_points) for c in QD366.criteria}


def test_tasks_done_on_time_and_late_that_do_not_add_up_are_refused_with_the_figures() -> None:
    facts = {**CLEAN, "tasks_done_percent": 100, "tasks_on_time_percent": 75, "tasks_late_percent": 0}
    with pytest.raises(InvalidInput, match=r"'tasks_done_percent' \(100%\) must equal .* \(75%\) \+ .* \(0%\) = 75%"):
        classify(QD366, FULL_MARKS, facts, None)
    with pytest.raises(InvalidInput, match="contradict"):
        validate_answers(QD366, None, {}, facts)


def test_the_late_share_is_derived_from_the_done_and_on_time_shares_and_counts_against_completed() -> None:
    facts = {**CLEAN, "tasks_done_percent": 100, "tasks_on_time_percent": 75}
    evaluation = classify(QD366, {c.id: Answer(points=c.max_points * Decimal("0.6")) for c in QD366.criteria},
                          facts, None)
    assert evaluation.explanation[0] == (
        "fact 'tasks_late_percent' derived: 25% (= 'tasks_done_percent' (100%) − 'tasks_on_time_percent' (75%))"
    )
    # 25% late is more than the 20% that `completed` allows.
    assert evaluation.level is Classification.NOT_COMPLETED
    assert "tasks_late_percent" not in missing_answers(QD366, None, FULL_MARKS, facts)


def test_the_done_share_is_derived_as_on_time_plus_late() -> None:
    facts = {**CLEAN, "tasks_on_time_percent": 100, "tasks_late_percent": 0}
    assert classify(QD366, FULL_MARKS, facts, None).level is Classification.EXCELLENT


def test_on_time_beyond_what_was_done_is_refused_even_with_the_late_share_missing() -> None:
    with pytest.raises(InvalidInput, match=r"must be at least 'tasks_on_time_percent' \(90%\)"):
        validate_answers(QD366, None, {}, {"tasks_done_percent": 80, "tasks_on_time_percent": 90})


def test_tasks_beyond_requirements_cannot_exceed_the_tasks_done() -> None:
    with pytest.raises(InvalidInput, match="a task done beyond its requirements is a task done"):
        validate_answers(QD366, None, {}, {"tasks_done_percent": 50, "tasks_exceeding_percent": 60})


def test_a_share_of_subordinates_disciplined_contradicts_no_subordinate_disciplined() -> None:
    with pytest.raises(InvalidInput, match=r"'subordinate_org_disciplined' is no, so .* must be 0%, but it is 10%"):
        validate_answers(
            QD124, None, {}, {"subordinate_org_disciplined": False, "subordinates_disciplined_percent": 10}
        )


def test_key_targets_cannot_be_missed_when_every_target_was_met() -> None:
    with pytest.raises(InvalidInput, match="with 100% of the assigned targets met, no key target was missed"):
        validate_answers(QD124, None, {}, {"targets_met_percent": 100, "key_targets_missed": True})


def test_new_facts_are_checked_against_those_already_recorded() -> None:
    recorded = {"tasks_done_percent": 100, "tasks_late_percent": 0}
    with pytest.raises(InvalidInput, match="contradict"):
        validate_answers(QD366, None, {}, {"tasks_on_time_percent": 80}, recorded)
    validate_answers(QD366, None, {}, {"tasks_on_time_percent": 80, "tasks_late_percent": 20}, recorded)


def test_a_derived_figure_outside_0_to_100_is_a_contradiction() -> None:
    with pytest.raises(InvalidInput, match="would be 120%"):
        validate_answers(QD366, None, {}, {"tasks_on_time_percent": 70, "tasks_late_percent": 50})
