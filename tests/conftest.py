"""Fixtures shared by the whole suite: the event store's backends, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from workflow.store import CHAIN_TABLE_SUFFIX, application_env
from workflow.store.chain import HEADS_TABLE_SUFFIX

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq_url(url: str) -> str:
    # psycopg takes the libpq form; the SQLAlchemy-style driver suffix is accepted by application_env only.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@", 1) if parts.password else url


@dataclass(frozen=True)
class Backend:
    """One event store under test: its Application environment, and raw access to its database.

    application_name must be the `name` of the Application under test: PostgreSQL tables are named after it
    (`<name>_events`), SQLite's are not (`stored_events`).
    """

    name: str
    env: dict[str, str]
    location: str
    signing_key: Path
    application_name: str = "dossierflow"

    @property
    def head_file(self) -> Path:
        return self.signing_key.with_name("chain-head.json")

    @property
    def heads_table(self) -> str:
        return self.events_table + HEADS_TABLE_SUFFIX

    @property
    def snapshots_table(self) -> str:
        return "stored_snapshots" if self.name == "sqlite" else f"{self.application_name.lower()}_snapshots"

    @property
    def events_table(self) -> str:
        return "stored_events" if self.name == "sqlite" else f"{self.application_name.lower()}_events"

    @property
    def chain_table(self) -> str:
        return self.events_table + CHAIN_TABLE_SUFFIX

    @property
    def notification_id(self) -> str:
        """The events table's column that holds the notification id."""
        return "rowid" if self.name == "sqlite" else "notification_id"

    def raw_sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement directly on the database, committed, bypassing the application.

        Placeholders are `?` on both backends.
        """
        if self.name == "sqlite":
            with closing(sqlite3.connect(self.location)) as conn, conn:
                return conn.execute(statement, params).fetchall()
        with psycopg.connect(_libpq_url(self.location), autocommit=True) as conn:
            cursor = conn.execute(statement.replace("%", "%%").replace("?", "%s").encode(), params)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The server's URL, or a skip (a failure when DOSSIERFLOW_REQUIRE_POSTGRES=1, as in CI)."""
    url = os.environ.get("DOSSIERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        with psycopg.connect(_libpq_url(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        reason = f"PostgreSQL not reachable at {_redacted(url)}: {str(error).strip()}"
        if os.environ.get("DOSSIERFLOW_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database for one test, dropped afterwards."""
    name = f"dossierflow_test_{uuid4().hex[:16]}"
    with psycopg.connect(_libpq_url(postgres_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    finally:
        # FORCE: a test that failed may have left an application's pool connected.
        with psycopg.connect(_libpq_url(postgres_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    # Every backend signs its heads and seals its snapshots, as build_engine's stores do; the key and the head file
    # live outside the database, as they must.
    key = tmp_path / "keys" / "signing-key.pem"
    if request.param == "sqlite":
        path = tmp_path / "events.sqlite"
        return Backend("sqlite", application_env(None, path, signing_key=key), str(path), key)
    # Asked for here, not as a parameter, so that the SQLite runs never need a server.
    url: str = request.getfixturevalue("fresh_postgres_url")
    return Backend("postgres", application_env(url, tmp_path / "unused.sqlite", signing_key=key), url, key)
