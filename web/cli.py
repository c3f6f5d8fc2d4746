from __future__ import annotations

import contextlib
import errno
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
import typer.core
from eventsourcing.persistence import PersistenceError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from domain.errors import DomainError
from domain.text import clean_text
from domain.values import DossierState
from projections.models import access as access_model
from projections.models import audit as audit_model
from projections.models import dossiers as dossiers_model
from projections.models import units as units_model
from projections.readside import ReadSide
from web import listings, report
from web.readside import open_read_side
from web.report import printable
from web.settings import Settings, SettingsError, load_settings
from workflow import store
from workflow.bootstrap import build_engine, open_store
from workflow.clock import EARLIEST, LATEST, end_of_day, local_date, start_of_day, system_clock
from workflow.store import SigningKeyError, StoreUnavailable, is_postgres_url
from workflow.store.application import StoreApplication
from workflow.store.backend import sqlite_damaged, sqlite_failure

if TYPE_CHECKING:
    # Imported by the commands that use them: the engine's modules (rules, evaluations, evidence) are most of the
    # start-up of a listing that reads only the read models (status, units).
    from web.tokens import Tokens
    from workflow.engine import Engine

_Function = TypeVar("_Function", bound=Callable[..., Any])

# click's UsageError, the class of every refusal of the command line's own syntax (a missing argument or option, an
# option without its value, an unknown option or command, an argument too many): typer exports only its subclass
# BadParameter, and its recent versions carry click in a private module of their own.
_USAGE_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _usage_refused(error: Exception, ctx: Any) -> typer.Exit:
    """The refusal in one line, as every other refusal of ours (typer draws it in a box under the usage)."""
    said: str = cast(Any, error).format_message()
    return fail(f"{said.rstrip('.')} (see `{ctx.command_path} --help`)")


class _OneValueOnce(typer.core.TyperCommand):
    """A command that refuses an option of one value given twice (`--year 2024 --year 2025`): click keeps the last
    one silently, so the answer would be for a filter other than the one the person believes they gave. Repeatable
    options (`--state`, `--anchor`) and flags are left alone."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # ctx: click's Context, which recent versions of typer carry a copy of in a private module of their own.
        try:
            if not ctx.resilient_parsing:
                # A first pass of the same parser, for the order it met the options in (each time it met one).
                _, _, order = self.make_parser(ctx).parse_args(args=list(args))
                seen: set[str | None] = set()
                for param in order:
                    if not isinstance(param, typer.core.TyperOption) or param.multiple or param.is_flag or param.count:
                        continue
                    if param.name in seen:
                        raise fail(f"{param.opts[0]} is given more than once; give it once")
                    seen.add(param.name)
            return super().parse_args(ctx, args)
        except _USAGE_ERROR as error:
            raise _usage_refused(error, ctx) from None


class _Group(typer.core.TyperGroup):
    """A group that says a command it does not have in one line."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except _USAGE_ERROR as error:
            raise _usage_refused(error, ctx) from None


class _Typer(typer.Typer):
    """Typer whose groups are _Group and whose commands are _OneValueOnce unless they say otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", _Group)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[_Function], _Function]:
        kwargs.setdefault("cls", _OneValueOnce)
        return super().command(*args, **kwargs)


app = _Typer(
    help="dossierflow: event-sourced evaluation dossiers of party organizations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# The longest input echoed back in a message: a pasted page is named by its start, not printed again.
_ECHO_LIMIT = 80
# A dossier reference is a unit code (at most 200 characters, see domain.text) and a year, or a UUID.
_REFERENCE_LIMIT = 220


def fail(message: str) -> typer.Exit:
    # Messages quote what the user typed: escaped, so that it cannot add lines or colour to the message.
    typer.secho(f"error: {printable(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


def quoted(text: str) -> str:
    shown = text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + f"… ({len(text):,} characters)"
    return f"'{printable(shown)}'"


_Opened = TypeVar("_Opened", bound=StoreApplication)


@contextmanager
def _store_opened(opener: Callable[[Settings], _Opened]) -> Iterator[_Opened]:
    """What `opener` makes of the configured store; a refusal, a bad setting or a store that cannot be used ends with
    a one-line message, never a traceback."""
    try:
        settings = load_settings()
        opened = opener(settings)
    except (SettingsError, StoreUnavailable, SigningKeyError) as error:
        raise fail(str(error)) from None
    except (PersistenceError, sqlite3.Error) as error:
        # Opening reads the store too (the engine's position in the log): a lock held elsewhere shows up here.
        raise fail(_store_failure(error, settings.database_url, settings.data_dir)) from None
    except (ValueError, OSError, DomainError) as error:
        raise fail(f"cannot open the store: {_one_line(error)}") from None
    try:
        yield opened
    except DomainError as error:
        raise fail(str(error)) from None
    except (StoreUnavailable, SigningKeyError) as error:
        raise fail(str(error)) from None
    except (PersistenceError, sqlite3.Error) as error:
        raise fail(_store_failure(error, settings.database_url, settings.data_dir)) from None
    except KeyboardInterrupt as interrupt:
        _release_frames(interrupt)
        raise
    finally:
        with _uninterrupted():
            opened.close()


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Closing runs to its end: a Ctrl-C meanwhile is raised once it has. Raised inside a connection's close, it
    left SQLAlchemy's pool logging "Exception closing connection" with a traceback (1 in 150 interrupted rebuilds),
    and inside a lock's __enter__ it would leave the lock held (see _ctrl_c_asks)."""
    with _ctrl_c_asks(again_raises=False) as asked:
        yield
    if asked():
        raise KeyboardInterrupt


@contextmanager
def _ctrl_c_asks(*, again_raises: bool) -> Iterator[Callable[[], bool]]:
    """While this lasts, Ctrl-C only asks (the value yielded says whether it did) rather than raising wherever the
    program is. Raised between a lock's or a context manager's __enter__ and its `with` (Python's own window), it
    left a connection out of the database library's pool, given back after the pool was closed with a traceback (2
    in 250 interrupted demos), or the head file's wake-up lock held by this thread for ever, so that closing the store
    hung (1 in about 80). again_raises: a second Ctrl-C raises at once, should the work asked to stop never end."""
    import signal
    import threading

    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler or threading.current_thread() is not threading.main_thread():
        # Ctrl-C ignored (started in the background, say), already taken by a handler of the command's own, or
        # somewhere no handler can be set.
        yield lambda: False
        return
    asked: list[int] = []

    def ask(signum: int, frame: object) -> None:
        asked.append(signum)
        if again_raises:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, ask)
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, previous)


