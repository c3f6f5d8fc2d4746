"""Bad input, bad settings and bad stores, as a new user meets them: one line saying what is wrong, never a traceback.

The store here is a small one written in-process (a district, four units, one decided dossier), so that these
tests do not wait for the demo.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import threading
from datetime import date
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from tests.application.conftest import build_world
from tests.application.helpers import decided
from tests.conftest import _libpq_url
from tests.e2e.test_cli import COMMAND, PROJECT
from web.settings import SettingsError, load_settings
from workflow.bootstrap import build_engine
from workflow.store import StoreUnavailable, application_env
from workflow.store.backend import sqlite_failure

REFERENCE = "treasury/2024"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("store") / "data"
    data_dir.mkdir()
    # Signed with the key the CLI looks for in the data directory, as a store made by the CLI itself would be.
    world = build_world(application_env(None, data_dir / "events.sqlite", signing_key=data_dir / "signing-key.pem"))
    decided(world, "treasury")
    world.engine.close()
    return data_dir


def run(
    data_dir: Path, *args: str | bytes, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """The console script, with arguments given as bytes where they must not be valid UTF-8."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DOSSIERFLOW_"))}
    environ |= {"DOSSIERFLOW_DATA_DIR": str(data_dir), "PYTHONIOENCODING": "utf-8", **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT), environ.get("PYTHONPATH")]))
    argv = [*prefix, *COMMAND, *(a if isinstance(a, bytes) else a.encode("utf-8", "surrogateescape") for a in args)]
    # A safety net only: every case answers at once; a hang (a lock waited on forever) fails instead of blocking.
    completed = subprocess.run(argv, env=environ, cwd=data_dir.parent, capture_output=True, timeout=120, check=False)
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode("utf-8", "backslashreplace"),
        completed.stderr.decode("utf-8", "backslashreplace"),
    )


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    for words in expected:
        assert words in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("history", "treasury/²⁰²⁴"), "'treasury/²⁰²⁴' is neither", id="superscript year in a reference"),
        pytest.param(("history", "treasury/" + "9" * 5000), "(5,009 characters)", id="5000-digit year in a reference"),
        pytest.param(("status", "--year", "²⁰²⁴"), "'²⁰²⁴' is not a year like 2024", id="superscript --year"),
        pytest.param(("status", "--year", "9" * 5000), "is not a year like 2024", id="5000-digit --year"),
        pytest.param(("show", REFERENCE, "--version", "9" * 5000), "is not a version", id="5000-digit --version"),
        pytest.param(("show", REFERENCE, "--version", "³"), "'³' is not a version", id="superscript --version"),
        pytest.param(("show", REFERENCE, "--as-of", "²⁰²⁴-12-31"), "is not a date", id="superscript --as-of"),
        pytest.param(("units", "--as-of", "9" * 5000), "is not a date", id="5000-digit --as-of"),
        pytest.param(("history", "a\nb/2024"), "no unit with code 'a\\nb'", id="newline in a reference"),
        pytest.param(("history", "\x1b[31mred/2024"), "'\\x1b[31mred'", id="escape sequence in a reference"),
    ],
)
def test_numbers_and_references_that_int_cannot_read_are_refused_in_one_line(
    store: Path, args: tuple[str, ...], expected: str
) -> None:
    assert_one_line_refusal(run(store, *args), expected)


def test_an_argument_with_undecodable_bytes_is_refused_and_the_message_still_prints(store: Path) -> None:
    in_code = run(store, "history", b"treasury\xff/2024")
    assert_one_line_refusal(in_code, "a unit code contains U+DCFF")
    as_year = run(store, "status", "--year", b"\xff\xfe")
    assert_one_line_refusal(as_year, "'\\udcff\\udcfe' is not a year")


@pytest.fixture
def own_store(store: Path, tmp_path: Path) -> Path:
    """A copy of the module's store for a test whose commands write beside it (a signed head, the read models), so
    that the tests reading the module's store whole (a damaged copy, an archived one) find it as it was made."""
    copy = tmp_path / "own" / "data"
    shutil.copytree(store, copy)
    return copy


@pytest.mark.parametrize("command", ["public-key", "checkpoint"])
def test_an_out_file_that_cannot_be_written_is_refused_in_one_line(own_store: Path, command: str) -> None:
    for target in (own_store.parent, own_store / "no-such-directory" / "key.pem"):
        assert_one_line_refusal(run(own_store, command, "--out", str(target)), f"cannot write {target}")


