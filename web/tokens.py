"""Bearer tokens for API clients, kept beside the accounts (web.sqlite, or `web_*` tables on PostgreSQL).

A token is a secret like a password: only its SHA-256 is stored (it is 256 random bits, so no slow hash is
needed to make guessing hopeless), it is shown once when made, and it can be revoked, which an immutable event
log could not do. It proves who calls; what they may do is still decided by the engine from the person's grants
valid at the moment of each call.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Date, Engine, Float, MetaData, String, Table, insert, select, update

# The longest label kept: `dossierflow token create` refuses a longer one; other callers' are cut to it.
LABEL_LIMIT = 200

_meta = MetaData()
TOKENS = Table(
    "web_api_tokens",
    _meta,
    # sha256 of the token: a copy of this table does not let anyone call the API.
    Column("key", String(64), primary_key=True),
    # What `dossierflow token list` shows and `token revoke` takes: names the token without revealing it.
    Column("token_id", String(32), nullable=False, unique=True),
    Column("person_id", String(36), nullable=False, index=True),
    Column("label", String(LABEL_LIMIT), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_on", Date, nullable=True),
    Column("last_used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

PREFIX = "dft_"
# Longer than any token we hand out: a header of a megabyte is not hashed.
_MAX_TOKEN = 100


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    person_id: UUID
    label: str
    created_at: float
    expires_on: date | None
    last_used_at: float | None
    revoked_at: float | None

    def usable_on(self, day: date) -> bool:
        return self.revoked_at is None and (self.expires_on is None or day <= self.expires_on)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _record(r: Any) -> TokenRecord:
    return TokenRecord(
        r.token_id, UUID(r.person_id), r.label, r.created_at, r.expires_on, r.last_used_at, r.revoked_at
    )


class Tokens:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        _meta.create_all(engine)

    def create(self, person_id: UUID, *, label: str = "", expires_on: date | None = None) -> tuple[str, TokenRecord]:
        """A new token for a person: the secret to show once (only its hash is kept) and its record."""
        token = PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(6)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                insert(TOKENS).values(
                    key=_key(token), token_id=token_id, person_id=str(person_id), label=label[:LABEL_LIMIT],
                    created_at=now, expires_on=expires_on, last_used_at=None, revoked_at=None,
                )
            )
        return token, TokenRecord(token_id, person_id, label[:LABEL_LIMIT], now, expires_on, None, None)

    def resolve(self, token: str, today: date) -> TokenRecord | None:
        """The record of a usable token (not revoked, not expired), or None for anything else."""
        if not token.startswith(PREFIX) or len(token) > _MAX_TOKEN:
            return None
        key = _key(token)
        with self.engine.connect() as conn:
            row = conn.execute(select(TOKENS).where(TOKENS.c.key == key)).first()
        if row is None:
            return None
        record = _record(row)
        if not record.usable_on(today):
            return None
        now = time.time()
        # One write a minute at most: a read through the API should not write.
        if record.last_used_at is None or now - record.last_used_at > 60:
            with self.engine.begin() as conn:
                conn.execute(update(TOKENS).where(TOKENS.c.key == key).values(last_used_at=now))
        return record

    def revoke(self, token_id: str) -> tuple[TokenRecord, bool] | None:
        """Revoke a token by its id: its record and whether this call revoked it (a second revocation keeps the
        first one's time); None when there is no such token."""
        with self.engine.begin() as conn:
            row = conn.execute(select(TOKENS).where(TOKENS.c.token_id == token_id)).first()
            if row is None:
                return None
            if row.revoked_at is not None:
                return _record(row), False
            conn.execute(update(TOKENS).where(TOKENS.c.token_id == token_id).values(revoked_at=time.time()))
            row = conn.execute(select(TOKENS).where(TOKENS.c.token_id == token_id)).first()
        return _record(row), True

    def listed(self, person_id: UUID | None = None) -> list[TokenRecord]:
        query = select(TOKENS).order_by(TOKENS.c.created_at)
        if person_id is not None:
            query = query.where(TOKENS.c.person_id == str(person_id))
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]
