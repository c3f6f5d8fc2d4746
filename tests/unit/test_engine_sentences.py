"""The engine's sentences: a template and its values that read in English exactly as the engine always wrote them,
and that keep the values as values (a level, a number, a date) for a page to render in its reader's language."""

from __future__ import annotations

import ast
import pickle
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from domain import errors
from domain.errors import DomainError, InvalidInput, ReasonRequired
from domain.messages import N_, Count, Message, Percent, Series, Term, Titled
from domain.text import clean_text
from domain.values import Classification, Grade, Role
from workflow.rules.classification import classify
from workflow.rules.loading import load_rule_book
from workflow.rules.samples import sample_answers

ROOT = Path(__file__).resolve().parents[2]


def test_a_refusal_reads_in_english_as_its_template_filled_with_its_values() -> None:
    error = InvalidInput(
        N_("%(what)s is %(length)s characters long; at most %(limit)s are accepted"),
        what=Message(N_("a unit's name")), length=Count(20_001), limit=Count(20_000),
    )
    assert str(error) == "a unit's name is 20,001 characters long; at most 20,000 are accepted"
    assert error.args == (str(error),)
    assert error.message.template == "%(what)s is %(length)s characters long; at most %(limit)s are accepted"
    assert error.message.params["length"] == 20_001


def test_values_read_in_english_as_the_engine_wrote_them_before() -> None:
    message = Message(
        "%(level)s %(grade)s %(role)s %(year)s %(day)s %(moment)s %(points)s %(share)s %(ids)s %(step)s %(item)s",
        level=Classification.NOT_RATED, grade=Grade.AVERAGE, role=Role.APPROVER, year=2025,
        day=date(2024, 12, 31), moment=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), points=Decimal("80.00"),
        share=Percent(Decimal("33.330")), ids=Series(["c1", "c2"]), step=Term("trigger", "approve", "Decide"),
        item=Titled("QD366-2025", "tasks_done", "Tỷ lệ hoàn thành", "Share done"),
    )
    # Years and versions are plain ints (no grouping); only a Count is grouped.
    assert str(message) == (
        "not_rated average approver 2025 2024-12-31 2025-01-02 03:04 80 33.33% c1, c2 Decide tasks_done"
    )


def test_a_series_joins_nested_sentences_with_its_separator() -> None:
    joined = Series([Message(N_("criterion '%(criterion)s' not graded"), criterion="c1"), "x"], N_(" and "))
    assert str(joined) == "criterion 'c1' not graded and x"


def test_a_template_without_values_keeps_its_percent_sign() -> None:
    assert str(InvalidInput("100% of tasks")) == "100% of tasks"


def test_a_template_that_does_not_match_its_values_still_says_everything() -> None:
    error = InvalidInput("%(missing)s is wrong", present="x")
    assert "%(missing)s is wrong" in str(error)
    assert "'present': 'x'" in str(error)


def test_a_refusal_crosses_a_process_boundary_whole() -> None:
    error = ReasonRequired(N_("%(what)s needs a reason"), what=Message(N_("withdrawing a draft")))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ReasonRequired
    assert str(copy) == "withdrawing a draft needs a reason"
    assert copy.message == error.message


def test_the_named_text_of_a_refusal_is_its_own_sentence() -> None:
    with pytest.raises(InvalidInput) as refused:
        clean_text("", N_("the reason for moving a unit"), required=True)
    assert str(refused.value) == "the reason for moving a unit cannot be empty"
    named = refused.value.message.params["what"]
    assert isinstance(named, Message)
    assert named.template == "the reason for moving a unit"


# --- the rules' explanation ----------------------------------------------------------------------------------


def test_each_explanation_line_keeps_its_level_and_figures_as_values() -> None:
    rule_set = load_rule_book().rule_set("QD366-2025")
    evaluation = classify(rule_set, *sample_answers(rule_set, None, Classification.GOOD), None)
    assert evaluation.level is Classification.GOOD
    assert len(evaluation.lines) == len(evaluation.explanation)
    assert [str(line) for line in evaluation.lines] == list(evaluation.explanation)
    met = evaluation.lines[-1]
    assert met.template == "%(level)s: met — %(checks)s"
    assert met.params["level"] is Classification.GOOD
    checks = met.params["checks"]
    assert isinstance(checks, Series)
    assert any(isinstance(item, Message) and isinstance(item.params.get("total"), Decimal) for item in checks.items)


def test_a_unit_too_young_keeps_what_its_answers_alone_would_give_as_a_level() -> None:
    rule_set = load_rule_book().rule_set("QD366-2025")
    evaluation = classify(rule_set, *sample_answers(rule_set, None, Classification.GOOD), None, unit_age_months=4)
    assert evaluation.level is Classification.NOT_RATED
    first, alone = evaluation.lines[:2]
    assert first.params["level"] is Classification.NOT_RATED
    assert first.params["months"] == 4
    assert alone.params["level"] is Classification.GOOD
    assert evaluation.explanation[1] == "(from the answers alone: good)"


# --- every refusal of the engine is marked ---------------------------------------------------------------------

# Whose sentences reach an operator, not a person on a page: the store's (a database to open, a key to read) and the
# rule-file loader's (a rule file that does not validate, at start). They stay English, like the command line.
OPERATOR_FACING = ("workflow/store/", "workflow/rules/loading.py")
REFUSALS = {
    name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, DomainError)
}


def _unmarked_refusals(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        func = node.exc.func
        if not (isinstance(func, ast.Name) and func.id in REFUSALS) or not node.exc.args:
            continue
        first = node.exc.args[0]
        # A sentence built in place (an f-string, a literal, a concatenation) would reach a page in English only.
        if isinstance(first, ast.JoinedStr | ast.Constant | ast.BinOp):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_refusal_the_engine_raises_is_a_template_marked_for_translation() -> None:
    sources = [p for top in ("domain", "workflow") for p in (ROOT / top).rglob("*.py")]
    checked = [p for p in sources if not str(p.relative_to(ROOT)).startswith(OPERATOR_FACING)]
    assert len(checked) > 20
    unmarked = [site for path in checked for site in _unmarked_refusals(path)]
    assert unmarked == [], "raise these with N_(template) and values:\n" + "\n".join(unmarked)


def test_every_refusal_a_page_or_the_api_raises_is_a_template_marked_for_translation() -> None:
    # The command line speaks English to an operator, as the store does; everything else in web/ reaches a person
    # in their language.
    checked = [p for p in (ROOT / "web").rglob("*.py") if p.name != "cli.py"]
    assert len(checked) > 10
    unmarked = [site for path in checked for site in _unmarked_refusals(path)]
    assert unmarked == [], "raise these with N_(template) and values:\n" + "\n".join(unmarked)


def test_the_check_for_unmarked_refusals_finds_each_kind(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def f(x):\n"
        "    raise NotAuthorized(f'no {x}')\n"
        "    raise InvalidInput('plain words')\n"
        "    raise NotFound('no ' + x)\n"
        "    raise NotFound(N_('no %(x)s'), x=x)\n"
        "    raise ValueError(f'not a refusal {x}')\n",
        encoding="utf-8",
    )
    assert _unmarked_refusals(planted, tmp_path) == ["planted.py:2", "planted.py:3", "planted.py:4"]
