"""Local accounts, server-side sessions and the brake on repeated failed sign-ins.

These live beside the read models (web.sqlite in the data directory, or the same PostgreSQL database), never in the
event log: a password hash or a session id is a secret to be replaced or forgotten, which an immutable log cannot
do. Who a person is and what they may do stays in the log (Person, grants); this only proves who is at the keyboard.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from projections.store import driver_rows, placeholder

_meta = MetaData()
ACCOUNTS = Table(
    "web_accounts",
    _meta,
    Column("username", String(200), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("updated_at", Float, nullable=False),
)
SESSIONS = Table(
    "web_sessions",
    _meta,
    # sha256 of the cookie's value: a copy of this table does not let anyone sign in.
    Column("key", String(64), primary_key=True),
    Column("person_id", String(36), nullable=True),
    Column("csrf_token", String(64), nullable=False),
    Column("locale", String(10), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
)
# The accounts whose password an administrator gave (typed or made): their holder must choose their own at the next
# sign-in. A table of its own, not a column: the accounts table of an existing installation stays as it is.
ONE_TIME = Table(
    "web_one_time_passwords",
    _meta,
    Column("username", String(200), primary_key=True),
    Column("set_at", Float, nullable=False),
)
# Sessions signed in with a one-time password: they open the change-password form and nothing else. The session
# itself stays without a person, so every other page treats it as not signed in.
PENDING = Table(
    "web_password_change_sessions",
    _meta,
    Column("key", String(64), primary_key=True),
    Column("username", String(200), nullable=False),
    Column("person_id", String(36), nullable=False),
)
# Sessions ended by their person's own change of password, kept a few minutes: the same form sent again under one
# of them (a double click without JavaScript, whose first answer, with the new session, the browser dropped) is
# recognised rather than sent to sign in as a form whose session ended (web/password.py).
REPLACED = Table(
    "web_replaced_sessions",
    _meta,
    Column("key", String(64), primary_key=True),
    Column("person_id", String(36), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("locale", String(10), nullable=True),
    Column("replaced_at", Float, nullable=False),
)
FAILURES = Table(
    "web_sign_in_failures",
    _meta,
    # "account:<username>" or "address:<ip>"
    Column("key", String(300), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_at", Float, nullable=False),
    Column("locked_until", Float, nullable=True),
)


class _SessionRow(NamedTuple):
    """The columns of a session that a request reads (see Accounts.session)."""

    person_id: str | None
    csrf_token: str
    locale: str | None
    seen_at: float


# What a request reads of its session, in this order (Accounts.session_of).
SESSION_COLUMNS = _SessionRow._fields

# The shortest password anyone may set (a generated one is longer).
MIN_PASSWORD = 8
# A session unused this long is over; a signed-in person signs in again.
IDLE_SECONDS = 8 * 3600
# Failed sign-ins: from the SLOW_AFTER-th on, each answer waits longer; at LOCK_AFTER the key is refused for
# LOCK_SECONDS. A success on the account clears its count; counts older than FORGET_SECONDS start again.
SLOW_AFTER = 3
LOCK_AFTER = 10
LOCK_SECONDS = 15 * 60
FORGET_SECONDS = 3600
# How long a session ended by a change of password is remembered (REPLACED).
REPLACED_SECONDS = 10 * 60


@dataclass(frozen=True)
class Session:
    key: str
    person_id: UUID | None
    csrf_token: str
    locale: str | None


@dataclass(frozen=True)
class PendingChange:
    """A session signed in with a one-time password: whose, until they choose their own."""

    username: str
    person_id: UUID


@dataclass(frozen=True)
class Brake:
    """What the failed sign-ins so far mean for the next attempt: wait `delay` seconds, or refused until a time."""

    delay: float
    locked_until: float | None


def _key(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def session_key(cookie: str | None) -> str | None:
    """The key a session cookie's value is kept under, or None for a value no session can have."""
    if not cookie or len(cookie) > 100:
        return None
    return _key(cookie)


