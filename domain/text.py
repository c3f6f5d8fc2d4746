"""Text that enters the record: names, reasons, legal bases, notes, comments.

Whatever is stored is later printed, one event per line or so, to people who must be able to trust what they read.
A newline in a reason would let its author write a line that looks like another event of the history; an escape
sequence could recolour or erase what a terminal shows; a bidirectional override could make text read in another
order than it is stored; a lone surrogate cannot even be written as UTF-8. So such characters are refused where
text enters, with a message that says which character and where, and nothing is recorded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from domain.errors import InvalidInput
from domain.messages import N_, Count, Message

# Embeddings, overrides and isolates reorder the text around them when displayed ("Trojan Source"). The plain marks
# (U+200E LEFT-TO-RIGHT MARK, U+200F RIGHT-TO-LEFT MARK, U+061C ARABIC LETTER MARK) reorder nothing and stay allowed.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Other, control; Other, surrogate; Separator, line; Separator, paragraph (U+2028/U+2029 end a line for many readers).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})

# Free text that may keep its own lines and indentation (a comment); output escapes them anyway.
_MULTILINE_ALLOWED = frozenset("\n\t")

# What a decoder puts for bytes that were not UTF-8 (a web form's fields are decoded so): the text as sent is lost,
# so it is refused like the lone surrogate the command line's arguments decode such bytes to. Printable, so checked
# apart from the characters refused for forging output.
_REPLACEMENT = "\ufffd"

# Far above any real name or reason, far below anything that would strain a page or the store.
MAX_TEXT_LENGTH = 10_000
# Codes and usernames are typed in references and command lines.
MAX_CODE_LENGTH = 200


def is_refused_character(char: str) -> bool:
    """Whether a character may never appear in stored text (the report escapes the same set on output)."""
    return char in _BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES


def describe_character(char: str) -> str:
    """A character named so that the message itself cannot be forged by it: U+000A LINE FEED."""
    if unicodedata.category(char) == "Cs":
        return f"U+{ord(char):04X} (a lone surrogate: a byte that was not valid UTF-8)"
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(char, "a control character")
    return f"U+{ord(char):04X} {name}"


# unicodedata has no names for the C0 and C1 controls.
_CONTROL_NAMES = {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\t": "TAB", "\x00": "NUL", "\x1b": "ESCAPE"}


def clean_text(
    value: str,
    what: str | Message | Callable[[], Message],
    *,
    required: bool = False,
    multiline: bool = False,
    max_length: int = MAX_TEXT_LENGTH,
) -> str:
    """The text stripped of surrounding blanks, or an InvalidInput naming `what` and the offending character.

    `required` refuses a text that is empty once stripped; `multiline` allows line feeds and tabs inside it.
    """
    # `what` names the text in the refusal: a phrase marked N_ (or a Message, or a function making one, for a name
    # built from values: nearly every text passes, and its name is then never needed), so that it is translated
    # with it.
    if not isinstance(value, str):
        raise InvalidInput(N_("%(what)s must be text"), what=_named(what))
    text = value.strip()
    if required and not text:
        raise InvalidInput(N_("%(what)s cannot be empty"), what=_named(what))
    if len(text) > max_length:
        raise InvalidInput(
            N_("%(what)s is %(length)s characters long; at most %(limit)s are accepted"),
            what=_named(what), length=Count(len(text)), limit=Count(max_length),
        )
    if _REPLACEMENT in text:
        raise InvalidInput(
            N_(
                "%(what)s contains U+FFFD REPLACEMENT CHARACTER at character %(position)s, which stands for bytes "
                "that were not valid UTF-8; nothing was recorded"
            ),
            what=_named(what), position=text.index(_REPLACEMENT) + 1,
        )
    if text.isprintable():
        # No character of the categories Cc, Cf (the bidirectional controls), Cs, Zl, Zp is printable: nearly every
        # text is cleared here at C speed, and only the others are walked one character at a time.
        return text
    for position, char in enumerate(text, start=1):
        if multiline and char in _MULTILINE_ALLOWED:
            continue
        if is_refused_character(char):
            raise InvalidInput(
                N_(
                    "%(what)s contains %(character)s at character %(position)s; "
                    "control and line-breaking characters are not accepted"
                ),
                what=_named(what), character=describe_character(char), position=position,
            )
    return text


def _named(what: str | Message | Callable[[], Message]) -> Message:
    if isinstance(what, Message):
        return what
    if isinstance(what, str):
        return Message(what)
    return what()


def fold(text: str) -> str:
    """For search: lower case without tones and letter marks (đ as d), so "lao cai" finds "Lào Cai" and "Lao Cai"
    alike, and "Đảng" is found by "dang"."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_WORD = re.compile(r"\w+")


def search_words(text: str) -> list[str]:
    """The words of a name or code as a search by name matches them: folded, cut at anything that is not a letter
    or a digit ("lc-kim-tan" is "lc", "kim", "tan"). A word searched for finds the words it begins."""
    return _WORD.findall(fold(text))


def case_key(text: str) -> str:
    """What a code or username shares with every spelling of it that differs only in letter case or in how its
    accents are composed ("Đảng-ủy", "ĐẢNG-ỦY", "đảng-ủy" typed with combining marks): two such are one name to the
    people who type them, though their ids, derived from the exact text, differ. Tones are kept ("tan" is not
    "tân")."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())
