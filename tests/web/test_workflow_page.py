"""The workflow page over HTTP: the diagram drawn from the spec the engine follows, and the same transitions as a
table, in the person's language."""

from __future__ import annotations

import re
from html import unescape

import graphviz
import pytest

from domain.values import DossierState
from tests.web.world import SECRETARY, Web, text_of
from web import i18n, labels, workflow_page
from workflow.spec import CURRENT_VERSION, spec_for


def _diagram(html: str) -> str:
    found = re.search(r"<svg .*?</svg>", html, re.S)
    assert found is not None, "the page has no diagram"
    return found.group(0)


def test_the_diagram_has_an_arrow_for_every_transition_of_the_engines_spec(web: Web) -> None:
    page = web.signed_in(SECRETARY).get("/workflow")
    assert page.status_code == 200
    svg = _diagram(page.text)
    # Each shape's title (the browser's tooltip) names its states as the page does, in the person's language.
    named = {labels.STATES[state.value]: state.value for state in DossierState}
    titles = re.findall(r'<g id="edge\d+" class="edge">\s*<title>([^<]+)</title>', svg)
    drawn = {tuple(named[end] for end in unescape(title).split(" → ")) for title in titles}
    spec = spec_for(CURRENT_VERSION)
    expected = {(source.value, (destination or source).value) for source, _, destination in spec.edges()}
    assert drawn == expected
    nodes = set(re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]+)</title>', svg))
    assert {named[unescape(node)] for node in nodes} == {state.value for state in DossierState}
    assert 'role="img"' in svg
    assert 'aria-labelledby="diagram-caption"' in svg


def test_the_transitions_table_lists_each_step_with_who_may_take_it(web: Web) -> None:
    page = web.signed_in(SECRETARY).get("/workflow")
    table = re.search(r'<table class="transitions">.*?</table>', page.text, re.S)
    assert table is not None
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", table.group(0), re.S)
    assert len(rows) == len(spec_for(CURRENT_VERSION).edges())
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", unescape(table.group(0))))
    assert "Submitted Endorse with a proposed classification Endorsed Reviewer (organization board), over the " \
           "committee directly above the unit" in text
    assert "Draft Save answers stays in this state Secretary, over the unit itself" in text
    assert "Decided Re-open for re-classification Re-opened Approver (standing committee), over any committee " \
           "above the unit a reason is required; never by whoever submitted the dossier; also after the period " \
           "is closed" in text


def test_the_workflow_is_drawn_and_tabled_in_the_persons_language(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    form = client.get("/work").text
    web.post(client, "/language", form, {"locale": "vi", "back": "/workflow"})
    page = client.get("/workflow")
    vi = i18n.translations("vi")
    svg = _diagram(page.text)
    for state in ("draft", "endorsed", "approved"):
        assert unescape(vi.gettext(labels.STATES[state])) in unescape(svg)
    assert vi.gettext("Who may take it") in unescape(page.text)
    assert vi.gettext("Who may take it") != "Who may take it"
    assert "Draft" not in unescape(svg)
    titles = [unescape(t) for t in re.findall(r"<title>([^<]+)</title>", svg)]
    assert unescape(vi.gettext(labels.STATES["draft"])) in titles
    assert not {"draft", "submitted", "endorsed"} & set(titles)
    assert not any("->" in title for title in titles)


def test_the_page_needs_no_inline_style_or_script_and_is_linked_for_everyone_signed_in(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    assert 'href="/workflow"' in client.get("/work").text
    page = client.get("/workflow").text
    assert " style=" not in page
    assert "<style" not in page
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []


def test_an_unknown_workflow_version_is_not_found(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    for version in ("99", "abc", "１"):
        response = client.get("/workflow", params={"version": version})
        assert response.status_code == 404
        assert "no workflow version" in unescape(text_of(response))
    assert client.get("/workflow", params={"version": str(CURRENT_VERSION)}).status_code == 200


def test_without_graphviz_the_page_says_the_diagram_cannot_be_drawn_and_still_gives_the_table(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*_: object, **__: object) -> str:
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    workflow_page._drawn.cache_clear()
    try:
        page = web.signed_in(SECRETARY).get("/workflow", params={"version": str(CURRENT_VERSION)})
    finally:
        workflow_page._drawn.cache_clear()
    assert page.status_code == 200
    assert "<svg" not in page.text
    assert "The diagram cannot be drawn on this server" in text_of(page)
    assert len(re.findall(r"<tr>\s*<td>", page.text)) == len(spec_for(CURRENT_VERSION).edges())
