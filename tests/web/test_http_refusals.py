"""Every refusal of the web application over HTTP: who may not do what, bad forms, stale pages, bad files."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import psycopg
import pytest

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Role
from tests.web.world import (
    APPROVER,
    AUDITOR,
    CELL,
    OTHER_REVIEWER,
    REVIEWER,
    SECRETARY,
    Web,
    csrf,
    password,
    text_of,
)
from workflow.store import SigningKeyError


def _submitted(web: Web) -> str:
    """The cell's 2025 dossier, submitted by its secretary: waiting for its reviewer."""
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page, version = web.page(secretary, path)
    assert web.post(secretary, f"{path}/act/submit", page, {"version": version}).status_code == 303
    return path


def test_a_signed_out_visitor_is_sent_to_sign_in_and_cannot_post(web: Web) -> None:
    client = web.client()
    page = client.get("/work")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/sign-in?next=/work")
    form = client.get("/sign-in").text
    response = web.post(client, f"{web.dossier_path()}/act/submit", form, {"version": "1"})
    assert response.status_code == 401


def test_a_wrong_password_is_refused_and_repeated_failures_are_refused_for_a_while(web: Web) -> None:
    client = web.client()
    for _ in range(5):
        page = client.get("/sign-in").text
        failed = client.post("/sign-in", data={"csrf_token": csrf(page), "username": SECRETARY, "password": "nope"})
        assert failed.status_code == 401
        assert "Wrong username or password" in text_of(failed)
    page = client.get("/sign-in").text
    right = client.post(
        "/sign-in", data={"csrf_token": csrf(page), "username": SECRETARY, "password": password(SECRETARY)}
    )
    assert right.status_code == 429
    assert "Too many failed sign-ins" in text_of(right)


def test_failed_sign_ins_slow_the_next_attempts_before_they_are_refused(web: Web) -> None:
    accounts = web.site.accounts
    keys = ("account:someone", "address:192.0.2.1")
    assert accounts.brake(*keys).delay == 0
    for _ in range(3):
        accounts.failed(*keys)
    assert accounts.brake(*keys).delay > 0
    assert accounts.brake(*keys).locked_until is None
    accounts.failed(*keys)
    accounts.failed(*keys)
    assert (accounts.brake(*keys).locked_until or 0) > time.time()


def test_a_session_cookie_is_http_only_and_same_site_and_changes_at_sign_in(web: Web) -> None:
    client = web.client()
    first = client.get("/sign-in")
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    before = client.cookies["dossierflow_session"]
    signed = client.post(
        "/sign-in", data={"csrf_token": csrf(first.text), "username": SECRETARY, "password": password(SECRETARY)}
    )
    assert signed.status_code == 303
    assert client.cookies["dossierflow_session"] != before


