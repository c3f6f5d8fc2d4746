"""A web application on a copy of the demo season, for HTTP tests: sign in as any demo person, act, look."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response

from domain.ids import person_id
from projections.store import make_engine
from web.accounts import Accounts
from web.app import Site, create_app
from web.readside import open_read_side, started
from web.server import accounts_url
from workflow.bootstrap import build_engine
from workflow.clock import VIETNAM, SimulatedClock
from workflow.engine import Engine

# The demo's 2025 season is open; on this day its self-assessments are not yet late.
DAY = datetime(2025, 12, 1, 9, 0, tzinfo=VIETNAM).astimezone(UTC)
# Cheap hashing: the tests sign in hundreds of times; the production parameters are argon2-cffi's defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

CELL = "lc-kim-tan-cb1"  # a pilot cell whose 2025 dossier is a draft
SECRETARY = "bt-lc-kim-tan-cb1"
REVIEWER = "tc-lc-kim-tan"  # the ward committee's organization board: reviews the cell
APPROVER = "tt-lc-kim-tan"  # the ward committee's standing committee: decides the cell
AUDITOR = "ubkt-tinh-uy"
OTHER_REVIEWER = "tc-lc-pom-han"  # a reviewer of another ward: the cell is outside their committee
PROVINCE_APPROVER = "tt-tinh-uy"


def password(username: str) -> str:
    return f"pw-{username}-secret"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def text_of(response: Response) -> str:
    """The page's visible text in one line, for assertions on what a person reads."""
    body = response.text.split('<main id="main">', 1)[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace("&#39;", "'").replace("&#34;", '"').strip()


@dataclass
class Web:
    app: FastAPI
    site: Site
    engine: Engine
    clock: SimulatedClock
    data_dir: Path

    def client(self) -> TestClient:
        # English, the language of the msgids, so the tests can name what they look for as the templates say it;
        # without the header a page is in Vietnamese, the default (tests/web/test_catalogs.py reads those).
        return TestClient(
            self.app, follow_redirects=False, base_url="http://testserver", headers={"Accept-Language": "en"}
        )

    def signed_in(self, username: str) -> TestClient:
        client = self.client()
        page = client.get("/sign-in")
        response = client.post(
            "/sign-in", data={"csrf_token": csrf(page.text), "username": username, "password": password(username)}
        )
        assert response.status_code == 303, text_of(response)
        return client

    def page(self, client: TestClient, path: str) -> tuple[str, str]:
        """A page's HTML and the version of the dossier its forms carry."""
        response = client.get(path)
        assert response.status_code == 200, text_of(response)
        found = re.search(r'name="version" value="(\d+)"', response.text)
        return response.text, found.group(1) if found else ""

    def post(self, client: TestClient, path: str, page: str, data: dict[str, str], **kwargs: object) -> Response:
        return client.post(path, data={"csrf_token": csrf(page), **data}, **kwargs)  # type: ignore[arg-type]

    def dossier_path(self, code: str = CELL, year: int = 2025) -> str:
        return f"/dossiers/{self.engine.find_dossier(f'{code}/{year}')}"


def play_demo_into(data_dir: Path, database_url: str | None = None) -> None:
    from web.demo import play_demo

    engine = build_engine(database_url=database_url, data_dir=data_dir)
    try:
        play_demo(engine, progress=lambda _: None)
    finally:
        engine.close()


@contextmanager
def web_on(data_dir: Path, database_url: str | None = None) -> Iterator[Web]:
    clock = SimulatedClock(DAY)
    engine = build_engine(database_url=database_url, data_dir=data_dir, clock=clock)
    side = started(engine, open_read_side(engine, database_url=database_url, data_dir=data_dir))
    # The runner started above catches up in its own thread: wait until it has the whole demo.
    waited = side.wait_for(engine.recorder.max_notification_id() or 0, timeout=120)
    assert waited.reached, waited
    # The brake on failed sign-ins as in production, but quicker: refused at the 5th failure, short waits before.
    accounts = Accounts(
        make_engine(accounts_url(database_url, data_dir)), hasher=FAST_HASHER, lock_after=5, max_delay=0.05
    )
    for username in (SECRETARY, REVIEWER, APPROVER, AUDITOR, OTHER_REVIEWER, PROVINCE_APPROVER, "bt-lc-kim-tan",
                     "tc-tinh-uy", "admin", "tc-huyen-uy"):
        accounts.set_password(username, person_id(username), password(username))
    site = Site(engine, side, accounts)
    app = create_app(site, run_background=False)
    try:
        yield Web(app, site, engine, clock, data_dir)
    finally:
        side.close()
        engine.close()


def copy_of(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target
