"""The oversight pages over HTTP: the units tree as of a date, the dashboard and its charts, the audit trail, its
CSV, who could act, the signed head and the public key; and every denial."""

from __future__ import annotations

import csv
import io
import re

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from domain.ids import person_id
from projections.models import audit as audit_model
from projections.models import statistics as statistics_model
from tests.web.world import AUDITOR, CELL, OTHER_REVIEWER, REVIEWER, SECRETARY, Web, csrf, text_of
from web import i18n, labels
from web.oversight import without_scripts
from workflow.store import SignedHead, fingerprint

PAGES = [
    "/units", "/units?on=2025-06-30", "/dashboard", "/dashboard/charts/levels.svg", "/audit", "/audit.csv",
    f"/audit/who-could-act?dossier={CELL}/2025&on=2025-12-01", "/audit/public-key.pem",
]


def _links(html: str) -> list[str]:
    return re.findall(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)


def _tree_names(html: str) -> list[str]:
    return re.findall(r'class="unit-name" href="[^"]*">([^<]+)</a>', html)


# --- who may see the pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_secretary_is_refused_every_oversight_page_with_a_page_saying_why(web: Web, path: str) -> None:
    response = web.signed_in(SECRETARY).get(path)
    assert response.status_code == 403
    assert "for auditors, approvers, reviewers and administrators" in text_of(response)


@pytest.mark.parametrize("path", PAGES)
def test_a_signed_out_visitor_is_sent_to_sign_in_from_every_oversight_page(web: Web, path: str) -> None:
    response = web.client().get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")


@pytest.mark.parametrize("path", PAGES)
def test_an_auditor_sees_every_oversight_page(web: Web, path: str) -> None:
    response = web.signed_in(AUDITOR).get(path)
    assert response.status_code == 200, text_of(response)


def test_the_navigation_offers_the_oversight_pages_to_a_reviewer_and_not_to_a_secretary(web: Web) -> None:
    reviewer = _links(web.signed_in(REVIEWER).get("/work").text)[0]
    secretary = _links(web.signed_in(SECRETARY).get("/work").text)[0]
    for path in ('href="/units"', 'href="/dashboard"', 'href="/audit"'):
        assert path in reviewer
        assert path not in secretary


# --- the units tree --------------------------------------------------------------------------------------------------


