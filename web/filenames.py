"""File names across HTTP: an uploaded file's name as the person chose it, and the Content-Disposition of a
download, with the exact name for browsers and a plain one for older clients.

A browser sends a multipart file name with `"`, CR and LF written as `%22`, `%0D`, `%0A` (the HTML standard's
multipart/form-data encoding; httpx and curl do the same), and nothing on the server undoes it: a file named
`Biên bản "họp".pdf` was recorded, shown and downloaded as `Biên bản %22họp%22.pdf`. `uploaded_name` undoes it.
A file whose name truly holds `%22` cannot be told apart from one that held a quote (a browser leaves `%` as it
is); the quote is by far the likelier.

Starlette's FileResponse writes `filename*` alone when a name needs encoding (a client that knows only `filename`
then names the file after the URL) and otherwise `filename="…"` with the name as it is, quotes and all. RFC 6266
wants both: `filename*` (RFC 5987, UTF-8, percent-encoded) carries the exact name, which every browser of the last
decade prefers; `filename` an ASCII approximation for the others, with nothing in it they could misread.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# RFC 5987's attr-char beyond letters and digits: everything else is percent-encoded, so that `;`, `"`, `%`, `'`,
# spaces and any non-ASCII character arrive as themselves.
_ATTR_CHARS = "!#$&+-.^_`|~"
# In the fallback: what some clients unescape or end the value at (a quote, a backslash, "%xx"), control characters
# and anything not ASCII once tones are dropped.
_UNSAFE = re.compile(r'["\\]|%(?=[0-9A-Fa-f]{2})|[^\x20-\x7e]')


_FORM_ESCAPES = re.compile(r"%(22|0[DdAa])")


def uploaded_name(sent: str) -> str:
    """The name of an uploaded file as its sender chose it, from a multipart part's `filename`."""
    return _FORM_ESCAPES.sub(lambda m: chr(int(m.group(1), 16)), sent)


def ascii_fallback(name: str) -> str:
    """`name` in printable ASCII: Vietnamese without its tones (đ as d), anything else unsafe as `_`."""
    plain = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return _UNSAFE.sub("_", plain).strip() or "download"


def attachment(name: str) -> str:
    """The Content-Disposition header of `name` as a download."""
    return f"attachment; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}"
