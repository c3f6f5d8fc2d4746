"""Backend choice: one setting (DATABASE_URL) becomes the environment of an eventsourcing Application."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from eventsourcing.utils import get_topic

from workflow.store.postgres import ChainedPostgresApplicationRecorder, SignedPostgresFactory
from workflow.store.signing import HEAD_FILE_ENV, SIGNING_KEY_ENV
from workflow.store.sqlite import ChainedSQLiteApplicationRecorder, SignedSQLiteFactory

_POSTGRES_SCHEMES = frozenset({"postgresql", "postgresql+psycopg"})


def is_postgres_url(url: str | None) -> bool:
    return url is not None and urlsplit(url.strip()).scheme.lower() in _POSTGRES_SCHEMES


def application_env(
    database_url: str | None,
    sqlite_path: Path,
    *,
    signing_key: Path | None = None,
    head_file: Path | None = None,
) -> dict[str, str]:
    """The environment for an eventsourcing Application(env=...) that stores its events hash-chained.

    database_url None, blank, or sqlite:... selects the embedded SQLite store at sqlite_path: the URL's own path is
    not used, because on SQLite the read models live in a different file from the events (so that the event
    writer and the projection writer never wait on each other) and the settings name both files.

    signing_key (created on first write if absent) makes every commit sign the chain head and seal its snapshots;
    head_file (default: chain-head.json beside the key) remembers the newest signed head outside the database.
    """
    env = _store_env(database_url, sqlite_path)
    if signing_key is not None:
        env[SIGNING_KEY_ENV] = str(signing_key)
        env[HEAD_FILE_ENV] = str(head_file or signing_key.with_name("chain-head.json"))
    return env


def _store_env(database_url: str | None, sqlite_path: Path) -> dict[str, str]:
    if database_url is None or not database_url.strip() or database_url.strip().startswith("sqlite"):
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": get_topic(SignedSQLiteFactory),
            "SQLITE_DBNAME": str(sqlite_path),
            "APPLICATION_RECORDER_TOPIC": get_topic(ChainedSQLiteApplicationRecorder),
            "ORIGINATOR_ID_TYPE": "uuid",
        }
    if is_postgres_url(database_url):
        return {
            "PERSISTENCE_MODULE": get_topic(SignedPostgresFactory),
            **_postgres_settings(database_url.strip()),
            "APPLICATION_RECORDER_TOPIC": get_topic(ChainedPostgresApplicationRecorder),
            "ORIGINATOR_ID_TYPE": "uuid",
            # The Application merges os.environ under this dict: pin the setting the chain cannot work with.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
        }
    msg = (
        f"unsupported DATABASE_URL {_redact(database_url)!r}: expected sqlite:///... (or no URL) for the embedded "
        "store, or postgresql://user:password@host:port/dbname (postgresql+psycopg:// also accepted)"
    )
    raise ValueError(msg)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _postgres_settings(url: str) -> dict[str, str]:
    parts = urlsplit(url)

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


