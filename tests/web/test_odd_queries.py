"""Query strings a new user, or a script, may send to the pages and the API: a filter given twice, a date at the
ends of the calendar, a malformed value in another language. Each is refused in the visitor's language, or
answered rightly; never a 500, never one of two values picked without a word."""

from __future__ import annotations

import csv
import html
import io
import re
from urllib.parse import unquote

import pytest

from tests.web.api_world import API, PDF, Api, api_on
from tests.web.world import AUDITOR, CELL, OTHER_REVIEWER, REVIEWER, SECRETARY, Web, text_of
from web.filenames import ascii_fallback, attachment, uploaded_name


@pytest.fixture
def api(web: Web) -> Api:
    return api_on(web)


# --- one-valued filters given twice ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["year=2024&year=2025", "since=2024-01-01&since=2025-01-01", "until=2025-01-01&until=2024-01-01",
     "unit=lc-kim-tan&unit=lao-cai", "person=tc-lc-kim-tan&person=ubkt-tinh-uy", "action=Dossier.Opened&action="],
)
def test_the_audit_page_and_its_csv_refuse_a_one_valued_filter_given_twice(web: Web, query: str) -> None:
    auditor = web.signed_in(AUDITOR)
    name = query.split("=", 1)[0]
    for path in (f"/audit?{query}", f"/audit.csv?{query}"):
        response = auditor.get(path)
        assert response.status_code == 422, path
        assert f"'{name}' is given 2 times; it takes one value" in text_of(response), path


