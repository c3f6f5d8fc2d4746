"""The administration pages on PostgreSQL: their read-side queries (the people, a unit's and a person's recent
changes, the hierarchy as of a date) against the same database as the events."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.ids import person_id
from tests.web.test_admin_pages import ADMIN, MOVED, OLD_WARD, WARD, _branch, _post
from tests.web.world import play_demo_into, web_on


@pytest.mark.postgres
def test_an_administrator_moves_a_unit_and_registers_a_person_on_postgresql(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    play_demo_into(data_dir, fresh_postgres_url)
    with web_on(data_dir, fresh_postgres_url) as web:
        client = web.signed_in(ADMIN)
        status, location, _ = _post(
            web, client, f"/admin/units/{MOVED}", f"/admin/units/{MOVED}/move",
            {"parent": WARD, "effective_from": "2026-01-01", "reason": "Nghị quyết số 12-NQ/TU"},
        )
        assert status == 303
        assert "Nghị quyết số 12-NQ/TU" in client.get(location).text
        assert MOVED in _branch(client.get("/admin/units", params={"as_of": "2025-12-31"}).text, OLD_WARD)
        assert MOVED in _branch(client.get("/admin/units", params={"as_of": "2026-01-01"}).text, WARD)

        page = client.get("/admin/people").text
        made = web.post(client, "/admin/people", page, {"username": "bt-moi", "full_name": "Lý Văn Mới"})
        assert made.status_code == 201
        assert re.search(r'<span class="password">[^<]{12}</span>', made.text)
        assert "Lý Văn Mới" in client.get("/admin/people", params={"q": "ly van moi"}).text
        person = client.get(f"/admin/people/{person_id('bt-moi')}").text
        assert "Registered the person" in person
