"""No string shown to a person is left untranslated: the catalogs against the code and the templates, extracted afresh
(babel.cfg), the Hindi titles of the rule sets, and pages as a Vietnamese and a Hindi reader get them."""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator

import pytest
from babel.messages.catalog import Catalog
from httpx2 import Response

from projections.models.audit import LABELS
from tests.web.world import SECRETARY, Web, csrf
from web import forms, i18n, labels, messages
from workflow.rules.loading import load_rule_book
from workflow.rules.model import RecognitionModel, RuleSet

DEVANAGARI = re.compile(r"[\u0900-\u097F]")
# English a person would read on My work and on their dossier if a catalog were missing or stale.
ENGLISH = (
    "My work", "Sign out", "Language", "Find a unit", "Deadline", "Self-assessment", "Criteria", "Comment",
    "The rules suggest", "Evidence", "Actions", "Save answers", "Submit self-assessment", "History and audit trail",
)


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return messages.extract()


def _catalog(locale: str) -> Catalog:
    return messages.read_catalog(i18n.catalog_path(locale), locale)


def _single(message_id: str | tuple[str, ...] | list[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


# --- the catalogs ----------------------------------------------------------------------------------------------


def test_the_extraction_reads_every_kind_of_source(extracted: Catalog) -> None:
    found = {_single(m.id) for m in extracted if m.id}
    assert "My work" in found  # _() in a template
    assert "Round %(round)s" in found  # a {% trans %} block with a variable
    plural = extracted.get("%(count)s event")
    assert plural is not None
    assert plural.id == ("%(count)s event", "%(count)s events")  # {% pluralize %}
    assert "Returned to the unit" in found  # N_ in web/labels.py
    assert "This form has expired or did not come from this site" in found  # labels.N_ in web/routes.py
    assert "Not met" in found  # t.gettext() in web/app.py
    assert set(LABELS.values()) <= found  # data: the audit labels the history page translates
    assert "%(what)s cannot be empty" in found  # N_ in domain/: a refusal's template
    assert "%(level)s: met — %(checks)s" in found  # N_ in workflow/rules: a line of the rules' explanation
    assert "'%(step)s' needs the %(role)s role; you act as %(acting)s" in found  # N_ in workflow/authorization.py
    assert {*labels.STATES.values(), *labels.LEVELS.values(), *labels.DONE.values()} <= found


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_message_is_translated_with_its_placeholders_and_nothing_fuzzy(extracted: Catalog, locale: str) -> None:
    problems = messages.catalog_problems(extracted, _catalog(locale), locale)
    assert not problems, "run `make messages` and translate:\n" + "\n".join(problems)


@pytest.mark.parametrize(("locale", "forms_count"), [("vi", 1), ("en", 2), ("hi", 2)])
def test_each_catalog_has_its_language_s_plural_forms(locale: str, forms_count: int) -> None:
    catalog = _catalog(locale)
    assert catalog.num_plurals == forms_count
    plurals = [m for m in catalog if m.pluralizable]
    assert plurals
    assert all(len(m.string) == forms_count for m in plurals)


@pytest.mark.parametrize("locale", ["vi", "hi"])
def test_translations_are_in_the_language_and_reach_the_application(extracted: Catalog, locale: str) -> None:
    catalog = _catalog(locale)
    runtime = i18n.translations(locale)
    for wanted in extracted:
        if not wanted.id or wanted.pluralizable:
            continue
        message = catalog.get(wanted.id)
        assert message is not None, wanted.id
        assert isinstance(message.string, str), wanted.id
        # Not the English copied over: every Hindi string has Devanagari, every Vietnamese one differs from English.
        if locale == "hi":
            assert DEVANAGARI.search(message.string), (wanted.id, message.string)
        else:
            assert message.string != wanted.id, wanted.id
        assert runtime.gettext(wanted.id) == message.string


def test_english_translates_each_msgid_to_itself(extracted: Catalog) -> None:
    catalog = _catalog("en")
    for wanted in extracted:
        if wanted.id:
            message = catalog.get(_single(wanted.id))
            assert message is not None, wanted.id
            assert message.string == (tuple(wanted.id) if wanted.pluralizable else wanted.id)


def test_the_check_names_each_kind_of_gap(extracted: Catalog) -> None:
    # The check `make messages` and the test above rely on: each defect planted in a copy of the Hindi catalog is named.
    catalog = _catalog("hi")
    catalog.delete("My work")
    catalog["Sign out"].string = ""
    catalog["Saved."].flags.add("fuzzy")
    catalog["Round %(round)s"].string = "दौर %(rnd)s"
    catalog["Decision list %(year)s"].string = "निर्णय सूची %(year)s, 100%"
    plural = catalog.get("%(count)s event")
    assert plural is not None
    plural.string = ("%(count)s घटना", "")
    problems = "\n".join(messages.catalog_problems(extracted, catalog, "hi"))
    assert "missing msgid 'My work'" in problems
    assert "untranslated 'Sign out'" in problems
    assert "fuzzy 'Saved.'" in problems
    assert "in 'Round %(round)s'" in problems
    assert "does not format (incomplete format) in 'Decision list %(year)s'" in problems
    assert "untranslated '%(count)s event'" in problems
    assert messages.catalog_problems(extracted, _catalog("hi"), "hi") == []


def test_templates_are_extracted_with_the_settings_they_are_rendered_with(web: Web) -> None:
    # A {% trans %} block's msgid depends on how whitespace is treated: extraction and rendering must agree.
    config = configparser.RawConfigParser()
    config.read(messages.MAPPING, encoding="utf-8")
    section = next(s for s in config.sections() if s.startswith("jinja2:"))
    options = {k: v.strip().lower() in ("1", "true", "yes", "on") for k, v in config.items(section)
               if k in ("trim_blocks", "lstrip_blocks", "trimmed", "newstyle_gettext")}
    env = web.site.templates.env
    assert options == {
        "trim_blocks": env.trim_blocks,
        "lstrip_blocks": env.lstrip_blocks,
        "trimmed": bool(env.policies.get("ext.i18n.trimmed", False)),
        "newstyle_gettext": bool(getattr(env, "newstyle_gettext", False)),
    }
    assert "jinja2.ext.i18n" in config.get(section, "extensions")
    assert "jinja2.ext.InternationalizationExtension" in {
        f"{type(e).__module__}.{type(e).__name__}" for e in env.extensions.values()
    }


# --- rule-set titles -------------------------------------------------------------------------------------------


def _titled_items() -> Iterator[tuple[str, object, str]]:
    """(owner id, item, English title) for every rule set, recognition model and each of their titled items."""
    book = load_rule_book()
    owners: list[RuleSet | RecognitionModel] = [*book.rule_sets, *book.recognition_models]
    for owner in owners:
        yield owner.id, owner, owner.title
        if isinstance(owner, RuleSet):
            yield from ((owner.id, g, g.title_en) for g in owner.groups)
            yield from ((owner.id, f, f.title_en) for f in owner.facts)
        for criterion in owner.criteria:
            yield owner.id, criterion, criterion.title_en
            yield from ((owner.id, s, s.title_en) for s in criterion.sub_items)


def test_every_rule_set_and_model_item_has_a_hindi_title() -> None:
    items = list(_titled_items())
    assert len(items) > 60
    for owner_id, item, english in items:
        hindi = forms.title(owner_id, item, "hi")
        assert hindi != english, (owner_id, getattr(item, "id", ""))
        assert DEVANAGARI.search(hindi), (owner_id, getattr(item, "id", ""), hindi)


def test_the_hindi_titles_name_only_items_the_rule_files_have() -> None:
    assert messages.ruleset_title_problems("hi") == []


# --- pages -----------------------------------------------------------------------------------------------------


def _visible(response: Response) -> str:
    """Everything a reader sees in the page's body, header included, in one line."""
    body = response.text.split("<body", 1)[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def _english_in(response: Response) -> list[str]:
    assert response.status_code == 200, response.text[:500]
    shown = _visible(response)
    labelled = re.findall(r'aria-label="([^"]*)"', response.text)
    return [s for s in ENGLISH if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", shown)] + [
        a for a in labelled if a in ("Main", "Breadcrumbs")
    ]


def test_pages_in_vietnamese_and_hindi_show_none_of_the_english(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)

    # Vietnamese, asked for by the browser.
    client.headers["Accept-Language"] = "vi-VN,vi;q=0.9,en;q=0.5"
    work, dossier = client.get("/work"), client.get(path)
    assert _english_in(work) == []
    assert _english_in(dossier) == []
    assert "Việc của tôi" in _visible(work)
    assert "Tự đánh giá" in _visible(dossier)
    assert '<html lang="vi">' in dossier.text

    # Hindi, chosen with the switch: it outranks the browser's Vietnamese and is remembered.
    switched = client.post("/language", data={"csrf_token": csrf(dossier.text), "locale": "hi", "back": path})
    assert switched.status_code == 303
    assert switched.headers["location"] == path
    work, dossier = client.get("/work"), client.get(path)
    assert _english_in(work) == []
    assert _english_in(dossier) == []
    assert "मेरा कार्य" in _visible(work)
    assert "स्व-मूल्यांकन" in _visible(dossier)
    assert '<html lang="hi">' in dossier.text
    # The rule set's own titles, from web/locale/rulesets/hi.toml.
    rule_set = load_rule_book().rule_set("QD366-2025")
    assert forms.title(rule_set.id, rule_set.criteria[0], "hi") in _visible(dossier)

    # Hindi, asked for by the browser of someone who has not chosen.
    visitor = web.client()
    visitor.headers["Accept-Language"] = "hi-IN,hi;q=0.9"
    sign_in = visitor.get("/sign-in")
    assert "साइन इन करें" in _visible(sign_in)
    assert not re.search(r"(?<!\w)(Sign in|Username|Password)(?!\w)", _visible(sign_in))


# --- the templates' gettext ------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_the_pages_remembered_gettext_gives_what_jinjas_own_newstyle_gettext_gives(locale: str) -> None:
    from jinja2 import Environment

    from web.app import _gettext, _ngettext, _page_gettext

    msgids = [_single(m.id) for m in _catalog(locale) if m.id]
    assert len(msgids) > 100
    # A msgid with a literal percent sign (a %-format: "%%" is one sign) and one with markup in it.
    msgids += ["100%% done", "<b>bold</b> & co"]
    outputs = []
    for autoescape in (True, False):
        stock = Environment(extensions=["jinja2.ext.i18n"], autoescape=autoescape)
        stock.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
        ours = Environment(extensions=["jinja2.ext.i18n"], autoescape=autoescape)
        ours.globals.update(gettext=_page_gettext, _=_page_gettext)
        plain = "{{ _(m) }}"
        # Every placeholder given a value to escape.
        formatted = "{{ gettext(m, **values) }}"
        context = {"t": i18n.translations(locale)}
        templates = {
            source: (stock.from_string(source), ours.from_string(source)) for source in (plain, formatted)
        }
        for twice in range(2):  # the second time from what was remembered
            for m in msgids:
                values = dict.fromkeys(re.findall(r"%\((\w+)\)", m), "<x>")
                theirs, mine = templates[formatted if values else plain]
                want = theirs.render(context, m=m, values=values)
                assert mine.render(context, m=m, values=values) == want, (m, autoescape, twice)
                outputs.append(want)
    assert any("<b>bold</b>" in o for o in outputs)
    assert any("100% done" in o for o in outputs)
    assert any("&lt;x&gt;" in o for o in outputs)
