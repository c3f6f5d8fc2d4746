"""In headless Chromium: the reports page, an XLSX and a CSV downloaded through it and read back, and the decision
list printed to PDF by Chromium, turned into PNG pages (pdftoppm) to be looked at."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.conftest import DESKTOP, PHONE, Site, look, t, tab_to
from tests.web.world import AUDITOR, PROVINCE_APPROVER

DISTRICT = "Huyện ủy Mường Khương"  # decided its units in 2024; dissolved in the July 2025 restructuring
EXCELLENT_CELL = "Chi bộ Kho bạc Nhà nước Mường Khương"
NOT_COMPLETED_CELL = "Chi bộ Phòng Kinh tế – Hạ tầng"


def _reports_for(page: Page, year: str) -> None:
    """Open the reports from the navigation and choose the period, as a person does (htmx redraws the result)."""
    page.get_by_role("link", name=t(page, "Reports"), exact=True).click()
    page.wait_for_url(re.compile(r"/reports"))
    page.get_by_label(t(page, "Period"), exact=True).select_option(year)
    expect(page.locator("#result h2")).to_contain_text(year)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_auditor_downloads_the_xlsx_and_the_csv_through_the_reports_page_and_reads_them_back(
    site: Site, viewport: ViewportSize
) -> None:
    site.viewport = viewport
    page = site.person(AUDITOR, locale="vi-VN")
    _reports_for(page, "2024")
    expect(page.locator("#result")).to_contain_text("Chi bộ Tổ dân phố số 5 (phường Kim Tân)")
    look(site, page, "reports-2024")

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name=t(page, "Download XLSX"), exact=True).click()
    xlsx = xlsx_download.value
    assert xlsx.suggested_filename == "classifications-lao-cai-2024.xlsx"
    saved = site.shots / xlsx.suggested_filename
    xlsx.save_as(saved)
    sheet = load_workbook(saved).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("STT", "Mã đơn vị", "Đơn vị", "Mức xếp loại")
    names = {r[2]: r for r in rows[1:]}
    assert names[EXCELLENT_CELL][3] == "Hoàn thành xuất sắc nhiệm vụ"
    assert isinstance(names[EXCELLENT_CELL][0], int)

    with page.expect_download() as csv_download:
        page.get_by_role("link", name=t(page, "Download CSV"), exact=True).click()
    data = Path(csv_download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    csv_rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r[1] for r in csv_rows[1:]] == [r[1] for r in rows[1:]]


def _printed(site: Site, page: Page, name: str) -> str:
    """The page printed to PDF by Chromium (A4, as from its print dialog), drawn as PNG pages to look at; its text."""
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.fail("pdftoppm or pdftotext is missing (apt-get install poppler-utils; .ci/run installs it)")
    pdf = site.shots / f"{name}.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=False)
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(pdf), str(site.shots / f"{name}-page")], check=True)
    assert sorted(site.shots.glob(f"{name}-page*.png")), "pdftoppm drew no page"
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def test_the_decision_list_prints_to_pdf_with_the_units_by_level_and_without_the_sites_menus(site: Site) -> None:
    page = site.person(PROVINCE_APPROVER, locale="vi-VN")
    page.goto("/reports?unit=mk-huyen-uy&year=2024")
    expect(page.locator("#result h2")).to_contain_text(DISTRICT)
    page.get_by_role("link", name=t(page, "Printable decision list"), exact=True).click()
    page.wait_for_url(re.compile(r"/reports/mk-huyen-uy/2024/decision-list$"))
    expect(page.locator(".decision-doc")).to_contain_text(EXCELLENT_CELL)
    look(site, page, "decision-list-screen")

    text = _printed(site, page, "decision-list")
    # The document: the party's name, the deciding body, a number left to the office, the units by level.
    assert "ĐẢNG CỘNG SẢN VIỆT NAM" in text
    assert "BAN THƯỜNG VỤ" in text
    assert DISTRICT.upper() in text
    assert "Số:" in text
    assert text.index(EXCELLENT_CELL) < text.index(NOT_COMPLETED_CELL)
    assert "T/M BAN THƯỜNG VỤ" in text
    # The site around it is left out of the print: no menus, no language switch, no link back.
    assert t(page, "Sign out") not in text
    assert t(page, "Back to reports") not in text
    assert "Tiếng Việt" not in text


def test_the_decision_list_fits_a_phone(site: Site) -> None:
    site.viewport = PHONE
    page = site.person(PROVINCE_APPROVER, locale="vi-VN")
    page.goto("/reports/mk-huyen-uy/2024/decision-list")
    expect(page.locator(".decision-doc")).to_contain_text(NOT_COMPLETED_CELL)
    look(site, page, "decision-list-phone")
    # The first screen as a person holding the phone sees it (the full page is too long to read at a glance).
    page.screenshot(path=str(site.shots / "decision-list-phone-first-screen.png"))


def test_the_decision_list_prints_in_hindi_with_the_units_names_as_they_are(site: Site) -> None:
    fonts = subprocess.run(["fc-list", ":lang=hi"], capture_output=True, text=True, check=False).stdout
    if not fonts.strip():
        pytest.fail("no Devanagari font: Chromium would print Hindi as empty boxes (apt-get install fonts-lohit-deva)")
    page = site.person(PROVINCE_APPROVER, locale="hi-IN")
    page.goto("/reports/mk-huyen-uy/2024/decision-list")
    expect(page.locator("html")).to_have_attribute("lang", "hi")
    look(site, page, "decision-list-hi")
    text = _printed(site, page, "decision-list-hi")
    assert t(page, "On behalf of the standing committee") in text
    assert t(page, "Communist Party of Vietnam") in text
    assert EXCELLENT_CELL in text  # names are the units' own, in Vietnamese, in every language


def test_a_keyboard_alone_chooses_the_period_and_downloads_the_csv(site: Site) -> None:
    page = site.person(AUDITOR, locale="vi-VN")
    page.goto("/reports")
    tab_to(page, "#report-year")
    # The next period in the list (the one before the newest): with htmx the choice alone brings its report. (Pressing
    # the button too, as without JavaScript, asks nothing more and leads to the result: web/static/reports.js, and
    # the test of one request below.)
    page.keyboard.press("ArrowDown")
    expect(page.locator("#result h2")).to_contain_text("2024")
    tab_to(page, "a[href$='classifications.csv']")
    # The file streams from the read models once asked for: on a loaded machine it took more than the 10 s default.
    with page.expect_download(timeout=30_000) as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == "classifications-lao-cai-2024.csv"


def test_an_approver_decides_with_an_act_number_then_prints_that_act_to_pdf(site: Site) -> None:
    page = site.person(PROVINCE_APPROVER, locale="vi-VN")
    root = site.web.engine.unit_by_code("lao-cai").id
    page.goto(f"/decisions/{root}/2025")
    page.get_by_label(t(page, "Decision number"), exact=True).fill("125-QĐ/TU")
    page.get_by_label(t(page, "Date of issue (today if left empty)"), exact=True).fill("2025-11-28")
    look(site, page, "decide-with-act")
    page.get_by_role("button", name=t(page, "Decide the ticked dossiers")).click()
    expect(page.locator(".done")).to_be_visible()

    page.goto("/reports?unit=lao-cai&year=2025")
    acts = page.locator("section.acts")
    expect(acts).to_contain_text("125-QĐ/TU")
    look(site, page, "reports-with-acts")
    acts.get_by_role("link", name=t(page, "Print act %(number)s", number="125-QĐ/TU")).click()
    page.wait_for_url(re.compile(r"/reports/lao-cai/2025/decision-list\?act="))
    expect(page.locator(".decision-doc")).to_contain_text("Đảng bộ xã Nấm Lư")
    look(site, page, "decision-act-screen")

    text = _printed(site, page, "decision-act")
    assert "Số: 125-QĐ/TU" in text
    assert "Ban hành ngày 28 tháng 11 năm 2025" in text
    assert "BAN THƯỜNG VỤ" in text
    assert "Đảng bộ xã Nấm Lư" in text
    assert "Hoàn thành tốt nhiệm vụ" in text
    assert t(page, "Back to reports") not in text


def _requests_for_reports(page: Page) -> list[tuple[str, bool]]:
    """Every request for the reports page from now on: its address and whether htmx made it."""
    seen: list[tuple[str, bool]] = []
    page.on(
        "request",
        lambda request: seen.append((request.url, bool(request.headers.get("hx-request"))))
        if "/reports?" in request.url or request.url.endswith("/reports") else None,
    )
    return seen


def test_without_javascript_choosing_the_period_and_pressing_show_loads_its_report_in_one_request(site: Site) -> None:
    page = site.person(AUDITOR, locale="vi-VN", javascript=False)
    page.goto("/reports")
    seen = _requests_for_reports(page)
    page.get_by_label(t(page, "Period"), exact=True).select_option("2024")
    page.get_by_role("button", name=t(page, "Show"), exact=True).click()
    page.wait_for_url(re.compile(r"/reports\?unit=lao-cai&year=2024$"))
    expect(page.locator("#result h2")).to_contain_text("2024")
    look(site, page, "reports-without-javascript")
    assert seen == [(f"{site.url}/reports?unit=lao-cai&year=2024", False)]


def test_with_htmx_choosing_the_period_then_pressing_show_asks_once_and_keeps_the_page(site: Site) -> None:
    page = site.person(AUDITOR, locale="vi-VN")
    page.goto("/reports")
    page.evaluate("window.stillTheSamePage = true")
    seen = _requests_for_reports(page)
    page.get_by_label(t(page, "Period"), exact=True).select_option("2024")
    expect(page.locator("#result h2")).to_contain_text("2024")
    # Pressing the button as well, as on a form without JavaScript: the report shown is already the one asked for.
    page.get_by_role("button", name=t(page, "Show"), exact=True).click()
    expect(page.locator("#result")).to_be_focused()  # the button leads to the result it names
    page.wait_for_timeout(500)  # time enough for a second request to have left, had one been sent
    assert seen == [(f"{site.url}/reports?unit=lao-cai&year=2024", True)]
    assert page.evaluate("window.stillTheSamePage") is True, "the button loaded a whole page"
    assert page.url.endswith("/reports?unit=lao-cai&year=2024")
    look(site, page, "reports-with-htmx")
