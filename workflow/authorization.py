from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import date
from uuid import UUID

from domain.actor import Actor
from domain.errors import NotAuthorized, NotFound
from domain.messages import N_
from domain.person import Person
from domain.unit import Unit
from domain.values import Role
from workflow.spec import Scope, TriggerRule

LoadPerson = Callable[[UUID], Person]
LoadUnit = Callable[[UUID], Unit]


@dataclass(frozen=True)
class Authority:
    """The grant an action rests on, recorded so that "who could act, and why" stays answerable."""

    grant_id: UUID
    holder_id: UUID
    delegation_id: UUID | None

    def stamp(self, actor: Actor) -> Actor:
        return replace(actor, grant_id=self.grant_id, delegation_id=self.delegation_id)


def grant_for(actor: Actor, day: date, load_person: LoadPerson) -> Authority:
    """The grant valid on `day` that lets this actor act as `actor.role` over `actor.unit_id`; deny by default."""
    holder_id = actor.on_behalf_of or actor.person_id
    try:
        holder = load_person(holder_id)
    except NotFound:
        raise NotAuthorized(N_("unknown person %(person)s"), person=holder_id) from None
    grant = holder.holds(actor.role, actor.unit_id, day)
    if grant is None:
        raise NotAuthorized(
            N_("%(name)s holds no %(role)s role over unit %(unit)s valid on %(day)s"),
            name=holder.full_name, role=actor.role, unit=actor.unit_id, day=day,
        )
    if actor.on_behalf_of is None:
        return Authority(grant.grant_id, holder.id, None)
    delegation = holder.delegation_to(actor.person_id, grant.grant_id, day)
    if delegation is None:
        raise NotAuthorized(
            N_("no delegation from %(name)s to this person is valid on %(day)s"), name=holder.full_name, day=day
        )
    return Authority(grant.grant_id, holder.id, delegation.delegation_id)


def ancestors(unit: Unit, day: date, load_unit: LoadUnit) -> list[UUID]:
    found: list[UUID] = []
    version = unit.as_of(day)
    parent = version.parent_id if version else None
    while parent is not None and parent not in found:
        found.append(parent)
        parent_version = load_unit(parent).as_of(day)
        parent = parent_version.parent_id if parent_version else None
    return found


def in_scope(scope: Scope, actor_unit: UUID, unit: Unit, day: date, load_unit: LoadUnit) -> bool:
    if scope is Scope.OWN_UNIT:
        return actor_unit == unit.id
    version = unit.as_of(day)
    if scope is Scope.DIRECT_SUPERIOR:
        return version is not None and version.parent_id == actor_unit
    return actor_unit in ancestors(unit, day, load_unit)


def authorize(
    actor: Actor,
    rule: TriggerRule,
    unit: Unit,
    day: date,
    load_person: LoadPerson,
    load_unit: LoadUnit,
    submitters: Collection[str] = (),
) -> Authority:
    if actor.role is not rule.role:
        raise NotAuthorized(
            N_("'%(step)s' needs the %(role)s role; you act as %(acting)s"), step=rule.term, role=rule.role,
            acting=actor.role,
        )
    authority = grant_for(actor, day, load_person)
    if not in_scope(rule.scope, actor.unit_id, unit, day, load_unit):
        raise NotAuthorized(
            N_("'%(step)s' on %(unit)s needs the %(role)s role held over %(scope)s"),
            step=rule.term, unit=unit.name, role=rule.role, scope=rule.scope,
        )
    if rule.independent and {str(actor.person_id), str(authority.holder_id)} & set(submitters):
        raise NotAuthorized(N_("nobody may '%(step)s' on a dossier they submitted"), step=rule.term)
    return authority


def authorize_admin(actor: Actor, unit: Unit | None, day: date, load_person: LoadPerson, load_unit: LoadUnit) -> None:
    """Administrators manage what lies at or below the unit their role is held over; `None` means a root matter."""
    if actor.role is not Role.ADMINISTRATOR:
        raise NotAuthorized(N_("this needs the administrator role; you act as %(acting)s"), acting=actor.role)
    grant_for(actor, day, load_person)
    if unit is None:
        if load_unit(actor.unit_id).as_of(day) is None or load_unit(actor.unit_id).parent_id is not None:
            raise NotAuthorized(N_("only an administrator over a top-level unit may do this"))
        return
    if unit.id != actor.unit_id and actor.unit_id not in ancestors(unit, day, load_unit):
        raise NotAuthorized(N_("%(unit)s is outside the units your administrator role covers"), unit=unit.name)


# Who may read and export the decided classifications of a unit and of everything below it: those who review,
# decide, audit or administer there. A secretary sees their own dossier, not the lists of their superiors.
READING_ROLES = frozenset({Role.REVIEWER, Role.APPROVER, Role.AUDITOR, Role.ADMINISTRATOR})


def authorize_reading(
    actor: Actor, unit: Unit, days: Collection[date], today: date, load_person: LoadPerson, load_unit: LoadUnit
) -> Authority:
    """The grant that lets this actor read the unit's decided classifications; deny by default.

    In scope: the unit the role is held over, or a unit below it on any of `days` (today, and the end of the period
    asked about: a district dissolved since still had its decisions taken under the province).
    """
    if actor.role not in READING_ROLES:
        raise NotAuthorized(
            N_("reports need the reviewer, approver, auditor or administrator role; you act as %(acting)s"),
            acting=actor.role,
        )
    authority = grant_for(actor, today, load_person)
    if unit.id != actor.unit_id and not any(actor.unit_id in ancestors(unit, day, load_unit) for day in days):
        raise NotAuthorized(
            N_("%(unit)s is outside the units your %(role)s role covers"), unit=unit.name, role=actor.role
        )
    return authority
