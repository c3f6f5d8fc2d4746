"""Reports over HTTP: the XLSX and CSV of the decided classifications below a unit, the printable decision list, and
every refusal (wrong role, outside the scope, unknown unit or period, bad year, signed out)."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Classification, Role
from projections import exports
from projections.models import dossiers as dossiers_model
from tests.web.world import APPROVER, AUDITOR, OTHER_REVIEWER, PROVINCE_APPROVER, REVIEWER, SECRETARY, Web, text_of
from web import reports

WARD = "lc-kim-tan"
XLSX = f"/reports/{WARD}/2024/classifications.xlsx"
CSV = f"/reports/{WARD}/2024/classifications.csv"
PRINT = f"/reports/{WARD}/2024/decision-list"
WORDING = exports.Wording(
    [f"h{i}" for i in range(12)], {level: level.value for level in Classification} | {
        Classification.GOOD: "Hoàn thành tốt nhiệm vụ"}, "Có", "Không",
)


def _expected_codes(web: Web, code: str, year: int) -> list[str]:
    """What the read model holds, by the query the CLI already uses (not the export's own paged query)."""
    below = web.engine.unit_by_code(code).id
    return [c.unit_code for c in dossiers_model.classifications(web.site.side.store, year, below)]


def test_an_approver_downloads_the_xlsx_of_their_ward_with_vietnamese_headers_names_and_numeric_cells(
    web: Web,
) -> None:
    client = web.signed_in(APPROVER)
    response = client.get(XLSX, headers={"Accept-Language": "vi"})
    assert response.status_code == 200, text_of(response)
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "attachment" in response.headers["content-disposition"]
    assert int(response.headers["content-length"]) == len(response.content)
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("STT", "Mã đơn vị", "Đơn vị", "Mức xếp loại")
    body = rows[1:]
    assert [r[1] for r in body] == _expected_codes(web, WARD, 2024)
    by_code = {r[1]: r for r in body}
    cell = by_code["lc-kim-tan-cb1"]
    assert cell[2] == "Chi bộ Tổ dân phố số 5 (phường Kim Tân)"
    assert cell[3] == "Hoàn thành tốt nhiệm vụ"
    assert [r[0] for r in body] == list(range(1, len(body) + 1))
    assert all(isinstance(r[0], int) and isinstance(r[9], int) and r[9] == 2024 for r in body)
    assert all(isinstance(r[6], datetime) and r[6].year in (2024, 2025) for r in body)


def test_the_xlsx_is_streamed_from_a_temporary_file_that_is_gone_once_sent(
    web: Web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    client = web.signed_in(PROVINCE_APPROVER)
    response = client.get("/reports/lao-cai/2024/classifications.xlsx")
    assert response.status_code == 200, text_of(response)
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert [r[1] for r in rows[1:]] == _expected_codes(web, "lao-cai", 2024)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_points_are_written_as_numbers_and_the_decision_day_as_a_date_in_the_locales_format(tmp_path: Path) -> None:
    line = exports.ExportLine(
        7, "mk-thue", "Chi bộ Chi cục Thuế huyện Mường Khương", Classification.GOOD, True, Decimal("87.5"),
        date(2024, 12, 20), False, "QD124-2023 v1", 2024, "125-QĐ/HU", date(2024, 12, 27),
    )
    path = tmp_path / "out.xlsx"
    date_format = reports.excel_date_format("vi")
    assert exports.write_xlsx(path, iter([line]), WORDING, title="Xếp loại năm 2024", date_format=date_format) == 1
    sheet = load_workbook(path).active
    assert sheet is not None
    assert sheet["A2"].value == 7
    assert sheet["C2"].value == "Chi bộ Chi cục Thuế huyện Mường Khương"
    assert (sheet["D2"].value, sheet["E2"].value) == ("Hoàn thành tốt nhiệm vụ", "Có")
    assert sheet["F2"].value == 87.5
    assert sheet["F2"].data_type == "n"
    assert sheet["G2"].is_date
    assert sheet["G2"].value == datetime(2024, 12, 20)
    assert sheet["G2"].number_format == "dd/mm/yyyy"
    assert reports.excel_date_format("en") == "mm/dd/yyyy"
    assert reports.excel_date_format("hi") == "dd/mm/yyyy"


def test_the_csv_starts_with_a_bom_and_holds_every_decided_unit_below_the_ward(web: Web) -> None:
    client = web.signed_in(REVIEWER)
    response = client.get(CSV, headers={"Accept-Language": "vi"})
    assert response.status_code == 200, text_of(response)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["STT", "Mã đơn vị", "Đơn vị"]
    assert [r[1] for r in rows[1:]] == _expected_codes(web, WARD, 2024)
    assert "Chi bộ Tổ dân phố số 12 (phường Kim Tân)" in {r[2] for r in rows[1:]}
    assert all(date.fromisoformat(r[6]) for r in rows[1:])


def test_a_unit_renamed_after_the_period_is_exported_under_the_name_its_decision_was_taken_under(web: Web) -> None:
    admin = Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai"))
    renamed = "Chi bộ Khu dân cư số 5 (phường Kim Tân)"
    receipt = web.engine.rename_unit(admin, unit_id("lc-kim-tan-cb1"), name=renamed, effective_from=date(2025, 7, 1),
                                      reason="QĐ 1")
    assert web.site.side.wait_for(receipt.position, timeout=30).reached
    client = web.signed_in(APPROVER)
    rows = list(csv.reader(io.StringIO(client.get(CSV).content.decode("utf-8-sig"))))
    names = {r[1]: r[2] for r in rows[1:]}
    assert names["lc-kim-tan-cb1"] == "Chi bộ Tổ dân phố số 5 (phường Kim Tân)"
    page = text_of(client.get(f"/reports?unit={WARD}&year=2024"))
    assert "Chi bộ Tổ dân phố số 5 (phường Kim Tân)" in page
    assert "Khu dân cư số 5" not in page


def test_an_export_larger_than_a_page_reads_every_row_once_in_unit_code_order(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "EXPORT_PAGE", 4)
    client = web.signed_in(AUDITOR)
    response = client.get("/reports/lao-cai/2024/classifications.csv")
    assert response.status_code == 200, text_of(response)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    expected = _expected_codes(web, "lao-cai", 2024)
    assert len(expected) > 3 * 4
    assert [r[1] for r in rows] == expected
    assert [int(r[0]) for r in rows] == list(range(1, len(expected) + 1))


def test_a_text_a_spreadsheet_would_run_as_a_formula_is_written_as_text_in_the_csv() -> None:
    line = exports.ExportLine(
        1, "=cmd", "+SUM(A1)", Classification.GOOD, None, None, date(2024, 12, 1), False, "@rules", 2024, "=1", None,
    )
    text = b"".join(exports.csv_chunks(iter([line]), WORDING)).decode("utf-8-sig")
    row = next(csv.reader(io.StringIO(text.splitlines()[1])))
    assert row[1:3] == ["'=cmd", "'+SUM(A1)"]
    assert row[8] == "'@rules"


def test_the_reports_page_offers_the_downloads_and_the_decision_list_to_an_approver(web: Web) -> None:
    client = web.signed_in(APPROVER)
    response = client.get(f"/reports?unit={WARD}&year=2024")
    assert response.status_code == 200, text_of(response)
    assert f'href="{XLSX}"' in response.text
    assert f'href="{CSV}"' in response.text
    assert f'href="{PRINT}"' in response.text
    assert 'href="/reports"' in response.text  # the link in the navigation
    assert "Chi bộ Tổ dân phố số 5 (phường Kim Tân)" in text_of(response)


def test_an_htmx_request_for_the_reports_page_gets_only_the_result(web: Web) -> None:
    client = web.signed_in(APPROVER)
    response = client.get(f"/reports?unit={WARD}&year=2024", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="result"')
    assert "<html" not in response.text
    assert f'href="{XLSX}"' in response.text


def test_the_printable_decision_list_names_the_deciding_body_the_units_by_level_and_leaves_the_number_blank(
    web: Web,
) -> None:
    client = web.signed_in(APPROVER)
    response = client.get(PRINT, headers={"Accept-Language": "vi"})
    assert response.status_code == 200, text_of(response)
    page = text_of(response)
    assert "Đảng bộ phường Kim Tân" in page
    assert "Ban Thường vụ" in page
    assert "Chi bộ Tổ dân phố số 5 (phường Kim Tân)" in page
    assert "Chi bộ Tổ dân phố số 12 (phường Kim Tân)" in page
    assert 'class="blank"' in response.text
    assert 'href="/static/reports.css"' in response.text


def test_the_decision_list_names_the_best_level_first_then_by_name_and_the_undecided_apart(web: Web) -> None:
    client = web.signed_in(PROVINCE_APPROVER)
    response = client.get("/reports/mk-huyen-uy/2024/decision-list")
    assert response.status_code == 200, text_of(response)
    page = text_of(response)
    listed, undecided = page.split("Not yet decided")
    order = [
        "Chi bộ Kho bạc Nhà nước Mường Khương",  # excellent
        "Chi bộ Phòng Tài chính – Kế hoạch",  # excellent, after K
        "Chi bộ Chi cục Thuế huyện Mường Khương",  # good
        "Chi bộ Phòng Tài nguyên và Môi trường",  # completed
        "Chi bộ Phòng Kinh tế – Hạ tầng",  # did not complete
    ]
    positions = [listed.index(name) for name in order]
    assert positions == sorted(positions)
    assert "Chi bộ Phòng Nội vụ" in undecided  # endorsed, not yet decided
    assert "Chi bộ Phòng Nội vụ" not in listed


def test_the_province_can_print_the_decision_list_of_a_district_dissolved_since(web: Web) -> None:
    # Mường Khương's district committee decided its units in 2024 and was dissolved in the July 2025 restructuring.
    client = web.signed_in(AUDITOR)
    response = client.get("/reports/mk-huyen-uy/2024/decision-list")
    assert response.status_code == 200, text_of(response)
    assert "Chi bộ Phòng Tài chính – Kế hoạch" in text_of(response)


@pytest.mark.parametrize("username", [REVIEWER, APPROVER, AUDITOR, "admin"])
def test_the_wards_reviewer_and_approver_the_provinces_auditor_and_the_administrator_may_download(
    web: Web, username: str
) -> None:
    client = web.signed_in(username)
    for path in (XLSX, CSV, PRINT):
        response = client.get(path)
        assert response.status_code == 200, (username, path, text_of(response))
    assert 'href="/reports"' in client.get("/work").text


@pytest.mark.parametrize("path", [XLSX, CSV, PRINT, f"/reports?unit={WARD}&year=2024"])
def test_a_secretary_may_not_read_reports(web: Web, path: str) -> None:
    response = web.signed_in(SECRETARY).get(path)
    assert response.status_code == 403
    assert "You may not do this" in text_of(response)


def test_a_secretary_sees_no_reports_link(web: Web) -> None:
    assert 'href="/reports"' not in web.signed_in(SECRETARY).get("/work").text


@pytest.mark.parametrize("path", [XLSX, CSV, PRINT, f"/reports?unit={WARD}&year=2024"])
def test_a_reviewer_of_another_ward_may_not_read_this_wards_reports(web: Web, path: str) -> None:
    response = web.signed_in(OTHER_REVIEWER).get(path)
    assert response.status_code == 403
    assert "outside the units" in text_of(response)
    assert "Tổ dân phố số 5" not in response.text


def test_a_ward_approver_may_not_export_the_province(web: Web) -> None:
    response = web.signed_in(APPROVER).get("/reports/lao-cai/2024/classifications.csv")
    assert response.status_code == 403
    assert b"\xef\xbb\xbf" not in response.content


@pytest.mark.parametrize("path", [XLSX, CSV, PRINT, "/reports"])
def test_a_signed_out_visitor_is_sent_to_sign_in(web: Web, path: str) -> None:
    response = web.client().get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/reports/no-such-unit/2024/classifications.xlsx", 404),
        ("/reports/no-such-unit/2024/decision-list", 404),
        (f"/reports/{WARD}/2019/classifications.csv", 404),
        (f"/reports/{WARD}/20x4/classifications.csv", 422),
        (f"/reports/{WARD}/99999/decision-list", 422),
        ("/reports?unit=no-such-unit&year=2024", 404),
        (f"/reports?unit={WARD}&year=abc", 422),
    ],
)
def test_an_unknown_unit_or_period_or_a_bad_year_is_answered_with_a_page_not_a_file(
    web: Web, path: str, status: int
) -> None:
    response = web.signed_in(AUDITOR).get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    code=st.one_of(st.text(max_size=120), st.sampled_from(["lc-kim-tan", "lao-cai", "\x00", "..", "%", " "])),
    year=st.one_of(st.text(max_size=8), st.sampled_from(["2024", "２０２４", "²⁰²⁴", "0000", "9999", ""])),
)
def test_any_unit_code_or_year_is_answered_with_a_page_never_a_server_error(web: Web, code: str, year: str) -> None:
    client = web.signed_in(AUDITOR)
    for response in (
        client.get("/reports", params={"unit": code, "year": year}),
        client.get(f"/reports/{quote(code, safe='')}/{quote(year, safe='')}/classifications.csv"),
        client.get(f"/reports/{quote(code, safe='')}/{quote(year, safe='')}/decision-list"),
    ):
        assert response.status_code in (200, 403, 404, 422), (code, year, response.status_code)


def test_the_reports_choice_is_a_plain_form_whose_one_request_gives_the_result_and_shows_once_with_htmx(
    web: Web,
) -> None:
    client = web.signed_in(APPROVER)
    page = client.get("/reports").text
    form = re.search(r'<form class="search report-choice"[^>]*>', page)
    assert form
    # Without JavaScript: a GET of /reports with the choices, answered by the whole page with the result.
    assert 'method="get" action="/reports"' in form.group(0)
    assert 'name="unit"' in page
    assert 'name="year"' in page
    chosen = client.get(f"/reports?unit={WARD}&year=2024")
    assert chosen.status_code == 200
    assert "Decided classifications 2024" in text_of(chosen)
    assert f'href="{XLSX}"' in chosen.text
    # With htmx: Show asking again for the report a choice has just brought is not sent (web/static/reports.js),
    # and leads the focus to the result, which can take it.
    assert '<script src="/static/reports.js" defer></script>' in page
    assert re.search(r'<section id="result"[^>]*tabindex="-1"', page)
    assert web.client().get("/static/reports.js").status_code == 200
