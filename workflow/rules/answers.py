"""Checking what a secretary typed in against a rule set and a recognition model."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from domain.errors import InvalidInput
from domain.values import Answer, Grade
from workflow.rules.facts import _check_facts, _number, reconcile
from workflow.rules.model import Criterion, RecognitionModel, RuleSet, _grades, _num


def validate_answers(
    rule_set: RuleSet,
    model: RecognitionModel | None,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
    recorded_facts: Mapping[str, object] | None = None,
) -> None:
    """Refuse what cannot be recorded: unknown ids, values of the wrong kind, and facts that, together with those
    already recorded, contradict each other."""
    criteria = _all_criteria(rule_set, model)
    for criterion_id, answer in answers.items():
        criterion = criteria.get(criterion_id)
        if criterion is None:
            raise InvalidInput(
                f"unknown criterion '{criterion_id}'; the criteria of {_where(rule_set, model)} are: "
                f"{', '.join(criteria)}"
            )
        if criterion.computed:
            raise InvalidInput(_computed_refusal(criterion))
        _check_answer(criterion, answer)
    _check_facts(rule_set, facts)
    reconcile(rule_set, {**(recorded_facts or {}), **facts})


def missing_answers(
    rule_set: RuleSet,
    model: RecognitionModel | None,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
) -> list[str]:
    """Ids still to fill in before submission: criteria, `criterion.sub_item`, then facts."""
    missing: list[str] = []
    for criterion in _all_criteria(rule_set, model).values():
        if criterion.computed:
            continue
        answer = answers.get(criterion.id)
        if answer is None or _given(criterion, answer) is None:
            missing.append(criterion.id)
        ticked = answer.sub_items if answer is not None else {}
        missing.extend(f"{criterion.id}.{s.id}" for s in criterion.sub_items if s.id not in ticked)
    # A figure that follows from the others (the late share, from the done and on-time shares) needs no typing.
    known = reconcile(rule_set, facts).values
    missing.extend(f.id for f in rule_set.facts if f.required and f.id not in known)
    return missing


def _all_criteria(rule_set: RuleSet, model: RecognitionModel | None) -> dict[str, Criterion]:
    criteria = {c.id: c for c in rule_set.criteria}
    if model is not None:
        criteria.update((c.id, c) for c in model.criteria)
    return criteria


def _where(rule_set: RuleSet, model: RecognitionModel | None) -> str:
    return rule_set.id if model is None else f"{rule_set.id} and {model.id}"


def _computed_refusal(criterion: Criterion) -> str:
    return (
        f"criterion '{criterion.id}' is computed from the subordinates' decided dossiers and cannot be answered by hand"
    )


def _given(criterion: Criterion, answer: Answer) -> Grade | Decimal | bool | None:
    if criterion.scale == "grade":
        return answer.grade
    if criterion.scale == "points":
        return answer.points
    return answer.met


def _check_answer(criterion: Criterion, answer: Answer) -> None:
    name = f"criterion '{criterion.id}'"
    given = {
        "grade": answer.grade is not None,
        "points": answer.points is not None,
        "met": answer.met is not None,
    }
    wrong = [scale for scale, present in given.items() if present and scale != criterion.scale]
    if wrong:
        raise InvalidInput(f"{name} is {_scale_text(criterion)}; {' and '.join(wrong)} given instead")
    if answer.grade is not None and not isinstance(answer.grade, Grade):
        raise InvalidInput(f"{name}: grade must be one of {_grades()}, got {answer.grade!r}")
    if answer.met is not None and not isinstance(answer.met, bool):
        raise InvalidInput(f"{name}: met must be true or false, got {answer.met!r}")
    if answer.points is not None:
        points = _number(answer.points)
        assert criterion.max_points is not None  # the loader guarantees it for a points criterion
        if points is None or not Decimal(0) <= points <= criterion.max_points:
            raise InvalidInput(
                f"{name}: points must be a number from 0 to {_num(criterion.max_points)}, got {answer.points!r}"
            )
    for sub_id, ticked in answer.sub_items.items():
        if sub_id not in criterion.sub_item_ids:
            valid = ", ".join(criterion.sub_item_ids) or "none"
            raise InvalidInput(f"{name} has no sub-item '{sub_id}'; its sub-items are: {valid}")
        if not isinstance(ticked, bool):
            raise InvalidInput(f"{name}: sub-item '{sub_id}' must be true or false, got {ticked!r}")


def _scale_text(criterion: Criterion) -> str:
    if criterion.scale == "grade":
        return f"graded ({_grades()})"
    if criterion.scale == "points":
        assert criterion.max_points is not None
        return f"scored in points (0 to {_num(criterion.max_points)})"
    return "answered met or not met"












