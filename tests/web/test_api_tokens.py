"""API tokens: kept hashed beside the accounts, shown once by `dossierflow token create`, listed without their
secret, revoked at once; on SQLite (web.sqlite) and on PostgreSQL (web_api_tokens in the store's database)."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from domain.ids import person_id
from projections.store import make_engine
from tests.web.api_world import API
from tests.web.world import AUDITOR, CELL, REVIEWER, SECRETARY, copy_of, play_demo_into, web_on
from web.cli import app as cli
from web.server import accounts_url
from web.tokens import TOKENS, Tokens


def _tokens_on(url: str) -> Tokens:
    return Tokens(make_engine(url))


def test_only_the_hash_of_a_token_is_stored_and_it_resolves_until_revoked(tmp_path: Path) -> None:
    tokens = _tokens_on(f"sqlite:///{tmp_path / 'web.sqlite'}")
    token, record = tokens.create(person_id(AUDITOR), label="công cụ kiểm tra")
    with tokens.engine.connect() as conn:
        (row,) = conn.execute(select(TOKENS)).all()
    assert row.key == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(row))
    found = tokens.resolve(token, date(2025, 12, 1))
    assert found is not None
    assert found.person_id == person_id(AUDITOR)
    assert tokens.resolve(token[:-1], date(2025, 12, 1)) is None
    assert tokens.revoke(record.token_id) is not None
    assert tokens.resolve(token, date(2025, 12, 1)) is None
    assert tokens.revoke("no-such-id") is None


def test_a_token_with_a_last_day_works_through_that_day_only(tmp_path: Path) -> None:
    tokens = _tokens_on(f"sqlite:///{tmp_path / 'web.sqlite'}")
    token, _ = tokens.create(person_id(AUDITOR), expires_on=date(2025, 12, 31))
    assert tokens.resolve(token, date(2025, 12, 31)) is not None
    assert tokens.resolve(token, date(2026, 1, 1)) is None


@pytest.fixture
def demo_data(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = copy_of(demo_template, tmp_path / "data")
    monkeypatch.setenv("DOSSIERFLOW_DATA_DIR", str(data))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return data


def test_token_create_prints_a_token_once_that_the_api_accepts_and_revoke_ends_it(demo_data: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["token", "create", AUDITOR, "--label", "Ủy ban kiểm tra"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("dft_")
    listed = runner.invoke(cli, ["token", "list"])
    assert listed.exit_code == 0
    assert AUDITOR in listed.stdout
    assert "Ủy ban kiểm tra" in listed.stdout
    assert token not in listed.stdout
    token_id = listed.stdout.split()[0]
    with web_on(demo_data) as web:
        client = TestClient(web.app, headers={"Authorization": f"Bearer {token}"})
        assert client.get(f"{API}/me").json()["username"] == AUDITOR
        revoked = runner.invoke(cli, ["token", "revoke", token_id])
        assert revoked.exit_code == 0, revoked.output
        assert revoked.stdout.strip() == f"token {token_id} revoked"
        assert client.get(f"{API}/me").status_code == 401
        again = runner.invoke(cli, ["token", "revoke", token_id])
        assert again.exit_code == 0
        assert "was already revoked on" in again.stdout
    assert "revoked" in runner.invoke(cli, ["token", "list", AUDITOR]).stdout


def test_token_commands_refuse_bad_input_in_one_line(demo_data: Path) -> None:
    runner = CliRunner()
    for args in (
        ["token", "create", "nobody-here"],
        ["token", "create", SECRETARY, "--expires", "2001-01-01"],
        ["token", "create", SECRETARY, "--expires", "soon"],
        ["token", "create", "bad\x1bname"],
        ["token", "revoke", "no-such-token"],
        ["token", "revoke", "../../etc"],
        ["token", "list", "nobody-here"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error: ")
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""
    assert runner.invoke(cli, ["token", "list"]).stdout.strip() == "no token"


AWKWARD = st.sampled_from(["\x00", "\n", "\x1b", "\udcff", "\u2028", "\u202e", "²", "٢", "/", " ", "Đ", "\ufeff"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(st.text(st.one_of(AWKWARD, st.characters()), max_size=30), st.just("9" * 5000), st.just("")),
    command=st.sampled_from([
        lambda t: ["token", "create", t], lambda t: ["token", "create", SECRETARY, "--label", t],
        lambda t: ["token", "create", SECRETARY, "--expires", t], lambda t: ["token", "list", t],
        lambda t: ["token", "revoke", t],
    ]),
)
def test_any_argument_to_the_token_commands_ends_in_an_answer_or_a_one_line_refusal(
    demo_data: Path, text: str, command: object
) -> None:
    result = CliRunner().invoke(cli, command(text))  # type: ignore[operator]
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ")
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.postgres
def test_tokens_live_in_the_stores_postgresql_database(fresh_postgres_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    play_demo_into(data_dir, fresh_postgres_url)
    with web_on(data_dir, fresh_postgres_url) as web:
        tokens = Tokens(make_engine(accounts_url(fresh_postgres_url, data_dir)))

        def client(username: str) -> TestClient:
            token, _ = tokens.create(person_id(username))
            return TestClient(web.app, headers={"Authorization": f"Bearer {token}"})

        auditor = client(AUDITOR)
        listed = auditor.get(f"{API}/dossiers", params={"year": 2025})
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == 5
        # A step through the API, and the reviewer's list showing it at once: read-your-writes on PostgreSQL.
        did = str(web.engine.find_dossier(f"{CELL}/2025"))
        secretary = client(SECRETARY)
        etag = secretary.get(f"{API}/dossiers/{did}").headers["etag"]
        submitted = secretary.post(f"{API}/dossiers/{did}/actions/submit", json={}, headers={"If-Match": etag})
        assert submitted.status_code == 200, submitted.text
        waiting = client(REVIEWER).get(f"{API}/dossiers", params={"year": 2025, "state": "submitted"}).json()
        assert did in {i["id"] for i in waiting["items"]}
    assert not (data_dir / "web.sqlite").exists()
