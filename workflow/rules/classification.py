"""Classification: the highest level whose conditions the answers meet, with the reasons."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

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
    _num,
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
    because = (
        f"not_rated: the unit is {unit_age_months} months old at the end of the period, under {minimum} months: "
        f"reviewed but not classified ({rule_set.age.source})"
    )
    lines = [because, f"(from the answers alone: {evaluation.level.value})", *evaluation.explanation]
    return _evaluation(rule_set, Classification.NOT_RATED, lines, evaluation.total_points)


def _classify_answers(
    rule_set: RuleSet,
    answers: Mapping[str, Answer],
    facts: Mapping[str, object],
    subordinates: SubordinateSummary | None,
) -> Evaluation:
    for criterion in rule_set.criteria:
        if criterion.id in answers:
            _check_answer(criterion, answers[criterion.id])
    _check_facts(rule_set, facts)
    reconciled = reconcile(rule_set, facts)
    values = reconciled.values
    total = _total_points(rule_set, answers)

    lines: list[str] = list(reconciled.derived)
    disqualified = False
    for disqualifier in rule_set.disqualifiers:
        triggered, text = _disqualifier_applies(rule_set, disqualifier, values)
        if triggered:
            disqualified = True
            lines.append(f"not_completed: disqualified — {disqualifier.description} ({text})")
        elif text:
            lines.append(text)
    if disqualified:
        return _evaluation(rule_set, Classification.NOT_COMPLETED, lines, total)
    lines.append("disqualifiers: none applies")

    if any(rule.subordinates is not None for rule in rule_set.levels) and (
        subordinates is None or subordinates.total == 0
    ):
        lines.append("subordinate thresholds: not applied (no decided subordinates)")

    for rule in rule_set.levels:
        checks = _level_checks(rule_set, rule, answers, values, subordinates, total)
        failed = [text for ok, text in checks if not ok]
        if failed:
            lines.append(f"{rule.level.value}: not met — {'; '.join(failed)}")
        else:
            lines.append(f"{rule.level.value}: met — {'; '.join(text for _, text in checks)}")
            return _evaluation(rule_set, rule.level, lines, total)
    lines.append("not_completed: meets none of the upper levels")
    return _evaluation(rule_set, Classification.NOT_COMPLETED, lines, total)


def _evaluation(rule_set: RuleSet, level: Classification, lines: list[str], total: Decimal | None) -> Evaluation:
    return Evaluation(
        level=level,
        explanation=tuple(lines),
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
) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    if rule.min_grade is not None:
        checks.append(_grade_check(rule_set, rule.min_grade, answers))
    if rule.min_points is not None:
        unscored = [c.id for c in rule_set.criteria if (a := answers.get(c.id)) is None or a.points is None]
        if unscored:
            checks.append((False, f"criteria not scored: {', '.join(unscored)}"))
        else:
            assert total is not None
            checks.append(
                (total >= rule.min_points, f"total {_num(total)} points (needs at least {_num(rule.min_points)})")
            )
    for condition in rule.conditions:
        checks.append(_requirement(rule_set, condition, values))
    if rule.subordinates is not None and subordinates is not None and subordinates.total > 0:
        checks.extend(_subordinate_checks(rule.subordinates, subordinates))
    return checks


def _grade_check(rule_set: RuleSet, min_grade: Grade, answers: Mapping[str, Answer]) -> tuple[bool, str]:
    failures: list[str] = []
    for c in rule_set.criteria:
        grade = answers[c.id].grade if c.id in answers else None
        if grade is None:
            failures.append(f"criterion '{c.id}' not graded")
        elif grade.rank < min_grade.rank:
            failures.append(f"criterion '{c.id}' graded {grade.value} (needs {min_grade.value} or better)")
    if failures:
        return False, "; ".join(failures)
    return True, f"every criterion {min_grade.value} or better"


def _subordinate_checks(threshold: SubordinateThreshold, s: SubordinateSummary) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    for count, minimum, label in (
        (s.completed_or_better, threshold.min_completed_percent, "completed or better"),
        (s.good_or_better, threshold.min_good_percent, "good or better"),
    ):
        if minimum is None:
            continue
        # Cross-multiplied so that 1 of 3 against 33.33% is decided exactly, not on a rounded share.
        ok = count * HUNDRED >= minimum * s.total
        share = _num((count * HUNDRED / s.total).quantize(Decimal("0.01")))
        checks.append((ok, f"subordinates {label}: {count} of {s.total} ({share}%, needs at least {_num(minimum)}%)"))
    return checks






def _requirement(rule_set: RuleSet, condition: Condition, values: Mapping[str, FactValue]) -> tuple[bool, str]:
    fact = rule_set.fact(condition.fact)
    actual = values.get(fact.id)
    needs = _needs_text(fact, condition)
    if actual is None:
        return False, f"fact '{fact.id}' not given (needs {needs})"
    shown = f"fact '{fact.id}' is {_show(fact, actual)}"
    if _compare(actual, condition.op, condition.value):
        return True, f"{shown} (needs {needs})"
    if condition.waived_by is not None:
        if values.get(condition.waived_by) is True:
            return True, f"{shown}, excused by '{condition.waived_by}'"
        return False, f"{shown} (needs {needs}, unless '{condition.waived_by}')"
    return False, f"{shown} (needs {needs})"


def _disqualifier_applies(
    rule_set: RuleSet, disqualifier: Disqualifier, values: Mapping[str, FactValue]
) -> tuple[bool, str]:
    """Whether it applies, and the figures; a disqualifier on a missing fact cannot apply, but says so."""
    figures: list[str] = []
    for condition in disqualifier.when:
        fact = rule_set.fact(condition.fact)
        actual = values.get(fact.id)
        if actual is None:
            return False, f"disqualifier '{disqualifier.id}' not checked: fact '{fact.id}' not given"
        if not _compare(actual, condition.op, condition.value):
            return False, ""
        figures.append(f"fact '{fact.id}' is {_show(fact, actual)}")
    if disqualifier.unless is not None:
        if values.get(disqualifier.unless) is True:
            return False, f"disqualifier '{disqualifier.id}' excused by '{disqualifier.unless}'"
        figures.append(f"not excused by '{disqualifier.unless}'")
    return True, ", ".join(figures)








