"""The web application on PostgreSQL: accounts, sessions and read models in the same database as the events."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.test_journeys_over_http import walk_the_four_journeys
from tests.web.world import play_demo_into, web_on


@pytest.mark.postgres
def test_the_four_journeys_work_on_postgresql(fresh_postgres_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    play_demo_into(data_dir, fresh_postgres_url)
    with web_on(data_dir, fresh_postgres_url) as web:
        walk_the_four_journeys(web)
