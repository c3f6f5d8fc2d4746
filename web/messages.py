"""The message catalogs: extraction from the code and templates, merging into the three catalogs, and checking them.

    python -m web.messages extract   # babel.cfg -> web/locale/messages.pot, merged into web/locale/*/messages.po
    python -m web.messages check     # exit 1, naming each gap: a msgid untranslated, fuzzy, with other placeholders;
                                     # a rule-set item without a Hindi title

English is the language of the msgids, so the English catalog is filled with them on extraction; Vietnamese and
Hindi are translated by hand in their .po files. The catalogs keep no line numbers, so that a template edited above
a message does not rewrite three files.
"""

from __future__ import annotations

import ast
import copy
import io
import re
import sys
import tomllib
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from web.i18n import LOCALE_DIR, LOCALES, catalog_path
from workflow.rules.loading import load_rule_book

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "babel.cfg"
TEMPLATE = LOCALE_DIR / "messages.pot"
RULESET_TITLES = LOCALE_DIR / "rulesets"
# The languages whose rule-set titles are not in the rule files (those carry Vietnamese and English).
TITLED_ELSEWHERE = ("hi",)
WIDTH = 120

# A printf conversion as Python's % operator reads it: %(name)s, %s, %d, %%.
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


# --- extraction ------------------------------------------------------------------------------------------------


def extract_mapping_values(
    fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str], options: Mapping[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """A Babel extractor for msgids kept as data: the string values of the module-level dicts named in the
    `names` option (e.g. projections/models/audit.py LABELS, which the history page translates when it shows)."""
    names = set(str(options.get("names", "")).replace(",", " ").split())
    tree = ast.parse(fileobj.read())
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            value: ast.expr | None = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets, value = [node.target.id], node.value
        else:
            continue
        if not names.intersection(targets) or not isinstance(value, ast.Dict):
            continue
        for item in value.values:
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                yield item.lineno, None, item.value, []


def _mapping(path: Path) -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]:
    with path.open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(path))  # type: ignore[no-untyped-call]
    return method_map, options_map


def extract(root: Path = ROOT, mapping: Path = MAPPING) -> Catalog:
    """Every msgid babel.cfg finds under `root`, afresh: the template catalog."""
    method_map, options_map = _mapping(mapping)
    # Only the top folders the patterns name are walked (not .venv, node_modules, data).
    tops = {pattern.split("/", 1)[0] for pattern, _ in method_map}

    def wanted(directory: str) -> bool:
        relative = Path(directory).resolve().relative_to(root.resolve())
        return relative.parts[0] in tops and not any(part.startswith((".", "_")) for part in relative.parts)

    template = Catalog(
        project="dossierflow", version="1", charset="utf-8", fuzzy=False, header_comment=_header("The"),
        msgid_bugs_address="", copyright_holder="", last_translator="", language_team="",
    )
    found = extract_from_dir(
        root, method_map, options_map, keywords={}, comment_tags=("TRANSLATORS:",), strip_comment_tags=True,
        directory_filter=wanted,
    )
    for filename, _lineno, message, comments, context in found:
        # No line numbers: a template edited above a message must not rewrite three catalogs.
        template.add(message, None, [(filename, 0)], auto_comments=comments, context=context)
    return template


def _msgids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, tuple | list) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, tuple | list):
        return tuple(s or "" for s in message.string)
    return (message.string or "",)


# --- catalogs --------------------------------------------------------------------------------------------------


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _header(language: str) -> str:
    return (
        f"# {language} messages of the dossierflow web application.\n"
        "# Written by `make messages` (python -m web.messages extract) from babel.cfg; translate each empty msgstr\n"
        "# here, then `python -m web.messages check`. The English catalog is filled with the msgids."
    )