@pytest.mark.parametrize("command", ["public-key", "checkpoint"])
def test_an_out_file_that_exists_is_refused_and_never_written_over(own_store: Path, command: str) -> None:
    # A slip of the tab key: the store itself, its signing key, a checkpoint kept earlier.
    kept = own_store.parent / "checkpoint-kept.json"
    kept.write_text("kept by the inspection committee\n", encoding="utf-8")
    for target in (own_store / "events.sqlite", own_store / "signing-key.pem", kept):
        before = target.read_bytes()
        result = run(own_store, command, "--out", str(target))
        assert_one_line_refusal(result, f"cannot write {target}: it exists already and is not written over")
        assert target.read_bytes() == before
    assert run(own_store, "verify").stdout.startswith("ok: ")


def test_checkpoint_says_its_out_file_is_taken_before_it_opens_and_verifies_the_store(tmp_path: Path) -> None:
    # Verifying a national store takes minutes: a name already taken is said first. Here there is no store at all,
    # which the command would otherwise have reported first.
    kept = tmp_path / "checkpoint-kept.json"
    kept.write_text("kept by the inspection committee\n", encoding="utf-8")
    result = run(tmp_path / "no-store", "checkpoint", "--out", str(kept))
    assert_one_line_refusal(result, f"cannot write {kept}: it exists already and is not written over")
    missing = tmp_path / "no-such-directory" / "checkpoint.json"
    result = run(tmp_path / "no-store", "checkpoint", "--out", str(missing))
    assert_one_line_refusal(result, f"cannot write {missing}: there is no directory {missing.parent}")


def test_the_public_key_written_again_to_the_same_file_is_said_to_be_there_already(own_store: Path) -> None:
    out = own_store.parent / "public-key.pem"
    assert run(own_store, "public-key", "--out", str(out)).returncode == 0
    again = run(own_store, "public-key", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert f"already in {out}" in again.stdout


def test_a_token_label_longer_than_is_kept_is_refused_rather_than_cut(own_store: Path) -> None:
    refused = run(own_store, "token", "create", "admin", "--label", "y" * 201)
    assert_one_line_refusal(refused, "a label is 201 characters long; at most 200 are accepted")
    assert refused.stdout == ""
    assert run(own_store, "token", "list").stdout.strip() == "no token"
    assert run(own_store, "token", "create", "admin", "--label", "y" * 200).returncode == 0
    assert run(own_store, "token", "list").stdout.rstrip("\n").endswith("  " + "y" * 200)


# What a mistyped --anchor (or a damaged head file) may hold instead of a signed head: a program, a position of
# infinity, arrays nested deeper than the JSON decoder recurses.
_NOT_A_SIGNED_HEAD = [
    pytest.param(b"\x7fELF\x02\x01\x01\x00\xd0\xff" * 30, "codec can't decode", id="binary"),
    pytest.param(
        b'{"format": "dossierflow-signed-head/1", "position": 1e400, "notification_id": 1, "hash": "a", '
        b'"signed_at": "t", "key_id": "k", "signature": "s"}',
        "cannot convert float infinity to integer", id="infinite position",
    ),
    pytest.param(b"[" * 100_000, "maximum recursion depth exceeded", id="nested too deep"),
]


@pytest.mark.parametrize(("content", "expected"), _NOT_A_SIGNED_HEAD)
def test_an_anchor_file_that_is_not_a_signed_head_is_refused_in_one_line(
    store: Path, tmp_path: Path, content: bytes, expected: str
) -> None:
    anchor = tmp_path / "checkpoint.json"
    anchor.write_bytes(content)
    result = run(store, "verify", "--anchor", str(anchor))
    assert_one_line_refusal(result, f"{anchor} is not a signed head written by dossierflow", expected)


@pytest.mark.parametrize(("content", "expected"), _NOT_A_SIGNED_HEAD)
def test_a_head_file_that_is_not_a_signed_head_is_named_in_one_line(
    own_store: Path, content: bytes, expected: str
) -> None:
    head_file = own_store / "chain-head.json"
    assert head_file.exists()
    head_file.write_bytes(content)
    for args in (("verify",), ("checkpoint", "--out", str(own_store.parent / "checkpoint.json"))):
        result = run(own_store, *args)
        assert_one_line_refusal(result, f"{head_file} is not a signed head written by dossierflow", expected)
    assert not (own_store.parent / "checkpoint.json").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("--action", "Aproved"), "'Aproved' is not an action of the audit trail", id="mistyped action"),
        pytest.param(("--unit", "tresury"), "no unit with code 'tresury'", id="unknown unit"),
        pytest.param(("--person", "nobody"), "no person with username 'nobody'", id="unknown person"),
        pytest.param(("--year", "1999"), "no evaluation period for 1999", id="year without a period"),
        pytest.param(
            ("--since", "2025-01-01", "--until", "2024-01-01"), "the time range ends before it starts", id="reversed"
        ),
    ],
)
def test_an_audit_filter_that_can_match_nothing_is_refused_rather_than_answered_with_no_events(
    own_store: Path, args: tuple[str, ...], expected: str
) -> None:
    assert_one_line_refusal(run(own_store, "audit", *args), expected)
    assert run(own_store, "audit", "--action", "Approved").returncode == 0
    assert run(own_store, "audit", "--action", "Dossier.Approved", "--unit", "treasury").returncode == 0


