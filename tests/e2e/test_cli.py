"""The command line, end to end: the installed console script against a data directory of its own.

One demo run is shared by the tests that only read (module scope); a test that writes works on a copy of it.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.abc
import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest

from domain.ids import unit_id
from web.demo import (
    DELEGATED,
    FOUR_GOOD_COMMITTEE,
    NOT_FOUR_GOOD_COMMITTEE,
    QUOTA_REFUSED,
    RECLASSIFICATION_BASIS,
    RECLASSIFIED,
    RETURNED_AND_RESUBMITTED,
)

PROJECT = Path(__file__).resolve().parents[2]


def _command() -> list[str]:
    """The console script of this interpreter's environment, else the same entry point through this interpreter."""
    script = shutil.which("dossierflow", path=str(Path(sys.executable).parent)) or shutil.which("dossierflow")
    if script:
        return [script]
    return [sys.executable, "-c", "from web.cli import main; main()"]


COMMAND = _command()


def dossierflow(data_dir: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DOSSIERFLOW_MAX_EVIDENCE_BYTES")}
    env["DOSSIERFLOW_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT), env.get("PYTHONPATH")]))
    # Run outside the project, so that no .env file of a developer's is read.
    return subprocess.run(
        [*COMMAND, *args],
        env=env,
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )


def event_count(data_dir: Path) -> int:
    with closing(sqlite3.connect(data_dir / "events.sqlite")) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()
    return int(count)


def _command_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a command started by a test that signals it: none of the developer's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DOSSIERFLOW_"))}
    env |= {"DOSSIERFLOW_DATA_DIR": str(data_dir), "PYTHONIOENCODING": "utf-8"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    result = dossierflow(data_dir, "demo")
    assert result.returncode == 0, result.stderr
    return data_dir, result


@pytest.fixture
def played(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    """The shared demo store, for tests that only read it."""
    return demo_run[0]


@pytest.fixture
def played_copy(demo_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> Path:
    """A copy of the demo store, for a test that writes to it."""
    copy = tmp_path / "data"
    shutil.copytree(demo_run[0], copy)
    return copy


def test_the_demo_plays_through_on_an_empty_store_and_says_what_it_did(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    data_dir, result = demo_run
    out = result.stdout
    assert "Traceback" not in result.stderr
    assert re.search(r"registered \d+ units", out)
    assert re.search(r"2024: \d+ dossiers submitted", out)
    assert re.search(r"^quota refused: .*the quota of excellent is full", out, re.MULTILINE)
    assert "re-classified" in out
    assert "dossierflow status" in out
    assert f"dossierflow history {RECLASSIFIED}/2024" in out
    done = re.search(r"done in [\d.]+ s: (\d+) units, (\d+) people, (\d+) dossiers .*, (\d+) events", out)
    assert done is not None
    units, people, dossiers, events = map(int, done.groups())
    assert units >= 60
    assert people >= units
    assert 60 <= dossiers <= 80
    assert events == event_count(data_dir)
    assert list((data_dir / "evidence").rglob("*")), "the evidence files are written under the data directory"


def test_status_shows_2024_closed_with_decided_classifications_and_2025_open_under_qd366(played: Path) -> None:
    result = dossierflow(played, "status")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^== 2024 \(closed\), rule set QD124-2023 v\d+: \d+ dossiers", out, re.MULTILINE)
    assert re.search(r"^== 2025 \(open\), rule set QD366-2025 v\d+: \d+ dossiers", out, re.MULTILINE)
    decided = re.search(r"^ {3}decided: (.*)$", out, re.MULTILINE)
    assert decided is not None
    counts = {level: int(n) for level, n in re.findall(r"(\w+) (\d+)", decided.group(1))}
    assert set(counts) == {"excellent", "good", "completed", "not_completed", "not_rated"}
    assert counts["good"] > counts["excellent"] > 0
    four_good = re.search(r"four-good recognized: (\d+)", out)
    assert four_good is not None
    assert int(four_good.group(1)) > 0
    # Some dossiers are left where the season left them, as in a real year.
    by_state = re.search(r"^ {3}by state: (.*)$", out, re.MULTILINE)
    assert by_state is not None
    assert "submitted" in by_state.group(1)
    assert "endorsed" in by_state.group(1)
    # Names with diacritics come through whole.
    assert "Đảng bộ phường Kim Tân" in out
    assert "Đảng bộ xã Tả Ngài Chồ" in out


def test_the_four_good_committee_is_recognized_because_both_its_cells_are(played: Path) -> None:
    recognized = dossierflow(played, "show", f"{FOUR_GOOD_COMMITTEE}/2024")
    assert recognized.returncode == 0, recognized.stderr
    assert "decided: good   four-good: yes" in recognized.stdout
    not_recognized = dossierflow(played, "show", f"{NOT_FOUR_GOOD_COMMITTEE}/2024")
    assert "four-good: no" in not_recognized.stdout


def test_ctrl_c_during_the_demo_says_in_one_line_that_the_store_holds_part_of_it_and_leaves_it_sound(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _command_env(data_dir)
    demo = subprocess.Popen(
        [*COMMAND, "demo"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        encoding="utf-8", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert demo.stdout is not None
    # Interrupted once the units are registered, well before the seasons are played.
    while (line := demo.stdout.readline()) and not line.startswith("registered"):
        pass
    demo.send_signal(signal.SIGINT)
    _, stderr = demo.communicate(timeout=120)
    assert demo.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    held = event_count(data_dir)
    assert stderr.strip() == (
        f"error: interrupted: the store holds part of the demo ({held:,} events, each step whole); to load the demo, "
        "start again on an empty data directory or database"
    )
    verified = dossierflow(data_dir, "verify")
    assert verified.stdout.startswith(f"ok: {held} events, chain intact"), verified.stderr
    # `make run` loads the demo with --if-empty: the part loaded is not taken for the demo and served.
    again = dossierflow(data_dir, "demo", "--if-empty")
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"error: the store holds part of the demo, which did not finish ({held:,} events); to load the demo, "
        "start again on an empty data directory or database"
    )
    assert event_count(data_dir) == held


# A store file that can grow no further, as on a full disk: SQLite refuses the write that needs another page with
# the very error a full disk gives (SQLITE_FULL, "database or disk is full"), and rolls that transaction back.
_DISK_FULL_AT_PAGE = """
import sqlite3
_connect = sqlite3.connect
def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    if str(args[0] if args else kwargs.get("database")).endswith("events.sqlite"):
        conn.execute("PRAGMA max_page_count = 200")
    return conn
sqlite3.connect = connect
from web.cli import main
main()
"""


def test_a_disk_filling_up_during_the_demo_is_said_in_two_lines_and_leaves_the_store_sound(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    script = tmp_path / "full_disk.py"
    script.write_text(_DISK_FULL_AT_PAGE, encoding="utf-8")
    demo = subprocess.run(
        [sys.executable, str(script), "demo"], env=_command_env(data_dir), cwd=tmp_path, capture_output=True,
        text=True, encoding="utf-8", timeout=300, check=False,
    )
    assert demo.returncode == 2, demo.stderr
    held = event_count(data_dir)
    assert held > 0
    assert demo.stderr.strip().splitlines() == [
        f"error: the disk holding the store file {data_dir / 'events.sqlite'} is full (database or disk is full); "
        "what was being saved was not, and the store holds everything saved before it; free some space and try again",
        f"error: the store holds part of the demo ({held:,} events, each step whole); to load the demo, start again "
        "on an empty data directory or database",
    ]
    verified = dossierflow(data_dir, "verify")
    assert verified.stdout.startswith(f"ok: {held} events, chain intact"), verified.stderr


def test_a_demo_asked_to_stop_stops_before_its_next_step_with_the_store_sound(tmp_path: Path) -> None:
    from web.demo import play_demo
    from workflow.bootstrap import build_engine

    engine = build_engine(database_url=None, data_dir=tmp_path / "data")
    asked: list[int] = []

    def progress(line: str) -> None:
        # Asked (as Ctrl-C asks) right after the units are registered, with this many events saved.
        if line.startswith("registered") and not asked:
            asked.append(engine.recorder.max_notification_id() or 0)

    try:
        with pytest.raises(KeyboardInterrupt):
            play_demo(engine, progress=progress, stop_requested=lambda: bool(asked))
        assert asked
        assert asked[0] > 0
        assert engine.recorder.max_notification_id() == asked[0]
    finally:
        engine.close()
    verified = dossierflow(tmp_path / "data", "verify")
    assert verified.stdout.startswith(f"ok: {asked[0]} events, chain intact"), verified.stderr


def test_a_ctrl_c_while_a_command_closes_its_store_is_raised_once_the_closing_has_ended() -> None:
    from web.cli import _uninterrupted

    closed: list[str] = []

    def close() -> None:
        with _uninterrupted():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, in the main thread, between two bytecodes
            closed.append("connections")

    with pytest.raises(KeyboardInterrupt):
        close()
    assert closed == ["connections"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_demo_started_while_one_loads_is_told_so_and_the_first_finishes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = subprocess.Popen(
        [*COMMAND, "demo"], env=_command_env(data_dir), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8",
    )
    assert first.stdout is not None
    while (line := first.stdout.readline()) and not line.startswith("registered"):
        pass
    # Paused between two of its steps, so that it is still loading whatever this machine's speed.
    first.send_signal(signal.SIGSTOP)
    try:
        second = dossierflow(data_dir, "demo", "--if-empty")
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    # Not "the store holds part of the demo, which did not finish": its user would empty the store being filled.
    assert second.stderr.strip() == (
        "error: another `dossierflow demo` is loading the demo into this store now; wait for it to finish"
    )
    rest, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "dossierflow verify" in rest
    assert not (data_dir / "demo-unfinished").exists()
    assert dossierflow(data_dir, "verify").stdout.startswith("ok: ")


def test_a_demo_killed_half_way_is_not_taken_for_the_demo_loaded(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _command_env(data_dir)
    demo = subprocess.Popen(
        [*COMMAND, "demo"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        encoding="utf-8",
    )
    assert demo.stdout is not None
    while (line := demo.stdout.readline()) and not line.startswith("registered"):
        pass
    demo.kill()  # no handler runs: a crash or kill -9
    demo.communicate(timeout=60)
    held = event_count(data_dir)
    assert held > 0
    refused = dossierflow(data_dir, "demo", "--if-empty")
    assert refused.returncode == 2
    assert "the store holds part of the demo, which did not finish" in refused.stderr
    assert event_count(data_dir) == held


@pytest.mark.postgres
def test_a_demo_killed_half_way_on_postgresql_is_refused_and_its_marker_keeps_no_password(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    # Trust authentication takes the password and ignores it; the marker must not keep it in plain text.
    url = fresh_postgres_url.replace("://postgres@", "://postgres:s3cret-word@", 1)
    assert "s3cret-word" in url
    data_dir = tmp_path / "data"
    env = _command_env(data_dir, database_url=url)
    demo = subprocess.Popen(
        [*COMMAND, "demo"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        encoding="utf-8",
    )
    assert demo.stdout is not None
    while (line := demo.stdout.readline()) and not line.startswith("registered"):
        pass
    demo.kill()
    demo.communicate(timeout=60)
    marker = data_dir / "demo-unfinished"
    assert "s3cret-word" not in marker.read_text(encoding="utf-8")
    refused = dossierflow(data_dir, "demo", "--if-empty", database_url=url)
    assert refused.returncode == 2
    assert "the store holds part of the demo, which did not finish" in refused.stderr


class _InterruptedLoading(importlib.abc.MetaPathFinder):
    """Ctrl-C while `web.cli` is being imported (it takes most of a second)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "web.cli":
            raise KeyboardInterrupt
        return None


def test_ctrl_c_while_the_command_line_loads_ends_it_with_130_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from web.entry import main

    monkeypatch.delitem(sys.modules, "web.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_InterruptedLoading(), *sys.meta_path])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == 130
    assert capsys.readouterr() == ("", "")


def test_demo_if_empty_a_second_time_changes_nothing(played_copy: Path) -> None:
    before = event_count(played_copy)
    result = dossierflow(played_copy, "demo", "--if-empty")
    assert result.returncode == 0, result.stderr
    assert "already holds data" in result.stdout
    assert event_count(played_copy) == before
    again = dossierflow(played_copy, "demo")
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0
    assert "already holds data" in again.stderr
    assert event_count(played_copy) == before


def test_verify_reports_ok_with_the_event_count(played: Path) -> None:
    result = dossierflow(played, "verify")
    assert result.returncode == 0, result.stderr
    ok = re.fullmatch(
        r"ok: (\d+) events, chain intact; (\d+) evidence files intact; head [0-9a-f]{64}, signed at \S+ by key "
        r"[0-9a-f]{32}\n",
        result.stdout,
    )
    assert ok is not None, result.stdout
    assert int(ok.group(1)) == event_count(played)
    assert int(ok.group(2)) == len(evidence_files(played)) > 0


def evidence_files(data_dir: Path) -> list[Path]:
    """The stored evidence files, each under its checksum."""
    return sorted(p for p in (data_dir / "evidence").glob("??/*") if re.fullmatch("[0-9a-f]{64}", p.name))


def test_history_of_the_reclassified_dossier_shows_the_reopening_its_legal_basis_the_new_decision_and_who(
    played: Path,
) -> None:
    result = dossierflow(played, "history", f"{RECLASSIFIED}/2024")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    reopened = next(i for i, line in enumerate(lines) if "Reopened (approved -> reopened)" in line)
    assert re.match(r"v\d+\s+2025-03-\d\d \d\d:\d\d", lines[reopened]), "re-opened in March 2025, after the close"
    assert re.match(r"\s+by .+ as approver of Huyện ủy Mường Khương$", lines[reopened + 1])
    reopening = "\n".join(lines[reopened:])
    assert f"why: {RECLASSIFICATION_BASIS}" in reopening
    assert "decided level: good" in reopening
    decided = next(i for i, line in enumerate(lines) if "Approved (reopened -> approved)" in line)
    assert decided > reopened
    decision = "\n".join(lines[decided:])
    assert re.search(r"^\s+by .+ as approver of Huyện ủy Mường Khương$", decision, re.MULTILINE)
    assert "level: completed" in decision
    assert "previous level: good" in decision
    assert re.search(r"why: .*28-KL/UBKTHU", decision)
    # The first decision is still there: a re-classification is a new event, never an edit.
    first = next(line for line in lines if "Approved (endorsed -> approved)" in line)
    assert lines.index(first) < reopened


def test_history_shows_the_quota_refusal_the_delegation_and_the_resubmission(played: Path) -> None:
    quota = dossierflow(played, "history", f"{QUOTA_REFUSED}/2024").stdout
    assert "computed excellent" in quota
    # One act: the quota refused the committee's first choice, and the same meeting decided good instead.
    assert re.search(r"level: good\n.*\n\s+by act: \d+-QĐ/HU of 2025-01-02\n.*quota after: 2 excellent of cap 2", quota)
    assert "why: Đã đủ số lượng" in quota
    delegated = dossierflow(played, "history", f"{DELEGATED}/2024").stdout
    assert re.search(r"Approved .*\n\s+by .+ as approver of Huyện ủy Mường Khương, on behalf of .+", delegated)
    resubmitted = dossierflow(played, "history", f"{RETURNED_AND_RESUBMITTED}/2024").stdout
    assert "ReturnedToUnit (submitted -> returned_to_unit)" in resubmitted
    assert "Resubmitted (returned_to_unit -> submitted)" in resubmitted
    assert re.search(r"changed since the last round: leadership_of_tasks; files added 1", resubmitted)


def test_show_as_of_an_earlier_date_shows_the_dossier_as_it_stood_then(played: Path) -> None:
    now = dossierflow(played, "show", f"{RECLASSIFIED}/2024")
    assert now.returncode == 0, now.stderr
    assert "state: approved" in now.stdout
    assert "decided: completed" in now.stdout
    then = dossierflow(played, "show", f"{RECLASSIFIED}/2024", "--as-of", "2024-11-20")
    assert then.returncode == 0, then.stderr
    assert "state: draft" in then.stdout
    assert "decided:" not in then.stdout
    as_of = re.search(r"as of version \d+, (\d{4}-\d\d-\d\d)", then.stdout)
    assert as_of is not None
    assert as_of.group(1) <= "2024-11-20"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("history", "khong-co-don-vi/2024"), "no unit with code 'khong-co-don-vi'", id="unknown unit"),
        pytest.param(("history", "lc-kim-tan/2030"), "no dossier 'lc-kim-tan/2030'", id="unknown dossier"),
        pytest.param(("show", "not-a-reference"), "neither a dossier id nor a reference", id="bad reference"),
        pytest.param(
            ("show", f"{RECLASSIFIED}/2024", "--as-of", "2024-13-45"),
            "is not a date like",
            id="bad date",
        ),
        pytest.param(
            ("show", f"{RECLASSIFIED}/2024", "--as-of", "2023-06-01"),
            "did not exist yet",
            id="date before",
        ),
        pytest.param(
            ("audit", "--since", "0001-01-01"), "0001-01-01 is outside the years 1900 to 2999", id="audit since year 1"
        ),
        pytest.param(
            ("audit", "--since", "2024-01-01", "--until", "9999-12-31"), "9999-12-31 is outside the years 1900 to 2999",
            id="audit until year 9999",
        ),
        pytest.param(("audit", "--as-of", "1899-12-31"), "1899-12-31 is outside", id="audit as of 1899"),
        pytest.param(
            ("show", f"{RECLASSIFIED}/2024", "--as-of", "0001-01-01"), "0001-01-01 is outside", id="show as of year 1"
        ),
        pytest.param(("who-could-act", f"{RECLASSIFIED}/2024", "--on", "3000-01-01"), "3000-01-01 is outside",
                     id="who could act in 3000"),
        pytest.param(("units", "--as-of", "9999-12-31"), "9999-12-31 is outside", id="units as of 9999"),
        pytest.param(
            ("audit", "--year", "2024", "--year", "2025"), "--year is given more than once; give it once",
            id="audit year twice",
        ),
        pytest.param(
            ("audit", "--since", "2024-01-01", "--since=2024-06-01"), "--since is given more than once",
            id="audit since twice",
        ),
        pytest.param(
            ("audit", "--person", "tt-lc-kim-tan", "--unit", "lc-kim-tan", "--person", "tc-lc-kim-tan"),
            "--person is given more than once", id="audit person twice",
        ),
        pytest.param(
            ("show", f"{RECLASSIFIED}/2024", "--as-of", "2024-12-01", "--as-of", "2025-01-01"),
            "--as-of is given more than once", id="show as of twice",
        ),
        pytest.param(("units", "--limit", "5", "--limit", "10"), "--limit is given more than once", id="limit twice"),
        pytest.param(("units", "--unit", ""), "a unit code cannot be empty", id="units under an empty code"),
        pytest.param(("status", "--unit", " "), "a unit code cannot be empty", id="status of a blank code"),
        pytest.param(("audit", "--person", ""), "a username cannot be empty", id="audit of an empty username"),
        pytest.param(("token", "list", ""), "a username cannot be empty", id="tokens of an empty username"),
        pytest.param(("projections", "rebuild", ""), "'' is not a read model", id="rebuild of an empty name"),
        pytest.param(
            ("who-could-act", "lc-kim-tan/2024"), "Missing option '--on' (see `dossierflow who-could-act --help`)",
            id="missing option",
        ),
        pytest.param(("stats",), "Missing argument 'YEAR'", id="missing argument"),
        pytest.param(("audit", "--yaer", "2024"), "No such option: --yaer", id="mistyped option"),
        pytest.param(("audit", "--year"), "Option '--year' requires an argument", id="option without its value"),
        pytest.param(("history", "lc-kim-tan/2024", "extra"), "unexpected extra argument", id="argument too many"),
        pytest.param(("histroy", "lc-kim-tan/2024"), "No such command 'histroy'", id="mistyped command"),
        pytest.param(("projections", "rebiuld"), "No such command 'rebiuld'", id="mistyped subcommand"),
    ],
)
def test_bad_input_exits_non_zero_with_a_one_line_message(played: Path, args: tuple[str, ...], message: str) -> None:
    result = dossierflow(played, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr


def test_an_unknown_command_exits_non_zero_without_a_traceback(played: Path) -> None:
    result = dossierflow(played, "no-such-command")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "No such command 'no-such-command'" in result.stderr


def test_verify_after_tampering_one_row_exits_1_and_names_the_break(played_copy: Path) -> None:
    database = played_copy / "events.sqlite"
    with closing(sqlite3.connect(database)) as conn, conn:
        (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid = 5").fetchone()
        assert isinstance(state, bytes)
        tampered = state.replace(b"2024", b"2023") if b"2024" in state else state + b" "
        assert tampered != state
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = 5", (tampered,))
    result = dossierflow(played_copy, "verify")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert re.search(r"TAMPERED: link 5 \(notification 5\) is altered: event #5 ", result.stderr), result.stderr


def test_verify_names_an_evidence_file_replaced_or_deleted_with_its_dossier_name_and_checksum_and_exits_1(
    played_copy: Path,
) -> None:
    replaced, deleted = evidence_files(played_copy)[:2]
    replaced.write_bytes(b"%PDF-1.7 another text")
    deleted.unlink()
    result = dossierflow(played_copy, "verify")
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    for path, kind in ((replaced, "evidence-replaced"), (deleted, "evidence-missing")):
        pattern = (
            rf"TAMPERED: evidence file '[^']+\.\w+' \(sha256 {path.name}\) of dossier [a-z0-9-]+/20\d\d \(.+\) "
            rf"is {kind}: .*{path.name}"
        )
        assert [line for line in lines if re.match(pattern, line)], result.stderr


@pytest.mark.postgres
def test_the_demo_plays_and_verifies_on_postgresql_as_the_readme_says(fresh_postgres_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    played = dossierflow(data, "demo", database_url=fresh_postgres_url)
    assert played.returncode == 0, played.stderr
    status = dossierflow(data, "status", database_url=fresh_postgres_url)
    assert "2024 (closed), rule set QD124-2023" in status.stdout
    assert "2025 (open), rule set QD366-2025" in status.stdout
    verified = dossierflow(data, "verify", database_url=fresh_postgres_url)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: ")
    # The events went to PostgreSQL, not to a SQLite file beside the evidence.
    assert not (data / "events.sqlite").exists()
    # A listing opens one connection for the events and one for the read models: not the pool's five at once, nor
    # one more to wait on read models already level with the log.
    for args in (("status",), ("units",)):
        listed = _probed(data, _CONNECTIONS_PROBE, *args, database_url=fresh_postgres_url)
        assert listed.returncode == 0, listed.stderr
        assert "CONNECTIONS 2" in listed.stderr, listed.stderr


_CONNECTIONS_PROBE = (
    "import atexit, sys\n"
    "import psycopg\n"
    "opened = []\n"
    "connect = psycopg.Connection.connect.__func__\n"
    "psycopg.Connection.connect = classmethod(lambda cls, *a, **k: opened.append(1) or connect(cls, *a, **k))\n"
    "atexit.register(lambda: print('CONNECTIONS', len(opened), file=sys.stderr))\n"
)


def _probed(
    data_dir: Path, probe: str, *args: str, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A command run in a process that first runs `probe` (which may report on stderr at exit)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DOSSIERFLOW_DATA_DIR=str(data_dir), PYTHONPATH=str(PROJECT))
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    script = probe + "from web.cli import main\nsys.argv = ['dossierflow', *sys.argv[1:]]\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", script, *args], env=env, cwd=data_dir.parent, capture_output=True, text=True,
        timeout=300, check=False,
    )


def test_a_ctrl_c_after_a_command_has_ended_is_not_reported(tmp_path: Path) -> None:
    # At the interpreter's exit, once the command has ended: a Ctrl-C there printed "Exception ignored" and a traceback.
    late = (
        "import atexit, os, signal, sys, time\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(0.05),\n"
        "                         print('ended', file=sys.stderr)))\n"
    )
    result = _probed(tmp_path / "data", late, "workflow")
    assert result.returncode == 0, result.stderr
    assert "stateDiagram" in result.stdout
    assert result.stderr == "ended\n"


def test_a_copy_verifies_offline_with_the_exported_public_key_and_checkpoint_and_shows_truncation(
    played_copy: Path,
) -> None:
    committee = played_copy.parent / "committee"
    committee.mkdir()
    checkpoint, public_key = committee / "checkpoint.json", committee / "public-key.pem"
    result = dossierflow(played_copy, "checkpoint", "--out", str(checkpoint))
    assert result.returncode == 0, result.stderr
    assert f"written to {checkpoint}" in result.stdout
    assert dossierflow(played_copy, "public-key", "--out", str(public_key)).returncode == 0

    # The committee's own data directory: a copy of the database and the evidence files, no signing key, no head file.
    copy = committee / "data"
    copy.mkdir()
    shutil.copy(played_copy / "events.sqlite", copy / "events.sqlite")
    shutil.copytree(played_copy / "evidence", copy / "evidence")
    offline = ("verify", "--public-key", str(public_key), "--anchor", str(checkpoint))
    result = dossierflow(copy, *offline)
    assert result.returncode == 0, result.stderr
    assert not (copy / "signing-key.pem").exists(), "verifying never mints a key"

    newest = event_count(copy)
    with closing(sqlite3.connect(copy / "events.sqlite")) as conn, conn:
        for table, column in (
            ("stored_events", "rowid"), ("stored_events_chain", "notification_id"),
            ("stored_events_heads", "notification_id"),
        ):
            conn.execute(f"DELETE FROM {table} WHERE {column} > ?", (newest - 3,))
    result = dossierflow(copy, *offline)
    assert result.returncode == 1
    assert re.search(rf"TAMPERED: link {newest - 2} .* is truncated: .* checkpoint", result.stderr), result.stderr


# --- the listings read the read models -------------------------------------------------------------------


def test_stats_of_a_committee_show_its_cells_against_the_four_good_targets(played: Path) -> None:
    result = dossierflow(played, "stats", "2024", "--unit", "lc-kim-tan")
    assert result.returncode == 0, result.stderr
    assert "Đảng bộ phường Kim Tân [lc-kim-tan], 2024: 2 dossiers below" in result.stdout
    assert "four-good cells: 2 (100% of 2 cells)" in result.stdout
    assert re.search(r"target pilot cells: 2 of 2 \(wanted at least 2\): met", result.stdout)
    assert "quota, group party_cell:" in result.stdout


def test_stats_of_the_top_unit_count_every_dossier_below_it(played: Path) -> None:
    result = dossierflow(played, "stats", "2024")
    assert result.returncode == 0, result.stderr
    status = dossierflow(played, "status", "--year", "2024").stdout
    total = re.search(r"^== 2024 .*: (\d+) dossiers", status, re.MULTILINE)
    assert total is not None
    below = re.search(r"\[lao-cai\], 2024: (\d+) dossiers below", result.stdout)
    assert below is not None
    assert below.group(1) == total.group(1)


def test_stats_refuse_an_unknown_unit_or_year_in_one_line(played: Path) -> None:
    unknown = dossierflow(played, "stats", "2024", "--unit", "no-such-unit")
    assert unknown.returncode == 2
    assert "no unit with code 'no-such-unit'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    year = dossierflow(played, "stats", "1999")
    assert year.returncode == 2
    assert "no evaluation period for 1999" in year.stderr


def test_the_audit_trail_of_a_dossier_names_who_acted_as_what_why_and_the_chain_hash(played: Path) -> None:
    result = dossierflow(played, "audit", "--dossier", "lc-kim-tan/2024")
    assert result.returncode == 0, result.stderr
    assert re.search(r"as secretary: submitted the self-assessment draft -> submitted", result.stdout)
    assert re.search(r"as reviewer: endorsed with a proposed level submitted -> endorsed level good", result.stdout)
    assert re.search(r"chain [0-9a-f]{64}", result.stdout)


def test_the_audit_trail_as_csv_has_one_row_per_event_of_the_year_filter(played: Path) -> None:
    result = dossierflow(played, "audit", "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == event_count(played)
    assert [int(r["position"]) for r in rows] == sorted(int(r["position"]) for r in rows)
    approvals = dossierflow(played, "audit", "--csv", "--action", "Dossier.Approved", "--year", "2024")
    approved = list(csv.DictReader(io.StringIO(approvals.stdout)))
    assert approved
    assert {r["action"] for r in approved} == {"Dossier.Approved"}
    assert all(r["role"] == "approver" and len(r["chain_hash"]) == 64 for r in approved)


def test_who_could_act_names_the_committee_s_reviewer_while_a_dossier_waits_for_review(played: Path) -> None:
    result = dossierflow(played, "who-could-act", "lc-kim-tan/2024", "--on", "2024-12-01")
    assert result.returncode == 0, result.stderr
    assert re.search(r"as reviewer over Thành ủy Lào Cai, grant [0-9a-f-]{36}: endorse, return_to_unit", result.stdout)


def test_who_could_act_before_the_dossier_was_opened_says_so_and_names_who_held_its_roles(played: Path) -> None:
    before = dossierflow(played, "who-could-act", "lc-kim-tan/2024", "--on", "2024-01-01")
    assert before.returncode == 0, before.stderr
    lines = before.stdout.splitlines()
    assert lines[0] == "lc-kim-tan/2024 was not opened yet on 2024-01-01: nobody could act on it"
    assert lines[1] == "the workflow's roles over its unit were held that day by:"
    assert re.search(r"\(tc-thanh-uy\) as reviewer over Thành ủy Lào Cai, grant [0-9a-f-]{36}$", before.stdout, re.M)
    assert re.search(r"\(bt-lc-kim-tan\) as secretary over Đảng bộ phường Kim Tân, grant [0-9a-f-]{36}$",
                     before.stdout, re.M)
    long_before = dossierflow(played, "who-could-act", "lc-kim-tan/2024", "--on", "1950-01-01")
    assert long_before.returncode == 0, long_before.stderr
    assert "nobody held the workflow's roles over its unit that day" in long_before.stdout


def test_projections_status_shows_every_read_model_up_to_date_after_the_demo(played: Path) -> None:
    result = dossierflow(played, "projections", "status")
    assert result.returncode == 0, result.stderr
    events = event_count(played)
    for name in ("units", "dossiers", "access", "statistics", "audit"):
        assert re.search(rf"^{name}\s+1\s+{events:,}\s+0\s+0\.0\s+up to date$", result.stdout, re.MULTILINE), name


def test_a_rebuild_switches_to_a_new_generation_with_the_same_listings(played_copy: Path) -> None:
    before = dossierflow(played_copy, "status").stdout
    rebuilt = dossierflow(played_copy, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert re.search(r"rebuilt units, dossiers, access, statistics, audit from [\d,]+ events", rebuilt.stdout)
    status = dossierflow(played_copy, "projections", "status").stdout
    assert all(re.search(rf"^{n}\s+2\s", status, re.MULTILINE) for n in ("units", "audit"))
    assert dossierflow(played_copy, "status").stdout == before


def _helpers_at_work(pid: int) -> list[int]:
    """The rebuild helpers started by pid that have opened the store themselves (past their start, reading the log;
    a child between fork and exec holds its parent's files under its parent's name)."""
    found = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                if b"projections.helper" in Path(f"/proc/{child}/cmdline").read_bytes() and any(
                    os.readlink(fd).endswith("events.sqlite") for fd in Path(f"/proc/{child}/fd").iterdir()
                ):
                    found.append(int(child))
    return found


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not re.search(r"^State:\s+[ZX]", status, re.MULTILINE)  # an ended child not yet reaped is not running


def _wait_for_helpers(rebuild: subprocess.Popen[str]) -> list[int]:
    """The command's helpers once one is at work (none if the command ends first, as on one core)."""
    deadline = time.monotonic() + 60
    while not _helpers_at_work(rebuild.pid) and rebuild.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return _helpers_at_work(rebuild.pid)


def _ended(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not any(map(_running, pids))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see the rebuild's helper process")
def test_ctrl_c_during_a_rebuild_ends_it_without_a_traceback_and_the_read_models_still_answer(
    played_copy: Path,
) -> None:
    before = dossierflow(played_copy, "status").stdout
    env = _command_env(played_copy)
    # A terminal's Ctrl-C: SIGINT to the command's whole process group, once its helper process is at work (on one
    # core there is none, and the command alone is interrupted).
    rebuild = subprocess.Popen(
        [*COMMAND, "projections", "rebuild"], env=env, cwd=played_copy.parent, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    helpers = _wait_for_helpers(rebuild)
    # Outside the terminal's reach (whether its KeyboardInterrupt traceback or the command's kill came first was a
    # race): the command alone is interrupted, and stops it.
    assert all(os.getsid(pid) != os.getsid(rebuild.pid) for pid in helpers)
    os.killpg(rebuild.pid, signal.SIGINT)
    _, stderr = rebuild.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert rebuild.returncode == 130, stderr
    assert _ended(helpers, within=10), "the helper is stopped with the command"
    assert dossierflow(played_copy, "status").stdout == before
    assert dossierflow(played_copy, "projections", "rebuild").returncode == 0
    assert dossierflow(played_copy, "status").stdout == before


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see the rebuild's helper process")
def test_a_rebuild_killed_outright_leaves_its_helper_to_stop_quietly_and_the_read_models_still_answer(
    played_copy: Path,
) -> None:
    before = dossierflow(played_copy, "status").stdout
    env = _command_env(played_copy)
    rebuild = subprocess.Popen(
        [*COMMAND, "projections", "rebuild"], env=env, cwd=played_copy.parent, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    helpers = _wait_for_helpers(rebuild)
    rebuild.kill()  # kill -9: nothing of the command runs any more, nor stops its helper
    # The helper shares the command's standard error: read to its end, once the helper has ended too.
    _, stderr = rebuild.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    assert _ended(helpers, within=60), "the helper ends once the command is gone"
    assert dossierflow(played_copy, "status").stdout == before
    assert dossierflow(played_copy, "projections", "rebuild").returncode == 0
    assert dossierflow(played_copy, "status").stdout == before


def test_retrying_or_rebuilding_an_unknown_read_model_is_refused_with_the_known_ones(played: Path) -> None:
    for args in (("projections", "retry", "nope"), ("projections", "rebuild", "nope")):
        result = dossierflow(played, *args)
        assert result.returncode == 2
        assert "'nope' is not a read model; the read models are units, dossiers, access, statistics, audit" in (
            result.stderr
        )
    healthy = dossierflow(played, "projections", "retry", "audit")
    assert healthy.returncode == 0
    assert "audit had not failed; nothing to retry" in healthy.stdout


def test_units_print_a_summary_by_kind_then_the_first_units_and_how_many_more(played: Path) -> None:
    whole = dossierflow(played, "units", "--all")
    assert whole.returncode == 0, whole.stderr
    summary = re.match(r"Units on \d{4}-\d\d-\d\d: (\d+) \((.*)\)\n", whole.stdout)
    assert summary is not None
    total = int(summary.group(1))
    kinds = {kind: int(n) for kind, n in re.findall(r"(\w+) (\d+)", summary.group(2))}
    assert sum(kinds.values()) == total
    rows = whole.stdout.splitlines()[1:]
    assert len(rows) == total
    assert "more" not in whole.stdout
    first = dossierflow(played, "units", "--limit", "5")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[1:6] == rows[:5]
    assert lines[6] == f"… and {total - 5:,} more (--limit N or --all for more; --unit CODE or --depth N for a part)"
    assert len(lines) == 7


def test_units_under_a_unit_to_a_depth_list_that_part_only_from_its_own_depth(played: Path) -> None:
    result = dossierflow(played, "units", "--unit", "lc-kim-tan", "--depth", "1", "--all")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.match(r"Units on \S+ under lc-kim-tan \(itself included\), 1 level down: 3 \(", lines[0])
    assert lines[1] == "Đảng bộ phường Kim Tân  [lc-kim-tan, grassroots_committee]"
    assert len(lines) == 4
    assert all(line.startswith("  ") and not line.startswith("    ") for line in lines[2:])
    top_only = dossierflow(played, "units", "--depth", "0").stdout.splitlines()
    assert len(top_only) == 2
    assert "[lao-cai," in top_only[1]


def test_units_and_status_refuse_an_unknown_unit_state_or_limit_in_one_line(played: Path) -> None:
    for args, expected in (
        (("units", "--unit", "no-such-unit"), "no unit with code 'no-such-unit' on "),
        (("units", "--limit", "many"), "'many' is not a number of lines like 200"),
        (("units", "--depth", "-1"), "'-1' is not a number of levels like 2"),
        (("status", "--unit", "no-such-unit"), "no unit with code 'no-such-unit'"),
        (("status", "--state", "finished"), "'finished' is not a dossier state; the states are draft, "),
    ):
        result = dossierflow(played, *args)
        assert result.returncode == 2, (args, result.stdout)
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""


def test_status_below_a_unit_in_a_state_lists_those_dossiers_and_counts_the_rest(played: Path) -> None:
    result = dossierflow(played, "status", "--year", "2024", "--state", "approved", "--limit", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    approved = re.search(r"^ {3}by state: .*\bapproved (\d+)", out, re.MULTILINE)
    assert approved is not None
    assert f"   in approved: {approved.group(1)}\n" in out
    listed = [line for line in out.splitlines() if re.match(r"^ {3}\S.* \[[\w-]+\] ", line)]
    assert len(listed) == 1
    assert " approved " in listed[0]
    assert f"   … and {int(approved.group(1)) - 1:,} more (" in out
    below = dossierflow(played, "status", "--year", "2024", "--unit", "lc-kim-tan", "--all").stdout
    header = re.search(
        r"^== 2024 \(closed\), .* for Đảng bộ phường Kim Tân \[lc-kim-tan\] and below: (\d+) dossiers$", below, re.M
    )
    assert header is not None
    listed_below = [line for line in below.splitlines() if re.match(r"^ {3}\S.* \[lc-kim-tan(-[\w-]+)?\] ", line)]
    # The ward's two cells, and the ward's own dossier if it has one: as many as the header counts.
    assert len(listed_below) == int(header.group(1)) >= 2
    assert "more (" not in below


def test_a_listing_on_the_embedded_store_never_loads_the_postgresql_driver(played: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DOSSIERFLOW_DATA_DIR=str(played), PYTHONPATH=str(PROJECT))
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in "
        "('psycopg', 'psycopg_pool') or m.startswith('sqlalchemy.dialects.postgresql')), file=sys.stderr))\n"
        "from web.cli import main\n"
        "sys.argv = ['dossierflow', *sys.argv[1:]]\n"
        "main()\n"
    )
    for args in (("status",), ("units",)):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], env=env, cwd=played.parent, capture_output=True, text=True,
            timeout=300, check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "LOADED []" in result.stderr, result.stderr


def test_status_and_units_load_neither_the_engine_s_modules_nor_cryptography(played: Path) -> None:
    # They read the read models: the rules (and their schema), evaluations, evidence and the signing library were
    # most of their start-up, and none of them is used.
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('LOADED', sorted(m for m in sys.modules if m in ('workflow.engine', "
        "'workflow.rules', 'workflow.evidence', 'workflow.evaluations', 'workflow.store.verify') or "
        "m.split('.')[0] == 'cryptography'), file=sys.stderr))\n"
    )
    for args in (("status",), ("units",)):
        result = _probed(played, probe, *args)
        assert result.returncode == 0, result.stderr
        assert "LOADED []" in result.stderr, result.stderr


def test_status_and_units_rebuild_missing_read_models_from_the_store_alone_and_list_the_same(
    played: Path, played_copy: Path
) -> None:
    # The listings open the store without the engine: the events they feed the read models with are decoded by the
    # store's own mapper, which must read them as the engine does.
    for read_models in played_copy.glob("read-models.sqlite*"):
        if read_models.is_file():
            read_models.unlink()
    for args in (("status", "--all"), ("units", "--all")):
        rebuilt = dossierflow(played_copy, *args)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert rebuilt.stdout == dossierflow(played, *args).stdout
    assert (played_copy / "read-models.sqlite").exists()


def test_status_on_a_store_damaged_below_its_caught_up_read_models_answers_from_them_and_says_so(
    played_copy: Path,
) -> None:
    database = played_copy / "events.sqlite"
    with database.open("r+b") as file:
        file.seek(database.stat().st_size // 2)
        file.write(b"\xa5" * 40_000)
    status = dossierflow(played_copy, "status")
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr
    assert status.stdout.splitlines()[-1].startswith("(figures from the read models, up to event ")
    assert "`dossierflow verify` checks the log itself" in status.stdout
    verify = dossierflow(played_copy, "verify")
    assert verify.returncode == 2
    assert f"the store file {database} is damaged" in verify.stderr
    assert "Traceback" not in verify.stderr


def test_read_models_ahead_of_a_log_that_lost_its_newest_events_are_said_to_be_ahead(played_copy: Path) -> None:
    with closing(sqlite3.connect(played_copy / "events.sqlite")) as conn, conn:
        kept = int(conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]) - 50
        conn.execute("DELETE FROM stored_events WHERE rowid > ?", (kept,))
        conn.execute("DELETE FROM stored_events_chain WHERE rowid > ?", (kept,))
    status = dossierflow(played_copy, "status")
    assert status.returncode == 0, status.stderr
    assert f"but the log ends at event {kept:,}: the log lost events after they were read" in status.stderr
    assert f"up to event {kept + 50:,};" in status.stdout.splitlines()[-1]
    models = dossierflow(played_copy, "projections", "status").stdout
    assert models.count(f"ahead of the log, which ends at event {kept:,}") == 5


@pytest.mark.parametrize(
    ("typed", "registered"),
    [
        pytest.param(("history", "LC-KIM-TAN/2024"), ("history", "lc-kim-tan/2024"), id="history"),
        pytest.param(("show", "Lc-Kim-Tan/2024"), ("show", "lc-kim-tan/2024"), id="show"),
        pytest.param(
            ("who-could-act", "LC-Kim-TAN/2024", "--on", "2024-12-01"),
            ("who-could-act", "lc-kim-tan/2024", "--on", "2024-12-01"),
            id="who-could-act",
        ),
        pytest.param(
            ("audit", "--unit", "LC-KIM-TAN", "--year", "2024"), ("audit", "--unit", "lc-kim-tan", "--year", "2024"),
            id="audit --unit",
        ),
        pytest.param(
            ("audit", "--person", "TT-Lc-Kim-Tan"), ("audit", "--person", "tt-lc-kim-tan"), id="audit --person"
        ),
        pytest.param(("stats", "2024", "--unit", "LC-KIM-TAN"), ("stats", "2024", "--unit", "lc-kim-tan"), id="stats"),
        pytest.param(("units", "--unit", "Lc-Kim-Tan"), ("units", "--unit", "lc-kim-tan"), id="units"),
        pytest.param(
            ("status", "--year", "2024", "--unit", "LC-KIM-TAN"), ("status", "--year", "2024", "--unit", "lc-kim-tan"),
            id="status",
        ),
    ],
)
def test_a_code_or_username_typed_in_another_case_finds_the_registered_one(
    played: Path, typed: tuple[str, ...], registered: tuple[str, ...]
) -> None:
    expected = dossierflow(played, *registered)
    assert expected.returncode == 0, expected.stderr
    result = dossierflow(played, *typed)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if typed[0] == "who-could-act":
        # It names the dossier as it was asked for only when nobody could act; here somebody could.
        assert "nobody could act" not in result.stdout
    assert result.stdout == expected.stdout


def test_demo_sign_ins_print_a_password_per_role_of_the_demo_store_opened_for_reading(played_copy: Path) -> None:
    events = event_count(played_copy)
    result = dossierflow(played_copy, "demo-sign-ins")
    assert result.returncode == 0, result.stderr
    assert "Demo sign-ins" in result.stdout
    assert "bt-lc-kim-tan-cb1" in result.stdout
    assert event_count(played_copy) == events


def test_the_audit_trail_between_the_first_and_the_last_day_accepted_is_the_whole_trail(played: Path) -> None:
    whole = dossierflow(played, "audit", "--limit", "0")
    edges = dossierflow(played, "audit", "--since", "1900-01-01", "--until", "2999-12-31", "--limit", "0")
    assert (whole.returncode, edges.returncode) == (0, 0), edges.stderr
    assert re.fullmatch(r"0 of [\d,]+ events; --limit or --csv for the others\n", edges.stderr)
    assert edges.stderr == whole.stderr
    first_day = dossierflow(played, "audit", "--since", "1900-01-01", "--until", "1900-01-01")
    assert (first_day.returncode, first_day.stderr) == (0, "0 of 0 events\n")


def test_a_repeatable_option_or_a_flag_given_twice_is_still_taken(played: Path) -> None:
    states = dossierflow(played, "status", "--year", "2025", "--state", "draft", "--state", "submitted")
    assert states.returncode == 0, states.stderr
    flags = dossierflow(played, "audit", "--year", "2024", "--csv", "--csv")
    assert flags.returncode == 0, flags.stderr
    assert flags.stdout.startswith("position,recorded_at,")


def test_a_token_made_for_a_username_typed_in_another_case_is_the_registered_person_s(played_copy: Path) -> None:
    made = dossierflow(played_copy, "token", "create", "TT-LC-KIM-TAN", "--label", "thử")
    assert made.returncode == 0, made.stderr
    assert " for tt-lc-kim-tan: shown only now" in made.stderr
    listed = dossierflow(played_copy, "token", "list", "Tt-Lc-Kim-Tan")
    assert listed.returncode == 0, listed.stderr
    assert "  tt-lc-kim-tan  made " in listed.stdout


@pytest.mark.parametrize(
    "args",
    [("who-could-act", "{unit}", "--on", "2024-12-01"), ("audit", "--dossier", "{unit}"), ("history", "{unit}")],
    ids=lambda args: args[0],
)
def test_the_id_of_a_unit_given_for_a_dossier_is_refused_not_answered_with_nobody_or_no_event(
    played: Path, args: tuple[str, ...]
) -> None:
    unit = str(unit_id("lc-kim-tan"))
    result = dossierflow(played, *(a.format(unit=unit) for a in args))
    assert result.returncode == 2
    assert result.stderr == f"error: {unit} is not a dossier\n"
    assert result.stdout == ""


def test_read_models_catching_up_show_their_rate_and_time_left_and_at_the_end_only_how_far_they_came(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from web import cli

    clock = [1_000.0]
    monkeypatch.setattr(cli, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    progress = cli._CatchUpProgress()
    clock[0] += 5
    progress("units", 100, 1_000)
    progress("units", 600, 1_000)
    progress.done()
    assert capsys.readouterr().err == (
        "\rread models caught up 100 of 1,000 events "
        "\rread models caught up 600 of 1,000 events, 100 events/s, ETA 4 s \n"
    )
    # A catch-up done in one page: no "0 events/s, ETA ?" once it is level.
    level = cli._CatchUpProgress()
    clock[0] += 5
    level("units", 1_249, 1_249)
    level.done()
    assert capsys.readouterr().err == "\rread models caught up 1,249 of 1,249 events \n"
