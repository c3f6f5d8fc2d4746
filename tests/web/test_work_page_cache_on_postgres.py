"""My work's page cache on PostgreSQL, where a visit reads its session, the log's head and the read models'
positions in one statement (web/visit_reads.py): a repeated view costs that statement alone, and whatever another
process does (an event recorded, a role revoked, a session ended) shows at the next view all the same."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from domain.ids import person_id, unit_id
from domain.values import Role
from projections import reading as reading_module
from projections.store import make_engine
from tests.web import test_work_page_cache as on_sqlite
from tests.web.world import CELL, SECRETARY, Web, play_demo_into, web_on
from web import accounts as accounts_module
from web import visit_reads as visit_reads_module
from web.accounts import Accounts
from web.server import accounts_url
from workflow.bootstrap import build_engine

pytestmark = pytest.mark.postgres


def _database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _admin_connection(postgres_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


@pytest.fixture(scope="module")
def demo_on_postgres(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The demo season played once into a database (read models included), each test's database made from it."""
    name = f"dossierflow_test_{uuid4().hex[:16]}"
    with _admin_connection(postgres_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    data_dir = tmp_path_factory.mktemp("demo-on-postgres") / "data"
    try:
        play_demo_into(data_dir, _database(postgres_url, name))
        with web_on(data_dir, _database(postgres_url, name)):
            pass
        with _admin_connection(postgres_url) as conn:
            # What the world left connected (the accounts' pool) would keep the database from serving as a template.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        yield name, data_dir
    finally:
        with _admin_connection(postgres_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(postgres_url: str, demo_on_postgres: tuple[str, Path]) -> Iterator[str]:
    """A database of its own for one test, made from the demo's."""
    template, _ = demo_on_postgres
    name = f"dossierflow_test_{uuid4().hex[:16]}"
    with _admin_connection(postgres_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    try:
        yield _database(postgres_url, name)
    finally:
        with _admin_connection(postgres_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def web(database_url: str, demo_on_postgres: tuple[str, Path], tmp_path: Path) -> Iterator[Web]:
    _, template_dir = demo_on_postgres
    with web_on(shutil.copytree(template_dir, tmp_path / "data"), database_url) as world:
        assert world.site.visit_reads is not None
        yield world


# The page cache's behaviour on SQLite (tests/web/test_work_page_cache.py), here with the one-statement visit.
test_a_repeated_view_is_served_from_the_cache_on_postgresql = (
    on_sqlite.test_a_repeated_view_is_served_from_the_cache_with_its_etag_and_a_304_on_revalidation
)
test_another_persons_action_shows_at_once_on_postgresql = on_sqlite.test_another_persons_action_shows_at_once
test_a_revoked_grant_shows_at_once_on_postgresql = on_sqlite.test_a_revoked_grant_shows_at_once
test_a_language_switch_shows_at_once_on_postgresql = on_sqlite.test_a_language_switch_shows_at_once
test_signing_out_and_in_again_gives_no_page_of_the_old_session_on_postgresql = (
    on_sqlite.test_signing_out_and_in_again_gives_no_page_of_the_old_session
)


def test_a_cached_view_on_postgresql_is_one_statement_with_no_read_of_the_logs_tail(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    for module in (reading_module, accounts_module, visit_reads_module):
        driver_rows = module.driver_rows  # type: ignore[attr-defined]

        def counted(engine: Any, statement: str, parameters: Any = (), _rows: Any = driver_rows) -> Any:
            statements.append(statement)
            return _rows(engine, statement, parameters)

        monkeypatch.setattr(module, "driver_rows", counted)
    tail = web.engine.cache._tail
    tail_reads: list[int] = []

    def counted_tail(after: int, limit: int) -> Any:
        tail_reads.append(after)
        return tail(after, limit)

    monkeypatch.setattr(web.engine.cache, "_tail", counted_tail)
    visit_reads = web.site.visit_reads
    assert visit_reads is not None
    rows = visit_reads._rows
    visits: list[Any] = []

    def counted_rows(parameters: Any) -> Any:
        visits.append(parameters)
        return rows(parameters)

    monkeypatch.setattr(visit_reads, "_rows", counted_rows)
    client = web.signed_in(SECRETARY)
    first = client.get("/work")
    assert web.site.work_pages is not None
    hits = web.site.work_pages.hits
    statements.clear()
    tail_reads.clear()
    visits.clear()
    again = client.get("/work")
    assert again.text == first.text
    assert web.site.work_pages.hits == hits + 1
    assert len(visits) == 1
    assert statements == []
    assert tail_reads == []


def test_on_postgresql_a_visit_whose_connection_the_server_closed_while_idle_reads_on_a_new_one(
    web: Web, postgres_url: str
) -> None:
    client = web.signed_in(SECRETARY)
    first = client.get("/work")
    visit_reads = web.site.visit_reads
    assert visit_reads is not None
    # As after a server restart: every connection kept idle is gone, however many.
    idle = [visit_reads._checkout() for _ in range(3)]
    visit_reads._idle.extend(idle)
    assert len(idle) == 3
    with _admin_connection(postgres_url) as conn:
        for connection in idle:
            conn.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))
    again = client.get("/work")
    assert again.status_code == 200
    assert again.text == first.text
    assert all(connection.closed for connection in idle)


def test_on_postgresql_a_step_recorded_by_another_process_shows_at_the_next_view_though_the_read_models_stand_still(
    web: Web, database_url: str
) -> None:
    client = web.signed_in(SECRETARY)
    before = client.get("/work")
    assert client.get("/work").text == before.text
    # The read models stand still from here: only the log's head, read with the session, tells of the new step.
    web.site.side.close()
    other = build_engine(database_url=database_url, data_dir=web.data_dir, clock=web.clock)
    try:
        other.rename_unit(
            on_sqlite._admin(), unit_id(CELL), name="Chi bộ Tổ dân phố số 5 (mới)",
            effective_from=date(2025, 11, 1), reason="Đổi tên",
        )
    finally:
        other.close()
    after = client.get("/work")
    assert "The lists are still catching up with the latest steps" in after.text
    assert after.headers["etag"] != before.headers["etag"]


def test_on_postgresql_the_last_role_revoked_by_another_process_ends_the_session_at_the_next_view(
    web: Web, database_url: str
) -> None:
    client = web.signed_in(SECRETARY)
    assert client.get("/work").status_code == 200
    assert client.get("/work").status_code == 200
    other = build_engine(database_url=database_url, data_dir=web.data_dir, clock=web.clock)
    try:
        person = other.person(person_id(SECRETARY))
        # Their one role: once it ends, no page is theirs any more.
        (grant,) = person.grants_on(web.site.today())
        assert grant.role is Role.SECRETARY
        revoked = other.revoke_role(
            on_sqlite._admin(), person.id, grant.grant_id, on=date(2025, 12, 1), reason="Chuyển công tác"
        )
    finally:
        other.close()
    assert web.site.side.wait_for(revoked.position).reached
    after = client.get("/work")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/sign-in")


def test_on_postgresql_a_session_ended_by_another_process_is_over_at_the_next_view(
    web: Web, database_url: str
) -> None:
    client = web.signed_in(SECRETARY)
    assert client.get("/work").status_code == 200
    assert client.get("/work").status_code == 200
    other = Accounts(make_engine(accounts_url(database_url, web.data_dir)))
    try:
        assert other.end_sessions_of(person_id(SECRETARY)) >= 1
    finally:
        other.engine.dispose()
    after = client.get("/work")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/sign-in")
