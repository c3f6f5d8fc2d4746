"""The command line's escaping: one search per line decides whether a line needs escaping at all, so that search
must find exactly the characters that input refuses (and the line ends and tab that output spells out)."""

from __future__ import annotations

import sys

from domain.text import is_refused_character
from web.report import printable


def test_a_line_is_escaped_exactly_when_it_holds_a_character_that_input_refuses() -> None:
    escaped = [c for c in range(sys.maxunicode + 1) if printable(chr(c)) != chr(c)]
    refused = [c for c in range(sys.maxunicode + 1) if is_refused_character(chr(c))]
    assert escaped == refused
    assert {0x0A, 0x1B, 0x7F, 0x85, 0xD800, 0x2028, 0x2029, 0x202E, 0x2069} <= set(escaped)


def test_an_escaped_line_spells_out_each_such_character_and_keeps_the_rest() -> None:
    assert printable("Chi bộ Tổ dân phố 2") == "Chi bộ Tổ dân phố 2"
    assert printable("a\nb\tc\x1b[31md\u202ee") == "a\\nb\\tc\\x1b[31md\\u202ee"
    assert printable("\u200e\u200f\u061c") == "\u200e\u200f\u061c"
