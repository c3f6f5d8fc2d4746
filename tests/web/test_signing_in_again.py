"""A session that ended while a form was open (8 idle hours, or signed out in another tab): the form sent then
leads to signing in, and signing in leads back to the page the form was on, not to the form's action."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from domain.ids import person_id, unit_id
from tests.web.world import SECRETARY, Web, csrf, password, text_of

HX = {"HX-Request": "true"}
COMMENT = "Chi bộ đã họp đủ 12 kỳ & có biên bản <kèm theo>"


def _open_then_session_ends(web: Web) -> tuple[TestClient, str, str]:
    """The secretary's client, the dossier's path and its page as loaded before the session ended elsewhere."""
    client = web.signed_in(SECRETARY)
    path = web.dossier_path()
    page = client.get(path).text
    web.site.accounts.end_sessions_of(person_id(SECRETARY))  # signed out in another tab
    return client, path, page


def _sign_in_from(client: TestClient, link: str) -> str:
    """Sign in through `link` (a sign-in address with its next); where the browser is sent once signed in."""
    form = client.get(link)
    assert form.status_code == 200, text_of(form)
    sent = client.post(
        "/sign-in",
        data={
            "csrf_token": csrf(form.text), "username": SECRETARY, "password": password(SECRETARY),
            "next": unescape(re.search(r'name="next" value="([^"]*)"', form.text).group(1)),  # type: ignore[union-attr]
        },
    )
    assert sent.status_code == 303, text_of(sent)
    return sent.headers["location"]


def _link(page: str) -> str:
    found = re.search(r'<a href="(/sign-in\?next=[^"]+)"', page)
    assert found, "the page gives no way to sign in"
    return unescape(found.group(1))


def test_a_save_sent_after_the_session_ended_leads_back_to_the_dossier_once_signed_in_not_to_a_405(web: Web) -> None:
    client, path, page = _open_then_session_ends(web)
    criterion = re.search(r'name="(c\.[\w-]+\.comment)"', page).group(1)  # type: ignore[union-attr]
    sent = client.post(
        f"{path}/answers", data={"csrf_token": csrf(page), criterion: COMMENT},
        headers={"Referer": f"http://testserver{path}?done=record_answers"},
    )
    assert sent.status_code == 401
    assert "Your session has ended, so what you sent was not saved." in text_of(sent)
    # What was typed is on the page, to copy: not lost with the session.
    assert f'readonly rows="3">{COMMENT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}' in sent.text
    back = _sign_in_from(client, _link(sent.text))
    assert back == path
    assert client.get(back).status_code == 200


def test_an_action_sent_after_the_session_ended_without_a_referer_leads_back_to_the_dossier(web: Web) -> None:
    client, path, page = _open_then_session_ends(web)
    sent = client.post(f"{path}/act/submit", data={"csrf_token": csrf(page), "version": "1"})
    assert sent.status_code == 401
    assert parse_qs(urlsplit(_link(sent.text)).query)["next"] == [path]


def test_an_autosave_after_the_session_ended_sends_the_browser_to_sign_in_and_back_to_the_dossier(web: Web) -> None:
    client, path, page = _open_then_session_ends(web)
    sent = client.post(
        f"{path}/answers", data={"csrf_token": csrf(page)},
        headers={**HX, "HX-Current-URL": f"http://testserver{path}?done=record_answers"},
    )
    assert sent.status_code == 401
    target = sent.headers["HX-Redirect"]
    # Not with the page's "Your answers are saved." of an earlier save: this one was not.
    assert parse_qs(urlsplit(target).query)["next"] == [path]
    assert _sign_in_from(client, target) == path


def test_a_sign_in_link_naming_a_forms_action_leads_to_its_page(web: Web) -> None:
    client = web.client()
    path = web.dossier_path()
    # A link made before this was fixed, kept in a bookmark or the history.
    assert _sign_in_from(client, f"/sign-in?next={path}/answers") == path
    assert client.get(path).status_code == 200
    assert _sign_in_from(web.client(), "/sign-in?next=/language") == "/"


def test_a_decision_lists_reasons_sent_after_the_session_ended_are_shown_to_copy(web: Web) -> None:
    client = web.signed_in("tt-tinh-uy")
    root = unit_id("lao-cai")
    page = client.get(f"/decisions/{root}/2025").text
    web.site.accounts.end_sessions_of(person_id("tt-tinh-uy"))
    did = web.engine.find_dossier("mk-nam-lu/2025")
    sent = client.post(
        f"/decisions/{root}/2025",
        data={"csrf_token": csrf(page), "dossier": str(did), f"level.{did}": "excellent",
              f"reason.{did}": "Vượt chỉ tiêu thu ngân sách 120%"},
    )
    assert sent.status_code == 401
    assert 'readonly rows="3">Vượt chỉ tiêu thu ngân sách 120%</textarea>' in sent.text
    assert parse_qs(urlsplit(_link(sent.text)).query)["next"] == [f"/decisions/{root}/2025"]


def test_switching_the_language_on_a_refusal_leads_to_the_dossier_not_to_the_forms_action(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    path = web.dossier_path()
    page = client.get(path).text
    # Not a number: refused, and the page saying so is drawn at the form's action.
    refused = client.post(f"{path}/answers", data={"csrf_token": csrf(page), "c.assigned_targets.points": "abc"})
    assert refused.status_code == 422
    back = unescape(re.search(r'name="back" value="([^"]*)"', refused.text).group(1))  # type: ignore[union-attr]
    assert back == f"{path}/answers"
    switched = client.post("/language", data={"csrf_token": csrf(refused.text), "locale": "vi", "back": back})
    assert switched.status_code == 303
    assert switched.headers["location"] == path
    assert client.get(switched.headers["location"]).status_code == 200
