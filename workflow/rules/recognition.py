"""Recognition (four-good): every criterion met, the computed one from the decided subordinates."""

from __future__ import annotations

from collections.abc import Mapping

from domain.errors import InvalidInput
from domain.values import Answer
from workflow.rules.answers import _check_answer, _computed_refusal
from workflow.rules.model import Criterion, Recognition, RecognitionModel, SubordinateSummary


def recognize(
    model: RecognitionModel,
    answers: Mapping[str, Answer],
    subordinates: SubordinateSummary | None,
) -> Recognition:
    met: dict[str, bool] = {}
    lines: list[str] = []
    for criterion in model.criteria:
        if criterion.computed:
            if criterion.id in answers:
                raise InvalidInput(_computed_refusal(criterion))
            ok, why = _all_subordinates_four_good(subordinates)
        else:
            answer = answers.get(criterion.id)
            if answer is not None:
                _check_answer(criterion, answer)
            ok, why = _criterion_met(criterion, answer)
        met[criterion.id] = ok
        lines.append(f"criterion '{criterion.id}': {'met' if ok else 'not met'}{f' — {why}' if why else ''}")
    unmet = [cid for cid, ok in met.items() if not ok]
    if unmet:
        lines.append(f"not recognized: {len(unmet)} of {len(met)} criteria not met ({', '.join(unmet)})")
    else:
        lines.append(f"recognized: all {len(met)} criteria met")
    return Recognition(
        model_id=model.id,
        model_version=model.version,
        recognized=not unmet,
        criteria=met,
        explanation=tuple(lines),
        model_sha256=model.sha256,
    )


def _criterion_met(criterion: Criterion, answer: Answer | None) -> tuple[bool, str]:
    if answer is None or answer.met is None:
        return False, "not answered"
    problems = [] if answer.met else ["answered not met"]
    for sub in criterion.sub_items:
        ticked = answer.sub_items.get(sub.id)
        if ticked is None:
            problems.append(f"sub-item '{sub.id}' not answered")
        elif not ticked:
            problems.append(f"sub-item '{sub.id}' not met")
    if problems:
        return False, "; ".join(problems)
    return True, f"all {len(criterion.sub_items)} sub-items met" if criterion.sub_items else ""


def _all_subordinates_four_good(subordinates: SubordinateSummary | None) -> tuple[bool, str]:
    if subordinates is None or subordinates.total == 0:
        return False, "no decided subordinate cells (needs at least one, every one recognized four-good)"
    s = subordinates
    return s.four_good == s.total, f"{s.four_good} of {s.total} subordinate cells recognized four-good (needs all)"


