"""The oversight pages on PostgreSQL: the units tree across the restructuring, the dashboard and a chart, the audit
search (its capped count and its page of rows) and its CSV, who could act, and the signed head."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from projections.models import statistics as statistics_model
from tests.web.world import AUDITOR, CELL, REVIEWER, csrf, play_demo_into, text_of, web_on
from workflow.store import SignedHead


@pytest.mark.postgres
def test_the_oversight_pages_work_on_postgresql(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    play_demo_into(data_dir, fresh_postgres_url)
    with web_on(data_dir, fresh_postgres_url) as web:
        auditor = web.signed_in(AUDITOR)
        names = re.compile(r'class="unit-name" href="[^"]*">([^<]+)</a>')
        before = names.findall(auditor.get("/units?on=2025-06-30").text)
        after = names.findall(auditor.get("/units?on=2025-07-01").text)
        assert "Huyện ủy Mường Khương" in before
        assert "Huyện ủy Mường Khương" not in after
        searched = text_of(auditor.get("/units?q=kim tan"))
        assert "3 units match" in searched
        assert "Tỉnh ủy Lào Cai (hợp nhất với Yên Bái) › Đảng bộ phường Kim Tân" in searched
        assert "0 units match" in text_of(web.signed_in("tc-lc-pom-han").get("/units?q=kim tan"))
        opened = auditor.get("/units?unit=lc-kim-tan&on=2025-06-30&open=1", headers={"HX-Request": "true"})
        assert "Chi bộ Tổ dân phố số 5 (phường Kim Tân)" in names.findall(opened.text)

        stats = statistics_model.statistics(web.site.side.store, web.engine.unit_by_code("lao-cai").id, 2024)
        dashboard = text_of(auditor.get("/dashboard?unit=lao-cai&year=2024&compare=none"))
        assert f"Four-good cells {stats.four_good_cells}" in dashboard
        chart = auditor.get("/dashboard/charts/levels.svg?unit=lao-cai&year=2024&compare=none")
        assert chart.status_code == 200
        assert "<script" not in chart.text

        monkeypatch.setattr("web.oversight.AUDIT_COUNT_LIMIT", 100)
        audit = text_of(auditor.get("/audit?page=2"))
        assert "More than 100 events" in audit
        assert len(re.findall(r"<tr>\s*<td>\d+</td>", auditor.get("/audit?page=2").text)) == 50
        exported = auditor.get(f"/audit.csv?person={REVIEWER}&year=2024").content.decode("utf-8-sig")
        shown = text_of(auditor.get(f"/audit?person={REVIEWER}&year=2024"))
        count = re.search(r"(\d+) events", shown)
        assert count is not None
        assert len(list(csv.reader(io.StringIO(exported)))) == 1 + int(count.group(1)) > 1

        who = text_of(auditor.get(f"/audit/who-could-act?dossier={CELL}/2024&on=2024-11-28"))
        assert f"({REVIEWER})" in who

        page = auditor.get("/audit").text
        signed = auditor.post("/audit/checkpoint", data={"csrf_token": csrf(page)})
        head = SignedHead.from_json(signed.text, "the download")
        key = load_pem_public_key(auditor.get("/audit/public-key.pem").content)
        assert head.is_signed_by(key)  # type: ignore[arg-type]
