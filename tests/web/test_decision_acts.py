"""Decision acts over HTTP: an approver gives the act's number and date on the decision list (page and API), the
reports page lists the acts of a deciding body, one act prints with its number, date, body, units and levels, the
files carry the act's number and date, and the files take "below" from the hierarchy as of the period's end."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from urllib.parse import quote

from openpyxl import load_workbook

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Role
from tests.web.api_world import API, api_on
from tests.web.world import APPROVER, PROVINCE_APPROVER, Web, text_of

ROOT = unit_id("lao-cai")
NAM_LU = "mk-nam-lu"  # endorsed in the demo's 2025 season, waiting for the province's decision
NAM_LU_NAME = "Đảng bộ xã Nấm Lư"


def _decide_on_the_page(web: Web, number: str, day: str) -> object:
    approver = web.signed_in(PROVINCE_APPROVER)
    page = approver.get(f"/decisions/{ROOT}/2025")
    assert page.status_code == 200, text_of(page)
    assert 'name="act_number"' in page.text
    did = web.engine.find_dossier(f"{NAM_LU}/2025")
    version = str(web.engine.dossier(did).version)
    return web.post(
        approver, f"/decisions/{ROOT}/2025", page.text,
        {"dossier": str(did), f"version.{did}": version, f"level.{did}": "good", "act_number": number,
         "act_date": day},
    )


def _wait(web: Web) -> None:
    assert web.site.side.wait_for(web.engine.recorder.max_notification_id() or 0, timeout=30).reached


def test_an_act_decided_on_the_page_is_listed_in_reports_and_prints_with_its_number_date_body_and_units(
    web: Web,
) -> None:
    decided = _decide_on_the_page(web, "125-QĐ/TU", "2025-11-28")
    assert decided.status_code == 303, text_of(decided)  # type: ignore[attr-defined]
    _wait(web)
    client = web.signed_in(PROVINCE_APPROVER)
    reports = text_of(client.get("/reports?unit=lao-cai&year=2025"))
    assert "Decision acts of Tỉnh ủy Lào Cai" in reports
    assert "125-QĐ/TU" in reports
    link = f"/reports/lao-cai/2025/decision-list?act={quote('125-QĐ/TU')}"
    assert f'href="{link}"' in client.get("/reports?unit=lao-cai&year=2025").text
    printed = client.get(link, headers={"Accept-Language": "vi"})
    assert printed.status_code == 200, text_of(printed)
    page = text_of(printed)
    assert "Số: 125-QĐ/TU" in page
    assert "28 thg 11, 2025" in page
    assert "Tỉnh ủy Lào Cai" in page
    assert NAM_LU_NAME in page
    assert "Hoàn thành tốt nhiệm vụ" in page
    assert 'class="blank"' not in printed.text
    # The list of every decision in force is still there, its number left blank.
    whole = client.get("/reports/lao-cai/2025/decision-list")
    assert whole.status_code == 200
    assert 'class="blank"' in whole.text


def test_a_number_already_taken_is_refused_on_the_page_with_what_was_typed_kept(web: Web) -> None:
    approver = Actor(person_id(PROVINCE_APPROVER), Role.APPROVER, ROOT)
    engine = web.engine
    did = engine.find_dossier(f"{NAM_LU}/2025")
    # The province decides its only waiting dossier by act 7-QĐ/TU, then re-opens it: its new decision needs an
    # act of its own.
    engine.approve(approver, did, act_number="7-QĐ/TU", act_date=date(2025, 11, 20))
    engine.reopen(approver, did, legal_basis="Kết luận 12-KL/UBKT")
    _wait(web)
    client = web.signed_in(PROVINCE_APPROVER)
    page = client.get(f"/decisions/{ROOT}/2025")
    version = str(engine.dossier(did).version)
    refused = web.post(
        client, f"/decisions/{ROOT}/2025", page.text,
        {"dossier": str(did), f"version.{did}": version, f"level.{did}": "good", f"reason.{did}": "Xem xét lại",
         "act_number": "7-qđ/tu", "act_date": "2025-11-30"},
    )
    assert refused.status_code == 409, text_of(refused)
    assert "7-qđ/tu is already taken" in text_of(refused)
    assert 'value="7-qđ/tu"' in refused.text
    assert engine.dossier(did).state.value == "reopened"


def test_a_bad_act_date_on_the_page_is_refused_and_nothing_is_decided(web: Web) -> None:
    for day, said in (("2025-12-02", "is after today"), ("2024-12-31", "before the period 2025 began"),
                      ("tomorrow", "is not a date")):
        refused = _decide_on_the_page(web, "1-QĐ/TU", day)
        assert refused.status_code == 422, text_of(refused)  # type: ignore[attr-defined]
        assert said in text_of(refused)  # type: ignore[arg-type]
    assert web.engine.dossier(web.engine.find_dossier(f"{NAM_LU}/2025")).state.value == "endorsed"


def test_one_decision_on_the_dossier_page_may_name_its_act(web: Web) -> None:
    client = web.signed_in(PROVINCE_APPROVER)
    path = web.dossier_path(NAM_LU)
    html, version = web.page(client, path)
    assert 'name="act_number"' in html
    response = web.post(client, f"{path}/act/approve", html, {
        "version": version, "level": "good", "act_number": "9-QĐ/TU", "act_date": "2025-11-29",
    })
    assert response.status_code == 303, text_of(response)
    dossier = web.engine.dossier(web.engine.find_dossier(f"{NAM_LU}/2025"))
    assert (dossier.decision["act"].number, dossier.decision["act"].day) == ("9-QĐ/TU", date(2025, 11, 29))
    assert "by decision no. 9-QĐ/TU of Nov 29, 2025" in text_of(client.get(path))


def test_the_api_takes_the_act_returns_it_and_lists_it_with_the_classification(web: Web) -> None:
    api = api_on(web)
    did = api.dossier_id(NAM_LU)
    approver = api.client(PROVINCE_APPROVER)
    body = {"superior": "lao-cai", "year": 2025, "decisions": [{"dossier": did, "level": "good"}]}
    future = approver.post(f"{API}/decision-lists", json={**body, "act_number": "3-QĐ/TU", "act_date": "2026-01-01"})
    assert future.status_code == 422, future.text
    assert "after today" in future.json()["detail"]
    no_number = approver.post(f"{API}/decision-lists", json={**body, "act_date": "2025-11-01"})
    assert no_number.status_code == 422, no_number.text
    decided = approver.post(f"{API}/decision-lists", json={**body, "act_number": "3-QĐ/TU", "act_date": "2025-11-27"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["act"] == {"number": "3-QĐ/TU", "date": "2025-11-27"}
    listed = approver.get(f"{API}/classifications", params={"period": 2025}).json()
    (item,) = listed["items"]
    assert (item["act_number"], item["act_date"]) == ("3-QĐ/TU", "2025-11-27")
    detail = approver.get(f"{API}/dossiers/{did}").json()
    assert detail["decision"]["act"] == {"number": "3-QĐ/TU", "date": "2025-11-27"}
    again = approver.post(f"{API}/decision-lists", json={**body, "act_number": "3-qđ/tu"})
    assert again.status_code == 409, again.text
    acts = approver.get(f"{API}/decision-acts", params={"period": 2025, "superior": "lao-cai"})
    assert acts.status_code == 200, acts.text
    (act,) = acts.json()["acts"]
    assert (act["number"], act["date"]) == ("3-QĐ/TU", "2025-11-27")
    assert [(u["unit"]["code"], u["level"]) for u in act["units"]] == [(NAM_LU, "good")]


def test_the_acts_of_a_deciding_unit_are_refused_outside_ones_scope_and_for_an_unknown_period(web: Web) -> None:
    api = api_on(web)
    outside = api.client(APPROVER).get(f"{API}/decision-acts", params={"period": 2025, "superior": "lao-cai"})
    assert outside.status_code == 403, outside.text
    unknown = api.client(PROVINCE_APPROVER).get(f"{API}/decision-acts", params={"period": 2031})
    assert unknown.status_code == 404, unknown.text
    empty = api.client(PROVINCE_APPROVER).get(f"{API}/decision-acts", params={"period": 2024, "superior": "lao-cai"})
    assert empty.status_code == 200, empty.text
    assert empty.json()["acts"] == []


def test_an_unknown_act_is_404_and_an_act_is_read_only_by_those_who_may_read_the_body(web: Web) -> None:
    assert _decide_on_the_page(web, "125-QĐ/TU", "2025-11-28").status_code == 303  # type: ignore[attr-defined]
    _wait(web)
    link = f"/reports/lao-cai/2025/decision-list?act={quote('125-QĐ/TU')}"
    province = web.signed_in(PROVINCE_APPROVER)
    assert province.get("/reports/lao-cai/2025/decision-list?act=126-QĐ/TU").status_code == 404
    assert province.get("/reports/lao-cai/2025/decision-list?act=" + "9" * 80).status_code == 404
    assert web.signed_in(APPROVER).get(link).status_code == 403


def test_the_files_carry_the_act_number_and_date_of_each_classification(web: Web) -> None:
    assert _decide_on_the_page(web, "125-QĐ/TU", "2025-11-28").status_code == 303  # type: ignore[attr-defined]
    _wait(web)
    client = web.signed_in(PROVINCE_APPROVER)
    rows = list(csv.reader(io.StringIO(client.get("/reports/lao-cai/2025/classifications.csv").content.decode(
        "utf-8-sig"))))
    assert rows[0][10:] == ["Decision number", "Date of issue"]
    by_code = {r[1]: r for r in rows[1:]}
    assert by_code[NAM_LU][10:] == ["125-QĐ/TU", "2025-11-28"]
    response = client.get("/reports/lao-cai/2025/classifications.xlsx", headers={"Accept-Language": "vi"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    xlsx = list(sheet.iter_rows(values_only=True))
    assert xlsx[0][10:] == ("Số quyết định", "Ngày ban hành")
    (line,) = [r for r in xlsx[1:] if r[1] == NAM_LU]
    assert line[10] == "125-QĐ/TU"
    assert line[11] is not None
    assert line[11].date() == date(2025, 11, 28)


def test_a_unit_moved_after_the_period_stays_in_the_files_of_its_superior_of_then_under_its_name_of_then(
    web: Web,
) -> None:
    admin = Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai"))
    cell = unit_id("lc-kim-tan-cb1")
    web.engine.rename_unit(admin, cell, name="Chi bộ Khu dân cư số 5", effective_from=date(2025, 7, 1),
                          reason="Nghị quyết sáp nhập khu dân cư")
    receipt = web.engine.move_unit(
        admin, cell, parent_id=unit_id("lc-pom-han"), effective_from=date(2025, 7, 1), reason="Sắp xếp lại địa giới",
    )
    assert web.site.side.wait_for(receipt.position, timeout=30).reached
    client = web.signed_in(PROVINCE_APPROVER)

    def codes_and_names(code: str) -> dict[str, str]:
        response = client.get(f"/reports/{code}/2024/classifications.csv")
        assert response.status_code == 200, text_of(response)
        return {r[1]: r[2] for r in list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]}

    kim_tan, pom_han = codes_and_names("lc-kim-tan"), codes_and_names("lc-pom-han")
    assert kim_tan["lc-kim-tan-cb1"] == "Chi bộ Tổ dân phố số 5 (phường Kim Tân)"
    assert "lc-kim-tan-cb1" not in pom_han
    assert list(kim_tan) == sorted(kim_tan)
    assert len(kim_tan) > 1
    # The reports page shows the first rows of the same files.
    assert "Chi bộ Tổ dân phố số 5 (phường Kim Tân)" in text_of(client.get("/reports?unit=lc-kim-tan&year=2024"))
    assert "lc-kim-tan-cb1" not in text_of(client.get("/reports?unit=lc-pom-han&year=2024"))


def test_the_pages_decision_forms_send_no_date_unless_one_is_typed_so_a_decision_without_a_number_goes_through(
    web: Web,
) -> None:
    client = web.signed_in(PROVINCE_APPROVER)
    path = web.dossier_path(NAM_LU)
    html, version = web.page(client, path)
    assert re.search(r'<input id="approve-act-date" name="act_date" type="date"[^>]* value="">', html)
    listed = client.get(f"/decisions/{ROOT}/2025").text
    assert re.search(r'<input id="act-date" name="act_date" type="date"[^>]* value="">', listed)
    response = web.post(client, f"{path}/act/approve", html, {"version": version, "level": "good",
                                                              "act_number": "", "act_date": ""})
    assert response.status_code == 303, text_of(response)
    assert web.engine.dossier(web.engine.find_dossier(f"{NAM_LU}/2025")).decision["act"] is None


def test_the_decision_page_takes_its_superior_by_code_and_an_unknown_one_is_no_unit_not_no_dossier(web: Web) -> None:
    approver = web.signed_in(PROVINCE_APPROVER)
    by_code = approver.get("/decisions/lao-cai/2025")
    assert by_code.status_code == 200, text_of(by_code)
    assert text_of(by_code) == text_of(approver.get(f"/decisions/{ROOT}/2025"))
    unknown = approver.get("/decisions/no-such-unit/2025")
    assert unknown.status_code == 404
    assert "no unit with code 'no-such-unit'" in text_of(unknown)
    assert "no dossier" not in text_of(unknown)


def test_a_decision_page_address_whose_year_is_not_a_year_is_a_page_in_the_visitors_language(web: Web) -> None:
    approver = web.signed_in(PROVINCE_APPROVER)
    for path in (f"/decisions/{ROOT}/abcd", f"/decisions/{ROOT}/20255"):
        page = approver.get(path)
        assert page.status_code == 422
        assert page.headers["content-type"].startswith("text/html")
        assert "is not a year" in text_of(page)
