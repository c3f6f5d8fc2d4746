"""The four journeys in headless Chromium, one continuing from the other, on the demo season, as people click.

The secretary of a pilot cell fills in and submits the 2025 self-assessment; the ward's organization board returns it
with a reason; the secretary reads the reason, changes an answer, sees what changed and resubmits; the board endorses;
the standing committee sees its quota meter and decides; the provincial inspection committee reads the history, the
chain badge and the dossier as it was before the return. The simulated clock moves a day between the steps, so the
as-of view has a day on which the dossier was submitted and not yet returned.

Every page is photographed (desktop and phone) into the artifacts directory and checked for unlabelled fields and,
on the phone, for a page wider than the screen.
"""

from __future__ import annotations

import re
from datetime import date
from uuid import UUID

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from domain.decisions import QuotaFigures
from domain.ids import person_id
from tests.browser.conftest import DESKTOP, PHONE, Site, look, t, t_pattern, tab_to
from tests.web.world import APPROVER, AUDITOR, REVIEWER, SECRETARY
from web import labels
from web.i18n import Formats

CELL_NAME = "Chi bộ Tổ dân phố số 5 (phường Kim Tân)"
REASON = "Bổ sung biên bản họp chi bộ tháng 11"
# The smallest file the engine takes for a PDF: the magic number and a trailer.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PDF_NAME = "Biên bản họp chi bộ tháng 11.pdf"
TARGETS_COMMENT = "Hoàn thành các chỉ tiêu kinh tế – xã hội năm 2025 được giao"  # the demo's comment on the targets


def _locale(page: Page) -> str:
    return page.locator("html").get_attribute("lang") or "vi"


def _points_field(page: Page, most: int) -> str:
    return t(page, "Points (0 to %(max)s)", max=Formats(_locale(page)).number(most))


def _done(page: Page, message: str) -> None:
    expect(page.get_by_role("status").filter(has_text=t(page, message))).to_be_visible()


def _state(page: Page, state: str) -> None:
    expect(page.locator(".facts-line .state")).to_have_text(t(page, state))


def _meter(page: Page, figures: QuotaFigures) -> str:
    """A quota meter's line as the page should show the engine's figures."""
    label = labels.group_label(figures.group)
    text = t(
        page, "Group %(group)s: %(excellent)s excellent among %(base)s good or better",
        group=t(page, label) if label else figures.group or "—", excellent=figures.excellent,
        base=figures.good_or_better,
    )
    if figures.cap is not None:
        text += "; " + t(page, "at most %(allowed)s allowed", allowed=figures.cap)
    return text


def _waiting(page: Page, unit_name: str) -> Locator:
    """The row of My work's lists of dossiers waiting for this person (not of those they acted on) naming the unit."""
    return page.locator("section.queue").get_by_role("row").filter(has=page.get_by_role("link", name=unit_name))


