"""Choosing one's own password: after signing in with a one-time one (given by an administrator), or at any time.

A session signed in with a one-time password holds no person: every page but this form treats it as signed out,
and `_signed_in` sends it here (web/routes.py). A person signed in as usual may change theirs too, by typing the
present one first (a session left open on a shared computer must not be enough), under the same brake on failures
as signing in. The new password is checked (a minimum length, twice the same, not the one it replaces), set in the
accounts, and recorded as an event (that it changed, never the password or its hash); then the session is replaced
by a new one and every other session of the person ends. The API authenticates by token and never meets this.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from domain.actor import Actor
from domain.errors import DomainError, InvalidInput, NotAuthorized
from projections.models import access as access_model
from web import labels
from web.accounts import MIN_PASSWORD, PendingChange, Session
from web.app import CSRF_FIELD, SESSION_COOKIE, Site, Visit, check_csrf
from web.labels import N_
from web.routes import SignInNeeded, _local_next, _posted, _signed_in, _text, _visit, _wait
from workflow.engine import Receipt

MAX_PASSWORD = 1000
# How long after a change of one's own password the same form, sent again, is answered as done.
SENT_AGAIN_WITHIN = timedelta(minutes=10)


def _pending(request: Request) -> tuple[Visit, PendingChange]:
    visit = _visit(request)
    if visit.pending is None:
        raise SignInNeeded()
    return visit, visit.pending


def _check_new(new: str, again: str) -> None:
    if len(new) < MIN_PASSWORD:
        raise InvalidInput(N_("a password needs at least %(count)s characters"), count=MIN_PASSWORD)
    if len(new) > MAX_PASSWORD:
        raise InvalidInput(N_("a password of more than %(count)s characters is refused"), count=MAX_PASSWORD)
    if new != again:
        raise InvalidInput(N_("the two passwords differ; type the same one twice"))


def register(app: FastAPI, site: Site) -> None:
    engine = site.engine

    def page(request: Request, visit: Visit, next_path: str, status: int = 200, **context: Any) -> Response:
        return site.render(
            request, "account_password.html",
            {
                "next": next_path, "min_length": MIN_PASSWORD, "refusal": None, "pending": visit.pending is not None,
                "changed": False, **context,
            },
            status_code=status,
        )

    def refused(request: Request, visit: Visit, target: str, error: DomainError, status: int = 0) -> Response:
        code, headline = labels.refusal(error, on_dossier=False)
        return page(request, visit, target, status or code, refusal={"headline": headline, "detail": error.message})

    def own_actor(person_id: UUID, today: date) -> Actor:
        held = access_model.authorities(site.side.store, person_id, today)
        own = [a for a in held if a.delegation_id is None]
        if not own:
            raise NotAuthorized(N_("you hold no role valid today, so you cannot sign in"))
        first = min(own, key=lambda a: (a.role.value, str(a.unit_id)))
        return Actor(person_id, first.role, first.unit_id)

    @app.get("/account/password")
    def password_page(request: Request, next: str = "", done: str = "") -> Response:
        """The form to choose one's own password: the first one after a one-time one, or a new one at any time."""
        visit = _visit(request)
        if visit.pending is None:
            visit = _signed_in(request)
        return page(request, visit, _local_next(next, "/work"), changed=done == "changed")

    @app.post("/account/password")
    async def change_password(request: Request) -> Response:
        """Set one's own password in place of the one-time one, or of one's present one."""
        visit = _visit(request)
        if visit.pending is None:
            if visit.person is None:
                replaced = await run_in_threadpool(
                    site.accounts.replaced_session, request.cookies.get(SESSION_COOKIE)
                )
                if replaced is not None:
                    return await _sent_again_after_the_change(request, visit, replaced)
            return await _change_own(request, _signed_in(request))
        visit, pending = _pending(request)
        form = await _posted(request)
        target = _local_next(_text(form, "next"), "/work")
        new, again = _text(form, "new_password"), _text(form, "repeat_password")

        def run() -> Receipt[None]:
            _check_new(new, again)
            if site.accounts.check_password(pending.username, new) == pending.person_id:
                raise InvalidInput(N_("choose a password of your own, not the one-time one you were given"))
            actor = own_actor(pending.person_id, visit.today)
            site.accounts.set_password(pending.username, pending.person_id, new)
            return engine.change_own_password(actor, pending.person_id)

        try:
            receipt = await run_in_threadpool(run)
        except (InvalidInput, NotAuthorized) as error:
            return refused(request, visit, target, error)
        await run_in_threadpool(_wait, site, receipt)
        # A new session id, now for the person: the half-signed-in one is over.
        await run_in_threadpool(site.accounts.end_session, visit.session)
        visit.new_cookie, _ = await run_in_threadpool(
            site.accounts.new_session, pending.person_id, visit.session.locale
        )
        return RedirectResponse(target, status_code=303)

    def _sent_again(person_id: UUID, username: str, version: str, new: str, again: str) -> bool:
        """Whether this is the form of a change already made, sent again (a double click without JavaScript, the
        back button): the present password it carries was replaced by its first sending. So it is when the password
        was set a few minutes ago, not by an administrator, to the new one this form carries, and nothing but the
        person's own change of password (or nothing yet: the first sending records it after setting it) was
        recorded on them since the form was drawn (its `version`). Typing the password now proves as much as the
        present one would, and a failure still counts against the brake."""
        version = version.strip()
        if new != again or not (version.isascii() and version.isdigit() and len(version) < 10):
            return False
        since: list[Any] = list(engine.events.get(person_id, gt=int(version), limit=2))
        # None yet when the first sending has set the password and is still recording that it did.
        if len(since) > 1 or any(
            type(e).__name__ != "PasswordChanged" or e.actor.person_id != person_id for e in since
        ):
            return False
        set_at = site.accounts.password_set_at(username)
        if set_at is None or time.time() - set_at > SENT_AGAIN_WITHIN.total_seconds():
            return False
        if site.accounts.is_one_time(username):
            return False  # an administrator's since: not this form's doing
        return site.accounts.check_password(username, new) == person_id

    async def _sent_again_after_the_change(request: Request, visit: Visit, replaced: Session) -> Response:
        """The form sent again under the session its first sending ended (the browser dropped that answer, and the
        new session with it): answered as done, with a session of its own, when it is recognised as that form
        (_sent_again), under the brake; else as any form whose session has ended."""
        form = await request.form()
        token = form.get(CSRF_FIELD)
        person_id = replaced.person_id
        if person_id is None or not check_csrf(request, token if isinstance(token, str) else None, replaced.csrf_token):
            raise SignInNeeded()
        username = await run_in_threadpool(site.accounts.username_of, person_id)
        if username is None:
            raise SignInNeeded()
        address = request.client.host if request.client else "unknown"
        keys = (f"account:{username.casefold()}", f"address:{address}")
        brake = await run_in_threadpool(site.accounts.brake, *keys)
        if brake.locked_until is not None:
            raise SignInNeeded()
        if brake.delay:
            await asyncio.sleep(brake.delay)
        target = _local_next(_text(form, "next"), "/work")
        new, again = _text(form, "new_password"), _text(form, "repeat_password")

        def recognised() -> bool:
            if _sent_again(person_id, username, _text(form, "version"), new, again):
                return True
            # The new password is checked against the account's: a guess, counted as one.
            site.accounts.failed(*keys)
            return False

        if not await run_in_threadpool(recognised):
            raise SignInNeeded()
        await run_in_threadpool(partial(site.accounts.end_sessions_of, person_id, created_before=time.time()))
        # In place of the session this visit was given for a cookie that named none.
        await run_in_threadpool(site.accounts.end_session, visit.session)
        visit.new_cookie, _ = await run_in_threadpool(site.accounts.new_session, person_id, replaced.locale)
        return RedirectResponse("/account/password?done=changed&next=" + quote(target), status_code=303)

    async def _change_own(request: Request, visit: Visit) -> Response:
        assert visit.person is not None
        person_id = visit.person.id
        form = await _posted(request)
        target = _local_next(_text(form, "next"), "/work")
        present = _text(form, "present_password")[:MAX_PASSWORD]
        new, again = _text(form, "new_password"), _text(form, "repeat_password")
        username = await run_in_threadpool(site.accounts.username_of, person_id)
        if username is None:
            no_password = InvalidInput(N_("you have no password here: you sign in another way"))
            return refused(request, visit, target, no_password)
        address = request.client.host if request.client else "unknown"
        # The same brake as signing in: this form must not become a way round it to guess a password.
        keys = (f"account:{username.casefold()}", f"address:{address}")
        brake = await run_in_threadpool(site.accounts.brake, *keys)
        if brake.locked_until is not None:
            locked = NotAuthorized(N_("too many wrong passwords: try again later"))
            return refused(request, visit, target, locked, status=429)
        if brake.delay:
            await asyncio.sleep(brake.delay)

        # When the new password was set (or, sent again, recognised): the sessions made before it end.
        changed_at: list[float] = []

        def run() -> Receipt[None] | None:
            if site.accounts.check_password(username, present) != person_id:
                if _sent_again(person_id, username, _text(form, "version"), new, again):
                    changed_at.append(time.time())
                    return None
                site.accounts.failed(*keys)
                raise InvalidInput(N_("the present password typed is not right"))
            site.accounts.succeeded(keys[0])
            _check_new(new, again)
            if new == present:
                raise InvalidInput(N_("the new password is the present one; choose another"))
            actor = own_actor(person_id, visit.today)
            site.accounts.set_password(username, person_id, new)
            changed_at.append(time.time())
            return engine.change_own_password(actor, person_id)

        try:
            receipt = await run_in_threadpool(run)
        except (InvalidInput, NotAuthorized) as error:
            return refused(request, visit, target, error)
        if receipt is not None:
            await run_in_threadpool(_wait, site, receipt)
        await run_in_threadpool(site.accounts.note_replaced, visit.session, person_id)
        # Whoever knew the old password may hold a session made with it: every other session made before the
        # change ends, and this one gets a new id. Of a form sent twice, the browser keeps the answer to the last
        # sending, whose new session the other sending, if it ends later, leaves alone.
        await run_in_threadpool(
            partial(site.accounts.end_sessions_of, person_id, created_before=changed_at[0])
        )
        visit.new_cookie, _ = await run_in_threadpool(site.accounts.new_session, person_id, visit.session.locale)
        return RedirectResponse("/account/password?done=changed&next=" + quote(target), status_code=303)
