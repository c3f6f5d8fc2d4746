from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.values import Answer, Classification, Grade
from workflow.rules import Evaluation, RuleBook, RuleSet, SubordinateSummary, classify, load_rule_book

EXCELLENT, GOOD, COMPLETED, NOT_COMPLETED = (
    Classification.EXCELLENT,
    Classification.GOOD,
    Classification.COMPLETED,
    Classification.NOT_COMPLETED,
)

BOOK: RuleBook = load_rule_book()
QD124: RuleSet = BOOK.rule_set("QD124-2023")
QD366: RuleSet = BOOK.rule_set("QD366-2025")

# The figures of a unit that has nothing against it; each test changes the one thing it is about.
CLEAN_DISQUALIFIER_FACTS: dict[str, object] = {
    "subordinate_org_disciplined": False,
    "leadership_member_disciplined": False,
    "targets_met_percent": 100,
    "key_targets_missed": False,
    "leadership_collective_disciplined": False,
    "subordinates_disciplined_percent": 0,
    "internal_disunity_concluded": False,
}

# A share of subordinates disciplined above 0% goes with a subordinate organization disciplined; excused here, so
# that only the share can disqualify.
EXCUSED_DISCIPLINE: dict[str, object] = {"subordinate_org_disciplined": True, "violations_self_remedied": True}

# Each disqualifier of Regulation 124, with the facts that trigger it; they apply under both rule sets.
DISQUALIFIERS = [
    pytest.param({"subordinate_org_disciplined": True}, "subordinate organization disciplined", id="subordinate"),
    pytest.param(
        {"subordinate_org_disciplined": True, "violations_self_remedied": False},
        "subordinate organization disciplined",
        id="subordinate-not-self-remedied",
    ),
    pytest.param({"targets_met_percent": 49, "key_targets_missed": True}, "under 50% of the assigned", id="targets"),
    pytest.param({"leadership_collective_disciplined": True}, "leadership collective", id="collective"),
    pytest.param({**EXCUSED_DISCIPLINE, "subordinates_disciplined_percent": 21}, "over 20% of the subordinate",
                 id="over-20-percent"),
    pytest.param(
        {**EXCUSED_DISCIPLINE, "subordinates_disciplined_percent": Decimal("20.01")}, "over 20% of the subordinate",
        id="just-over-20",
    ),
    pytest.param({"internal_disunity_concluded": True}, "internal disunity", id="disunity"),
]

NOT_DISQUALIFYING = [
    pytest.param({"targets_met_percent": 50, "key_targets_missed": True}, id="half-the-targets-met"),
    pytest.param({"targets_met_percent": 10, "key_targets_missed": False}, id="no-key-target-missed"),
]


def graded(default: Grade = Grade.GOOD, **grades: Grade) -> dict[str, Answer]:
    return {c.id: Answer(grade=grades.get(c.id, default)) for c in QD124.criteria}


def facts124(**changes: object) -> dict[str, object]:
    return {**CLEAN_DISQUALIFIER_FACTS, "task_results": Grade.EXCELLENT, "concrete_products": True, **changes}


def scored(total: Decimal | int) -> dict[str, Answer]:
    """Answers worth `total` points: the shortfall is taken from the largest criteria first."""
    answers: dict[str, Answer] = {}
    shortfall = Decimal(100) - Decimal(total)
    for c in sorted(QD366.criteria, key=lambda c: c.max_points or 0, reverse=True):
        most = c.max_points or Decimal(0)
        taken = min(shortfall, most)
        answers[c.id] = Answer(points=most - taken)
        shortfall -= taken
    return answers


def line(evaluation: Evaluation, level: str) -> str:
    return next(text for text in evaluation.explanation if text.startswith(f"{level}: "))


def facts366(**changes: object) -> dict[str, object]:
    return {
        **CLEAN_DISQUALIFIER_FACTS,
        "tasks_done_percent": 100,
        "tasks_on_time_percent": 100,
        "tasks_late_percent": 0,
        "tasks_exceeding_percent": 30,
        "shortcomings_remedied_percent": 100,
        **changes,
    }


