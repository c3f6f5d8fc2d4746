"""In headless Chromium: a button pressed twice (a slow double click while the next page is on its way) does what it
says once and says it is done, never that someone else changed the dossier first."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, Site, look, t
from tests.web.world import SECRETARY


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
