"""The web application: FastAPI, server-rendered Jinja2 pages, htmx fragments through jinja2-fragments.

It adds no business rule: every page asks the engine what this person may do, every action is an engine command,
and lists come from the read models. `create_app` takes a ready engine and read side (the tests build their own);
`app_from_settings` wires them from the environment for `dossierflow serve`.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import json
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import urlsplit

import psycopg
from anyio import to_thread
from babel.support import Translations
from eventsourcing import persistence as es_persistence
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup
from sqlalchemy import exc as sqlalchemy_exc
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from domain.actor import Actor
from domain.errors import InvalidInput
from domain.messages import N_, Count, Message
from domain.person import Person
from domain.values import Answer, Classification, Role
from projections.models import access as access_model
from projections.models.access import AccessProjection
from projections.reading import positions, reading, snapshot_of
from projections.readside import ReadSide
from web import i18n, labels, page_cache, sentences
from web.accounts import Accounts, PendingChange, Session, session_key
from web.chain import ChainWatch, SharedVerdict
from web.lagging import lagging
from web.visit_reads import VisitReads
from workflow.clock import local_date
from workflow.engine import Engine
from workflow.spec import CURRENT_VERSION, spec_for, waiting_rule_tuples
from workflow.store import SigningKeyError, StoreUnavailable
from workflow.store.chain import ChainWriteRefused

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "dossierflow_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# No script but our own files, no inline script or style, no framing, forms only to ourselves.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# A store that cannot answer now (a lock held too long, a server gone, a pool exhausted) or will not write (its
# signing key unreadable, its chain shorter than the head it signed): 503 on the pages and in the API, logged for
# the operator; nothing was changed (a command's save is one transaction). Anything else that escapes is a defect
# and stays a 500 with its traceback in the log.
STORE_FAILURES = (
    es_persistence.OperationalError, es_persistence.InterfaceError, es_persistence.ConnectionUnavailableError,
    sqlalchemy_exc.OperationalError, sqlalchemy_exc.InterfaceError, sqlalchemy_exc.TimeoutError,
    sqlite3.OperationalError, psycopg.OperationalError, StoreUnavailable, SigningKeyError, ChainWriteRefused,
)


# Threads per process for blocking work (see create_app): a few keep the cores busy while some wait on the database.
DEFAULT_THREADS = 8

# Pages answered from a cache of rendered pages (My work: web/page_cache.py) where the middleware reads the visit:
# a view found there is answered in that one hand-over to the thread pool, without FastAPI's routing, dependency
# solving and hand-over of its own (together as much CPU as the rest of a cached view on PostgreSQL). Each is a
# function of Site.fast_views (method, path) → the page as kept, or None: the visit it read is kept in the request's
# state, and the route answers as any other. Registered by the routes (web/routes.py).
FastView = Callable[[Request], Response | None]


@dataclass
class Visit:
    """Who is asking, in which language, with which session: what every page and action starts from."""

    session: Session
    locale: str
    translations: Translations
    formats: i18n.Formats
    today: date
    person: Person | None = None
    authorities: list[access_model.Authority] = field(default_factory=list)
    new_cookie: str | None = None
    # Where the read models stood when the visit read the person's authorities (Reading.snapshot): a page cache
    # key's part, read before anything the page shows.
    read_models: tuple[Any, ...] = ()
    # Signed in with a one-time password: only the change-password form is open to them.
    pending: PendingChange | None = None
    # The log's head as the engine's cache knew it once the person was read (that read, a use case's first, brought
    # the cache up to the head): a page cache key's part, read before anything the page shows. 0 when signed out.
    head: int = 0

    def gettext(self, message: str) -> str:
        return str(self.translations.gettext(message))

    def actors(self) -> list[Actor]:
        assert self.person is not None
        return [
            Actor(self.person.id, a.role, a.unit_id, a.holder_id if a.delegation_id is not None else None)
            for a in self.authorities
        ]

    def roles(self) -> set[Role]:
        return {a.role for a in self.authorities}


class Site:
    """Everything the routes share: the engine, the read side, accounts, templates, the chain badge."""

    def __init__(
        self,
        engine: Engine,
        side: ReadSide,
        accounts: Accounts,
        *,
        secure_cookies: bool = False,
        wait_seconds: float = 5.0,
        chain: ChainWatch | None = None,
        threads: int = DEFAULT_THREADS,
        page_cache_entries: int = page_cache.DEFAULT_ENTRIES,
    ) -> None:
        self.engine = engine
        self.side = side
        self.accounts = accounts
        self.secure_cookies = secure_cookies
        self.wait_seconds = wait_seconds
        self.threads = threads
        self.chain = chain or ChainWatch(engine, shared=SharedVerdict(accounts.engine))
        # Called when the application stops: the read side's runner, the engine's connections.
        self.on_close: list[Callable[[], None]] = []
        # Each visit's session, log head and read-model positions in one statement, where one database holds them.
        self.visit_reads = VisitReads.on(engine, side.store, accounts)
        if self.visit_reads is not None:
            self.on_close.append(self.visit_reads.close)
        # My work's rendered pages (None: every view rendered afresh); see web/page_cache.py for what keys them.
        self.work_pages = page_cache.PageCache(page_cache_entries) if page_cache_entries > 0 else None
        self.fast_views: dict[tuple[str, str], FastView] = {}
        # A person's authorities on a day, by where the access read model stood: every page's visit asks them.
        self.authorities: page_cache.Bounded[tuple[access_model.Authority, ...]] = page_cache.Bounded(4096, 4096)
        self.waiting_rules = access_model.waiting_rules_from(waiting_rule_tuples(spec_for(CURRENT_VERSION)))
        env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            # The templates ship with the app: asking the file system on every render whether one changed cost a
            # twentieth of a page.
            auto_reload=False,
        )
        env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
        # The same "newstyle" gettext, remembering each translated string (a page asks for forty), and `_` calling
        # it directly rather than through the extension's alias.
        env.globals.update(gettext=_page_gettext, _=_page_gettext)
        env.filters.update(answer_text=_answer_text, as_moment=_as_moment, pretty=_pretty)
        env.globals.update(
            state_badge=_state_badge, level_name=_level_name, group_name=_group_name, media_name=_media_name, say=_say
        )
        self.templates = Jinja2Blocks(env=env)

    def today(self) -> date:
        return local_date(self.engine.clock())

    def render(
        self, request: Request, name: str, context: dict[str, Any], *, status_code: int = 200,
        block: str | None = None, blocks: list[str] | None = None,
    ) -> Response:
        visit: Visit = request.state.visit
        context = {
            "visit": visit, "t": visit.translations, "fmt": visit.formats, "csrf_token": visit.session.csrf_token,
            "locales": i18n.LOCALE_NAMES, "person": visit.person, "labels": labels,
            # A whole page only: a fragment swapped into one already has its banner.
            "lagging": lagging(self.side, visit) if not (block or blocks) else [], **context,
        }
        if blocks:
            return self.templates.TemplateResponse(request, name, context, status_code=status_code, block_names=blocks)
        if block:
            return self.templates.TemplateResponse(request, name, context, status_code=status_code, block_name=block)
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


def _answer_text(
    answer: Answer | Mapping[str, Any] | None, t: Translations, fmt: i18n.Formats | None = None
) -> str:
    """One answer in a line: its grade, points (in the locale's way when `fmt` is given) or met, the sub-items
    met, and the comment."""
    if answer is None:
        return "—"
    if isinstance(answer, Answer):
        answer = {
            "grade": answer.grade.value if answer.grade else None, "points": answer.points, "met": answer.met,
            "sub_items": answer.sub_items, "comment": answer.comment,
        }
    parts = []
    if answer.get("grade"):
        parts.append(t.gettext(labels.GRADES.get(str(answer["grade"]), str(answer["grade"]))))
    if answer.get("points") is not None:
        parts.append(fmt.number(answer["points"]) if fmt is not None else str(answer["points"]))
    if answer.get("met") is not None:
        parts.append(t.gettext("Met") if answer["met"] else t.gettext("Not met"))
    subs = answer.get("sub_items") or {}
    if subs:
        parts.append(f"{sum(bool(v) for v in subs.values())}/{len(subs)}")
    comment = str(answer.get("comment") or "")
    if comment:
        parts.append(f"“{comment if len(comment) <= 120 else comment[:120] + '…'}”")
    return " · ".join(parts) or "—"


def _as_moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str, sort_keys=True)


# Every row of a list carries a state's badge: each is made once per language (the catalogs are made once too).
_BADGES: dict[tuple[str, str], Markup] = {}


@pass_context
def _state_badge(context: Context, state: str) -> Markup:
    visit = context.get("visit")
    key = (visit.locale if isinstance(visit, Visit) else "", state)
    badge = _BADGES.get(key) if key[0] else None
    if badge is None:
        label = context["t"].gettext(labels.STATES.get(state, state))
        badge = Markup('<span class="state state-{}">{}</span>').format(state, label)
        if key[0]:
            _BADGES[key] = badge
    return badge


@pass_context
def _level_name(context: Context, level: Classification | str | None) -> str:
    if level is None:
        return ""
    value = level.value if isinstance(level, Classification) else str(level)
    return str(context["t"].gettext(labels.LEVELS.get(value, value)))


@pass_context
def _media_name(context: Context, media_type: str) -> str:
    """An evidence file's type by the name people know it by (PDF, Word (DOCX)); a type the app does not name, as
    recorded."""
    label = labels.MEDIA_TYPES.get(media_type)
    return str(context["t"].gettext(label)) if label else media_type


@pass_context
def _group_name(context: Context, group: str | None) -> str:
    """A quota group by its translated name; a name an administrator typed that the app does not know, as typed."""
    if not group:
        return "—"
    label = labels.group_label(group)
    return str(context["t"].gettext(label)) if label else group


@pass_context
def _say(context: Context, message: Message | str) -> str:
    """An engine sentence (a refusal's detail, a line of the rules' explanation) in the page's language."""
    return sentences.say(message, context["t"], context["fmt"])


@pass_context
def _gettext(context: Context, message: str) -> str:
    return str(context["t"].gettext(message))


# (catalog, autoescaped, msgid) → the text as the template puts it: bounded by the msgids the templates name (capped
# in case a template ever translated free text).
_TRANSLATED: dict[tuple[Translations, bool, str], str] = {}
_TRANSLATED_MOST = 20_000


@pass_context
def _page_gettext(context: Context, string: str, /, **variables: Any) -> str:
    """Jinja's newstyle gettext (the text is a %-format even without variables; escaped when autoescaping), with
    the text of a msgid without variables made once per catalog."""
    translations: Translations = context["t"]
    escaped = bool(context.eval_ctx.autoescape)
    if variables:
        text = str(translations.gettext(string))
        return (Markup(text) if escaped else text) % variables
    key = (translations, escaped, string)
    found = _TRANSLATED.get(key)
    if found is None:
        text = str(translations.gettext(string))
        found = (Markup(text) if escaped else text) % {}
        if len(_TRANSLATED) < _TRANSLATED_MOST:
            _TRANSLATED[key] = found
    return found


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(context["t"].ngettext(singular, plural, n))


def _same_origin(request: Request) -> bool:
    """An unsafe request must come from our own pages: its Origin (or, without one, its Referer) names this host."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        # Old browsers and non-browser clients send neither; the CSRF token still has to match.
        return True
    if source == "null":
        return False
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    return parts.netloc == host


def _takes_many(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    return origin in (list, set, frozenset, tuple) or annotation in (list, set, frozenset, tuple)


def _many_valued(dependant: Any) -> set[str]:
    names = {str(f.alias) for f in dependant.query_params if _takes_many(f.field_info.annotation)}
    for sub in dependant.dependencies:
        names |= _many_valued(sub)
    return names


async def one_value_each(request: Request) -> None:
    """Refuse a query parameter given twice unless the route takes a list of it: `?year=2024&year=2025` read as
    one of the two would answer, without a word, another question than the one asked. Async, though it awaits
    nothing: FastAPI runs a plain function dependency in the thread pool, a hand-over on every request."""
    # Counted in one pass: a query string of many thousand names costs no more than reading it.
    counts = collections.Counter(name for name, _ in request.query_params.multi_items())
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if not repeated:
        return
    route = request.scope.get("route")
    many = _many_valued(route.dependant) if route is not None and hasattr(route, "dependant") else set()
    for name in repeated:
        if name not in many:
            raise InvalidInput(N_("'%(name)s' is given %(count)s times; it takes one value"), name=name[:40],
                               count=Count(counts[name]))


def create_app(site: Site, *, run_background: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Every blocking call of a request (sync routes, run_in_threadpool) takes a token of this limiter. anyio's 40
        # threads only contend for the GIL: past a few, a request's CPU time grows and none finishes sooner.
        to_thread.current_default_thread_limiter().total_tokens = site.threads
        if run_background:
            site.chain.start()
            # What is loaded by now (modules, templates, the engine's cache of aggregates) lives as long as the
            # process: out of the collector's sight, the full collections a stream of requests sets off no longer
            # walk it all (a tenth of a My work page's CPU on a small store, more on a large one).
            gc.freeze()
        try:
            yield
        finally:
            if run_background:
                site.chain.stop()
            for close in site.on_close:
                close()

    # Every route, page and API alike, runs `one_value_each` before its own parameters are read.
    app = FastAPI(title="dossierflow", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
                  dependencies=[Depends(one_value_each)])
    app.state.site = site
    app.add_middleware(VisitMiddleware, site=site)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        # The trivial endpoint: the load benchmark's yardstick, and a liveness probe.
        return JSONResponse({"ok": True})

    # The routes need the app's helpers above; imported here to keep one module per concern.
    from web import admin, api, oversight, password, reports, routes

    routes.register(app, site)
    admin.register(app, site)  # the administration pages, and the workflow page (web/workflow_page.py)
    password.register(app, site)  # choosing one's own password after a one-time one
    api.register(app, site)
    reports.register(app, site)
    oversight.register(app, site)  # the units tree, the dashboard and the audit pages
    return app


class VisitMiddleware:
    """Who is asking (the visit, read in the thread pool: it reads the sessions and the read models), and the
    security headers and the session cookie on every answer. Pure ASGI: Starlette's BaseHTTPMiddleware would
    run the database work on the event loop and wrap every response in a stream of its own."""

    def __init__(self, app: ASGIApp, site: Site) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        visit: Visit | None = None
        fast: Response | None = None
        # The API authenticates by bearer token alone and has no use for a session (nor should it make one).
        if not path.startswith(("/static/", "/api/")) and path not in ("/healthz", "/openapi.json"):
            view = self.site.fast_views.get((scope["method"], path))
            request = Request(scope)
            if view is None:
                visit = await to_thread.run_sync(_visit, self.site, request)
                scope.setdefault("state", {})["visit"] = visit
            else:
                with contextlib.suppress(Exception):
                    # A failure (the database gone) is met again by the route, where the error pages answer it.
                    fast = await to_thread.run_sync(view, request)
                visit = scope.get("state", {}).get("visit")
        secure = self.site.secure_cookies or scope.get("scheme") == "https"

        async def send_with_headers(message: ASGIMessage) -> None:
            nonlocal visit
            if message["type"] == "http.response.start":
                if visit is None:
                    # Read by the route (visit_of) before it answered, refusals included.
                    visit = scope.get("state", {}).get("visit")
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                headers["X-Content-Type-Options"] = "nosniff"
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                if visit is not None:
                    headers.setdefault("Cache-Control", "no-store")
                    headers["Vary"] = "Cookie, Accept-Language"
                    # Read now, not before the route ran: signing in and out hand out a new session.
                    if visit.new_cookie is not None:
                        headers.append("Set-Cookie", _session_cookie(visit.new_cookie, secure))
            await send(message)

        if fast is not None:
            await fast(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _session_cookie(value: str, secure: bool) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[SESSION_COOKIE] = value
    morsel = cookie[SESSION_COOKIE]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "lax"
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


def visit_of(site: Site, request: Request) -> Visit:
    """The request's visit: the middleware's, or read here (by a fast view, or by the route when it failed), in the
    caller's (worker) thread, and kept for the exception handlers and the middleware's headers and cookie."""
    state = request.scope.setdefault("state", {})
    visit: Visit | None = state.get("visit")
    if visit is None:
        visit = _visit(site, request)
        state["visit"] = visit
    return visit


def _visit(site: Site, request: Request) -> Visit:
    accounts = site.accounts
    cookie = request.cookies.get(SESSION_COOKIE)
    key = session_key(cookie)
    # On PostgreSQL, the session, the log's head and the read models' positions in one round trip (see
    # web/visit_reads.py); each on its own otherwise.
    read = site.visit_reads.read(key) if site.visit_reads is not None and key is not None else None
    session = accounts.session_of(key, read.session) if read is not None and key is not None else None
    if read is None:
        session = accounts.session(cookie)
    new_cookie = None
    if session is None:
        new_cookie, session = accounts.new_session(locale=None)
    locale = session.locale or i18n.negotiate(request.headers.get("accept-language"))
    today = site.today()
    visit = Visit(session, locale, i18n.translations(locale), i18n.formats(locale), today, new_cookie=new_cookie)
    if session.person_id is None:
        if new_cookie is None:
            visit.pending = accounts.pending_change(session)
    else:
        if read is not None:
            # The head read with the session: when the cache has heard of it, the person is read without a query.
            with site.engine.cache.known_head(read.head):
                person = site.engine.person(session.person_id)
            where = read.positions
        else:
            person = site.engine.person(session.person_id)
            # Where the read models stand, in one statement, after the person (whose read brought the cache up to
            # the log's head).
            where = positions(site.side.store)
        visit.head = site.engine.cache.seen
        # Most visits need nothing more of the read models (their person's authorities are kept by these
        # positions), and a page reads its lists after this, so never older.
        visit.read_models = snapshot_of(where)
        # The access read model's generation and position (failed or not) as it stood: any grant, revocation
        # or delegation applied since, or a rebuild, gives another key.
        access = next((m for m in visit.read_models if m[0] == AccessProjection.name), None)
        # Before its first page the access read model has no position to key on.
        known = (person.id, today, access) if access is not None and access[2] is not None else None
        kept = site.authorities.get(known) if known is not None else None
        if kept is None:
            with reading(site.side.store, known=where) as r:
                kept = tuple(access_model.authorities(site.side.store, person.id, today, reading=r))
            if known is not None:
                site.authorities.put(known, kept)
        authorities = list(kept)
        if not authorities and not person.grants_on(today):
            # Every role of theirs has ended (revoked, expired): so has their session.
            accounts.end_sessions_of(person.id)
            visit.new_cookie, visit.session = accounts.new_session(locale=session.locale)
        else:
            visit.person = person
            visit.authorities = authorities
    return visit


def check_csrf(request: Request, form_token: str | None, expected: str | None = None) -> bool:
    """Whether the form comes from our own pages with the token of the visit's session (or `expected`, another
    session's: one just ended, web/password.py)."""
    visit: Visit = request.state.visit
    token = request.headers.get(CSRF_HEADER) or form_token or ""
    wanted = visit.session.csrf_token if expected is None else expected
    return _same_origin(request) and secrets.compare_digest(token.encode(), wanted.encode())
