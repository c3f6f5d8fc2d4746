"""The engine's own sentences (a refusal's detail, the lines of the rules' explanation) in the reader's language.

The engine hands over a Message: an English template (a msgid, extracted from domain/ and workflow/) and its values.
Here the template is translated and each value rendered in the same language: a state, a level, a role, a grade,
a step by the name the pages give it; numbers and dates in the locale's format; nested sentences likewise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from babel.support import Translations

from domain.messages import Count, Message, Percent, Series, Term, Titled, english
from domain.values import Classification, DossierState, Grade, NotRatedGround, Role, UnitKind
from web import forms, labels
from web.i18n import Formats
from workflow.spec import Scope

# The names the pages give the engine's words, by the type (or Term kind) that carries them.
_NAMES: Mapping[type[Enum] | str, Mapping[str, str]] = {
    Classification: labels.LEVELS,
    DossierState: labels.STATES,
    Grade: labels.GRADES,
    Role: labels.ROLES,
    NotRatedGround: labels.GROUNDS,
    UnitKind: labels.KINDS,
    Scope: labels.SCOPES,
    "trigger": labels.TRIGGERS,
    "group": {**labels.KINDS, **labels.GROUPS},
}


def say(message: Message | str, translations: Translations, formats: Formats) -> str:
    """`message` in the language of `translations`; a plain string (a sentence from elsewhere) is translated as a
    msgid, so one already in the catalogs is shown translated and any other as it is."""
    if not isinstance(message, Message):
        return str(translations.gettext(message))
    template = str(translations.gettext(message.template))
    if not message.params:
        return template
    values = {name: _value(value, translations, formats) for name, value in message.params.items()}
    try:
        return template % values
    except (KeyError, ValueError, TypeError):
        # A catalog whose placeholders drifted (the catalog check names it): the English sentence, never a 500.
        return str(message)


def _title(item: Titled, locale: str) -> str:
    """The title the form shows for a rule-set item; "criterion.sub-item" by both titles; the id when untitled."""
    if locale in ("vi", "en"):
        return forms.title(item.owner, item, locale) or item.id
    # Other languages title each item by its own id (web/locale/rulesets/<locale>.toml).
    parts = [forms.title(item.owner, _Part(part), locale) for part in item.id.split(".")]
    return " — ".join(parts) if all(parts) else item.title_en or item.id


class _Part:
    def __init__(self, id: str) -> None:
        self.id = id


def _value(value: object, translations: Translations, formats: Formats) -> str:
    if isinstance(value, Message):
        return say(value, translations, formats)
    if isinstance(value, Series):
        separator = str(translations.gettext(value.separator)) if value.separator.strip() else value.separator
        return separator.join(_value(item, translations, formats) for item in value.items)
    if isinstance(value, Titled):
        return _title(value, str(formats.locale))
    if isinstance(value, Term):
        name = _NAMES.get(value.kind, {}).get(value.key)
        return str(translations.gettext(name)) if name else value.english
    if isinstance(value, Enum):
        name = _NAMES.get(type(value), {}).get(str(value.value))
        return str(translations.gettext(name)) if name else english(value)
    if isinstance(value, Percent):
        return f"{formats.number(value.value)}%"
    if isinstance(value, bool):
        return english(value)
    if isinstance(value, Count | Decimal | float):
        return formats.number(value)
    if isinstance(value, datetime):
        return formats.moment(value)
    if isinstance(value, date):
        return formats.date(value)
    return english(value)
