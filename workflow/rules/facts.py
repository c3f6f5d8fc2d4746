"""Facts that hang together: figures that add up, and facts that imply others.

What can be derived is derived (with one figure of a sum missing, it is the difference); what contradicts is
refused with the figures, so that 100% of tasks done, 75% on time and 0% late never reaches a classification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from domain.errors import InvalidInput
from domain.messages import N_, Message, Percent, Series
from domain.values import Grade
from workflow.rules.model import (
    HUNDRED,
    Condition,
    Fact,
    FactImplication,
    FactSum,
    FactType,
    FactValue,
    Operator,
    RuleSet,
    _grades,
    titled,
)

_COMPARE: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


def _compare(actual: FactValue, op: Operator, expected: FactValue) -> bool:
    return _COMPARE[op](_as_number(actual), _as_number(expected))


def _as_number(value: FactValue) -> Decimal:
    if type(value) is Decimal:  # Most facts are figures, already Decimal (a Decimal is immutable: no copy needed).
        return value
    if type(value) is bool or type(value) is Grade:
        return _NUMBERS[value]
    if isinstance(value, Grade):
        return Decimal(value.rank)
    return Decimal(int(value)) if isinstance(value, bool) else Decimal(value)


# The number of each yes-or-no and each grade, made once: an evaluation compares a few dozen of them.
_NUMBERS: dict[bool | Grade, Decimal] = {False: Decimal(0), True: Decimal(1)} | {g: Decimal(g.rank) for g in Grade}


# Shown for a yes-or-no fact in every evaluation: made once (a Message is never changed once made).
_YES = Message(N_("yes"))
_NO = Message(N_("no"))


def _show(fact: Fact, value: FactValue) -> object:
    """A fact's value as a sentence shows it: a grade by its name, yes or no, a number or a percentage."""
    if isinstance(value, Grade):
        return value
    if isinstance(value, bool):
        return _YES if value else _NO
    return Percent(Decimal(value)) if fact.type == "percent" else Decimal(value)


# What a condition asks of a fact, by its operator ("==" asks for the value itself).
_NEEDS = {
    "!=": N_("not %(value)s"),
    ">=": N_("at least %(value)s"),
    ">": N_("more than %(value)s"),
    "<=": N_("at most %(value)s"),
    "<": N_("less than %(value)s"),
}


def _needs_text(fact: Fact, condition: Condition) -> Message:
    shown = _show(fact, condition.value)
    if isinstance(condition.value, Grade) and condition.op in (">=", "<="):
        better = condition.op == ">="
        return Message(N_("%(value)s or better") if better else N_("%(value)s or worse"), value=shown)
    if condition.op == "==":
        return Message("%(value)s", value=shown)
    return Message(_NEEDS[condition.op], value=shown)



def _check_facts(rule_set: RuleSet, facts: Mapping[str, object]) -> None:
    known = rule_set.facts_by_id
    for fact_id, value in facts.items():
        fact = known.get(fact_id)
        if fact is None:
            raise InvalidInput(
                N_("unknown fact '%(fact)s'; the facts of %(rule_set)s are: %(known)s"),
                fact=fact_id, rule_set=rule_set.id, known=Series(f.id for f in rule_set.facts),
            )
        if value is not None and _fact_value(fact, value) is None:
            raise InvalidInput(
                N_("fact '%(fact)s' must be %(kind)s, got %(got)s"),
                fact=titled(rule_set.id, fact), kind=_fact_type_text(fact.type), got=shown_value(value),
            )


def _fact_value(fact: Fact, value: object) -> FactValue | None:
    """The value as the evaluator compares it, or None when it is not a valid value of the fact's type."""
    if fact.type == "bool":
        return value if isinstance(value, bool) else None
    if fact.type == "grade":
        return value if isinstance(value, Grade) else None
    number = _number(value)
    if number is None or number < 0:
        return None
    if fact.type == "percent":
        return number if number <= HUNDRED else None
    return int(number) if isinstance(value, int) else None


def _fact_type_text(fact_type: FactType) -> Message:
    if fact_type == "grade":
        return Message(N_("a grade (%(grades)s)"), grades=_grades())
    return Message(
        {
            "bool": N_("true or false"),
            "percent": N_("a percentage from 0 to 100 (int or Decimal)"),
            "count": N_("a whole number, 0 or more"),
        }[fact_type]
    )


def shown_value(value: object) -> object:
    """A refused value as a sentence shows it: a number as a number (in the reader's locale; 10, not
    "Decimal('10')"), anything else as Python writes it, so that its kind shows too."""
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return repr(value)


def _number(value: object) -> Decimal | None:
    # Floats are refused: a recorded decision must recompute to the same figures everywhere.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None



@dataclass(frozen=True)
class Reconciled:
    """The facts as the evaluator reads them: those given, plus those derived (with how)."""

    values: dict[str, FactValue]
    derived: tuple[Message, ...]


