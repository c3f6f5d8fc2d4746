"""Rule sets and recognition models as data (workflow/rulesets/*.toml), and the pure evaluator over them.

model: the frozen rule book and the results; answers: checking what a secretary typed in; classification and
recognition: the evaluators; loading: the files, their schema and their checks.
"""

from workflow.rules.answers import missing_answers, validate_answers
from workflow.rules.classification import classify
from workflow.rules.loading import load_file, load_rule_book
from workflow.rules.model import (
    DEFAULT_RULES_DIR,
    Condition,
    Criterion,
    CriterionGroup,
    Disqualifier,
    Evaluation,
    Fact,
    LevelRule,
    Recognition,
    RecognitionModel,
    RuleBook,
    RuleSet,
    SubItem,
    SubordinateSummary,
    SubordinateThreshold,
)
from workflow.rules.recognition import recognize

__all__ = [
    "DEFAULT_RULES_DIR",
    "Condition",
    "Criterion",
    "CriterionGroup",
    "Disqualifier",
    "Evaluation",
    "Fact",
    "LevelRule",
    "Recognition",
    "RecognitionModel",
    "RuleBook",
    "RuleSet",
    "SubItem",
    "SubordinateSummary",
    "SubordinateThreshold",
    "classify",
    "load_file",
    "load_rule_book",
    "missing_answers",
    "recognize",
    "validate_answers",
]
