"""The pages and actions. Each GET reads; each POST checks the CSRF token, runs one engine command, waits for the
read models to reach it, and redirects to the page that shows its result (or re-renders what was typed, with why
it was refused)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from domain.actor import Actor
from domain.dossier import Dossier
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    EvidenceRejected,
    InvalidInput,
    NotAuthorized,
    NotFound,
)
from domain.messages import N_, Count
from domain.unit import Unit
from domain.values import RATED_LEVELS, Classification, NotRatedGround, Role
from projections.models import access as access_model
from projections.models import audit as audit_model
from projections.models import statistics as statistics_model
from projections.models import units as units_model
from projections.reading import reading
from web import filenames, i18n, labels, page_cache
from web.app import CSRF_FIELD, STORE_FAILURES, Site, Visit, check_csrf, visit_of
from web.forms import fact_value, field_key, form_spec, read_form, title
from web.page_cache import CachedPage
from workflow.authorization import ancestors
from workflow.clock import within_calendar
from workflow.engine import Action, DecisionRequest, Receipt
from workflow.spec import spec_for

T = TypeVar("T")
_log = logging.getLogger(__name__)
# Text fields longer than this are refused before they reach the engine (which has its own, larger limits).
MAX_FIELD = 20_000
# The parts of the dossier page an autosave redraws: what the answers change, and every form's version field.
_AFTER_SAVE = ["save_status", "suggestion", "version", "other_versions", "changes"]
# The steps fired by a plain button; every other step has a dialog (a reason, a classification, a legal basis).
_PLAIN_STEPS = frozenset({"submit", "resubmit", "restore"})
# The event each step records on the dossier (domain/dossier.py).
_STEP_EVENTS = {
    "submit": "Submitted", "resubmit": "Resubmitted", "withdraw": "Withdrawn", "restore": "Restored",
    "endorse": "Endorsed", "return_to_unit": "ReturnedToUnit", "approve": "Approved",
    "return_to_committee": "ReturnedToCommittee", "mark_not_rated": "MarkedNotRated", "reopen": "Reopened",
}
# What a step's form says that its event records too: a form sent again with other words is not the same step.
_STEP_FIELDS = ("reason", "note", "legal_basis", "level")


class SignInNeeded(Exception):
    pass


class PasswordChangeNeeded(Exception):
    """Signed in with a one-time password: every page sends them to choose their own first."""


class Refused(Exception):
    """A request refused before any engine command: answered with an error page and this status."""

    def __init__(self, status: int, headline: str, detail: str = "") -> None:
        super().__init__(headline)
        self.status, self.headline, self.detail = status, headline, detail


def _visit(request: Request) -> Visit:
    visit: Visit = request.state.visit
    return visit


def _signed_in(request: Request) -> Visit:
    return _signed_in_as(_visit(request))


def _signed_in_as(visit: Visit) -> Visit:
    if visit.person is None:
        if visit.pending is not None:
            raise PasswordChangeNeeded()
        raise SignInNeeded()
    return visit


async def _posted(request: Request) -> FormData:
    request.scope["dossierflow.form_read"] = True
    form = await request.form(max_part_size=64 * 1024 * 1024)
    token = form.get(CSRF_FIELD)
    if not check_csrf(request, token if isinstance(token, str) else None):
        raise Refused(
            403, labels.N_("This form has expired or did not come from this site"),
            labels.N_("Reload the page and try again."),
        )
    return form


def _text(form: FormData | Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if len(value) > MAX_FIELD:
        raise InvalidInput(
            N_("the field '%(field)s' is longer than %(limit)s characters"), field=name, limit=Count(MAX_FIELD)
        )
    return value


def _version(form: FormData) -> int | None:
    raw = _text(form, "version").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        raise InvalidInput(N_("the form's version is not a number; reload the page"))
    return int(raw)


def _year_of(text: str) -> int:
    # A path's year read here, not by FastAPI: its refusal of "abcd" would be English JSON, not a page.
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        raise InvalidInput(N_("'%(text)s' is not a year"), text=text[:40])
    return int(text)


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound(N_("no dossier '%(reference)s'"), reference=text[:40]) from None


def _local_next(target: str | None, default: str) -> str:
    """Only a path on this site: a sign-in link must not send anyone elsewhere."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _gettable(app: FastAPI, target: str) -> str:
    """`target` if a page answers it, else the nearest page above it: a form's action (/dossiers/X/answers) is
    answered to POST only, and a browser sent there after signing in got 405."""
    parts = urlsplit(target)
    path = parts.path or "/"
    while True:
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"", "headers": []}
        if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            return target if path == parts.path else path
        if path == "/":
            return "/"
        path = path.rstrip("/").rsplit("/", 1)[0] or "/"


def _page_of(request: Request) -> str:
    """The page a request came from: itself when it is a page (GET), else the page whose form sent it (htmx names
    it, a browser's Referer does, on this site), else the nearest page above its address."""
    here = request.url.path + ("?" + request.url.query if request.url.query else "")
    if request.method in ("GET", "HEAD"):
        return here
    host = request.headers.get("host", "")
    for header in ("hx-current-url", "referer"):
        source = urlsplit(request.headers.get(header, ""))
        if source.netloc == host and source.path.startswith("/") and not source.path.startswith("//"):
            # Without the word of a step done before: the page came back to would say "Your answers are saved."
            # of answers this very request could not save.
            query = urlencode([(k, v) for k, v in parse_qsl(source.query, keep_blank_values=True) if k != "done"])
            return source.path + ("?" + query if query else "")
    return request.url.path


