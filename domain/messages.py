"""Sentences the engine says to a person, kept translatable: an English template with named placeholders and the
values that fill it.

`str()` gives the English sentence, the same words the engine has always written (the command line, logs and the
explanations recorded in events read it). The web layer looks the template up in the visit's language and renders
each value there: numbers and dates in the locale's format, a state, a role, a level or a step by its translated
name. The domain stays pure: nothing here knows of a catalog.

`N_` marks a template for extraction (babel.cfg lists it as a keyword): it returns its argument unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import cast


def N_(template: str) -> str:
    return template


class Message:
    """A template such as "%(name)s is empty" and its values: text, numbers, dates, the domain's Enums, or a nested
    Message, Series, Term, Titled, Count or Percent."""

    __slots__ = ("params", "template")

    def __init__(self, template: str, /, **params: object) -> None:
        self.template = template
        self.params = params

    def __str__(self) -> str:
        # A template without values is printed as written: it may hold a % of its own (a message not yet marked).
        if not self.params:
            return self.template
        values = {name: english(value) for name, value in self.params.items()}
        try:
            return self.template % values
        except (KeyError, ValueError, TypeError):
            # A template that does not match its values is a slip in the code; the refusal must still reach the
            # person whole (never a traceback in its place): the template, then the values.
            return f"{self.template} {values}"

    def __repr__(self) -> str:
        return f"Message({self.template!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.template, self.params) == (other.template, other.params)

    def __hash__(self) -> int:
        return hash(self.template)


class Series:
    """Values shown one after the other, e.g. the ids still to fill in. A separator made of words (" and ") is a
    template too, so that it is translated with the rest."""

    __slots__ = ("items", "separator")

    def __init__(self, items: Iterable[object], separator: str = ", ") -> None:
        self.items = tuple(items)
        self.separator = separator

    def __str__(self) -> str:
        return self.separator.join(english(item) for item in self.items)

    def __repr__(self) -> str:
        return f"Series({self.items!r}, {self.separator!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Series) and (self.items, self.separator) == (other.items, other.separator)

    def __hash__(self) -> int:
        return hash((self.items, self.separator))


class Term:
    """A word of the engine's vocabulary that is not an Enum of the domain (a workflow step, a scope): its kind and
    key let a reader's language name it; `english` is how the engine has always written it."""

    __slots__ = ("english", "key", "kind")

    def __init__(self, kind: str, key: str, english: str) -> None:
        self.kind, self.key, self.english = kind, key, english

    def __str__(self) -> str:
        return self.english

    def __repr__(self) -> str:
        return f"Term({self.kind!r}, {self.key!r}, {self.english!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and (self.kind, self.key) == (other.kind, other.key)

    def __hash__(self) -> int:
        return hash((self.kind, self.key))


class Titled(str):
    """An item of a rule set (a criterion, a sub-item as "criterion.sub-item", a fact) in a sentence: the id itself,
    as a string, wherever ids are compared or joined and in the English the engine records; a page names it by its
    title in the reader's language (the rule files carry Vietnamese and English, the web its other languages, by
    `owner` and id)."""

    owner: str
    title_vi: str
    title_en: str

    def __new__(cls, owner: str, id: str, title_vi: str = "", title_en: str = "") -> Titled:
        item = super().__new__(cls, id)
        item.owner, item.title_vi, item.title_en = owner, title_vi, title_en
        return item

    def __getnewargs__(self) -> tuple[str, str, str, str]:  # type: ignore[override]
        return (self.owner, self.id, self.title_vi, self.title_en)

    @property
    def id(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Titled({self.owner!r}, {self.id!r})"


class Count(int):
    """A quantity written with thousands separators ("20,000 characters"); a plain int (a year, a version) is not."""

    __slots__ = ()


class Percent:
    """A share in percent ("75%"): a number the reader's locale writes, followed by the sign."""

    __slots__ = ("value",)

    def __init__(self, value: Decimal) -> None:
        self.value = value

    def __str__(self) -> str:
        return f"{english(self.value)}%"

    def __repr__(self) -> str:
        return f"Percent({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Percent) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def english(value: object) -> str:
    """A value as the English sentence shows it."""
    # Most values are text (a name, an id, a rule item): answered before the checks for the others.
    kind = type(value)
    if kind is str or kind is Titled:
        return str.__str__(cast(str, value))
    if kind is Message or kind is Series:
        return value.__str__()
    if isinstance(value, Count):
        return f"{value:,}"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        # 100, not 1E+2 nor 100.00; 89.99 stays 89.99.
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
