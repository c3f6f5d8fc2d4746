"""How the application serves requests side by side: the visit's database work off the event loop, in a small
thread pool."""

from __future__ import annotations

import threading
import time

import pytest
from anyio import to_thread
from sqlalchemy import select, update

from projections.store import STATE, TRACKING
from tests.web.world import REVIEWER, SECRETARY, Web, text_of

SLOW_VISIT = 3.0


@pytest.mark.parametrize(
    ("path", "username"),
    # My work reads its visit in the thread of its fast view (web/app.py FastView), the others in _visit's.
    [("/sign-in", None), ("/work", SECRETARY)],
    ids=["a page visited by the middleware", "my work, visited in its fast view"],
)
def test_a_slow_visit_does_not_hold_up_the_requests_beside_it(
    web: Web, monkeypatch: pytest.MonkeyPatch, path: str, username: str | None
) -> None:
    client = web.signed_in(username) if username else web.client()
    accounts = web.site.accounts
    real = accounts.session
    started_visit = threading.Event()

    def slow_session(cookie: str | None) -> object:
        started_visit.set()
        time.sleep(SLOW_VISIT)
        return real(cookie)

    monkeypatch.setattr(accounts, "session", slow_session)
    statuses: list[int] = []
    # One client in a `with` block: one event loop serves both requests, as uvicorn's does.
    with client:
        page = threading.Thread(target=lambda: statuses.append(client.get(path).status_code))
        page.start()
        assert started_visit.wait(10)
        began = time.monotonic()
        healthz = client.get("/healthz")
        waited = time.monotonic() - began
        page.join()
    assert healthz.status_code == 200
    assert statuses == [200]
    # Had the visit run on the event loop, /healthz would have waited for the rest of its 3 s.
    assert waited < SLOW_VISIT / 2


def test_blocking_work_runs_in_the_application_s_few_threads_not_anyio_s_forty(web: Web) -> None:
    with web.client() as client:
        assert client.portal is not None
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
    assert tokens == web.site.threads
    assert 2 <= tokens < 40


def test_my_work_says_when_its_lists_lag_behind_the_log_or_one_is_stopped(web: Web) -> None:
    client = web.signed_in(SECRETARY)
    assert "catching up" not in text_of(client.get("/work"))
    runner = web.site.side.runner
    assert runner is not None
    # Nothing may apply events while a read model's position is moved by hand.
    runner.stop()
    web.site.side.runner = None
    head = web.engine.recorder.max_notification_id() or 0
    with web.site.side.store.engine.begin() as conn:
        name = conn.execute(select(STATE.c.name).order_by(STATE.c.name)).scalars().first()
        live = select(STATE.c.live_generation).where(STATE.c.name == name).scalar_subquery()
        of_live = (TRACKING.c.name == name, TRACKING.c.generation == live)
        assert conn.execute(update(TRACKING).where(*of_live).values(position=head - 1)).rowcount == 1
    behind = text_of(client.get("/work"))
    assert "still catching up" in behind
    assert "stopped by an error" not in behind
    with web.site.side.store.engine.begin() as conn:
        conn.execute(update(TRACKING).where(*of_live).values(failed_position=head))
    assert "stopped by an error" in text_of(client.get("/work"))


def test_every_page_s_header_marks_its_section_offers_the_roles_links_and_comes_back_to_the_same_address(
    web: Web,
) -> None:
    secretary = web.signed_in(SECRETARY)
    page = secretary.get("/work", params={"q": "Nậm Chảy & co"}).text
    assert '<a href="/work" aria-current="page">' in page
    assert 'name="back" value="/work?q=N%E1%BA%ADm+Ch%E1%BA%A3y+%26+co"' in page
    # A secretary reads no lists beyond their own: no link to the units, the dashboard or the administration.
    assert 'href="/units"' not in page
    assert 'href="/admin"' not in page
    reviewer = web.signed_in(REVIEWER).get("/units").text
    assert '<a href="/units" aria-current="page">' in reviewer
    assert 'href="/admin"' not in reviewer
    admin = web.signed_in("admin").get("/admin/units").text
    assert '<a href="/admin" aria-current="true">' in admin
    assert 'href="/dashboard"' in admin
    assert 'name="back" value="/admin/units"' in admin
    signed_out = web.client().get("/sign-in").text
    assert 'href="/work"' not in signed_out
    assert 'name="back" value="/sign-in"' in signed_out


def test_a_cached_my_work_view_is_answered_in_one_thread_hop_off_the_event_loop_by_its_fast_view(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = web.signed_in(SECRETARY)
    first = client.get("/work")
    hops: list[str] = []
    real_run_sync = to_thread.run_sync

    async def counting(func: object, *args: object, **kwargs: object) -> object:
        # FastAPI hands a sync route over as a partial naming it.
        hops.append(repr(func))
        return await real_run_sync(func, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(to_thread, "run_sync", counting)
    again = client.get("/work")
    assert again.status_code == 200
    assert again.text == first.text
    # The middleware's hop and the sync route's were two; a page from the cache is answered in the middleware's.
    assert len(hops) == 1
    assert "cached_work" in hops[0]
    # The headers the middleware adds from the visit still come with the page.
    assert again.headers["cache-control"] == "no-store"
    assert again.headers["vary"] == "Cookie, Accept-Language"
    # A page not yet kept is rendered by the route, with the visit the fast view read (not read again).
    hops.clear()
    sessions: list[object] = []
    real_session = web.site.accounts.session
    monkeypatch.setattr(web.site.accounts, "session", lambda cookie: sessions.append(cookie) or real_session(cookie))
    searched = client.get("/work?q=kim")
    assert searched.status_code == 200
    assert len(hops) == 2
    assert "cached_work" in hops[0]
    assert "my_work" in hops[1]
    assert len(sessions) == 1
    # Other pages keep the middleware's visit.
    hops.clear()
    assert client.get("/sign-in").status_code == 200
    assert "_visit" in hops[0]


def test_my_work_is_answered_by_its_route_when_its_fast_view_fails(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    client = web.signed_in(SECRETARY)
    first = client.get("/work")

    def failing(_request: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setitem(web.site.fast_views, ("GET", "/work"), failing)
    again = client.get("/work")
    assert again.status_code == 200
    assert again.text == first.text
    assert again.headers["vary"] == "Cookie, Accept-Language"


def test_my_work_without_a_session_hands_one_out_and_sends_to_sign_in(web: Web) -> None:
    with web.client() as client:
        response = client.get("/work?q=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/work%3Fq%3Dx"
    assert "dossierflow_session=" in response.headers["set-cookie"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["vary"] == "Cookie, Accept-Language"