def level124(subordinates: SubordinateSummary | None = None, **facts: object) -> Classification:
    return classify(QD124, graded(), facts124(**facts), subordinates).level


def level366(total: Decimal | int | str = 100, **facts: object) -> Classification:
    return classify(QD366, scored(Decimal(total)), facts366(**facts), None).level


# --- QD124-2023: graded -------------------------------------------------------------------------------------------


def test_every_criterion_good_with_excellent_results_and_concrete_products_is_excellent() -> None:
    assert level124() is EXCELLENT


def test_a_single_criterion_graded_average_keeps_the_unit_from_excellent() -> None:
    evaluation = classify(QD124, graded(political_ideological=Grade.AVERAGE), facts124(), None)
    assert evaluation.level is GOOD
    assert line(evaluation, "excellent") == (
        "excellent: not met — criterion 'political_ideological' graded average (needs good or better)"
    )


def test_a_single_poor_criterion_makes_the_unit_not_completed() -> None:
    evaluation = classify(QD124, graded(Grade.EXCELLENT, inspection_supervision=Grade.POOR), facts124(), None)
    assert evaluation.level is NOT_COMPLETED
    assert "completed: not met — criterion 'inspection_supervision' graded poor (needs average or better)" in (
        evaluation.explanation
    )
    assert evaluation.explanation[-1] == "not_completed: meets none of the upper levels"


def test_every_criterion_average_is_completed_when_results_are_average() -> None:
    evaluation = classify(QD124, graded(Grade.AVERAGE), facts124(task_results=Grade.AVERAGE), None)
    assert evaluation.level is COMPLETED


def test_excellent_needs_excellent_task_results() -> None:
    evaluation = classify(QD124, graded(), facts124(task_results=Grade.GOOD), None)
    assert evaluation.level is GOOD
    assert "fact 'task_results' is good (needs excellent or better)" in line(evaluation, "excellent")


def test_excellent_needs_concrete_products() -> None:
    assert level124(concrete_products=False) is GOOD


def test_good_needs_task_results_good_or_better() -> None:
    assert level124(task_results=Grade.AVERAGE) is COMPLETED


def test_a_disciplined_leadership_member_keeps_the_unit_from_excellent_and_good() -> None:
    assert level124(leadership_member_disciplined=True) is COMPLETED


def test_a_violation_the_unit_found_and_remedied_itself_still_allows_good_but_not_excellent() -> None:
    assert level124(leadership_member_disciplined=True, violations_self_remedied=True) is GOOD
    evaluation = classify(
        QD124, graded(), facts124(subordinate_org_disciplined=True, violations_self_remedied=True), None
    )
    assert evaluation.level is GOOD
    assert "disqualifier 'subordinate_disciplined_for_violations' excused by 'violations_self_remedied'" in (
        evaluation.explanation
    )
    assert "fact 'subordinate_org_disciplined' is yes, excused by 'violations_self_remedied'" in line(
        evaluation, "good"
    )


@pytest.mark.parametrize(("changes", "described"), DISQUALIFIERS)
def test_each_disqualifier_makes_an_otherwise_excellent_unit_not_completed(
    changes: dict[str, object], described: str
) -> None:
    evaluation = classify(QD124, graded(Grade.EXCELLENT), facts124(**changes), None)
    assert evaluation.level is NOT_COMPLETED
    assert any(
        line.startswith("not_completed: disqualified — ") and described in line for line in evaluation.explanation
    )


@pytest.mark.parametrize("changes", NOT_DISQUALIFYING)
def test_figures_just_inside_a_disqualifier_do_not_disqualify(changes: dict[str, object]) -> None:
    assert classify(QD124, graded(), facts124(**changes), None).level is EXCELLENT


def test_exactly_twenty_percent_of_subordinates_disciplined_does_not_disqualify() -> None:
    evaluation = classify(QD124, graded(), facts124(**EXCUSED_DISCIPLINE, subordinates_disciplined_percent=20), None)
    # Not excellent (a subordinate was disciplined), but good: the share of 20% is not "over 20%".
    assert evaluation.level is GOOD