def engine_session(*, read_only: bool) -> contextlib.AbstractContextManager[Engine]:
    """An engine on the configured store. read_only: the command only reads, so it creates nothing and writes
    nothing (it can verify an archived copy on a read-only medium)."""
    return _store_opened(
        lambda settings: build_engine(
            database_url=settings.database_url,
            data_dir=settings.data_dir,
            max_evidence_bytes=settings.max_evidence_bytes,
            read_only=read_only,
            connect_timeout=settings.postgres_connect_timeout,
            lock_timeout=settings.postgres_lock_timeout,
            signing_key=settings.signing_key,
            # A command runs in one thread (`projections run`'s runner reads the log in one too).
            single_connection=True,
        )
    )


def store_session() -> contextlib.AbstractContextManager[StoreApplication]:
    """The configured store opened read-only as build_engine opens it, as a log only: for a listing of the read models,
    which needs none of the engine's use cases."""
    return _store_opened(
        lambda settings: open_store(
            database_url=settings.database_url,
            data_dir=settings.data_dir,
            connect_timeout=settings.postgres_connect_timeout,
            lock_timeout=settings.postgres_lock_timeout,
            signing_key=settings.signing_key,
            # A command runs in one thread (`projections run`'s runner reads the log in one too).
            single_connection=True,
        )
    )


def _one_line(error: BaseException) -> str:
    # The database's own sentence, without the SQL statement, its parameters and the link SQLAlchemy adds; the
    # driver's error is SQLAlchemy's `orig`, or the cause the eventsourcing library re-raised it from.
    cause: BaseException | None = error.orig if isinstance(error, DBAPIError) else error.__cause__
    if cause is not None and getattr(cause, "sqlstate", None):
        said = str(cause).strip().splitlines()
        reason = said[0] if said else type(cause).__name__
        if getattr(cause, "sqlstate", None) == "42501":
            # insufficient_privilege: the role in DATABASE_URL may read, not write (or not even read) here.
            return f"the database role lacks a right this command needs: {reason}"
        return reason
    if isinstance(error, DBAPIError) and str(error.orig).strip():
        # SQLite's errors carry no SQLSTATE: its sentence alone, without the statement and SQLAlchemy's link.
        return re.sub(r"\s+", " ", str(error.orig)).strip()
    return re.sub(r"\s+", " ", str(error)).strip() or type(error).__name__


def _store_failure(error: BaseException, database_url: str | None, data_dir: Path) -> str:
    """A failure of the store in the middle of a command: damaged file, lock held elsewhere, server gone."""
    text = _one_line(error)
    if database_url and is_postgres_url(database_url):
        if "lock timeout" in text:
            return (
                "the store is locked by another session and the lock was not released in time "
                f"(DOSSIERFLOW_POSTGRES_LOCK_TIMEOUT); nothing was changed; try again: {text}"
            )
        return f"the PostgreSQL store failed: {text}"
    cause = error.__cause__ if isinstance(error.__cause__, sqlite3.Error) else error
    return sqlite_failure(data_dir / "events.sqlite", cause)


def parse_date(text: str) -> date:
    try:
        if not text.isascii():
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise fail(f"{quoted(text)} is not a date like 2024-12-31") from None
    # As the pages bound them: the ends of the calendar overflow once a Vietnamese day is moved to UTC.
    if not EARLIEST <= day <= LATEST:
        raise fail(f"{day.isoformat()} is outside the years {EARLIEST.year} to {LATEST.year}")
    return day


def parse_whole_number(text: str, what: str, example: str, max_digits: int) -> int:
    # int() takes superscripts and other scripts' digits only in part (int('²') fails, int('٢') is 2) and refuses
    # more than 4300 digits: only ASCII digits, and few enough for any real year or version, are numbers here.
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > max_digits:
        raise fail(f"{quoted(text)} is not {what} like {example}")
    return int(digits)


def parse_reference(text: str) -> str:
    if not text.strip() or len(text) > _REFERENCE_LIMIT:
        raise fail(f"{quoted(text)} is neither a dossier id nor a reference like UNIT-CODE/2024")
    return text


# Written in the data directory before the demo's first event and removed after its last: a store it names that holds
# events then holds part of the demo (interrupted by Ctrl-C, a kill, a crash), and `demo --if-empty` (`make run`)
# must not take it for the demo loaded and serve it.
_DEMO_UNFINISHED = "demo-unfinished"
# Held (flock) by the demo while it loads: a second demo on the same data directory waits for nothing and is told.
_DEMO_LOCK = "demo.lock"


def _store_named(settings: Settings) -> str:
    """Which store the marker is about, without the database URL's password: a digest of the URL."""
    import hashlib

    if not settings.database_url:
        return "embedded"
    return "database " + hashlib.sha256(settings.database_url.encode("utf-8")).hexdigest()[:32]


def _unfinished_demo(settings: Settings) -> bool:
    """Whether a demo was begun on this store and never finished."""
    try:
        named = (settings.data_dir / _DEMO_UNFINISHED).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return named == _store_named(settings)


def _release_frames(interrupt: BaseException) -> None:
    """Drop what the frames an interrupt unwound still hold (a context manager interrupted inside its __enter__, with
    the connection it took), so that it is given back now, while the store is open, not when the traceback is."""
    import traceback

    traceback.clear_frames(interrupt.__traceback__)


