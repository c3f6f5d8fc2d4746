"""The read models' and accounts' pool on PostgreSQL: a connection that died while idle is replaced before use;
one used again at once is not pinged (a round trip saved on each of a page's checkouts)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, exc, text

from projections.store import driver_rows, make_engine, placeholder

pytestmark = pytest.mark.postgres


def _engine(postgres_url: str, ping_after_idle: float) -> Iterator[Engine]:
    engine = make_engine("postgresql+psycopg://" + postgres_url.split("://", 1)[1], ping_after_idle=ping_after_idle)
    yield engine
    engine.dispose()


@pytest.fixture
def pinging(postgres_url: str) -> Iterator[Engine]:
    yield from _engine(postgres_url, 0.0)


@pytest.fixture
def trusting(postgres_url: str) -> Iterator[Engine]:
    yield from _engine(postgres_url, 3600.0)


def _pooled_backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("select pg_backend_pid()")).scalar_one())


def _terminate(postgres_url: str, pid: int) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("select pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_it_is_used(
    pinging: Engine, postgres_url: str
) -> None:
    dead = _pooled_backend(pinging)
    _terminate(postgres_url, dead)
    with pinging.connect() as conn:
        assert conn.execute(text("select 1")).scalar_one() == 1
        assert conn.execute(text("select pg_backend_pid()")).scalar_one() != dead


def test_a_connection_checked_out_again_at_once_is_not_pinged_and_the_pool_recovers_after_its_failure(
    trusting: Engine, postgres_url: str
) -> None:
    dead = _pooled_backend(trusting)
    _terminate(postgres_url, dead)
    # Not idle long enough to be pinged: the dead connection is handed out, and its first statement fails ...
    with trusting.connect() as conn, pytest.raises(exc.OperationalError):
        conn.execute(text("select 1"))
    # ... after which the pool has dropped it: the next checkout is a live connection.
    assert _pooled_backend(trusting) != dead


def test_a_statement_straight_through_the_driver_hands_its_connection_back_out_of_autocommit(
    trusting: Engine,
) -> None:
    assert driver_rows(trusting, f"select {placeholder(trusting)}::int", (7,)) == [(7,)]
    # The pool's next user gets a connection in SQLAlchemy's own mode: a transaction that rolls back.
    with trusting.connect() as conn:
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]


def test_a_connection_that_fails_under_a_statement_straight_through_the_driver_is_dropped_from_the_pool(
    trusting: Engine, postgres_url: str
) -> None:
    dead = _pooled_backend(trusting)
    _terminate(postgres_url, dead)
    with pytest.raises(psycopg.OperationalError):
        driver_rows(trusting, "select 1")
    assert driver_rows(trusting, "select pg_backend_pid()")[0][0] != dead