class Accounts:
    def __init__(
        self,
        engine: Engine,
        hasher: PasswordHasher | None = None,
        *,
        slow_after: int = SLOW_AFTER,
        lock_after: int = LOCK_AFTER,
        lock_seconds: float = LOCK_SECONDS,
        max_delay: float = 4.0,
    ) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self.slow_after, self.lock_after, self.lock_seconds, self.max_delay = (
            slow_after, lock_after, lock_seconds, max_delay
        )
        _meta.create_all(engine)
        self._session_statement = (
            f"SELECT {', '.join(_SessionRow._fields)} FROM {SESSIONS.name} WHERE key = {placeholder(engine)}"
        )
        # Verifying an unknown username costs as much as a known one: no timing tells which usernames exist.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    # --- passwords ----------------------------------------------------------------------------------------------

    def set_password(self, username: str, person_id: UUID, password: str, *, one_time: bool = False) -> None:
        """Set a password; `one_time` when an administrator gives it, whose holder must then choose their own."""
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
        now = time.time()
        row = {"person_id": str(person_id), "password_hash": self.hasher.hash(password), "updated_at": now}
        with self.engine.begin() as conn:
            done = conn.execute(update(ACCOUNTS).where(ACCOUNTS.c.username == username).values(**row)).rowcount
            if not done:
                conn.execute(insert(ACCOUNTS).values(username=username, **row))
            conn.execute(delete(ONE_TIME).where(ONE_TIME.c.username == username))
            if one_time:
                conn.execute(insert(ONE_TIME).values(username=username, set_at=now))

    def password_set_at(self, username: str) -> float | None:
        """When the account's password was last set (time.time()), or None without an account."""
        with self.engine.connect() as conn:
            return conn.execute(select(ACCOUNTS.c.updated_at).where(ACCOUNTS.c.username == username)).scalar()

    def is_one_time(self, username: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(ONE_TIME.c.username).where(ONE_TIME.c.username == username)).first() is not None

    def username_of(self, person_id: UUID) -> str | None:
        """The username a person signs in with, if they have a password at all (API-only people have none)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(ACCOUNTS.c.username).where(ACCOUNTS.c.person_id == str(person_id)).order_by(ACCOUNTS.c.username)
            ).scalar()

    def has_account(self, username: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(ACCOUNTS.c.username).where(ACCOUNTS.c.username == username)).first() is not None

    def check_password(self, username: str, password: str) -> UUID | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ACCOUNTS).where(ACCOUNTS.c.username == username)).first()
        if row is None:
            with contextlib.suppress(VerificationError):
                self.hasher.verify(self._dummy_hash, password)
            return None
        try:
            self.hasher.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if self.hasher.check_needs_rehash(row.password_hash):
            # Stronger hashing of the same password: a one-time password stays one-time.
            self.set_password(username, UUID(row.person_id), password, one_time=self.is_one_time(username))
        return UUID(row.person_id)

    # --- sessions -----------------------------------------------------------------------------------------------

    def new_session(self, person_id: UUID | None = None, locale: str | None = None) -> tuple[str, Session]:
        """A fresh session: the cookie value to hand out (only its hash is kept) and the session."""
        cookie = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(_key(cookie), person_id, secrets.token_urlsafe(32), locale)
        with self.engine.begin() as conn:
            conn.execute(
                insert(SESSIONS).values(
                    key=session.key, person_id=str(person_id) if person_id else None,
                    csrf_token=session.csrf_token, locale=locale, created_at=now, seen_at=now,
                )
            )
        return cookie, session

    def session(self, cookie: str | None) -> Session | None:
        key = session_key(cookie)
        if key is None:
            return None
        # Every request reads its session, never from a copy kept in memory (ending it, here or in another
        # process, holds from the next request on): straight through the driver and without a transaction (on
        # PostgreSQL, two round trips fewer); the rare write in `session_of` has one of its own.
        rows = driver_rows(self.engine, self._session_statement, (key,))
        return self.session_of(key, rows[0] if rows else None)

    def session_of(self, key: str, columns: Sequence[Any] | None) -> Session | None:
        """The session of `key` from its row's SESSION_COLUMNS as just read (None: no such session), by whoever
        read them: `session`, or the web's visit, which reads them in the same statement as other things."""
        if columns is None:
            return None
        now = time.time()
        row = _SessionRow(*columns)
        if now - row.seen_at > IDLE_SECONDS:
            with self.engine.begin() as conn:
                conn.execute(delete(SESSIONS).where(SESSIONS.c.key == key))
            return None
        # One write a minute at most: a page view should not write.
        if now - row.seen_at > 60:
            with self.engine.begin() as conn:
                conn.execute(update(SESSIONS).where(SESSIONS.c.key == key).values(seen_at=now))
        return Session(key, UUID(row.person_id) if row.person_id else None, row.csrf_token, row.locale)

    def new_pending_session(
        self, username: str, person_id: UUID, locale: str | None = None
    ) -> tuple[str, Session]:
        """A session for someone who signed in with a one-time password: it opens the change-password form only."""
        cookie, session = self.new_session(None, locale)
        with self.engine.begin() as conn:
            conn.execute(insert(PENDING).values(key=session.key, username=username, person_id=str(person_id)))
        return cookie, session

    def pending_change(self, session: Session) -> PendingChange | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(PENDING).where(PENDING.c.key == session.key)).first()
        return None if row is None else PendingChange(row.username, UUID(row.person_id))

    def set_locale(self, session: Session, locale: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(SESSIONS).where(SESSIONS.c.key == session.key).values(locale=locale))

    def end_session(self, session: Session) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.key == session.key))
            conn.execute(delete(PENDING).where(PENDING.c.key == session.key))

    def end_sessions_of(self, person_id: UUID, *, created_before: float | None = None) -> int:
        """End the person's sessions (those signed in with a one-time password too); with `created_before` (a
        time.time()), only those made before it: a change of password ends the sessions made with the old one, not
        one made since with the new one (by the same form sent twice, answered in the meantime)."""
        person = str(person_id)
        with self.engine.begin() as conn:
            if created_before is None:
                pending = select(PENDING.c.key).where(PENDING.c.person_id == person)
                ended = conn.execute(delete(SESSIONS).where(SESSIONS.c.key.in_(pending))).rowcount
                conn.execute(delete(PENDING).where(PENDING.c.person_id == person))
                return ended + conn.execute(delete(SESSIONS).where(SESSIONS.c.person_id == person)).rowcount
            older = select(SESSIONS.c.key).where(SESSIONS.c.created_at < created_before)
            keys = list(conn.execute(
                select(PENDING.c.key).where(PENDING.c.person_id == person, PENDING.c.key.in_(older))
            ).scalars())
            ended = 0
            if keys:
                ended = conn.execute(delete(SESSIONS).where(SESSIONS.c.key.in_(keys))).rowcount
                conn.execute(delete(PENDING).where(PENDING.c.key.in_(keys)))
            return ended + conn.execute(
                delete(SESSIONS).where(SESSIONS.c.person_id == person, SESSIONS.c.created_at < created_before)
            ).rowcount

    def note_replaced(self, session: Session, person_id: UUID) -> None:
        """Remember, a few minutes, that `session` was ended by `person_id`'s change of their own password."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(REPLACED).where(
                or_(REPLACED.c.key == session.key, REPLACED.c.replaced_at < now - REPLACED_SECONDS)
            ))
            conn.execute(insert(REPLACED).values(
                key=session.key, person_id=str(person_id), csrf_token=session.csrf_token, locale=session.locale,
                replaced_at=now,
            ))

    def replaced_session(self, cookie: str | None) -> Session | None:
        """The session of this cookie if a change of its person's password ended it minutes ago (note_replaced)."""
        key = session_key(cookie)
        if key is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(REPLACED).where(
                REPLACED.c.key == key, REPLACED.c.replaced_at >= time.time() - REPLACED_SECONDS
            )).first()
        return None if row is None else Session(key, UUID(row.person_id), row.csrf_token, row.locale)

    # --- the brake on failed sign-ins ---------------------------------------------------------------------------

    def brake(self, *keys: str) -> Brake:
        now = time.time()
        with self.engine.connect() as conn:
            rows = conn.execute(select(FAILURES).where(FAILURES.c.key.in_(keys))).all()
        locked = [r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now]
        if locked:
            return Brake(0.0, max(locked))
        counts = [r.failures for r in rows if now - r.last_at < FORGET_SECONDS]
        worst = max(counts, default=0)
        delay = 0.0 if worst < self.slow_after else min(0.25 * 2 ** (worst - self.slow_after), self.max_delay)
        return Brake(delay, None)

    def failed(self, *keys: str) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            for key in keys:
                row = conn.execute(select(FAILURES).where(FAILURES.c.key == key)).first()
                count = 1 if row is None or now - row.last_at >= FORGET_SECONDS else row.failures + 1
                locked_until = now + self.lock_seconds if count >= self.lock_after else None
                values = {"failures": count, "last_at": now, "locked_until": locked_until}
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(FAILURES).values(key=key, **values))
                        continue
                    except IntegrityError:
                        pass  # another process counted the same key at the same moment: count on top of it
                conn.execute(update(FAILURES).where(FAILURES.c.key == key).values(**values))

    def succeeded(self, account_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(FAILURES).where(FAILURES.c.key == account_key))