def test_the_disqualifier_explanation_gives_the_figures() -> None:
    evaluation = classify(QD124, graded(), facts124(targets_met_percent=Decimal("49.5"), key_targets_missed=True), None)
    assert evaluation.explanation == (
        "not_completed: disqualified — under 50% of the assigned targets met, with key targets missed "
        "(fact 'targets_met_percent' is 49.5%, fact 'key_targets_missed' is yes)",
    )


@pytest.mark.parametrize(
    ("subordinates", "expected"),
    [
        pytest.param(SubordinateSummary(10, 10, 8), EXCELLENT, id="all-completed-80-percent-good"),
        pytest.param(SubordinateSummary(10, 10, 7), GOOD, id="79-percent-good-is-not-enough-for-excellent"),
        pytest.param(SubordinateSummary(10, 9, 9), GOOD, id="one-subordinate-not-completed"),
        pytest.param(SubordinateSummary(100, 100, 50), GOOD, id="50-percent-good-allows-good"),
        pytest.param(SubordinateSummary(100, 100, 49), COMPLETED, id="49-percent-good-does-not"),
        pytest.param(SubordinateSummary(2, 2, 1), GOOD, id="one-of-two-good"),
        pytest.param(SubordinateSummary(3, 2, 0), COMPLETED, id="no-good-subordinate"),
    ],
)
def test_the_subordinate_thresholds_of_21_hd_apply_to_decided_subordinates(
    subordinates: SubordinateSummary, expected: Classification
) -> None:
    assert level124(subordinates=subordinates) is expected


def test_the_subordinate_shares_are_explained_with_their_figures() -> None:
    evaluation = classify(QD124, graded(), facts124(), SubordinateSummary(3, 3, 2))
    assert evaluation.level is GOOD
    assert line(evaluation, "excellent") == (
        "excellent: not met — subordinates good or better: 2 of 3 (66.67%, needs at least 80%)"
    )


@pytest.mark.parametrize("subordinates", [None, SubordinateSummary(0, 0, 0)])
def test_without_decided_subordinates_the_thresholds_do_not_apply_and_the_explanation_says_so(
    subordinates: SubordinateSummary | None,
) -> None:
    evaluation = classify(QD124, graded(), facts124(), subordinates)
    assert evaluation.level is EXCELLENT
    assert "subordinate thresholds: not applied (no decided subordinates)" in evaluation.explanation


def test_the_explanation_tests_the_levels_from_the_top_down_until_one_is_met() -> None:
    evaluation = classify(QD124, graded(Grade.AVERAGE), facts124(task_results=Grade.AVERAGE), None)
    levels = [line.split(":")[0] for line in evaluation.explanation if ": " in line and " — " in line]
    assert levels == ["excellent", "good", "completed"]
    assert evaluation.explanation[-1].startswith("completed: met — every criterion average or better")


def test_a_missing_fact_counts_against_the_level_that_needs_it() -> None:
    facts = facts124()
    del facts["concrete_products"]
    evaluation = classify(QD124, graded(), facts, None)
    assert evaluation.level is GOOD
    assert "fact 'concrete_products' not given (needs yes)" in line(evaluation, "excellent")


def test_a_missing_fact_cannot_disqualify_but_the_explanation_says_it_was_not_checked() -> None:
    facts = facts124()
    del facts["internal_disunity_concluded"]
    evaluation = classify(QD124, graded(), facts, None)
    assert "disqualifier 'internal_disunity' not checked: fact 'internal_disunity_concluded' not given" in (
        evaluation.explanation
    )


def test_an_ungraded_criterion_counts_against_every_level() -> None:
    answers = graded()
    del answers["democratic_centralism"]
    evaluation = classify(QD124, answers, facts124(), None)
    assert evaluation.level is NOT_COMPLETED
    assert "criterion 'democratic_centralism' not graded" in line(evaluation, "completed")


def test_classify_refuses_an_invalid_input_rather_than_guessing() -> None:
    with pytest.raises(InvalidInput, match="criterion 'leadership_of_tasks' is graded"):
        classify(QD124, {"leadership_of_tasks": Answer(points=Decimal(5))}, facts124(), None)
    with pytest.raises(InvalidInput, match="fact 'task_results' must be a grade"):
        classify(QD124, graded(), facts124(task_results="excellent"), None)