# Fields of a refused form shown back as what was typed: free text, which is long to type again.
_TYPED_TEXT = re.compile(
    r"^(reason|note|legal_basis|basis|act_number|name|full_name|c\.[\w-]+\.comment|reason\.[\w-]+)$"
)


async def _typed_texts(request: Request) -> list[tuple[str, str]]:
    """The free text of a form sent after its session ended, to show back rather than lose. Read only when the
    route read nothing of it (_posted marks the request), and only a plain form's: a file is not kept."""
    if request.scope.get("dossierflow.form_read") or not request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return []
    length = request.headers.get("content-length", "")
    if not (length.isdigit() and int(length) <= 1024 * 1024):
        return []
    try:
        form = await request.form()
    except ClientDisconnect:
        return []  # gone before the form arrived whole: nobody is left to read it
    return [
        (name, value[:MAX_FIELD]) for name, value in form.multi_items()
        if isinstance(value, str) and value.strip() and _TYPED_TEXT.match(name)
    ]


def _wait(site: Site, receipt: Receipt[Any] | None) -> None:
    # Read-your-writes: the next page is drawn from the read models, so they must have seen the command.
    if receipt is not None and receipt.position:
        site.side.wait_for(receipt.position, timeout=site.wait_seconds)


# --- what a person may see and do --------------------------------------------------------------------------------


def can_view(site: Site, visit: Visit, unit: Unit) -> bool:
    """A person sees the dossiers of the units they hold a role over, and of the units below those."""
    held = {a.unit_id for a in visit.authorities}
    if unit.id in held:
        return True
    return bool(held & set(ancestors(unit, visit.today, site.engine.unit)))


def _actions(site: Site, visit: Visit, did: UUID) -> dict[str, tuple[Action, Actor]]:
    found: dict[str, tuple[Action, Actor]] = {}
    for actor in visit.actors():
        for action in site.engine.available_actions(actor, did):
            found.setdefault(action.trigger, (action, actor))
    return found


def _actor_for(site: Site, visit: Visit, did: UUID, trigger: str) -> Actor:
    """The role this person fires `trigger` in; when none may, the role the engine will refuse with its reason."""
    actors = visit.actors()
    if trigger in labels.TRIGGERS and trigger not in ("record_answers", "attach_evidence", "remove_evidence"):
        fired_as = spec_for(site.engine.dossier(did).workflow_version).rule(trigger).role
        only = [a for a in actors if a.role is fired_as]
        if len(only) == 1:
            # The only role of theirs the step can be fired in: the engine decides whether it may be, and why not.
            # Asking it for every available action first cost a seventh of an approval.
            return only[0]
    available = _actions(site, visit, did)
    if trigger in available:
        return available[trigger][1]
    if not actors:
        raise NotAuthorized(N_("you hold no role valid today"))
    dossier = site.engine.dossier(did)
    rule_role = spec_for(dossier.workflow_version).rule(trigger).role if trigger in labels.TRIGGERS else None
    same_role = [a for a in actors if a.role is rule_role]
    return (same_role or actors)[0]


@dataclass
class Typed:
    """What the person typed into a form that was refused: shown again, nothing lost."""

    trigger: str = ""
    values: Mapping[str, str] | None = None
    # Every value of each field, for those sent more than once (boxes ticked): `values` keeps one per name.
    many: Mapping[str, tuple[str, ...]] | None = None

    def get(self, name: str, default: str = "") -> str:
        return (self.values or {}).get(name, default)

    def chose(self, name: str, value: str) -> bool:
        """Whether `value` was among those sent as `name` (a box ticked)."""
        return value in (self.many or {}).get(name, ())


def typed_from(trigger: str, form: FormData) -> Typed:
    values: dict[str, str] = {}
    many: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            values[name] = value
            many.setdefault(name, []).append(value)
    return Typed(trigger, values, {name: tuple(sent) for name, sent in many.items()})


