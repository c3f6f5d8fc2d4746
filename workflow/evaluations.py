"""A dossier's last evaluation, kept so that an approval need not repeat the endorsement's when nothing changed.

An approval evaluates the dossier again (the decision records the evaluation it rests on), usually on the very
inputs its endorsement was evaluated on a moment or a meeting earlier. The rules are a pure function of their
inputs: the rule set and recognition model (the loaded objects, so a reloaded file is another rule set), the
answers, the facts, the subordinates' counts and the unit's age. So the last evaluation of each dossier is kept with
the inputs it was computed from, and handed out again only when every one of them is the same; anything else
computes afresh. Kept per dossier, never across dossiers: two units that typed the same answers are evaluated each
on their own, as a reader of the figures would expect.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.values import Answer
from workflow.rules import Evaluation, Recognition, RecognitionModel, RuleSet, SubordinateSummary

# Enough for the dossiers a committee endorses and then decides at one meeting; a miss only costs an evaluation.
DEFAULT_KEPT = 4096


@dataclass(frozen=True)
class _Inputs:
    rule_set: RuleSet
    model: RecognitionModel | None
    answers: dict[str, Answer]
    facts: dict[str, Any]
    summary: SubordinateSummary | None
    age_months: int

    def same_as(self, other: _Inputs) -> bool:
        # Identity, not equality, for everything but the engine's own counts: a rule file loaded again is another
        # object, and an answer equal to another may still read differently (Decimal("1") == Decimal("1.0"), and
        # 0 == False), which the explanation would show. A command's copy of a dossier shares the values of the
        # version it was copied from, so an unchanged answer is the very same object.
        return (
            self.rule_set is other.rule_set
            and self.model is other.model
            and self.age_months == other.age_months
            and self.summary == other.summary
            and _same_values(self.answers, other.answers)
            and _same_values(self.facts, other.facts)
        )


def _same_values(a: Mapping[str, object], b: Mapping[str, object]) -> bool:
    return len(a) == len(b) and all(key in b and b[key] is value for key, value in a.items())


Computed = tuple[Evaluation, Recognition | None]


class EvaluationMemo:
    """The last evaluation of each of the most recently evaluated dossiers; safe to share between threads."""

    def __init__(self, kept: int = DEFAULT_KEPT) -> None:
        self.kept = kept
        self._entries: OrderedDict[UUID, tuple[_Inputs, Computed]] = OrderedDict()
        self._lock = threading.Lock()

    def evaluate(
        self,
        dossier_id: UUID,
        rule_set: RuleSet,
        model: RecognitionModel | None,
        answers: Mapping[str, Answer],
        facts: Mapping[str, Any],
        summary: SubordinateSummary | None,
        age_months: int,
        compute: Callable[[], Computed],
    ) -> Computed:
        """compute()'s result for these inputs: the one kept for this dossier if its inputs were the same."""
        # Copies: the dossier's own dicts belong to a command's copy, which later events may change.
        inputs = _Inputs(rule_set, model, dict(answers), dict(facts), summary, age_months)
        with self._lock:
            kept = self._entries.get(dossier_id)
        if kept is not None and kept[0].same_as(inputs):
            return kept[1]
        computed = compute()  # A refusal (InvalidInput) is raised here and keeps nothing.
        with self._lock:
            self._entries[dossier_id] = (inputs, computed)
            self._entries.move_to_end(dossier_id)
            while len(self._entries) > self.kept:
                self._entries.popitem(last=False)
        return computed

    def __len__(self) -> int:
        return len(self._entries)
