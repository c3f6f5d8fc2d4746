"""Checking what a secretary typed in against a rule set and a recognition model."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from domain.errors import InvalidInput
from domain.messages import N_, Message, Series, Titled
from domain.values import Answer, Grade
from workflow.rules.facts import _check_facts, _number, reconcile, shown_value
from workflow.rules.model import Criterion, RecognitionModel, RuleSet, _grades, titled


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
    # The model's criteria by id: `criterion in model.criteria` compared each rule-set criterion field by field with
    # every criterion of the model (dataclass equality), thirty comparisons a recording, to find none.
    model_ids = {c.id for c in model.criteria} if model is not None else set()
    for criterion_id, answer in answers.items():
        criterion = criteria.get(criterion_id)
        if criterion is None:
            raise InvalidInput(
                N_("unknown criterion '%(criterion)s'; the criteria of %(where)s are: %(known)s"),
                criterion=criterion_id, where=_where(rule_set, model), known=Series(criteria),
            )
        if criterion.computed:
            raise InvalidInput(_computed_refusal(criterion))
        owner = model.id if model is not None and criterion.id in model_ids else rule_set.id
        _check_answer(criterion, answer, owner)
    _check_facts(rule_set, facts)
    reconcile(rule_set, {**(recorded_facts or {}), **facts})


def missing_answers(
    rule_set: RuleSet,
    model: RecognitionModel | None,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
) -> list[str]:
    """Ids still to fill in before submission: criteria, `criterion.sub_item`, then facts (each titled, so that a
    refusal names them by their titles on a page)."""
    missing: list[str] = []
    owners = {c.id: rule_set.id for c in rule_set.criteria}
    if model is not None:
        owners.update((c.id, model.id) for c in model.criteria)
    for criterion in _all_criteria(rule_set, model).values():
        if criterion.computed:
            continue
        owner = owners[criterion.id]
        answer = answers.get(criterion.id)
        if answer is None or _given(criterion, answer) is None:
            missing.append(titled(owner, criterion))
        ticked = answer.sub_items if answer is not None else {}
        missing.extend(
            Titled(
                owner, f"{criterion.id}.{s.id}", f"{criterion.title_vi} — {s.title_vi}",
                f"{criterion.title_en} — {s.title_en}",
            )
            for s in criterion.sub_items if s.id not in ticked
        )
    # A figure that follows from the others (the late share, from the done and on-time shares) needs no typing.
    known = reconcile(rule_set, facts).values
    missing.extend(titled(rule_set.id, f) for f in rule_set.facts if f.required and f.id not in known)
    return missing


def _all_criteria(rule_set: RuleSet, model: RecognitionModel | None) -> dict[str, Criterion]:
    criteria = {c.id: c for c in rule_set.criteria}
    if model is not None:
        criteria.update((c.id, c) for c in model.criteria)
    return criteria


def _where(rule_set: RuleSet, model: RecognitionModel | None) -> str | Message:
    if model is None:
        return rule_set.id
    return Message(N_("%(rule_set)s and %(model)s"), rule_set=rule_set.id, model=model.id)


def _computed_refusal(criterion: Criterion) -> Message:
    return Message(
        N_(
            "criterion '%(criterion)s' is computed from the subordinates' decided dossiers and cannot be answered by "
            "hand"
        ),
        criterion=criterion.id,
    )


def _given(criterion: Criterion, answer: Answer) -> Grade | Decimal | bool | None:
    if criterion.scale == "grade":
        return answer.grade
    if criterion.scale == "points":
        return answer.points
    return answer.met


def _check_answer(criterion: Criterion, answer: Answer, owner: str) -> None:
    # `owner`: the rule set or recognition model the criterion belongs to, for its title in a refusal. Named only
    # when refusing: the rules check every answer again at each evaluation, and nearly every answer passes.
    def name() -> Titled:
        return titled(owner, criterion)

    scale = criterion.scale
    # Answers of another scale than the criterion's, in this order; the list is made only for a refusal.
    if (
        (answer.grade is not None and scale != "grade")
        or (answer.points is not None and scale != "points")
        or (answer.met is not None and scale != "met")
    ):
        given = {"grade": answer.grade, "points": answer.points, "met": answer.met}
        wrong = [kind for kind, value in given.items() if value is not None and kind != scale]
        raise InvalidInput(
            N_("criterion '%(criterion)s' is %(scale)s; %(wrong)s given instead"),
            criterion=name(), scale=_scale_text(criterion), wrong=Series(wrong, N_(" and ")),
        )
    if answer.grade is not None and not isinstance(answer.grade, Grade):
        raise InvalidInput(
            N_("criterion '%(criterion)s': grade must be one of %(grades)s, got %(got)s"),
            criterion=name(), grades=_grades(), got=repr(answer.grade),
        )
    if answer.met is not None and not isinstance(answer.met, bool):
        raise InvalidInput(
            N_("criterion '%(criterion)s': met must be true or false, got %(got)s"),
            criterion=name(), got=repr(answer.met),
        )
    if answer.points is not None:
        points = _number(answer.points)
        assert criterion.max_points is not None  # the loader guarantees it for a points criterion
        if points is None or not Decimal(0) <= points <= criterion.max_points:
            raise InvalidInput(
                N_("criterion '%(criterion)s': points must be a number from 0 to %(max)s, got %(got)s"),
                criterion=name(), max=criterion.max_points, got=shown_value(answer.points),
            )
    for sub_id, ticked in answer.sub_items.items():
        if sub_id not in criterion.sub_item_ids:
            valid = Series(criterion.sub_item_ids) if criterion.sub_item_ids else Message(N_("none"))
            raise InvalidInput(
                N_("criterion '%(criterion)s' has no sub-item '%(sub_item)s'; its sub-items are: %(valid)s"),
                criterion=name(), sub_item=sub_id, valid=valid,
            )
        if not isinstance(ticked, bool):
            raise InvalidInput(
                N_("criterion '%(criterion)s': sub-item '%(sub_item)s' must be true or false, got %(got)s"),
                criterion=name(), sub_item=sub_id, got=repr(ticked),
            )


def _scale_text(criterion: Criterion) -> Message:
    if criterion.scale == "grade":
        return Message(N_("graded (%(grades)s)"), grades=_grades())
    if criterion.scale == "points":
        assert criterion.max_points is not None
        return Message(N_("scored in points (0 to %(max)s)"), max=criterion.max_points)
    return Message(N_("answered met or not met"))