def test_moving_the_date_across_the_july_2025_restructuring_changes_the_tree(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    before = _tree_names(auditor.get("/units?on=2025-06-30").text)
    after = _tree_names(auditor.get("/units?on=2025-07-01").text)
    assert before[0] == "Tỉnh ủy Lào Cai"
    assert "Thành ủy Lào Cai" in before
    assert "Huyện ủy Mường Khương" in before
    assert after[0] == "Tỉnh ủy Lào Cai (hợp nhất với Yên Bái)"
    assert "Thành ủy Lào Cai" not in after
    assert "Huyện ủy Mường Khương" not in after
    assert "Đảng bộ phường Kim Tân" in before
    assert "Đảng bộ phường Kim Tân" in after


def test_each_unit_shows_its_classification_and_four_good_badge_for_the_chosen_period(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    page = auditor.get("/units?unit=lc-kim-tan&year=2024").text
    line = re.search(r'id="unit-lc-kim-tan-cb1">(.*?)</li>', page, re.S)
    assert line is not None
    assert "Good (completed tasks well)" in line.group(1)
    assert "Four-good" in line.group(1)
    # The next period is still a draft: no level, no badge.
    next_year = auditor.get("/units?unit=lc-kim-tan&year=2025").text
    draft = re.search(r'id="unit-lc-kim-tan-cb1">(.*?)</li>', next_year, re.S)
    assert draft is not None
    assert "Draft" in draft.group(1)
    assert "Four-good" not in draft.group(1)


def test_a_node_below_the_open_levels_is_a_plain_link_and_opens_by_htmx_as_a_fragment(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    page = auditor.get("/units?on=2025-06-30").text
    # Three levels down (province, district, ward committee): the committee's cells are behind a link.
    link = re.search(r'<ul id="children-lc-kim-tan"><li class="more"><a href="([^"]+)" hx-get="([^"]+)"', page)
    assert link is not None
    plain = auditor.get(link.group(1).replace("&amp;", "&"))
    assert plain.status_code == 200
    assert "<html" in plain.text
    assert "Chi bộ Tổ dân phố số 5 (phường Kim Tân)" in _tree_names(plain.text)
    fragment = auditor.get(link.group(2).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<section id="tree"')
    assert '<ul id="children-lc-kim-tan">' in fragment.text
    assert "Chi bộ Tổ dân phố số 5 (phường Kim Tân)" in _tree_names(fragment.text)


def test_a_search_finds_a_unit_with_or_without_tones_within_scope_only(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    for q in ("kim tan", "Kim Tân", "KIM TÂN"):
        found = text_of(auditor.get("/units", params={"q": q}))
        assert "3 units match" in found
        assert "Đảng bộ phường Kim Tân" in found
    other = text_of(web.signed_in(OTHER_REVIEWER).get("/units", params={"q": "kim tan"}))
    assert "0 units match" in other


def test_a_search_matching_more_units_than_it_shows_says_so_and_asks_for_a_word(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    auditor = web.signed_in(AUDITOR)
    monkeypatch.setattr("web.oversight.SEARCH_LIMIT", 2)
    found = text_of(auditor.get("/units", params={"q": "kim tan"}))
    assert "3 units match" in found
    assert "The first 2 by name are shown: add a word to narrow the search." in found
    assert found.count("Kim Tân") >= 2
    monkeypatch.setattr("web.oversight.SEARCH_READ_LIMIT", 2)
    broad = auditor.get("/units", params={"q": "kim tan"}, headers={"Accept-Language": "vi"})
    assert broad.status_code == 200
    assert "Hơn 2 đơn vị khớp với “kim tan”: hãy thêm một từ để thu hẹp tìm kiếm." in text_of(broad)


def test_a_reviewer_sees_only_their_committee_and_is_refused_a_unit_outside_it(web: Web) -> None:
    reviewer = web.signed_in(REVIEWER)
    names = _tree_names(reviewer.get("/units").text)
    assert names[0] == "Đảng bộ phường Kim Tân"
    assert "Tỉnh ủy Lào Cai (hợp nhất với Yên Bái)" not in names
    outside = reviewer.get("/units?unit=lc-pom-han")
    assert outside.status_code == 403
    assert "outside the units your roles cover" in text_of(outside)


@pytest.mark.parametrize(
    ("query", "status"),
    [("unit=no-such-unit", 404), ("on=2025-13-40", 422), ("on=yesterday", 422), ("year=20x4", 422),
     ("on=0001-01-01", 422), ("on=9999-12-31", 422),
     ("unit=lc-kim-tan&on=1990-01-01", 404)],
)
def test_bad_input_to_the_units_page_gets_a_clear_error(web: Web, query: str, status: int) -> None:
    response = web.signed_in(AUDITOR).get(f"/units?{query}")
    assert response.status_code == status
    assert "Traceback" not in response.text


# --- the dashboard ---------------------------------------------------------------------------------------------------


def test_the_dashboard_tables_show_the_statistics_read_models_figures(web: Web) -> None:
    page = web.signed_in(AUDITOR).get("/dashboard?unit=lao-cai&year=2024").text
    stats = statistics_model.statistics(web.site.side.store, web.engine.unit_by_code("lao-cai").id, 2024)
    text = text_of(web.signed_in(AUDITOR).get("/dashboard?unit=lao-cai&year=2024"))
    assert f"Good (completed tasks well) {stats.by_level['good']}" in text
    assert f"Four-good cells {stats.four_good_cells}" in text
    assert f"Party cells {stats.cells}" in text
    assert f"Two pilot cells {stats.committees_below.pilot_met}" in text
    assert f"{stats.dossiers} dossiers below this unit" in text
    for chart in ("levels", "four_good", "quota", "targets", "states"):
        assert f'src="/dashboard/charts/{chart}.svg?unit=lao-cai&amp;year=2024' in page


def test_the_dashboard_puts_last_years_figures_beside_this_years(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    text = text_of(auditor.get("/dashboard?unit=lao-cai&year=2025"))
    assert "Level 2025 2024" in text
    single = text_of(auditor.get("/dashboard?unit=lao-cai&year=2025&compare=none"))
    assert "Level 2025 Excellent" in single


def test_the_dashboard_form_redraws_only_the_figures_for_htmx(web: Web) -> None:
    response = web.signed_in(AUDITOR).get(
        "/dashboard?unit=lc-thanh-uy&year=2024&compare=none", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="figures"')
    assert "<form" not in response.text
    assert 'src="/dashboard/charts/levels.svg?unit=lc-thanh-uy&amp;year=2024&amp;compare=none"' in response.text


def test_the_quota_meter_of_each_group_is_shown_for_a_superior(web: Web) -> None:
    city = web.engine.unit_by_code("lc-thanh-uy").id
    meters = statistics_model.quota_meters(web.site.side.store, city, 2024)
    assert meters, "the demo's city committee decided its units in 2024"
    text = text_of(web.signed_in(AUDITOR).get("/dashboard?unit=lc-thanh-uy&year=2024&compare=none"))
    for meter in meters:
        name = labels.group_label(meter.group) or meter.group
        assert f"{name} 2024 {meter.good_or_better} {meter.excellent} {meter.allowed}" in text


@pytest.mark.parametrize("locale", ["vi", "hi"])
def test_the_quota_groups_are_named_in_the_visitors_language_in_the_table_and_the_chart(web: Web, locale: str) -> None:
    auditor = web.signed_in(AUDITOR)
    page = auditor.get("/sign-in")
    auditor.post("/language", data={"csrf_token": csrf(page.text), "locale": locale, "back": "/"})
    wards = i18n.translations(locale).gettext(labels.GROUPS["ward/commune"])
    assert wards != labels.GROUPS["ward/commune"], "the catalog translates the group's name"
    query = "unit=lc-thanh-uy&year=2024&compare=none"
    chart = auditor.get(f"/dashboard/charts/quota.svg?{query}").text
    for shown in (text_of(auditor.get(f"/dashboard?{query}")), chart):
        assert wards in shown
        assert "ward/commune" not in shown  # the raw value the units carry, never shown to a reader


def test_a_group_with_no_name_in_the_app_is_shown_as_the_administrator_typed_it() -> None:
    assert labels.group_label("Khối doanh nghiệp") is None
    assert labels.group_label("party_cell") == labels.KINDS["party_cell"]  # no group of its own: counted by its kind


def test_a_chart_is_a_pygal_svg_with_no_script_and_the_tables_figures(web: Web) -> None:
    response = web.signed_in(AUDITOR).get("/dashboard/charts/levels.svg?unit=lao-cai&year=2024&compare=none")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script" not in policy
    svg = response.text
    assert "pygal" in svg
    assert "<script" not in svg
    assert not re.search(r'(?:href|src)="(?!#)', svg), "a chart must load nothing from anywhere"
    stats = statistics_model.statistics(web.site.side.store, web.engine.unit_by_code("lao-cai").id, 2024)
    values = re.findall(r'<desc class="value">([^<]*)</desc>', svg)
    assert str(stats.by_level["good"]) in values


def test_a_chart_of_small_counts_is_scaled_in_whole_units(web: Web) -> None:
    # The city committee's 2025 quota: no unit decided yet, every figure none or zero.
    svg = web.signed_in(AUDITOR).get("/dashboard/charts/quota.svg?unit=lc-thanh-uy&year=2025").text
    axis = re.search(r'<g class="axis y[^"]*">(.*?)</g>\s*</g>', svg, re.S)
    assert axis is not None, "the chart has a y axis"
    ticks = re.findall(r"<text[^>]*>([^<]+)</text>", axis.group(1))
    assert ticks
    assert all(tick.isdigit() for tick in ticks), ticks


def test_pygals_own_script_element_is_removed_from_a_chart() -> None:
    import pygal

    chart = pygal.Bar(js=[])
    chart.add("a", [1, 2])
    assert "<script" in chart.render(is_unicode=True), "pygal writes its configuration script even with js=[]"
    assert "<script" not in without_scripts(chart.render_tree())


def test_a_chart_is_in_the_visitors_language(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    english = auditor.get("/dashboard/charts/states.svg?unit=lao-cai&year=2024").text
    assert "Overdue" in english
    auditor.headers["Accept-Language"] = "vi"
    page = auditor.get("/sign-in")
    auditor.post("/language", data={"csrf_token": csrf(page.text), "locale": "vi", "back": "/"})
    vietnamese = auditor.get("/dashboard/charts/states.svg?unit=lao-cai&year=2024").text
    assert "Overdue" not in vietnamese


@pytest.mark.parametrize(
    ("path", "status"),
    [("/dashboard?unit=lc-pom-han", 403), ("/dashboard?unit=nothing-here", 404), ("/dashboard?year=1999", 404),
     ("/dashboard?year=abcd", 422), ("/dashboard/charts/pie.svg", 404),
     ("/dashboard/charts/levels.svg?unit=lc-pom-han", 403)],
)
def test_the_dashboard_refuses_a_unit_out_of_scope_and_bad_input(web: Web, path: str, status: int) -> None:
    response = web.signed_in(REVIEWER).get(path)
    assert response.status_code == status
    assert "Traceback" not in response.text


# --- the audit trail --------------------------------------------------------------------------------------------------


def test_the_audit_search_filters_by_person_and_links_each_row_to_its_dossiers_history(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    page = auditor.get(f"/audit?person={REVIEWER}&unit=lao-cai").text
    expected = audit_model.audit_trail(
        web.site.side.store, person_id=person_id(REVIEWER), unit_id=web.engine.unit_by_code("lao-cai").id
    )
    assert expected.total > 0
    assert f"{expected.total} events" in text_of(auditor.get(f"/audit?person={REVIEWER}&unit=lao-cai"))
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>", page)
    assert [int(r) for r in rows] == [r.position for r in expected.rows[:50]]
    first = next(r for r in expected.rows if r.dossier_id is not None)
    assert f'href="/dossiers/{first.dossier_id}/history"' in page


def test_the_audit_search_by_action_period_and_time_range(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    store, root = web.site.side.store, web.engine.unit_by_code("lao-cai").id
    approved = audit_model.audit_trail(store, unit_id=root, action="Dossier.Approved", year=2024)
    text = text_of(auditor.get("/audit?action=Dossier.Approved&year=2024"))
    assert f"{approved.total} events" in text
    assert approved.total > 0
    assert "decided the classification" in text
    nothing = text_of(auditor.get("/audit?since=2026-01-01&until=2026-01-31"))
    assert "0 events" in nothing


def test_the_audit_trail_is_paged_and_the_next_page_comes_as_an_htmx_fragment(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    first = auditor.get("/audit").text
    assert "Page 1 of" in first
    following = re.search(r'href="(/audit\?[^"]*page=2[^"]*)" [^>]*rel="next"', first)
    assert following is not None
    assert f"after={max(_positions(first))}" in following.group(1)
    second = auditor.get(following.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert second.status_code == 200
    assert second.text.lstrip().startswith('<section id="results"')
    assert "Page 2 of" in second.text
    assert len(_positions(second.text)) == 50
    assert _positions(second.text)[0] > max(_positions(first))
    assert _positions(second.text) == _positions(auditor.get("/audit?page=2").text)


def _positions(html: str) -> list[int]:
    return [int(p) for p in re.findall(r"<tr>\s*<td>(\d+)</td>", html)]


def test_the_pagers_links_carry_the_neighbouring_position_both_ways(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    third = auditor.get("/audit?page=3").text
    back = re.search(r'href="(/audit\?[^"]*)" [^>]*rel="prev"', third)
    onward = re.search(r'href="(/audit\?[^"]*)" [^>]*rel="next"', third)
    assert back is not None
    assert onward is not None
    assert f"before={min(_positions(third))}" in back.group(1)
    second = auditor.get(back.group(1).replace("&amp;", "&")).text
    assert "Page 2 of" in second
    assert _positions(second) == _positions(auditor.get("/audit?page=2").text)
    fourth = auditor.get(onward.group(1).replace("&amp;", "&")).text
    assert _positions(fourth) == _positions(auditor.get("/audit?page=4").text)
    first = re.search(r'href="(/audit\?[^"]*)" [^>]*rel="prev"', second)
    assert first is not None
    assert "before=" not in first.group(1)  # the first page is the first page, whatever came since
    assert _positions(auditor.get(first.group(1).replace("&amp;", "&")).text) == _positions(
        auditor.get("/audit").text
    )


@pytest.mark.parametrize("query", ["after=x", "before=-3", "after=1&before=9", "after=1e5", "before=%EF%BC%91"])
def test_a_page_position_that_is_no_position_gets_a_clear_error(web: Web, query: str) -> None:
    response = web.signed_in(AUDITOR).get(f"/audit?{query}")
    assert response.status_code == 422
    assert "Traceback" not in response.text


def test_past_the_count_limit_the_trail_says_more_than_and_still_pages_on(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, root = web.site.side.store, web.engine.unit_by_code("lao-cai").id
    whole = audit_model.audit_trail(store, unit_id=root, offset=100, limit=50)
    capped = audit_model.audit_trail(store, unit_id=root, offset=100, limit=50, count_limit=100)
    assert whole.total > 100
    assert whole.total_exact
    assert (capped.total, capped.total_exact) == (100, False)
    assert capped.rows == whole.rows
    monkeypatch.setattr("web.oversight.AUDIT_COUNT_LIMIT", 100)
    auditor = web.signed_in(AUDITOR)
    text = text_of(auditor.get("/audit?page=3"))
    assert "More than 100 events" in text
    assert "Page 3 Next" in text
    assert "Page 3 of" not in text


def test_the_csv_download_holds_exactly_the_filtered_rows(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    response = auditor.get(f"/audit.csv?person={REVIEWER}&unit=lao-cai")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert tuple(rows[0]) == audit_model.COLUMNS
    expected = list(audit_model.iter_audit(
        web.site.side.store, person_id=person_id(REVIEWER), unit_id=web.engine.unit_by_code("lao-cai").id
    ))
    assert [int(r[0]) for r in rows[1:]] == [r.position for r in expected]
    assert all(r[audit_model.COLUMNS.index("person_name")] for r in rows[1:])


def test_a_reviewer_searches_only_their_committee_and_is_refused_another(web: Web) -> None:
    reviewer = web.signed_in(REVIEWER)
    page = reviewer.get("/audit")
    assert 'value="lc-kim-tan"' in page.text
    store = web.site.side.store
    own = audit_model.audit_trail(store, unit_id=web.engine.unit_by_code("lc-kim-tan").id)
    assert f"{own.total} events" in text_of(page)
    for path in ("/audit?unit=lc-pom-han", "/audit?unit=lao-cai", "/audit.csv?unit=lao-cai"):
        assert reviewer.get(path).status_code == 403


@pytest.mark.parametrize(
    ("query", "status"),
    [("since=2025-02-30", 422), ("until=31/12/2024", 422), ("since=2025-02-01&until=2025-01-01", 422),
     ("since=0001-01-01", 422), ("until=9999-12-31", 422), ("action=Dossier.Exploded", 422),
     ("year=twenty", 422), ("page=0", 422), ("page=-1", 422),
     ("unit=nowhere", 404)],
)
def test_bad_audit_filters_get_a_clear_error(web: Web, query: str, status: int) -> None:
    for path in (f"/audit?{query}", f"/audit.csv?{query}"):
        response = web.signed_in(AUDITOR).get(path)
        assert response.status_code == status, path
        assert "Traceback" not in response.text


def test_who_could_act_names_the_grant_and_its_basis(web: Web) -> None:
    text = text_of(web.signed_in(AUDITOR).get(f"/audit/who-could-act?dossier={CELL}/2025&on=2025-12-01"))
    assert "Who could act on Chi bộ Tổ dân phố số 5 (phường Kim Tân) · 2025" in text
    assert SECRETARY in text
    assert "Submit self-assessment" in text
    assert "quyết định chuẩn y của cấp ủy cấp trên" in text
    # Submitted on 25 November 2024 (returned on 2 December): in between, the ward committee's organization board
    # could act on it, and the secretary no longer could.
    submitted = text_of(web.signed_in(AUDITOR).get(f"/audit/who-could-act?dossier={CELL}/2024&on=2024-11-28"))
    assert "State that day: Submitted" in submitted
    assert f"({REVIEWER}) Reviewer (organization board) Đảng bộ phường Kim Tân" in submitted
    assert "Return to the unit" in submitted
    assert SECRETARY not in submitted


@pytest.mark.parametrize(
    ("query", "status"),
    [("dossier=lc-pom-han/2024&on=2024-12-01", 403), ("dossier=nowhere/2025&on=2025-12-01", 404),
     ("dossier=lc-kim-tan-cb1/1999&on=2025-12-01", 404), ("dossier=not a reference&on=2025-12-01", 422),
     (f"dossier={CELL}/2025&on=someday", 422)],
)
def test_who_could_act_refuses_out_of_scope_unknown_and_bad_input(web: Web, query: str, status: int) -> None:
    response = web.signed_in(REVIEWER).get(f"/audit/who-could-act?{query}")
    assert response.status_code == status
    assert "Traceback" not in response.text


def test_the_signed_chain_head_downloads_and_verifies_with_the_downloaded_public_key(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    page = auditor.get("/audit").text
    response = auditor.post("/audit/checkpoint", data={"csrf_token": csrf(page)})
    assert response.status_code == 200, text_of(response)
    assert "attachment" in response.headers["content-disposition"]
    head = SignedHead.from_json(response.text, "the download")
    key = load_pem_public_key(auditor.get("/audit/public-key.pem").content)
    assert head.is_signed_by(key)  # type: ignore[arg-type]
    assert head.key_id == fingerprint(key)  # type: ignore[arg-type]
    assert head.notification_id == web.engine.recorder.max_notification_id()


def test_the_checkpoint_needs_the_csrf_token(web: Web) -> None:
    response = web.signed_in(AUDITOR).post("/audit/checkpoint", data={"csrf_token": "forged"})
    assert response.status_code == 403
    assert "did not come from this site" in text_of(response)


def test_the_answers_of_a_dossier_as_it_was_are_named_by_their_criteria_in_the_readers_language(web: Web) -> None:
    did = web.engine.find_dossier(f"{CELL}/2024")
    dossier = web.engine.dossier(did)
    rule_set = web.engine.rule_book.rule_set(dossier.rule_set_id)
    answered = next(c for c in rule_set.criteria if c.id in dossier.answers)
    page = web.signed_in(AUDITOR).get(f"/dossiers/{did}/history", params={"as_of": "2099-12-31"})
    assert page.status_code == 200, text_of(page)
    assert f"{answered.title_en}:" in text_of(page)
    assert f"<code>{answered.id}</code>" not in page.text


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("person=nobody", 404, "no person with username 'nobody'"),
        ("year=1999", 404, "no evaluation period for 1999"),
    ],
)
def test_an_audit_filter_naming_nobody_or_a_year_without_a_period_is_refused_not_answered_0_events(
    web: Web, query: str, status: int, says: str
) -> None:
    auditor = web.signed_in(AUDITOR)
    for path in (f"/audit?{query}", f"/audit.csv?{query}"):
        page = auditor.get(path)
        assert page.status_code == status, path
        assert says in text_of(page)
