"""Any text at all, given to the command line's arguments and to the engine's text inputs: never a traceback, never
an exception that is not a refusal, an exit code of 0, 1 or 2 only, and a refused input changes nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from domain.errors import DomainError
from domain.ids import dossier_id
from domain.text import is_refused_character
from domain.values import Answer, Grade
from tests.application.conftest import World, build_world
from tests.application.helpers import draft
from tests.e2e.test_bad_input import run
from web.cli import app
from workflow.store import application_env

# Text as people and programs actually break it: control characters, NUL, lone surrogates (undecodable bytes of an
# argument), line and paragraph separators, bidi overrides and marks, superscript and other scripts' digits, huge
# runs of digits, and the characters that make up references and dates.
AWKWARD = st.sampled_from(
    [
        "\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x9b", "\udcff", "\ud800", "\u2028", "\u2029", "\u202e", "\u2066",
        "\u200f", "\u200e", "²", "⁰", "٢", "߀", "/", "-", ":", " ", "Đ", "ả", "\ufeff", "0", "9",
    ]
)
TEXT = st.one_of(
    st.text(st.one_of(AWKWARD, st.characters()), max_size=30),
    st.builds(lambda code, digits: f"{code}/{digits}", st.text(max_size=12), st.text("0123456789²⁰٢", max_size=8)),
    st.builds(lambda n: "9" * n, st.integers(4290, 5100)),
    st.sampled_from(["treasury/2024", "treasury/²⁰²⁴", "2024-12-31", "²⁰²⁴-12-31", "treasury/2024\n", ""]),
)

COMMANDS = [
    lambda text: ["history", text],
    lambda text: ["show", text],
    lambda text: ["show", "treasury/2024", "--as-of", text],
    lambda text: ["show", "treasury/2024", "--version", text],
    lambda text: ["status", "--year", text],
    lambda text: ["units", "--as-of", text],
    lambda text: [text],
]

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("any") / "data"
    data.mkdir()
    world = build_world(application_env(None, data / "events.sqlite"))
    draft(world, "treasury")
    world.engine.close()
    return data


def _stored(data: Path) -> dict[str, bytes]:
    # The store file is compared whole: a read that changed anything would show here. The read models are not the
    # store but a copy derived from it, which a listing brings up to date (README, "The read side").
    return {
        path.name: path.read_bytes()
        for path in data.iterdir()
        if not path.name.endswith(("-shm", "-wal")) and not path.name.startswith("read-models.sqlite")
    }


@PROPERTY
@given(command=st.sampled_from(COMMANDS), text=TEXT)
def test_any_argument_ends_in_an_answer_or_a_one_line_refusal_and_changes_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, command: object, text: str
) -> None:
    monkeypatch.setenv("DOSSIERFLOW_DATA_DIR", str(data_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert callable(command)
    before = _stored(data_dir)
    result = CliRunner().invoke(app, command(text))
    # CliRunner catches what escapes the command: only click's own exit may.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2 and result.output.startswith("error: "):
        assert result.output.rstrip("\n").count("\n") == 0, result.output
    assert _stored(data_dir) == before


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("history", b"\xff\xfe/2024"), id="undecodable reference"),
        pytest.param(("show", "treasury/2024", "--as-of", b"2024-12-3\xb1"), id="undecodable date"),
        pytest.param((b"\xc3\x28",), id="undecodable command"),
        pytest.param(("history", "treasury/\u2028\u202e²⁰²⁴"), id="separators, override and superscripts"),
    ],
)
def test_undecodable_and_awkward_arguments_end_in_a_message_in_a_real_process(
    data_dir: Path, args: tuple[str | bytes, ...]
) -> None:
    result = run(data_dir, *args)
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert result.stderr.strip()


# --- the engine's text inputs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    world = build_world()
    yield world
    world.engine.close()


def _events(world: World) -> int:
    return world.engine.recorder.max_notification_id() or 0


ENGINE_TEXT_INPUTS = {
    "reference": lambda world, text: world.engine.find_dossier(text),
    "unit code": lambda world, text: world.engine.unit_by_code(text),
    "username": lambda world, text: world.engine.person_by_username(text),
    "unit name": lambda world, text: world.engine.rename_unit(
        world.admin, world.units["treasury"], name=text, effective_from=date(2024, 6, 1), reason="QĐ 7"
    ),
    "person": lambda world, text: world.engine.register_person(world.admin, username=text, full_name=text),
    "comment": lambda world, text: world.engine.record_answers(
        world.secretary("cell-a"), draft_of(world), answers={"leadership_of_tasks": Answer(Grade.GOOD, comment=text)}
    ),
    "evidence name": lambda world, text: world.engine.attach_evidence(
        world.secretary("cell-a"), draft_of(world), name=text, data=b"minutes"
    ),
    "withdrawal reason": lambda world, text: withdraw_and_restore(world, text),
}


def draft_of(world: World) -> UUID:
    did = dossier_id(world.units["cell-a"], 2024)
    return did if did in world.engine.repository else draft(world, "cell-a")


def withdraw_and_restore(world: World, reason: str) -> None:
    secretary, did = world.secretary("cell-a"), draft_of(world)
    world.engine.withdraw(secretary, did, reason=reason)
    world.engine.restore(secretary, did)


STORING = {"unit name", "person", "comment", "evidence name", "withdrawal reason"}
FREE_TEXT = {"comment"}


def _forging(what: str, text: str) -> bool:
    allowed = "\n\t" if what in FREE_TEXT else ""
    return any(is_refused_character(char) and char not in allowed for char in text.strip())


@PROPERTY
@given(what=st.sampled_from(sorted(ENGINE_TEXT_INPUTS)), text=TEXT)
@example(what="reference", text="treasury/²⁰²⁴")
@example(what="reference", text="treasury/" + "9" * 5000)
@example(what="unit code", text="treasury\udcff")
@example(what="unit name", text="Chi bộ\nv9   2025-01-15 09:00  Approved")
@example(what="comment", text="lone \udcff surrogate")
@example(what="evidence name", text="minutes.txt\x1b[2K")
def test_any_text_given_to_the_engine_is_accepted_or_refused_as_a_domain_error_and_a_refusal_stores_nothing(
    world: World, what: str, text: str
) -> None:
    draft_of(world)
    before = _events(world)
    try:
        ENGINE_TEXT_INPUTS[what](world, text)
    except DomainError:
        assert _events(world) == before
    else:
        assert not (what in STORING and _forging(what, text)), f"{what} stored {text!r}"
