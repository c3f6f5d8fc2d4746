"""A whole number in the API's query string (a year, a period, a version, an offset, a limit), or sent as text in
its JSON body, is ASCII digits.

Pydantic reads "2_024", "+2024", "2024.0" and " 2024" as 2024: an address that reads otherwise than the question
it asks. Each is refused as "abc" is, naming the parameter, in the caller's language, and nothing is changed; plain
digits are answered as before, their bounds said as before. The pages, which read their numbers by hand, refuse
them too."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest

from tests.web.api_world import API, Api, api_on
from tests.web.world import APPROVER, AUDITOR, PROVINCE_APPROVER, Web, text_of


@pytest.fixture
def api(web: Web) -> Api:
    return api_on(web)


def _in_script(zero: str) -> Callable[[str], str]:
    return lambda digits: "".join(chr(ord(zero) + int(d)) for d in digits)


# Each a way of writing the number `digits` that is not plain digits.
ODD_WAYS: dict[str, Callable[[str], str]] = {
    "underscore": lambda d: f"{d[0]}_{d[1:]}",
    "plus sign": lambda d: f"+{d}",
    "decimal point": lambda d: f"{d}.0",
    "space before": lambda d: f" {d}",
    "space after": lambda d: f"{d} ",
    "no-break space": lambda d: f"\u00a0{d}",
    "new line": lambda d: f"{d}\n",
    "exponent": lambda d: f"{d}e0",
    "full-width digits": _in_script("０"),
    "arabic-indic digits": _in_script("٠"),
    "devanagari digits": _in_script("०"),
}

# Who asks, an operation (with the other parameters it needs), the whole-number parameter asked about, and a value
# of it answered 200.
PARAMETERS = [
    (AUDITOR, "/dossiers", "year", "2025"),
    (AUDITOR, "/dossiers", "offset", "10"),
    (AUDITOR, "/dossiers", "limit", "50"),
    (APPROVER, "/decision-lists?superior=lc-kim-tan", "year", "2025"),
    (AUDITOR, "/dossiers/{did}", "version", "1"),
    (AUDITOR, "/dossiers/{did}/history", "offset", "0"),
    (AUDITOR, "/dossiers/{did}/history", "limit", "20"),
    (AUDITOR, "/classifications", "period", "2025"),
    (APPROVER, "/decision-acts?superior=lc-kim-tan", "period", "2025"),
    (AUDITOR, "/statistics", "period", "2025"),
    (AUDITOR, "/audit", "year", "2025"),
    (AUDITOR, "/audit", "offset", "10"),
    (AUDITOR, "/audit", "limit", "100"),
]


def _asked(api: Api, path: str, name: str, value: str) -> tuple[str, dict[str, str]]:
    """The operation's address and its query, `name` given `value` (passed apart: httpx would drop the query of an
    address given params)."""
    address, _, query = path.format(did=api.dossier_id()).partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&") if pair)
    return API + address, {**params, name: value}


@pytest.mark.parametrize(("who", "path", "name", "digits"), PARAMETERS)
def test_a_whole_number_not_written_in_plain_ascii_digits_is_refused_naming_its_parameter(
    api: Api, who: str, path: str, name: str, digits: str
) -> None:
    client = api.client(who)
    for way, write in ODD_WAYS.items():
        typed = write(digits)
        address, params = _asked(api, path, name, typed)
        response = client.get(address, params=params)
        assert response.status_code == 422, (way, response.text)
        body = response.json()
        assert body["title"] == "Something in the request is not valid"
        assert body["errors"] == [
            {"location": ["query", name], "message": f"'{typed}' is not a whole number", "kind": "int_parsing"}
        ], way
        assert body["detail"] == f"query.{name}: '{typed}' is not a whole number"


@pytest.mark.parametrize(("who", "path", "name", "digits"), PARAMETERS)
def test_the_same_whole_number_in_plain_ascii_digits_is_answered(
    api: Api, who: str, path: str, name: str, digits: str
) -> None:
    address, params = _asked(api, path, name, digits)
    response = api.client(who).get(address, params=params)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("language", "says"),
    [("en", "is not a whole number"), ("vi", "không phải là số nguyên"), ("hi", "पूर्ण संख्या नहीं है")],
)
def test_a_year_written_with_an_underscore_is_refused_in_the_callers_language(
    api: Api, language: str, says: str
) -> None:
    body = api.client(AUDITOR, language=language).get(f"{API}/dossiers", params={"year": "2_025"}).json()
    [item] = body["errors"]
    assert "2_025" in item["message"]
    assert says in item["message"]
    assert "Input should" not in str(body)


def test_plain_digits_are_read_as_the_number_they_write(api: Api) -> None:
    client = api.client(AUDITOR)
    page = client.get(f"{API}/dossiers", params={"year": "2025", "offset": "0", "limit": "3"}).json()
    assert (page["offset"], page["limit"], len(page["items"])) == (0, 3, 3)
    assert {item["year"] for item in page["items"]} == {2025}
    padded = client.get(f"{API}/dossiers", params={"year": "2025", "offset": "00", "limit": "003"}).json()
    assert padded == page
    did = api.dossier_id()
    assert client.get(f"{API}/dossiers/{did}", params={"version": "1"}).json()["version"] == 1


@pytest.mark.parametrize(
    ("query", "name", "says", "kind"),
    [("limit=0", "limit", "must be 1 or more", "greater_than_equal"),
     ("limit=201", "limit", "must be 200 or less", "less_than_equal"),
     ("offset=-1", "offset", "must be 0 or more", "greater_than_equal"),
     ("year=1899", "year", "must be 1900 or more", "greater_than_equal"),
     ("year=10000", "year", "must be 9999 or less", "less_than_equal")],
)
def test_a_number_in_plain_digits_out_of_bounds_is_still_refused_with_its_bound(
    api: Api, query: str, name: str, says: str, kind: str
) -> None:
    body = api.client(AUDITOR).get(f"{API}/dossiers?{query}").json()
    assert body["errors"] == [{"location": ["query", name], "message": says, "kind": kind}]


def test_the_openapi_document_still_gives_the_whole_numbers_as_integers_with_their_bounds(api: Api) -> None:
    paths = api.client().get("/openapi.json").json()["paths"]
    parameters = {p["name"]: p["schema"] for p in paths[f"{API}/dossiers"]["get"]["parameters"]}
    assert parameters["limit"] == {"type": "integer", "maximum": 200, "minimum": 1, "default": 50, "title": "Limit"}
    assert {"type": "integer", "maximum": 9999, "minimum": 1900} in parameters["year"]["anyOf"]


def test_every_whole_number_parameter_the_openapi_document_gives_is_refused_when_not_in_plain_digits(api: Api) -> None:
    client = api.client(AUDITOR)
    did = api.dossier_id()
    asked = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if "integer" not in {schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))}:
                    continue
                assert parameter["in"] == "query", (path, parameter)
                address = path.replace("{dossier_id}", did).replace("{action}", "submit")
                response = client.request(method, address, params={parameter["name"]: "+2025"})
                assert response.status_code == 422, (method, path, response.text)
                errors = {tuple(e["location"]): e for e in response.json()["errors"]}
                said = errors[("query", parameter["name"])]
                assert (said["kind"], said["message"]) == ("int_parsing", "'+2025' is not a whole number")
                asked.append((path, parameter["name"]))
    assert len(asked) == 13, asked


# --- whole numbers as text in a JSON body ---------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["2_025", "+2025", "2025.0", " 2025", "２０２５", "٢٠٢٥"])
def test_a_year_sent_as_text_not_in_plain_digits_opens_no_dossier(api: Api, typed: str) -> None:
    admin = api.client("admin")
    refused = admin.post(f"{API}/dossiers", json={"unit": "mk-thue", "year": typed})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"location": ["body", "year"], "message": f"'{typed}' is not a whole number", "kind": "int_parsing"}
    ]
    assert admin.get(f"{API}/dossiers", params={"unit": "mk-thue", "year": 2025}).json()["items"] == []


def test_a_year_sent_as_text_in_plain_digits_still_opens_the_dossier(api: Api) -> None:
    admin = api.client("admin")
    opened = admin.post(f"{API}/dossiers", json={"unit": "mk-thue", "year": "2025"})
    assert opened.status_code == 201, opened.text
    assert opened.json()["year"] == 2025


def test_a_version_sent_as_text_not_in_plain_digits_decides_nothing(api: Api) -> None:
    did = api.dossier_id("mk-nam-lu")
    version = api.version(did)
    approver = api.client(PROVINCE_APPROVER)
    for typed in (f"+{version}", f"{version}.0", f"{version}_", f" {version}"):
        refused = approver.post(f"{API}/decision-lists", json={
            "superior": "lao-cai", "year": 2025, "decisions": [{"dossier": did, "level": "good", "version": typed}],
        })
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [{
            "location": ["body", "decisions", 0, "version"], "message": f"'{typed}' is not a whole number",
            "kind": "int_parsing",
        }]
    assert api.version(did) == version
    line = {"dossier": did, "level": "good", "version": str(version)}
    decided = approver.post(f"{API}/decision-lists", json={"superior": "lao-cai", "year": "2025", "decisions": [line]})
    assert decided.status_code == 200, decided.text


# --- the pages, which read their numbers by hand -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dashboard?year={}", "/units?year={}", "/audit?year={}", "/reports?year={}",
                                  "/audit?page={}", "/reports/lao-cai/{}/classifications.csv"])
def test_the_pages_refuse_a_year_or_a_page_not_in_plain_ascii_digits_as_the_api_does(web: Web, path: str) -> None:
    auditor = web.signed_in(AUDITOR)
    for typed in ("2_025", "+2025", "2025.0", "1e3", "２０２５", "٢٠٢٥", "२०२५"):
        response = auditor.get(path.format(quote(typed)))
        assert response.status_code in (404, 422), (path, typed, response.status_code)
        assert typed in text_of(response), (path, typed)
    assert auditor.get(path.format("2025")).status_code == 200, path
