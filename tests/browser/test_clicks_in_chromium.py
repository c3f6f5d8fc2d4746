"""In headless Chromium: a button pressed twice (a slow double click while the next page is on its way) does what it
says once and says it is done, never that someone else changed the dossier first."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, Site, look, t
from tests.web.world import SECRETARY, password


def _slowly(site: Site, step: str) -> None:
    """The engine's `step` takes 0.8 s, as on a loaded server: long enough for a second click to leave."""
    real = getattr(site.web.engine, step)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.8)
        return real(*args, **kwargs)

    setattr(site.web.engine, step, slow)


def _click_twice(page: Page, name: str) -> None:
    """Two clicks 0.3 s apart where the button is: the second lands on the page still shown."""
    button = page.get_by_role("button", name=t(page, name), exact=True)
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_submit_clicked_twice_slowly_submits_once_and_says_it_is_submitted(site: Site, viewport: str) -> None:
    if viewport == "phone":
        site.viewport = PHONE
    path = site.web.dossier_path()
    page = site.person(SECRETARY)
    page.goto(path)
    _slowly(site, "submit")
    _click_twice(page, "Submit self-assessment")
    expect(page.get_by_role("status").filter(
        has_text=t(page, "The self-assessment is submitted to the committee."))).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator(".facts-line .state")).to_have_text(t(page, "Submitted"))
    look(site, page, "submitted-after-two-clicks")
    events = [type(e).__name__ for e in site.web.engine.history(UUID(path.rsplit("/", 1)[-1]))]
    assert events.count("Submitted") == 1


def test_save_answers_clicked_twice_slowly_says_saved(site: Site) -> None:
    path = site.web.dossier_path()
    page = site.person(SECRETARY, javascript=False)  # the plain form: each click sends it whole
    page.goto(path)
    page.get_by_label(t(page, "Points (0 to %(max)s)", max="50")).fill("44")
    _slowly(site, "record_answers")
    _click_twice(page, "Save answers")
    expect(page.get_by_role("status").filter(has_text=t(page, "Your answers are saved."))).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    look(site, page, "saved-after-two-clicks")


def test_registering_a_person_clicked_twice_slowly_shows_the_password_made_for_them(site: Site) -> None:
    page = site.person("admin")
    page.goto("/admin/people")
    page.get_by_label(t(page, "Username"), exact=True).fill("bt-moi-2026")
    page.get_by_label(t(page, "Full name"), exact=True).fill("Nguyễn Thị Mới")
    _slowly(site, "register_person")
    # The second click used to send the form again: "already taken", in place of the password shown only once.
    _click_twice(page, "Register the person")
    made = page.get_by_role("status").filter(has_text=t(page, "Password made for this person"))
    expect(made).to_be_visible()
    expect(made.locator(".password")).not_to_be_empty()
    expect(page.get_by_role("alert")).to_have_count(0)
    look(site, page, "password-shown-after-two-clicks")


def test_the_signed_chain_head_downloads_again_from_the_same_page(site: Site) -> None:
    page = site.person("ubkt-tinh-uy")
    page.goto("/audit")
    button = page.get_by_role("button", name=t(page, "Download the signed chain head"), exact=True)
    for _ in range(2):  # a form answered with a file leaves the page as it is: each press is a download
        with page.expect_download() as download:
            button.click()
        assert download.value.suggested_filename.startswith("checkpoint-")


def test_change_password_clicked_twice_slowly_without_javascript_says_it_is_changed(site: Site) -> None:
    new = "mat-khau-moi-cua-toi-2025"
    page = site.person(SECRETARY, javascript=False)  # the plain form: each click sends it whole
    page.goto("/account/password")
    page.get_by_label(t(page, "Present password"), exact=True).fill(password(SECRETARY))
    page.get_by_label(t(page, "New password (at least %(count)s characters)", count=8), exact=True).fill(new)
    page.get_by_label(t(page, "The same password again"), exact=True).fill(new)
    _slowly(site, "change_own_password")
    # The second sending used to meet the password the first had just set: "the present password is not right".
    _click_twice(page, "Set my password")
    expect(page.get_by_role("status")).to_have_text(
        t(page, "Your password was changed. Every other session of yours was signed out.")
    )
    expect(page.get_by_role("alert")).to_have_count(0)
    look(site, page, "password-changed-after-two-clicks")
    # Still signed in, once the first sending, slower, has ended the sessions made with the old password.
    page.wait_for_timeout(1500)
    page.goto("/work")
    assert page.url.endswith("/work"), page.url
    assert site.web.site.accounts.check_password(SECRETARY, new) is not None