def register(app: FastAPI, site: Site) -> None:
    engine = site.engine
    store = site.side.store

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, _: SignInNeeded) -> Response:
        # Back, once signed in, to the page the person was on, never to a form's action (405 to a GET).
        target = "/sign-in?next=" + quote(_gettable(app, _page_of(request)))
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.method != "GET":
            typed = await _typed_texts(request)
            return site.render(
                request, "error.html",
                {"headline": labels.N_("Please sign in"),
                 "detail": labels.N_("Your session has ended, so what you sent was not saved. Sign in, and you "
                                     "are taken back to the page you were on."),
                 "link": target, "typed": typed},
                status_code=401,
            )
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PasswordChangeNeeded)
    async def _change_password(request: Request, _: PasswordChangeNeeded) -> Response:
        target = "/account/password?next=" + quote(_gettable(app, _page_of(request)))
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Refused)
    async def _refused(request: Request, error: Refused) -> Response:
        return site.render(
            request, "error.html", {"headline": error.headline, "detail": error.detail}, status_code=error.status
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> Response:
        visit = request.scope.get("state", {}).get("visit")
        known = labels.HTTP_ERRORS.get(error.status_code)
        if visit is None or known is None or request.url.path.startswith("/api/"):
            # The API answers with problems of its own; static files have no visit (language, session) to draw with.
            return await http_exception_handler(request, error)
        headline, detail = known
        response = site.render(
            request, "error.html", {"headline": headline, "detail": detail}, status_code=error.status_code
        )
        response.headers.update(error.headers or {})  # a 405's Allow
        return response

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> Response:
        # The visitor left before their form arrived whole: nothing was read, so nothing was done, and nobody is
        # left to read an answer. Not a server error: no traceback in the log.
        return Response(status_code=400)

    async def _store_failed(request: Request, error: Exception) -> Response:
        _log.warning("the store failed on %s %s", request.method, request.url.path, exc_info=error)
        headline, detail = labels.STORE_FAILED
        if request.scope.get("state", {}).get("visit") is None:
            # Failed while the visit itself was read (its session, the read models' positions): no page to draw
            # with, but still the visitor's language and no traceback.
            t = i18n.translations(i18n.negotiate(request.headers.get("accept-language")))
            return PlainTextResponse(f"{t.gettext(headline)}\n{t.gettext(detail)}\n", status_code=503)
        return site.render(request, "error.html", {"headline": headline, "detail": detail}, status_code=503)

    for failure in STORE_FAILURES:
        app.add_exception_handler(failure, _store_failed)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, error: DomainError) -> Response:
        status, headline = labels.refusal(error)
        return site.render(
            request, "error.html", {"headline": headline, "engine_detail": error.message}, status_code=status
        )

    # --- signing in and out, language ------------------------------------------------------------------------------

    @app.get("/")
    def home(request: Request) -> Response:
        visit = _visit(request)
        if visit.pending is not None:
            return RedirectResponse("/account/password", status_code=303)
        return RedirectResponse("/work" if visit.person else "/sign-in", status_code=303)

    @app.get("/sign-in")
    def sign_in_page(request: Request, next: str = "") -> Response:
        return site.render(
            request, "sign_in.html", {"next": _gettable(app, _local_next(next, "/work")), "username": ""}
        )

    def registered_username(typed: str) -> str:
        """The username as registered of the person `typed` names in any case (people do not remember the case of
        theirs, and the engine refuses two that differ only so); else as typed, which then names no account."""
        try:
            return engine.person_by_username(typed).username
        except DomainError:
            return typed

    @app.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await _posted(request)
        username = _text(form, "username").strip()[:200]
        password = _text(form, "password")[:1000]
        target = _gettable(app, _local_next(_text(form, "next"), "/work"))
        address = request.client.host if request.client else "unknown"
        keys = (f"account:{username.casefold()}", f"address:{address}")
        brake = await run_in_threadpool(site.accounts.brake, *keys)
        context = {"next": target, "username": username}
        if brake.locked_until is not None:
            until = datetime.fromtimestamp(brake.locked_until).astimezone()
            return site.render(
                request, "sign_in.html", {**context, "locked_until": until}, status_code=429,
            )
        if brake.delay:
            await asyncio.sleep(brake.delay)
        username = await run_in_threadpool(registered_username, username)
        person_id = await run_in_threadpool(site.accounts.check_password, username, password)
        if person_id is None:
            await run_in_threadpool(site.accounts.failed, *keys)
            return site.render(request, "sign_in.html", {**context, "failed": True}, status_code=401)
        visit = _visit(request)
        today = site.today()
        person = await run_in_threadpool(engine.person, person_id)
        held = await run_in_threadpool(access_model.authorities, store, person_id, today)
        if not held and not person.grants_on(today):
            return site.render(request, "sign_in.html", {**context, "no_role": True}, status_code=403)
        await run_in_threadpool(site.accounts.succeeded, keys[0])
        # A new session id at sign-in: an id planted before it is worth nothing after.
        await run_in_threadpool(site.accounts.end_session, visit.session)
        if await run_in_threadpool(site.accounts.is_one_time, username):
            cookie, _ = await run_in_threadpool(
                site.accounts.new_pending_session, username, person_id, visit.session.locale
            )
            target = "/account/password?next=" + quote(target)
        else:
            cookie, _ = await run_in_threadpool(site.accounts.new_session, person_id, visit.session.locale)
        response = RedirectResponse(target, status_code=303)
        visit.new_cookie = cookie
        return response

    @app.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        await _posted(request)
        visit = _visit(request)
        await run_in_threadpool(site.accounts.end_session, visit.session)
        cookie, _ = await run_in_threadpool(site.accounts.new_session, None, visit.session.locale)
        visit.new_cookie = cookie
        return RedirectResponse("/sign-in", status_code=303)

    @app.post("/language")
    async def language(request: Request) -> Response:
        form = await _posted(request)
        locale = _text(form, "locale")
        if locale not in i18n.LOCALES:
            raise Refused(422, labels.N_("This language is not offered"))
        await run_in_threadpool(site.accounts.set_locale, _visit(request).session, locale)
        # A refusal is drawn at its form's action (POST only): back to the page above it, not to a 405.
        return RedirectResponse(_gettable(app, _local_next(_text(form, "back"), "/")), status_code=303)

    # --- My work ---------------------------------------------------------------------------------------------------

    def _work_key(visit: Visit, request: Request) -> tuple[Any, ...] | None:
        """My work's page cache key, or None when the page is not to be kept."""
        if site.work_pages is None or visit.person is None or visit.new_cookie is not None or not visit.read_models:
            return None
        # Everything the page is made from, each read before the page reads anything (web/page_cache.py): the
        # session (its CSRF token is in every form), who and as what, the language, the query string (the
        # language form sends it back), the day (overdue marks), the version of the person whose name the page
        # shows (the visit read it before the head), the log's head as the visit's read of the person left it
        # (any new event) and every read model's generation and position. The templates never change in a process.
        return (
            "work", visit.session.key, visit.session.csrf_token, visit.person.id, visit.person.version,
            tuple(visit.authorities), visit.locale, visit.today, request.scope["query_string"], visit.head,
            visit.read_models,
        )

    def cached_work(request: Request) -> Response | None:
        """My work as kept in the page cache, answered by the middleware in its own hop to the thread pool (see
        app.FAST_VIEWS); None, with the visit read and kept for the route, when the route must answer."""
        visit = visit_of(site, request)
        key = _work_key(visit, request)
        found = site.work_pages.get(key) if site.work_pages is not None and key is not None else None
        return _cached(request, found) if found is not None else None

    site.fast_views[("GET", "/work")] = cached_work

    @app.get("/work")
    def my_work(request: Request) -> Response:
        # The visit as the middleware read it (a cached page is answered there: app.FAST_VIEWS).
        visit = _signed_in_as(visit_of(site, request))
        # Read here rather than declared as a parameter: FastAPI's parameter machinery cost a cached view more than
        # its page cache look-up.
        q = request.query_params.get("q", "")
        assert visit.person is not None
        # Where the log stood when the visit read the person: no statement of its own (on PostgreSQL, a round
        # trip fewer per view).
        head = visit.head
        pages = site.work_pages
        key = _work_key(visit, request)
        # One connection and one look at the read models' generations for the whole page.
        with reading(store) as r:
            queues = access_model.queues(
                store, visit.person.id, visit.today, site.waiting_rules, limit=200, authorities=visit.authorities,
                reading=r,
            )
            recent = access_model.archive(store, visit.person.id, limit=20, reading=r)
            names = access_model.unit_names(r, {queue.unit_id for queue in queues})
            # Lists come from the read models: say so when they have not yet caught up with the log (after a start
            # on a large store, or a read model stopped by a failure), rather than show a stale list as if whole.
            behind, failed = site.side.behind(head, reading=r)
            q = q.strip()[:200]
            shown = []
            for queue in queues:
                items = [i for i in queue.items if not q or i18n.matches(q, i.unit_name, i.unit_code)]
                items.sort(key=lambda i: (i.deadline or date.max, i18n.vietnamese_key(i.unit_name)))
                meters: tuple[statistics_model.QuotaMeter, ...] = ()
                years = sorted({i.year for i in queue.items})
                if queue.role is Role.APPROVER:
                    meters = tuple(
                        m for year in years
                        for m in statistics_model.quota_meters(store, queue.unit_id, year, reading=r)
                    )
                shown.append({"queue": queue, "rows": items, "meters": meters, "years": years})
        response = site.render(
            request, "work.html",
            {
                "queues": shown, "names": names, "q": q, "on_behalf": _names_of(queues), "recent": recent,
                "behind": bool(behind), "failed": bool(failed),
            },
        )
        if key is None or pages is None or response.status_code != 200:
            return response
        page = pages.keep(key, bytes(response.body), response.media_type or "text/html")
        return _cached(request, page)

    def _cached(request: Request, page: CachedPage) -> Response:
        headers = {"ETag": page.etag}
        if page_cache.matches(request.headers.get("if-none-match"), page.etag):
            return Response(status_code=304, headers=headers)
        return Response(page.body, media_type=page.media_type, headers=headers)

    def _names_of(queues: list[access_model.Queue]) -> dict[UUID, str]:
        people = {q.on_behalf_of for q in queues if q.on_behalf_of is not None}
        return {pid: engine.person(pid).full_name for pid in people}

    # --- one dossier -----------------------------------------------------------------------------------------------

    def _dossier_context(visit: Visit, did: UUID, typed: Typed | None = None) -> dict[str, Any]:
        dossier = engine.dossier(did)
        unit = engine.unit(dossier.unit_id)
        if not can_view(site, visit, unit):
            raise NotAuthorized(N_("%(unit)s is outside the units your roles cover"), unit=unit.name)
        period = engine.period(dossier.year)
        actions = _actions(site, visit, did)
        rule_set = engine.rule_book.rule_set(dossier.rule_set_id)
        model = (
            engine.rule_book.recognition(dossier.recognition_model_id) if dossier.recognition_model_id else None
        )
        spec = form_spec(rule_set, model)
        quota = None
        if "approve" in actions:
            version = unit.as_of(period.end_date) or unit.current
            if version.parent_id is not None:
                quota = engine.quota(version.parent_id, dossier.year, unit.group)
        changes = dossier.changes_since_last_round() if dossier.round > 1 or dossier.submitted_content else None
        return {
            "dossier": dossier, "unit": unit, "period": period, "actions": actions, "spec": spec,
            "suggestion": _suggestion(did), "quota": quota, "changes": changes, "typed": typed or Typed(),
            "editable": "record_answers" in actions, "fact_value": fact_value, "title": title,
            "field_key": field_key, "field_errors": {},
            "levels": RATED_LEVELS, "grounds": list(NotRatedGround), "buttons": _buttons(actions),
            "unit_version": unit.as_of(visit.today) or unit.current,
        }

    def _suggestion(did: UUID) -> dict[str, Any]:
        try:
            evaluation, recognition, subordinates = engine.evaluate(did)
        except DomainError as error:
            return {"error": error.message}
        return {"evaluation": evaluation, "recognition": recognition, "subordinates": subordinates}

    def _buttons(actions: Mapping[str, tuple[Action, Actor]]) -> list[Action]:
        return [a for a, _ in actions.values() if a.trigger not in ("record_answers", "attach_evidence")]

    @app.get("/dossiers/{reference}")
    def dossier_page(request: Request, reference: str, done: str = "") -> Response:
        visit = _signed_in(request)
        did = _uuid(reference)
        as_of = request.query_params.get("as_of")
        if as_of is not None:
            # The dossier as it stood is shown by its history (as `show --as-of` and the API's as_of answer it):
            # this page, which shows it now, ignored the date and answered another question than the one asked.
            return RedirectResponse(f"/dossiers/{did}/history?{urlencode({'as_of': as_of})}", status_code=303)
        context = _dossier_context(visit, did)
        context["done"] = labels.DONE.get(done)
        return site.render(request, "dossier.html", context)

    def _refused_again(
        request: Request, visit: Visit, did: UUID, error: DomainError, typed: Typed
    ) -> Response:
        status, headline = labels.refusal(error)
        context = _dossier_context(visit, did, typed)
        # Said in the refused step's dialog when the page still offers it, else at the top of the page.
        in_dialog = typed.trigger in {a.trigger for a in context["buttons"]} and typed.trigger not in _PLAIN_STEPS
        context.update(
            refusal={"headline": headline, "detail": error.message, "stale": status == 409, "in_dialog": in_dialog}
        )
        return site.render(request, "dossier.html", context, status_code=status)

    @app.post("/dossiers/{reference}/answers")
    async def save_answers(request: Request, reference: str) -> Response:
        visit = _signed_in(request)
        did = _uuid(reference)
        form = await _posted(request)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        htmx = bool(request.headers.get("hx-request"))
        # The form saving itself (htmx as a field is left, or the beacon as the page closes) saves every field it
        # can and says, by each of the others, why not; the form's own button (without JavaScript) refuses the
        # whole form, as a save the person asked for, with what they typed kept.
        autosave = htmx or fields.get("autosave") == "1"
        refused: dict[str, InvalidInput] = {}

        def save() -> Receipt[Any]:
            dossier = engine.dossier(did)
            rule_set = engine.rule_book.rule_set(dossier.rule_set_id)
            model = (
                engine.rule_book.recognition(dossier.recognition_model_id) if dossier.recognition_model_id else None
            )
            if any(len(v) > MAX_FIELD for v in fields.values()):
                raise InvalidInput(N_("a field is longer than %(limit)s characters"), limit=Count(MAX_FIELD))
            actor = _actor_for(site, visit, did, "record_answers")
            if not autosave:
                answers, facts = read_form(form_spec(rule_set, model), fields, dossier.answers)
                return engine.record_answers(actor, did, answers=answers, facts=facts, expected_version=_version(form))
            answers, facts = read_form(form_spec(rule_set, model), fields, dossier.answers, refused)
            receipt = engine.record_valid_answers(
                actor, did, answers=answers, facts=facts, expected_version=_version(form)
            )
            refused.update((field_key("c", k), error) for k, error in receipt.value.answers.items())
            refused.update((field_key("f", k), error) for k, error in receipt.value.facts.items())
            return receipt

        try:
            receipt = await run_in_threadpool(save)
        except NotAuthorized:
            raise
        except DomainError as error:
            if isinstance(error, ConcurrencyConflict) and await run_in_threadpool(
                _nothing_to_save, visit, did, fields
            ):
                # Sent twice (a double click on Save, or a save on its way when the button was pressed): the
                # dossier already holds every answer sent, so nobody's change is in the way.
                receipt = None
            elif htmx:
                status, headline = labels.refusal(error)
                context = await run_in_threadpool(_dossier_context, visit, did, Typed("record_answers", fields))
                context["save_error"] = {"headline": headline, "detail": error.message, "stale": status == 409}
                return site.render(request, "dossier.html", context, blocks=["save_status"], status_code=status)
            else:
                return await run_in_threadpool(
                    _refused_again, request, visit, did, error, Typed("record_answers", fields)
                )
        await run_in_threadpool(_wait, site, receipt)
        if htmx:
            context = await run_in_threadpool(_dossier_context, visit, did)
            context.update(saved=True, after_save=True, field_errors=refused)
            # 422 when a field was left out: autosave.js then holds the way out of the page, as for a refused save.
            return site.render(
                request, "dossier.html", context, blocks=[*_AFTER_SAVE, "field_errors"],
                status_code=422 if refused else 200,
            )
        if refused:
            first = next(iter(refused.values()))
            return await run_in_threadpool(
                _refused_again, request, visit, did, first, Typed("record_answers", fields)
            )
        return RedirectResponse(f"/dossiers/{did}?done=record_answers", status_code=303)

    def _nothing_to_save(visit: Visit, did: UUID, fields: Mapping[str, str]) -> bool:
        if "record_answers" not in _actions(site, visit, did):
            return False  # no longer editable: the refusal says why
        dossier = engine.dossier(did)
        rule_set = engine.rule_book.rule_set(dossier.rule_set_id)
        model = engine.rule_book.recognition(dossier.recognition_model_id) if dossier.recognition_model_id else None
        try:
            answers, facts = read_form(form_spec(rule_set, model), fields, dossier.answers)
        except DomainError:
            return False
        return all(dossier.answers.get(k) == v for k, v in answers.items()) and all(
            dossier.facts.get(k) == v for k, v in facts.items()
        )

    @app.post("/dossiers/{reference}/evidence")
    async def attach(request: Request, reference: str) -> Response:
        visit = _signed_in(request)
        did = _uuid(reference)
        form = await _posted(request)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await run_in_threadpool(
                _refused_again, request, visit, did, InvalidInput(N_("choose a file to attach")),
                Typed("attach_evidence"),
            )
        # One byte past the limit is enough to refuse: an oversized file is never read whole.
        data = await upload.read(engine.evidence_policy.max_bytes + 1)
        name = filenames.uploaded_name(upload.filename)

        def attach_it() -> Receipt[str]:
            actor = _actor_for(site, visit, did, "attach_evidence")
            return engine.attach_evidence(actor, did, name=name, data=data, expected_version=_version(form))

        def attached_already() -> bool:
            # The same file sent twice (a double click on Attach): the one step since is this very attachment.
            event = _only_step_since(visit, did, form, "EvidenceAttached")
            return event is not None and event.evidence.sha256 == hashlib.sha256(data).hexdigest()

        try:
            receipt = await run_in_threadpool(attach_it)
        except NotAuthorized:
            raise
        except DomainError as error:
            twice = isinstance(error, ConcurrencyConflict | EvidenceRejected)
            if not (twice and await run_in_threadpool(attached_already)):
                return await run_in_threadpool(
                    _refused_again, request, visit, did, error, Typed("attach_evidence")
                )
            receipt = None
        await run_in_threadpool(_wait, site, receipt)
        return RedirectResponse(f"/dossiers/{did}?done=attach_evidence#evidence", status_code=303)

    @app.post("/dossiers/{reference}/evidence/{sha256}/remove")
    async def remove(request: Request, reference: str, sha256: str) -> Response:
        visit = _signed_in(request)
        did = _uuid(reference)
        form = await _posted(request)
        reason = _text(form, "reason")

        def remove_it() -> Receipt[None]:
            actor = _actor_for(site, visit, did, "attach_evidence")
            return engine.remove_evidence(actor, did, sha256=sha256, reason=reason, expected_version=_version(form))

        try:
            receipt = await run_in_threadpool(remove_it)
        except NotAuthorized:
            raise
        except DomainError as error:

            def removed_already() -> bool:
                # Sent twice (a double click without JavaScript): the one step since is this very removal.
                event = _only_step_since(visit, did, form, "EvidenceRemoved")
                return event is not None and event.sha256 == sha256 and event.reason.strip() == reason.strip()

            if not await run_in_threadpool(removed_already):
                typed = Typed(f"remove:{sha256}", {"reason": reason})
                return await run_in_threadpool(_refused_again, request, visit, did, error, typed)
            receipt = None
        await run_in_threadpool(_wait, site, receipt)
        return RedirectResponse(f"/dossiers/{did}?done=remove_evidence#evidence", status_code=303)

    @app.get("/dossiers/{reference}/evidence/{sha256}")
    def download(request: Request, reference: str, sha256: str) -> Response:
        visit = _signed_in(request)
        did = _uuid(reference)
        dossier = engine.dossier(did)
        if not can_view(site, visit, engine.unit(dossier.unit_id)):
            raise NotAuthorized(N_("this dossier is outside the units your roles cover"))
        evidence = dossier.evidence.get(sha256) or _ever_attached(did, sha256)
        if evidence is None:
            raise NotFound(N_("this dossier has no such file"))
        data = engine.blobs.get(sha256)
        return Response(
            data,
            media_type=evidence.media_type,
            headers={
                # A download, never rendered here: an HTML file attached as evidence cannot run as our page.
                "Content-Disposition": filenames.attachment(evidence.name),
                "Content-Security-Policy": "sandbox; default-src 'none'",
            },
        )

    def _ever_attached(did: UUID, sha256: str) -> Any:
        # A file removed since is still part of the dossier's history (the history page links to it).
        for event in engine.history(did):
            evidence = getattr(event, "evidence", None)
            if evidence is not None and getattr(evidence, "sha256", None) == sha256:
                return evidence
        return None

    @app.post("/dossiers/{reference}/act/{trigger}")
    async def act(request: Request, reference: str, trigger: str) -> Response:
        visit = _signed_in(request)
        did = _uuid(reference)
        form = await _posted(request)
        if trigger not in labels.TRIGGERS or trigger in ("record_answers", "attach_evidence", "remove_evidence"):
            raise NotFound(N_("no step '%(step)s'"), step=trigger[:40])
        typed = Typed(trigger, {k: v for k, v in form.items() if isinstance(v, str)})

        def run() -> Receipt[Any]:
            actor = _actor_for(site, visit, did, trigger)
            version = _version(form)
            reason = _text(form, "reason")
            level = _level(_text(form, "level"))
            if trigger in ("submit", "resubmit"):
                return engine.submit(actor, did, expected_version=version)
            if trigger == "withdraw":
                return engine.withdraw(actor, did, reason=reason, expected_version=version)
            if trigger == "restore":
                return engine.restore(actor, did, expected_version=version)
            if trigger == "endorse":
                return engine.endorse(
                    actor, did, level=level, note=_text(form, "note"), reason=reason, expected_version=version
                )
            if trigger == "return_to_unit":
                return engine.return_to_unit(actor, did, reason=reason, expected_version=version)
            if trigger == "approve":
                number, day = _act(form)
                return engine.approve(
                    actor, did, level=level, reason=reason, expected_version=version, act_number=number, act_date=day
                )
            if trigger == "return_to_committee":
                return engine.return_to_committee(actor, did, reason=reason, expected_version=version)
            if trigger == "mark_not_rated":
                ground_text = _text(form, "ground")
                ground = NotRatedGround(ground_text) if ground_text in {g.value for g in NotRatedGround} else None
                return engine.mark_not_rated(actor, did, reason=reason, ground=ground, expected_version=version)
            if trigger == "reopen":
                return engine.reopen(actor, did, legal_basis=_text(form, "legal_basis"), expected_version=version)
            raise NotFound(N_("no step '%(step)s'"), step=trigger[:40])

        def run_and_wait() -> None:
            # The command and the wait for the read models in one hand-over to the thread pool, not two.
            _wait(site, run())

        try:
            await run_in_threadpool(run_and_wait)
        except NotAuthorized:
            raise
        except DomainError as error:
            # Sent again, the step meets its own first sending: a stale version, or its act number taken by itself.
            if not await run_in_threadpool(_taken_already, visit, did, trigger, form):
                return await run_in_threadpool(_refused_again, request, visit, did, error, typed)
        return RedirectResponse(f"/dossiers/{did}?done={trigger}", status_code=303)

    def _only_step_since(visit: Visit, did: UUID, form: FormData, event_name: str, field: str = "version") -> Any:
        """The one event recorded on the dossier since the version the form carries (in `field`), if it is an
        `event_name` this person recorded; else None."""
        raw = _text(form, field).strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) < 10) or visit.person is None:
            return None
        version = int(raw)
        since = list(engine.events.get(did, gt=version, limit=2))
        if len(since) != 1 or type(since[0]).__name__ != event_name:
            return None
        actor = getattr(since[0], "actor", None)
        return since[0] if actor is not None and actor.person_id == visit.person.id else None

    def _taken_already(visit: Visit, did: UUID, trigger: str, form: FormData) -> bool:
        """Whether the one step recorded on the dossier since the form's version is this very step, taken by this
        person with what this form says: the same form sent twice (a double click while the page was on its way,
        the back button then sending again). That is answered as done, not as "someone else changed this dossier
        first", which sent people looking for a colleague who had done nothing."""
        event = _only_step_since(visit, did, form, _STEP_EVENTS.get(trigger, ""))
        if event is None:
            return False
        for name in _STEP_FIELDS:
            sent = _text(form, name).strip()
            recorded = getattr(event, name, None)
            recorded = getattr(recorded, "value", recorded)  # a classification by its value
            if sent and recorded is not None and str(recorded).strip() != sent:
                return False
        number = _text(form, "act_number").strip()
        act = getattr(event, "act", None)
        return not number or (act is not None and act.number == number)

    # --- the approver's decision list -----------------------------------------------------------------------------

    def _superior_id(text: str) -> UUID:
        # The page's links name the superior by its id; a code typed into the address names it too. Either way
        # a wrong one is "no unit", not "no dossier".
        try:
            return UUID(text)
        except ValueError:
            return engine.unit_by_code(text[:100]).id

    def _decision_context(visit: Visit, superior_id: UUID, year: int) -> dict[str, Any]:
        superior = engine.unit(superior_id)
        if not any(a.role is Role.APPROVER and a.unit_id == superior_id for a in visit.authorities):
            raise NotAuthorized(
                N_("deciding the units directly below %(unit)s needs the approver role over it"), unit=superior.name
            )
        period = engine.period(year)
        rows: list[dict[str, Any]] = [
            {"dossier": dossier, "unit": unit, "name": (unit.as_of(period.end_date) or unit.current).name}
            for unit, dossier in engine.decision_candidates(superior, year)
        ]
        rows.sort(key=lambda r: (r["unit"].group, i18n.vietnamese_key(r["name"])))
        groups = sorted({r["unit"].group for r in rows} | {m.group for m in _meters(superior_id, year)})
        meters = {g: engine.quota(superior_id, year, g) for g in groups}
        return {"superior": superior, "year": year, "rows": rows, "meters": meters, "levels": RATED_LEVELS}

    def _meters(superior_id: UUID, year: int) -> tuple[statistics_model.QuotaMeter, ...]:
        return statistics_model.quota_meters(store, superior_id, year)

    @app.get("/decisions/{superior}/{year}")
    def decisions_page(request: Request, superior: str, year: str, done: str = "") -> Response:
        visit = _signed_in(request)
        context = _decision_context(visit, _superior_id(superior), _year_of(year))
        context["done"] = labels.DONE.get(done)
        return site.render(request, "decisions.html", context)

    @app.post("/decisions/{superior}/{year}")
    async def decide(request: Request, superior: str, year: str) -> Response:
        visit = _signed_in(request)
        period_year = _year_of(year)
        superior_id = await run_in_threadpool(_superior_id, superior)
        form = await _posted(request)
        typed = typed_from("decide_list", form)

        def run() -> Receipt[Any]:
            chosen = [v for v in form.getlist("dossier") if isinstance(v, str)]
            if not chosen:
                raise InvalidInput(N_("tick at least one dossier to decide"))
            requests = []
            for raw in chosen[:1000]:
                did = _uuid(raw)
                version = _text(form, f"version.{did}")
                requests.append(
                    DecisionRequest(
                        did, _level(_text(form, f"level.{did}")), _text(form, f"reason.{did}"),
                        int(version) if version.isascii() and version.isdigit() and len(version) < 10 else None,
                    )
                )
            approver = next(
                (a for a in visit.actors() if a.role is Role.APPROVER and a.unit_id == superior_id), None
            )
            if approver is None:
                raise NotAuthorized(N_("deciding these units needs the approver role over their superior"))
            number, day = _act(form)
            return engine.decide_list(approver, requests, act_number=number, act_date=day)

        def decided_already() -> bool:
            # The same list sent twice (a double click, the back button): each dossier ticked has been decided by
            # this person since its version, at the level asked, under the act named, and nothing else.
            chosen = [v for v in form.getlist("dossier") if isinstance(v, str)]
            number = _text(form, "act_number").strip()
            for raw in chosen[:1000]:
                try:
                    did = UUID(raw)
                except ValueError:
                    return False
                event = _only_step_since(visit, did, form, "Approved", f"version.{did}")
                level = _text(form, f"level.{did}")
                if event is None or (level and event.level.value != level):
                    return False
                if number and (event.act is None or event.act.number != number):
                    return False
            return bool(chosen)

        try:
            receipt = await run_in_threadpool(run)
        except NotAuthorized:
            raise
        except DomainError as error:
            if await run_in_threadpool(decided_already):
                return RedirectResponse(f"/decisions/{superior_id}/{period_year}?done=decide_list", status_code=303)
            status, headline = labels.refusal(error)
            context = await run_in_threadpool(_decision_context, visit, superior_id, period_year)
            context.update(typed=typed, refusal={"headline": headline, "detail": error.message})
            return site.render(request, "decisions.html", context, status_code=status)
        await run_in_threadpool(_wait, site, receipt)
        return RedirectResponse(f"/decisions/{superior_id}/{period_year}?done=decide_list", status_code=303)

    # --- history and the dossier as it was -------------------------------------------------------------------------

    @app.get("/dossiers/{reference}/history")
    def history(request: Request, reference: str, as_of: str = "") -> Response:
        visit = _signed_in(request)
        did = _uuid(reference)
        dossier = engine.dossier(did)
        unit = engine.unit(dossier.unit_id)
        if not can_view(site, visit, unit):
            raise NotAuthorized(N_("%(unit)s is outside the units your roles cover"), unit=unit.name)
        trail = audit_model.audit_trail(store, dossier_id=did, limit=1000)
        unit_ids = {r.role_unit_id for r in trail.rows if r.role_unit_id}
        context: dict[str, Any] = {
            "dossier": dossier, "unit": unit, "trail": trail, "chain": site.chain.verdict,
            "names": units_model.unit_names(store, unit_ids), "as_of": as_of,
        }
        if as_of:
            day = _day(as_of)
            try:
                then: Dossier | None = engine.dossier_as_of(did, day)
            except NotFound:
                then = None
            path = [*reversed(units_model.ancestors_as_of(store, unit.id, day))]
            versions = {u: units_model.version_as_of(store, u, day) for u in [*path, unit.id]}
            rule_set = engine.rule_book.rule_set(dossier.rule_set_id)
            model = (
                engine.rule_book.recognition(dossier.recognition_model_id) if dossier.recognition_model_id else None
            )
            # The answers then are named as the form names them, in the reader's language, not by their keys.
            criteria = {c.id: title(owner, c, visit.locale) for owner, c in form_spec(rule_set, model).criteria}
            context.update(then=then, day=day, path=path, versions=versions, criteria=criteria)
        return site.render(request, "history.html", context)


def _day(text: str) -> date:
    try:
        if not text.isascii():
            raise ValueError(text)
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(N_("'%(text)s' is not a date (YYYY-MM-DD)"), text=text[:40]) from None
    return within_calendar(day)


def _act(form: FormData) -> tuple[str, date | None]:
    """The act's number and date as the form gives them (both may be empty: the engine says what is missing)."""
    day = _text(form, "act_date").strip()
    return _text(form, "act_number"), _day(day) if day else None


def _level(text: str) -> Classification | None:
    if not text:
        return None
    try:
        return Classification(text)
    except ValueError:
        raise InvalidInput(N_("'%(text)s' is not a classification"), text=text[:40]) from None
