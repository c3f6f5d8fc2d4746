"""The JSON API under /api/v1, and its OpenAPI document at /openapi.json.

Callers prove who they are with a bearer token (`dossierflow token create`); the engine decides what they may do
from the token's person's grants valid at the moment of the call, as it does for the pages. The session cookie of
the pages is not accepted here: a call carrying only the cookie is answered 401, so that no page of another site can
make a signed-in browser act through the API, and the API needs no CSRF token.

Refusals are JSON (`Problem`) with the status the pages use: 401 no valid token, 403 not allowed, 404 unknown,
409 stale version or a step not possible in this state, 413 too large, 422 bad input. They are mapped in one place,
the route class below, which only the API's routes use: the pages keep their HTML error pages.
"""

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, File, Header, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Message

from domain.actor import Actor
from domain.errors import DomainError, InvalidInput, NotAuthorized, NotFound
from domain.messages import Count, Series
from domain.messages import Message as Sentence
from domain.person import Person
from domain.unit import Unit
from domain.values import Answer, DossierState, Grade, Role
from projections.models import access as access_model
from projections.models import audit as audit_model
from projections.models import dossiers as dossiers_model
from projections.models import statistics as statistics_model
from projections.models import units as units_model
from web import api_models as m
from web import filenames, i18n, labels, sentences
from web.app import STORE_FAILURES, Site
from web.forms import plain_decimal
from web.tokens import Tokens
from workflow.authorization import ancestors
from workflow.clock import EARLIEST, LATEST, VIETNAM, end_of_day, start_of_day
from workflow.engine import DecisionRequest, Receipt
from workflow.spec import spec_for

N_ = labels.N_
PREFIX = "/api/v1"
# A JSON body larger than this is refused before it is read whole; an evidence upload may be as large as the
# engine's limit on a file, plus room for the multipart framing.
MAX_JSON_BODY = 1024 * 1024
# The audit trail's matches are counted this far past the page asked for; beyond it the count is a lower bound.
AUDIT_COUNT_LIMIT = 10_000
_MULTIPART_ROOM = 64 * 1024

_TITLES = {
    401: N_("A valid API token is needed"),
    403: N_("You may not do this"),
    404: N_("Not found"),
    405: N_("This method is not offered here"),
    409: N_("This conflicts with the dossier's present state"),
    413: N_("The request is too large"),
    422: N_("Something in the request is not valid"),
    503: N_("The store is unavailable; try again"),
}


class Refusal(Exception):
    """A refusal of the API's own (not the engine's): answered as a Problem with this status."""

    def __init__(self, status: int, template: str, headers: dict[str, str] | None = None, /,
                 **params: object) -> None:
        # A template and its values, as the engine's refusals: the detail is said in the caller's language.
        self.message = Sentence(template, **params)
        super().__init__(str(self.message))
        self.status, self.headers = status, headers or {}


class _TooLarge(HTTPException):
    # An HTTPException, so that FastAPI lets it through its body parsing unchanged (anything else becomes a 400).
    def __init__(self, limit: int) -> None:
        self.message = Sentence(N_("the request body is larger than %(limit)s bytes"), limit=Count(limit))
        super().__init__(413, str(self.message))


def _problem(request: Request, status: int, title: str, detail: str, errors: Sequence[m.ProblemItem] = (),
             headers: dict[str, str] | None = None) -> JSONResponse:
    translations = i18n.translations(i18n.negotiate(request.headers.get("accept-language")))
    body = m.Problem(status=status, title=str(translations.gettext(title)), detail=detail, errors=list(errors))
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


def _said(request: Request, message: Sentence) -> str:
    locale = i18n.negotiate(request.headers.get("accept-language"))
    return sentences.say(message, i18n.translations(locale), i18n.Formats(locale))


# Pydantic's error types (stable across its versions, unlike its English messages) said in the caller's language.
# The type itself is kept in each item's `kind`, for programs.
_VALIDATION_TEMPLATES = {
    "missing": N_("this value is required"),
    "int_parsing": N_("'%(input)s' is not a whole number"),
    "int_type": N_("'%(input)s' is not a whole number"),
    "int_from_float": N_("'%(input)s' is not a whole number"),
    "float_parsing": N_("'%(input)s' is not a number"),
    "float_type": N_("'%(input)s' is not a number"),
    "decimal_parsing": N_("'%(input)s' is not a number"),
    "decimal_type": N_("'%(input)s' is not a number"),
    "greater_than_equal": N_("must be %(limit)s or more"),
    "greater_than": N_("must be more than %(limit)s"),
    "less_than_equal": N_("must be %(limit)s or less"),
    "less_than": N_("must be less than %(limit)s"),
    "string_too_short": N_("the number of characters must be at least %(limit)s"),
    "string_too_long": N_("the number of characters must be at most %(limit)s"),
    "too_short": N_("the number of items must be at least %(limit)s"),
    "too_long": N_("the number of items must be at most %(limit)s"),
    "string_pattern_mismatch": N_("'%(input)s' is not of the expected form (%(pattern)s)"),
    "enum": N_("'%(input)s' is not one of: %(expected)s"),
    "literal_error": N_("'%(input)s' is not one of: %(expected)s"),
    "bool_parsing": N_("'%(input)s' is neither true nor false"),
    "bool_type": N_("'%(input)s' is neither true nor false"),
    "uuid_parsing": N_("'%(input)s' is not an id (UUID)"),
    "uuid_type": N_("'%(input)s' is not an id (UUID)"),
    "date_parsing": N_("'%(input)s' is not a date like 2024-12-31"),
    "date_type": N_("'%(input)s' is not a date like 2024-12-31"),
    "date_from_datetime_parsing": N_("'%(input)s' is not a date like 2024-12-31"),
    "datetime_parsing": N_("'%(input)s' is not a date-time like 2024-11-30T17:00:00+07:00"),
    "datetime_type": N_("'%(input)s' is not a date-time like 2024-11-30T17:00:00+07:00"),
    "string_type": N_("must be text"),
    "dict_type": N_("must be a JSON object"),
    "model_type": N_("must be a JSON object"),
    "model_attributes_type": N_("must be a JSON object"),
    "list_type": N_("must be a list"),
    "json_invalid": N_("the body is not valid JSON"),
    "extra_forbidden": N_("this operation takes no such field"),
    "finite_number": N_("'%(input)s' is not a finite number"),
    "decimal_max_digits": N_("the number of digits must be at most %(limit)s"),
    "decimal_max_places": N_("the number of digits after the decimal point must be at most %(limit)s"),
    "decimal_whole_digits": N_("the number of digits before the decimal point must be at most %(limit)s"),
}
_INVALID = N_("this value is not valid")
_LIMITS = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le", "less_than": "lt",
           "string_too_short": "min_length", "string_too_long": "max_length", "too_short": "min_length",
           "too_long": "max_length", "decimal_max_digits": "max_digits", "decimal_max_places": "decimal_places",
           "decimal_whole_digits": "whole_digits"}


def _shown(value: object) -> str:
    # What the caller sent: text as it came, anything else (a number, a list in a JSON body) as JSON; cut short.
    if isinstance(value, str):
        return value[:40]
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:40]
    except ValueError:  # a circular structure cannot come from a request, but the refusal must not fail
        return ""


def _validation_sentence(e: Any) -> Sentence:
    kind = str(e.get("type", ""))
    template = _VALIDATION_TEMPLATES.get(kind, _INVALID)
    ctx = e.get("ctx") or {}
    params: dict[str, object] = {}
    if "%(input)s" in template:
        params["input"] = _shown(e.get("input"))
    if kind in _LIMITS:
        limit = ctx.get(_LIMITS[kind])
        params["limit"] = Count(limit) if kind in ("too_short", "too_long") and isinstance(limit, int) else limit
    if kind == "string_pattern_mismatch":
        params["pattern"] = str(ctx.get("pattern", ""))[:200]
    if kind in ("enum", "literal_error"):
        # Pydantic writes the values offered as "'a', 'b' or 'c'", with an English "or": the values alone, listed.
        params["expected"] = Series(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    return Sentence(template, **params)


def _validation_items(request: Request, error: RequestValidationError) -> list[m.ProblemItem]:
    items = []
    for e in error.errors()[:50]:
        location = [p if isinstance(p, int) else str(p)[:100] for p in e.get("loc", ())]
        items.append(m.ProblemItem(location=location, message=_said(request, _validation_sentence(e))[:500],
                                   kind=str(e.get("type", ""))[:60]))
    return items


def _refused(request: Request, error: Exception) -> Response:
    """The one place where what went wrong becomes an HTTP answer."""
    if isinstance(error, Refusal):
        return _problem(request, error.status, _TITLES.get(error.status, _TITLES[422]), _said(request, error.message),
                        headers=error.headers)
    if isinstance(error, DomainError):
        status, headline = labels.refusal(error)
        if type(error) is InvalidInput:
            headline = _TITLES[422]  # the pages' headline speaks of a form; an API caller sent a request
        # The engine's sentence in the language negotiated for the title, as the pages show it.
        return _problem(request, status, headline, _said(request, error.message))
    if isinstance(error, RequestValidationError):
        items = _validation_items(request, error)
        detail = "; ".join(f"{'.'.join(map(str, i.location))}: {i.message}" for i in items[:5])
        return _problem(request, 422, _TITLES[422], detail, items)
    if isinstance(error, HTTPException):
        status = error.status_code if error.status_code in _TITLES else 422
        detail = _said(request, error.message) if isinstance(error, _TooLarge) else str(error.detail)
        return _problem(request, status, _TITLES[status], detail)
    # Not the caller's fault, and nothing was changed (a command's save is one transaction).
    _log.warning("the store failed on %s %s", request.method, request.url.path, exc_info=error)
    return _problem(request, 503, _TITLES[503], type(error).__name__)


_log = logging.getLogger(__name__)


def _limited(request: Request, limit: int) -> Request:
    """The request, its body refused past `limit` bytes: by its Content-Length at once, or as it arrives."""
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        raise _TooLarge(limit)
    received = 0
    receive = request.receive

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _TooLarge(limit)
        return message

    return Request(request.scope, counted)


def _query_names(dependant: Any) -> set[str]:
    names = {str(field.alias) for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _known_parameters(request: Request, known: set[str]) -> None:
    # A misspelt filter (?stat=draft) silently ignored would answer another question than the one asked.
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        offered = ", ".join(sorted(known)) or "none"
        raise Refusal(422, N_("unknown query parameter '%(name)s'; this operation takes: %(offered)s"),
                      name=unknown[0][:40], offered=offered)


def _route_class(site: Site) -> type[APIRoute]:
    class ApiRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            inner = super().get_route_handler()
            known = _query_names(self.dependant)
            limit = MAX_JSON_BODY
            if self.path.endswith("/evidence"):
                limit = site.engine.evidence_policy.max_bytes + _MULTIPART_ROOM

            async def handler(request: Request) -> Response:
                try:
                    _known_parameters(request, known)
                    response = await inner(_limited(request, limit))
                except (Refusal, DomainError, RequestValidationError, HTTPException, *STORE_FAILURES) as error:
                    response = _refused(request, error)
                response.headers.setdefault("Cache-Control", "no-store")
                response.headers["Vary"] = "Authorization, Accept-Language"
                return response

            return handler

    return ApiRoute


# --- who calls -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The person a token acts for, and the roles they may act in today."""

    person: Person
    authorities: list[access_model.Authority]
    today: date

    def actors(self) -> list[Actor]:
        return [
            Actor(self.person.id, a.role, a.unit_id, a.holder_id if a.delegation_id is not None else None)
            for a in self.authorities
        ]

    def held(self, roles: set[Role] | None = None) -> set[UUID]:
        return {a.unit_id for a in self.authorities if roles is None or a.role in roles}


_bearer = HTTPBearer(auto_error=False, description="A token made by `dossierflow token create USERNAME`.")
_NEEDS_TOKEN = {"WWW-Authenticate": 'Bearer realm="dossierflow"'}
_BAD_TOKEN = {"WWW-Authenticate": 'Bearer realm="dossierflow", error="invalid_token"'}


def _parse_moment(text: str, what: str, *, day_ends: bool = True) -> datetime:
    """A date-time (with its offset; without one, Vietnam's time), or a date: the end of that day in Vietnam (its
    start when `day_ends` is false)."""
    text = text.strip()
    try:
        if not text.isascii() or len(text) > 40:
            raise ValueError(text)
        if len(text) == 10:
            day = _within_calendar(date.fromisoformat(text))
            return end_of_day(day) if day_ends else start_of_day(day)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Refusal(422, N_("%(what)s: '%(text)s' is not a date-time like 2024-11-30T17:00:00+07:00 or a date "
                              "like 2024-11-30"), what=what, text=text[:40]) from None
    _within_calendar(moment.date())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=VIETNAM)


def _within_calendar(day: date) -> date:
    # As the pages bound a date: the ends of the calendar overflow once moved to UTC.
    if not EARLIEST <= day <= LATEST:
        raise Refusal(422, N_("%(day)s is outside %(first)s–%(last)s"), day=day.isoformat(), first=EARLIEST.year,
                      last=LATEST.year)
    return day


# A date is only YYYY-MM-DD: pydantic's own date type would also take "0.0" (a Unix time) for 1970-01-01.
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# A date, or an ISO 8601 date-time with or without its offset (2024-11-30T17:00:00+07:00, …Z).
MOMENT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)


def _day(text: str, what: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Refusal(422, N_("%(what)s: '%(text)s' is not a date like 2024-12-31"), what=what,
                      text=text[:40]) from None
    return _within_calendar(day)


IF_MATCH_PATTERN = r'^(\*|(W/)?"?[0-9]{1,9}"?)$'
IF_MATCH_TEXT = 'The version read, as its ETag gave it ("7"); a newer one is 409. Without it nothing is compared.'


def _expected(if_match: str | None) -> int | None:
    """The version an If-Match header names ("7", 7 or W/"7"); none, or *, checks nothing."""
    if if_match is None or if_match.strip() in ("", "*"):
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        raise Refusal(422, N_("If-Match: '%(value)s' is not a dossier version like \"7\""), value=if_match[:40])
    return int(raw)


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


# Every route answers these (besides its own 200): documented once, so that clients know the shape of a refusal.
_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": m.Problem, "description": str(title)}
    for status, title in _TITLES.items() if status in (401, 403, 404, 422, 503)
}
_COMMAND_REFUSALS: dict[int | str, dict[str, Any]] = {
    **_REFUSALS, 409: {"model": m.Problem, "description": "A stale version (If-Match) or a step not possible now"},
    413: {"model": m.Problem, "description": _TITLES[413]},
}


class Step(Enum):
    """The workflow's steps a caller may take by name (answers and evidence have routes of their own)."""

    submit = "submit"
    resubmit = "resubmit"
    withdraw = "withdraw"
    restore = "restore"
    endorse = "endorse"
    return_to_unit = "return_to_unit"
    approve = "approve"
    return_to_committee = "return_to_committee"
    mark_not_rated = "mark_not_rated"
    reopen = "reopen"


def register(app: FastAPI, site: Site) -> None:
    engine = site.engine
    store = site.side.store
    tokens = Tokens(site.accounts.engine)
    router = APIRouter(prefix=PREFIX, route_class=_route_class(site), tags=["dossierflow"])
    verify_lock = threading.Lock()

    def caller(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None:
            raise Refusal(
                401, N_("send the header 'Authorization: Bearer <token>' (`dossierflow token create USERNAME` makes "
                        "one); the session cookie of the pages is not accepted by the API"), _NEEDS_TOKEN,
            )
        today = site.today()
        record = tokens.resolve(credentials.credentials.strip(), today)
        if record is None:
            raise Refusal(401, N_("this token is unknown, revoked or expired"), _BAD_TOKEN)
        try:
            person = engine.person(record.person_id)
        except NotFound:
            raise Refusal(401, N_("this token's person is not in this store"), _BAD_TOKEN) from None
        authorities = access_model.authorities(store, person.id, today)
        if not authorities and not person.grants_on(today):
            raise Refusal(403, N_("%(person)s holds no role valid today; a token acts only under its person's "
                                  "grants valid at the time of the call"), person=person.full_name)
        return Caller(person, authorities, today)

    CallerDep = Annotated[Caller, Depends(caller)]

    # --- scope -----------------------------------------------------------------------------------------------------

    def can_view(who: Caller, unit: Unit, roles: set[Role] | None = None) -> bool:
        """As the pages decide it (web/routes.py can_view): the units a role is held over, and those below them."""
        held = who.held(roles)
        return unit.id in held or bool(held & set(ancestors(unit, who.today, engine.unit)))

    def unit_ref(unit: Unit, day: date) -> m.UnitRef:
        version = unit.as_of(day) or unit.current
        return m.UnitRef(id=unit.id, code=unit.code, name=version.name)

    def scoped_unit(who: Caller, code: str | None, roles: set[Role] | None = None) -> Unit:
        """The unit a listing is about: the one named (which must be in the caller's scope), or the caller's own
        when they hold their roles over one part of the tree."""
        if code is not None:
            found = engine.unit_by_code(code.strip())
            if not can_view(who, found, roles):
                raise NotAuthorized(N_("%(unit)s is outside the units your roles cover"), unit=found.name)
            return found
        held = who.held(roles)
        if not held:
            raise NotAuthorized(N_("this needs the auditor or administrator role") if roles
                                else N_("you hold no role"))
        units = [engine.unit(u) for u in held]
        tops = [u for u in units if not held & set(ancestors(u, who.today, engine.unit))]
        if len(tops) > 1:
            codes = ", ".join(sorted(u.code for u in tops))
            raise Refusal(422, N_("you hold roles over several units (%(codes)s); name one with ?unit=CODE"),
                          codes=codes)
        return tops[0]

    def viewable_dossier(who: Caller, did: UUID) -> tuple[Any, Unit]:
        dossier = engine.dossier(did)
        unit = engine.unit(dossier.unit_id)
        if not can_view(who, unit):
            raise NotAuthorized(N_("%(unit)s is outside the units your roles cover"), unit=unit.name)
        return dossier, unit

    def available(who: Caller, did: UUID) -> dict[str, tuple[m.ActionOut, Actor]]:
        found: dict[str, tuple[m.ActionOut, Actor]] = {}
        for actor in who.actors():
            for action in engine.available_actions(actor, did):
                out = m.ActionOut(action=action.trigger, label=action.label, needs_reason=action.needs_reason)
                found.setdefault(action.trigger, (out, actor))
        return found

    def actor_for(who: Caller, did: UUID, trigger: str) -> Actor:
        """The role the caller fires `trigger` in; when none may, the one the engine will refuse with its reason."""
        offered = available(who, did)
        if trigger in offered:
            return offered[trigger][1]
        actors = who.actors()
        if not actors:
            raise NotAuthorized(N_("you hold no role valid today"))
        rule_role = spec_for(engine.dossier(did).workflow_version).rule(trigger).role
        return ([a for a in actors if a.role is rule_role] or actors)[0]

    def detail(who: Caller, did: UUID) -> m.DossierDetail:
        dossier, unit = viewable_dossier(who, did)
        actions = [out for out, _ in available(who, did).values()]
        return m.dossier_detail(dossier, unit_ref(unit, who.today), actions)

    def wait(receipt: Receipt[Any]) -> None:
        # Read-your-writes: what the caller lists next comes from the read models, so they must have seen this.
        if receipt.position:
            site.side.wait_for(receipt.position, timeout=site.wait_seconds)

    # --- dossiers --------------------------------------------------------------------------------------------------

    @router.get("/me", response_model=m.Me, responses=_REFUSALS)
    def me(who: CallerDep) -> m.Me:
        """The person the token acts for, and the roles they may act in today."""
        roles = []
        for a in who.authorities:
            roles.append(m.RoleOut(
                role=a.role, unit=unit_ref(engine.unit(a.unit_id), who.today),
                on_behalf_of=a.holder_id if a.delegation_id is not None else None,
            ))
        return m.Me(id=who.person.id, username=who.person.username, full_name=who.person.full_name, roles=roles)

    @router.get("/dossiers", response_model=m.DossierPage, responses=_REFUSALS)
    def list_dossiers(
        who: CallerDep,
        unit: Annotated[str | None, Query(max_length=m.MAX_CODE, description="A unit's code: it and those below "
                                          "(default: the units the caller's roles cover).")] = None,
        year: Annotated[int | None, Query(ge=1900, le=9999), m.PLAIN_DIGITS] = None,
        state: Annotated[list[DossierState] | None, Query()] = None,
        overdue: Annotated[bool, Query(description="Only those past the deadline of the step they wait for.")] = False,
        offset: Annotated[int, Query(ge=0, le=1_000_000), m.PLAIN_DIGITS] = 0,
        limit: Annotated[int, Query(ge=1, le=200), m.PLAIN_DIGITS] = 50,
    ) -> m.DossierPage:
        """The dossiers of a unit and of the units below it, newest year first, then by unit code; paged."""
        top = scoped_unit(who, unit)
        page = dossiers_model.list_dossiers(
            store, year=year, unit_below=top.id, states=state, overdue_on=who.today if overdue else None,
            offset=offset, limit=limit,
        )
        names = units_model.unit_names(store, {r.unit_id for r in page.rows})
        items = [m.dossier_summary(r, names.get(r.unit_id, r.unit_code)) for r in page.rows]
        return m.DossierPage(total=page.total, offset=offset, limit=limit, items=items)

    @router.post("/dossiers", response_model=m.DossierDetail, status_code=201, responses=_COMMAND_REFUSALS)
    def open_dossier(who: CallerDep, body: m.OpenDossier, response: Response) -> m.DossierDetail:
        """Open a unit's dossier for a period (the unit's secretary, or an administrator over it)."""
        target = engine.unit_by_code(body.unit.strip())
        actors = who.actors()
        chosen = (
            [a for a in actors if a.role is Role.SECRETARY and a.unit_id == target.id]
            or [a for a in actors if a.role is Role.ADMINISTRATOR]
            or actors
        )
        if not chosen:
            raise NotAuthorized(N_("you hold no role valid today"))
        receipt = engine.open_dossier(chosen[0], target.id, body.year)
        wait(receipt)
        opened = detail(who, receipt.value)
        _etag(response, opened.version)
        response.headers["Location"] = f"{PREFIX}/dossiers/{opened.id}"
        return opened

    @router.get("/dossiers/{dossier_id}", response_model=m.DossierDetail, responses=_REFUSALS)
    def read_dossier(
        who: CallerDep,
        dossier_id: UUID,
        response: Response,
        as_of: Annotated[str | None, Query(
            pattern=MOMENT_PATTERN, description="The dossier as it stood then: a date-time (without an offset, "
            "Vietnam's time) or a date (the end of that day)."
        )] = None,
        version: Annotated[
            int | None, Query(ge=1, le=10**9, description="The dossier at this version."), m.PLAIN_DIGITS
        ] = None,
    ) -> m.DossierDetail:
        """One dossier from the event log: now, as it stood at a moment (as_of), or at a version."""
        if as_of is not None and version is not None:
            raise Refusal(422, N_("give as_of or version, not both"))
        if as_of is None and version is None:
            shown = detail(who, dossier_id)
            _etag(response, shown.version)
            return shown
        current, unit = viewable_dossier(who, dossier_id)
        if version is not None:
            if version > current.version:
                raise NotFound(N_("version %(version)s does not exist; the dossier has versions 1 to %(last)s"),
                               version=Count(version), last=Count(current.version))
            then = engine.dossier(dossier_id, version=version)
            return m.dossier_detail(then, unit_ref(unit, who.today), [], None)
        assert as_of is not None
        moment = _parse_moment(as_of, "as_of")
        then = engine.dossier_as_of(dossier_id, moment)
        return m.dossier_detail(then, unit_ref(unit, moment.astimezone(VIETNAM).date()), [], moment)

    @router.put("/dossiers/{dossier_id}/self-assessment", response_model=m.DossierDetail,
                responses=_COMMAND_REFUSALS)
    def record_self_assessment(
        who: CallerDep,
        dossier_id: UUID,
        body: m.SelfAssessment,
        response: Response,
        if_match: Annotated[str | None, Header(pattern=IF_MATCH_PATTERN, description=IF_MATCH_TEXT)] = None,
    ) -> m.DossierDetail:
        """Record answers and facts of the self-assessment; what is not given stays as recorded."""
        expected = _expected(if_match)
        dossier, _ = viewable_dossier(who, dossier_id)
        rule_set = engine.rule_book.rule_set(dossier.rule_set_id)
        answers = {k: _answer(a, dossier.answers.get(k)) for k, a in body.answers.items()}
        fact_types = {f.id: f.type for f in rule_set.facts}
        facts = {k: _fact(k, v, fact_types.get(k)) for k, v in body.facts.items()}
        actor = actor_for(who, dossier_id, "record_answers")
        receipt = engine.record_answers(actor, dossier_id, answers=answers, facts=facts, expected_version=expected)
        wait(receipt)
        shown = detail(who, dossier_id)
        _etag(response, shown.version)
        return shown

    @router.post("/dossiers/{dossier_id}/evidence", response_model=m.DossierDetail, status_code=201,
                 responses=_COMMAND_REFUSALS)
    def attach_evidence(
        who: CallerDep,
        dossier_id: UUID,
        file: Annotated[UploadFile, File(description="The file; its type is checked by its content.")],
        response: Response,
        if_match: Annotated[str | None, Header(pattern=IF_MATCH_PATTERN, description=IF_MATCH_TEXT)] = None,
    ) -> m.DossierDetail:
        """Attach an evidence file (multipart/form-data, field `file`)."""
        expected = _expected(if_match)
        viewable_dossier(who, dossier_id)
        most = engine.evidence_policy.max_bytes
        # One byte past the limit is enough to refuse: an oversized file is never read whole.
        data = file.file.read(most + 1)
        if len(data) > most:
            raise Refusal(413, N_("the file is larger than %(most)s bytes"), most=Count(most))
        name = filenames.uploaded_name(file.filename or "").strip()
        if not name:
            raise InvalidInput(N_("the file needs a name (the filename of its multipart part)"))
        actor = actor_for(who, dossier_id, "attach_evidence")
        receipt = engine.attach_evidence(actor, dossier_id, name=name, data=data, expected_version=expected)
        wait(receipt)
        shown = detail(who, dossier_id)
        _etag(response, shown.version)
        return shown

    @router.post("/dossiers/{dossier_id}/actions/{action}", response_model=m.DossierDetail,
                 responses=_COMMAND_REFUSALS)
    def act(
        who: CallerDep,
        dossier_id: UUID,
        action: Step,
        response: Response,
        body: m.ActionIn | None = None,
        if_match: Annotated[str | None, Header(pattern=IF_MATCH_PATTERN, description=IF_MATCH_TEXT)] = None,
    ) -> m.DossierDetail:
        """Take a step of the workflow: submit, endorse, return, approve, reopen…; the reason and level in the body."""
        expected = _expected(if_match)
        viewable_dossier(who, dossier_id)
        given = body or m.ActionIn()
        trigger = action.value
        actor = actor_for(who, dossier_id, trigger)
        receipt: Receipt[Any]
        if trigger in ("submit", "resubmit"):
            receipt = engine.submit(actor, dossier_id, expected_version=expected)
        elif trigger == "withdraw":
            receipt = engine.withdraw(actor, dossier_id, reason=given.reason, expected_version=expected)
        elif trigger == "restore":
            receipt = engine.restore(actor, dossier_id, expected_version=expected)
        elif trigger == "endorse":
            receipt = engine.endorse(actor, dossier_id, level=given.level, note=given.note, reason=given.reason,
                                     expected_version=expected)
        elif trigger == "return_to_unit":
            receipt = engine.return_to_unit(actor, dossier_id, reason=given.reason, expected_version=expected)
        elif trigger == "approve":
            receipt = engine.approve(actor, dossier_id, level=given.level, reason=given.reason,
                                     expected_version=expected, act_number=given.act_number, act_date=given.act_date)
        elif trigger == "return_to_committee":
            receipt = engine.return_to_committee(actor, dossier_id, reason=given.reason, expected_version=expected)
        elif trigger == "mark_not_rated":
            receipt = engine.mark_not_rated(actor, dossier_id, reason=given.reason, ground=given.ground,
                                            expected_version=expected)
        else:
            receipt = engine.reopen(actor, dossier_id, legal_basis=given.legal_basis, expected_version=expected)
        wait(receipt)
        shown = detail(who, dossier_id)
        _etag(response, shown.version)
        return shown

    def approver_over(who: Caller, superior: Unit) -> Actor:
        approver = next((a for a in who.actors() if a.role is Role.APPROVER and a.unit_id == superior.id), None)
        if approver is None:
            raise NotAuthorized(
                N_("deciding the units directly below %(unit)s needs the approver role over it"), unit=superior.name
            )
        return approver

    @router.get("/decision-lists", response_model=m.DecisionListView, responses=_REFUSALS)
    def decision_list(
        who: CallerDep,
        superior: Annotated[str, Query(min_length=1, max_length=m.MAX_CODE, description="The deciding unit's code.")],
        year: Annotated[int, Query(ge=1900, le=9999), m.PLAIN_DIGITS],
    ) -> m.DecisionListView:
        """The dossiers directly below a superior that wait for its decision, with the quota of each group."""
        unit = engine.unit_by_code(superior.strip())
        approver_over(who, unit)
        period = engine.period(year)
        candidates = [
            m.Candidate(
                id=dossier.id, unit=unit_ref(child, period.end_date), group=child.group, version=dossier.version,
                state=dossier.state, proposed_level=dossier.proposed_level,
            )
            for child, dossier in engine.decision_candidates(unit, year)
        ]
        candidates.sort(key=lambda c: (c.group, i18n.vietnamese_key(c.unit.name)))
        groups = sorted({c.group for c in candidates} | {q.group for q in statistics_model.quota_meters(
            store, unit.id, year)})
        quota = [engine.quota(unit.id, year, g) for g in groups]
        return m.DecisionListView(
            superior=unit_ref(unit, who.today), year=year, candidates=candidates,
            quota=[m.QuotaFigure(group=q.group, good_or_better=q.good_or_better, excellent=q.excellent, cap=q.cap)
                   for q in quota],
        )

    @router.post("/decision-lists", response_model=m.DecisionListOut, responses=_COMMAND_REFUSALS)
    def decide_list(who: CallerDep, body: m.DecisionListIn) -> m.DecisionListOut:
        """Decide several dossiers of the units directly below one superior at once, against the quota."""
        superior = engine.unit_by_code(body.superior.strip())
        approver = approver_over(who, superior)
        for line in body.decisions:
            dossier, _ = viewable_dossier(who, line.dossier)
            if dossier.year != body.year:
                raise InvalidInput(N_("dossier %(dossier)s is of %(year)s, not of %(asked)s"),
                                   dossier=str(line.dossier), year=dossier.year, asked=body.year)
        requests = [DecisionRequest(d.dossier, d.level, d.reason, d.version) for d in body.decisions]
        receipt = engine.decide_list(approver, requests, act_number=body.act_number, act_date=body.act_date)
        wait(receipt)
        decided = [engine.dossier(d.dossier) for d in body.decisions]
        return m.DecisionListOut(
            act=m.act_out(decided[0].decision["act"]) if decided[0].decision else None,
            quota=[m.QuotaFigure(group=q.group, good_or_better=q.good_or_better, excellent=q.excellent, cap=q.cap)
                   for q in receipt.value.values()],
            dossiers=[m.DecidedDossier(id=d.id, version=d.version, state=d.state, level=d.level) for d in decided],
        )

    @router.get("/dossiers/{dossier_id}/history", response_model=m.AuditPage, responses=_REFUSALS)
    def dossier_history(
        who: CallerDep,
        dossier_id: UUID,
        offset: Annotated[int, Query(ge=0, le=1_000_000), m.PLAIN_DIGITS] = 0,
        limit: Annotated[int, Query(ge=1, le=1000), m.PLAIN_DIGITS] = 200,
    ) -> m.AuditPage:
        """Every event of a dossier, oldest first: who, as what, over which unit, on whose behalf, why, its hash."""
        viewable_dossier(who, dossier_id)
        trail = audit_model.audit_trail(store, dossier_id=dossier_id, offset=offset, limit=limit)
        return m.AuditPage(total=trail.total, offset=offset, limit=limit,
                           items=[m.audit_entry(r) for r in trail.rows])

    # --- the season ------------------------------------------------------------------------------------------------

    def known_period(year: int) -> None:
        if year not in dossiers_model.periods(store):
            raise NotFound(N_("no evaluation period for %(year)s"), year=year)

    @router.get("/classifications", response_model=m.Classifications, responses=_REFUSALS)
    def classifications(
        who: CallerDep,
        period: Annotated[int, Query(ge=1900, le=9999, description="The evaluation year."), m.PLAIN_DIGITS],
        unit: Annotated[str | None, Query(max_length=m.MAX_CODE, description="A unit's code: it and those below "
                                          "(default: the units the caller's roles cover).")] = None,
    ) -> m.Classifications:
        """The classification in force for each unit decided in a period, by unit code."""
        top = scoped_unit(who, unit)
        known_period(period)
        rows = dossiers_model.classifications(store, period, unit_below=top.id)
        names = units_model.unit_names(store, {r.unit_id for r in rows})
        return m.Classifications(
            period=period, unit=unit_ref(top, who.today),
            items=[m.classification_out(r, names.get(r.unit_id, r.unit_code)) for r in rows],
        )

    @router.get("/decision-acts", response_model=m.DecisionActs, responses=_REFUSALS)
    def decision_acts(
        who: CallerDep,
        period: Annotated[int, Query(ge=1900, le=9999, description="The evaluation year."), m.PLAIN_DIGITS],
        superior: Annotated[str | None, Query(max_length=m.MAX_CODE, description="The deciding unit's code (default: "
                                              "the unit the caller's roles are held over).")] = None,
    ) -> m.DecisionActs:
        """The acts a deciding unit took in a period, the latest first: number, date, and each unit and its level."""
        top = scoped_unit(who, superior)
        known_period(period)
        end = engine.period(period).end_date
        children = [engine.unit(uid) for uid in top.children_as_of(end)]
        refs = {u.id: unit_ref(u, end) for u in children}
        acts = dossiers_model.decision_acts(store, period, list(refs))
        lines = {
            a.number: sorted(dossiers_model.act_lines(store, period, list(refs), a.number),
                             key=lambda x: refs[x.unit_id].code)
            for a in acts
        }
        return m.DecisionActs(
            superior=unit_ref(top, end), period=period,
            acts=[
                m.DecisionActListed(
                    number=a.number, date=a.day,
                    units=[m.ActUnit(unit=refs[x.unit_id], dossier_id=x.dossier_id, level=x.level,
                                     four_good=x.four_good) for x in lines[a.number]],
                )
                for a in acts
            ],
        )

    @router.get("/statistics", response_model=m.StatisticsOut, responses=_REFUSALS)
    def statistics(
        who: CallerDep,
        period: Annotated[int, Query(ge=1900, le=9999, description="The evaluation year."), m.PLAIN_DIGITS],
        unit: Annotated[str | None, Query(max_length=m.MAX_CODE, description="A unit's code (default: the unit "
                                          "the caller's roles are held over).")] = None,
    ) -> m.StatisticsOut:
        """Figures of everything below a unit for a period: states, levels, four-good cells, targets, quota."""
        top = scoped_unit(who, unit)
        known_period(period)
        figures = statistics_model.statistics(store, top.id, period)
        meters = statistics_model.quota_meters(store, top.id, period)
        return m.statistics_out(figures, unit_ref(top, who.today), meters)

    @router.get("/units", response_model=m.UnitsOut, responses=_REFUSALS)
    def units(
        who: CallerDep,
        as_of: Annotated[str | None, Query(pattern=DATE_PATTERN, description="The hierarchy as it stood on this "
                                           "date, YYYY-MM-DD (default: today).")] = None,
    ) -> m.UnitsOut:
        """The hierarchy on a date: the units the caller's roles cover and those below them, names as they were."""
        day = _day(as_of, "as_of") if as_of is not None else who.today
        held = {r.code for u in who.held() if (r := units_model.unit_row(store, u)) is not None}
        lines: list[m.UnitLine] = []
        inside_at: int | None = None
        for row in units_model.hierarchy_as_of(store, day):
            if inside_at is not None and row.depth <= inside_at:
                inside_at = None
            if inside_at is None and row.code in held:
                inside_at = row.depth
            if inside_at is not None:
                lines.append(m.unit_line(row, row.depth - inside_at))
        return m.UnitsOut(as_of=day, units=lines)

    # --- the audit trail -------------------------------------------------------------------------------------------

    audit_roles = {Role.AUDITOR, Role.ADMINISTRATOR}

    @router.get("/audit", response_model=m.AuditPage, responses=_REFUSALS)
    def audit(
        who: CallerDep,
        unit: Annotated[str | None, Query(max_length=m.MAX_CODE, description="A unit's code: it and everything "
                                          "below (default: the unit the caller audits).")] = None,
        person: Annotated[str | None, Query(max_length=m.MAX_CODE, description="Only what this username did.")]
        = None,
        action: Annotated[str | None, Query(max_length=100, description="An event name such as Approved.")] = None,
        year: Annotated[int | None, Query(ge=1900, le=9999), m.PLAIN_DIGITS] = None,
        since: Annotated[str | None, Query(pattern=MOMENT_PATTERN, description="From this date-time or date.")]
        = None,
        until: Annotated[str | None, Query(
            pattern=MOMENT_PATTERN, description="Up to this date-time or date (inclusive)."
        )] = None,
        dossier: Annotated[UUID | None, Query()] = None,
        offset: Annotated[int, Query(ge=0, le=10_000_000), m.PLAIN_DIGITS] = 0,
        limit: Annotated[int, Query(ge=1, le=1000), m.PLAIN_DIGITS] = 100,
    ) -> m.AuditPage:
        """The audit trail (auditors and administrators, over their units): every event, filtered and paged."""
        top = scoped_unit(who, unit, audit_roles)
        filters: dict[str, Any] = {"unit_id": top.id}
        # A filter that can match nothing is refused, as the pages and the CLI refuse it: an empty page would read
        # as someone, an action or a year of which nothing was recorded.
        if person is not None:
            filters["person_id"] = engine.person_by_username(person.strip()).id
        if action is not None:
            filters["action"] = action.strip()
            known = {a for label in audit_model.LABELS for a in (label, label.split(".", 1)[1])}
            if filters["action"] not in known:
                raise Refusal(422, N_("'%(action)s' is not an action of the audit trail"), action=action[:40])
        if year is not None:
            filters["year"] = year
            engine.period(year)
        if since is not None:
            filters["since"] = _parse_moment(since, "since", day_ends=False)
        if until is not None:
            filters["until"] = _parse_moment(until, "until")
        if since is not None and until is not None and filters["since"] > filters["until"]:
            raise Refusal(422, N_("the time range ends before it starts"))
        if dossier is not None:
            # A dossier unknown, or outside the caller's units, is said so: 0 events would read as one left alone.
            unit_of_dossier = engine.unit(engine.dossier(dossier).unit_id)
            if not can_view(who, unit_of_dossier, audit_roles):
                raise NotAuthorized(N_("this dossier is outside the units your roles cover"))
            filters["dossier_id"] = dossier
        # A province's whole trail is millions of events: counting them all costs seconds, a page milliseconds.
        trail = audit_model.audit_trail(
            store, offset=offset, limit=limit, count_limit=offset + limit + AUDIT_COUNT_LIMIT, **filters
        )
        return m.AuditPage(total=trail.total, total_exact=trail.total_exact, offset=offset, limit=limit,
                           items=[m.audit_entry(r) for r in trail.rows])

    oversight_roles = {Role.AUDITOR, Role.APPROVER, Role.REVIEWER, Role.ADMINISTRATOR}

    @router.get("/dossiers/{dossier_id}/who-could-act", response_model=m.WhoCouldAct, responses=_REFUSALS)
    def who_could_act(
        who: CallerDep,
        dossier_id: UUID,
        on: Annotated[str | None, Query(pattern=DATE_PATTERN, description="The day (its end, Vietnam time; "
                                        "default: today).")] = None,
    ) -> m.WhoCouldAct:
        """Who could act on a dossier on a day, as what, over which unit, by which grant or delegation (auditors,
        approvers, reviewers and administrators, over their units, as the audit pages)."""
        if not who.held(oversight_roles):
            raise NotAuthorized(N_("who could act is for auditors, approvers, reviewers and administrators"))
        dossier = engine.dossier(dossier_id)
        unit = engine.unit(dossier.unit_id)
        if not can_view(who, unit, oversight_roles):
            raise NotAuthorized(N_("this dossier is outside the units your roles cover"))
        day = _day(on, "on") if on is not None else who.today
        state = dossiers_model.dossier_state_on(store, dossier_id, day)
        # Before the dossier was opened nobody could act on it: who held its roles then is who would have.
        found = (access_model.who_could_act(store, dossier_id, end_of_day(day), site.waiting_rules)
                 if state is not None else access_model.role_holders(store, dossier_id, end_of_day(day),
                                                                      site.waiting_rules))
        units = {u: engine.unit(u) for u in {p.unit_id for p in found}}
        return m.WhoCouldAct(
            dossier=dossier_id, unit=unit_ref(unit, day), year=dossier.year, on=day, opened=state is not None,
            state=state,
            people=[
                m.CouldActOut(
                    person_id=p.person_id, username=p.username, full_name=p.full_name, role=p.role,
                    unit=unit_ref(units[p.unit_id], day), grant_id=p.grant_id, triggers=list(p.triggers),
                    on_behalf_of=p.on_behalf_of, delegation_id=p.delegation_id,
                )
                for p in found
            ],
        )

    @router.get("/audit/verify", response_model=m.Verification, responses=_REFUSALS)
    def verify(who: CallerDep) -> m.Verification:
        """Whether the signed hash chain and the evidence files verify (re-checked at most once a minute)."""
        if not who.held(audit_roles):
            raise NotAuthorized(N_("verifying the chain needs the auditor or administrator role"))
        head = engine.recorder.max_notification_id() or 0
        verdict = site.chain.verdict
        stale = verdict is None or (verdict.position != head and time.time() - verdict.checked_at > site.chain.every)
        # Verifying walks the whole log: one call at a time does it, the others answer with the last verdict.
        if stale and verify_lock.acquire(blocking=False):
            try:
                verdict = site.chain.check_now()
            finally:
                verify_lock.release()
        verdict = verdict or site.chain.verdict
        if verdict is None:
            return m.Verification(checked=False, ok=None, position=0, head=head, up_to_date=False, checked_at=None,
                                  findings=0, first_finding="")
        return m.Verification(
            checked=True, ok=verdict.ok, position=verdict.position, head=head, up_to_date=verdict.position >= head,
            checked_at=datetime.fromtimestamp(verdict.checked_at, UTC), findings=verdict.findings,
            first_finding=verdict.first_finding,
        )

    app.include_router(router)
    _serve_openapi(app, router)
    _answer_the_rest(app, router)


def _answer(given: m.AnswerIn, recorded: Answer | None) -> Answer:
    """An answer as given, over what was recorded: a part left out keeps its recorded value."""
    before = recorded or Answer()
    return Answer(
        grade=given.grade if given.grade is not None else before.grade,
        points=given.points if given.points is not None else before.points,
        met=given.met if given.met is not None else before.met,
        sub_items={**before.sub_items, **given.sub_items},
        comment=given.comment.replace("\r\n", "\n") if given.comment is not None else before.comment,
    )


def _fact(fact_id: str, value: bool | int | str, kind: str | None) -> Any:
    """A fact's JSON value as the engine takes it; the engine itself says what is wrong with an unknown fact or a
    value out of range."""
    if kind == "grade" and isinstance(value, str):
        try:
            return Grade(value)
        except ValueError:
            raise InvalidInput(N_("fact '%(fact)s': '%(value)s' is not a grade"), fact=fact_id,
                               value=value[:40]) from None
    if kind == "percent" and isinstance(value, str):
        number = plain_decimal(value, comma=False)
        if number is None:
            raise InvalidInput(N_("fact '%(fact)s': '%(value)s' is not a number"), fact=fact_id, value=value[:40])
        return number
    return value


def _answer_the_rest(app: FastAPI, router: APIRouter) -> None:
    """Any other path under /api/v1 is a JSON refusal too, whatever HTML error pages the rest of the site draws:
    404 for a path the API does not have, 405 (with Allow) for a method it does not offer there."""
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    def elsewhere(request: Request, rest: str) -> Response:
        allowed = sorted({
            method for route in router.routes if isinstance(route, APIRoute)
            and route.matches(request.scope)[0] is not Match.NONE for method in route.methods or ()
        })
        if allowed:
            offered = ", ".join(allowed)
            # Said in the caller's language, as every other detail: the title above it is.
            said = Sentence(N_("%(method)s is not offered here; use %(offered)s"), method=request.method[:20],
                            offered=offered)
            return _problem(request, 405, _TITLES[405], _said(request, said), headers={"Allow": offered})
        missing = Sentence(N_("the API has no %(path)s"), path=request.url.path[:200])
        return _problem(request, 404, _TITLES[404], _said(request, missing))

    app.add_api_route(PREFIX + "/{rest:path}", elsewhere, methods=methods, include_in_schema=False)


def _serve_openapi(app: FastAPI, router: APIRouter) -> None:
    """/openapi.json describes the API alone (the pages are HTML for people, not operations for clients)."""
    document: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not document:
            document.update(get_openapi(
                title="dossierflow API", version="1",
                summary="Evaluation dossiers of party organizations: read, fill in, act, decide, audit.",
                description=__doc__ or "", routes=router.routes,
            ))
        return document

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json() -> JSONResponse:
        return JSONResponse(openapi())