def test_a_read_command_on_a_data_directory_that_does_not_exist_says_so_and_creates_nothing(tmp_path: Path) -> None:
    mistyped = tmp_path / "dta"
    for args in (("verify",), ("status",), ("history", REFERENCE), ("units",)):
        result = run(mistyped, *args)
        assert_one_line_refusal(result, f"there is no store at {mistyped}")
        assert result.stdout == ""
    assert not mistyped.exists()


def test_a_read_command_on_a_directory_without_a_store_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "data"
    empty.mkdir()
    assert_one_line_refusal(run(empty, "verify"), f"there is no store at {empty / 'events.sqlite'}")
    assert list(empty.iterdir()) == []


# Commands that write, but never to the store (a signed head's file, the accounts' passwords and tokens), and the
# other commands that only read it: on a data directory that holds no store, each says so as `verify` does.
_NO_STORE_NEEDED_TO_BE_MADE = (
    ("checkpoint",), ("demo-sign-ins",), ("public-key",), ("token", "list"), ("token", "revoke", "abc123"),
    ("token", "create", "admin"), ("show", REFERENCE), ("who-could-act", REFERENCE, "--on", "2024-12-01"),
    ("audit",), ("stats", "2024"), ("projections", "status"),
)


@pytest.mark.parametrize("args", _NO_STORE_NEEDED_TO_BE_MADE, ids=" ".join)
def test_a_command_that_creates_no_store_on_a_data_directory_that_does_not_exist_says_so_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    mistyped = tmp_path / "dta"
    result = run(mistyped, *args)
    assert_one_line_refusal(result, f"there is no store at {mistyped}")
    assert result.stdout == ""
    assert not mistyped.exists()


