"""An approval reuses its dossier's last evaluation only when every input it rests on is the very same."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import InvalidInput
from domain.values import Answer, Classification, Grade
from workflow.evaluations import Computed, EvaluationMemo
from workflow.rules import Evaluation, SubordinateSummary, load_rule_book
from workflow.rules.samples import sample_answers

BOOK = load_rule_book()
RULES = BOOK.rule_set("QD124-2023")
MODEL = BOOK.recognition("four-good-cell-LC2024")
ANSWERS, FACTS = sample_answers(RULES, MODEL, Classification.GOOD)
SUMMARY = SubordinateSummary(4, 4, 3, 2)


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Computed:
        self.calls += 1
        explanation = (f"evaluation {self.calls}",)
        return Evaluation(Classification.GOOD, explanation, RULES.id, RULES.version, RULES.sha256), None


def _evaluate(memo: EvaluationMemo, compute: Callable[[], Computed], did: UUID, **changed: Any) -> Computed:
    inputs: dict[str, Any] = {
        "rule_set": RULES, "model": MODEL, "answers": ANSWERS, "facts": FACTS, "summary": SUMMARY, "age_months": 120,
    }
    inputs.update(changed)
    return memo.evaluate(did, compute=compute, **inputs)


def test_the_same_dossier_on_the_very_same_inputs_is_not_evaluated_again() -> None:
    memo, compute, did = EvaluationMemo(), Counting(), uuid4()
    first = _evaluate(memo, compute, did)
    assert _evaluate(memo, compute, did) is first
    assert _evaluate(memo, compute, did, answers=dict(ANSWERS), facts=dict(FACTS)) is first
    assert compute.calls == 1


def _one_answer_rewritten(answer: Answer) -> Answer:
    return replace(answer, comment=answer.comment + " ")


CRITERION = next(iter(ANSWERS))
FACT = next(iter(FACTS))
CHANGES: dict[str, dict[str, Any]] = {
    "another rule set object (a file loaded again)": {"rule_set": load_rule_book().rule_set("QD124-2023")},
    "another recognition model": {"model": None},
    "an answer changed": {"answers": {**ANSWERS, CRITERION: Answer(grade=Grade.POOR)}},
    "an answer equal but another object": {"answers": {**ANSWERS, CRITERION: replace(ANSWERS[CRITERION])}},
    "an answer's comment changed": {"answers": {**ANSWERS, CRITERION: _one_answer_rewritten(ANSWERS[CRITERION])}},
    "an answer added": {"answers": {**ANSWERS, "leadership_of_tasks_extra": Answer(grade=Grade.GOOD)}},
    "an answer removed": {"answers": {k: v for k, v in ANSWERS.items() if k != CRITERION}},
    "a fact changed": {"facts": {**FACTS, FACT: Decimal("50")}},
    "a fact equal but written otherwise": {"facts": {**FACTS, "targets_met_percent": Decimal("100.0")}},
    "a fact added": {"facts": {**FACTS, "another_fact": 1}},
    "a fact removed": {"facts": {k: v for k, v in FACTS.items() if k != FACT}},
    "the subordinates' counts changed": {"summary": SubordinateSummary(4, 4, 3, 1)},
    "no subordinates any more": {"summary": None},
    "the unit's age changed": {"age_months": 5},
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_changed_input_is_evaluated_afresh(change: str) -> None:
    memo, compute, did = EvaluationMemo(), Counting(), uuid4()
    first = _evaluate(memo, compute, did)
    again = _evaluate(memo, compute, did, **CHANGES[change])
    assert again is not first
    assert compute.calls == 2


def test_another_dossier_with_the_same_answers_is_evaluated_on_its_own() -> None:
    memo, compute = EvaluationMemo(), Counting()
    first = _evaluate(memo, compute, uuid4())
    assert _evaluate(memo, compute, uuid4()) is not first
    assert compute.calls == 2


def test_a_refused_evaluation_keeps_nothing() -> None:
    memo, did = EvaluationMemo(), uuid4()

    def refuse() -> Computed:
        raise InvalidInput("refused")

    with pytest.raises(InvalidInput):
        _evaluate(memo, refuse, did)
    assert len(memo) == 0
    compute = Counting()
    _evaluate(memo, compute, did)
    assert compute.calls == 1


def test_only_the_most_recently_evaluated_dossiers_are_kept() -> None:
    memo, compute = EvaluationMemo(kept=2), Counting()
    oldest, middle, newest = uuid4(), uuid4(), uuid4()
    for did in (oldest, middle, newest):
        _evaluate(memo, compute, did)
    assert len(memo) == 2
    _evaluate(memo, compute, newest)
    assert compute.calls == 3
    _evaluate(memo, compute, oldest)
    assert compute.calls == 4
