from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from domain.errors import DomainError
from web import report
from web.settings import Settings
from workflow.bootstrap import build_engine
from workflow.clock import local_date
from workflow.engine import Engine

app = typer.Typer(
    help="dossierflow: event-sourced evaluation dossiers of party organizations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


@contextmanager
def engine_session() -> Iterator[Engine]:
    """An engine on the configured store; a refusal or a bad setting ends with a message, never a traceback."""
    try:
        settings = Settings()
        engine = build_engine(
            database_url=settings.database_url,
            data_dir=settings.data_dir,
            max_evidence_bytes=settings.max_evidence_bytes,
        )
    except (ValidationError, ValueError, OSError, PersistenceError, DomainError) as error:
        raise fail(f"cannot open the store: {error}") from None
    try:
        yield engine
    except DomainError as error:
        raise fail(str(error)) from None
    finally:
        engine.close()


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"'{text}' is not a date like 2024-12-31") from None


@app.command()
def demo(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Load only when the store holds no events.")] = False,
) -> None:
    """Load the real units of the seeds and play the 2024 season and the opening of 2025 through the engine."""
    from web.demo import play_demo

    with engine_session() as engine:
        if not engine.is_empty():
            if if_empty:
                typer.echo("The store already holds data; the demo is not loaded again.")
                return
            raise fail("the store already holds data; the demo loads only into an empty store (see README)")
        play_demo(engine, progress=typer.echo)


@app.command()
def status(
    year: Annotated[int | None, typer.Option(help="Only this evaluation year.")] = None,
) -> None:
    """The state of every evaluation period: its dossiers by state and the decided classifications."""
    with engine_session() as engine:
        if engine.is_empty():
            raise fail("the store is empty; load the demo with `dossierflow demo`")
        for line in report.status_lines(engine, year):
            typer.echo(line)


@app.command()
def verify() -> None:
    """Recompute the hash chain of every stored event and report the first broken link."""
    with engine_session() as engine:
        result = engine.verify()
        if result.ok:
            typer.echo(f"ok: {result.events_checked} events, chain intact; head {result.head}")
            return
        assert result.first_break is not None
        brk = result.first_break
        typer.secho(
            f"TAMPERED: link {brk.position} (notification {brk.notification_id}) is {brk.kind}: {brk.detail}",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(code=1)


@app.command()
def history(dossier: Annotated[str, typer.Argument(help="A dossier id, or UNIT-CODE/YEAR.")]) -> None:
    """Who did what to a dossier, when, as what, on whose behalf, and why."""
    with engine_session() as engine:
        for line in report.history_lines(engine, engine.find_dossier(dossier)):
            typer.echo(line)


@app.command()
def show(
    dossier: Annotated[str, typer.Argument(help="A dossier id, or UNIT-CODE/YEAR.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="The dossier as it stood on this date.")] = None,
    version: Annotated[int | None, typer.Option(help="The dossier as it stood at this version.")] = None,
) -> None:
    """A dossier now, as of a date, or at a version."""
    with engine_session() as engine:
        did = engine.find_dossier(dossier)
        if as_of is not None and version is not None:
            raise fail("give --as-of or --version, not both")
        if as_of is not None:
            loaded = engine.dossier_as_of(did, parse_date(as_of))
        else:
            current = engine.dossier(did)
            if version is not None and not 1 <= version <= current.version:
                raise fail(f"version {version} does not exist; the dossier has versions 1 to {current.version}")
            loaded = engine.dossier(did, version=version) if version else current
        for line in report.dossier_lines(engine, loaded):
            typer.echo(line)


@app.command()
def units(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The hierarchy as it stood on this date.")] = None,
) -> None:
    """The hierarchy of units as of a date (today by default): names and places as they were then."""
    with engine_session() as engine:
        day = parse_date(as_of) if as_of else local_date(engine.clock())
        tree = engine.hierarchy(day)
        if not tree:
            raise fail(f"no unit existed on {day}")
        typer.echo(f"Units on {day}:")
        for depth, unit, version in tree:
            typer.echo(f"{'  ' * depth}{version.name}  [{unit.code}, {unit.kind.value}]")


@app.command()
def workflow() -> None:
    """The dossier workflow as a mermaid state diagram."""
    from workflow.spec import SPECS

    for spec in SPECS.values():
        typer.echo(spec.mermaid)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