def test_a_filter_given_twice_is_refused_in_the_visitors_language(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    auditor.headers["Accept-Language"] = "vi"
    response = auditor.get("/audit?year=2024&year=2025")
    assert response.status_code == 422
    assert "“year” được cho 2 lần; tham số này chỉ nhận một giá trị" in text_of(response)


@pytest.mark.parametrize(
    "path",
    ["/units?on=2025-01-01&on=2024-01-01", "/dashboard?year=2024&year=2025", "/work?q=kim&q=tan",
     "/audit/who-could-act?dossier=lc-kim-tan-cb1/2025&on=2025-12-01&on=2020-01-01",
     "/reports?year=2024&year=2025"],
)
def test_every_page_refuses_a_one_valued_parameter_given_twice(web: Web, path: str) -> None:
    response = web.signed_in(AUDITOR).get(path)
    assert response.status_code == 422, text_of(response)
    assert "is given 2 times; it takes one value" in text_of(response)


@pytest.mark.parametrize(
    "query", ["year=2024&year=2025", "since=2024-01-01&since=2025-01-01", "unit=lc-kim-tan&unit=lao-cai",
              "limit=5&limit=500"],
)
def test_the_apis_audit_refuses_a_one_valued_filter_given_twice_in_json(api: Api, query: str) -> None:
    response = api.client(AUDITOR).get(f"{API}/audit?{query}")
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == f"'{query.split('=', 1)[0]}' is given 2 times; it takes one value"
    vietnamese = api.client(AUDITOR, language="vi").get(f"{API}/audit?{query}").json()
    assert "được cho 2 lần" in vietnamese["detail"]


@pytest.mark.parametrize(
    "path", ["/dossiers?year=2024&year=2025", "/statistics?period=2024&period=2025",
             "/classifications?period=2024&period=2025", "/units?as_of=2025-01-01&as_of=2024-01-01"],
)
def test_every_api_list_refuses_a_one_valued_filter_given_twice(api: Api, path: str) -> None:
    response = api.client(AUDITOR).get(f"{API}{path}")
    assert response.status_code == 422, response.text
    assert "is given 2 times; it takes one value" in response.json()["detail"]


def test_the_api_still_takes_several_states_a_filter_made_for_several(api: Api) -> None:
    response = api.client(AUDITOR).get(f"{API}/dossiers?state=draft&state=submitted")
    assert response.status_code == 200, response.text
    assert {item["state"] for item in response.json()["items"]} == {"draft", "submitted"}


# --- the API's validation answers speak the caller's language ----------------------------------------------------


def test_an_apis_validation_refusal_speaks_vietnamese_to_a_vietnamese_client_and_keeps_its_location(api: Api) -> None:
    body = api.client(AUDITOR, language="vi").get(f"{API}/dossiers?limit=abc&year=1.5").json()
    assert body["status"] == 422
    assert body["title"] == "Có nội dung trong yêu cầu không hợp lệ"
    by_place = {tuple(item["location"]): item for item in body["errors"]}
    assert by_place[("query", "limit")]["message"] == "“abc” không phải là số nguyên"
    assert by_place[("query", "limit")]["kind"] == "int_parsing"
    assert by_place[("query", "year")]["message"] == "“1.5” không phải là số nguyên"
    assert "Input should" not in str(body)
    assert "query.limit: “abc” không phải là số nguyên" in body["detail"]


@pytest.mark.parametrize(
    ("language", "says"),
    [("en", "must be 200 or less"), ("vi", "phải từ 200 trở xuống"), ("hi", "200 या कम होना चाहिए")],
)
def test_an_apis_out_of_range_value_is_said_with_its_limit_in_each_language(
    api: Api, language: str, says: str
) -> None:
    body = api.client(AUDITOR, language=language).get(f"{API}/dossiers?limit=9999").json()
    assert body["errors"] == [{"location": ["query", "limit"], "message": says, "kind": "less_than_equal"}]


def test_an_apis_malformed_body_is_refused_field_by_field_in_the_callers_language(api: Api) -> None:
    client = api.client(AUDITOR, language="vi")
    body = client.post(f"{API}/dossiers", json={"unit": 5, "year": "x", "extra": 1}).json()
    messages = {tuple(item["location"]): item["message"] for item in body["errors"]}
    assert messages == {
        ("body", "unit"): "phải là văn bản",
        ("body", "year"): "“x” không phải là số nguyên",
        ("body", "extra"): "thao tác này không nhận trường này",
    }
    missing = client.get(f"{API}/decision-lists").json()
    assert {item["message"] for item in missing["errors"]} == {"giá trị này là bắt buộc"}
    state = client.get(f"{API}/dossiers?state=nope").json()["errors"][0]
    assert state["message"].startswith("“nope” không thuộc các giá trị: draft, withdrawn, submitted")
    assert " or " not in state["message"]


@pytest.mark.parametrize(
    ("points", "says"),
    # Points are plain digits with one decimal point: "NaN" and an exponent are no number at all.
    [("NaN", "“NaN” không phải là số"), ("1e999", "“1e999” không phải là số"),
     ("9" * 60, "số chữ số không được quá 12")],
)
def test_an_apis_number_that_is_no_number_or_too_long_is_said_so_in_the_callers_language(
    api: Api, points: str, says: str
) -> None:
    body = {"answers": {"political_ideological": {"points": points}}, "facts": {}}
    refused = api.client(SECRETARY, language="vi").put(f"{API}/dossiers/{api.dossier_id()}/self-assessment", json=body)
    assert refused.status_code == 422
    assert [item["message"] for item in refused.json()["errors"]] == [says]


def test_every_validation_type_the_api_can_answer_has_a_sentence_in_every_language() -> None:
    from web import i18n
    from web.api import _INVALID, _VALIDATION_TEMPLATES

    for language in ("vi", "hi"):
        translations = i18n.translations(language)
        for template in {*_VALIDATION_TEMPLATES.values(), _INVALID}:
            assert translations.gettext(template) != template, (language, template)


# --- dates at the ends of the calendar ---------------------------------------------------------------------------


EXTREME_API = [
    "/audit?since=0001-01-01", "/audit?until=9999-12-31", "/audit?since=9999-12-31T23:59:59-12:00",
    "/audit?until=0001-01-01T00:00:00%2B14:00", "/units?as_of=0001-01-01", "/units?as_of=9999-12-31",
    "/dossiers/{did}?as_of=0001-01-01", "/dossiers/{did}?as_of=9999-12-31",
    "/dossiers/{did}?as_of=0001-01-01T00:00:00%2B14:00", "/dossiers/{did}?as_of=9999-12-31T23:59:59-12:00",
    "/dossiers/{did}/who-could-act?on=0001-01-01", "/dossiers/{did}/who-could-act?on=9999-12-31",
]


@pytest.mark.parametrize("path", EXTREME_API)
def test_the_api_refuses_a_date_at_the_ends_of_the_calendar_naming_the_days_it_answers_about(
    api: Api, path: str
) -> None:
    client = api.client(AUDITOR, language="vi")
    response = client.get(API + path.format(did=api.dossier_id()))
    assert response.status_code == 422, response.text
    assert "nằm ngoài khoảng 1900–2999" in response.json()["detail"]


def test_the_api_answers_the_first_and_last_days_it_knows(api: Api) -> None:
    client = api.client(AUDITOR)
    did = api.dossier_id()
    assert client.get(f"{API}/units?as_of=1900-01-01").json()["units"] == []
    assert client.get(f"{API}/units?as_of=2999-12-31").json()["units"]
    assert client.get(f"{API}/dossiers/{did}?as_of=2999-12-31T23:59:59-12:00").status_code == 200
    assert client.get(f"{API}/audit?since=1900-01-01T00:00:00%2B14:00&until=2999-12-31").json()["total"] > 0


@pytest.mark.parametrize(
    "path",
    ["/dossiers/{did}/history?as_of=0001-01-01", "/dossiers/{did}/history?as_of=9999-12-31",
     "/admin/units?as_of=0001-01-01", "/admin/units?as_of=9999-12-31", "/units?on=9999-12-31",
     "/audit?since=0001-01-01", "/audit.csv?until=9999-12-31",
     "/audit/who-could-act?dossier=lc-kim-tan-cb1/2025&on=0001-01-01"],
)
def test_every_page_refuses_a_date_at_the_ends_of_the_calendar(web: Web, path: str) -> None:
    did = web.engine.find_dossier("lc-kim-tan-cb1/2025")
    response = web.signed_in("admin").get(path.format(did=did))
    assert response.status_code == 422, text_of(response)
    assert "is outside 1900–2999" in text_of(response)


# --- who could act before the dossier was opened ------------------------------------------------------------------


def test_who_could_act_before_the_dossier_was_opened_names_who_held_its_roles_and_says_it_was_not_opened(
    web: Web,
) -> None:
    page = web.signed_in(AUDITOR).get(f"/audit/who-could-act?dossier={CELL}/2025&on=2025-01-01")
    assert page.status_code == 200, text_of(page)
    text = text_of(page)
    assert "The dossier was not opened yet that day: nobody could act on it." in text
    assert "Who held the workflow's roles over its unit that day, and would have acted on it:" in text
    assert f"({SECRETARY}) Secretary" in text
    assert "(tc-lc-kim-tan) Reviewer (organization board) Đảng bộ phường Kim Tân —" in text
    assert "Nobody could act on this dossier that day." not in text
    long_before = text_of(web.signed_in(AUDITOR).get(f"/audit/who-could-act?dossier={CELL}/2025&on=1950-01-01"))
    assert "Nobody held the workflow's roles over its unit that day." in long_before


def test_who_could_act_before_the_dossier_was_opened_is_said_in_vietnamese(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    auditor.headers["Accept-Language"] = "vi"
    text = text_of(auditor.get(f"/audit/who-could-act?dossier={CELL}/2025&on=2025-01-01"))
    assert "Ngày đó hồ sơ chưa được lập: chưa ai có thể thao tác trên hồ sơ." in text
    assert "Những người giữ các vai trò của quy trình đối với đơn vị vào ngày đó" in text


def test_the_api_says_who_could_act_on_a_dossier_and_who_held_its_roles_before_it_was_opened(api: Api) -> None:
    client = api.client(AUDITOR)
    did = api.dossier_id()
    before = client.get(f"{API}/dossiers/{did}/who-could-act", params={"on": "2025-01-01"})
    assert before.status_code == 200, before.text
    body = before.json()
    assert (body["opened"], body["state"], body["on"], body["unit"]["code"]) == (False, None, "2025-01-01", CELL)
    held = {(p["username"], p["role"], p["unit"]["code"]) for p in body["people"]}
    assert (SECRETARY, "secretary", CELL) in held
    assert ("tc-lc-kim-tan", "reviewer", "lc-kim-tan") in held
    assert all(p["triggers"] == [] for p in body["people"])
    during = client.get(f"{API}/dossiers/{did}/who-could-act", params={"on": "2025-12-01"}).json()
    assert (during["opened"], during["state"]) == (True, "draft")
    assert {"submit"} <= {t for p in during["people"] if p["username"] == SECRETARY for t in p["triggers"]}
    today = client.get(f"{API}/dossiers/{did}/who-could-act").json()
    assert today["on"] == "2025-12-01"


def test_the_apis_who_could_act_is_refused_as_the_page_is(api: Api) -> None:
    did = api.dossier_id()
    secretary = api.client(SECRETARY).get(f"{API}/dossiers/{did}/who-could-act")
    assert secretary.status_code == 403
    assert "for auditors, approvers, reviewers and administrators" in secretary.json()["detail"]
    outsider = api.client(OTHER_REVIEWER).get(f"{API}/dossiers/{did}/who-could-act")
    assert outsider.status_code == 403
    assert "outside the units your roles cover" in outsider.json()["detail"]
    unknown = api.client(AUDITOR).get(f"{API}/dossiers/00000000-0000-0000-0000-000000000000/who-could-act")
    assert unknown.status_code == 404
    assert "/api/v1/dossiers/{dossier_id}/who-could-act" in api.client().get("/openapi.json").json()["paths"]


# --- evidence file names ----------------------------------------------------------------------------------------


ODD_NAMES = ['Biên bản "họp" chi bộ.pdf', "100% đạt; lần 2.pdf", "x%20y.pdf", "it's (1) & [2].pdf", "a\\b.pdf",
             "báo cáo\u00a0tháng 11 – đợt 1.pdf"]


def _disposition_name(header: str) -> str:
    """The name a browser takes from a Content-Disposition: `filename*` (RFC 6266 §4.3: it wins over `filename`),
    checked to hold only RFC 5987's attr-chars and %-escapes of UTF-8."""
    found = re.search(r"filename\*=UTF-8''([^;\s]*)(?:;|$)", header)
    assert found, header
    assert re.fullmatch(r"(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})*", found.group(1)), header
    return unquote(found.group(1), encoding="utf-8", errors="strict")


@pytest.mark.parametrize("name", ODD_NAMES)
def test_an_evidence_file_downloads_under_its_exact_name_with_an_ascii_fallback(api: Api, web: Web, name: str) -> None:
    did = api.dossier_id()
    attached = api.client(SECRETARY).post(f"{API}/dossiers/{did}/evidence",
                                          files={"file": (name, PDF, "application/pdf")})
    assert attached.status_code == 201, attached.text
    # Recorded under the name chosen (httpx, as a browser, sends a quote as %22 in a multipart part's filename).
    sha256 = next(e["sha256"] for e in attached.json()["evidence"] if e["name"] == name)
    secretary = web.signed_in(SECRETARY)
    assert name in html.unescape(secretary.get(f"/dossiers/{did}").text)
    response = secretary.get(f"/dossiers/{did}/evidence/{sha256}")
    assert response.status_code == 200
    header = response.headers["content-disposition"]
    assert _disposition_name(header) == name
    fallback = re.search(r'filename="([^"]*)"', header)
    assert fallback, header
    assert fallback.group(1).isascii()
    assert fallback.group(1).isprintable()
    assert "\\" not in fallback.group(1)
    assert not re.search(r"%[0-9A-Fa-f]{2}", fallback.group(1))
    assert fallback.group(1).endswith(".pdf")


def test_a_file_attached_on_the_page_keeps_the_quotes_of_its_name(web: Web) -> None:
    secretary = web.signed_in(SECRETARY)
    path = web.dossier_path()
    page, version = web.page(secretary, path)
    name = 'Nghị quyết "4 tốt" 2025.pdf'
    response = web.post(secretary, f"{path}/evidence", page, {"version": version},
                        files={"file": (name, PDF, "application/pdf")})
    assert response.status_code in (200, 303), text_of(response)
    dossier = web.engine.dossier(web.engine.find_dossier(f"{CELL}/2025"))
    assert name in {e.name for e in dossier.evidence.values()}


def test_an_uploaded_name_is_read_back_from_the_html_standards_form_encoding() -> None:
    assert uploaded_name("Bi%C3%AAn %22a%22.pdf") == 'Bi%C3%AAn "a".pdf'
    assert uploaded_name("a%0Db%0ac.pdf") == "a\rb\nc.pdf"
    assert uploaded_name("100%.pdf") == "100%.pdf"


def test_the_ascii_fallback_keeps_vietnamese_readable_without_its_tones() -> None:
    assert ascii_fallback("Biên bản họp Đảng bộ đợt 1.pdf") == "Bien ban hop Dang bo dot 1.pdf"
    assert ascii_fallback('a"b\\c%41.pdf') == "a_b_c_41.pdf"
    assert ascii_fallback("中文") == "__"
    assert attachment("x.pdf") == "attachment; filename=\"x.pdf\"; filename*=UTF-8''x.pdf"


# --- the audit page's dossier filter -----------------------------------------------------------------------------


def test_the_audit_page_and_its_csv_keep_to_the_dossier_asked_for_as_the_cli_and_the_api_do(web: Web) -> None:
    auditor = web.signed_in(AUDITOR)
    did = web.engine.find_dossier(f"{CELL}/2025")
    rows = list(csv.DictReader(io.StringIO(auditor.get(f"/audit.csv?dossier={CELL}/2025").text.lstrip("\ufeff"))))
    assert rows
    assert {r["dossier_id"] for r in rows} == {str(did)}
    page = auditor.get(f"/audit?dossier={did}")
    assert page.status_code == 200
    assert f'name="dossier" value="{did}"' in page.text
    assert f"dossier={did}" in page.text  # the CSV link and the pager keep it
    assert auditor.get("/audit?dossier=nowhere/2025").status_code == 404
    assert auditor.get("/audit?dossier=not a reference").status_code == 422


def test_the_audit_page_refuses_a_dossier_outside_the_visitors_units(web: Web) -> None:
    response = web.signed_in(REVIEWER).get("/audit?dossier=lc-pom-han/2024")
    assert response.status_code == 403
    assert "outside the units your roles cover" in text_of(response)


def test_the_apis_bad_input_is_titled_as_a_request_not_as_a_form(api: Api) -> None:
    english = api.client(AUDITOR).get(f"{API}/audit?since=2025-01-01&until=2024-01-01").json()
    assert english["title"] == "Something in the request is not valid"
    vietnamese = api.client(AUDITOR, language="vi").get(f"{API}/units?as_of=9999-12-31").json()
    assert vietnamese["title"] == "Có nội dung trong yêu cầu không hợp lệ"


def test_the_apis_audit_refuses_an_unknown_dossier_rather_than_answer_no_events(api: Api) -> None:
    unknown = api.client(AUDITOR).get(f"{API}/audit?dossier=00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404, unknown.text
    known = api.client(AUDITOR).get(f"{API}/audit", params={"dossier": api.dossier_id()})
    assert known.status_code == 200
    assert known.json()["total"] > 0
    assert {item["dossier_id"] for item in known.json()["items"]} == {api.dossier_id()}


def test_points_out_of_range_are_quoted_back_as_the_number_typed_not_as_python_writes_it(api: Api, web: Web) -> None:
    did = api.dossier_id()
    body = {"answers": {"political_ideological": {"points": "10.5"}}, "facts": {}}
    english = api.client(SECRETARY).put(f"{API}/dossiers/{did}/self-assessment", json=body).json()
    assert english["detail"].endswith("points must be a number from 0 to 6, got 10.5")
    vietnamese = api.client(SECRETARY, language="vi").put(f"{API}/dossiers/{did}/self-assessment", json=body).json()
    assert vietnamese["detail"].endswith("nhận được 10,5")
    fact = {"answers": {}, "facts": {"tasks_done_percent": "150.5"}}
    refused = api.client(SECRETARY).put(f"{API}/dossiers/{did}/self-assessment", json=fact).json()
    assert "Decimal(" not in refused["detail"], refused
    secretary = web.signed_in(SECRETARY)
    path = web.dossier_path()
    page, version = web.page(secretary, path)
    response = web.post(secretary, f"{path}/answers", page, {"version": version, "c.political_ideological.points": "7"})
    assert "Decimal(" not in text_of(response)
    assert "points must be a number from 0 to 6, got 7" in text_of(response)


def test_a_length_refused_by_the_api_reads_rightly_even_for_one(api: Api) -> None:
    body = {"superior": "lc-kim-tan", "year": 2025, "decisions": []}
    english = api.client(AUDITOR).post(f"{API}/decision-lists", json=body).json()
    assert english["errors"][0]["message"] == "the number of items must be at least 1"
    hindi = api.client(AUDITOR, language="hi").post(f"{API}/decision-lists", json=body).json()
    assert hindi["errors"][0]["message"] == "प्रविष्टियों की संख्या कम से कम 1 होनी चाहिए"


def test_a_dossier_asked_for_as_of_a_date_is_shown_as_it_stood_then_not_as_it_is_now(web: Web) -> None:
    secretary = web.signed_in(SECRETARY)
    did = web.engine.find_dossier(f"{CELL}/2025")
    response = secretary.get(f"/dossiers/{did}?as_of=2025-11-20")
    assert response.status_code == 303
    assert response.headers["location"] == f"/dossiers/{did}/history?as_of=2025-11-20"
    assert secretary.get(response.headers["location"]).status_code == 200
    assert secretary.get(f"/dossiers/{did}?as_of=9999-12-31", follow_redirects=True).status_code == 422