def _open_from_my_work(page: Page, unit_name: str) -> None:
    page.get_by_role("link", name=t(page, "My work"), exact=True).first.click()
    _waiting(page, unit_name).get_by_role("link", name=unit_name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(unit_name)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_cell_is_submitted_returned_resubmitted_endorsed_decided_and_audited_in_a_browser(
    site: Site, viewport: ViewportSize
) -> None:
    site.viewport = viewport
    web = site.web
    path = web.dossier_path()
    secretary = site.person(SECRETARY)

    # 1. The secretary: My work lists the 2025 draft with its deadline; the dossier opens from there.
    expect(secretary.get_by_role("heading", level=1)).to_have_text(t(secretary, "My work"))
    row = _waiting(secretary, CELL_NAME)
    expect(row).to_contain_text("2025")
    expect(row).to_contain_text(t(secretary, "Draft"))
    expect(row).to_contain_text(Formats(_locale(secretary)).date(date(2025, 12, 15)))
    look(site, secretary, "secretary-my-work")
    row.get_by_role("link", name=CELL_NAME).click()
    secretary.wait_for_url(f"**{path}")
    _state(secretary, "Draft")
    suggestion = secretary.locator("#suggestion")
    expect(suggestion).to_contain_text(t(secretary, "%(points)s points", points="80"))
    look(site, secretary, "secretary-dossier-draft")

    # An answer changed: htmx saves it and redraws the rules' suggestion in place, without loading the page again.
    secretary.evaluate("window.stillTheSamePage = true")
    targets = secretary.get_by_label(_points_field(secretary, 50))
    expect(targets).to_have_value("40")  # the demo's 40.0, as a number is written in Vietnamese
    targets.fill("45")
    targets.press("Tab")
    expect(secretary.locator("#save-status")).to_have_text(t(secretary, "Saved."))
    expect(suggestion).to_contain_text(t(secretary, "%(points)s points", points="85"))
    assert secretary.evaluate("window.stillTheSamePage") is True, "the suggestion came with a whole new page"
    suggestion.get_by_text(t(secretary, "Why")).click()
    expect(suggestion.locator(".explanation li").first).to_be_visible()
    look(site, secretary, "secretary-suggestion-updated")

    # An evidence file: shown with its name, type and size once attached.
    evidence = secretary.locator("#evidence")
    evidence.get_by_label(t(secretary, "Attach a file (PDF, image, office document)")).set_input_files(
        {"name": PDF_NAME, "mimeType": "application/pdf", "buffer": PDF}
    )
    evidence.get_by_role("button", name=t(secretary, "Attach"), exact=True).click()
    _done(secretary, "The file is attached.")
    attached = evidence.get_by_role("row").filter(has=secretary.get_by_role("link", name=PDF_NAME))
    expect(attached).to_contain_text("PDF")
    expect(attached).to_contain_text(Formats(_locale(secretary)).file_size(len(PDF)))
    look(site, secretary, "secretary-evidence-attached")
    with secretary.expect_download() as download:
        attached.get_by_role("link", name=PDF_NAME).click()
    assert download.value.suggested_filename == PDF_NAME

    secretary.get_by_role("button", name=t(secretary, "Submit self-assessment"), exact=True).click()
    _done(secretary, "The self-assessment is submitted to the committee.")
    _state(secretary, "Submitted")
    expect(secretary.get_by_role("button", name=t(secretary, "Save answers"), exact=True)).to_have_count(0)
    look(site, secretary, "secretary-submitted")

    # 2. The next day, the organization board returns it. The return dialog is driven by the keyboard alone; an
    # empty reason is stopped by the browser, a blank one by the server, each with a message.
    web.clock.advance(days=1)
    reviewer = site.person(REVIEWER)
    expect(_waiting(reviewer, CELL_NAME)).to_contain_text(t(reviewer, "Submitted"))
    look(site, reviewer, "reviewer-my-work")
    _open_from_my_work(reviewer, CELL_NAME)
    _state(reviewer, "Submitted")
    expect(reviewer.get_by_label(_points_field(reviewer, 50))).to_have_value("45")
    expect(reviewer.get_by_label(_points_field(reviewer, 50))).to_be_disabled()
    expect(reviewer.locator("#evidence")).to_contain_text(PDF_NAME)
    expect(reviewer.locator("#suggestion")).to_contain_text(t(reviewer, "%(points)s points", points="85"))
    look(site, reviewer, "reviewer-dossier-submitted")

    return_label = t(reviewer, "Return to the unit")
    tab_to(reviewer, f"summary:has-text('{return_label}')")
    reviewer.keyboard.press("Enter")
    reason = reviewer.get_by_role("textbox", name=t(reviewer, "Reason"), exact=True)
    expect(reason).to_be_visible()
    tab_to(reviewer, "textarea[name=reason]:visible")
    tab_to(reviewer, f"button:visible:has-text('{return_label}')")
    reviewer.evaluate("window.stillTheSamePage = true")
    reviewer.keyboard.press("Enter")
    # The browser refuses to send the form: it puts the focus back on the empty reason and says why.
    expect(reason).to_be_focused()
    assert reason.evaluate("field => field.validationMessage")
    assert reviewer.evaluate("window.stillTheSamePage") is True, "an empty reason was sent"
    reason.fill("   ")
    reason.press("Tab")
    reviewer.keyboard.press("Enter")
    refusal = reviewer.get_by_role("alert")
    expect(refusal).to_contain_text(t(reviewer, "A reason is needed"))
    # Where the reviewer is: in the dialog they sent (on a phone the top of the page is screens above it).
    expect(refusal).to_be_in_viewport()
    look(site, reviewer, "reviewer-blank-reason-refused")
    reason = reviewer.get_by_role("textbox", name=t(reviewer, "Reason"), exact=True)
    expect(reason).to_be_visible()  # the redrawn page has the dialog open again
    reason.fill(REASON)
    reason.press("Tab")
    reviewer.keyboard.press("Enter")
    _done(reviewer, "The dossier is returned to the unit with your reason.")
    _state(reviewer, "Returned to the unit")
    look(site, reviewer, "reviewer-returned")

    # The secretary reads the reason, changes an answer, sees what changed since the round before, and resubmits.
    web.clock.advance(days=1)
    _open_from_my_work(secretary, CELL_NAME)
    _state(secretary, "Returned to the unit")
    expect(secretary.get_by_role("note")).to_contain_text(REASON)
    look(site, secretary, "secretary-sees-the-reason")
    targets = secretary.get_by_label(_points_field(secretary, 50))
    secretary.evaluate("window.stillTheSamePage = true")
    targets.fill("47")
    targets.press("Tab")
    expect(secretary.locator("#save-status")).to_have_text(t(secretary, "Saved."))
    expect(suggestion).to_contain_text(t(secretary, "%(points)s points", points="87"))
    # The autosave redraws what changed since the last round, in place, as it redraws the suggestion.
    changes = secretary.locator("section.changes")
    expect(changes.get_by_role("heading")).to_have_text(t(secretary, "What changed since the last round"))
    expect(changes.get_by_role("listitem")).to_have_count(1)
    expect(changes.get_by_role("listitem")).to_contain_text(re.compile(r"\b45\b[^→]*→\s*47\b"))
    assert secretary.evaluate("window.stillTheSamePage") is True, "the page was loaded again"
    look(site, secretary, "secretary-what-changed")
    secretary.get_by_role("button", name=t(secretary, "Resubmit"), exact=True).click()
    _done(secretary, "The self-assessment is submitted again.")
    _state(secretary, "Submitted")
    look(site, secretary, "secretary-resubmitted")

    # 3. The board endorses with a proposed classification; the standing committee sees the quota meter and decides.
    web.clock.advance(days=1)
    _open_from_my_work(reviewer, CELL_NAME)
    reviewer.locator("summary", has_text=t(reviewer, "Endorse with a proposed classification")).click()
    reviewer.get_by_label(t(reviewer, "Classification"), exact=True).select_option("good")
    reviewer.get_by_label(t(reviewer, "Note for the approver")).fill("Chi bộ đã bổ sung đủ hồ sơ.")
    look(site, reviewer, "reviewer-endorse-dialog")
    reviewer.get_by_role("button", name=t(reviewer, "Endorse with a proposed classification"), exact=True).click()
    _done(reviewer, "The dossier is endorsed and goes to the approver.")
    _state(reviewer, "Endorsed")
    look(site, reviewer, "reviewer-endorsed")

    web.clock.advance(days=1)
    approver = site.person(APPROVER)
    cell = web.engine.unit(web.engine.dossier(UUID(path.rsplit("/", 1)[1])).unit_id)
    assert cell.current.parent_id is not None
    meter = _meter(approver, web.engine.quota(cell.current.parent_id, 2025, cell.group))
    expect(approver.locator(".meter")).to_have_text(meter)
    look(site, approver, "approver-my-work")
    approver.get_by_role("link", name=re.compile(re.escape(t(approver, "Decision list %(year)s", year=2025)))).click()
    expect(approver.get_by_role("row").filter(has_text=CELL_NAME)).to_be_visible()
    look(site, approver, "approver-decision-list")
    _open_from_my_work(approver, CELL_NAME)
    quota = approver.locator("section.quota")
    expect(quota.get_by_role("heading")).to_have_text(t(approver, "Quota meter"))
    expect(quota.locator("p")).to_have_text(meter)
    expect(approver.locator(".proposal")).to_contain_text(t(approver, "Good (completed tasks well)"))
    approver.locator("summary", has_text=t(approver, "Decide the classification")).click()
    expect(approver.get_by_label(t(approver, "Classification"), exact=True)).to_have_value("good")
    look(site, approver, "approver-decide-dialog")
    approver.get_by_role("button", name=t(approver, "Decide the classification"), exact=True).click()
    _done(approver, "The classification is decided.")
    _state(approver, "Decided")
    expect(approver.locator(".decision")).to_contain_text(t(approver, "Good (completed tasks well)"))
    look(site, approver, "approver-decided")

    # 4. The inspection committee reads the history: who, as what, when, why; the chain badge; the dossier as it
    # stood on the day it was submitted (before the return) and the day before (a draft).
    verdict = web.site.chain.check_now()
    assert verdict.ok, verdict
    auditor = site.person(AUDITOR)
    look(site, auditor, "auditor-my-work")
    auditor.goto(path)  # nothing waits for an auditor, and no page lists dossiers for them yet: they come by link
    _state(auditor, "Decided")
    expect(auditor.get_by_role("button", name=t(auditor, "Save answers"), exact=True)).to_have_count(0)
    nothing = t(auditor, "There is nothing for you to do on this dossier now.")
    expect(auditor.locator("#actions")).to_contain_text(nothing)
    auditor.get_by_role("link", name=t(auditor, "History and audit trail")).click()
    badge = auditor.locator("p.chain.ok")
    expect(badge).to_have_text(
        t_pattern(auditor, "The signed chain verifies: every event up to #%(position)s is intact (checked %(when)s).")
    )
    expect(badge).to_contain_text(f"#{Formats(_locale(auditor)).number(verdict.position)} ")
    returned = auditor.get_by_role("row").filter(has_text=t(auditor, "returned the dossier to its unit"))
    expect(returned).to_have_count(1)
    expect(returned).to_contain_text(web.engine.person(person_id(REVIEWER)).full_name)
    expect(returned).to_contain_text(t(auditor, "Reviewer (organization board)"))
    expect(returned).to_contain_text(REASON)
    expect(returned).to_contain_text(Formats(_locale(auditor)).date(date(2025, 12, 2)))
    expect(returned.locator("code.hash")).to_have_text(re.compile(r"^[0-9a-f]{12}$"))
    look(site, auditor, "auditor-history")

    auditor.get_by_label(t(auditor, "Show the dossier as it was on")).fill("2025-12-01")
    auditor.get_by_role("button", name=t(auditor, "Show"), exact=True).click()
    then = auditor.locator("section.as-of-view")
    expect(then.get_by_role("heading", level=2)).to_contain_text(Formats(_locale(auditor)).date(date(2025, 12, 1)))
    expect(then.locator(".state")).to_have_text(t(auditor, "Submitted"))
    expect(then).to_contain_text(t(auditor, "Round %(round)s", round=1))
    expect(then).not_to_contain_text(REASON)
    expect(then.get_by_role("listitem").filter(has_text=TARGETS_COMMENT)).to_contain_text(re.compile(r"\b45\b"))
    expect(then.get_by_role("link", name=PDF_NAME)).to_be_visible()
    look(site, auditor, "auditor-as-of-before-the-return")

    auditor.get_by_label(t(auditor, "Show the dossier as it was on")).fill("2025-11-30")
    auditor.get_by_role("button", name=t(auditor, "Show"), exact=True).click()
    expect(then.locator(".state")).to_have_text(t(auditor, "Draft"))
    expect(then.get_by_role("listitem").filter(has_text=TARGETS_COMMENT)).to_contain_text(re.compile(r"\b40(\.0)?\b"))
    expect(then.get_by_role("link", name=PDF_NAME)).to_have_count(0)
    look(site, auditor, "auditor-as-of-the-draft")
