"""What signing every commit costs: µs per command, unsigned and signed, side by side, on SQLite and PostgreSQL.

    .venv/bin/python bench/signing_cost.py [--commands 2000] [--repeat 5] [--postgres-url URL]

A command here is what the engine's commit is: one Application.save of one new event (a payload the size of a
real engine event) on the hash-chained recorder. Three stores, each fresh, are written in turn in chunks of 50
commands so that a neighbour's load falls on all alike:

  unsigned   the chain, no signing key;
  signed     the chain, every commit's head signed (heads table) and remembered in the head file, as installed;
  no file    signed, but the head file neither read nor written: the floor under "signed", what the signature and
             the heads insert alone cost.

Per repetition, the mean µs per command of each; the median over the repetitions is printed. Figures, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chain_overhead import STATE, postgres_reachable
from workflow.store import HashChainedRecorder, HeadSigner, SignedHead, application_env

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 50
PAYLOAD = STATE.decode()
KINDS = ("unsigned", "signed", "no file")


class Case(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        self.note = ""

    @event("Noted")
    def note_down(self, note: str) -> None:
        self.note = note


class CommandApp(Application[UUID]):
    name = "dossierflow"


class _NoHeadFile(HeadSigner):
    """Signs as installed, but keeps the remembered head in memory only: what the head file costs is the rest."""

    _head: SignedHead | None = None

    def remembered_head(self) -> SignedHead | None:
        return self._head

    def remember(self, head: SignedHead) -> None:
        self._head = head


@contextmanager
def sqlite_env(directory: Path, kind: str) -> Iterator[dict[str, str]]:
    key = directory / kind.replace(" ", "-") / "signing-key.pem" if kind != "unsigned" else None
    yield application_env(None, directory / f"{kind.replace(' ', '-')}.sqlite", signing_key=key)


def postgres_env_maker(url: str) -> Callable[[Path, str], Any]:
    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)

    @contextmanager
    def postgres_env(directory: Path, kind: str) -> Iterator[dict[str, str]]:
        name = f"dossierflow_bench_{uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            key = directory / kind.replace(" ", "-") / "signing-key.pem" if kind != "unsigned" else None
            database = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
            yield application_env(database, directory / "unused.sqlite", signing_key=key)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    return postgres_env


def one_repetition(make_env: Callable[[Path, str], Any], commands: int) -> dict[str, float]:
    """Mean µs per command of each kind, the kinds interleaved in chunks."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        apps: dict[str, CommandApp] = {}
        for kind in KINDS:
            app = CommandApp(env=stack.enter_context(make_env(Path(tmp), kind)))
            stack.callback(app.close)
            recorder = app.recorder
            assert isinstance(recorder, HashChainedRecorder)
            if kind == "no file":
                assert recorder.signer is not None
                recorder.signer = _NoHeadFile(recorder.signer.key_path, recorder.signer.head_path)
            apps[kind] = app
        cases = {kind: Case() for kind in KINDS}
        for kind, app in apps.items():
            app.save(cases[kind])  # Creates the key, the tables' first rows: not what is measured.
        seconds = dict.fromkeys(KINDS, 0.0)
        for start in range(0, commands, CHUNK):
            for kind in KINDS:
                app, case = apps[kind], cases[kind]
                started = perf_counter()
                for n in range(start, min(commands, start + CHUNK)):
                    case.note_down(f"{n} {PAYLOAD}")
                    app.save(case)
                seconds[kind] += perf_counter() - started
        return {kind: seconds[kind] / commands * 1e6 for kind in KINDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=2000, help="commands per kind per repetition")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions; the median is shown")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("DOSSIERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    args = parser.parse_args()
    backends: list[tuple[str, Callable[[Path, str], Any]]] = [("sqlite", sqlite_env)]
    problem = postgres_reachable(args.postgres_url)
    if problem is None:
        backends.append(("postgres", postgres_env_maker(args.postgres_url)))
    else:
        print(f"(PostgreSQL skipped: {problem})")
    print(f"{args.commands} commands per kind, median of {args.repeat} repetitions, µs per command")
    print(f"{'backend':<9} {'unsigned':>9} {'signed':>9} {'no file':>9} {'signed-unsigned':>16} {'head file':>10}")
    for name, make_env in backends:
        runs = [one_repetition(make_env, args.commands) for _ in range(args.repeat)]
        median = {kind: statistics.median(run[kind] for run in runs) for kind in KINDS}
        extra = statistics.median(run["signed"] - run["unsigned"] for run in runs)
        head_file = statistics.median(run["signed"] - run["no file"] for run in runs)
        print(
            f"{name:<9} {median['unsigned']:>9.0f} {median['signed']:>9.0f} {median['no file']:>9.0f} "
            f"{extra:>16.0f} {head_file:>10.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