def test_signing_out_ends_the_session_for_good(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    old = client.cookies["dossierflow_session"]
    page = client.get("/work").text
    assert web.post(client, "/sign-out", page, {}).status_code == 303
    replay = web.client()
    replay.cookies.set("dossierflow_session", old)
    assert replay.get("/work").status_code == 303


def test_revoking_a_persons_only_role_ends_their_session(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    assert client.get("/work").status_code == 200
    person = web.engine.person(person_id(SECRETARY))
    (grant,) = person.grants.values()
    admin = Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai"))
    receipt = web.engine.revoke_role(admin, person.id, grant.grant_id, on=date(2025, 12, 1), reason="Chuyển công tác")
    assert web.site.side.wait_for(receipt.position).reached
    response = client.get("/work")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


def test_a_form_without_the_csrf_token_or_with_a_wrong_one_changes_nothing(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    _, version = web.page(client, path)
    missing = client.post(f"{path}/act/submit", data={"version": version})
    wrong = client.post(f"{path}/act/submit", data={"version": version, "csrf_token": "forged"})
    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert "did not come from this site" in text_of(wrong)
    assert web.engine.dossier(web.engine.find_dossier(f"{CELL}/2025")).state.value == "draft"


def test_a_post_from_another_origin_is_refused_even_with_the_token(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    response = web.post(
        client, f"{path}/act/submit", page, {"version": version}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    same = web.post(client, f"{path}/act/submit", page, {"version": version}, headers={"Origin": "http://testserver"})
    assert same.status_code == 303


def test_a_secretary_cannot_approve_and_is_told_why(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    response = web.post(client, f"{path}/act/approve", page, {"version": version, "level": "good"})
    assert response.status_code == 403
    assert "You may not do this" in text_of(response)
    # The engine's sentence names the roles as the pages do.
    assert "needs the Approver (standing committee) role; you act as Secretary" in text_of(response)


def test_a_reviewer_cannot_act_on_a_unit_outside_their_committee(web: Web) -> None:
    path = _submitted(web)
    outsider = web.signed_in(OTHER_REVIEWER)
    assert outsider.get(path).status_code == 403
    page = outsider.get("/work").text
    response = web.post(outsider, f"{path}/act/return_to_unit", page, {"reason": "không thuộc phạm vi"})
    assert response.status_code == 403


def test_an_auditor_may_look_but_not_act(web: Web) -> None:
    path = _submitted(web)
    auditor = web.signed_in(AUDITOR)
    page, version = web.page(auditor, path)
    assert "There is nothing for you to do on this dossier now" in text_of(auditor.get(path))
    for trigger, data in (("endorse", {"level": "good"}), ("return_to_unit", {"reason": "x"})):
        response = web.post(auditor, f"{path}/act/{trigger}", page, {"version": version, **data})
        assert response.status_code == 403
    saved = web.post(auditor, f"{path}/answers", page, {"version": version, "c.assigned_targets.points": "1"})
    assert saved.status_code == 403


def test_a_return_without_a_reason_is_refused_with_a_message_and_nothing_changes(web: Web) -> None:
    path = _submitted(web)
    reviewer = web.signed_in(REVIEWER)
    page, version = web.page(reviewer, path)
    response = web.post(reviewer, f"{path}/act/return_to_unit", page, {"version": version, "reason": "   "})
    assert response.status_code == 422
    assert "A reason is needed" in text_of(response)
    assert web.engine.dossier(web.engine.find_dossier(f"{CELL}/2025")).state.value == "submitted"


def test_a_reason_sent_as_bytes_that_are_not_utf8_is_refused_not_stored_as_replacement_characters(web: Web) -> None:
    path = _submitted(web)
    reviewer = web.signed_in(REVIEWER)
    page, version = web.page(reviewer, path)
    # A form encoded in Latin-1 ("Thiếu" cannot be; "Déjà" can): the decoder makes U+FFFD of each such byte.
    body = f"csrf_token={csrf(page)}&version={version}&reason=D%E9j%E0+vu"
    response = reviewer.post(
        f"{path}/act/return_to_unit", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 422
    assert "U+FFFD REPLACEMENT CHARACTER at character 2" in text_of(response)
    assert web.engine.dossier(web.engine.find_dossier(f"{CELL}/2025")).state.value == "submitted"


def test_acting_on_a_stale_page_answers_409_and_keeps_what_was_typed(web: Web) -> None:
    path = _submitted(web)
    reviewer = web.signed_in(REVIEWER)
    page, version = web.page(reviewer, path)
    endorsed = web.post(reviewer, f"{path}/act/endorse", page, {"version": version, "level": "good"})
    assert endorsed.status_code == 303
    stale = web.post(
        reviewer, f"{path}/act/return_to_unit", page, {"version": version, "reason": "Lý do tôi đã gõ dài dòng"}
    )
    assert stale.status_code == 409
    shown = text_of(stale)
    assert "Someone else changed this dossier first" in shown
    assert "Lý do tôi đã gõ dài dòng" in stale.text


def test_a_stale_autosave_answers_409_with_a_reload_link(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    first = web.post(client, f"{path}/answers", page, {"version": version, "c.assigned_targets.points": "41"})
    assert first.status_code == 303
    again = web.post(
        client, f"{path}/answers", page, {"version": version, "c.assigned_targets.points": "42"},
        headers={"HX-Request": "true"},
    )
    assert again.status_code == 409
    assert "Reload the dossier" in again.text


def test_an_answer_that_is_not_a_number_is_refused_and_kept_in_the_form(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    response = web.post(client, f"{path}/answers", page, {"version": version, "c.assigned_targets.points": "nhiều"})
    assert response.status_code == 422
    assert 'value="nhiều"' in response.text


def test_an_oversized_upload_is_refused_without_being_attached(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    limit = web.engine.evidence_policy.max_bytes
    big = b"%PDF-1.4\n" + b"0" * limit
    response = client.post(
        f"{path}/evidence", data={"csrf_token": csrf(page), "version": version},
        files={"file": ("bao-cao.pdf", big, "application/pdf")},
    )
    assert response.status_code == 422
    assert "The file was refused" in text_of(response)
    assert len(web.engine.dossier(web.engine.find_dossier(f"{CELL}/2025")).evidence) == 2


def test_a_file_disguised_as_a_pdf_is_refused(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    response = client.post(
        f"{path}/evidence", data={"csrf_token": csrf(page), "version": version},
        files={"file": ("bien-ban.pdf", b"<html><script>alert(1)</script></html>", "application/pdf")},
    )
    assert response.status_code == 422
    assert "The file was refused" in text_of(response)


def test_an_attached_file_is_listed_and_served_as_a_download_of_its_recorded_type(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    pdf += b"%" + b"x" * (2_345 - len(pdf) - 2) + b"\n"
    response = client.post(
        f"{path}/evidence", data={"csrf_token": csrf(page), "version": version},
        files={"file": ("Biên bản họp.pdf", pdf, "application/pdf")},
    )
    assert response.status_code == 303, text_of(response)
    page = client.get(path)
    assert "Biên bản họp.pdf" in text_of(page)
    # Its type by the name people know it by, and its size in the page's language; the exact ones on hover.
    row = next(r for r in page.text.split("<tr>") if "Biên bản họp.pdf" in r)
    assert '<span title="application/pdf">PDF</span>' in row
    assert '<span title="2,345 bytes">2.3 kB</span>' in row
    sha = next(s for s, e in web.engine.dossier(web.engine.find_dossier(f"{CELL}/2025")).evidence.items()
               if e.name == "Biên bản họp.pdf")
    download = client.get(f"{path}/evidence/{sha}")
    assert download.status_code == 200
    assert download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"


def test_an_unknown_address_a_wrong_method_and_an_unreadable_form_are_pages_in_the_visitors_language(
    web: Web,
) -> None:
    client = web.signed_in(SECRETARY)
    missing = client.get("/no-such-page")
    assert (missing.status_code, missing.headers["content-type"]) == (404, "text/html; charset=utf-8")
    assert "This page does not exist" in text_of(missing)
    vietnamese = client.get("/no-such-page", headers={"Accept-Language": "vi"})
    assert "Trang này không tồn tại" in text_of(vietnamese)
    wrong = client.delete("/work")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET")
    assert "This address does not take this kind of request" in text_of(wrong)
    path = web.dossier_path()
    page = client.get(path).text
    before = web.engine.recorder.max_notification_id()
    # A file whose name is longer than the multipart parser takes: refused before any form is read.
    unreadable = client.post(
        f"{path}/evidence", data={"csrf_token": csrf(page)}, files={"file": ("a" * 5000 + ".pdf", b"%PDF-1.4")}
    )
    assert (unreadable.status_code, unreadable.headers["content-type"]) == (400, "text/html; charset=utf-8")
    assert "The form could not be read" in text_of(unreadable)
    assert web.engine.recorder.max_notification_id() == before
    # The API keeps answering in JSON problems of its own.
    assert client.get("/api/v1/no-such-thing").headers["content-type"] == "application/json"


def test_every_page_forbids_inline_script_and_sniffing(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    for path in ("/work", web.dossier_path(), f"{web.dossier_path()}/history", "/sign-in"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text


def test_an_unknown_dossier_is_404_and_a_dossier_out_of_scope_is_403(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    assert client.get("/dossiers/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/dossiers/not-a-dossier").status_code == 404
    assert client.get(web.dossier_path("mk-nam-lu")).status_code == 403


def test_a_decision_list_over_the_quota_is_refused_with_the_figures(web: Web) -> None:
    approver = web.signed_in("tt-tinh-uy")
    root = unit_id("lao-cai")
    page = approver.get(f"/decisions/{root}/2025")
    assert page.status_code == 200, text_of(page)
    did = web.engine.find_dossier("mk-nam-lu/2025")
    version = str(web.engine.dossier(did).version)
    response = web.post(
        approver, f"/decisions/{root}/2025", page.text,
        {"dossier": str(did), f"version.{did}": version, f"level.{did}": "excellent", f"reason.{did}": "Xuất sắc"},
    )
    assert response.status_code == 422
    assert "quota" in text_of(response).lower()
    decided = web.post(
        approver, f"/decisions/{root}/2025", page.text,
        {"dossier": str(did), f"version.{did}": version, f"level.{did}": "good"},
    )
    assert decided.status_code == 303, text_of(decided)
    assert web.engine.dossier(did).state.value == "approved"


def test_only_an_approver_over_the_superior_may_open_its_decision_list(web: Web) -> None:
    reviewer = web.signed_in(REVIEWER)
    assert reviewer.get(f"/decisions/{unit_id('lao-cai')}/2025").status_code == 403
    approver = web.signed_in(APPROVER)
    assert approver.get(f"/decisions/{unit_id('lc-kim-tan')}/2025").status_code == 200


def test_a_visitor_who_leaves_in_the_middle_of_a_form_leaves_no_traceback_and_changes_nothing(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    before = web.engine.recorder.max_notification_id()
    chunks = [
        {"type": "http.request", "body": b"username=admin&pass", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/sign-in", "raw_path": b"/sign-in", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", b"1000")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    # In a thread of its own: a browser test earlier in the run may leave an event loop running in this one.
    with caplog.at_level(logging.DEBUG), ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, web.app(scope, receive, send)).result()
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 400
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
    assert web.engine.recorder.max_notification_id() == before


def test_a_person_signs_in_with_their_username_typed_in_another_case(web: Web) -> None:
    client = web.client()
    page = client.get("/sign-in").text
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf(page), "username": SECRETARY.upper(), "password": password(SECRETARY)},
    )
    assert response.status_code == 303, text_of(response)
    assert client.get("/work").status_code == 200


def test_an_attached_file_deleted_from_the_disk_is_a_missing_file_page_not_a_server_error(web: Web) -> None:
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    did = web.engine.find_dossier(f"{CELL}/2025")
    before = set(web.engine.dossier(did).evidence)
    response = client.post(
        f"{path}/evidence", data={"csrf_token": csrf(page), "version": version},
        files={"file": ("Biên bản.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
    )
    assert response.status_code == 303, text_of(response)
    (sha,) = set(web.engine.dossier(did).evidence) - before
    for stored in web.data_dir.rglob(sha):
        stored.unlink()
    download = client.get(f"{path}/evidence/{sha}")
    assert download.status_code == 404
    assert "is missing from the evidence store (deleted or moved)" in text_of(download)
    assert "Biên bản.pdf" in text_of(client.get(path))


def test_a_refused_decision_list_comes_back_with_each_dossier_ticked_or_not_as_it_was_sent(web: Web) -> None:
    # A second dossier waits for the province: the ward, endorsed by the province's organization board.
    reviewer = web.signed_in("tc-tinh-uy")
    ward = web.dossier_path("lc-kim-tan")
    page = reviewer.get(ward).text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    endorsed = web.post(reviewer, f"{ward}/act/endorse", page, {"version": version, "level": "good"})
    assert endorsed.status_code == 303, text_of(endorsed)
    approver = web.signed_in("tt-tinh-uy")
    root = unit_id("lao-cai")
    page = approver.get(f"/decisions/{root}/2025").text
    ids = re.findall(r'name="dossier" value="([^"]+)"', page)
    assert len(ids) == 2
    versions = {d: re.search(rf'name="version.{d}" value="(\d+)"', page).group(1) for d in ids}  # type: ignore[union-attr]

    def checked(html: str) -> dict[str, bool]:
        return {d: bool(c) for d, c in re.findall(r'name="dossier" value="([^"]+)" ?(checked)?', html)}

    both = web.post(approver, f"/decisions/{root}/2025", page, {
        "dossier": ids,  # type: ignore[dict-item]
        **{f"version.{d}": versions[d] for d in ids}, **{f"level.{d}": "excellent" for d in ids},
    })
    assert both.status_code in (409, 422), text_of(both)
    assert checked(both.text) == dict.fromkeys(ids, True)  # the last ticked alone used to come back ticked
    one = web.post(approver, f"/decisions/{root}/2025", page, {
        "dossier": ids[0], f"version.{ids[0]}": versions[ids[0]], f"level.{ids[0]}": "excellent",
    })
    assert one.status_code in (409, 422), text_of(one)
    assert checked(one.text) == {ids[0]: True, ids[1]: False}


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(sqlite3.OperationalError("database is locked"), id="a lock held too long"),
        pytest.param(psycopg.OperationalError("sorry, too many clients already"), id="a server out of connections"),
        pytest.param(SigningKeyError("cannot read the signing key /keys/signing-key.pem: Permission denied"),
                     id="a signing key that cannot be read"),
    ],
)
def test_a_store_that_fails_during_an_action_is_a_503_page_in_the_visitors_language_and_nothing_changes(
    web: Web, failure: Exception, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page, version = web.page(secretary, path)
    before = web.engine.recorder.max_notification_id()

    def failing_save(*aggregates: object) -> int:
        raise failure

    monkeypatch.setattr(web.engine, "_save", failing_save)
    with caplog.at_level(logging.WARNING):
        response = web.post(secretary, f"{path}/act/submit", page, {"version": version})
    assert (response.status_code, response.headers["content-type"]) == (503, "text/html; charset=utf-8")
    assert "The store is unavailable" in text_of(response)
    assert "Nothing was changed" in text_of(response)
    # The operator's log has what happened; the visitor's page does not.
    assert str(failure) in caplog.text
    assert str(failure) not in response.text
    monkeypatch.undo()
    assert web.engine.recorder.max_notification_id() == before
    assert web.page(secretary, path)[1] == version


def test_a_store_that_fails_while_a_visit_is_read_is_a_503_in_the_visitors_language(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    secretary = web.signed_in(SECRETARY)

    def failing(*args: object, **kwargs: object) -> object:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(web.site.accounts, "session", failing)
    monkeypatch.setattr(web.site.accounts, "session_of", failing)
    response = secretary.get("/work", headers={"Accept-Language": "vi"})
    assert response.status_code == 503
    assert "Traceback" not in response.text
    assert "unable to open" not in response.text
    assert response.text.splitlines()[0] == "Kho dữ liệu tạm thời không truy cập được"


def test_an_evidence_file_the_disk_cannot_take_is_answered_503_and_nothing_is_attached(
    web: Web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The evidence directory cannot be made (its parent is a file): the OS refuses the write, as a full disk would.
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setattr(web.engine.blobs, "root", blocked / "evidence")
    monkeypatch.setattr(web.engine.blobs, "tmp_dir", blocked / "evidence" / "tmp")
    path = web.dossier_path()
    client = web.signed_in(SECRETARY)
    page, version = web.page(client, path)
    did = web.engine.find_dossier(f"{CELL}/2025")
    before = web.engine.dossier(did).version
    response = client.post(
        f"{path}/evidence", data={"csrf_token": csrf(page), "version": version},
        files={"file": ("bao-cao.txt", b"bien ban hop chi bo", "text/plain")},
    )
    assert response.status_code == 503
    assert "Nothing was changed" in text_of(response)
    assert web.engine.dossier(did).version == before
