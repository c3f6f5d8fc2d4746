"""My work's rendered pages kept per process (web/page_cache.py): a view repeated with nothing changed is served
from the cache, and every change the page depends on shows at once: another person's action, a grant revoked,
the day moving on, a language chosen, signing out and in again."""

from __future__ import annotations

from datetime import date, datetime

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Role
from tests.web.world import CELL, REVIEWER, SECRETARY, Web, csrf
from workflow.bootstrap import build_engine
from workflow.clock import VIETNAM


def _hits(web: Web) -> int:
    assert web.site.work_pages is not None
    return web.site.work_pages.hits


def _admin() -> Actor:
    return Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai"))


def test_a_repeated_view_is_served_from_the_cache_with_its_etag_and_a_304_on_revalidation(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    first = client.get("/work")
    hits = _hits(web)
    second = client.get("/work")
    assert second.status_code == 200
    assert _hits(web) == hits + 1
    assert second.text == first.text
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["content-type"] == first.headers["content-type"] == "text/html; charset=utf-8"
    # The security headers of every page still come with it.
    assert second.headers["cache-control"] == "no-store"
    assert "content-security-policy" in second.headers
    again = client.get("/work", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/work", headers={"If-None-Match": '"something else"'}).status_code == 200
    # Another query string is another page.
    searched = client.get("/work?q=no-such-unit")
    assert "No unit of this queue matches your search." in searched.text
    assert searched.headers["etag"] != first.headers["etag"]


def test_another_persons_action_shows_at_once(web: Web) -> None:
    path = web.dossier_path()
    reviewer = web.signed_in(REVIEWER)
    before = reviewer.get("/work")
    reviewer.get("/work")
    assert path not in before.text
    secretary = web.signed_in(SECRETARY)
    page, version = web.page(secretary, path)
    assert web.post(secretary, f"{path}/act/submit", page, {"version": version}).status_code == 303
    after = reviewer.get("/work")
    assert path in after.text
    assert after.headers["etag"] != before.headers["etag"]
    # An If-None-Match of the page before is answered with the new page, not a 304.
    assert reviewer.get("/work", headers={"If-None-Match": before.headers["etag"]}).status_code == 200


def test_a_revoked_grant_shows_at_once(web: Web) -> None:
    secretary = person_id(SECRETARY)
    granted = web.engine.grant_role(
        _admin(), secretary, role=Role.REVIEWER, unit_id=unit_id("lc-kim-tan"), valid_from=date(2025, 1, 1)
    )
    assert web.site.side.wait_for(granted.position).reached
    client = web.signed_in(SECRETARY)
    assert 'href="/audit"' in client.get("/work").text
    hits = _hits(web)
    assert 'href="/audit"' in client.get("/work").text
    assert _hits(web) == hits + 1
    revoked = web.engine.revoke_role(_admin(), secretary, granted.value, on=date(2025, 12, 1), reason="Chuyển công tác")
    assert web.site.side.wait_for(revoked.position).reached
    after = client.get("/work")
    assert after.status_code == 200  # the secretary's own role remains
    assert 'href="/audit"' not in after.text


def test_the_next_day_shows_a_deadline_passed(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    path = web.dossier_path()
    before = client.get("/work").text
    assert path in before
    assert client.get("/work").text == before
    assert 'class="overdue"' not in before
    # The draft's self-assessment is due on 15 December 2025: overdue from the 16th, with no event in between.
    web.clock.set(datetime(2025, 12, 16, 0, 5, tzinfo=VIETNAM))
    assert 'class="overdue"' in client.get("/work").text


def test_a_language_switch_shows_at_once(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    page = client.get("/work").text
    assert '<html lang="en">' in page
    client.get("/work")
    chosen = client.post("/language", data={"csrf_token": csrf(page), "locale": "vi", "back": "/work"})
    assert chosen.status_code == 303
    assert '<html lang="vi">' in client.get("/work").text


def test_signing_out_and_in_again_gives_no_page_of_the_old_session(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    old_cookie = client.cookies["dossierflow_session"]
    page = client.get("/work").text
    assert client.get("/work").text == page
    assert web.post(client, "/sign-out", page, {}).status_code == 303
    replay = web.client()
    replay.cookies.set("dossierflow_session", old_cookie)
    assert replay.get("/work").status_code == 303
    again = web.signed_in(SECRETARY)
    fresh = again.get("/work").text
    assert csrf(fresh) != csrf(page)


def test_with_the_cache_off_every_view_is_rendered(web: Web) -> None:
    web.site.work_pages = None
    client = web.signed_in(SECRETARY)
    first = client.get("/work")
    assert first.status_code == 200
    assert "etag" not in first.headers
    assert client.get("/work").text == first.text


def test_a_unit_renamed_by_an_administrator_shows_at_once(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    before = client.get("/work").text
    assert client.get("/work").text == before
    assert "Chi bộ Tổ dân phố số 5" in before
    renamed = web.engine.rename_unit(
        _admin(), unit_id(CELL), name="Chi bộ Tổ dân phố số 5 (mới)", effective_from=date(2025, 11, 1),
        reason="Đổi tên",
    )
    assert web.site.side.wait_for(renamed.position).reached
    assert "Chi bộ Tổ dân phố số 5 (mới)" in client.get("/work").text


def test_a_step_recorded_by_another_process_shows_the_lists_catching_up_at_the_next_view(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    before = client.get("/work")
    assert client.get("/work").text == before.text
    # The read models stand still from here: only the log's head tells the page that something happened.
    web.site.side.close()
    other = build_engine(database_url=None, data_dir=web.data_dir, clock=web.clock)
    try:
        other.rename_unit(
            _admin(), unit_id(CELL), name="Chi bộ Tổ dân phố số 5 (mới)", effective_from=date(2025, 11, 1),
            reason="Đổi tên",
        )
    finally:
        other.close()
    hits = _hits(web)
    after = client.get("/work")
    assert _hits(web) == hits
    assert "The lists are still catching up with the latest steps" in after.text
    assert after.headers["etag"] != before.headers["etag"]
