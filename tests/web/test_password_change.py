"""A person signed in may change their own password at any time: they type the present one first (under the sign-in
brake), then the new one twice; every other session of theirs ends; the audit trail records the change, never the
password."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from domain.ids import person_id
from projections.models import audit as audit_model
from tests.web.world import SECRETARY, Web, csrf, password, text_of

NEW = "mat-khau-moi-cua-toi-2025"


def _change(web: Web, client: TestClient, present: str, new: str, again: str | None = None) -> tuple[int, str, str]:
    page = client.get("/account/password")
    assert page.status_code == 200, text_of(page)
    response = web.post(
        client, "/account/password", page.text,
        {"present_password": present, "new_password": new, "repeat_password": new if again is None else again},
    )
    return response.status_code, response.headers.get("location", ""), text_of(response)


def _events(web: Web) -> int:
    return web.engine.recorder.max_notification_id() or 0


def test_every_page_offers_a_signed_in_person_to_change_their_password(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    work = client.get("/work")
    assert 'href="/account/password"' in work.text
    form = client.get("/account/password")
    assert form.status_code == 200
    assert 'name="present_password"' in form.text
    assert "one-time" not in text_of(form)


def test_a_person_changes_their_password_and_their_other_sessions_end(web: Web) -> None:
    here, elsewhere = web.signed_in(SECRETARY), web.signed_in(SECRETARY)
    before = _events(web)
    status, location, _ = _change(web, here, password(SECRETARY), NEW)
    assert (status, location) == (303, "/account/password?done=changed&next=/work")
    done = here.get(location)
    assert "Your password was changed" in text_of(done)
    assert here.get("/work").status_code == 200  # this browser stays signed in, under a new session id
    assert elsewhere.get("/work").status_code == 303  # the other one is signed out
    assert web.site.accounts.check_password(SECRETARY, NEW) == person_id(SECRETARY)
    assert web.site.accounts.check_password(SECRETARY, password(SECRETARY)) is None
    assert _events(web) == before + 1
    (changed,) = audit_model.audit_trail(web.site.side.store, action="Person.PasswordChanged").rows
    assert changed.person_id == changed.subject_person_id == person_id(SECRETARY)


def test_a_wrong_present_password_or_a_bad_new_one_changes_nothing(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    before = _events(web)
    for present, new, again, refusal in [
        ("not-my-password", NEW, None, "the present password typed is not right"),
        (password(SECRETARY), "ngan", None, "a password needs at least 8 characters"),
        (password(SECRETARY), NEW, NEW + "!", "the two passwords differ"),
        (password(SECRETARY), password(SECRETARY), None, "the new password is the present one"),
    ]:
        status, _, text = _change(web, client, present, new, again)
        assert status == 422, text
        assert refusal in text
    assert _events(web) == before
    assert web.site.accounts.check_password(SECRETARY, password(SECRETARY)) == person_id(SECRETARY)
    assert client.get("/work").status_code == 200


def test_guessing_the_present_password_meets_the_sign_in_brake(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    statuses = [_change(web, client, f"guess-{n}", NEW)[0] for n in range(6)]
    assert statuses[:5] == [422] * 5
    assert statuses[5] == 429
    # Locked out like a sign-in: even the right password is refused until the lock ends.
    status, _, text = _change(web, client, password(SECRETARY), NEW)
    assert status == 429, text
    assert web.site.accounts.check_password(SECRETARY, password(SECRETARY)) == person_id(SECRETARY)


def test_signed_out_nobody_changes_a_password(web: Web) -> None:
    client = web.client()
    page = client.get("/sign-in")
    posted = web.post(
        client, "/account/password", page.text,
        {"present_password": password(SECRETARY), "new_password": NEW, "repeat_password": NEW},
    )
    assert posted.status_code == 401
    assert web.site.accounts.check_password(SECRETARY, NEW) is None


def _form(page: str, present: str, new: str) -> dict[str, str]:
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version, "the form carries the person's version as it was drawn"
    return {"present_password": present, "new_password": new, "repeat_password": new, "version": version.group(1)}


def test_a_change_of_password_sent_twice_is_answered_as_done_the_second_time(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A double click without JavaScript: the browser sends the form twice and shows the answer to the second, which
    # the server meets while it is still answering the first (the session both were sent under has not ended yet).
    client, elsewhere = web.signed_in(SECRETARY), web.signed_in(SECRETARY)
    page = client.get("/account/password").text
    form = _form(page, password(SECRETARY), NEW)
    sent_under = dict(client.cookies)
    with monkeypatch.context() as first_still_answering:
        first_still_answering.setattr(web.site.accounts, "end_sessions_of", lambda person, **_: 0)
        assert web.post(client, "/account/password", page, form).status_code == 303
    client.cookies.clear()
    client.cookies.update(sent_under)
    before = _events(web)
    second = web.post(client, "/account/password", page, form)
    assert (second.status_code, second.headers.get("location")) == (303, "/account/password?done=changed&next=/work")
    assert "Your password was changed" in text_of(client.get(second.headers["location"]))
    assert client.get("/work").status_code == 200
    assert elsewhere.get("/work").status_code == 303
    assert _events(web) == before  # recorded once
    assert web.site.accounts.check_password(SECRETARY, NEW) == person_id(SECRETARY)


def test_an_old_change_of_password_form_sent_again_with_another_new_password_is_refused(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    page = client.get("/account/password").text
    assert web.post(client, "/account/password", page, _form(page, password(SECRETARY), NEW)).status_code == 303
    again = client.get("/account/password").text
    # The present password of a form drawn before the change is no longer right, and the new one is not the one set.
    refused = web.post(client, "/account/password", again,
                       {**_form(page, password(SECRETARY), NEW + "-khac"), "csrf_token": csrf(again)})
    assert refused.status_code == 422
    assert "the present password typed is not right" in text_of(refused)
    assert web.site.accounts.check_password(SECRETARY, NEW) == person_id(SECRETARY)


def test_a_change_of_password_sent_again_after_its_first_sending_ended_the_session_is_answered_as_done(
    web: Web,
) -> None:
    # The double click again, the second sending met once the first is answered: the session both were sent under
    # has ended, and the browser, which dropped the first answer, holds no other.
    client = web.signed_in(SECRETARY)
    page = client.get("/account/password").text
    form = _form(page, password(SECRETARY), NEW)
    sent_under = dict(client.cookies)
    assert web.post(client, "/account/password", page, form).status_code == 303
    client.cookies.clear()
    client.cookies.update(sent_under)
    before = _events(web)
    second = web.post(client, "/account/password", page, form)
    assert (second.status_code, second.headers.get("location")) == (303, "/account/password?done=changed&next=/work")
    assert "Your password was changed" in text_of(client.get(second.headers["location"]))
    assert client.get("/work").status_code == 200
    assert _events(web) == before


def test_under_an_ended_session_a_change_of_password_form_with_another_password_leads_to_signing_in(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    page = client.get("/account/password").text
    sent_under = dict(client.cookies)
    assert web.post(client, "/account/password", page, _form(page, password(SECRETARY), NEW)).status_code == 303
    client.cookies.clear()
    client.cookies.update(sent_under)
    guessed = web.post(client, "/account/password", page, _form(page, password(SECRETARY), NEW + "-doan"))
    assert guessed.status_code == 401
    assert "Your session has ended" in text_of(guessed)
    assert client.get("/work").status_code == 303
    assert web.site.accounts.check_password(SECRETARY, NEW) == person_id(SECRETARY)