def _write(catalog: Catalog, path: Path) -> bool:
    """Writes `catalog` unless the file already says the same: the extraction date alone is not a change."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=WIDTH, sort_output=True, ignore_obsolete=True, include_lineno=False)
    new = buffer.getvalue()
    if path.exists() and _undated(path.read_bytes()) == _undated(new):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(new)
    return True


def _undated(po: bytes) -> bytes:
    return re.sub(rb'^"(POT-Creation-Date|PO-Revision-Date): [^"]*"$', b"", po, flags=re.MULTILINE)


def merge(template: Catalog, locale: str) -> Catalog:
    """The locale's catalog brought in step with `template`: new msgids added (untranslated, or fuzzy with the
    nearest old translation as a hint), msgids gone dropped; English filled with its msgids."""
    path = catalog_path(locale)
    if path.exists():
        catalog = read_catalog(path, locale)
    else:
        language = Locale.parse(locale)
        catalog = Catalog(
            locale=language, project=template.project, version=template.version, charset="utf-8", fuzzy=False,
            header_comment=_header(language.english_name or locale), msgid_bugs_address="", copyright_holder="",
            last_translator="", language_team=language.english_name,
        )
    # update() files the template's own Message objects under new msgids: a copy keeps the locales apart.
    catalog.update(copy.deepcopy(template), update_header_comment=False)
    if locale == "en":
        for message in catalog:
            if message.id:
                message.string = message.id
                message.flags.discard("fuzzy")
    catalog.obsolete.clear()
    return catalog


def write_all(template: Catalog) -> list[Path]:
    """Writes the template and the three catalogs; the files that changed."""
    written = [TEMPLATE] if _write(template, TEMPLATE) else []
    for locale in LOCALES:
        if _write(merge(template, locale), catalog_path(locale)):
            written.append(catalog_path(locale))
    return written


# --- checks ----------------------------------------------------------------------------------------------------


def placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


def catalog_problems(template: Catalog, catalog: Catalog, locale: str) -> list[str]:
    """What keeps `catalog` from translating every msgid of `template`, one sentence each."""
    problems: list[str] = []
    nplurals = catalog.num_plurals
    for wanted in template:
        if not wanted.id:
            continue
        key = _msgids(wanted)[0]
        shown = key if len(key) <= 60 else key[:57] + "..."
        message = catalog.get(key, context=wanted.context)
        if message is None:
            problems.append(f"{locale}: missing msgid {shown!r}")
            continue
        if message.fuzzy:
            problems.append(f"{locale}: fuzzy {shown!r}")
        if _msgids(message) != _msgids(wanted):
            problems.append(f"{locale}: plural msgid differs from the code's for {shown!r}")
        strings = _strings(message)
        if wanted.pluralizable and len(strings) != nplurals:
            problems.append(f"{locale}: {len(strings)} plural forms for {shown!r}, the language has {nplurals}")
        if any(not s for s in strings):
            problems.append(f"{locale}: untranslated {shown!r}")
            continue
        expected = placeholders(_msgids(wanted)[-1])
        names = dict.fromkeys(re.findall(r"%\(([^)]*)\)", " ".join(_msgids(wanted))), 1)
        for string in strings:
            try:
                # Newstyle gettext formats every message, with or without variables: a lone % would fail there.
                string % names
            except (ValueError, TypeError, KeyError) as error:
                problems.append(f"{locale}: {string!r} does not format ({error}) in {shown!r}")
            got = placeholders(string)
            # A language with one form uses the plural msgid's placeholders; the singular may spell out "one".
            if got != expected and got != placeholders(_msgids(wanted)[0]):
                problems.append(f"{locale}: placeholders {got} instead of {expected} in {shown!r}")
    return problems


def rule_set_items() -> dict[str, list[tuple[str, str]]]:
    """Every titled item of every rule set and recognition model: owner id -> [(item key, English title)]; the key
    of the rule set or model itself is ""."""
    book = load_rule_book()
    items: dict[str, list[tuple[str, str]]] = {}
    for rule_set in book.rule_sets:
        titled = [("", rule_set.title)]
        titled += [(g.id, g.title_en) for g in rule_set.groups]
        titled += [(f.id, f.title_en) for f in rule_set.facts]
        for criterion in rule_set.criteria:
            titled += [(criterion.id, criterion.title_en), *((s.id, s.title_en) for s in criterion.sub_items)]
        items[rule_set.id] = titled
    for model in book.recognition_models:
        titled = [("", model.title)]
        for criterion in model.criteria:
            titled += [(criterion.id, criterion.title_en), *((s.id, s.title_en) for s in criterion.sub_items)]
        items[model.id] = titled
    return items


def ruleset_title_problems(locale: str) -> list[str]:
    path = RULESET_TITLES / f"{locale}.toml"
    if not path.exists():
        return [f"{path.relative_to(ROOT)}: missing"]
    with path.open("rb") as f:
        titles = tomllib.load(f)
    problems = []
    items = rule_set_items()
    for owner, titled in items.items():
        have = titles.get(owner, {})
        english: dict[str, str] = {}
        for key, title in titled:
            # One table per rule set: a criterion and a fact sharing an id must mean the same, or one title is wrong.
            if english.setdefault(key, title) != title:
                problems.append(f"{locale}: {owner} has two items {key!r} with different titles; one table can't")
            if not isinstance(have.get(key), str) or not have[key].strip():
                problems.append(f"{locale}: no title for {owner} {key or '(the rule set itself)'!r}")
        for key in set(have) - set(english):
            problems.append(f"{locale}: a title for {owner} {key!r}, which the rule files do not have")
    for owner in set(titles) - set(items):
        problems.append(f"{locale}: titles for {owner!r}, which is neither a rule set nor a recognition model")
    return problems


def all_problems() -> list[str]:
    template = extract()
    problems: list[str] = []
    for locale in LOCALES:
        path = catalog_path(locale)
        if not path.exists():
            problems.append(f"{locale}: no catalog at {path.relative_to(ROOT)}")
            continue
        problems.extend(catalog_problems(template, read_catalog(path, locale), locale))
    for locale in TITLED_ELSEWHERE:
        problems.extend(ruleset_title_problems(locale))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["extract"]:
        template = extract()
        written = write_all(template)
        changed = ", ".join(str(p.relative_to(ROOT)) for p in written) or "no catalog changed"
        print(f"{len(template)} messages extracted; {changed}")
        args = ["check"]
    if args == ["check"]:
        problems = all_problems()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{len(problems)} gaps in the translations", file=sys.stderr)
            return 1
        print("every message is translated in " + ", ".join(LOCALES) + "; every rule-set item has a Hindi title")
        return 0
    print("usage: python -m web.messages extract|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