def _load_demo(engine: Engine, settings: Settings, if_empty: bool) -> bool:
    """Play the demo into the store if it is empty; False when --if-empty found data and nothing was loaded."""
    from web.demo import play_demo

    if not engine.is_empty():
        held = engine.recorder.max_notification_id() or 0
        if _unfinished_demo(settings):
            raise fail(
                f"the store holds part of the demo, which did not finish ({held:,} events); to load the demo, "
                "start again on an empty data directory or database"
            )
        if if_empty:
            typer.echo("The store already holds data; the demo is not loaded again.")
            return False
        raise fail("the store already holds data; the demo loads only into an empty store (see README)")
    marker = settings.data_dir / _DEMO_UNFINISHED
    try:
        marker.write_text(_store_named(settings) + "\n", encoding="utf-8")
    except OSError as error:
        raise fail(f"cannot write {quoted(str(marker))}: {_one_line(error)}") from None
    try:
        with _ctrl_c_asks(again_raises=True) as stop_requested:
            play_demo(engine, progress=typer.echo, stop_requested=stop_requested)
    except KeyboardInterrupt as interrupt:
        _release_frames(interrupt)
        # Each step is saved whole, so the log is sound; but what it holds is no longer empty, nor the whole demo.
        fail(f"interrupted: {_part_of_the_demo(engine)}")
        raise typer.Exit(code=130) from None
    except (PersistenceError, sqlite3.Error) as error:
        # A full disk, a server gone: said as any command says it, then what the store now holds (trying the demo
        # again on it is refused: it is no longer empty).
        fail(_store_failure(error, settings.database_url, settings.data_dir))
        raise fail(_part_of_the_demo(engine)) from None
    marker.unlink(missing_ok=True)
    return True


def _part_of_the_demo(engine: Engine) -> str:
    try:
        held = f"{engine.recorder.max_notification_id() or 0:,} events"
    except (PersistenceError, sqlite3.Error):
        held = "its events up to the failure"
    return (
        f"the store holds part of the demo ({held}, each step whole); to load the demo, start again on an empty "
        "data directory or database"
    )


@contextmanager
def _loading_alone(settings: Settings) -> Iterator[None]:
    """One demo at a time per data directory. A second one started while the first plays (a second `make run`) saw
    the first one's marker and said that the store held a demo that did not finish, to be started again on an empty
    store: its user would empty the store being filled. It is told that the demo is loading now instead."""
    import fcntl
    import os

    path = settings.data_dir / _DEMO_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise fail(f"cannot write {quoted(str(path))}: {_one_line(error)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise fail(
                "another `dossierflow demo` is loading the demo into this store now; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


@app.command()
def demo(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Load only when the store holds no events.")] = False,
) -> None:
    """Load the real units of the seeds and play the 2024 season and the opening of 2025 through the engine."""
    with engine_session(read_only=False) as engine:
        settings = load_settings()
        with _loading_alone(settings):
            if not _load_demo(engine, settings, if_empty):
                return
        with read_side_session(engine):
            # Brought up to date here, once, so that the first listing after the demo answers at once.
            pass


@app.command()
def status(
    year: Annotated[str | None, typer.Option(help="Only this evaluation year.", metavar="YEAR")] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", help="The figures and dossiers of this unit (code) and everything below it.")
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="List only dossiers in this state (repeatable).", metavar="STATE"),
    ] = None,
    limit: Annotated[str, typer.Option(help="At most this many dossiers listed per period.", metavar="N")] = "200",
    everything: Annotated[bool, typer.Option("--all", help="List every dossier (no --limit).")] = False,
) -> None:
    """The state of every evaluation period: its dossiers by state and the decided classifications, then its dossiers
    by unit code (the first 200 unless told otherwise)."""
    only = None if year is None else parse_whole_number(year, "a year", "2024", 4)
    states = None if state is None else list(dict.fromkeys(parse_state(text) for text in state))
    most = parse_limit(limit, everything)
    code = clean_argument(unit, "a unit code") if unit is not None else None
    with store_session() as engine:
        if engine.is_empty():
            raise fail("the store is empty; load the demo with `dossierflow demo`")
        with read_side_session(engine) as side:
            chosen = None
            if code is not None:
                chosen = units_model.unit_by_code(side.store, code)
                if chosen is None:
                    raise fail(f"no unit with code {quoted(code)}")
            known = dossiers_model.periods(side.store)
            if only is not None and only not in known:
                raise fail(f"no evaluation period for {only}")
            if not known:
                raise fail("no evaluation period has been opened yet")
            for line in listings.status_lines(side.store, only, unit=chosen, states=states, limit=most):
                typer.echo(line)
            # The listing reads the read models, not the log: say so, since damage to the log's older pages (which a
            # caught-up read side never reads again) shows only to `verify`, which reads every event.
            at = max((row.position for row in side.status() if not row.building), default=0)
            typer.echo(
                f"(figures from the read models, up to event {at:,}; `dossierflow verify` checks the log itself)"
            )


def parse_state(text: str) -> DossierState:
    try:
        return DossierState(text.strip())
    except ValueError:
        known = ", ".join(s.value for s in DossierState)
        raise fail(f"{quoted(text)} is not a dossier state; the states are {known}") from None


class _Progress:
    """events/s (or evidence files/s) and ETA on stderr, once a run has lasted long enough for anyone to wonder."""

    def __init__(self, what: str = "events", after: _Progress | None = None) -> None:
        self.what = what
        self.after = after
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, checked: int, total: int) -> None:
        if checked == 0:
            # A phase begins (0 of its total): its rate counts from now, on a line below the phase before.
            self.started = time.monotonic()
            if self.after is not None:
                self.after.done()
            return
        elapsed = time.monotonic() - self.started
        if elapsed < 2:
            return
        rate = checked / elapsed
        eta = max(total - checked, 0) / rate
        line = f"\rverified {checked:,} of ~{total:,} {self.what}, {rate:,.0f} {self.what}/s, ETA {eta:,.0f} s "
        typer.echo(line, err=True, nl=False)
        self.shown = True

    def done(self) -> None:
        if self.shown:
            typer.echo("", err=True)
            self.shown = False


def _verified(engine: Engine, public_key: Path | None, anchors: list[Path] | None) -> store.ChainReport:
    progress = _Progress()
    evidence_progress = _Progress("evidence files", after=progress)
    try:
        key = store.load_public_key(public_key) if public_key is not None else None
        signed = [(f"the checkpoint {path}", store.SignedHead.read(path)) for path in anchors or []]
        report = engine.verify(public_key=key, anchors=signed, progress=progress, evidence_progress=evidence_progress)
    except store.SigningKeyError as error:
        raise fail(str(error)) from None
    finally:
        progress.done()
        evidence_progress.done()
    return report


