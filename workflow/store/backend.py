"""Backend choice: one setting (DATABASE_URL) becomes the environment of an eventsourcing Application."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import SplitResult, quote, unquote, urlsplit

from eventsourcing.utils import get_topic

from workflow.store.errors import StoreUnavailable
from workflow.store.signing import HEAD_FILE_ENV, SIGNING_KEY_ENV
from workflow.store.timeouts import DEFAULT_CONNECT_TIMEOUT, DEFAULT_LOCK_TIMEOUT

# postgres:// is the scheme libpq, Heroku and most hosting dashboards hand out; postgresql:// is the documented one.
_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
SQLITE_TABLES = ("stored_events", "stored_events_chain")


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url.strip())
    except ValueError as error:
        # urlsplit's own words ("Invalid IPv6 URL") do not say which setting is wrong.
        raise ValueError(f"DATABASE_URL is not a valid URL: {error}") from None


def is_postgres_url(url: str | None) -> bool:
    return url is not None and _split(url).scheme.lower() in _POSTGRES_SCHEMES


def application_env(
    database_url: str | None,
    sqlite_path: Path,
    *,
    read_only: bool = False,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    lock_timeout: int = DEFAULT_LOCK_TIMEOUT,
    signing_key: Path | None = None,
    head_file: Path | None = None,
    single_connection: bool = False,
) -> dict[str, str]:
    """The environment for an eventsourcing Application(env=...) that stores its events hash-chained.

    database_url None, blank, or sqlite:... selects the embedded SQLite store at sqlite_path: the URL's own path is
    not used, because on SQLite the read models live in a different file from the events (so that the event
    writer and the projection writer never wait on each other) and the settings name both files.

    read_only: for a command that only reads. The store must exist already (StoreUnavailable otherwise): nothing is
    created, and a SQLite file is opened read-only, so that an archived copy on a read-only medium can be verified.
    connect_timeout, lock_timeout (seconds, PostgreSQL): how long to wait for the server, and for a lock held by
    another session, before saying so.
    signing_key (created on first write if absent) makes every commit sign the chain head and seal its snapshots;
    head_file (default: chain-head.json beside the key) remembers the newest signed head outside the database.
    single_connection (PostgreSQL): for a process of one thread, such as a command of the command line. The library's
    pool otherwise opens five connections at once, in threads of their own, where one is used; more are still made
    if ever needed. A pool size set in the environment is kept.
    """
    env = _store_env(database_url, sqlite_path, read_only, connect_timeout, lock_timeout)
    if single_connection and is_postgres_url(database_url) and not _pool_size_set():
        env["POSTGRES_POOL_SIZE"] = "1"
    if signing_key is not None:
        env[SIGNING_KEY_ENV] = str(signing_key)
        env[HEAD_FILE_ENV] = str(head_file or signing_key.with_name("chain-head.json"))
    return env


def _pool_size_set() -> bool:
    return any(os.environ.get(name) for name in ("POSTGRES_POOL_SIZE", "DOSSIERFLOW_POSTGRES_POOL_SIZE"))


def _store_env(
    database_url: str | None, sqlite_path: Path, read_only: bool, connect_timeout: int, lock_timeout: int
) -> dict[str, str]:
    if database_url is None or not database_url.strip() or database_url.strip().startswith("sqlite"):
        if read_only:
            return {**_sqlite_env(_sqlite_read_only_uri(sqlite_path)), "CREATE_TABLE": "no"}
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        if sqlite_path.exists():
            check_sqlite_store(sqlite_path)
        return _sqlite_env(str(sqlite_path))
    if is_postgres_url(database_url):
        # Imported here: psycopg and its pool cost every command on the embedded store a tenth of a second.
        from workflow.store.postgres import ChainedPostgresApplicationRecorder, SignedPostgresFactory

        return {
            "PERSISTENCE_MODULE": get_topic(SignedPostgresFactory),
            **_postgres_settings(database_url.strip()),
            "APPLICATION_RECORDER_TOPIC": get_topic(ChainedPostgresApplicationRecorder),
            "ORIGINATOR_ID_TYPE": "uuid",
            # The Application merges os.environ under this dict: pin the setting the chain cannot work with.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
            "POSTGRES_CONNECT_TIMEOUT": str(connect_timeout),
            "POSTGRES_LOCK_TIMEOUT": str(lock_timeout),
            "CREATE_TABLE": "no" if read_only else "yes",
        }
    msg = (
        f"unsupported DATABASE_URL {_redact(database_url)!r}: expected sqlite:///... (or no URL) for the embedded "
        "store, or postgresql://user:password@host:port/dbname (postgres:// and postgresql+psycopg:// also accepted)"
    )
    raise ValueError(msg)


def _sqlite_env(dbname: str) -> dict[str, str]:
    # Imported here, as the PostgreSQL recorders are above: a command on PostgreSQL does not load the SQLite ones.
    from workflow.store.sqlite import ChainedSQLiteApplicationRecorder, SignedSQLiteFactory

    return {
        "PERSISTENCE_MODULE": get_topic(SignedSQLiteFactory),
        "SQLITE_DBNAME": dbname,
        "APPLICATION_RECORDER_TOPIC": get_topic(ChainedSQLiteApplicationRecorder),
        "ORIGINATOR_ID_TYPE": "uuid",
    }


def _sqlite_read_only_uri(path: Path) -> str:
    """A URI that opens an existing store for reading only, after checking that it is one."""
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    wal = path.with_name(path.name + "-wal")
    if path.exists() and not writable and not (wal.exists() and wal.stat().st_size):
        # A store in WAL mode is read through its -shm file, which a read-only file or directory cannot serve.
        # With no write-ahead log left to read (the last writer closed cleanly), the file alone is the whole store,
        # and nobody can be writing to it.
        uri += "&immutable=1"
    check_sqlite_store(path, allow_empty=False, uri=uri)
    return uri


def check_sqlite_store(path: Path, *, allow_empty: bool = True, uri: str | None = None) -> None:
    """StoreUnavailable, naming the file, unless path is a readable SQLite file that holds the event tables.

    allow_empty: a SQLite file with no tables at all (created, never written) is accepted, to be written to.
    """
    if not path.exists():
        where = path.parent if not path.parent.exists() else path
        raise StoreUnavailable(
            f"there is no store at {where} (set DOSSIERFLOW_DATA_DIR to the data directory, "
            "or create a store with `dossierflow demo`)"
        )
    if not path.is_file():
        raise StoreUnavailable(f"{path} is not a file; the store is a SQLite file named {path.name}")
    try:
        read_only = uri or f"file:{quote(str(path.absolute()))}?mode=ro"
        with closing(sqlite3.connect(read_only, uri=True)) as conn:
            found = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise StoreUnavailable(sqlite_failure(path, error)) from None
    if not found and allow_empty:
        return
    missing = [table for table in SQLITE_TABLES if table not in found]
    if missing:
        raise StoreUnavailable(f"{path} is a SQLite file but not a dossierflow store (no table {missing[0]})")


def sqlite_damaged(error: BaseException) -> bool:
    """Whether a SQLite file failed because it is not a database or its pages are damaged (a SQLAlchemy error is
    read through to the driver's)."""
    cause = getattr(error, "orig", None) or error
    return isinstance(cause, sqlite3.DatabaseError) and any(
        words in str(cause) for words in ("not a database", "malformed", "disk image", "corrupt")
    )


def sqlite_failure(path: Path, error: BaseException) -> str:
    """What a SQLite error means for the person who named the file."""
    text = str(error)
    if sqlite_damaged(error):
        return f"the store file {path} is damaged and cannot be read ({text}); restore it from a backup copy"
    if "disk is full" in text:
        # SQLITE_FULL: the transaction that met it was rolled back whole, so nothing of it is in the store.
        return (
            f"the disk holding the store file {path} is full ({text}); what was being saved was not, and the store "
            "holds everything saved before it; free some space and try again"
        )
    if "readonly" in text or "read-only" in text:
        # A command that writes (demo, serve) on a file or directory it may only read.
        return f"the store file {path} cannot be written ({text}); check that it and its directory can be written"
    if "unable to open" in text:
        return f"the store file {path} cannot be opened ({text}); check that it and its directory can be read"
    return f"the store file {path} cannot be read: {text}"


def _redact(url: str) -> str:
    parts = _split(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _postgres_settings(url: str) -> dict[str, str]:
    parts = _split(url)

    def refuse(problem: str) -> ValueError:
        return ValueError(
            f"invalid PostgreSQL DATABASE_URL {_redact(url)!r}: {problem} "
            "(expected postgresql://user:password@host:port/dbname)"
        )

    try:
        port = parts.port or 5432
    except ValueError:
        raise refuse("the port is not a number between 0 and 65535") from None
    dbname = unquote(parts.path.removeprefix("/"))
    if parts.query or parts.fragment:
        # The library's recorder takes no libpq options: refuse rather than silently drop e.g. sslmode.
        raise refuse("query parameters are not supported")
    if not parts.hostname:
        raise refuse("it names no host")
    if not parts.username:
        raise refuse("it names no user")
    if not dbname or "/" in dbname:
        raise refuse("it names no database")
    return {
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }


