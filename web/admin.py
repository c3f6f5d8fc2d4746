"""The administration pages: units, people with their grants and delegations, evaluation periods, the rule sets.

For administrators only; anyone else is answered 403 saying why. Every change is one engine command, so an event in
the log and a row of the audit trail; the page adds no rule of its own: the engine decides whether this administrator
may make the change and says why not. A refused form is drawn again with what was typed and the engine's reason
(422, or 409 for something that already exists), and nothing is changed. The one thing set here that is not an event
is a password: it lives with the accounts (web/accounts.py), never in the log.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from domain.actor import Actor
from domain.errors import DomainError, InvalidInput, NotAuthorized, NotFound
from domain.messages import Count, Message
from domain.period import STEPS
from domain.person import Person
from domain.unit import Unit
from domain.values import Role, UnitKind
from projections.models import access as access_model
from projections.models import audit as audit_model
from projections.models import units as units_model
from web import i18n, labels, workflow_page
from web.accounts import MIN_PASSWORD
from web.app import Site, Visit
from web.forms import title
from web.labels import N_
from web.routes import Typed, _day, _posted, _signed_in, _text, _wait, typed_from
from workflow.engine import Receipt

# A generated initial password: 12 characters from 72 bits of randomness.
_PASSWORD_BYTES = 9
# At most this many people are listed at once; the search finds the others.
PEOPLE_SHOWN = 200

DONE = {
    "register_unit": N_("The unit is registered."),
    "rename_unit": N_("The new name is recorded."),
    "move_unit": N_("The move is recorded."),
    "dissolve_unit": N_("The dissolution is recorded."),
    "grant_role": N_("The role is granted."),
    "revoke_role": N_("The role is revoked."),
    "delegate": N_("The delegation is recorded."),
    "end_delegation": N_("The delegation is ended."),
    "open_period": N_("The evaluation period is open."),
    "change_deadlines": N_("The new deadlines are recorded; the waiting dossiers follow them."),
    "close_period": N_("The evaluation period is closed."),
}
# The administration's events, as the recent changes of a unit or a person name them.
CHANGES = {
    "Unit.Registered": N_("Registered the unit"),
    "Unit.Renamed": N_("Renamed the unit"),
    "Unit.Moved": N_("Moved the unit under another committee"),
    "Unit.Dissolved": N_("Dissolved the unit"),
    "Unit.ChildAttached": N_("A unit was placed under this one"),
    "Unit.ChildDetached": N_("A unit was taken from under this one"),
    "Person.Registered": N_("Registered the person"),
    "Person.RoleGranted": N_("Granted a role"),
    "Person.RoleRevoked": N_("Revoked a role"),
    "Person.Delegated": N_("Delegated a role"),
    "Person.DelegationEnded": N_("Ended a delegation"),
    "Person.OneTimePasswordGiven": N_("Gave a one-time password"),
    "Person.PasswordChanged": N_("Chose their own password"),
}
STEP_NAMES = {
    "self_assessment": N_("Self-assessment"),
    "review": N_("Review by the committee"),
    "decision": N_("Decision"),
}
# Roles a holder may let a deputy exercise (the engine refuses the others, with its reason).
DELEGABLE = (Role.SECRETARY, Role.REVIEWER, Role.APPROVER)


@dataclass
class AdminScope:
    """The administrator roles a person acts in today, and the units each covers now (at or below its unit)."""

    actors: list[Actor]
    covered: dict[UUID, set[UUID]] = field(default_factory=dict)
    top_level: set[UUID] = field(default_factory=set)

    @property
    def units(self) -> set[UUID]:
        return set().union(*self.covered.values())

    def covers(self, uid: UUID) -> bool:
        return any(uid in units for units in self.covered.values())

    def actor_for(self, uid: UUID | None) -> Actor:
        """The role to act in over `uid` (None: a matter for an administrator over a top-level unit); when none
        covers it, the first, which the engine refuses with its reason."""
        for actor in self.actors:
            if uid is None and actor.unit_id in self.top_level:
                return actor
            if uid is not None and uid in self.covered.get(actor.unit_id, set()):
                return actor
        return self.actors[0]


def admin_scope(site: Site, visit: Visit) -> AdminScope:
    actors = [a for a in visit.actors() if a.role is Role.ADMINISTRATOR]
    if not actors:
        raise NotAuthorized(N_("the administration pages are for administrators; you hold no administrator role today"))
    store = site.side.store
    scope = AdminScope(actors)
    for actor in actors:
        below = units_model.descendants(store, actor.unit_id, include_self=True)
        scope.covered[actor.unit_id] = {d.unit_id for d in below}
        row = units_model.unit_row(store, actor.unit_id)
        if row is not None and row.parent_id is None:
            scope.top_level.add(actor.unit_id)
    return scope


def tree_in_scope(site: Site, scope: AdminScope, day: date) -> list[units_model.TreeRow]:
    """The hierarchy on `day`, only the branches under the administrator's units (as they stood that day), siblings
    in Vietnamese alphabetical order (the read model orders them by code point: "Nội" after "Nông")."""
    roots = {units_model.unit_row(site.side.store, uid) for uid in scope.covered}
    codes = {r.code for r in roots if r is not None}
    rows = units_model.hierarchy_as_of(site.side.store, day)
    children: dict[str | None, list[units_model.TreeRow]] = {}
    for row in rows:
        children.setdefault(row.parent_code, []).append(row)
    shown: list[units_model.TreeRow] = []
    # Depth first, iteratively (a deep hierarchy must not reach the recursion limit); a root below another root
    # is shown once, in its place under the other.
    by_code = {r.code: r for r in rows}
    tops = sorted((r for r in rows if r.code in codes and not _below_any(r, codes, by_code)), key=_by_name)
    stack = [(r, 0) for r in reversed(tops)]
    while stack:
        row, depth = stack.pop()
        # Depth from the administrator's own unit, as the page indents it.
        shown.append(row._replace(depth=depth))
        stack.extend((c, depth + 1) for c in sorted(children.get(row.code, []), key=_by_name, reverse=True))
    return shown


def _by_name(row: units_model.TreeRow) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], str]:
    return i18n.vietnamese_key(row.name), row.code


def _below_any(row: units_model.TreeRow, codes: set[str], by_code: Mapping[str, units_model.TreeRow]) -> bool:
    parent = row.parent_code
    while parent is not None and parent in by_code:
        if parent in codes:
            return True
        parent = by_code[parent].parent_code
    return False


def _values(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def _date(form: FormData, name: str, what: str) -> date:
    text = _text(form, name).strip()
    if not text:
        raise InvalidInput(N_("%(what)s is needed (YYYY-MM-DD)"), what=Message(what))
    return _day(text)


def _optional_date(form: FormData, name: str) -> date | None:
    text = _text(form, name).strip()
    return _day(text) if text else None


def _choice(text: str, choices: Mapping[str, Any], what: str) -> Any:
    if text not in choices:
        raise InvalidInput(N_("choose %(what)s"), what=Message(what))
    return choices[text]


def _uuid(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound(N_("no %(what)s '%(text)s'"), what=Message(what), text=text[:40]) from None


def _period_year(year: str) -> int:
    """A period's year from an address: four digits, else no such period."""
    if not (year.isascii() and year.isdigit() and len(year) == 4):
        raise NotFound(N_("no evaluation period '%(year)s'"), year=year[:20])
    return int(year)


def _deadlines(form: FormData) -> dict[str, date]:
    """The step deadlines typed; an empty field names none (on a change: keeps that step's date)."""
    return {s: d for s in STEPS if (d := _optional_date(form, f"deadline.{s}")) is not None}


def _new_password(form: FormData) -> tuple[str, bool]:
    """The password typed, or a generated one (then shown once): refused before anything is recorded."""
    typed = _text(form, "password")
    if not typed:
        return secrets.token_urlsafe(_PASSWORD_BYTES), True
    if len(typed) < MIN_PASSWORD:
        raise InvalidInput(
            N_("a password needs at least %(least)s characters; leave it empty to have one made"),
            least=Count(MIN_PASSWORD),
        )
    if len(typed) > 1000:
        raise InvalidInput(N_("a password of more than %(most)s characters is refused"), most=Count(1000))
    return typed, False


@dataclass
class Limits:
    """How much one page lists: a province's tree is drawn whole, a nation's (52,000 units) is searched instead."""

    tree: int = 3000
    choices: int = 1500


limits = Limits()


def parent_choices(rows: list[units_model.TreeRow]) -> dict[str, Any]:
    """The units a form offers to choose from: a list while it is short, else a field for the unit's code."""
    return {"parents": rows if len(rows) <= limits.choices else None}


def register(app: FastAPI, site: Site) -> None:
    engine = site.engine
    store = site.side.store
    workflow_page.register(app, site)

    def unit_in_form(code: str, what: str) -> Unit:
        # A unit typed or chosen in a form: unknown is bad input (422), not a missing page (404).
        try:
            return engine.unit_by_code(code.strip())
        except NotFound:
            raise InvalidInput(N_("no unit with code '%(code)s' for %(what)s"), code=code.strip()[:60],
                               what=Message(what)) from None

    def person_in_form(username: str, what: str) -> Person:
        try:
            return engine.person_by_username(username.strip())
        except NotFound:
            raise InvalidInput(N_("no person with username '%(username)s' for %(what)s"),
                               username=username.strip()[:60], what=Message(what)) from None

    async def command(
        request: Request,
        run: Callable[[], Receipt[Any]],
        typed: Typed,
        done: Callable[[Receipt[Any]], str],
        again: Callable[[], tuple[str, dict[str, Any]]],
    ) -> Response:
        """Run one engine command; on success wait for the read models and show its result, on a refusal draw the
        page again with what was typed and why (a refusal of the person's right is the 403 page)."""
        try:
            receipt = await run_in_threadpool(run)
        except NotAuthorized:
            raise
        except DomainError as error:
            status, headline = labels.refusal(error, on_dossier=False)
            name, context = await run_in_threadpool(again)
            context.update(typed=typed, refusal={"headline": headline, "detail": error.message})
            return site.render(request, name, context, status_code=status)
        await run_in_threadpool(_wait, site, receipt)
        return RedirectResponse(done(receipt), status_code=303)

    def unit_changes(uid: UUID) -> list[audit_model.AuditRow]:
        return audit_model.latest_changes(store, [a for a in CHANGES if a.startswith("Unit.")], unit_id=uid)

    def person_changes(pid: UUID) -> list[audit_model.AuditRow]:
        actions = [a for a in CHANGES if a.startswith("Person.")]
        return audit_model.latest_changes(store, actions, subject_person_id=pid)

    def given(scope: AdminScope, pid: UUID) -> Receipt[None]:
        """The event of a one-time password, by the first administrator role of theirs that manages this person."""
        refusal: NotAuthorized | None = None
        for actor in scope.actors:
            try:
                return engine.give_one_time_password(actor, pid)
            except NotAuthorized as refused:
                refusal = refusal or refused
        assert refusal is not None  # an AdminScope holds at least one role
        raise refusal

    def check_manages(scope: AdminScope, pid: UUID) -> Person:
        """Deny by default: the engine says whether any administrator role of theirs manages this person."""
        refusal: NotAuthorized | None = None
        for actor in scope.actors:
            try:
                return engine.check_person_admin(actor, pid)
            except NotAuthorized as refused:
                refusal = refusal or refused
        assert refusal is not None  # an AdminScope holds at least one role
        raise refusal

    # --- the front page of the administration ------------------------------------------------------------------

    @app.get("/admin")
    def admin_home(request: Request) -> Response:
        """The administration's sections, for an administrator."""
        visit = _signed_in(request)
        admin_scope(site, visit)
        return RedirectResponse("/admin/units", status_code=303)

    # --- units ---------------------------------------------------------------------------------------------------

    def units_context(visit: Visit, day: date | None = None, q: str = "") -> dict[str, Any]:
        scope = admin_scope(site, visit)
        day = day or visit.today
        tree = tree_in_scope(site, scope, day)
        today = tree if day == visit.today else tree_in_scope(site, scope, visit.today)
        q = q.strip()[:200]
        found = [r for r in tree if i18n.matches(q, r.name, r.code)] if q else tree
        return {
            "section": "units", "day": day, "tree": found[:limits.tree], "found": len(found), "q": q,
            "kinds": list(UnitKind), "typed": Typed(), "today": visit.today, **parent_choices(today),
        }

    @app.get("/admin/units")
    def units_page(request: Request, as_of: str = "", q: str = "", done: str = "") -> Response:
        """The units an administrator manages, as they stood on a date (searchable by name or code), and the form to
        register one."""
        visit = _signed_in(request)
        context = units_context(visit, _day(as_of) if as_of.strip() else None, q)
        context["done"] = DONE.get(done)
        if request.headers.get("hx-request") and request.headers.get("hx-target") == "tree":
            return site.render(request, "admin_units.html", context, block="tree")
        return site.render(request, "admin_units.html", context)

    @app.post("/admin/units")
    async def register_unit(request: Request) -> Response:
        """Register a unit under a unit the administrator manages."""
        visit = _signed_in(request)
        form = await _posted(request)
        typed = Typed("register_unit", _values(form))
        code = _text(form, "code").strip()

        def run() -> Receipt[UUID]:
            scope = admin_scope(site, visit)
            parent_code = _text(form, "parent").strip()
            parent = unit_in_form(parent_code, N_("the committee above it")) if parent_code else None
            kind = _choice(_text(form, "kind"), {k.value: k for k in UnitKind}, N_("the kind of unit"))
            return engine.register_unit(
                scope.actor_for(parent.id if parent else None), code=code, name=_text(form, "name"), kind=kind,
                parent_id=parent.id if parent else None,
                established_on=_date(form, "established_on", N_("the date the unit was established")),
                group=_text(form, "group"),
            )

        return await command(
            request, run, typed, lambda _: f"/admin/units/{quote(code, safe='')}?done=register_unit",
            lambda: ("admin_units.html", units_context(visit)),
        )

    def unit_context(visit: Visit, code: str) -> dict[str, Any]:
        scope = admin_scope(site, visit)
        unit = engine.unit_by_code(code)
        if not scope.covers(unit.id):
            raise NotAuthorized(N_("%(unit)s is outside the units your administrator role covers"), unit=unit.name)
        parents = {v.parent_id for v in unit.timeline if v.parent_id is not None}
        choices = parent_choices([r for r in tree_in_scope(site, scope, visit.today) if r.code != unit.code])
        return {
            "section": "units", "unit": unit, "names": units_model.unit_names(store, parents), **choices,
            "changes": unit_changes(unit.id), "changes_names": CHANGES, "today": visit.today, "typed": Typed(),
        }

    @app.get("/admin/units/{code}")
    def unit_page(request: Request, code: str, done: str = "") -> Response:
        """One unit: its dated versions, and the forms to rename, move or dissolve it."""
        visit = _signed_in(request)
        context = unit_context(visit, code)
        context["done"] = DONE.get(done)
        return site.render(request, "admin_unit.html", context)

    @app.post("/admin/units/{code}/{change}")
    async def change_unit(request: Request, code: str, change: str) -> Response:
        """Rename, move or dissolve a unit from a date."""
        visit = _signed_in(request)
        if change not in ("rename", "move", "dissolve"):
            raise NotFound(N_("no change '%(change)s' of a unit"), change=change[:40])
        unit = await run_in_threadpool(engine.unit_by_code, code)
        form = await _posted(request)
        typed = Typed(change, _values(form))

        def run() -> Receipt[None]:
            actor = admin_scope(site, visit).actor_for(unit.id)
            effective = _date(form, "effective_from", N_("the date the change takes effect"))
            if change == "rename":
                return engine.rename_unit(
                    actor, unit.id, name=_text(form, "name"), effective_from=effective, reason=_text(form, "reason")
                )
            if change == "move":
                parent = unit_in_form(_text(form, "parent"), N_("the new committee above it"))
                return engine.move_unit(
                    actor, unit.id, parent_id=parent.id, effective_from=effective, reason=_text(form, "reason")
                )
            return engine.dissolve_unit(actor, unit.id, effective_from=effective, reason=_text(form, "reason"))

        return await command(
            request, run, typed, lambda _: f"/admin/units/{quote(unit.code, safe='')}?done={change}_unit",
            lambda: ("admin_unit.html", unit_context(visit, unit.code)),
        )

    # --- people, their roles and delegations -------------------------------------------------------------------

    def people_context(visit: Visit, q: str = "") -> dict[str, Any]:
        scope = admin_scope(site, visit)
        units = scope.units
        everyone = access_model.people(store)
        # A person is theirs to see when a grant of theirs is over a unit they manage, or when they hold none yet.
        mine = [p for p in everyone if not p.grant_units or p.grant_units & units]
        q = q.strip()[:200]
        found = [p for p in mine if not q or i18n.matches(q, p.full_name, p.username)]
        found.sort(key=lambda p: (i18n.vietnamese_key(p.full_name), p.username))
        return {
            "section": "people", "people": found[:PEOPLE_SHOWN], "found": len(found), "q": q, "typed": Typed(),
        }

    @app.get("/admin/people")
    def people_page(request: Request, q: str = "") -> Response:
        """The people an administrator manages, searchable by name with or without diacritics."""
        visit = _signed_in(request)
        context = people_context(visit, q)
        if request.headers.get("hx-request") and request.headers.get("hx-target") == "people":
            return site.render(request, "admin_people.html", context, block="people")
        return site.render(request, "admin_people.html", context)

    @app.post("/admin/people")
    async def register_person(request: Request) -> Response:
        """Register a person, with an initial password typed or made here (then shown once)."""
        visit = _signed_in(request)
        form = await _posted(request)
        values = _values(form)
        values.pop("password", None)  # never drawn back into a page
        typed = Typed("register_person", values)
        made: dict[str, Any] = {}

        def run() -> Receipt[Any]:
            scope = admin_scope(site, visit)
            password, generated = _new_password(form)
            receipt = engine.register_person(
                scope.actors[0], username=_text(form, "username"), full_name=_text(form, "full_name")
            )
            person = engine.person(receipt.value)
            site.accounts.set_password(person.username, person.id, password, one_time=True)
            made.update(password=password if generated else None, person=person.id)
            # The last event of the two: the page waits for the read models to have seen both.
            return engine.give_one_time_password(scope.actors[0], person.id)

        try:
            receipt = await run_in_threadpool(run)
        except NotAuthorized:
            raise
        except DomainError as error:
            status, headline = labels.refusal(error, on_dossier=False)
            context = await run_in_threadpool(people_context, visit)
            context.update(typed=typed, refusal={"headline": headline, "detail": error.message})
            return site.render(request, "admin_people.html", context, status_code=status)
        await run_in_threadpool(_wait, site, receipt)
        context = await run_in_threadpool(person_context, visit, made["person"])
        context.update(
            new_password=made["password"],
            done=N_("The person is registered. They can sign in once they hold a role: grant one below."),
        )
        # Drawn here, not redirected to: a password made for them must not travel in a URL or be shown twice.
        return site.render(request, "admin_person.html", context, status_code=201)

    def person_context(visit: Visit, pid: UUID) -> dict[str, Any]:
        scope = admin_scope(site, visit)
        person = check_manages(scope, pid)
        units = scope.units
        grants = sorted(person.grants.values(), key=lambda g: (g.valid_from, str(g.grant_id)))
        shown = [g for g in grants if g.unit_id in units]
        delegations = sorted(
            (d for d in person.delegations.values() if str(d.grant_id) in {str(g.grant_id) for g in shown}),
            key=lambda d: (d.valid_from, str(d.delegation_id)),
        )
        deputies = {d.deputy_id for d in delegations}
        return {
            "section": "people", "subject": person, "grants": shown, "hidden": len(grants) - len(shown),
            "delegations": delegations,
            "names": units_model.unit_names(store, {g.unit_id for g in shown}),
            "deputies": {d: engine.person(d).full_name for d in deputies},
            "usernames": {d: engine.person(d).username for d in deputies},
            "units": parent_choices(tree_in_scope(site, scope, visit.today))["parents"], "roles": list(Role),
            "delegable": DELEGABLE,
            "has_account": site.accounts.has_account(person.username),
            "one_time": site.accounts.is_one_time(person.username), "changes": person_changes(pid),
            "changes_names": CHANGES,
            "today": visit.today, "typed": Typed(), "new_password": None,
        }

    @app.get("/admin/people/{reference}")
    def person_page(request: Request, reference: str, done: str = "") -> Response:
        """One person: their roles with validity and basis, the delegations under them, and their sign-in."""
        visit = _signed_in(request)
        context = person_context(visit, _uuid(reference, N_("person")))
        context["done"] = DONE.get(done)
        return site.render(request, "admin_person.html", context)

    @app.post("/admin/people/{reference}/grants")
    async def grant_role(request: Request, reference: str) -> Response:
        """Grant a role over a unit, valid from a date (until a date, or open), on a basis."""
        visit = _signed_in(request)
        pid = _uuid(reference, N_("person"))
        form = await _posted(request)

        def run() -> Receipt[UUID]:
            unit = unit_in_form(_text(form, "unit"), N_("the role"))
            role = _choice(_text(form, "role"), {r.value: r for r in Role}, N_("a role"))
            return engine.grant_role(
                admin_scope(site, visit).actor_for(unit.id), pid, role=role, unit_id=unit.id,
                valid_from=_date(form, "valid_from", N_("the date the role starts")),
                valid_to=_optional_date(form, "valid_to"), basis=_text(form, "basis"),
            )

        return await command(
            request, run, Typed("grant", _values(form)), lambda _: f"/admin/people/{pid}?done=grant_role",
            lambda: ("admin_person.html", person_context(visit, pid)),
        )

    @app.post("/admin/people/{reference}/grants/{grant}/{change}")
    async def change_grant(request: Request, reference: str, grant: str, change: str) -> Response:
        """Revoke a role from a date, or delegate it to a deputy for a period on a legal basis."""
        visit = _signed_in(request)
        pid = _uuid(reference, N_("person"))
        gid = _uuid(grant, N_("role"))
        if change not in ("revoke", "delegate"):
            raise NotFound(N_("no change '%(change)s' of a role"), change=change[:40])
        form = await _posted(request)

        def run() -> Receipt[Any]:
            person = engine.person(pid)
            held = person.grants.get(str(gid))
            if held is None:
                raise NotFound(N_("%(person)s holds no such role"), person=person.full_name)
            actor = admin_scope(site, visit).actor_for(held.unit_id)
            if change == "revoke":
                return engine.revoke_role(
                    actor, pid, gid, on=_date(form, "on", N_("the date the role ends")), reason=_text(form, "reason")
                )
            deputy = person_in_form(_text(form, "deputy"), N_("the deputy"))
            valid_to = _optional_date(form, "valid_to")
            if valid_to is None:
                raise InvalidInput(N_("a delegation needs the date it ends (YYYY-MM-DD)"))
            return engine.delegate(
                actor, pid, gid, deputy_id=deputy.id, valid_from=_date(form, "valid_from", N_("the date it starts")),
                valid_to=valid_to, legal_basis=_text(form, "legal_basis"),
            )

        done = "revoke_role" if change == "revoke" else "delegate"
        return await command(
            request, run, Typed(f"{change}:{gid}", _values(form)), lambda _: f"/admin/people/{pid}?done={done}",
            lambda: ("admin_person.html", person_context(visit, pid)),
        )

    @app.post("/admin/people/{reference}/delegations/{delegation}/end")
    async def end_delegation(request: Request, reference: str, delegation: str) -> Response:
        """End a delegation before its term, from a date, with a reason."""
        visit = _signed_in(request)
        pid = _uuid(reference, N_("person"))
        did = _uuid(delegation, N_("delegation"))
        form = await _posted(request)

        def run() -> Receipt[None]:
            person = engine.person(pid)
            made = person.delegations.get(str(did))
            if made is None:
                raise NotFound(N_("%(person)s made no such delegation"), person=person.full_name)
            grant = person.grants[str(made.grant_id)]
            return engine.end_delegation(
                admin_scope(site, visit).actor_for(grant.unit_id), pid, did,
                on=_date(form, "on", N_("the date the delegation ends")), reason=_text(form, "reason"),
            )

        return await command(
            request, run, Typed(f"end:{did}", _values(form)), lambda _: f"/admin/people/{pid}?done=end_delegation",
            lambda: ("admin_person.html", person_context(visit, pid)),
        )

    @app.post("/admin/people/{reference}/password")
    async def set_password(request: Request, reference: str) -> Response:
        """Give a person a new password, typed or made here (then shown once); their open sessions end."""
        visit = _signed_in(request)
        pid = _uuid(reference, N_("person"))
        form = await _posted(request)

        def run() -> tuple[str, dict[str, Any]]:
            context = person_context(visit, pid)  # refuses whoever may not manage this person
            password, generated = _new_password(form)
            person: Person = context["subject"]
            site.accounts.set_password(person.username, person.id, password, one_time=True)
            site.accounts.end_sessions_of(person.id)
            given(admin_scope(site, visit), person.id)
            context.update(
                new_password=password if generated else None, has_account=True,
                done=N_("The one-time password is set and the person's open sessions are ended; at their next "
                        "sign-in they choose their own."),
            )
            return "admin_person.html", context

        try:
            name, context = await run_in_threadpool(run)
        except NotAuthorized:
            raise
        except DomainError as error:
            status, headline = labels.refusal(error, on_dossier=False)
            context = await run_in_threadpool(person_context, visit, pid)
            context.update(typed=Typed("password"), refusal={"headline": headline, "detail": error.message})
            return site.render(request, "admin_person.html", context, status_code=status)
        return site.render(request, name, context)

    # --- evaluation periods ------------------------------------------------------------------------------------

    def periods_context(visit: Visit) -> dict[str, Any]:
        admin_scope(site, visit)
        book = engine.rule_book
        periods = sorted(engine.periods(), key=lambda p: -p.year)
        return {
            "section": "periods", "periods": periods, "steps": STEPS, "step_names": STEP_NAMES,
            "rule_sets": book.rule_sets, "models": book.recognition_models, "typed": Typed(), "title": title,
            "next_year": periods[0].year + 1 if periods else visit.today.year,
        }

    @app.get("/admin/periods")
    def periods_page(request: Request, done: str = "") -> Response:
        """The evaluation periods with their rule sets and step deadlines; opening and closing one."""
        visit = _signed_in(request)
        context = periods_context(visit)
        context["done"] = DONE.get(done)
        return site.render(request, "admin_periods.html", context)

    @app.post("/admin/periods")
    async def open_period(request: Request) -> Response:
        """Open the evaluation period of a year under a rule set, with its recognition models and deadlines."""
        visit = _signed_in(request)
        form = await _posted(request)

        def run() -> Receipt[UUID]:
            year_text = _text(form, "year").strip()
            if not (year_text.isascii() and year_text.isdigit() and len(year_text) == 4):
                raise InvalidInput(N_("'%(text)s' is not a year (four digits)"), text=year_text[:20])
            deadlines = _deadlines(form)
            models = [m for m in form.getlist("models") if isinstance(m, str)]
            return engine.open_period(
                admin_scope(site, visit).actor_for(None), year=int(year_text), deadlines=deadlines,
                rule_set_id=_text(form, "rule_set").strip() or None, recognition_models=models,
            )

        return await command(
            request, run, typed_from("open_period", form), lambda _: "/admin/periods?done=open_period",
            lambda: ("admin_periods.html", periods_context(visit)),
        )

    @app.post("/admin/periods/{year}/deadlines")
    async def change_deadlines(request: Request, year: str) -> Response:
        """Change step deadlines of an open period, with a reason; the dossiers waiting for those steps follow."""
        visit = _signed_in(request)
        number = _period_year(year)
        form = await _posted(request)

        def run() -> Receipt[None]:
            # An empty field keeps that step's deadline: a deadline once set is moved, never taken away.
            deadlines = _deadlines(form)
            return engine.change_deadlines(
                admin_scope(site, visit).actor_for(None), number, deadlines=deadlines, reason=_text(form, "reason")
            )

        return await command(
            request, run, Typed(f"deadlines:{year}", _values(form)), lambda _: "/admin/periods?done=change_deadlines",
            lambda: ("admin_periods.html", periods_context(visit)),
        )

    @app.post("/admin/periods/{year}/close")
    async def close_period(request: Request, year: str) -> Response:
        """Close an evaluation period, which locks its dossiers, with a reason."""
        visit = _signed_in(request)
        number = _period_year(year)
        form = await _posted(request)

        def run() -> Receipt[None]:
            return engine.close_period(
                admin_scope(site, visit).actor_for(None), number, reason=_text(form, "reason")
            )

        return await command(
            request, run, Typed(f"close:{year}", _values(form)), lambda _: "/admin/periods?done=close_period",
            lambda: ("admin_periods.html", periods_context(visit)),
        )

    # --- the rule sets in force --------------------------------------------------------------------------------

    @app.get("/admin/rules")
    def rules_page(request: Request) -> Response:
        """The rule sets and recognition models the engine has loaded: their sources, years and file checksums."""
        visit = _signed_in(request)
        admin_scope(site, visit)
        book = engine.rule_book
        used: dict[str, list[int]] = {}
        for period in engine.periods():
            for rule_id in [period.rule_set_id, *period.recognition_models]:
                used.setdefault(rule_id, []).append(period.year)
        return site.render(
            request, "admin_rules.html",
            {
                "section": "rules", "rule_sets": book.rule_sets, "models": book.recognition_models, "used": used,
                "title": title, "kinds": labels.KINDS,
            },
        )