def test_classify_reads_only_its_own_criteria_so_four_good_answers_may_ride_along() -> None:
    answers = {**graded(), "fg_political_tasks": Answer(met=True)}
    assert classify(QD124, answers, facts124(), None).level is EXCELLENT


def test_the_evaluation_records_the_rule_set_and_is_plain_json() -> None:
    evaluation = classify(QD124, graded(), facts124(), None)
    assert (evaluation.rule_set_id, evaluation.rule_set_version, evaluation.rule_set_sha256) == (
        "QD124-2023",
        1,
        QD124.sha256,
    )
    record = evaluation.as_record()
    assert json.loads(json.dumps(record)) == record
    assert record["level"] == "excellent"
    assert record["rule_set_sha256"] == QD124.sha256
    assert record["explanation"] == list(evaluation.explanation)
    assert "total_points" not in record


# --- QD366-2025: points -------------------------------------------------------------------------------------------


def test_90_points_with_every_task_on_time_and_30_percent_exceeding_is_excellent() -> None:
    assert level366(90) is EXCELLENT


def test_89_99_points_is_not_excellent_but_good() -> None:
    evaluation = classify(QD366, scored(Decimal("89.99")), facts366(), None)
    assert evaluation.level is GOOD
    assert line(evaluation, "excellent") == "excellent: not met — total 89.99 points (needs at least 90)"
    assert evaluation.total_points == Decimal("89.99")
    assert evaluation.as_record()["total_points"] == "89.99"


def test_excellent_needs_every_task_on_time() -> None:
    # 99% on time also fails good, which needs 100% on time; 1% late is within completed's 20%.
    assert level366(100, tasks_on_time_percent=99, tasks_late_percent=1) is COMPLETED


def test_excellent_needs_30_percent_of_tasks_exceeding_requirements() -> None:
    assert level366(100, tasks_exceeding_percent=30) is EXCELLENT
    assert level366(100, tasks_exceeding_percent=Decimal("29.9")) is GOOD


def test_excellent_needs_every_earlier_shortcoming_remedied() -> None:
    assert level366(100, shortcomings_remedied_percent=99) is GOOD


@pytest.mark.parametrize("fact_id", ["subordinate_org_disciplined", "leadership_member_disciplined"])
def test_excellent_is_refused_with_a_disciplined_subordinate_unit_or_leadership_member(fact_id: str) -> None:
    # A subordinate disciplined for a violation it had not remedied itself would disqualify outright.
    assert level366(100, **{fact_id: True, "violations_self_remedied": True}) is GOOD


def test_good_starts_at_70_points_with_every_task_on_time() -> None:
    assert level366(70) is GOOD
    assert level366("69.99") is COMPLETED


def test_a_unit_above_90_points_that_misses_the_extras_of_excellent_is_tested_for_good() -> None:
    assert level366(95, tasks_exceeding_percent=0) is GOOD


def test_completed_starts_at_50_points_with_every_task_done() -> None:
    assert level366(50) is COMPLETED
    evaluation = classify(QD366, scored(Decimal("49.99")), facts366(), None)
    assert evaluation.level is NOT_COMPLETED
    assert "completed: not met — total 49.99 points (needs at least 50)" in evaluation.explanation


def test_completed_allows_20_percent_of_tasks_late_but_not_21() -> None:
    assert level366(60, tasks_on_time_percent=80, tasks_late_percent=20) is COMPLETED
    evaluation = classify(QD366, scored(60), facts366(tasks_on_time_percent=79, tasks_late_percent=21), None)
    assert evaluation.level is NOT_COMPLETED
    assert "fact 'tasks_late_percent' is 21% (needs at most 20%)" in line(evaluation, "completed")


def test_completed_needs_every_task_done() -> None:
    assert level366(60, tasks_done_percent=99, tasks_on_time_percent=99) is NOT_COMPLETED