def reconcile(rule_set: RuleSet, facts: Mapping[str, object]) -> Reconciled:
    """Derive what follows from the given facts; refuse facts that contradict each other (InvalidInput)."""
    values = {f.id: v for f in rule_set.facts if (v := _fact_value(f, facts.get(f.id))) is not None}
    derived: list[Message] = []
    # A derived figure may complete another relation: go round until nothing more follows (at most once per rule).
    for _ in range(len(rule_set.sums) + len(rule_set.implications) + 1):
        before = len(derived)
        for rule in rule_set.sums:
            _apply_sum(rule_set, rule, values, derived)
        for implication in rule_set.implications:
            _apply_implication(rule_set, implication, values, derived)
        if len(derived) == before:
            break
    return Reconciled(values, tuple(derived))


def _apply_sum(rule_set: RuleSet, rule: FactSum, values: dict[str, FactValue], derived: list[Message]) -> None:
    total_fact = rule_set.fact(rule.total)
    known = {part: _as_number(v) for part in rule.parts if (v := values.get(part)) is not None}
    missing = [part for part in rule.parts if part not in known]
    terms = [_figure(rule_set, part, value) for part, value in known.items()]
    given = Series(terms, " + ")
    given_sum = sum(known.values(), Decimal(0))
    total = values.get(rule.total)
    if total is None:
        if rule.exact and not missing:
            _derive(rule_set, rule.total, given_sum, values, derived, Message("= %(given)s", given=given))
        return
    total_number = _as_number(total)
    exact = rule.exact and not missing
    if given_sum > total_number or (exact and given_sum != total_number):
        raise InvalidInput(
            N_(
                "facts contradict each other: '%(total)s' (%(total_value)s) must equal %(given)s = %(sum)s "
                "(%(description)s); correct one of them"
            ) if exact else N_(
                "facts contradict each other: '%(total)s' (%(total_value)s) must be at least %(given)s = %(sum)s "
                "(%(description)s); correct one of them"
            ),
            total=titled(rule_set.id, total_fact), total_value=_show(total_fact, total), given=given,
            sum=_show(total_fact, given_sum), description=rule.description,
        )
    if rule.exact and len(missing) == 1:
        how = Series(
            [Message("= %(figure)s", figure=_figure(rule_set, rule.total, total)), *terms], " − "
        )
        _derive(rule_set, missing[0], total_number - given_sum, values, derived, how)


def _figure(rule_set: RuleSet, fact_id: str, value: FactValue) -> Message:
    fact = rule_set.fact(fact_id)
    return Message("'%(fact)s' (%(value)s)", fact=titled(rule_set.id, fact), value=_show(fact, value))


def _apply_implication(
    rule_set: RuleSet, implication: FactImplication, values: dict[str, FactValue], derived: list[Message]
) -> None:
    if not all(_holds(c, values) is True for c in implication.when):
        return
    then = implication.then
    held = _holds(then, values)
    if held:
        return  # Nothing to derive, nothing contradicts: the reasons are not needed.
    reasons = Series([_stated(rule_set, c, values) for c in implication.when], N_(" and "))
    if held is None:
        if then.op == "==":
            _derive(rule_set, then.fact, then.value, values, derived, Message(N_("since %(reasons)s"), reasons=reasons))
        return
    if not held:
        fact = rule_set.fact(then.fact)
        raise InvalidInput(
            N_(
                "facts contradict each other: %(reasons)s, so '%(fact)s' must be %(needs)s, but it is %(value)s "
                "(%(description)s); correct one of them"
            ),
            reasons=reasons, fact=titled(rule_set.id, fact), needs=_needs_text(fact, then),
            value=_show(fact, values[fact.id]),
            description=implication.description,
        )


def _holds(condition: Condition, values: Mapping[str, FactValue]) -> bool | None:
    actual = values.get(condition.fact)
    return None if actual is None else _compare(actual, condition.op, condition.value)


def _stated(rule_set: RuleSet, condition: Condition, values: Mapping[str, FactValue]) -> Message:
    fact = rule_set.fact(condition.fact)
    return Message(N_("'%(fact)s' is %(value)s"), fact=titled(rule_set.id, fact), value=_show(fact, values[fact.id]))


def _derive(
    rule_set: RuleSet,
    fact_id: str,
    value: FactValue,
    values: dict[str, FactValue],
    derived: list[Message],
    how: Message | Series,
) -> None:
    fact = rule_set.fact(fact_id)
    if isinstance(value, Decimal) and not isinstance(value, bool):
        if fact.type == "count":
            value = int(value)
        elif not Decimal(0) <= value <= HUNDRED:
            raise InvalidInput(
                N_("facts contradict each other: '%(fact)s' would be %(value)s, %(how)s"),
                fact=titled(rule_set.id, fact), value=Percent(value), how=how,
            )
    values[fact_id] = value
    derived.append(
        Message(
            N_("fact '%(fact)s' derived: %(value)s (%(how)s)"),
            fact=titled(rule_set.id, fact), value=_show(fact, value), how=how,
        )
    )
