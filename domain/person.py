from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.errors import AlreadyExists, InvalidInput, NotAuthorized, NotFound
from domain.ids import person_id
from domain.messages import N_
from domain.text import MAX_CODE_LENGTH, clean_text
from domain.values import Role


@dataclass(frozen=True)
class Grant:
    grant_id: UUID
    role: Role
    unit_id: UUID
    valid_from: date
    valid_to: date | None
    basis: str
    revoked_on: date | None = None

    def valid_on(self, day: date) -> bool:
        ends = [d for d in (self.valid_to, self.revoked_on) if d is not None]
        return self.valid_from <= day and all(day < end for end in ends)


@dataclass(frozen=True)
class Delegation:
    """The holder of `grant_id` lets `deputy_id` act on their behalf, on a legal basis, for a period."""

    delegation_id: UUID
    grant_id: UUID
    deputy_id: UUID
    valid_from: date
    valid_to: date
    legal_basis: str
    revoked_on: date | None = None

    def valid_on(self, day: date) -> bool:
        if self.revoked_on is not None and day >= self.revoked_on:
            return False
        return self.valid_from <= day < self.valid_to


def _check_span(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidInput(
            N_("a validity period must end after it starts (%(start)s to %(end)s)"), start=valid_from, end=valid_to
        )


class Person(Aggregate):
    @staticmethod
    def create_id(username: str) -> UUID:
        return person_id(username)

    @classmethod
    def register(cls, *, username: str, full_name: str, actor: Actor, timestamp: datetime) -> Person:
        if not username.strip() or not full_name.strip():
            raise InvalidInput(N_("a person needs a username and a full name"))
        username = clean_text(username, N_("a username"), max_length=MAX_CODE_LENGTH)
        if any(char.isspace() or char in "/\\" for char in username):
            # A username is typed at every sign-in and named in the token and audit commands: one word, and a
            # path separator would not survive an address.
            raise InvalidInput(N_("a username is one word, without spaces, '/' or '\\'"))
        full_name = clean_text(full_name, N_("a person's full name"))
        return cls(username=username, full_name=full_name, actor=actor, timestamp=timestamp)

    @event("Registered")
    def __init__(self, username: str, full_name: str, actor: Actor, timestamp: datetime) -> None:
        self.username = username
        self.full_name = full_name
        # String keys: snapshots go through JSON.
        self.grants: dict[str, Grant] = {}
        self.delegations: dict[str, Delegation] = {}

    def grants_on(self, day: date) -> list[Grant]:
        return [g for g in self.grants.values() if g.valid_on(day)]

    def holds(self, role: Role, unit_id: UUID, day: date) -> Grant | None:
        for g in self.grants_on(day):
            if g.role == role and g.unit_id == unit_id:
                return g
        return None

    def delegation_to(self, deputy_id: UUID, grant_id: UUID, day: date) -> Delegation | None:
        for d in self.delegations.values():
            if d.deputy_id == deputy_id and d.grant_id == grant_id and d.valid_on(day):
                return d
        return None

    def grant(
        self,
        *,
        grant_id: UUID,
        role: Role,
        unit_id: UUID,
        valid_from: date,
        valid_to: date | None,
        basis: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        _check_span(valid_from, valid_to)
        self._granted(
            grant=Grant(grant_id, role, unit_id, valid_from, valid_to, clean_text(basis, N_("a grant's basis"))),
            actor=actor,
            timestamp=timestamp,
        )

    @event("RoleGranted")
    def _granted(self, grant: Grant, actor: Actor, timestamp: datetime) -> None:
        self.grants[str(grant.grant_id)] = grant

    def revoke(self, *, grant_id: UUID, on: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        if str(grant_id) not in self.grants:
            raise NotFound(N_("%(username)s holds no grant %(grant)s"), username=self.username, grant=grant_id)
        if not reason.strip():
            raise InvalidInput(N_("revoking a role needs a reason"))
        revoked_on = self.grants[str(grant_id)].revoked_on
        if revoked_on is not None:
            # A second revocation would move the end: dated later, it would give back the days the first took away.
            raise InvalidInput(N_("this role was already revoked on %(day)s"), day=revoked_on)
        reason = clean_text(reason, N_("the reason for revoking a role"))
        self._revoked(grant_id=grant_id, on=on, reason=reason, actor=actor, timestamp=timestamp)

    @event("RoleRevoked")
    def _revoked(self, grant_id: UUID, on: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        key = str(grant_id)
        self.grants[key] = replace(self.grants[key], revoked_on=on)

    def delegate(
        self,
        *,
        delegation_id: UUID,
        grant_id: UUID,
        deputy_id: UUID,
        valid_from: date,
        valid_to: date,
        legal_basis: str,
        actor: Actor,
        timestamp: datetime,
    ) -> None:
        grant = self.grants.get(str(grant_id))
        if grant is None:
            raise NotFound(
                N_("%(username)s holds no grant %(grant)s to delegate"), username=self.username, grant=grant_id
            )
        if grant.role in (Role.AUDITOR, Role.ADMINISTRATOR):
            raise InvalidInput(N_("the %(role)s role cannot be delegated"), role=grant.role)
        if deputy_id == self.id:
            raise InvalidInput(N_("a person cannot delegate to themselves"))
        if not legal_basis.strip():
            raise InvalidInput(N_("a delegation needs its legal basis (the decision that authorizes it)"))
        _check_span(valid_from, valid_to)
        grant_ends = min((d for d in (grant.valid_to, grant.revoked_on) if d is not None), default=None)
        if valid_from < grant.valid_from or (grant_ends is not None and valid_to > grant_ends):
            # A deputy acts with the holder's grant: on a day the grant does not cover, the holder could not act either.
            if grant_ends is None:
                raise InvalidInput(
                    N_("a delegation cannot start before the delegated role does (from %(start)s)"),
                    start=grant.valid_from,
                )
            raise InvalidInput(
                N_("a delegation cannot cover days the delegated role does not (from %(start)s to %(end)s)"),
                start=grant.valid_from, end=grant_ends,
            )
        for held in self.delegations.values():
            ends = held.valid_to if held.revoked_on is None else min(held.valid_to, held.revoked_on)
            if held.grant_id == grant_id and held.deputy_id == deputy_id and held.valid_from < valid_to and (
                valid_from < ends
            ):
                # A second delegation of the same days would outlive the end of the first (a form sent twice).
                raise AlreadyExists(
                    N_("this role is already delegated to the same deputy from %(start)s to %(end)s"),
                    start=held.valid_from, end=held.valid_to,
                )
        self._delegated(
            delegation=Delegation(
                delegation_id, grant_id, deputy_id, valid_from, valid_to,
                clean_text(legal_basis, N_("a delegation's legal basis")),
            ),
            actor=actor,
            timestamp=timestamp,
        )

    @event("Delegated")
    def _delegated(self, delegation: Delegation, actor: Actor, timestamp: datetime) -> None:
        self.delegations[str(delegation.delegation_id)] = delegation

    def end_delegation(self, *, delegation_id: UUID, on: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        delegation = self.delegations.get(str(delegation_id))
        if delegation is None:
            raise NotFound(
                N_("%(username)s made no delegation %(delegation)s"), username=self.username, delegation=delegation_id
            )
        if not reason.strip():
            raise InvalidInput(N_("ending a delegation needs a reason"))
        if delegation.revoked_on is not None:
            raise InvalidInput(N_("this delegation was already ended on %(day)s"), day=delegation.revoked_on)
        reason = clean_text(reason, N_("the reason for ending a delegation"))
        self._delegation_ended(delegation_id=delegation_id, on=on, reason=reason, actor=actor, timestamp=timestamp)

    @event("DelegationEnded")
    def _delegation_ended(self, delegation_id: UUID, on: date, reason: str, actor: Actor, timestamp: datetime) -> None:
        key = str(delegation_id)
        self.delegations[key] = replace(self.delegations[key], revoked_on=on)

    # A password lives with the web's accounts, never in the log: these events say only that one was set, and by
    # whom. They change no state here (the accounts know whose password is one-time), so snapshots stay as they were.

    def give_one_time_password(self, *, actor: Actor, timestamp: datetime) -> None:
        self._one_time_password_given(actor=actor, timestamp=timestamp)

    @event("OneTimePasswordGiven")
    def _one_time_password_given(self, actor: Actor, timestamp: datetime) -> None:
        pass

    def change_own_password(self, *, actor: Actor, timestamp: datetime) -> None:
        if actor.person_id != self.id or actor.on_behalf_of is not None:
            raise NotAuthorized(N_("only %(name)s may choose their own password"), name=self.full_name)
        self._password_changed(actor=actor, timestamp=timestamp)

    @event("PasswordChanged")
    def _password_changed(self, actor: Actor, timestamp: datetime) -> None:
        pass