@pytest.mark.parametrize(("changes", "described"), DISQUALIFIERS)
def test_the_disqualifiers_of_124_apply_under_366_too(changes: dict[str, object], described: str) -> None:
    evaluation = classify(QD366, scored(100), facts366(**changes), None)
    assert evaluation.level is NOT_COMPLETED
    assert any(described in line for line in evaluation.explanation)


def test_an_unscored_criterion_keeps_every_level_out_of_reach() -> None:
    answers = scored(100)
    del answers["key_tasks"]
    evaluation = classify(QD366, answers, facts366(), None)
    assert evaluation.level is NOT_COMPLETED
    assert "criteria not scored: key_tasks" in line(evaluation, "completed")


def test_the_points_rule_set_has_no_subordinate_thresholds() -> None:
    assert classify(QD366, scored(100), facts366(), SubordinateSummary(10, 5, 0)).level is EXCELLENT


# --- properties ----------------------------------------------------------------------------------------------------

grades = st.sampled_from(list(Grade))
percents = st.integers(min_value=0, max_value=100)


@st.composite
def graded_dossiers(draw: st.DrawFn) -> tuple[dict[str, Answer], dict[str, object], SubordinateSummary | None]:
    answers = {c.id: Answer(grade=draw(grades)) for c in QD124.criteria}
    facts: dict[str, object] = {
        f.id: draw(grades if f.type == "grade" else percents if f.type == "percent" else st.booleans())
        for f in QD124.facts
    }
    # Facts that contradict each other are refused before any classification: draw them consistent.
    facts["subordinate_org_disciplined"] = facts["subordinates_disciplined_percent"] != 0
    if facts["targets_met_percent"] == 100:
        facts["key_targets_missed"] = False
    total = draw(st.integers(min_value=0, max_value=20))
    completed = draw(st.integers(min_value=0, max_value=total))
    good = draw(st.integers(min_value=0, max_value=completed))
    return answers, facts, draw(st.sampled_from([None, SubordinateSummary(total, completed, good)]))


@given(graded_dossiers(), st.data())
def test_raising_any_single_criterion_grade_never_lowers_the_classification(
    dossier: tuple[dict[str, Answer], dict[str, object], SubordinateSummary | None], data: st.DataObject
) -> None:
    answers, facts, subordinates = dossier
    criterion_id = data.draw(st.sampled_from(sorted(answers)))
    current = answers[criterion_id].grade
    assert current is not None
    higher = data.draw(st.sampled_from([g for g in Grade if g.rank >= current.rank]))
    before = classify(QD124, answers, facts, subordinates).level
    after = classify(QD124, {**answers, criterion_id: Answer(grade=higher)}, facts, subordinates).level
    assert after >= before
    assert after is not Classification.NOT_RATED


@given(
    st.lists(st.integers(min_value=0, max_value=1000), min_size=8, max_size=8),
    st.sampled_from([c.id for c in QD366.criteria]),
    st.integers(min_value=0, max_value=1000),
    st.tuples(percents, percents, percents, percents).map(
        # Done = on time + late, and what exceeds its requirements was done: drawn so, since a contradiction is
        # refused before any classification.
        lambda p: {
            "tasks_done_percent": max(p[0], p[1]),
            "tasks_on_time_percent": min(p[0], p[1]),
            "tasks_late_percent": max(p[0], p[1]) - min(p[0], p[1]),
            "tasks_exceeding_percent": min(p[2], max(p[0], p[1])),
            "shortcomings_remedied_percent": p[3],
        }
    ),
)
def test_more_points_on_any_criterion_never_lower_the_classification(
    thousandths: list[int], criterion_id: str, extra: int, changes: dict[str, object]
) -> None:
    answers = {
        c.id: Answer(points=(c.max_points or Decimal(0)) * share / 1000)
        for c, share in zip(QD366.criteria, thousandths, strict=True)
    }
    criterion = QD366.criterion(criterion_id)
    raised = min(
        (answers[criterion_id].points or Decimal(0)) + Decimal(extra) / 100, criterion.max_points or Decimal(0)
    )
    facts = facts366(**changes)
    before = classify(QD366, answers, facts, None).level
    after = classify(QD366, {**answers, criterion_id: Answer(points=raised)}, facts, None).level
    assert after >= before
