"""verify's speed against the floor: a bare SELECT of the same rows with one sha256 per row.

    .venv/bin/python bench/verify_speed.py [--events 150000] [--postgres-url URL]

Each backend gets a fresh store of generated events (batches of 100, one signed head per batch), then both are
timed over the same rows: verify (chain walk, newest signed head), and the bare loop. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chain_overhead import STATE, TOPIC, postgres_reachable
from workflow.store import application_env, load_public_key, verify_chain

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 100


@contextmanager
def sqlite_store(directory: Path) -> Iterator[tuple[dict[str, str], Callable[[], int]]]:
    path = directory / "events.sqlite"

    def bare() -> int:
        with sqlite3.connect(path) as conn:
            rows = conn.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"
            )
            count = 0
            while page := rows.fetchmany(5000):
                for row in page:
                    hashlib.sha256(row[4]).hexdigest()
                    count += 1
        return count

    yield application_env(None, path, signing_key=directory / "key.pem"), bare


@contextmanager
def postgres_store(url: str, directory: Path) -> Iterator[tuple[dict[str, str], Callable[[], int]]]:
    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"dossierflow_bench_{uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))

    def bare() -> int:
        count = 0
        with psycopg.connect(database) as conn, conn.cursor(name="bare", binary=True) as curs:
            curs.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM bench_events "
                "ORDER BY notification_id"
            )
            while page := curs.fetchmany(5000):
                for row in page:
                    hashlib.sha256(row[4]).hexdigest()
                    count += 1
        return count

    try:
        yield application_env(database, directory / "unused.sqlite", signing_key=directory / "key.pem"), bare
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run(name: str, store: Any, events: int, directory: Path) -> None:
    with store as (env, bare):
        factory = InfrastructureFactory.construct(Environment("bench", env))
        try:
            recorder = factory.application_recorder()
            for _ in range(events // BATCH):
                originator = uuid4()
                recorder.insert_events([StoredEvent(originator, v, TOPIC, STATE) for v in range(1, BATCH + 1)])
            public_key = load_public_key(directory / "key.pem")
            best_verify = best_bare = 0.0
            for _ in range(3):
                started = perf_counter()
                report = verify_chain(recorder, public_key=public_key)
                best_verify = max(best_verify, events / (perf_counter() - started))
                if not report.ok or report.events_checked != events:
                    raise SystemExit(f"the chain does not verify: {report}")
                started = perf_counter()
                assert bare() == events
                best_bare = max(best_bare, events / (perf_counter() - started))
        finally:
            factory.close()
    ratio = best_verify / best_bare
    print(f"{name:<9} {events:>8,} {best_verify:>14,.0f} {best_bare:>20,.0f} {ratio:>7.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("DOSSIERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    args = parser.parse_args()
    print("best of 3 runs each")
    print(f"{'backend':<9} {'events':>8} {'verify ev/s':>14} {'SELECT+sha256 ev/s':>20} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as directory:
        run("sqlite", sqlite_store(Path(directory) / "s"), args.events, Path(directory) / "s")
    problem = postgres_reachable(args.postgres_url)
    if problem is not None:
        print(f"(PostgreSQL skipped: {problem})")
        return
    with tempfile.TemporaryDirectory() as directory:
        run("postgres", postgres_store(args.postgres_url, Path(directory)), args.events, Path(directory))


if __name__ == "__main__":
    main()
