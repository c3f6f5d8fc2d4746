"""In headless Chromium: the language switch, a stale version in two tabs, and signing in by keyboard alone."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, Site, look, t, tab_to
from tests.web.world import AUDITOR, SECRETARY, password
from web.i18n import LOCALE_NAMES, Formats

CELL_NAME = "Chi bộ Tổ dân phố số 5 (phường Kim Tân)"
DEADLINE = date(2025, 12, 15)  # the 2025 self-assessments' deadline in the demo
WARD = "lc-kim-tan"  # its 2025 self-assessment is submitted to the province
PROVINCE_REVIEWER = "tc-tinh-uy"


def _switch(page: Page, locale: str) -> None:
    page.get_by_label(t(page, "Language"), exact=True).select_option(label=LOCALE_NAMES[locale])
    page.get_by_role("button", name=t(page, "Change"), exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", locale)


def _in(page: Page, locale: str) -> None:
    """The page is drawn in `locale`: its language, the switch's choice, and (on My work) Babel's dates."""
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.get_by_label(t(page, "Language"), exact=True)).to_have_value(locale)
    if page.url.endswith("/work"):
        waiting = page.locator("section.queue").get_by_role("row").filter(has_text=CELL_NAME)
        expect(waiting).to_contain_text(Formats(locale).date(DEADLINE))


def test_the_language_switch_goes_to_english_hindi_and_back_to_vietnamese_and_each_is_kept(site: Site) -> None:
    page = site.person(SECRETARY, locale="vi-VN")
    _in(page, "vi")
    look(site, page, "work-vi")

    _switch(page, "en")
    page.wait_for_url(re.compile(r"/work$"))  # the switch brings the person back where they were
    _in(page, "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    look(site, page, "work-en")
    page.locator("section.queue").get_by_role("link", name=CELL_NAME).click()
    _in(page, "en")  # kept on the next page
    expect(page.locator(".facts-line .state")).to_have_text(t(page, "Draft"))
    look(site, page, "dossier-en")

    _switch(page, "hi")
    page.wait_for_url(re.compile(r"/dossiers/[0-9a-f-]+$"))
    _in(page, "hi")
    look(site, page, "dossier-hi")
    page.get_by_role("link", name=t(page, "My work"), exact=True).first.click()
    _in(page, "hi")
    look(site, page, "work-hi")

    # Remembered with the session, across signing out and in again, over the browser's own Vietnamese.
    page.get_by_role("button", name=t(page, "Sign out"), exact=True).click()
    page.wait_for_url(re.compile(r"/sign-in$"))
    expect(page.locator("html")).to_have_attribute("lang", "hi")
    look(site, page, "sign-in-hi")
    page.get_by_label(t(page, "Username"), exact=True).fill(SECRETARY)
    page.get_by_label(t(page, "Password"), exact=True).fill(password(SECRETARY))
    page.get_by_role("button", name=t(page, "Sign in"), exact=True).click()
    page.wait_for_url(re.compile(r"/work$"))
    _in(page, "hi")

    _switch(page, "vi")
    _in(page, "vi")
    page.locator("section.queue").get_by_role("link", name=CELL_NAME).click()
    _in(page, "vi")
    look(site, page, "dossier-vi-again")


def test_a_stale_autosave_and_a_stale_save_say_someone_else_saved_first_and_keep_what_was_typed(site: Site) -> None:
    path = site.web.dossier_path()
    first = site.person(SECRETARY)
    first.goto(path)
    second = first.context.new_page()  # a second tab, opened on the same version
    site.watch(second)
    second.goto(path)
    points = t(first, "Points (0 to %(max)s)", max="50")

    saved = first.get_by_label(points)
    saved.fill("45")
    saved.press("Tab")
    expect(first.locator("#save-status")).to_have_text(t(first, "Saved."))

    # The second tab's autosave carries the version it was loaded with: refused, and what was typed stays.
    typed = second.get_by_label(points)
    typed.fill("46")
    comment = second.locator(".criterion").filter(has=typed).get_by_label(t(second, "Comment"), exact=True)
    comment.fill("Đã cập nhật số liệu quý IV")
    comment.press("Tab")
    status = second.locator("#save-status")
    expect(status).to_contain_text(t(second, "Someone else changed this dossier first"))
    expect(status).to_be_in_viewport()  # at the foot of the screen, though the form goes on far below the field
    expect(status.get_by_role("link", name=t(second, "Reload the dossier"))).to_be_visible()
    expect(typed).to_have_value("46")
    expect(comment).to_have_value("Đã cập nhật số liệu quý IV")
    look(site, second, "stale-autosave")

    # Without htmx's help (the plain form's button), the whole page says so and shows what was typed.
    second.get_by_role("button", name=t(second, "Save answers"), exact=True).click()
    alert = second.get_by_role("alert")
    expect(alert).to_contain_text(t(second, "Someone else changed this dossier first"))
    expect(alert).to_contain_text(t(second, "What you typed is kept below. The page now shows the dossier as it is; "
                                            "check it, then send again."))
    expect(second.get_by_label(points)).to_have_value("46")
    expect(second.locator(".criterion").filter(has=second.get_by_label(points)).get_by_label(
        t(second, "Comment"), exact=True)).to_have_value("Đã cập nhật số liệu quý IV")
    look(site, second, "stale-save")

    alert.get_by_role("link", name=t(second, "Reload the dossier")).click()
    expect(second.get_by_label(points)).to_have_value("45")  # what the first tab saved


def test_a_stale_action_says_someone_else_acted_first_and_keeps_the_reason_typed(site: Site) -> None:
    path = site.web.dossier_path(WARD)
    first = site.person(PROVINCE_REVIEWER)
    first.goto(path)
    second = first.context.new_page()
    site.watch(second)
    second.goto(path)

    endorse = t(first, "Endorse with a proposed classification")
    first.locator("summary", has_text=endorse).click()
    first.get_by_role("button", name=endorse, exact=True).click()
    expect(first.get_by_role("status").filter(has_text=t(first, "The dossier is endorsed and goes to the approver."))
           ).to_be_visible()

    give_back = t(second, "Return to the unit")
    second.locator("summary", has_text=give_back).click()
    reason = "Thiếu nghị quyết đại hội chi bộ"
    second.get_by_role("textbox", name=t(second, "Reason"), exact=True).fill(reason)
    second.get_by_role("button", name=give_back, exact=True).click()
    expect(second.get_by_role("alert")).to_contain_text(t(second, "Someone else changed this dossier first"))
    expect(second.locator(".facts-line .state")).to_have_text(t(second, "Endorsed"))
    # The return is no longer offered, so its dialog is gone: the reason typed is kept in the message.
    expect(second.get_by_role("alert").get_by_label(t(second, "What you typed"), exact=True)).to_have_value(reason)
    look(site, second, "stale-action")


def test_a_person_signs_in_with_the_keyboard_alone_and_can_skip_the_header(site: Site) -> None:
    page = site.person()
    page.goto("/sign-in")
    username = page.get_by_label(t(page, "Username"), exact=True)
    expect(username).to_be_focused()  # autofocus: the page opens ready to type
    page.keyboard.type(SECRETARY)
    page.keyboard.press("Tab")
    expect(page.get_by_label(t(page, "Password"), exact=True)).to_be_focused()
    page.keyboard.type(password(SECRETARY))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/work$"))

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=t(page, "Skip to the content"))
    expect(skip).to_be_focused()
    look(site, page, "skip-link-focused")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/work#main$"))


# Every page behind the main navigation, as the administrator (who holds a reading role too) reaches them: the
# navigation at its longest, seven links. Each page is looked at by `look` (labelled fields, no sideways scrolling
# on a phone) and watched for script and CSP errors by the `site` fixture.
PAGES = [
    ("/work", "/work"), ("/workflow", "/workflow"), ("/admin/units", "/admin"), ("/admin/people", "/admin"),
    ("/admin/periods", "/admin"), ("/admin/rules", "/admin"), ("/units", "/units"), ("/units?on=2025-06-30", "/units"),
    ("/dashboard", "/dashboard"), ("/audit", "/audit"),
    (f"/audit/who-could-act?dossier={WARD}-cb1/2025&on=2025-12-01", "/audit"), ("/reports", "/reports"),
]
# A link drawn on one line is one line-height tall (and its padding); a name broken inside is two.
_BROKEN_LINKS = """() => Array.from(document.querySelectorAll('header.top nav a'))
    .filter(link => link.getBoundingClientRect().height >= 2 * parseFloat(getComputedStyle(link).lineHeight))
    .map(link => link.textContent.trim())"""


@pytest.mark.parametrize("locale", ["vi-VN", "hi-IN"])
def test_every_page_fits_a_phone_with_its_navigation_on_whole_lines_and_its_own_link_marked(
    site: Site, locale: str
) -> None:
    site.viewport = PHONE
    page = site.person("admin", locale=locale)
    nav = page.get_by_role("navigation", name=t(page, "Main"), exact=True)
    expect(nav.get_by_role("link")).to_have_count(7)
    for path, section in PAGES:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        look(site, page, f"{locale[:2]}-phone{path.split('?')[0].replace('/', '-')}")
        assert page.evaluate(_BROKEN_LINKS) == [], f"{path}: a link of the navigation is broken over two lines"
        current = nav.locator("[aria-current]")
        expect(current).to_have_attribute("href", section)
        # "page" only on the link to this very page; a page further in its section has its own.
        expect(current).to_have_attribute("aria-current", "page" if path.split("?")[0] == section else "true")


def test_the_last_link_of_the_navigation_is_reached_by_keyboard_on_a_phone(site: Site) -> None:
    site.viewport = PHONE
    page = site.person("admin", locale="hi-IN")
    tab_to(page, "header.top nav a[href='/reports']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/reports$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(t(page, "Reports"))


def test_a_secretary_changes_their_password_from_the_header_and_signs_in_with_the_new_one(site: Site) -> None:
    new = "mat-khau-moi-cua-toi-2025"
    page = site.person(SECRETARY)
    page.get_by_role("link", name=t(page, "Change password"), exact=True).click()
    page.wait_for_url(re.compile(r"/account/password$"))
    look(site, page, "password-form")
    page.get_by_label(t(page, "Present password"), exact=True).fill("not-my-password")
    page.get_by_label(t(page, "New password (at least %(count)s characters)", count=8), exact=True).fill(new)
    page.get_by_label(t(page, "The same password again"), exact=True).fill(new)
    page.get_by_role("button", name=t(page, "Set my password"), exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(t(page, "the present password typed is not right"))
    look(site, page, "password-refused")

    page.get_by_label(t(page, "Present password"), exact=True).fill(password(SECRETARY))
    page.get_by_label(t(page, "New password (at least %(count)s characters)", count=8), exact=True).fill(new)
    page.get_by_label(t(page, "The same password again"), exact=True).fill(new)
    page.get_by_role("button", name=t(page, "Set my password"), exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        t(page, "Your password was changed. Every other session of yours was signed out.")
    )
    look(site, page, "password-changed")
    page.get_by_role("link", name=t(page, "Go on"), exact=True).click()
    page.wait_for_url(re.compile(r"/work$"))

    page.get_by_role("button", name=t(page, "Sign out"), exact=True).click()
    page.wait_for_url(re.compile(r"/sign-in$"))
    page.get_by_label(t(page, "Username"), exact=True).fill(SECRETARY)
    page.get_by_label(t(page, "Password"), exact=True).fill(new)
    page.get_by_role("button", name=t(page, "Sign in"), exact=True).click()
    page.wait_for_url(re.compile(r"/work$"))


def test_a_file_named_with_quotes_and_signs_is_attached_and_downloaded_under_its_own_name(site: Site) -> None:
    # Chromium sends a quote in a file's name as %22 (the HTML standard's form encoding): recorded as sent, the file
    # was listed and saved as `%22họp%22`. On the way back Chromium writes a quote, which it never puts in a saved
    # file's name, as `_`; every other character of the name arrives as typed.
    name = 'Biên bản "họp" 100%; đợt 1 (x%20y).pdf'
    page = site.person(SECRETARY, locale="en")
    page.locator("section.queue").get_by_role("link", name=CELL_NAME).click()
    evidence = page.locator("#evidence")
    evidence.get_by_label(t(page, "Attach a file (PDF, image, office document)")).set_input_files(
        {"name": name, "mimeType": "application/pdf", "buffer": b"%PDF-1.4\ntrailer<<>>\n%%EOF\n"}
    )
    evidence.get_by_role("button", name=t(page, "Attach"), exact=True).click()
    link = evidence.get_by_role("link", name=name, exact=True)
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == name.replace('"', "_")


def test_each_roles_pages_fit_a_375_px_phone_in_hindi(site: Site) -> None:
    # Hindi's words are the longest of the three; My work's "Dossiers you acted on" overflowed by a pixel here.
    site.viewport = {"width": 375, "height": 740}
    path = site.web.dossier_path()
    for username, pages in (
        (SECRETARY, ["/work", path, f"{path}/history"]),
        (PROVINCE_REVIEWER, ["/work", "/units", "/audit"]),
        (AUDITOR, ["/work", "/dashboard", "/reports", f"{path}/history?as_of=2025-11-30"]),
    ):
        page = site.person(username, locale="hi-IN")
        for shown in pages:
            page.goto(shown)
            look(site, page, f"375-{username}{shown.split('?')[0].replace('/', '-')[:40]}")