@pytest.mark.parametrize("args", _NO_STORE_NEEDED_TO_BE_MADE, ids=" ".join)
def test_a_command_that_creates_no_store_on_a_directory_without_a_store_file_says_so_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    empty = tmp_path / "data"
    empty.mkdir()
    assert_one_line_refusal(run(empty, *args), f"there is no store at {empty / 'events.sqlite'}")
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(lambda d: Path("/etc/hostname"), "/etc/hostname holds no unencrypted PEM", id="not a key"),
        pytest.param(lambda d: d, "cannot read the signing key", id="a directory"),
        pytest.param(
            lambda d: Path("/proc/no-such-directory/key.pem"), "cannot create the signing key", id="cannot be made"
        ),
    ],
)
def test_a_signing_key_that_cannot_be_used_stops_a_writing_command_before_it_makes_a_store(
    tmp_path: Path, own_store: Path, key: object, expected: str
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    signing_key = {"DOSSIERFLOW_SIGNING_KEY": str(key(tmp_path))}  # type: ignore[operator]
    assert_one_line_refusal(run(data_dir, "demo", env=signing_key), expected)
    assert list(data_dir.iterdir()) == []
    # And a server on a store that exists, before it serves anything.
    result = run(own_store, "serve", "--port", "1", env=signing_key)
    assert_one_line_refusal(result, expected)
    assert "dossierflow on http" not in result.stdout


def test_serve_on_a_data_directory_without_a_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    # Only `demo` makes a store: a mistyped directory was served as a new, empty store nobody could sign in to.
    empty = tmp_path / "data"
    empty.mkdir()
    result = run(empty, "serve", "--port", "1")
    assert_one_line_refusal(result, f"there is no store at {empty / 'events.sqlite'}")
    assert list(empty.iterdir()) == []


def test_serve_on_a_port_another_server_holds_says_so_in_one_line_before_it_announces_an_address(
    own_store: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        result = run(own_store, "serve", "--port", str(port))
    assert_one_line_refusal(
        result, f"cannot listen on 127.0.0.1:{port}: Address already in use (another server listens there"
    )
    assert "dossierflow on http" not in result.stdout
    unknown = run(own_store, "serve", "--host", "no-such-host.invalid", "--port", "8000")
    assert_one_line_refusal(unknown, "cannot listen on 'no-such-host.invalid'")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        pytest.param(lambda size: (0, b"not a database " * 8), "(file is not a database)", id="header"),
        pytest.param(lambda size: (size // 2, b"\xa5" * 12_000), "(database disk image is malformed)", id="pages"),
    ],
)
def test_a_damaged_store_file_is_named_as_damaged(
    store: Path, tmp_path: Path, damage: object, expected: str
) -> None:
    copy = tmp_path / "data"
    shutil.copytree(store, copy)
    database = copy / "events.sqlite"
    assert callable(damage)
    offset, garbage = damage(database.stat().st_size)
    with database.open("r+b") as file:
        file.seek(offset)
        file.write(garbage)
    for args in (("verify",), ("status",), ("history", REFERENCE)):
        assert_one_line_refusal(run(copy, *args), f"the store file {database} is damaged", expected)


def _unprivileged() -> tuple[str, ...]:
    """A prefix that runs a command without the power to write read-only files (root has it), or a skip."""
    if os.geteuid() != 0:
        return ()
    prefix = ("unshare", "--user", "--map-user=65534", "--map-group=65534")
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"], check=False).returncode != 0:
        reason = "running as root, and unshare cannot drop the power to write read-only files"
        if os.environ.get("DOSSIERFLOW_STRICT_TESTS") == "1":
            pytest.fail(reason)  # CI sets it: this proof must not quietly go missing
        pytest.skip(reason)
    return prefix


def test_an_archived_read_only_copy_is_verified_and_read_without_any_write(store: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(store, archive)
    database = archive / "events.sqlite"
    before = {path.name: path.read_bytes() for path in archive.iterdir()}
    database.chmod(0o444)
    archive.chmod(0o555)
    try:
        prefix = _unprivileged()
        for args in (("verify",), ("status",), ("history", REFERENCE), ("show", REFERENCE), ("units",)):
            result = run(archive, *args, prefix=prefix)
            assert result.returncode == 0, (args, result.stderr)
            assert "Traceback" not in result.stderr
        assert run(archive, "verify", prefix=prefix).stdout.startswith("ok: ")
    finally:
        archive.chmod(0o755)
    assert {path.name: path.read_bytes() for path in archive.iterdir()} == before
    assert stat.S_IMODE(database.stat().st_mode) == 0o444


def test_the_accounts_of_an_archived_read_only_copy_are_said_to_be_unwritable_in_one_line(
    store: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(store, archive)
    archive.chmod(0o555)
    try:
        prefix = _unprivileged()
        for args in (("demo-sign-ins",), ("token", "list"), ("token", "create", "admin")):
            result = run(archive, *args, prefix=prefix)
            assert_one_line_refusal(result, "cannot open the accounts database: unable to open database file")
            assert "sqlalche.me" not in result.stderr
    finally:
        archive.chmod(0o755)
    assert not (archive / "web.sqlite").exists()


def test_a_data_directory_that_is_a_file_is_said_to_be_one_and_left_as_it_is(tmp_path: Path) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("notes\n", encoding="utf-8")
    result = run(a_file, "demo")
    assert_one_line_refusal(result, f"{a_file} is a file, not a directory (set DOSSIERFLOW_DATA_DIR")
    assert a_file.read_text(encoding="utf-8") == "notes\n"


def test_a_store_a_writing_command_may_only_read_is_said_to_need_writing_not_reading(tmp_path: Path) -> None:
    # What SQLite says when `demo` or `serve` must write to a file or directory mode 0444/0555 (whether it must, at
    # opening, depends on the write-ahead log the last writer left).
    database = tmp_path / "events.sqlite"
    said = sqlite_failure(database, sqlite3.OperationalError("attempt to write a readonly database"))
    assert said == (
        f"the store file {database} cannot be written (attempt to write a readonly database); check that it and its "
        "directory can be written"
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DOSSIERFLOW_MAX_EVIDENCE_BYTES", "lots", "DOSSIERFLOW_MAX_EVIDENCE_BYTES='lots': input should be a valid"),
        ("DOSSIERFLOW_MAX_EVIDENCE_BYTES", "-1", "DOSSIERFLOW_MAX_EVIDENCE_BYTES='-1': input should be greater than 0"),
        ("DOSSIERFLOW_POSTGRES_LOCK_TIMEOUT", "soon", "DOSSIERFLOW_POSTGRES_LOCK_TIMEOUT='soon'"),
        ("DOSSIERFLOW_POSTGRES_CONNECT_TIMEOUT", "0", "DOSSIERFLOW_POSTGRES_CONNECT_TIMEOUT='0'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(store: Path, variable: str, value: str, expected: str) -> None:
    assert_one_line_refusal(run(store, "status", env={variable: value}), expected)


def test_a_settings_error_is_a_settings_error_in_process_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSSIERFLOW_MAX_EVIDENCE_BYTES", "9" * 5000)
    with pytest.raises(SettingsError, match=r"^DOSSIERFLOW_MAX_EVIDENCE_BYTES='9{40}…': .*$"):
        load_settings()


def test_an_unknown_url_scheme_is_refused_in_one_line(store: Path) -> None:
    result = run(store, "status", env={"DATABASE_URL": "mysql://root:hunter2@localhost/db"})
    assert_one_line_refusal(result, "unsupported DATABASE_URL 'mysql://root:***@localhost/db'", "postgres://")


# --- PostgreSQL ------------------------------------------------------------------------------------------------


def _with(url: str, **changes: object) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    user = changes.get("user", parts.username)
    host = f"{parts.hostname}:{changes.get('port', parts.port or 5432)}"
    path = f"/{changes.get('dbname', parts.path.lstrip('/'))}"
    return urlunsplit(parts._replace(netloc=f"{user}@{host}", path=path))


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("change", "cause"),
    [
        pytest.param({"port": 1}, "Connection refused", id="nothing listening"),
        pytest.param({"dbname": "no_such_dossierflow_db"}, 'database "no_such_dossierflow_db" does not exist', id="db"),
        pytest.param({"user": "no_such_dossierflow_role"}, 'role "no_such_dossierflow_role" does not exist', id="role"),
    ],
)
def test_a_postgres_server_that_cannot_be_used_is_reported_with_its_cause(
    postgres_url: str, tmp_path: Path, change: dict[str, object], cause: str
) -> None:
    url = _with(postgres_url, **change)
    with pytest.raises(StoreUnavailable, match=f"cannot connect to PostgreSQL .*: {cause}$"):
        build_engine(database_url=url, data_dir=tmp_path, connect_timeout=3)
    result = run(tmp_path, "status", env={"DATABASE_URL": url, "DOSSIERFLOW_POSTGRES_CONNECT_TIMEOUT": "3"})
    assert_one_line_refusal(result, cause)


@pytest.mark.postgres
def test_a_postgres_scheme_url_is_accepted_as_postgresql(fresh_postgres_url: str, tmp_path: Path) -> None:
    url = fresh_postgres_url.replace("postgresql://", "postgres://", 1)
    assert url.startswith("postgres://")
    engine = build_engine(database_url=url, data_dir=tmp_path)
    try:
        assert engine.is_empty()
    finally:
        engine.close()


@pytest.mark.postgres
def test_a_read_command_on_a_postgres_database_without_a_store_says_so_and_creates_nothing(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    result = run(tmp_path, "verify", env={"DATABASE_URL": fresh_postgres_url})
    assert_one_line_refusal(result, "holds no dossierflow store (no table dossierflow_events)")
    with psycopg.connect(_libpq_url(fresh_postgres_url)) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,)


@pytest.mark.postgres
def test_a_table_lock_held_by_another_session_becomes_a_clear_error_not_a_hang(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    world = build_world(application_env(fresh_postgres_url, tmp_path / "unused.sqlite"))
    world.engine.close()
    with psycopg.connect(_libpq_url(fresh_postgres_url)) as holder:
        holder.execute("LOCK TABLE dossierflow_events IN ACCESS EXCLUSIVE MODE")
        env = {"DATABASE_URL": fresh_postgres_url, "DOSSIERFLOW_POSTGRES_LOCK_TIMEOUT": "1"}
        result = run(tmp_path, "status", env=env)
        holder.rollback()
    assert_one_line_refusal(result, "the store is locked by another session", "DOSSIERFLOW_POSTGRES_LOCK_TIMEOUT")


@pytest.mark.postgres
def test_several_engines_starting_at_once_on_an_empty_database_create_the_tables_once(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    starters = 6
    barrier = threading.Barrier(starters)
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            build_engine(database_url=fresh_postgres_url, data_dir=tmp_path).close()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with psycopg.connect(_libpq_url(fresh_postgres_url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    assert [name for (name,) in rows] == [
        "dossierflow_events",
        "dossierflow_events_chain",
        "dossierflow_events_heads",
        "dossierflow_snapshots",
        "dossierflow_snapshots_seals",
    ]


@pytest.mark.postgres
def test_a_postgres_role_that_may_read_but_not_write_is_told_so_in_one_line(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    engine = build_engine(database_url=fresh_postgres_url, data_dir=tmp_path)
    try:
        engine.install(
            root_code="lao-cai", root_name="Tỉnh ủy Lào Cai", established_on=date(2020, 1, 1), admin_username="admin",
            admin_name="Quản trị",
        )
    finally:
        engine.close()
    role = f"dossierflow_reader_{uuid4().hex[:12]}"
    with psycopg.connect(_libpq_url(fresh_postgres_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role)))
    try:
        reader = {"DATABASE_URL": _with(fresh_postgres_url, user=role)}
        for args in (("token", "create", "admin"), ("serve", "--port", "1")):
            result = run(tmp_path, *args, env=reader)
            assert_one_line_refusal(
                result, "the database role lacks a right this command needs: permission denied for schema public"
            )
            assert "CREATE TABLE" not in result.stderr
            assert "sqlalche.me" not in result.stderr
    finally:
        with psycopg.connect(_libpq_url(fresh_postgres_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(_libpq_url(_with(fresh_postgres_url, dbname="postgres")), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.postgres
def test_serve_on_a_postgres_server_that_refuses_says_so_in_one_line_before_starting(
    postgres_url: str, tmp_path: Path
) -> None:
    result = run(
        tmp_path, "serve", "--port", "1",
        env={"DATABASE_URL": _with(postgres_url, port=1), "DOSSIERFLOW_POSTGRES_CONNECT_TIMEOUT": "3"},
    )
    assert_one_line_refusal(result, "cannot connect to PostgreSQL", "Connection refused")
    assert "dossierflow on http" not in result.stdout


def _damage_header(database: Path) -> None:
    with database.open("r+b") as file:
        file.write(b"not a database " * 8)
    for companion in ("-wal", "-shm"):
        database.with_name(database.name + companion).unlink(missing_ok=True)


def test_a_damaged_read_models_file_is_named_with_its_remedy_and_computed_again_once_removed(
    own_store: Path,
) -> None:
    assert run(own_store, "status").returncode == 0
    read_models = own_store / "read-models.sqlite"
    _damage_header(read_models)
    for args in (("status",), ("units",), ("serve", "--port", "1")):
        assert_one_line_refusal(
            run(own_store, *args), f"the read models' file {read_models} is damaged (file is not a database)",
            "remove it",
        )
    read_models.unlink()
    again = run(own_store, "status")
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr


def test_a_damaged_accounts_database_is_named_as_damaged_before_anything_is_served(own_store: Path) -> None:
    assert run(own_store, "token", "list").returncode == 0
    accounts = own_store / "web.sqlite"
    _damage_header(accounts)
    for args in (("token", "list"), ("serve", "--port", "1")):
        result = run(own_store, *args)
        assert_one_line_refusal(
            result, f"the accounts database {accounts} is damaged (file is not a database)", "restore it"
        )
        assert "dossierflow on http" not in result.stdout


def test_a_head_file_that_cannot_be_read_is_said_before_anything_is_served(own_store: Path) -> None:
    # Read at every commit: unreadable, it would have the server answer every write with a 503.
    head_file = own_store / "chain-head.json"
    head_file.unlink()
    head_file.mkdir()
    result = run(own_store, "serve", "--port", "1")
    assert_one_line_refusal(result, f"cannot read {head_file}: Is a directory")
    assert "dossierflow on http" not in result.stdout
