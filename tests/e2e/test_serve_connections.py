"""`dossierflow serve --workers N` on PostgreSQL: N workers that the server has not the connections for are refused
before any starts (a worker refused a connection while starting died with a traceback, and the others failed
requests at random: "too many clients already"), and the count per worker the refusal rests on is the count a
started worker holds."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.application.conftest import build_world
from tests.application.helpers import decided
from tests.conftest import _libpq_url
from tests.e2e.test_bad_input import assert_one_line_refusal, run
from tests.e2e.test_behind_a_proxy import _free_port
from tests.e2e.test_cli import COMMAND, PROJECT
from workflow.store import application_env
from workflow.store.postgres_setup import CONNECTIONS_PER_WORKER

pytestmark = pytest.mark.postgres


@pytest.fixture
def store_on_postgres(fresh_postgres_url: str, tmp_path: Path) -> tuple[str, Path]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    world = build_world(application_env(fresh_postgres_url, data_dir / "unused.sqlite",
                                        signing_key=data_dir / "signing-key.pem"))
    decided(world, "treasury")
    world.engine.close()
    return fresh_postgres_url, data_dir


def _sessions(url: str) -> int:
    database = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_libpq_url(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_more_workers_than_the_server_has_connections_for_are_refused_in_one_line_before_any_starts(
    store_on_postgres: tuple[str, Path],
) -> None:
    url, data_dir = store_on_postgres
    result = run(data_dir, "serve", "--port", "1", "--workers", "64", env={"DATABASE_URL": url})
    assert_one_line_refusal(result, "64 workers may hold", "max_connections", "or raise max_connections")
    assert "dossierflow on http" not in result.stdout


def test_a_started_worker_holds_no_more_connections_than_the_refusal_counts(
    store_on_postgres: tuple[str, Path], tmp_path: Path
) -> None:
    url, data_dir = store_on_postgres
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DOSSIERFLOW_"))}
    environ |= {"DOSSIERFLOW_DATA_DIR": str(data_dir), "DATABASE_URL": url, "PYTHONPATH": str(PROJECT)}
    server = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port)], env=environ, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/sign-in", timeout=10) as answer:
                    assert answer.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stderr.read().decode() if server.stderr else "no server") from None
                time.sleep(0.2)
        # Settled: the start-up verification's readers are back in the pool, the runner has caught up.
        time.sleep(2)
        held = _sessions(url)
        assert 0 < held <= CONNECTIONS_PER_WORKER
    finally:
        server.terminate()
        server.wait(timeout=30)
