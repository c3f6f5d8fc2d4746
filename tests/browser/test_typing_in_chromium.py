"""In headless Chromium: what a person types is not lost, whatever they do next."""

from __future__ import annotations

import re
import time
from uuid import UUID

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Route, expect

from domain.ids import person_id
from tests.browser.conftest import Site, look, t, tab_to
from tests.web.world import SECRETARY, password

COMMENT = "Chi bộ đã họp đủ 12 kỳ, có biên bản kèm theo"


def _comment(page: Page) -> str:
    return page.locator("textarea[name$='.comment']").first.get_attribute("name") or ""


def _slow_saves(page: Page) -> None:
    """Each autosave held 0.8 s on its way, as on a slow line: what leaves the page meanwhile must wait for it."""

    def hold(route: Route) -> None:
        try:
            if route.request.headers.get("hx-request"):
                page.wait_for_timeout(800)
            route.continue_()
        except PlaywrightError:
            pass  # the page went away while the save was held: the assertion below says whether it was lost

    page.route("**/answers", hold)


def _saved_comment(site: Site, path: str, field: str) -> str:
    criterion = field.split(".")[1]
    answer = site.web.engine.dossier(UUID(path.rsplit("/", 1)[-1])).answers.get(criterion)
    return answer.comment if answer is not None else ""


@pytest.mark.parametrize("leaving", ["sign-out", "language", "link", "save-button", "submit", "address-bar"])
def test_a_comment_typed_then_left_at_once_by_signing_out_switching_language_or_a_link_is_saved(
    site: Site, leaving: str
) -> None:
    path = site.web.dossier_path()
    page = site.person(SECRETARY)
    page.goto(path)
    _slow_saves(page)
    field = _comment(page)
    page.locator(f"textarea[name='{field}']").fill(COMMENT)
    if leaving == "sign-out":
        page.get_by_role("button", name=t(page, "Sign out"), exact=True).click()
        page.wait_for_url(re.compile(r"/sign-in$"))
    elif leaving == "language":
        page.get_by_label(t(page, "Language"), exact=True).select_option("en")
        page.get_by_role("button", name=t(page, "Change"), exact=True).click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    elif leaving == "link":
        page.get_by_role("link", name=t(page, "My work"), exact=True).first.click()
        page.wait_for_url(re.compile(r"/work$"))
    elif leaving == "address-bar":
        # Not a click the page can hold: what was typed goes with the page as it closes.
        page.goto("/work")
    elif leaving == "save-button":
        # The form's own button, sent while the autosave of the field just left is on its way: one of the two
        # used to be refused as stale (both carried the version the page was loaded with).
        page.get_by_role("button", name=t(page, "Save answers"), exact=True).click()
        expect(page.get_by_role("status").filter(has_text=t(page, "Your answers are saved."))).to_be_visible()
    else:
        page.get_by_role("button", name=t(page, "Submit self-assessment"), exact=True).click()
        expect(page.get_by_role("status").filter(
            has_text=t(page, "The self-assessment is submitted to the committee."))).to_be_visible()
    look(site, page, f"left-by-{leaving}")
    deadline = time.monotonic() + 5
    while _saved_comment(site, path, field) != COMMENT and time.monotonic() < deadline:
        time.sleep(0.05)  # the save sent as the page closed may arrive after the next page
    assert _saved_comment(site, path, field) == COMMENT


