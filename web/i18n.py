"""Languages: the gettext catalogs, the negotiation of a request's language, formats, and Vietnamese order.

Messages are written in English in the code and templates (the msgids); web/locale/<locale>/LC_MESSAGES/messages.po
holds each language's translation, Vietnamese first. The catalogs are read from the .po files at start, so there is
no compiled file to keep in step with them.
"""

from __future__ import annotations

import io
import sys
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from babel.units import format_unit

from domain.text import fold as fold
from workflow.clock import VIETNAM

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en", "hi")
# Each language named in itself, for the switch.
LOCALE_NAMES = {"vi": "Tiếng Việt", "en": "English", "hi": "हिन्दी"}


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


@cache
def translations(locale: str) -> Translations:
    path = catalog_path(locale)
    if not path.exists():
        return Translations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header; Vietnamese when it names none of them."""
    if not accept_language:
        return DEFAULT_LOCALE
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        wanted.append((-quality, index, tag.strip().lower()))
    for quality, _, tag in sorted(wanted):
        if quality >= 0:
            continue
        language = tag.split("-")[0]
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


# A list shows the same few dates on every row (a period's deadlines): each is formatted once per locale.
@lru_cache(maxsize=4096)
def _date_text(value: date, locale: Locale) -> str:
    return format_date(value, format="medium", locale=locale)


# In Formats, `date` names its method.
Day = date


@cache
def formats(locale: str) -> Formats:
    """The (immutable) formats of a locale, made once."""
    return Formats(locale)


class Formats:
    """Dates, times and numbers in one locale's conventions."""

    def __init__(self, locale: str) -> None:
        self.locale = Locale.parse(locale)

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(VIETNAM).date()
        return _date_text(value, self.locale)

    def act_date(self, value: Day) -> str:
        """The date of issue as a document writes it: in Vietnamese "ngày 05 tháng 02 năm 2025", the form of the
        rules on administrative documents (Decree 30/2020: a day under 10 and the months 1 and 2 take a leading
        zero); elsewhere the locale's long date."""
        if self.locale.language == "vi":
            month = f"{value.month:02d}" if value.month < 3 else str(value.month)
            return f"ngày {value.day:02d} tháng {month} năm {value.year}"
        return format_date(value, format="long", locale=self.locale)

    def moment(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value, format="medium", tzinfo=VIETNAM, locale=self.locale)

    def number(self, value: int | float | Decimal | str | None) -> str:
        if value is None or value == "":
            return ""
        return format_decimal(Decimal(str(value)), locale=self.locale)

    def file_size(self, size: int) -> str:
        """A file's size as a person reads it: "770 byte", "1,2 kB", "3,4 MB" in Vietnamese (decimal units, one
        decimal place, the unit's name in the locale's words)."""
        if size < 1000:
            return format_unit(size, "digital-byte", length="long", locale=self.locale)
        kilobytes = round(Decimal(size) / 1000, 1)
        # 999,960 bytes is "1 MB", not "1.000 kB": the unit is chosen after rounding.
        if kilobytes < 1000:
            return format_unit(kilobytes, "digital-kilobyte", length="short", format="#,##0.#", locale=self.locale)
        megabytes = round(Decimal(size) / 1_000_000, 1)
        return format_unit(megabytes, "digital-megabyte", length="short", format="#,##0.#", locale=self.locale)

    def field(self, value: int | float | Decimal | str | None) -> str:
        """A number as a form field shows it to be typed over: the locale's decimal sign, no grouping (the form
        reads a comma or a point as the decimal sign, so grouping would change the number), no trailing zeros."""
        if value is None or value == "":
            return ""
        return format_decimal(Decimal(str(value)), locale=self.locale, group_separator=False)


# --- Vietnamese order and search -----------------------------------------------------------------------------------

# The Vietnamese alphabet: a letter with a breve, a circumflex, a horn or a stroke is a letter of its own, after its
# base; tones (grave, hook, tilde, acute, dot below) only break ties, in that order after the level tone.
_ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_RANK = {letter: index for index, letter in enumerate(_ALPHABET)}
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_LETTER_MARKS = {"\u0306", "\u0302", "\u031b"}


def _letters(text: str) -> Iterable[tuple[str, int]]:
    """Each letter of `text` (lower case, with its breve, circumflex or horn, đ as one letter) and its tone."""
    for char in unicodedata.normalize("NFC", text.casefold()):
        decomposed = unicodedata.normalize("NFD", char)
        base = decomposed[0]
        marks = decomposed[1:]
        tone = 0
        letter_marks = ""
        for mark in marks:
            if mark in _TONES:
                tone = _TONES[mark]
            elif mark in _LETTER_MARKS:
                letter_marks += mark
        yield unicodedata.normalize("NFC", base + letter_marks), tone


# Ranks below the letters' (which start at _LETTERS), in the order of a dictionary: a word is shorter than any word
# it begins ("An" < "An Bình" < "Anh"), so the space between words sorts before every letter; then punctuation and
# symbols, by code point; then numbers, by value ("số 5" < "số 12"); then the alphabet; then any other letter.
_SPACE = 0
_SYMBOLS = 1
_NUMBER = _SYMBOLS + sys.maxunicode + 1
_LETTERS = _NUMBER + 1


# Names repeat from page to page (My work sorts the same units on every view): their keys are kept.
@lru_cache(maxsize=65536)
def vietnamese_key(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A sort key that orders names as a Vietnamese reader expects: by letters first (a < ă < â < b, d < đ), then by
    tones; words before the longer words they begin, numbers by value, letters outside the alphabet after it."""
    letters: list[int] = []
    tones: list[int] = []
    digits = ""

    def end_number() -> None:
        nonlocal digits
        if digits:
            # A longer number (leading zeros aside) is larger; of two as long, the digits decide.
            value = digits.lstrip("0") or "0"
            letters.extend((_NUMBER, len(value), *(int(d) for d in value)))
            tones.extend([0] * (len(value) + 2))
            digits = ""

    for letter, tone in _letters(" ".join(text.split())):
        if letter.isdecimal():
            digits += str(unicodedata.decimal(letter))
            continue
        end_number()
        rank = _RANK.get(letter)
        # ord() takes one character: should a base and its marks not compose into one, the base places it.
        base = letter[0]
        if rank is not None:
            letters.append(_LETTERS + rank)
        elif base.isspace():
            letters.append(_SPACE)
        elif base.isalpha():
            letters.append(_LETTERS + len(_RANK) + ord(base))
        else:
            letters.append(_SYMBOLS + ord(base))
        tones.append(tone)
    end_number()
    return tuple(letters), tuple(tones)


def matches(query: str, *texts: str) -> bool:
    folded = fold(query).split()
    haystack = " ".join(fold(t) for t in texts)
    return all(word in haystack for word in folded)
