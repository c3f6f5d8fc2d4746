"""Recognition (four-good): every criterion met, the computed one from the decided subordinates."""

from __future__ import annotations

from collections.abc import Mapping

from domain.errors import InvalidInput
from domain.messages import N_, Message, Series
from domain.values import Answer
from workflow.rules.answers import _check_answer, _computed_refusal
from workflow.rules.model import Criterion, Recognition, RecognitionModel, SubordinateSummary, titled


def recognize(
    model: RecognitionModel,
    answers: Mapping[str, Answer],
    subordinates: SubordinateSummary | None,
) -> Recognition:
    met: dict[str, bool] = {}
    lines: list[Message] = []
    for criterion in model.criteria:
        why: Message | Series | None
        if criterion.computed:
            if criterion.id in answers:
                raise InvalidInput(_computed_refusal(criterion))
            ok, why = _all_subordinates_four_good(subordinates)
        else:
            answer = answers.get(criterion.id)
            if answer is not None:
                _check_answer(criterion, answer, model.id)
            ok, why = _criterion_met(model.id, criterion, answer)
        met[criterion.id] = ok
        if why is None:
            template = N_("criterion '%(criterion)s': met") if ok else N_("criterion '%(criterion)s': not met")
            line = Message(template, criterion=titled(model.id, criterion))
        else:
            template = (
                N_("criterion '%(criterion)s': met — %(why)s") if ok
                else N_("criterion '%(criterion)s': not met — %(why)s")
            )
            line = Message(template, criterion=titled(model.id, criterion), why=why)
        lines.append(line)
    unmet = [cid for cid, ok in met.items() if not ok]
    if unmet:
        lines.append(
            Message(
                N_("not recognized: %(unmet)s of %(count)s criteria not met (%(criteria)s)"),
                unmet=len(unmet), count=len(met),
                criteria=Series(titled(model.id, c) for c in model.criteria if c.id in unmet),
            )
        )
    else:
        lines.append(Message(N_("recognized: all %(count)s criteria met"), count=len(met)))
    return Recognition(
        model_id=model.id,
        model_version=model.version,
        recognized=not unmet,
        criteria=met,
        # As for a classification: the English is recorded, the sentences are for a page to translate.
        explanation=tuple(str(line) for line in lines),
        lines=tuple(lines),
        model_sha256=model.sha256,
    )


def _criterion_met(
    owner: str, criterion: Criterion, answer: Answer | None
) -> tuple[bool, Message | Series | None]:
    if answer is None or answer.met is None:
        return False, Message(N_("not answered"))
    problems = [] if answer.met else [Message(N_("answered not met"))]
    for sub in criterion.sub_items:
        ticked = answer.sub_items.get(sub.id)
        if ticked is None:
            problems.append(Message(N_("sub-item '%(sub_item)s' not answered"), sub_item=titled(owner, sub)))
        elif not ticked:
            problems.append(Message(N_("sub-item '%(sub_item)s' not met"), sub_item=titled(owner, sub)))
    if problems:
        return False, Series(problems, "; ")
    if not criterion.sub_items:
        return True, None
    return True, Message(N_("all %(count)s sub-items met"), count=len(criterion.sub_items))


def _all_subordinates_four_good(subordinates: SubordinateSummary | None) -> tuple[bool, Message]:
    if subordinates is None or subordinates.total == 0:
        return False, Message(N_("no decided subordinate cells (needs at least one, every one recognized four-good)"))
    s = subordinates
    return s.four_good == s.total, Message(
        N_("%(count)s of %(total)s subordinate cells recognized four-good (needs all)"),
        count=s.four_good, total=s.total,
    )


