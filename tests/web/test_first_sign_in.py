"""A person given a one-time password by an administrator must choose their own at the next sign-in before any
page opens; the new one is checked (a minimum length, typed twice alike, not the one-time one); the change is in the
audit trail without the password or its hash; API tokens are not affected."""

from __future__ import annotations

import io
from pathlib import Path

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from domain.ids import person_id
from projections.models import audit as audit_model
from projections.store import make_engine, sqlite_url
from tests.web.world import CELL, SECRETARY, Web, csrf, text_of
from web.accounts import ACCOUNTS, Accounts, PendingChange
from web.server import accounts_url
from web.tokens import Tokens

ADMIN = "admin"
ONE_TIME = "mot-lan-2025-xyz"
CHOSEN = "mat-khau-rieng-cua-toi"


def _events(web: Web) -> int:
    return web.engine.recorder.max_notification_id() or 0


def _give_one_time_password(web: Web, username: str = SECRETARY) -> None:
    admin = web.signed_in(ADMIN)
    page = admin.get(f"/admin/people/{person_id(username)}")
    done = web.post(admin, f"/admin/people/{person_id(username)}/password", page.text, {"password": ONE_TIME})
    assert done.status_code == 200, text_of(done)
    assert "at their next sign-in they choose their own" in text_of(done)
    shown = admin.get(f"/admin/people/{person_id(username)}")
    assert "Holds a one-time password: chooses their own at the next sign-in" in text_of(shown)


def _sign_in(web: Web, password: str, next_path: str = "/work") -> tuple[TestClient, str]:
    client = web.client()
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf(page.text), "username": SECRETARY, "password": password, "next": next_path},
    )
    assert response.status_code == 303, text_of(response)
    return client, response.headers["location"]


def _choose(
    web: Web, client: TestClient, new: str, again: str | None = None, next_path: str = "/work"
) -> tuple[int, str, str]:
    page = client.get("/account/password", params={"next": next_path})
    assert page.status_code == 200, text_of(page)
    response = web.post(
        client, "/account/password", page.text,
        {"new_password": new, "repeat_password": new if again is None else again, "next": next_path},
    )
    return response.status_code, response.headers.get("location", ""), text_of(response)


def test_every_page_sends_a_person_with_a_one_time_password_to_choose_their_own_first(web: Web) -> None:
    _give_one_time_password(web)
    client, location = _sign_in(web, ONE_TIME, "/work")
    assert location == "/account/password?next=/work"
    dossier = web.dossier_path(CELL)
    for path in ["/work", dossier, "/workflow", "/admin", "/"]:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/account/password"), path
    assert client.get(dossier).headers["location"] == "/account/password?next=" + dossier
    fragment = client.get("/work", headers={"HX-Request": "true"})
    assert (fragment.status_code, fragment.headers["HX-Redirect"]) == (401, "/account/password?next=/work")
    form = client.get("/account/password")
    assert "Choose your password" in text_of(form)
    before = _events(web)
    refused = web.post(client, f"{dossier}/act/submit", form.text, {})
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/account/password")
    assert _events(web) == before


def test_the_new_password_must_be_long_enough_typed_twice_alike_and_not_the_one_time_one(web: Web) -> None:
    _give_one_time_password(web)
    client, _ = _sign_in(web, ONE_TIME)
    before = _events(web)
    for new, again, refusal in [
        ("ngan", None, "a password needs at least 8 characters"),
        (CHOSEN, CHOSEN + "!", "the two passwords differ"),
        (ONE_TIME, None, "choose a password of your own, not the one-time one"),
    ]:
        status, _, text = _choose(web, client, new, again)
        assert status == 422, text
        assert refusal in text
        assert web.site.accounts.is_one_time(SECRETARY)
        assert web.site.accounts.check_password(SECRETARY, ONE_TIME) == person_id(SECRETARY)
    assert _events(web) == before
    assert client.get("/work").status_code == 303  # still sent to the form


