"""Choosing one's own password after signing in with a one-time one (given by an administrator).

A session signed in with a one-time password holds no person: every page but this form treats it as signed out,
and `_signed_in` sends it here (web/routes.py). The new password is checked (a minimum length, twice the same, not
the one-time one), set in the accounts, and recorded as an event (that it changed, never the password or its hash);
then the session is replaced by a signed-in one. The API authenticates by token and never meets this.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from domain.actor import Actor
from domain.errors import InvalidInput, NotAuthorized
from projections.models import access as access_model
from web import labels
from web.accounts import MIN_PASSWORD, PendingChange
from web.app import Site, Visit
from web.labels import N_
from web.routes import SignInNeeded, _local_next, _posted, _text, _visit, _wait
from workflow.engine import Receipt

MAX_PASSWORD = 1000


def _pending(request: Request) -> tuple[Visit, PendingChange]:
    visit = _visit(request)
    if visit.pending is None:
        raise SignInNeeded()
    return visit, visit.pending


def register(app: FastAPI, site: Site) -> None:
    engine = site.engine

    def page(request: Request, visit: Visit, next_path: str, status: int = 200, **context: Any) -> Response:
        return site.render(
            request, "account_password.html",
            {"next": next_path, "min_length": MIN_PASSWORD, "refusal": None, **context}, status_code=status,
        )

    @app.get("/account/password")
    def password_page(request: Request, next: str = "") -> Response:
        """The form to choose one's own password, for whoever signed in with a one-time one."""
        visit = _visit(request)
        if visit.pending is None and visit.person is not None:
            return RedirectResponse(_local_next(next, "/work"), status_code=303)
        visit, _ = _pending(request)
        return page(request, visit, _local_next(next, "/work"))

    @app.post("/account/password")
    async def change_password(request: Request) -> Response:
        """Set one's own password in place of the one-time one; then signed in as usual."""
        visit, pending = _pending(request)
        form = await _posted(request)
        target = _local_next(_text(form, "next"), "/work")
        new, again = _text(form, "new_password"), _text(form, "repeat_password")

        def run() -> Receipt[None]:
            if len(new) < MIN_PASSWORD:
                raise InvalidInput(N_("a password needs at least %(count)s characters"), count=MIN_PASSWORD)
            if len(new) > MAX_PASSWORD:
                raise InvalidInput(N_("a password of more than %(count)s characters is refused"), count=MAX_PASSWORD)
            if new != again:
                raise InvalidInput(N_("the two passwords differ; type the same one twice"))
            if site.accounts.check_password(pending.username, new) == pending.person_id:
                raise InvalidInput(N_("choose a password of your own, not the one-time one you were given"))
            held = access_model.authorities(site.side.store, pending.person_id, visit.today)
            own = [a for a in held if a.delegation_id is None]
            if not own:
                raise NotAuthorized(N_("you hold no role valid today, so you cannot sign in"))
            site.accounts.set_password(pending.username, pending.person_id, new)
            first = min(own, key=lambda a: (a.role.value, str(a.unit_id)))
            return engine.change_own_password(Actor(pending.person_id, first.role, first.unit_id), pending.person_id)

        try:
            receipt = await run_in_threadpool(run)
        except (InvalidInput, NotAuthorized) as error:
            status, headline = labels.refusal(error)
            return page(request, visit, target, status, refusal={"headline": headline, "detail": error.message})
        await run_in_threadpool(_wait, site, receipt)
        # A new session id, now for the person: the half-signed-in one is over.
        await run_in_threadpool(site.accounts.end_session, visit.session)
        visit.new_cookie, _ = await run_in_threadpool(
            site.accounts.new_session, pending.person_id, visit.session.locale
        )
        return RedirectResponse(target, status_code=303)
