"""In headless Chromium: an administrator moves a unit with an effective date and sees the hierarchy change on that
date; registers a person on a phone and hands over the password made for them; the workflow diagram and its table."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from domain.ids import person_id
from tests.browser.conftest import PHONE, Site, look, t, tab_to
from web.i18n import Formats

ADMIN = "admin"
CELL = "lc-pom-han-cb2"
CELL_NAME = "Chi bộ Tổ dân phố số 9 (phường Pom Hán)"
OLD_WARD = "lc-pom-han"
WARD = "lc-kim-tan"
WARD_NAME = "Đảng bộ phường Kim Tân"
REASON = "Nghị quyết số 12-NQ/TU về sáp nhập tổ dân phố"


def _parent_in_tree(page: Page, code: str) -> str:
    """The code of the unit the tree on the page shows `code` under (by its indentation)."""
    found: str = page.evaluate(
        """code => {
            const rows = Array.from(document.querySelectorAll('#tree .tree li')).map(li => [
                Number(li.className.replace('depth-', '')),
                decodeURIComponent(li.querySelector('a').getAttribute('href').split('/').pop()),
            ]);
            const at = rows.findIndex(([, c]) => c === code);
            if (at < 0) return '';
            for (let i = at - 1; i >= 0; i--) if (rows[i][0] < rows[at][0]) return rows[i][1];
            return '';
        }""",
        code,
    )
    return found


def _show_units_on(page: Page, day: str) -> None:
    page.get_by_label(t(page, "The units as they stood on")).fill(day)
    page.get_by_role("button", name=t(page, "Show"), exact=True).click()
    shown = Formats(page.locator("html").get_attribute("lang") or "vi").date(date.fromisoformat(day))
    expect(page.locator("#tree h2")).to_have_text(t(page, "The units on %(day)s", day=shown))


def test_an_administrator_moves_a_unit_from_a_date_and_the_hierarchy_changes_on_that_date(site: Site) -> None:
    page = site.person(ADMIN, locale="vi-VN")
    tab_to(page, "header.top nav a[href='/admin']")  # the link a keyboard reaches
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin/units$"))
    look(site, page, "admin-units-today")
    assert _parent_in_tree(page, CELL) == OLD_WARD

    page.get_by_role("link", name=CELL_NAME, exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/units/{CELL}$"))
    page.get_by_label(t(page, "New committee above it")).select_option(value=WARD)
    page.locator("#move-from").fill("2026-01-01")
    page.get_by_label(t(page, "Reason (the decision that moves it)")).fill(REASON)
    page.get_by_role("button", name=t(page, "Move the unit"), exact=True).click()
    expect(page.get_by_role("status")).to_have_text(t(page, "The move is recorded."))
    versions = page.locator("table").first
    expect(versions).to_contain_text(WARD_NAME)
    expect(page.locator("table").last).to_contain_text(REASON)  # its recent changes, read from the audit trail
    look(site, page, "admin-unit-moved")

    # The administration's own section of units (the main navigation also has a Units page, the tree for reading).
    admin_sections = page.get_by_role("navigation", name=t(page, "Administration"))
    admin_sections.get_by_role("link", name=t(page, "Units"), exact=True).click()
    _show_units_on(page, "2025-12-31")
    assert _parent_in_tree(page, CELL) == OLD_WARD
    assert "as_of=2025-12-31" in page.url  # htmx swapped the tree and kept the address shareable
    look(site, page, "admin-units-2025-12-31")
    _show_units_on(page, "2026-01-01")
    assert _parent_in_tree(page, CELL) == WARD
    look(site, page, "admin-units-2026-01-01")

    # The history page's hierarchy as of a date (the units tree page of issue 8 is built on another branch).
    dossier = site.web.engine.find_dossier(f"{CELL}/2024")
    page.goto(f"/dossiers/{dossier}/history?as_of=2026-01-01")
    expect(page.locator("main")).to_contain_text(WARD_NAME)
    look(site, page, "history-as-of-2026-01-01")
    page.goto(f"/dossiers/{dossier}/history?as_of=2025-12-31")
    expect(page.locator("main")).not_to_contain_text(WARD_NAME)


def test_a_refused_move_keeps_what_was_typed(site: Site) -> None:
    page = site.person(ADMIN, locale="en-US")
    page.goto(f"/admin/units/{CELL}")
    page.get_by_label(t(page, "New committee above it")).select_option(value=WARD)
    page.locator("#move-from").fill("1999-01-01")
    page.get_by_label(t(page, "Reason (the decision that moves it)")).fill(REASON)
    page.get_by_role("button", name=t(page, "Move the unit"), exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(t(page, "Something in the form is not valid"))
    expect(alert).to_contain_text("cannot take effect on Jan 1, 1999")  # the date in the reader's format
    expect(page.get_by_label(t(page, "Reason (the decision that moves it)"))).to_have_value(REASON)
    expect(page.locator("#move-from")).to_have_value("1999-01-01")
    look(site, page, "admin-move-refused")
    for path in ("/admin/people", "/admin/people/" + str(person_id("tt-lc-kim-tan")), "/admin/periods", "/admin/rules"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        look(site, page, "desktop" + path.replace("/", "-")[:40])


def test_an_administrator_on_a_phone_registers_a_person_and_sees_the_password_made_once(site: Site) -> None:
    site.viewport = PHONE
    page = site.person(ADMIN, locale="vi-VN")
    page.goto("/admin/people")
    look(site, page, "admin-people-phone")
    page.get_by_label(t(page, "Username"), exact=True).fill("bt-moi")
    page.get_by_label(t(page, "Full name"), exact=True).fill("Hoàng Thị Mới")
    page.get_by_role("button", name=t(page, "Register the person"), exact=True).click()
    made = page.locator(".password")
    expect(made).to_have_text(re.compile(r"^\S{12}$"))
    look(site, page, "admin-person-registered-phone")
    page.goto("/admin/people")
    # Typed without diacritics, the list narrows as one types (htmx), to the name written with them.
    page.get_by_label(t(page, "Search by name or username (with or without diacritics)")).fill("hoang thi moi")
    expect(page.locator("#people tbody tr")).to_have_count(1)
    expect(page.locator("#people")).to_contain_text("Hoàng Thị Mới")
    look(site, page, "admin-people-searched-phone")
    for path in ("/admin/units", f"/admin/units/{WARD}", "/admin/periods", "/admin/rules"):
        page.goto(path)
        look(site, page, "phone" + path.replace("/", "-"))


def test_the_workflow_diagram_and_its_table_are_drawn_in_the_persons_language(site: Site) -> None:
    page = site.person("bt-lc-kim-tan-cb1", locale="vi-VN")
    page.get_by_role("link", name=t(page, "Workflow"), exact=True).click()
    diagram = page.get_by_role("img", name=t(page, "The dossier workflow, version %(version)s", version="1"))
    expect(diagram).to_be_visible()
    expect(diagram).to_contain_text(t(page, "Draft"))
    expect(page.locator("table.transitions")).to_contain_text(t(page, "never by whoever submitted the dossier"))
    look(site, page, "workflow-vi")
    site.viewport = PHONE
    phone = site.person("bt-lc-kim-tan-cb1", locale="en-US")
    phone.goto("/workflow")
    look(site, phone, "workflow-en-phone")


def test_an_administrator_delegates_a_role_from_its_row_and_ends_the_delegation_early(site: Site) -> None:
    page = site.person(ADMIN, locale="vi-VN")
    page.goto("/admin/people/" + str(person_id("tt-lc-kim-tan")))
    page.locator("summary", has_text=t(page, "Delegate")).click()
    page.get_by_label(t(page, "Deputy (username)")).fill("tc-lc-kim-tan")
    page.get_by_label(t(page, "Valid until (not included)")).fill("2026-01-31")
    page.get_by_label(t(page, "Legal basis (the decision that authorizes it)")).fill("Quyết định số 15-QĐ/ĐU")
    look(site, page, "admin-delegate-open")
    page.get_by_role("button", name=t(page, "Delegate the role"), exact=True).click()
    expect(page.get_by_role("status")).to_have_text(t(page, "The delegation is recorded."))
    delegations = page.locator("table.delegations")
    expect(delegations).to_contain_text("Quyết định số 15-QĐ/ĐU")
    delegations.locator("summary", has_text=t(page, "End early")).click()
    delegations.get_by_label(t(page, "Reason"), exact=True).fill("Đồng chí đã trở lại công tác")
    delegations.get_by_role("button", name=t(page, "End the delegation"), exact=True).click()
    expect(page.get_by_role("status")).to_have_text(t(page, "The delegation is ended."))
    expect(page.locator("table.delegations")).to_contain_text(
        t(page, "ended from %(day)s", day=Formats("vi").date(date(2025, 12, 1)))
    )
    look(site, page, "admin-delegation-ended")


def test_an_administrator_moves_a_deadline_and_renames_a_unit_each_with_a_reason(site: Site) -> None:
    page = site.person(ADMIN, locale="vi-VN")
    page.goto("/admin/periods")
    page.locator("summary", has_text=t(page, "Change the %(year)s deadlines", year="2025")).click()
    page.locator("#deadline-2025-self_assessment").fill("2025-11-28")
    page.get_by_label(t(page, "Reason (legal basis)")).fill("Công văn số 45-CV/TU rút ngắn hạn tự đánh giá")
    look(site, page, "admin-deadlines-open")
    page.get_by_role("button", name=t(page, "Record the new deadlines"), exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        t(page, "The new deadlines are recorded; the waiting dossiers follow them.")
    )
    expect(page.locator("table.periods")).to_contain_text(Formats("vi").date(date(2025, 11, 28)))
    look(site, page, "admin-deadlines-changed")

    page.goto(f"/admin/units/{CELL}")
    page.get_by_label(t(page, "New name")).fill("Chi bộ Tổ dân phố số 9 mới")
    page.locator("#rename-from").fill("2026-01-01")
    page.get_by_label(t(page, "Reason (the decision that renames it)")).fill("Quyết định số 21-QĐ/ĐU đổi tên")
    page.get_by_role("button", name=t(page, "Rename the unit"), exact=True).click()
    expect(page.get_by_role("status")).to_have_text(t(page, "The new name is recorded."))
    expect(page.locator("table").last).to_contain_text("Quyết định số 21-QĐ/ĐU đổi tên")
    look(site, page, "admin-unit-renamed-with-reason")

    # The cell's secretary sees the earlier deadline passed in My work.
    secretary = site.person("bt-lc-kim-tan-cb1", locale="vi-VN")
    secretary.goto("/work")
    expect(secretary.locator("main")).to_contain_text(Formats("vi").date(date(2025, 11, 28)))
    expect(secretary.locator("strong.overdue").first).to_be_visible()
    look(site, secretary, "work-after-deadline-moved")


def test_a_person_given_a_one_time_password_chooses_their_own_at_the_first_sign_in(site: Site) -> None:
    secretary = "bt-lc-kim-tan-cb1"
    admin = site.person(ADMIN, locale="vi-VN")
    admin.goto("/admin/people/" + str(person_id(secretary)))
    admin.get_by_role("button", name=t(admin, "Set the password"), exact=True).click()
    one_time = admin.locator(".password").inner_text().strip()
    assert re.fullmatch(r"\S{12}", one_time)

    page = site.person(locale="vi-VN")
    page.goto("/sign-in")
    page.get_by_label(t(page, "Username")).fill(secretary)
    page.get_by_label(t(page, "Password")).fill(one_time)
    page.get_by_role("button", name=t(page, "Sign in")).click()
    page.wait_for_url(re.compile(r"/account/password\?next=/work$"))
    look(site, page, "first-sign-in-choose-password")
    page.goto("/work")  # any page leads back to the form
    page.wait_for_url(re.compile(r"/account/password\?next=/work$"))
    page.get_by_label(t(page, "New password (at least %(count)s characters, not the one-time one)", count=8)).fill(
        one_time
    )
    page.get_by_label(t(page, "The same password again")).fill(one_time)
    page.get_by_role("button", name=t(page, "Set my password"), exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(
        t(page, "choose a password of your own, not the one-time one you were given")
    )
    look(site, page, "first-sign-in-refused")
    page.get_by_label(t(page, "New password (at least %(count)s characters, not the one-time one)", count=8)).fill(
        "mat-khau-cua-rieng-toi"
    )
    page.get_by_label(t(page, "The same password again")).fill("mat-khau-cua-rieng-toi")
    page.get_by_role("button", name=t(page, "Set my password"), exact=True).click()
    page.wait_for_url(re.compile(r"/work$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(t(page, "My work"))
    look(site, page, "first-sign-in-done")

    admin.goto("/admin/people/" + str(person_id(secretary)))
    expect(admin.locator("table").last).to_contain_text(t(admin, "Chose their own password"))
    look(site, admin, "admin-person-password-changes")