def test_once_chosen_the_person_is_signed_in_the_one_time_password_stops_and_the_audit_trail_says_so(
    web: Web,
) -> None:
    _give_one_time_password(web)
    client, _ = _sign_in(web, ONE_TIME, "/workflow")
    status, location, _ = _choose(web, client, CHOSEN, next_path="/workflow")
    assert (status, location) == (303, "/workflow")
    assert client.get("/workflow").status_code == 200
    assert client.get("/work").status_code == 200
    assert not web.site.accounts.is_one_time(SECRETARY)
    shown = text_of(web.signed_in(ADMIN).get(f"/admin/people/{person_id(SECRETARY)}"))
    assert "Can sign in with a password" in shown
    assert "Holds a one-time password" not in shown
    assert web.site.accounts.check_password(SECRETARY, ONE_TIME) is None
    assert web.site.accounts.check_password(SECRETARY, CHOSEN) == person_id(SECRETARY)
    signed_in_again, location = _sign_in(web, CHOSEN)
    assert location == "/work"
    assert signed_in_again.get("/work").status_code == 200

    store = web.site.side.store
    (given,) = audit_model.audit_trail(store, action="Person.OneTimePasswordGiven").rows
    (changed,) = audit_model.audit_trail(store, action="Person.PasswordChanged").rows
    assert given.subject_person_id == changed.subject_person_id == person_id(SECRETARY)
    assert given.person_id == person_id(ADMIN)
    assert changed.person_id == person_id(SECRETARY)  # they changed it themselves
    assert given.position < changed.position
    with web.site.accounts.engine.connect() as conn:
        stored_hash = conn.execute(select(ACCOUNTS.c.password_hash).where(ACCOUNTS.c.username == SECRETARY)).scalar()
    out = io.StringIO()
    audit_model.audit_csv(web.site.side.store, out)
    assert "chose their own password" in out.getvalue()
    for secret in (CHOSEN, ONE_TIME, str(stored_hash), "$argon2"):
        assert secret not in out.getvalue()


def test_the_api_answers_a_token_of_a_person_who_has_not_yet_chosen_their_password(web: Web) -> None:
    _give_one_time_password(web)
    token, _ = Tokens(web.site.accounts.engine).create(person_id(SECRETARY))
    api = TestClient(web.app, headers={"Authorization": f"Bearer {token}"})
    listed = api.get("/api/v1/dossiers", params={"year": 2025})
    assert listed.status_code == 200, listed.text


def test_nobody_signed_out_opens_the_change_password_form(web: Web) -> None:
    client = web.client()
    response = client.get("/account/password")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")
    page = client.get("/sign-in")
    posted = web.post(client, "/account/password", page.text, {"new_password": CHOSEN, "repeat_password": CHOSEN})
    assert posted.status_code == 401
    assert "Please sign in" in text_of(posted)


def test_a_person_registered_by_an_administrator_holds_a_one_time_password(web: Web) -> None:
    admin = web.signed_in(ADMIN)
    page = admin.get("/admin/people")
    made = web.post(admin, "/admin/people", page.text, {"username": "bt-moi", "full_name": "Hoàng Thị Mới",
                                                        "password": ONE_TIME})
    assert made.status_code == 201, text_of(made)
    assert web.site.accounts.is_one_time("bt-moi")
    rows = audit_model.audit_trail(web.site.side.store, action="Person.OneTimePasswordGiven").rows
    assert [r.subject_person_id for r in rows][:1] == [person_id("bt-moi")]


def test_a_one_time_password_rehashed_with_stronger_parameters_stays_one_time(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "web.sqlite"))
    weak = Accounts(engine, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    weak.set_password(SECRETARY, person_id(SECRETARY), ONE_TIME, one_time=True)
    stronger = Accounts(engine, PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    with engine.connect() as conn:
        before = conn.execute(select(ACCOUNTS.c.password_hash)).scalar()
    assert stronger.check_password(SECRETARY, ONE_TIME) == person_id(SECRETARY)
    with engine.connect() as conn:
        assert conn.execute(select(ACCOUNTS.c.password_hash)).scalar() != before  # rehashed
    assert stronger.is_one_time(SECRETARY)


def _pending_sessions_end_with_the_persons_sessions(engine: Engine) -> None:
    accounts = Accounts(engine, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    pid = person_id(SECRETARY)
    accounts.set_password(SECRETARY, pid, ONE_TIME, one_time=True)
    assert accounts.is_one_time(SECRETARY)
    cookie, session = accounts.new_pending_session(SECRETARY, pid, "vi")
    found = accounts.session(cookie)
    assert found is not None
    assert found.person_id is None  # not signed in: only the change-password form accepts it
    assert accounts.pending_change(found) == PendingChange(SECRETARY, pid)
    # An administrator giving another password ends every session of the person, the half-signed-in one too.
    assert accounts.end_sessions_of(pid) == 1
    assert accounts.session(cookie) is None
    assert accounts.pending_change(session) is None
    accounts.set_password(SECRETARY, pid, CHOSEN)
    assert not accounts.is_one_time(SECRETARY)


def test_one_time_passwords_and_pending_sessions_kept_on_sqlite(tmp_path: Path) -> None:
    _pending_sessions_end_with_the_persons_sessions(make_engine(sqlite_url(tmp_path / "web.sqlite")))


def test_one_time_passwords_and_pending_sessions_kept_on_postgresql(fresh_postgres_url: str, tmp_path: Path) -> None:
    engine = make_engine(accounts_url(fresh_postgres_url, tmp_path))
    try:
        _pending_sessions_end_with_the_persons_sessions(engine)
    finally:
        engine.dispose()
