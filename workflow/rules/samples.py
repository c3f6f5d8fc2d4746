from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from domain.values import Answer, Classification, Grade
from workflow.rules.model import Criterion, RecognitionModel, RuleSet

# Answers that a unit aiming at a given level would plausibly give, read off the rule set's own criteria and
# facts: the demo fills dossiers with them, and the tests use them as a starting point to vary.

_GRADE = {
    Classification.EXCELLENT: Grade.EXCELLENT,
    Classification.GOOD: Grade.GOOD,
    Classification.COMPLETED: Grade.AVERAGE,
    Classification.NOT_COMPLETED: Grade.AVERAGE,
}
_SHARE_OF_POINTS = {
    Classification.EXCELLENT: Decimal("0.95"),
    Classification.GOOD: Decimal("0.80"),
    Classification.COMPLETED: Decimal("0.60"),
    Classification.NOT_COMPLETED: Decimal("0.40"),
}
_TASK_RESULTS = {
    Classification.EXCELLENT: Grade.EXCELLENT,
    Classification.GOOD: Grade.GOOD,
    Classification.COMPLETED: Grade.AVERAGE,
    Classification.NOT_COMPLETED: Grade.POOR,
}


def _fact_value(fact_id: str, fact_type: str, level: Classification) -> object:
    excellent = level is Classification.EXCELLENT
    if fact_type == "grade":
        return _TASK_RESULTS[level]
    if fact_type == "bool":
        if fact_id == "concrete_products":
            return excellent
        if fact_id == "key_targets_missed":
            return level is Classification.NOT_COMPLETED
        return False
    if fact_type == "percent":
        if "disciplined" in fact_id:
            return Decimal(0)
        if fact_id == "tasks_late_percent":
            return Decimal(15) if level is Classification.COMPLETED else Decimal(0)
        if fact_id == "tasks_on_time_percent":
            return Decimal(85) if level in (Classification.COMPLETED, Classification.NOT_COMPLETED) else Decimal(100)
        if fact_id == "tasks_exceeding_percent":
            return Decimal(35) if excellent else Decimal(10)
        if fact_id == "targets_met_percent":
            return Decimal(40) if level is Classification.NOT_COMPLETED else Decimal(100)
        return Decimal(100)
    return 0


def _criterion_answer(criterion: Criterion, level: Classification, comment: str) -> Answer:
    if criterion.scale == "grade":
        return Answer(grade=_GRADE[level], comment=comment)
    if criterion.scale == "points":
        assert criterion.max_points is not None
        points = (criterion.max_points * _SHARE_OF_POINTS[level]).quantize(Decimal("0.5"), rounding=ROUND_HALF_UP)
        return Answer(points=points, comment=comment)
    return Answer(met=True, sub_items=dict.fromkeys(criterion.sub_item_ids, True), comment=comment)


def sample_answers(
    rule_set: RuleSet,
    model: RecognitionModel | None,
    level: Classification,
    *,
    four_good: bool = True,
    comment: str = "",
) -> tuple[dict[str, Answer], dict[str, object]]:
    answers = {c.id: _criterion_answer(c, level, comment) for c in rule_set.criteria}
    if level is Classification.NOT_COMPLETED and rule_set.scheme == "graded":
        first = rule_set.criteria[0]
        answers[first.id] = Answer(grade=Grade.POOR, comment=comment or "serious shortcomings")
    facts = {f.id: _fact_value(f.id, f.type, level) for f in rule_set.facts if f.required}
    if model is not None:
        for criterion in model.criteria:
            if not criterion.computed:
                answers[criterion.id] = _criterion_answer(criterion, level, comment)
        if not four_good:
            target = next(c for c in model.criteria if not c.computed)
            subs = dict.fromkeys(target.sub_item_ids, True)
            if subs:
                subs[next(iter(subs))] = False
            answers[target.id] = Answer(met=bool(subs), sub_items=subs, comment="not met this year")
    return answers, facts
