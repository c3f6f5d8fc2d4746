"""The reports' files and decision list on PostgreSQL: the same rows as the read model holds, in the same order."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from projections.models import dossiers as dossiers_model
from tests.web.world import AUDITOR, play_demo_into, text_of, web_on


@pytest.mark.postgres
def test_the_province_exports_and_prints_its_decisions_on_postgresql(fresh_postgres_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    play_demo_into(data_dir, fresh_postgres_url)
    with web_on(data_dir, fresh_postgres_url) as web:
        below = web.engine.unit_by_code("lao-cai").id
        expected = [c.unit_code for c in dossiers_model.classifications(web.site.side.store, 2024, below)]
        assert len(expected) > 40
        client = web.signed_in(AUDITOR)
        response = client.get("/reports/lao-cai/2024/classifications.csv")
        assert response.status_code == 200, text_of(response)
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert [r[1] for r in rows[1:]] == expected
        response = client.get("/reports/lao-cai/2024/classifications.xlsx")
        assert response.status_code == 200, text_of(response)
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert sheet is not None
        assert [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)] == expected
        response = client.get("/reports/mk-huyen-uy/2024/decision-list")
        assert response.status_code == 200, text_of(response)
        assert "Chi bộ Kho bạc Nhà nước Mường Khương" in text_of(response)
