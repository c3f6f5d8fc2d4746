"""The four journeys of the web application over HTTP, one continuing from the other, on the demo season."""

from __future__ import annotations

import re

from tests.web.world import APPROVER, AUDITOR, REVIEWER, SECRETARY, Web, csrf, text_of


def _post(client, path: str, page_html: str, data: dict[str, str], **kwargs):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf(page_html), **data}, **kwargs)


def _version(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found
    return found.group(1)


def test_a_cell_is_submitted_returned_resubmitted_endorsed_decided_and_audited(web: Web) -> None:
    walk_the_four_journeys(web)


def walk_the_four_journeys(web: Web) -> None:
    path = web.dossier_path()

    # 1. The secretary finds the draft in My work, changes an answer, sees the suggestion, and submits.
    secretary = web.signed_in(SECRETARY)
    work = secretary.get("/work")
    assert work.status_code == 200
    assert "Chi bộ Tổ dân phố số 5" in text_of(work)
    assert path in work.text, text_of(work)
    page = secretary.get(path)
    assert page.status_code == 200
    assert "The rules suggest" in text_of(page)
    saved = _post(
        secretary, f"{path}/answers", page.text,
        {"version": _version(page.text), "c.assigned_targets.points": "45"},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200, text_of(saved)
    assert 'id="suggestion"' in saved.text
    assert "Saved." in saved.text
    page = secretary.get(path)
    assert 'value="45"' in page.text
    submitted = _post(secretary, f"{path}/act/submit", page.text, {"version": _version(page.text)})
    assert submitted.status_code == 303
    page = secretary.get(submitted.headers["location"])
    assert "The self-assessment is submitted" in text_of(page)
    # It no longer waits for the secretary, but My work still leads back to it.
    work = secretary.get("/work")
    assert "Dossiers you acted on" in text_of(work)
    assert path in work.text

    # 2. The reviewer returns it with a reason; the secretary reads the reason, changes an answer and resubmits.
    reviewer = web.signed_in(REVIEWER)
    assert path in reviewer.get("/work").text
    page = reviewer.get(path)
    returned = _post(
        reviewer, f"{path}/act/return_to_unit", page.text,
        {"version": _version(page.text), "reason": "Bổ sung biên bản họp chi bộ tháng 11"},
    )
    assert returned.status_code == 303, text_of(returned)
    page = secretary.get(path)
    assert "Bổ sung biên bản họp chi bộ tháng 11" in text_of(page)
    _post(secretary, f"{path}/answers", page.text, {"version": _version(page.text), "c.assigned_targets.points": "47"})
    page = secretary.get(path)
    assert "What changed since the last round" in text_of(page)
    assert _post(secretary, f"{path}/act/resubmit", page.text, {"version": _version(page.text)}).status_code == 303

    # 3. The reviewer endorses with a proposed classification; the approver sees the quota meter and decides.
    page = reviewer.get(path)
    endorsed = _post(reviewer, f"{path}/act/endorse", page.text, {"version": _version(page.text), "level": "good"})
    assert endorsed.status_code == 303, text_of(endorsed)
    approver = web.signed_in(APPROVER)
    page = approver.get(path)
    assert "Quota meter" in text_of(page)
    decided = _post(approver, f"{path}/act/approve", page.text, {"version": _version(page.text), "level": "good"})
    assert decided.status_code == 303, text_of(decided)
    assert "Decided" in text_of(approver.get(path))

    # 4. The auditor reads the history, with who did what and why, and the dossier as it was before the return.
    web.site.chain.check_now()
    auditor = web.signed_in(AUDITOR)
    history = auditor.get(f"{path}/history")
    assert history.status_code == 200
    shown = text_of(history)
    assert "The signed chain verifies" in shown
    assert "Bổ sung biên bản họp chi bộ tháng 11" in shown
    assert "returned the dossier to its unit" in shown
    before = auditor.get(f"{path}/history", params={"as_of": "2025-11-20"})
    assert "As it was on" in text_of(before)
    assert "Draft" in text_of(before)

    # And a decided dossier may be re-opened by the approver, on a legal basis.
    page = approver.get(path)
    reopened = _post(
        approver, f"{path}/act/reopen", page.text,
        {"version": _version(page.text), "legal_basis": "Kết luận số 12-KL/UBKT ngày 10/12/2025"},
    )
    assert reopened.status_code == 303, text_of(reopened)
    assert "Re-opened" in text_of(approver.get(path))
