"""Classification: the highest level whose conditions the answers meet, with the reasons."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from domain.messages import N_, Message, Percent, Series
from domain.values import Answer, Classification, Grade
from workflow.rules.answers import _check_answer
from workflow.rules.facts import _check_facts, _compare, _needs_text, _show, reconcile
from workflow.rules.model import (
    HUNDRED,
    Condition,
    Disqualifier,
    Evaluation,
    FactValue,
    LevelRule,
    RuleSet,
    SubordinateSummary,
    SubordinateThreshold,
    titled,
    titled_fact,
)


def classify(
    rule_set: RuleSet,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
    subordinates: SubordinateSummary | None,
    unit_age_months: int | None = None,
) -> Evaluation:
    """Suggest a level. Only this rule set's criteria are read (answers may also hold a recognition model's);
    anything missing counts against the level that needs it, so a draft can be previewed.

    A unit under the rule set's minimum age at the end of the period is reviewed but not classified: not_rated,
    with what its answers alone would give kept in the explanation.
    """
    evaluation = _classify_answers(rule_set, answers, facts, subordinates)
    minimum = rule_set.age.min_months
    if unit_age_months is None or unit_age_months >= minimum:
        return evaluation
    because = Message(
        N_(
            "%(level)s: the unit is %(months)s months old at the end of the period, under %(minimum)s months: "
            "reviewed but not classified (%(source)s)"
        ),
        level=Classification.NOT_RATED, months=unit_age_months, minimum=minimum, source=rule_set.age.source,
    )
    alone = Message(N_("(from the answers alone: %(level)s)"), level=evaluation.level)
    lines = [because, alone, *evaluation.lines]
    return _evaluation(rule_set, Classification.NOT_RATED, lines, evaluation.total_points)


def _classify_answers(
    rule_set: RuleSet,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
    subordinates: SubordinateSummary | None,
) -> Evaluation:
    for criterion in rule_set.criteria:
        if criterion.id in answers:
            _check_answer(criterion, answers[criterion.id], rule_set.id)
    _check_facts(rule_set, facts)
    reconciled = reconcile(rule_set, facts)
    values = reconciled.values
    total = _total_points(rule_set, answers)

    lines: list[Message] = list(reconciled.derived)
    disqualified = False
    for disqualifier in rule_set.disqualifiers:
        triggered, text = _disqualifier_applies(rule_set, disqualifier, values)
        if triggered:
            disqualified = True
            lines.append(
                Message(
                    N_("%(level)s: disqualified — %(description)s (%(figures)s)"),
                    level=Classification.NOT_COMPLETED, description=disqualifier.description, figures=text,
                )
            )
        elif text:
            lines.append(text)
    if disqualified:
        return _evaluation(rule_set, Classification.NOT_COMPLETED, lines, total)
    lines.append(Message(N_("disqualifiers: none applies")))

    if any(rule.subordinates is not None for rule in rule_set.levels) and (
        subordinates is None or subordinates.total == 0
    ):
        lines.append(Message(N_("subordinate thresholds: not applied (no decided subordinates)")))

    for rule in rule_set.levels:
        checks = _level_checks(rule_set, rule, answers, values, subordinates, total)
        failed = [text for ok, text in checks if not ok]
        if failed:
            lines.append(Message(N_("%(level)s: not met — %(checks)s"), level=rule.level, checks=Series(failed, "; ")))
        else:
            met = Series([text for _, text in checks], "; ")
            lines.append(Message(N_("%(level)s: met — %(checks)s"), level=rule.level, checks=met))
            return _evaluation(rule_set, rule.level, lines, total)
    lines.append(Message(N_("%(level)s: meets none of the upper levels"), level=Classification.NOT_COMPLETED))
    return _evaluation(rule_set, Classification.NOT_COMPLETED, lines, total)


def _evaluation(rule_set: RuleSet, level: Classification, lines: list[Message], total: Decimal | None) -> Evaluation:
    return Evaluation(
        level=level,
        # The English of each line is what a decision records: the same words, whatever language reads them.
        explanation=tuple(str(line) for line in lines),
        lines=tuple(lines),
        rule_set_id=rule_set.id,
        rule_set_version=rule_set.version,
        rule_set_sha256=rule_set.sha256,
        total_points=total,
    )


def _total_points(rule_set: RuleSet, answers: Mapping[str, Answer]) -> Decimal | None:
    if rule_set.scheme != "points":
        return None
    return sum(
        (p for c in rule_set.criteria if (a := answers.get(c.id)) is not None and (p := a.points) is not None),
        Decimal(0),
    )


def _level_checks(
    rule_set: RuleSet,
    rule: LevelRule,
    answers: Mapping[str, Answer],
    values: Mapping[str, FactValue],
    subordinates: SubordinateSummary | None,
    total: Decimal | None,
) -> list[tuple[bool, Message | Series]]:
    checks: list[tuple[bool, Message | Series]] = []
    if rule.min_grade is not None:
        checks.append(_grade_check(rule_set, rule.min_grade, answers))
    if rule.min_points is not None:
        unscored = [c.id for c in rule_set.criteria if (a := answers.get(c.id)) is None or a.points is None]
        if unscored:
            named = Series(titled(rule_set.id, c) for c in rule_set.criteria if c.id in unscored)
            checks.append((False, Message(N_("criteria not scored: %(criteria)s"), criteria=named)))
        else:
            assert total is not None
            checks.append(
                (
                    total >= rule.min_points,
                    Message(
                        N_("total %(total)s points (needs at least %(minimum)s)"), total=total, minimum=rule.min_points
                    ),
                )
            )
    for condition in rule.conditions:
        checks.append(_requirement(rule_set, condition, values))
    if rule.subordinates is not None and subordinates is not None and subordinates.total > 0:
        checks.extend(_subordinate_checks(rule.subordinates, subordinates))
    return checks


def _grade_check(
    rule_set: RuleSet, min_grade: Grade, answers: Mapping[str, Answer]
) -> tuple[bool, Message | Series]:
    failures: list[Message] = []
    for c in rule_set.criteria:
        grade = answers[c.id].grade if c.id in answers else None
        if grade is None:
            failures.append(Message(N_("criterion '%(criterion)s' not graded"), criterion=titled(rule_set.id, c)))
        elif grade.rank < min_grade.rank:
            failures.append(
                Message(
                    N_("criterion '%(criterion)s' graded %(grade)s (needs %(minimum)s or better)"),
                    criterion=titled(rule_set.id, c), grade=grade, minimum=min_grade,
                )
            )
    if failures:
        return False, Series(failures, "; ")
    return True, Message(N_("every criterion %(minimum)s or better"), minimum=min_grade)


def _subordinate_checks(threshold: SubordinateThreshold, s: SubordinateSummary) -> list[tuple[bool, Message | Series]]:
    checks: list[tuple[bool, Message | Series]] = []
    for count, minimum, template in (
        (
            s.completed_or_better, threshold.min_completed_percent,
            N_("subordinates completed or better: %(count)s of %(total)s (%(share)s, needs at least %(minimum)s)"),
        ),
        (
            s.good_or_better, threshold.min_good_percent,
            N_("subordinates good or better: %(count)s of %(total)s (%(share)s, needs at least %(minimum)s)"),
        ),
    ):
        if minimum is None:
            continue
        # Cross-multiplied so that 1 of 3 against 33.33% is decided exactly, not on a rounded share.
        ok = count * HUNDRED >= minimum * s.total
        share = Percent((count * HUNDRED / s.total).quantize(Decimal("0.01")))
        checks.append((ok, Message(template, count=count, total=s.total, share=share, minimum=Percent(minimum))))
    return checks






def _requirement(
    rule_set: RuleSet, condition: Condition, values: Mapping[str, FactValue]
) -> tuple[bool, Message | Series]:
    fact = rule_set.fact(condition.fact)
    actual = values.get(fact.id)
    needs = _needs_text(fact, condition)
    named = titled(rule_set.id, fact)
    if actual is None:
        return False, Message(N_("fact '%(fact)s' not given (needs %(needs)s)"), fact=named, needs=needs)
    shown = _show(fact, actual)
    if _compare(actual, condition.op, condition.value):
        return True, Message(
            N_("fact '%(fact)s' is %(value)s (needs %(needs)s)"), fact=named, value=shown, needs=needs
        )
    if condition.waived_by is not None:
        if values.get(condition.waived_by) is True:
            return True, Message(
                N_("fact '%(fact)s' is %(value)s, excused by '%(waiver)s'"),
                fact=named, value=shown, waiver=titled_fact(rule_set, condition.waived_by),
            )
        return False, Message(
            N_("fact '%(fact)s' is %(value)s (needs %(needs)s, unless '%(waiver)s')"),
            fact=named, value=shown, needs=needs, waiver=titled_fact(rule_set, condition.waived_by),
        )
    return False, Message(N_("fact '%(fact)s' is %(value)s (needs %(needs)s)"), fact=named, value=shown, needs=needs)


def _disqualifier_applies(
    rule_set: RuleSet, disqualifier: Disqualifier, values: Mapping[str, FactValue]
) -> tuple[bool, Message | None]:
    """Whether it applies, and the figures; a disqualifier on a missing fact cannot apply, but says so."""
    figures: list[Message] = []
    for condition in disqualifier.when:
        fact = rule_set.fact(condition.fact)
        actual = values.get(fact.id)
        if actual is None:
            return False, Message(
                N_("disqualifier '%(disqualifier)s' not checked: fact '%(fact)s' not given"),
                disqualifier=disqualifier.id, fact=titled(rule_set.id, fact),
            )
        if not _compare(actual, condition.op, condition.value):
            return False, None
        figures.append(
            Message(N_("fact '%(fact)s' is %(value)s"), fact=titled(rule_set.id, fact), value=_show(fact, actual))
        )
    if disqualifier.unless is not None:
        if values.get(disqualifier.unless) is True:
            return False, Message(
                N_("disqualifier '%(disqualifier)s' excused by '%(waiver)s'"),
                disqualifier=disqualifier.id, waiver=titled_fact(rule_set, disqualifier.unless),
            )
        excuse = titled_fact(rule_set, disqualifier.unless)
        figures.append(Message(N_("not excused by '%(waiver)s'"), waiver=excuse))
    # One value for the line that names the disqualifier: its figures, side by side.
    return True, Message("%(figures)s", figures=Series(figures))