def test_a_comment_typed_after_the_session_ended_is_back_and_saved_once_signed_in_again(site: Site) -> None:
    path = site.web.dossier_path()
    page = site.person(SECRETARY)
    page.goto(path)
    site.web.site.accounts.end_sessions_of(person_id(SECRETARY))  # signed out in another tab
    field = _comment(page)
    typed = page.locator(f"textarea[name='{field}']")
    typed.fill(COMMENT)
    typed.press("Tab")  # the autosave is refused: the browser is sent to sign in
    page.wait_for_url(re.compile(r"/sign-in\?next="))
    look(site, page, "sign-in-after-the-session-ended")
    page.get_by_label(t(page, "Username"), exact=True).fill(SECRETARY)
    page.get_by_label(t(page, "Password"), exact=True).fill(password(SECRETARY))
    page.get_by_role("button", name=t(page, "Sign in"), exact=True).click()
    page.wait_for_url(f"**{path}")  # the dossier, not the form's action
    expect(page.locator(f"textarea[name='{field}']")).to_have_value(COMMENT)
    expect(page.get_by_role("status").filter(has_text=t(
        page, "What you had typed when your session ended is back in the form, and now saved."))).to_be_visible()
    expect(page.locator("#save-status")).to_have_text(t(page, "Saved."))
    look(site, page, "typed-text-back-after-signing-in")
    assert _saved_comment(site, path, field) == COMMENT


def test_a_keyboard_user_tabbing_on_to_submit_while_the_autosave_answers_keeps_the_focus_there(site: Site) -> None:
    path = site.web.dossier_path()
    page = site.person(SECRETARY)
    page.goto(path)
    _slow_saves(page)
    page.locator("#answers textarea[name$='.comment']").last.focus()
    page.keyboard.press("End")
    page.keyboard.type(" Đã bổ sung.")
    submit = f"#actions button:has-text('{t(page, 'Submit self-assessment')}')"
    tab_to(page, submit)  # on past the evidence while the save is on its way
    expect(page.locator("#save-status")).to_have_text(t(page, "Saved."))
    # The answer redrew the forms' versions, not the sections around the focus: it stays where the person is.
    expect(page.locator(submit)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(
        has_text=t(page, "The self-assessment is submitted to the committee."))).to_be_visible()
    look(site, page, "submitted-by-keyboard-after-an-autosave")


def test_a_field_being_typed_into_is_saved_when_it_is_left_not_while_the_save_before_it_answers(site: Site) -> None:
    path = site.web.dossier_path()
    page = site.person(SECRETARY)
    page.goto(path)
    _slow_saves(page)
    saves: list[str] = []
    page.on("request", lambda request: saves.append(request.url) if request.url.endswith("/answers") else None)
    comments = page.locator("#answers textarea[name$='.comment']")
    comments.nth(0).fill(COMMENT)
    comments.nth(0).press("Tab")  # the first save leaves, and is held on its way
    comments.nth(1).focus()
    page.keyboard.type("Đang gõ dở")
    expect(page.locator("#save-status")).to_have_text(t(page, "Saved."))
    page.wait_for_timeout(500)
    assert len(saves) == 1, saves  # nothing sent from under the fingers of someone still typing
    comments.nth(1).press("Tab")
    page.wait_for_timeout(1500)
    assert len(saves) == 2, saves


def test_a_field_typed_wrong_keeps_no_other_answer_from_being_saved_and_is_said_beside_it(site: Site) -> None:
    path = site.web.dossier_path()
    page = site.person(SECRETARY)
    page.goto(path)
    points = page.locator("input[name='c.key_tasks.points']")
    points.fill("900")
    points.press("Tab")
    refusal = page.locator("#error-c-key_tasks")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("900")
    refusal.scroll_into_view_if_needed()
    look(site, page, "a-wrong-field-said-beside-it")
    # Typed on while the wrong one is still there: saved all the same.
    comment = page.locator("textarea[name='c.shortcomings_remedy.comment']")
    comment.fill(COMMENT)
    comment.press("Tab")
    deadline = time.monotonic() + 10
    while _saved_comment(site, path, "c.shortcomings_remedy.comment") != COMMENT and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert _saved_comment(site, path, "c.shortcomings_remedy.comment") == COMMENT
    expect(refusal).to_be_visible()
    points.fill("9")
    points.press("Tab")
    expect(refusal).to_be_hidden()
    expect(page.locator("#save-status")).to_have_text(t(page, "Saved."))
    look(site, page, "a-wrong-field-corrected")
