"""Running the web application on the configured store: `dossierflow serve` and the demo's sign-ins."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from domain.ids import person_id
from projections.store import make_engine, sqlite_url
from web.accounts import Accounts
from web.app import Site, create_app
from web.readside import open_read_side, started
from web.settings import load_settings
from workflow.bootstrap import build_engine
from workflow.engine import Engine
from workflow.store import is_postgres_url


def accounts_url(database_url: str | None, data_dir: Path) -> str:
    """Accounts and sessions: web.sqlite beside an embedded store, the same PostgreSQL database otherwise."""
    if database_url and is_postgres_url(database_url):
        return "postgresql+psycopg://" + database_url.strip().split("://", 1)[1]
    return sqlite_url(data_dir / "web.sqlite")


def app_from_env() -> FastAPI:
    """The application on the store the environment configures, with the read models kept up in this process."""
    settings = load_settings()
    engine = build_engine(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        max_evidence_bytes=settings.max_evidence_bytes,
        connect_timeout=settings.postgres_connect_timeout,
        lock_timeout=settings.postgres_lock_timeout,
        signing_key=settings.signing_key,
    )
    side = started(engine, open_read_side(engine, database_url=settings.database_url, data_dir=settings.data_dir))
    accounts = Accounts(make_engine(accounts_url(settings.database_url, settings.data_dir)))
    site = Site(
        engine, side, accounts, secure_cookies=settings.secure_cookies, page_cache_entries=settings.page_cache_entries
    )
    site.on_close.extend([side.close, engine.close])
    return create_app(site)


# The people `make run` prints a sign-in for: one of each role in the demo's 2025 season, which is still open.
DEMO_SIGN_INS = (
    ("bt-lc-kim-tan-cb1", "secretary of a party cell whose 2025 self-assessment is a draft"),
    ("tc-lc-kim-tan", "reviewer: the ward committee's organization board, reviews that cell"),
    ("tt-lc-kim-tan", "approver: the ward committee's standing committee, decides that cell"),
    ("bt-lc-kim-tan", "secretary of the ward committee, whose 2025 self-assessment is submitted"),
    ("tc-tinh-uy", "reviewer: the provincial organization board, reviews the committees"),
    ("tt-tinh-uy", "approver: the provincial standing committee, decides the committees"),
    ("ubkt-tinh-uy", "auditor: the provincial inspection committee"),
    ("admin", "administrator of the province"),
)


@dataclass(frozen=True)
class DemoSignIn:
    username: str
    password: str
    full_name: str
    what: str


def set_demo_passwords(engine: Engine, accounts: Accounts) -> list[DemoSignIn]:
    """A fresh random password for each demo person above (those the store holds), for this run's sign-ins."""
    made = []
    for username, what in DEMO_SIGN_INS:
        pid = person_id(username)
        try:
            person = engine.person(pid)
        except Exception:  # a store without the demo: nobody to sign in as
            continue
        password = secrets.token_urlsafe(9)
        accounts.set_password(username, pid, password)
        made.append(DemoSignIn(username, password, person.full_name, what))
    return made
