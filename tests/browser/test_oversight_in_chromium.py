"""In headless Chromium: the units tree and its date control, the dashboard's charts and tables, the audit search,
its CSV download, who could act, and the signed head with the public key."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from playwright.sync_api import Page, ViewportSize, expect

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Role
from tests.browser.conftest import DESKTOP, PHONE, Site, look, t
from tests.web.world import AUDITOR, REVIEWER
from workflow.bootstrap import build_engine
from workflow.store import SignedHead

MERGED_ROOT = "Tỉnh ủy Lào Cai (hợp nhất với Yên Bái)"
DISTRICT = "Huyện ủy Mường Khương"
CITY = "Thành ủy Lào Cai"
WARD = "Đảng bộ phường Kim Tân"
CELL_NAME = "Chi bộ Tổ dân phố số 5 (phường Kim Tân)"


def _tree(page: Page) -> list[str]:
    return page.locator("#tree a.unit-name").all_inner_texts()


def _show_on(page: Page, day: str) -> None:
    page.get_by_label(t(page, "The hierarchy as it stood on")).fill(day)
    page.get_by_role("button", name=t(page, "Show"), exact=True).click()
    expect(page).to_have_url(re.compile(f"on={day}"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_moving_the_units_trees_date_across_1_july_2025_changes_the_tree(site: Site, viewport: ViewportSize) -> None:
    site.viewport = viewport
    page = site.person(AUDITOR)
    page.get_by_role("link", name=t(page, "Units"), exact=True).click()
    expect(page.locator("#tree")).to_contain_text(MERGED_ROOT)
    look(site, page, "units-today")

    _show_on(page, "2025-06-30")
    expect(page.locator("#tree a.unit-name", has_text=DISTRICT)).to_be_visible()
    assert _tree(page)[0] == "Tỉnh ủy Lào Cai"
    assert CITY in _tree(page)
    look(site, page, "units-2025-06-30")

    # Under the city, the ward's cells are one level deeper than the tree opens: a link, swapped for them by htmx.
    before = page.url
    page.get_by_role("link", name=t(page, "Units below %(name)s", name=WARD)).click()
    cell = page.locator("#tree a.unit-name", has_text=CELL_NAME)
    expect(cell).to_be_visible()
    assert page.url == before, "opening a node is a fragment, not a new page"
    line = page.locator("#unit-lc-kim-tan-cb1 .unit-line")
    expect(line).to_contain_text(t(page, "Four-good"))
    look(site, page, "units-ward-opened")

    _show_on(page, "2025-07-01")
    expect(page.locator("#tree a.unit-name", has_text=DISTRICT)).to_have_count(0)
    assert _tree(page)[0] == MERGED_ROOT
    assert CITY not in _tree(page)
    # The ward now hangs directly under the merged province, beside a score of other committees: their units are
    # behind a link each, rather than a page of every cell of the province.
    expect(page.locator("#tree a.unit-name", has_text=WARD)).to_be_visible()
    expect(page.get_by_role("link", name=t(page, "Units below %(name)s", name=WARD))).to_be_visible()
    expect(page.locator("#tree a.unit-name", has_text=CELL_NAME)).to_have_count(0)
    look(site, page, "units-2025-07-01")


    page.get_by_label(t(page, "Find a unit by name (with or without tones)")).fill("kim tan")
    page.get_by_role("button", name=t(page, "Show"), exact=True).click()
    expect(page.locator("#tree ul.results li")).to_have_count(3)
    expect(page.locator("#tree ul.results")).to_contain_text(WARD)
    look(site, page, "units-search")


def test_the_dashboard_draws_each_chart_beside_its_table_with_last_years_figures(site: Site) -> None:
    page = site.person(AUDITOR)
    page.get_by_role("link", name=t(page, "Dashboard"), exact=True).click()
    page.get_by_label(t(page, "Period")).select_option("2025")
    page.get_by_label(t(page, "Beside the figures of")).select_option("2024")
    page.get_by_role("button", name=t(page, "Show"), exact=True).click()
    expect(page).to_have_url(re.compile(r"year=2025&compare=2024"))
    charts = page.locator("img.chart")
    expect(charts).to_have_count(5)
    for index in range(5):
        chart = charts.nth(index)
        chart.scroll_into_view_if_needed()
        # Loaded and drawn: an SVG blocked by a policy or answered with an error has no natural width.
        expect(chart).to_have_js_property("complete", True)
        assert chart.evaluate("image => image.naturalWidth") > 0
    levels = page.locator("section.chart-row").first.locator("table")
    expect(levels.locator("thead")).to_contain_text("2025")
    expect(levels.locator("thead")).to_contain_text("2024")
    look(site, page, "dashboard-desktop")
    site.viewport = PHONE
    phone = site.person(AUDITOR)
    phone.goto("/dashboard?unit=lao-cai&year=2024&compare=none")
    expect(phone.locator("img.chart")).to_have_count(5)
    look(site, phone, "dashboard-phone")


def test_the_audit_search_its_csv_and_a_rows_link_to_the_dossiers_history(site: Site) -> None:
    page = site.person(AUDITOR)
    page.get_by_role("link", name=t(page, "Audit"), exact=True).click()
    page.get_by_label(t(page, "Person (username)")).fill(REVIEWER)
    page.get_by_label(t(page, "Period")).select_option("2024")
    page.get_by_role("button", name=t(page, "Search"), exact=True).click()
    expect(page).to_have_url(re.compile(f"person={REVIEWER}"))
    heading = page.locator("#results h2")
    expect(heading).to_have_text(re.compile(r"^\s*\d"))
    shown = int(re.sub(r"\D", "", heading.inner_text()))
    assert shown > 0
    look(site, page, "audit-search")

    with page.expect_download() as download:
        page.get_by_role("link", name=t(page, "Download these rows as CSV")).click()
    body = download.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == shown
    assert {r["year"] for r in rows} == {"2024"}
    assert {r["person_id"] for r in rows} | {r["on_behalf_of"] for r in rows} >= {rows[0]["person_id"]}

    page.locator("#results tbody a").first.click()
    expect(page).to_have_url(re.compile(r"/dossiers/[0-9a-f-]+/history$"))
    look(site, page, "audit-row-history")


def test_who_could_act_and_the_signed_head_with_its_public_key(site: Site) -> None:
    page = site.person(AUDITOR)
    page.goto("/audit/who-could-act")
    page.get_by_label(t(page, "Dossier (UNIT-CODE/YEAR or its id)")).fill("lc-kim-tan-cb1/2024")
    page.get_by_label(t(page, "On the day")).fill("2024-11-28")
    page.get_by_role("button", name=t(page, "Show"), exact=True).click()
    expect(page.locator("section.who-could-act")).to_contain_text(REVIEWER)
    look(site, page, "who-could-act")

    with page.expect_download() as key_download:
        page.get_by_role("link", name=t(page, "Download the public key")).click()
    key = load_pem_public_key(key_download.value.path().read_bytes())
    with page.expect_download() as head_download:
        page.get_by_role("button", name=t(page, "Download the signed chain head")).click()
    head = SignedHead.from_json(head_download.value.path().read_text(encoding="utf-8"), "the download")
    assert head.is_signed_by(key)  # type: ignore[arg-type]


def test_an_auditor_on_a_phone_reads_in_hindi_which_lists_are_behind_the_log(site: Site) -> None:
    site.viewport = {"width": 375, "height": 740}
    # The read models stand still (their runner stopped) while another process records a step.
    site.web.site.side.close()
    other = build_engine(database_url=None, data_dir=site.web.data_dir, clock=site.web.clock)
    try:
        other.rename_unit(
            Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai")), unit_id("lc-kim-tan-cb1"),
            name="Chi bộ Tổ dân phố số 5 (mới)", effective_from=date(2025, 11, 1), reason="Đổi tên",
        )
    finally:
        other.close()
    page = site.person(AUDITOR, locale="hi-IN")
    page.goto("/audit")
    banner = page.locator("section.lagging")
    expect(banner).to_contain_text(
        t(page, "The lists may be incomplete: some read models are not level with the event log")
    )
    expect(banner.get_by_role("listitem")).to_have_count(5)  # every read model is a step behind
    expect(banner).to_contain_text(t(page, "The audit trail"))
    look(site, page, "lagging-banner-hi-375")
    banner.screenshot(path=str(site.shots / "lagging-banner-alone.png"))