@app.command()
def verify(
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="Verify with this public key (PEM) instead of this installation's own key."),
    ] = None,
    anchor: Annotated[
        list[Path] | None,
        typer.Option("--anchor", help="A signed head exported by `dossierflow checkpoint`; may be repeated."),
    ] = None,
) -> None:
    """Recompute the hash chain, check its signed head, the heads kept outside the database, snapshots and evidence."""
    with engine_session(read_only=True) as engine:
        result = _verified(engine, public_key, anchor)
        if result.ok:
            signed = result.signed_head
            line = (
                f"ok: {result.events_checked} events, chain intact; {result.evidence_files} evidence files intact; "
                f"head {result.head}"
            )
            if signed is not None:
                line += f", signed at {signed.signed_at} by key {signed.key_id}"
            elif result.events_checked:
                line += " (signatures not checked: no key)"
            typer.echo(line)
            return
        brk = result.first_break
        if brk is not None:
            typer.secho(
                f"TAMPERED: link {brk.position} (notification {brk.notification_id}) is {brk.kind}: {brk.detail}",
                err=True,
                fg=typer.colors.RED,
            )
        for finding in result.findings:
            # A file's name is text someone typed: escaped, so that it cannot add a line of its own.
            line = printable(f"TAMPERED: {finding.subject} is {finding.kind}: {finding.detail}")
            typer.secho(line, err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1)


def _signer(engine: Engine) -> store.HeadSigner:
    signer = getattr(engine.recorder, "signer", None)
    if not isinstance(signer, store.HeadSigner):
        raise fail("this store is opened without a signing key")
    return signer


def _taken(target: Path) -> typer.Exit:
    if target.is_dir():
        return fail(f"cannot write {target}: it is a directory; give --out a file's name")
    return fail(f"cannot write {target}: it exists already and is not written over; give --out a new file's name")


def _refuse_taken(target: Path) -> None:
    """Said before the work whose result goes to `target` (verifying a national store takes minutes), not after; the
    file is still made new by `_write_new`, in case it appears meanwhile."""
    if target.exists() or target.is_symlink():
        raise _taken(target)
    if not target.parent.is_dir():
        raise fail(f"cannot write {target}: there is no directory {target.parent}")


def _write_new(target: Path, data: bytes) -> None:
    """data in a new file: --out naming the store, the signing key or a checkpoint kept earlier, by a slip, must not
    replace it (`checkpoint --out data/events.sqlite` wrote its JSON over the whole store)."""
    try:
        with target.open("xb") as file:
            file.write(data)
    except FileExistsError:
        raise _taken(target) from None
    except OSError as error:
        raise fail(f"cannot write {target}: {error.strerror or error}") from None


@app.command()
def checkpoint(
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the signed head (JSON).")] = None,
) -> None:
    """Verify the store, then export its head, freshly signed, for an inspection committee to keep."""
    if out is not None:
        _refuse_taken(out)
    # Read-only, as `verify` opens it: signing a head writes nothing to the store, and a mistyped data directory
    # must be said to hold no store rather than be given an empty one.
    with engine_session(read_only=True) as engine:
        signer = _signer(engine)
        result = _verified(engine, None, None)
        if not result.ok or result.signed_head is None:
            raise fail("the store does not verify (run `dossierflow verify`); no checkpoint is signed over it")
        head = result.signed_head
        signed = signer.sign_head(head.position, head.notification_id, head.hash)
        target = out or Path(f"checkpoint-{signed.position}-{signed.signed_at[:19].replace(':', '')}.json")
        _write_new(target, signed.to_json().encode("utf-8"))
        signer.remember(signed)
        typer.echo(
            f"checkpoint of link {signed.position} (event #{signed.notification_id}, hash {signed.hash}) "
            f"signed by key {signed.key_id}, written to {target}"
        )


@app.command("public-key")
def public_key_command(
    out: Annotated[Path | None, typer.Option("--out", help="Write the PEM to this file instead of stdout.")] = None,
) -> None:
    """The public half of this installation's signing key (PEM), for whoever verifies a copy offline."""
    with engine_session(read_only=True) as engine:
        try:
            key = _signer(engine).public_key
        except store.SigningKeyError as error:
            raise fail(str(error)) from None
        pem = store.public_key_pem(key)
        if out is None:
            typer.echo(pem.decode("ascii"), nl=False)
            return
        with contextlib.suppress(OSError):
            if out.is_file() and out.read_bytes() == pem:
                # Run again: the file already says what it would be written with.
                typer.echo(f"public key {store.fingerprint(key)} already in {out}")
                return
        _write_new(out, pem)
        typer.echo(f"public key {store.fingerprint(key)} written to {out}")


@app.command()
def history(dossier: Annotated[str, typer.Argument(help="A dossier id, or UNIT-CODE/YEAR.")]) -> None:
    """Who did what to a dossier, when, as what, on whose behalf, and why."""
    reference = parse_reference(dossier)
    with engine_session(read_only=True) as engine:
        for line in report.history_lines(engine, engine.find_dossier(reference)):
            typer.echo(line)


