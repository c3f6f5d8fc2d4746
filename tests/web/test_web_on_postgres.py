"""The web application on PostgreSQL: accounts, sessions and read models in the same database as the events."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.test_journeys_over_http import walk_the_four_journeys
from tests.web.world import web_on
from web.demo import play_demo
from workflow.bootstrap import build_engine


@pytest.mark.postgres
def test_the_four_journeys_work_on_postgresql(fresh_postgres_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = build_engine(database_url=fresh_postgres_url, data_dir=data_dir)
    try:
        play_demo(engine, progress=lambda _: None)
    finally:
        engine.close()
    with web_on(data_dir, fresh_postgres_url) as web:
        walk_the_four_journeys(web)
