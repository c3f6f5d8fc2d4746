"""What the hash chain costs: events/s written through the library's recorders, with and without the chain.

    .venv/bin/python bench/chain_overhead.py [--events 20000] [--repeat 1] [--postgres-url URL]

Each run writes into a fresh store (a new SQLite file, a new PostgreSQL database), in batches of 1 (one command,
one event) and of 100 (a bulk import), then verifies the chain. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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

from workflow.store import application_env, verify_chain

BATCH_SIZES = (1, 100)
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# About the size of a real engine event: an actor, a reason, a few ids and answers, as JSON.
STATE = json.dumps(
    {
        "actor": {
            "_type_": "Actor",
            "_data_": {
                "person_id": {"_type_": "uuid_hex", "_data_": uuid4().hex},
                "role": {"_type_": "Role", "_data_": "approver"},
                "unit_id": {"_type_": "uuid_hex", "_data_": uuid4().hex},
                "on_behalf_of": None,
            },
        },
        "reason": "Hoàn thành tốt nhiệm vụ năm 2024",
        "from_state": {"_type_": "DossierState", "_data_": "endorsed"},
        "to_state": {"_type_": "DossierState", "_data_": "approved"},
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-01-10T08:00:00+00:00"},
    },
    ensure_ascii=False,
    separators=(",", ":"),
).encode()
TOPIC = "domain.dossier:Dossier.Approved"


def batches(events: int, size: int) -> list[list[StoredEvent]]:
    # One aggregate per batch, its versions 1..size: what one save() of one busy aggregate writes.
    result = []
    for _ in range(events // size):
        originator_id = uuid4()
        result.append([StoredEvent(originator_id, version, TOPIC, STATE) for version in range(1, size + 1)])
    return result


@contextmanager
def sqlite_store() -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory() as directory:
        yield application_env(None, Path(directory) / "events.sqlite")


def postgres_store_maker(url: str) -> Callable[[], Iterator[dict[str, str]]]:
    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)

    @contextmanager
    def postgres_store() -> Iterator[dict[str, str]]:
        name = f"dossierflow_bench_{uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield application_env(urlunsplit(urlsplit(url)._replace(path=f"/{name}")), Path("unused"))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    return postgres_store


def measure(store: Callable[[], Any], *, chained: bool, events: int, size: int) -> tuple[float, float | None]:
    """(events/s written, events/s verified or None without a chain)."""
    work = batches(events, size)
    with store() as env:
        if not chained:
            del env["APPLICATION_RECORDER_TOPIC"]
        factory = InfrastructureFactory.construct(Environment("bench", env))
        try:
            recorder = factory.application_recorder()
            started = perf_counter()
            for batch in work:
                recorder.insert_events(batch)
            written = events / (perf_counter() - started)
            verified = None
            if chained:
                started = perf_counter()
                report = verify_chain(recorder)
                verified = events / (perf_counter() - started)
                if not report.ok or report.events_checked != events:
                    raise SystemExit(f"the chain does not verify: {report}")
            return written, verified
        finally:
            factory.close()


def postgres_reachable(url: str) -> str | None:
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; the median is shown")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("DOSSIERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="server on which throw-away databases are created",
    )
    args = parser.parse_args()

    stores: list[tuple[str, Callable[[], Any]]] = [("sqlite", sqlite_store)]
    problem = postgres_reachable(args.postgres_url)
    if problem is None:
        stores.append(("postgres", postgres_store_maker(args.postgres_url)))
    else:
        print(f"(PostgreSQL skipped: {problem})")

    print(f"{args.events} events per run, median of {args.repeat}")
    header = ("backend", "batch", "plain ev/s", "chained ev/s", "chained/plain", "verify ev/s")
    print("{:<9} {:>5} {:>11} {:>13} {:>14} {:>12}".format(*header))
    for name, store in stores:
        for size in BATCH_SIZES:
            plain, chained, verify = [], [], []
            for _ in range(args.repeat):
                # Alternate the two so that drift (cache, autovacuum, disk) hits both alike.
                plain.append(measure(store, chained=False, events=args.events, size=size)[0])
                written, verified = measure(store, chained=True, events=args.events, size=size)
                chained.append(written)
                verify.append(verified or 0.0)
            p, c, v = statistics.median(plain), statistics.median(chained), statistics.median(verify)
            print(f"{name:<9} {size:>5} {p:>11,.0f} {c:>13,.0f} {c / p:>14.2f} {v:>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