@app.command()
def show(
    dossier: Annotated[str, typer.Argument(help="A dossier id, or UNIT-CODE/YEAR.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="The dossier as it stood on this date.")] = None,
    version: Annotated[str | None, typer.Option(help="The dossier as it stood at this version.", metavar="N")] = None,
) -> None:
    """A dossier now, as of a date, or at a version."""
    reference = parse_reference(dossier)
    if as_of is not None and version is not None:
        raise fail("give --as-of or --version, not both")
    day = parse_date(as_of) if as_of is not None else None
    number = parse_whole_number(version, "a version", "3", 9) if version is not None else None
    with engine_session(read_only=True) as engine:
        did = engine.find_dossier(reference)
        if day is not None:
            loaded = engine.dossier_as_of(did, day)
        else:
            current = engine.dossier(did)
            if number is not None and not 1 <= number <= current.version:
                raise fail(f"version {number} does not exist; the dossier has versions 1 to {current.version}")
            loaded = engine.dossier(did, version=number) if number else current
        for line in report.dossier_lines(engine, loaded):
            typer.echo(line)


def parse_limit(limit: str, everything: bool) -> int | None:
    if everything:
        return None
    return parse_whole_number(limit, "a number of lines", "200", 9)


@app.command()
def units(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The hierarchy as it stood on this date.")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Only this unit (code) and everything below it.")] = None,
    depth: Annotated[
        str | None, typer.Option(help="Only this many levels below the top (or below --unit; 0: itself).", metavar="N")
    ] = None,
    limit: Annotated[str, typer.Option(help="At most this many units listed.", metavar="N")] = "200",
    everything: Annotated[bool, typer.Option("--all", help="List every unit (no --limit).")] = False,
) -> None:
    """The hierarchy of units as of a date (today by default): how many there are by kind, then the tree, names and
    places as they were then (the first 200 units unless told otherwise)."""
    chosen = parse_date(as_of) if as_of is not None else None
    under = clean_argument(unit, "a unit code") if unit is not None else None
    levels = parse_whole_number(depth, "a number of levels", "2", 3) if depth is not None else None
    most = parse_limit(limit, everything)
    with store_session() as engine, read_side_session(engine) as side:
        # The engine's clock, as build_engine sets it.
        day = chosen or local_date(system_clock())
        if under is not None and (registered := units_model.unit_by_code(side.store, under)) is not None:
            # The code as registered: the listing compares codes exactly, and one typed in another case is the same.
            under = registered.code
        printed = False
        for line in listings.unit_lines(side.store, day, under=under, depth=levels, limit=most):
            typer.echo(line)
            printed = True
        if not printed:
            raise fail(f"no unit with code {quoted(under)} on {day}" if under else f"no unit existed on {day}")


@app.command()
def stats(
    year: Annotated[str, typer.Argument(help="The evaluation year.", metavar="YEAR")],
    unit: Annotated[str | None, typer.Option("--unit", help="A unit's code (default: each top-level unit).")] = None,
) -> None:
    """Statistics of a unit and everything below it for a period: states, classifications, four-good cells, the
    quota meter of each group, the pilot and model-cell targets."""
    chosen_year = parse_whole_number(year, "a year", "2024", 4)
    with engine_session(read_only=True) as engine, read_side_session(engine) as side:
        if unit is not None:
            found = units_model.unit_by_code(side.store, clean_argument(unit, "a unit code"))
            if found is None:
                raise fail(f"no unit with code {quoted(unit)}")
            chosen = [found]
        else:
            chosen = listings.top_units(side.store)
        if chosen_year not in dossiers_model.periods(side.store):
            raise fail(f"no evaluation period for {chosen_year}")
        for row in chosen:
            for line in listings.stats_lines(side.store, row, chosen_year):
                typer.echo(line)


@app.command()
def audit(
    person: Annotated[str | None, typer.Option(help="Only what this person (username) did.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only this unit (code) and everything below it.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (an event name such as Approved).")] = None,
    year: Annotated[str | None, typer.Option(help="Only this evaluation year.", metavar="YEAR")] = None,
    since: Annotated[str | None, typer.Option(help="From this date.", metavar="DATE")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date, inclusive.", metavar="DATE")] = None,
    dossier: Annotated[str | None, typer.Option(help="Only this dossier (id or UNIT-CODE/YEAR).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The trail as it stood at the end of this date.")] = None,
    csv_out: Annotated[bool, typer.Option("--csv", help="Every matching row as CSV on stdout.")] = False,
    limit: Annotated[str, typer.Option(help="At most this many rows (text output).", metavar="N")] = "200",
) -> None:
    """The audit trail: every event with who, as what, over which unit, on whose behalf, why, what changed, and
    its chain hash."""
    filters: dict[str, Any] = {}
    username = clean_argument(person, "a username") if person is not None else None
    code = clean_argument(unit, "a unit code") if unit is not None else None
    if action is not None:
        filters["action"] = _audit_action(clean_argument(action, "an action"))
    if year is not None:
        filters["year"] = parse_whole_number(year, "a year", "2024", 4)
    if since is not None:
        filters["since"] = start_of_day(parse_date(since))
    if until is not None:
        filters["until"] = end_of_day(parse_date(until))
    if since is not None and until is not None and filters["since"] > filters["until"]:
        # As the audit page says it: an empty answer would read as "nothing happened then".
        raise fail(f"the time range ends before it starts (--since {since} is after --until {until})")
    if as_of is not None:
        filters["as_of"] = end_of_day(parse_date(as_of))
    most = parse_whole_number(limit, "a number of rows", "200", 9)
    with engine_session(read_only=True) as engine:
        # A mistyped code or username is said so, not answered "0 of 0 events"; one typed in another case is the
        # registered one (ids are derived from the exact text).
        if code is not None:
            filters["unit_id"] = engine.unit_by_code(code).id
        if username is not None:
            filters["person_id"] = engine.person_by_username(username).id
        if dossier is not None:
            filters["dossier_id"] = engine.find_dossier(parse_reference(dossier))
        with read_side_session(engine) as side:
            if "year" in filters and filters["year"] not in dossiers_model.periods(side.store):
                # As `stats` and `status` say it: "0 of 0 events" would read as a year in which nothing happened.
                raise fail(f"no evaluation period for {filters['year']}")
            if csv_out:
                audit_model.audit_csv(side.store, sys.stdout, **filters)
                return
            # A province's trail is millions of events: counted only this far past the rows shown.
            trail = audit_model.audit_trail(side.store, limit=most, count_limit=most + 10_000, **filters)
            for line in listings.audit_lines(list(trail.rows)):
                typer.echo(line)
            shown = len(trail.rows)
            matched = f"{trail.total:,}" if trail.total_exact else f"more than {trail.total:,}"
            more = "; --limit or --csv for the others" if trail.total > shown else ""
            typer.echo(f"{shown:,} of {matched} events{more}", err=True)


@app.command("who-could-act")
def who_could_act(
    dossier: Annotated[str, typer.Argument(help="A dossier id, or UNIT-CODE/YEAR.")],
    on: Annotated[str, typer.Option("--on", help="The date (the end of that day, Vietnam time).", metavar="DATE")],
) -> None:
    """Who could act on a dossier on a date: by which role, over which unit, with which grant or delegation."""
    from workflow.spec import CURRENT_VERSION, spec_for, waiting_rule_tuples

    reference = parse_reference(dossier)
    day = parse_date(on)
    with engine_session(read_only=True) as engine:
        did = engine.find_dossier(reference)
        with read_side_session(engine) as side:
            rules = access_model.waiting_rules_from(waiting_rule_tuples(spec_for(CURRENT_VERSION)))
            if dossiers_model.dossier_state_on(side.store, did, day) is None:
                # Nobody could act on a dossier not yet opened; who held its roles is who would have.
                found = access_model.role_holders(side.store, did, end_of_day(day), rules)
                typer.echo(f"{reference} was not opened yet on {day}: nobody could act on it")
                if not found:
                    typer.echo("nobody held the workflow's roles over its unit that day")
                    return
                typer.echo("the workflow's roles over its unit were held that day by:")
            else:
                found = access_model.who_could_act(side.store, did, end_of_day(day), rules)
                if not found:
                    typer.echo(f"nobody could act on {reference} on {day}")
                    return
            names = units_model.unit_names(side.store, [p.unit_id for p in found])
            names.update({p.person_id: p.full_name for p in found})
            for line in listings.could_act_lines(found, names):
                typer.echo(line)


def _audit_action(name: str) -> str:
    """An action as the audit trail names it: an event name (Approved) or one with its kind (Dossier.Approved)."""
    known = {a for label in audit_model.LABELS for a in (label, label.split(".", 1)[1])}
    if name not in known:
        raise fail(
            f"{quoted(name)} is not an action of the audit trail; the actions are "
            + ", ".join(sorted({label.split(".", 1)[1] for label in audit_model.LABELS}))
        )
    return name


def clean_argument(text: str, what: str, max_length: int = _REFERENCE_LIMIT) -> str:
    try:
        # Required: an empty code or username would be looked up and answered "no unit with code ''", or read as
        # no filter at all (`units --unit ""` listed the whole tree's absence).
        return clean_text(text, what, required=True, max_length=max_length)
    except DomainError as error:
        raise fail(str(error)) from None


projections_app = _Typer(
    help="The read models: where each stands, rebuild, retry after a failure, run the runner.", no_args_is_help=True
)
app.add_typer(projections_app, name="projections")


def _read_models_failure(error: BaseException, settings: Settings) -> str:
    # Derived data only: nothing is lost by starting them again from the log, which `rebuild` cannot do on a file it
    # cannot open.
    return _beside_the_store_failure(
        error, settings, "the read models' file", "read-models.sqlite", "cannot open the read models",
        "it holds nothing the events do not: remove it (with its -wal and -shm files beside it) and the next command "
        "computes it again from the log",
    )


def _accounts_failure(error: BaseException, settings: Settings) -> str:
    return _beside_the_store_failure(
        error, settings, "the accounts database", "web.sqlite", "cannot open the accounts database",
        "restore it from a backup copy: it holds the passwords, sessions and API tokens, which the events do not",
    )


def _beside_the_store_failure(
    error: BaseException, settings: Settings, what: str, file_name: str, cannot: str, remedy: str
) -> str:
    """A SQLite file of the data directory that could not be opened: named as damaged, with its remedy, if it is."""
    if not (settings.database_url and is_postgres_url(settings.database_url)) and sqlite_damaged(error):
        return f"{what} {settings.data_dir / file_name} is damaged ({_one_line(error)}); {remedy}"
    return f"{cannot}: {_one_line(error)}"


@contextmanager
def read_side_session(engine: StoreApplication, *, catch_up: bool = True) -> Iterator[ReadSide]:
    """The read models of the configured store, brought up to date first unless told not to.

    A runner elsewhere (the app, `dossierflow projections run`) may hold a read model: then this waits for it,
    a few seconds at most, instead of feeding it too."""
    settings = load_settings()
    try:
        side = open_read_side(engine, database_url=settings.database_url, data_dir=settings.data_dir)
    except (SQLAlchemyError, OSError) as error:
        raise fail(_read_models_failure(error, settings)) from None
    try:
        if catch_up:
            progress = _CatchUpProgress()
            try:
                side.catch_up(progress=progress)
            finally:
                progress.done()
            waited = side.wait_for(engine.recorder.max_notification_id() or 0, timeout=10)
            if not waited.reached:
                typer.secho(
                    f"warning: {', '.join(waited.behind)} still catching up: what follows may be behind the log",
                    err=True, fg=typer.colors.YELLOW,
                )
            ahead = [row for row in side.status() if row.position > row.head and not row.building]
            if ahead:
                typer.secho(
                    f"warning: the read models hold events up to {max(r.position for r in ahead):,} but the log ends "
                    f"at event {ahead[0].head:,}: the log lost events after they were read (restored from an older "
                    "copy, or damaged); `dossierflow verify` checks the log, `dossierflow projections rebuild` "
                    "recomputes the read models from it",
                    err=True, fg=typer.colors.YELLOW,
                )
            for name in waited.failed:
                typer.secho(
                    f"warning: the read model {name} is stopped by a failure "
                    f"(`dossierflow projections status`); its figures are behind the log",
                    err=True, fg=typer.colors.YELLOW,
                )
        yield side
    except SQLAlchemyError as error:
        raise fail(f"the read models failed: {_one_line(error)}") from None
    finally:
        with _uninterrupted():
            side.close()
            side.store.engine.dispose()


class _CatchUpProgress:
    """events/s and ETA on stderr while read models are (re)built, once it has lasted long enough to wonder."""

    def __init__(self, verb: str = "caught up") -> None:
        self.verb = verb
        self.started = time.monotonic()
        self.first: dict[str, int] = {}
        self.shown = False

    def __call__(self, name: str, position: int, head: int) -> None:
        self.first.setdefault("", position)
        elapsed = time.monotonic() - self.started
        if elapsed < 1:
            return
        done = position - self.first[""]
        line = f"\rread models {self.verb} {position:,} of {head:,} events"
        # The rate counts from the first position reported: until a second one, or once at the head, there is no
        # rate or time left worth printing ("0 events/s, ETA ?" closed every catch-up that came in one page).
        if done > 0:
            rate = done / elapsed
            line += f", {rate:,.0f} events/s"
            if position < head:
                line += f", ETA {(head - position) / rate:,.0f} s"
        typer.echo(line + " ", err=True, nl=False)
        self.shown = True

    def done(self) -> None:
        if self.shown:
            typer.echo("", err=True)
            self.shown = False


@projections_app.command("status")
def projections_status() -> None:
    """Each read model: its generation, position, lag in events and seconds, and state."""
    with engine_session(read_only=True) as engine, read_side_session(engine, catch_up=False) as side:
        rows = side.status()
        typer.echo(f"{'read model':<16} {'gen':>4} {'position':>10} {'lag events':>11} {'lag s':>8}  state")
        for row in rows:
            typer.echo(
                f"{row.name:<16} {row.generation:>4} {row.position:>10,} {row.lag_events:>11,} "
                f"{row.lag_seconds:>8.1f}  {row.state}"
            )
            if row.error:
                typer.echo(f"{'':<16} error: {printable(row.error)}")


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str | None, typer.Argument(help="One read model (default: all of them).")] = None,
) -> None:
    """Recompute read models from the events beside the live ones; queries switch to them once level with the log."""
    with engine_session(read_only=True) as engine, read_side_session(engine, catch_up=False) as side:
        # An empty name is a mistyped one, not "all of them": a rebuild of every read model is the costliest answer.
        names = [_known_read_model(side, name)] if name is not None else None
        progress = _CatchUpProgress("rebuilt")
        started_at = time.monotonic()
        try:
            result = side.rebuild(names, progress=progress)
        finally:
            progress.done()
        for failed, position, error in result.failures:
            typer.secho(f"{failed} failed at event {position}: {printable(error)}", err=True, fg=typer.colors.RED)
        elapsed = time.monotonic() - started_at
        rebuilt = ", ".join(names or list(side.store.projections))
        typer.echo(f"rebuilt {rebuilt} from {side.log.head():,} events in {elapsed:,.1f} s")
        if result.failures:
            raise typer.Exit(code=1)


@projections_app.command("retry")
def projections_retry(name: Annotated[str, typer.Argument(help="The read model stopped by a failure.")]) -> None:
    """Resume a read model stopped by an event it could not apply (after the fix is installed)."""
    with engine_session(read_only=True) as engine, read_side_session(engine, catch_up=False) as side:
        chosen = _known_read_model(side, name)
        if not side.retry(chosen):
            typer.echo(f"{chosen} had not failed; nothing to retry")
            return
        progress = _CatchUpProgress()
        try:
            result = side.catch_up(progress=progress)
        finally:
            progress.done()
        again = [f for f in result.failures if f[0] == chosen]
        if again:
            raise fail(f"{chosen} failed again at event {again[0][1]}: {again[0][2]}")
        typer.echo(f"{chosen} resumed and caught up")


@projections_app.command("run")
def projections_run() -> None:
    """Feed the read models as events arrive, until stopped (Ctrl-C or SIGTERM)."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with engine_session(read_only=True) as engine, read_side_session(engine, catch_up=False) as side:
        side.start()
        typer.echo(f"feeding {', '.join(side.store.projections)}; Ctrl-C to stop")
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass


def _known_read_model(side: ReadSide, name: str | None) -> str:
    if name is None or name not in side.store.projections:
        known = ", ".join(side.store.projections)
        raise fail(f"{quoted(name or '')} is not a read model; the read models are {known}")
    return name


token_app = _Typer(
    help="Bearer tokens for API clients: made for a person, shown once, stored hashed, revocable.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


def _tokens() -> Tokens:
    from projections.store import make_engine
    from web.server import accounts_url
    from web.tokens import Tokens

    settings = load_settings()
    try:
        return Tokens(make_engine(accounts_url(settings.database_url, settings.data_dir)))
    except SQLAlchemyError as error:
        raise fail(_accounts_failure(error, settings)) from None


@token_app.command("create")
def token_create(
    person: Annotated[str, typer.Argument(help="The person's username.")],
    label: Annotated[str, typer.Option(help="What the token is for (shown by `token list`).")] = "",
    expires: Annotated[
        str | None, typer.Option(help="The last day the token works (default: until revoked).", metavar="DATE")
    ] = None,
) -> None:
    """Make an API token for a person and print it, once: it acts under that person's grants valid at each call."""
    username = clean_argument(person, "a username")
    from web.tokens import LABEL_LIMIT

    # As long as the tokens' table keeps: a longer one was cut there without a word.
    note = clean_argument(label, "a label", max_length=LABEL_LIMIT) if label.strip() else ""
    last_day = parse_date(expires) if expires is not None else None
    with engine_session(read_only=True) as engine:
        found = engine.person_by_username(username)
        today = local_date(engine.clock())
        if last_day is not None and last_day < today:
            raise fail(f"{last_day} is in the past; a token must work at least until today")
        token, record = _tokens().create(found.id, label=note, expires_on=last_day)
        if not found.grants_on(today):
            typer.secho(
                f"warning: {printable(found.full_name)} holds no role valid today; the token is refused (403) "
                "until they do", err=True, fg=typer.colors.YELLOW,
            )
    typer.echo(token)
    typer.echo(
        f"token {record.token_id} for {found.username}: shown only now, keep it secret; "
        f"`dossierflow token revoke {record.token_id}` ends it", err=True,
    )


@token_app.command("list")
def token_list(
    person: Annotated[str | None, typer.Argument(help="Only this person's tokens (username).")] = None,
) -> None:
    """Every token (never the secret itself): its id, person, label, when made, last used, expiry, revocation."""
    username = clean_argument(person, "a username") if person is not None else None
    with engine_session(read_only=True) as engine:
        # A mistyped username is said so, not "no token"; one typed in another case is the registered one.
        pid = engine.person_by_username(username).id if username is not None else None
        records = _tokens().listed(pid)
        if not records:
            typer.echo("no token" + (f" for {quoted(person or '')}" if person else ""))
            return
        for r in records:
            try:
                who = engine.person(r.person_id).username
            except DomainError:
                who = str(r.person_id)
            state = "revoked " + _day(r.revoked_at) if r.revoked_at else (
                f"expires {r.expires_on}" if r.expires_on else "active"
            )
            used = _day(r.last_used_at) if r.last_used_at else "never"
            typer.echo(
                f"{r.token_id}  {who}  made {_day(r.created_at)}  last used {used}  {state}  {printable(r.label)}"
            )


def _day(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(timestamp)) + " UTC"


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id, as `token list` shows it.")]) -> None:
    """End a token at once: any call with it is answered 401 from now on."""
    chosen = token_id.strip()
    if not (chosen.isascii() and chosen.isalnum() and len(chosen) <= 32):
        raise fail(f"{quoted(token_id)} is not a token id (see `dossierflow token list`)")
    with store_session():
        # The tokens are kept beside the store: a data directory without one is said so, not given an empty
        # accounts database.
        revoked = _tokens().revoke(chosen)
    if revoked is None:
        raise fail(f"no token {quoted(token_id)} (see `dossierflow token list`)")
    record, now = revoked
    if not now and record.revoked_at is not None:
        typer.echo(f"token {record.token_id} was already revoked on {_day(record.revoked_at)}")
        return
    typer.echo(f"token {record.token_id} revoked")


@app.command()
def workflow() -> None:
    """The dossier workflow as a mermaid state diagram."""
    from workflow.spec import SPECS

    for spec in SPECS.values():
        typer.echo(spec.mermaid)


def main() -> None:
    # An argument with bytes that are not UTF-8 reaches Python as lone surrogates; echoing it back (in a message of
    # ours or of click's) must not fail, whatever the terminal's encoding.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        # The command has ended: a Ctrl-C from here on has nothing left to stop, and raised in the interpreter's own
        # shutdown (threading._shutdown) it printed "Exception ignored ... KeyboardInterrupt" (1 in 60 interrupted
        # `verify` runs).
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)



@app.command("demo-sign-ins")
def demo_sign_ins() -> None:
    """Give the demo's people one of each role a fresh random password, and print their sign-ins."""
    from projections.store import make_engine
    from web.accounts import Accounts
    from web.server import accounts_url, set_demo_passwords

    settings = load_settings()
    # The passwords go to the accounts database; the store is only read (a data directory without one is said so).
    with engine_session(read_only=True) as engine:
        try:
            accounts = Accounts(make_engine(accounts_url(settings.database_url, settings.data_dir)))
            made = set_demo_passwords(engine, accounts)
        except SQLAlchemyError as error:
            # As `token` says it: a read-only copy of a data directory has no accounts database to write to.
            raise fail(_accounts_failure(error, settings)) from None
    if not made:
        raise fail("the store holds none of the demo's people; load the demo first with `dossierflow demo`")
    typer.echo("Demo sign-ins (new passwords on every run):")
    width = max(len(m.username) for m in made)
    for m in made:
        typer.echo(f"  {m.username:<{width}}  {m.password}  {printable(m.full_name)}: {m.what}")


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, found by binding there as uvicorn will (with SO_REUSEADDR) and
    letting go: said in one line before the server announces its address, where uvicorn printed its own error after
    it. Another process may still take the port in between; uvicorn then says so itself."""
    import socket

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        return f"cannot listen on {quoted(host)}: {getattr(error, 'strerror', None) or error}"
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as trial:
        trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            trial.bind(address)
        except OSError as error:
            reason = error.strerror or str(error)
            if error.errno == errno.EADDRINUSE:
                reason += " (another server listens there: stop it or choose another --port)"
            return f"cannot listen on {host}:{port}: {reason}"
    return None


def _opened_accounts(settings: Settings) -> None:
    from projections.store import make_engine
    from web.accounts import Accounts
    from web.server import accounts_url

    try:
        accounts = make_engine(accounts_url(settings.database_url, settings.data_dir))
        try:
            Accounts(accounts)
        finally:
            accounts.dispose()
    except SQLAlchemyError as error:
        raise fail(_accounts_failure(error, settings)) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (more than one needs PostgreSQL).", min=1, max=64)] = 1,
) -> None:
    """Run the web application, with the read models kept up to date in-process."""
    import uvicorn

    try:
        settings = load_settings()
    except SettingsError as error:
        raise fail(str(error)) from None
    if workers > 1 and not (settings.database_url and is_postgres_url(settings.database_url)):
        raise fail(
            "several workers share one store only on PostgreSQL (set DATABASE_URL); the embedded SQLite store "
            "serves one process"
        )
    # Only `demo` makes a store: a mistyped data directory or database would otherwise be served as a new, empty
    # store that nobody can sign in to.
    with engine_session(read_only=True):
        pass
    # Opened once here as the app opens it: a store that cannot be used (a server that refuses, a role without the
    # right to create its tables, a damaged file) is said in one line, not as each worker's traceback.
    with engine_session(read_only=False) as engine:
        # The head file is read at every commit: one that cannot be read would refuse every write with a 503.
        signer = getattr(engine.recorder, "signer", None)
        if signer is not None:
            signer.remembered_head()
        # And the read models and the accounts database likewise (a damaged file was each worker's traceback).
        with read_side_session(engine, catch_up=False):
            pass
        _opened_accounts(settings)
    if settings.database_url and is_postgres_url(settings.database_url):
        from projections.wakeup import libpq_url
        from workflow.store.postgres_setup import room_for_workers

        problem = room_for_workers(libpq_url(settings.database_url), workers, settings.postgres_connect_timeout)
        if problem:
            raise fail(problem)
    problem = _cannot_listen(host, port)
    if problem:
        raise fail(problem)
    typer.echo(f"dossierflow on http://{host}:{port} ({workers} worker{'s' * (workers > 1)}); Ctrl+C stops it")
    uvicorn.run(
        "web.server:app_from_env", factory=True, host=host, port=port, workers=workers,
        log_level="warning", proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
    )
