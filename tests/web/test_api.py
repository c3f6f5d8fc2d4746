"""The JSON API over HTTP: every route, and every refusal, as an API client sees them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Role
from projections.models import dossiers as dossiers_model
from tests.web.api_world import API, PDF, Api, api_on
from tests.web.world import (
    APPROVER,
    AUDITOR,
    CELL,
    OTHER_REVIEWER,
    PROVINCE_APPROVER,
    REVIEWER,
    SECRETARY,
    Web,
    csrf,
)
from web import api as web_api


@pytest.fixture
def api(web: Web) -> Api:
    return api_on(web)


def _refusal(response: object, status: int) -> dict[str, object]:
    """The JSON body of a refusal, checked to have the status and the documented shape."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["title"]
    assert isinstance(body["detail"], str)
    return body


# --- who may call ----------------------------------------------------------------------------------------------------


def test_a_call_without_a_token_is_401_with_a_json_message_and_makes_no_session(api: Api) -> None:
    response = api.client().get(f"{API}/dossiers")
    body = _refusal(response, 401)
    assert "Bearer" in str(body["detail"])
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "set-cookie" not in response.headers


def test_a_signed_in_browser_session_cannot_act_or_read_through_the_api(api: Api) -> None:
    browser = api.web.signed_in(SECRETARY)
    did = api.dossier_id()
    before = api.version(did)
    page = browser.get(f"/dossiers/{did}")
    # Even with the page's CSRF token and the browser's session cookie: the API takes a bearer token only.
    submitted = browser.post(
        f"{API}/dossiers/{did}/actions/submit", json={}, headers={"x-csrf-token": csrf(page.text)}
    )
    _refusal(submitted, 401)
    _refusal(browser.get(f"{API}/dossiers/{did}"), 401)
    assert api.version(did) == before


def test_an_unknown_a_malformed_a_revoked_and_an_expired_token_are_all_401(api: Api) -> None:
    for header in ("Bearer dft_not-a-token", "Bearer something-else", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000):
        response = api.client().get(f"{API}/me", headers={"Authorization": header})
        _refusal(response, 401)
    client = api.client(SECRETARY)
    assert client.get(f"{API}/me").status_code == 200
    (record,) = api.tokens.listed(person_id(SECRETARY))
    api.tokens.revoke(record.token_id)
    body = _refusal(client.get(f"{API}/me"), 401)
    assert "revoked" in str(body["detail"])
    expired, _ = api.tokens.create(person_id(REVIEWER), expires_on=date(2025, 11, 30))  # the test world's today: 1 Dec
    _refusal(api.client().get(f"{API}/me", headers={"Authorization": f"Bearer {expired}"}), 401)


def test_a_token_acts_only_while_its_person_holds_a_role(api: Api) -> None:
    client = api.client(SECRETARY)
    assert client.get(f"{API}/me").status_code == 200
    web = api.web
    person = web.engine.person(person_id(SECRETARY))
    (grant,) = person.grants.values()
    admin = Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai"))
    receipt = web.engine.revoke_role(admin, person.id, grant.grant_id, on=date(2025, 12, 1), reason="Chuyển công tác")
    assert web.site.side.wait_for(receipt.position).reached
    body = _refusal(client.get(f"{API}/dossiers"), 403)
    assert "no role valid today" in str(body["detail"])


def test_me_names_the_person_and_the_roles_they_hold_today(api: Api) -> None:
    me = api.client(REVIEWER).get(f"{API}/me").json()
    assert me["username"] == REVIEWER
    assert [(r["role"], r["unit"]["code"]) for r in me["roles"]] == [("reviewer", "lc-kim-tan")]


def test_refusal_headlines_follow_accept_language(api: Api) -> None:
    english = api.client(language="en").get(f"{API}/me").json()
    vietnamese = api.client(language="vi").get(f"{API}/me").json()
    assert english["title"] == "A valid API token is needed"
    assert vietnamese["title"] != english["title"]


def test_the_apis_own_refusals_are_worded_in_the_callers_language_with_their_values(api: Api) -> None:
    english = api.client(AUDITOR, language="en").get(f"{API}/dossiers", params={"stat": "draft"}).json()
    vietnamese = api.client(AUDITOR, language="vi").get(f"{API}/dossiers", params={"stat": "draft"}).json()
    hindi = api.client(AUDITOR, language="hi").get(f"{API}/dossiers", params={"stat": "draft"}).json()
    assert english["detail"].startswith("unknown query parameter 'stat'")
    assert vietnamese["detail"].startswith("tham số truy vấn không xác định “stat”")
    assert hindi["detail"].startswith("अज्ञात क्वेरी पैरामीटर 'stat'")
    # The operation's own parameters are named in every language.
    assert all("state" in body["detail"] for body in (english, vietnamese, hindi))
    unsigned = api.client(language="vi").get(f"{API}/me").json()
    assert "Authorization: Bearer" in unsigned["detail"]
    assert "cookie" in unsigned["detail"]
    assert unsigned["detail"].startswith("hãy gửi tiêu đề")



def test_an_address_or_method_the_api_lacks_is_answered_in_the_callers_language(api: Api) -> None:
    for language, missing, wrong in (
        ("en", "the API has no /api/v1/nothing", "DELETE is not offered here; use GET"),
        ("vi", "API không có /api/v1/nothing", "không nhận DELETE ở đây; hãy dùng GET"),
        ("hi", "API में /api/v1/nothing नहीं है", "यहाँ DELETE उपलब्ध नहीं है; GET का उपयोग करें"),
    ):
        client = api.client(AUDITOR, language=language)
        assert client.get(f"{API}/nothing").json()["detail"] == missing
        assert client.delete(f"{API}/me").json()["detail"] == wrong

# --- listing and reading dossiers ------------------------------------------------------------------------------------


def test_a_secretary_lists_only_the_dossiers_of_their_own_unit(api: Api) -> None:
    page = api.client(SECRETARY).get(f"{API}/dossiers").json()
    assert page["total"] == 2
    assert {item["unit"]["code"] for item in page["items"]} == {CELL}
    assert [item["year"] for item in page["items"]] == [2025, 2024]


def test_the_dossier_list_filters_by_year_state_and_unit_and_pages(api: Api) -> None:
    auditor = api.client(AUDITOR)
    everything = auditor.get(f"{API}/dossiers", params={"limit": 200}).json()
    assert everything["total"] == 70
    first = auditor.get(f"{API}/dossiers", params={"year": 2024, "limit": 10}).json()
    second = auditor.get(f"{API}/dossiers", params={"year": 2024, "limit": 10, "offset": 10}).json()
    assert first["total"] == second["total"] == 65
    assert len(first["items"]) == len(second["items"]) == 10
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    endorsed = auditor.get(f"{API}/dossiers", params={"year": 2024, "state": ["endorsed", "submitted"]}).json()
    assert endorsed["total"] == 5
    assert {i["state"] for i in endorsed["items"]} == {"endorsed", "submitted"}
    ward = auditor.get(f"{API}/dossiers", params={"unit": "lc-kim-tan", "year": 2025}).json()
    assert {i["unit"]["code"] for i in ward["items"]} == {"lc-kim-tan", CELL}


def test_listing_a_unit_outside_ones_scope_is_403_and_an_unknown_unit_404(api: Api) -> None:
    secretary = api.client(SECRETARY)
    _refusal(secretary.get(f"{API}/dossiers", params={"unit": "mk-nam-lu"}), 403)
    _refusal(secretary.get(f"{API}/dossiers", params={"unit": "no-such-unit"}), 404)


def test_bad_paging_and_filters_are_422_naming_the_parameter(api: Api) -> None:
    auditor = api.client(AUDITOR)
    body = _refusal(auditor.get(f"{API}/dossiers", params={"limit": 0}), 422)
    assert body["errors"][0]["location"] == ["query", "limit"]  # type: ignore[index]
    _refusal(auditor.get(f"{API}/dossiers", params={"state": "lost"}), 422)
    _refusal(auditor.get(f"{API}/dossiers", params={"year": "²⁰²⁴"}), 422)


def test_reading_a_dossier_gives_its_answers_evidence_actions_and_version_as_etag(api: Api) -> None:
    did = api.dossier_id()
    response = api.client(SECRETARY).get(f"{API}/dossiers/{did}")
    assert response.status_code == 200
    dossier = response.json()
    assert response.headers["etag"] == f'"{dossier["version"]}"'
    assert dossier["state"] == "draft"
    assert dossier["unit"]["code"] == CELL
    assert dossier["answers"]
    assert dossier["evidence"]
    assert {"record_answers", "submit"} <= {a["action"] for a in dossier["actions"]}
    reviewer_view = api.client(REVIEWER).get(f"{API}/dossiers/{did}").json()
    assert reviewer_view["actions"] == []


def test_a_dossier_as_it_stood_on_a_date_and_at_a_version(api: Api) -> None:
    did = api.dossier_id("lc-kim-tan", 2025)
    client = api.client(AUDITOR)
    now = client.get(f"{API}/dossiers/{did}").json()
    assert now["state"] == "submitted"
    first = client.get(f"{API}/dossiers/{did}", params={"version": 1}).json()
    assert first["version"] == 1
    assert first["state"] == "draft"
    assert first["actions"] == []
    opened = client.get(f"{API}/dossiers/{did}", params={"as_of": "2025-01-01"})
    _refusal(opened, 404)
    then = client.get(f"{API}/dossiers/{did}", params={"as_of": "2099-01-01T00:00:00+07:00"}).json()
    assert then["version"] == now["version"]
    assert then["as_of"].startswith("2099-01-01")


def test_reading_a_dossier_refuses_bad_ids_versions_and_scopes(api: Api) -> None:
    did = api.dossier_id()
    secretary = api.client(SECRETARY)
    _refusal(secretary.get(f"{API}/dossiers/00000000-0000-0000-0000-000000000000"), 404)
    _refusal(secretary.get(f"{API}/dossiers/not-a-dossier"), 422)
    _refusal(secretary.get(f"{API}/dossiers/{did}", params={"version": 999}), 404)
    _refusal(secretary.get(f"{API}/dossiers/{did}", params={"version": 1, "as_of": "2025-12-01"}), 422)
    _refusal(secretary.get(f"{API}/dossiers/{did}", params={"as_of": "yesterday"}), 422)
    body = _refusal(api.client(OTHER_REVIEWER).get(f"{API}/dossiers/{did}"), 403)
    assert "outside the units your roles cover" in str(body["detail"])
    _refusal(secretary.get(f"{API}/dossiers/{api.dossier_id('mk-nam-lu')}"), 403)


# --- opening a dossier, the self-assessment, evidence ----------------------------------------------------------------


def test_an_administrator_opens_a_dossier_which_is_listed_at_once(api: Api) -> None:
    admin = api.client("admin")
    response = admin.post(f"{API}/dossiers", json={"unit": "mk-thue", "year": 2025})
    assert response.status_code == 201, response.text
    opened = response.json()
    assert response.headers["location"] == f"{API}/dossiers/{opened['id']}"
    assert response.headers["etag"] == '"1"'
    assert opened["state"] == "draft"
    assert opened["unit"]["code"] == "mk-thue"
    listed = admin.get(f"{API}/dossiers", params={"unit": "mk-thue"}).json()
    assert opened["id"] in {i["id"] for i in listed["items"]}
    body = _refusal(admin.post(f"{API}/dossiers", json={"unit": "mk-thue", "year": 2025}), 409)
    assert "already has a dossier" in str(body["detail"])


def test_opening_a_dossier_for_a_year_without_a_period_names_the_year_in_the_callers_language(api: Api) -> None:
    for language, expected in (("en", "no evaluation period for 2031"), ("vi", "không có kỳ đánh giá năm 2031")):
        admin = api.client("admin", language=language)
        body = _refusal(admin.post(f"{API}/dossiers", json={"unit": "mk-thue", "year": 2031}), 404)
        assert body["detail"] == expected  # not the period's internal id, nor English inside Vietnamese


def test_opening_a_dossier_is_refused_outside_ones_unit_and_for_bad_input(api: Api) -> None:
    secretary = api.client(SECRETARY)
    _refusal(secretary.post(f"{API}/dossiers", json={"unit": "mk-thue", "year": 2025}), 403)
    _refusal(secretary.post(f"{API}/dossiers", json={"unit": "no-such-unit", "year": 2025}), 404)
    _refusal(secretary.post(f"{API}/dossiers", json={"unit": CELL, "year": 1066}), 422)
    _refusal(secretary.post(f"{API}/dossiers", json={"unit": CELL, "year": 2025, "extra": 1}), 422)
    _refusal(secretary.post(f"{API}/dossiers", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert api.client("admin").get(f"{API}/dossiers", params={"unit": "mk-thue", "year": 2025}).json()["total"] == 0


def test_the_secretary_records_answers_and_facts_with_the_version_read(api: Api) -> None:
    did = api.dossier_id()
    client = api.client(SECRETARY)
    read = client.get(f"{API}/dossiers/{did}")
    body = {
        "answers": {"key_tasks": {"points": "9.5", "comment": "Đã bổ sung kết quả chuyển đổi số"}},
        "facts": {},
    }
    saved = client.put(f"{API}/dossiers/{did}/self-assessment", json=body, headers={"If-Match": read.headers["etag"]})
    assert saved.status_code == 200, saved.text
    dossier = saved.json()
    assert dossier["version"] == read.json()["version"] + 1
    assert saved.headers["etag"] == f'"{dossier["version"]}"'
    assert dossier["answers"]["key_tasks"]["points"] == "9.5"
    assert dossier["answers"]["key_tasks"]["comment"] == "Đã bổ sung kết quả chuyển đổi số"
    # A part left out keeps what was recorded: a number alone keeps the comment.
    again = client.put(f"{API}/dossiers/{did}/self-assessment", json={"answers": {"key_tasks": {"points": 9}}})
    assert again.json()["answers"]["key_tasks"]["comment"] == "Đã bổ sung kết quả chuyển đổi số"


def test_a_stale_or_bad_if_match_changes_nothing(api: Api) -> None:
    did = api.dossier_id()
    client = api.client(SECRETARY)
    before = api.version(did)
    body = {"answers": {"key_tasks": {"points": 7}}}
    stale = client.put(f"{API}/dossiers/{did}/self-assessment", json=body, headers={"If-Match": f'"{before - 1}"'})
    assert "changed since you loaded it" in str(_refusal(stale, 409)["detail"])
    _refusal(client.put(f"{API}/dossiers/{did}/self-assessment", json=body, headers={"If-Match": "seven"}), 422)
    assert api.version(did) == before


def test_answers_the_rules_do_not_know_or_cannot_take_are_refused(api: Api) -> None:
    did = api.dossier_id()
    client = api.client(SECRETARY)
    before = api.version(did)
    unknown = client.put(f"{API}/dossiers/{did}/self-assessment", json={"answers": {"no_such": {"points": 1}}})
    assert "unknown criterion" in str(_refusal(unknown, 422)["detail"])
    too_many = client.put(f"{API}/dossiers/{did}/self-assessment", json={"answers": {"key_tasks": {"points": 900}}})
    _refusal(too_many, 422)
    graded = client.put(f"{API}/dossiers/{did}/self-assessment", json={"answers": {"key_tasks": {"grade": "good"}}})
    _refusal(graded, 422)
    _refusal(client.put(f"{API}/dossiers/{did}/self-assessment", json={"facts": {"no_such_fact": True}}), 422)
    _refusal(client.put(f"{API}/dossiers/{did}/self-assessment", json={"answers": {"key_tasks": {"points": "NaN"}}}),
             422)
    assert api.version(did) == before


def test_a_reviewer_cannot_fill_in_the_units_self_assessment(api: Api) -> None:
    did = api.dossier_id()
    response = api.client(REVIEWER).put(f"{API}/dossiers/{did}/self-assessment",
                                        json={"answers": {"key_tasks": {"points": 1}}})
    _refusal(response, 403)


def test_evidence_is_attached_by_multipart_and_listed(api: Api) -> None:
    did = api.dossier_id()
    client = api.client(SECRETARY)
    response = client.post(
        f"{API}/dossiers/{did}/evidence", files={"file": ("Biên bản họp.pdf", PDF, "application/pdf")}
    )
    assert response.status_code == 201, response.text
    names = {e["name"]: e for e in response.json()["evidence"]}
    assert names["Biên bản họp.pdf"]["media_type"] == "application/pdf"
    assert names["Biên bản họp.pdf"]["size"] == len(PDF)


def test_an_oversized_a_disguised_or_an_unauthorized_upload_is_refused_and_nothing_is_attached(api: Api) -> None:
    did = api.dossier_id()
    client = api.client(SECRETARY)
    before = api.version(did)
    limit = api.web.engine.evidence_policy.max_bytes
    just_over = client.post(f"{API}/dossiers/{did}/evidence",
                            files={"file": ("bao-cao.pdf", b"%PDF-1.4\n" + b"0" * limit, "application/pdf")})
    _refusal(just_over, 413)
    far_over = client.post(f"{API}/dossiers/{did}/evidence",
                           files={"file": ("bao-cao.pdf", b"%PDF-1.4\n" + b"0" * (limit + 200_000), "application/pdf")})
    assert "larger than" in str(_refusal(far_over, 413)["detail"])
    disguised = client.post(f"{API}/dossiers/{did}/evidence",
                            files={"file": ("bien-ban.pdf", b"<html><script>alert(1)</script></html>", "text/html")})
    _refusal(disguised, 422)
    _refusal(client.post(f"{API}/dossiers/{did}/evidence"), 422)
    _refusal(api.client(REVIEWER).post(f"{API}/dossiers/{did}/evidence", files={"file": ("a.pdf", PDF)}), 403)
    assert api.version(did) == before


def test_a_json_body_over_a_megabyte_is_413_before_it_is_read(api: Api) -> None:
    big = b'{"answers": {}, "facts": {}, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = api.client(SECRETARY).put(
        f"{API}/dossiers/{api.dossier_id()}/self-assessment", content=big, headers={"content-type": "application/json"}
    )
    _refusal(response, 413)


# --- the workflow's steps ----------------------------------------------------------------------------------------


def test_the_cell_is_submitted_endorsed_and_decided_through_the_api(api: Api) -> None:
    did = api.dossier_id()
    submitted = api.act(SECRETARY, did, "submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "submitted"
    assert submitted.headers["etag"] == f'"{submitted.json()["version"]}"'
    # Read-your-writes: the reviewer's list already shows it waiting.
    waiting = api.client(REVIEWER).get(f"{API}/dossiers", params={"state": "submitted", "year": 2025}).json()
    assert did in {i["id"] for i in waiting["items"]}
    endorsed = api.act(REVIEWER, did, "endorse", {"level": "good", "note": "Đủ hồ sơ"})
    assert endorsed.status_code == 200, endorsed.text
    assert endorsed.json()["endorsement"] == {"level": "good", "note": "Đủ hồ sơ"}
    decided = api.act(APPROVER, did, "approve", {"level": "good"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved"
    assert decided.json()["level"] == "good"
    history = api.client(AUDITOR).get(f"{API}/dossiers/{did}/history").json()
    assert [e["action"] for e in history["items"]][-3:] == ["Dossier.Submitted", "Dossier.Endorsed", "Dossier.Approved"]


def test_a_step_is_refused_for_the_wrong_role_the_wrong_state_a_missing_reason_or_a_stale_version(api: Api) -> None:
    did = api.dossier_id()
    before = api.version(did)
    assert "Approver" in str(_refusal(api.act(SECRETARY, did, "approve"), 403)["detail"])
    _refusal(api.act(AUDITOR, did, "submit"), 403)
    _refusal(api.act(REVIEWER, did, "endorse", {"level": "good"}), 409)  # a draft is not yet submitted
    assert api.act(SECRETARY, did, "submit").status_code == 200
    _refusal(api.act(REVIEWER, did, "return_to_unit", {"reason": "  "}), 422)
    _refusal(api.act(OTHER_REVIEWER, did, "return_to_unit", {"reason": "Thiếu biên bản"}), 403)
    stale = api.client(REVIEWER).post(
        f"{API}/dossiers/{did}/actions/return_to_unit", json={"reason": "Thiếu biên bản"},
        headers={"If-Match": f'"{before}"'},
    )
    _refusal(stale, 409)
    _refusal(api.act(REVIEWER, did, "fly_away"), 422)
    _refusal(api.act(REVIEWER, did, "endorse", {"level": "legendary"}), 422)
    assert api.web.engine.dossier(api.web.engine.find_dossier(did)).state.value == "submitted"


def test_a_return_carries_its_reason_to_the_unit(api: Api) -> None:
    did = api.dossier_id()
    assert api.act(SECRETARY, did, "submit").status_code == 200
    returned = api.act(REVIEWER, did, "return_to_unit", {"reason": "Bổ sung biên bản họp chi bộ tháng 11"})
    assert returned.status_code == 200, returned.text
    seen = api.client(SECRETARY).get(f"{API}/dossiers/{did}").json()
    assert seen["state"] == "returned_to_unit"
    assert seen["last_reason"] == "Bổ sung biên bản họp chi bộ tháng 11"
    assert "resubmit" in {a["action"] for a in seen["actions"]}


def test_an_approver_decides_a_list_and_the_quota_refuses_too_many_excellent(api: Api) -> None:
    did = api.dossier_id("mk-nam-lu")
    version = api.version(did)
    approver = api.client(PROVINCE_APPROVER)
    over = approver.post(f"{API}/decision-lists", json={
        "superior": "lao-cai", "year": 2025,
        "decisions": [{"dossier": did, "level": "excellent", "reason": "Xuất sắc", "version": version}],
    })
    assert "quota" in str(_refusal(over, 422)["detail"]).lower()
    decided = approver.post(f"{API}/decision-lists", json={
        "superior": "lao-cai", "year": 2025, "decisions": [{"dossier": did, "level": "good", "version": version}],
    })
    assert decided.status_code == 200, decided.text
    result = decided.json()
    assert result["dossiers"] == [{"id": did, "version": version + 1, "state": "approved", "level": "good"}]
    assert result["quota"]
    assert all(q["excellent"] <= (q["cap"] if q["cap"] is not None else 10**9)
                                   for q in result["quota"])
    listed = approver.get(f"{API}/classifications", params={"period": 2025}).json()
    assert {i["unit"]["code"] for i in listed["items"]} == {"mk-nam-lu"}


def test_the_approver_reads_the_list_to_decide_and_decides_it_with_the_versions_read(api: Api) -> None:
    approver = api.client(PROVINCE_APPROVER)
    view = approver.get(f"{API}/decision-lists", params={"superior": "lao-cai", "year": 2025})
    assert view.status_code == 200, view.text
    listed = view.json()
    (candidate,) = listed["candidates"]
    assert candidate["unit"]["code"] == "mk-nam-lu"
    assert candidate["state"] == "endorsed"
    assert candidate["version"] == api.version(candidate["id"])
    assert listed["quota"]
    line = {"dossier": candidate["id"], "version": candidate["version"]}
    decided = approver.post(f"{API}/decision-lists", json={"superior": "lao-cai", "year": 2025, "decisions": [line]})
    assert decided.status_code == 200, decided.text
    after = approver.get(f"{API}/decision-lists", params={"superior": "lao-cai", "year": 2025}).json()
    assert after["candidates"] == []


def test_only_the_approver_over_the_superior_reads_its_list_to_decide(api: Api) -> None:
    query = {"superior": "lao-cai", "year": 2025}
    _refusal(api.client(APPROVER).get(f"{API}/decision-lists", params=query), 403)
    _refusal(api.client(AUDITOR).get(f"{API}/decision-lists", params=query), 403)
    _refusal(api.client(PROVINCE_APPROVER).get(f"{API}/decision-lists", params={**query, "year": 2031}), 404)
    _refusal(api.client(PROVINCE_APPROVER).get(f"{API}/decision-lists", params={"year": 2025}), 422)


def test_only_the_approver_over_the_superior_decides_its_list(api: Api) -> None:
    did = api.dossier_id("mk-nam-lu")
    body = {"superior": "lao-cai", "year": 2025, "decisions": [{"dossier": did, "level": "good"}]}
    _refusal(api.client(APPROVER).post(f"{API}/decision-lists", json=body), 403)
    _refusal(api.client(AUDITOR).post(f"{API}/decision-lists", json=body), 403)
    _refusal(api.client(PROVINCE_APPROVER).post(f"{API}/decision-lists", json={**body, "decisions": []}), 422)
    _refusal(api.client(PROVINCE_APPROVER).post(f"{API}/decision-lists", json={**body, "year": 2024}), 422)
    assert api.web.engine.dossier(api.web.engine.find_dossier(did)).state.value == "endorsed"


def test_history_is_refused_outside_ones_scope(api: Api) -> None:
    _refusal(api.client(OTHER_REVIEWER).get(f"{API}/dossiers/{api.dossier_id()}/history"), 403)
    _refusal(api.client(AUDITOR).get(f"{API}/dossiers/00000000-0000-0000-0000-000000000000/history"), 404)


# --- the season: classifications, statistics, units ------------------------------------------------------------------


def test_classifications_of_a_period_below_a_unit(api: Api) -> None:
    auditor = api.client(AUDITOR)
    all_of_them = auditor.get(f"{API}/classifications", params={"period": 2024}).json()
    assert len(all_of_them["items"]) == 59  # 58 decided and one not rated, as `dossierflow status` counts them
    muong_khuong = auditor.get(f"{API}/classifications", params={"period": 2024, "unit": "mk-cong-an"}).json()
    assert {i["unit"]["code"] for i in muong_khuong["items"]} <= {i["unit"]["code"] for i in all_of_them["items"]}
    assert 0 < len(muong_khuong["items"]) < 59
    _refusal(auditor.get(f"{API}/classifications", params={"period": 1999}), 404)
    _refusal(auditor.get(f"{API}/classifications"), 422)
    _refusal(api.client(SECRETARY).get(f"{API}/classifications", params={"period": 2024, "unit": "lao-cai"}), 403)


def test_statistics_of_a_unit_for_a_period_with_its_quota_meters(api: Api) -> None:
    stats = api.client(PROVINCE_APPROVER).get(f"{API}/statistics", params={"period": 2024}).json()
    assert stats["unit"]["code"] == "lao-cai"
    assert stats["dossiers"] == 65
    assert stats["by_level"]["excellent"] == 4
    # The district dissolved in July 2025 still shows the quota meters of the 2024 decisions it took; its counts follow
    # the hierarchy of today (the statistics read model's rule), under which no unit is below it any more.
    district = api.client(AUDITOR).get(f"{API}/statistics", params={"period": 2024, "unit": "mk-huyen-uy"}).json()
    assert district["quota"]
    assert all(not q["over"] for q in district["quota"])
    assert sum(q["excellent"] for q in district["quota"]) >= 1
    _refusal(api.client(SECRETARY).get(f"{API}/statistics", params={"period": 2024, "unit": "lao-cai"}), 403)
    _refusal(api.client(SECRETARY).get(f"{API}/statistics", params={"period": 2031}), 404)


def test_units_as_of_a_date_show_the_district_before_the_july_2025_restructuring_only(api: Api) -> None:
    auditor = api.client(AUDITOR)
    before = auditor.get(f"{API}/units", params={"as_of": "2024-12-31"}).json()
    after = auditor.get(f"{API}/units", params={"as_of": "2025-12-01"}).json()
    assert "mk-huyen-uy" in {u["code"] for u in before["units"]}
    assert "mk-huyen-uy" not in {u["code"] for u in after["units"]}
    assert before["units"][0] == {**before["units"][0], "code": "lao-cai", "depth": 0}
    mine = api.client(SECRETARY).get(f"{API}/units").json()
    assert [u["code"] for u in mine["units"]] == [CELL]
    for not_a_date in ("31/12/2024", "0.0", "2024-02-30"):
        _refusal(auditor.get(f"{API}/units", params={"as_of": not_a_date}), 422)


# --- the audit trail ---------------------------------------------------------------------------------------------


def test_the_auditor_searches_the_audit_trail_and_pages_it(api: Api) -> None:
    auditor = api.client(AUDITOR)
    first = auditor.get(f"{API}/audit", params={"limit": 5}).json()
    second = auditor.get(f"{API}/audit", params={"limit": 5, "offset": 5}).json()
    assert first["total"] > 100
    assert len(first["items"]) == 5
    assert first["items"][-1]["position"] < second["items"][0]["position"]
    approvals = auditor.get(f"{API}/audit", params={"action": "Dossier.Approved", "year": 2024, "limit": 1000}).json()
    assert approvals["total"] > 0
    assert {e["action"] for e in approvals["items"]} == {"Dossier.Approved"}
    by_person = auditor.get(f"{API}/audit", params={"person": REVIEWER}).json()
    assert by_person["total"] > 0
    assert {e["person_id"] for e in by_person["items"]} == {str(person_id(REVIEWER))}
    window = auditor.get(f"{API}/audit", params={"since": "2024-12-01", "until": "2024-12-31"}).json()
    assert all(e["recorded_at"] >= "2024-11-30T17:00" for e in window["items"])
    assert all(e["recorded_at"] < "2024-12-31T17:00" for e in window["items"])
    one = auditor.get(f"{API}/audit", params={"dossier": api.dossier_id()}).json()
    assert {e["dossier_id"] for e in one["items"]} == {api.dossier_id()}


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"person": "nobody"}, 404, "no person with username 'nobody'"),
        ({"action": "Aproved"}, 422, "'Aproved' is not an action of the audit trail"),
        ({"year": 1999}, 404, "no evaluation period for 1999"),
        ({"since": "2025-01-01", "until": "2024-01-01"}, 422, "the time range ends before it starts"),
    ],
)
def test_an_audit_filter_that_can_match_nothing_is_refused_not_answered_with_an_empty_page(
    api: Api, params: dict[str, object], status: int, says: str
) -> None:
    body = _refusal(api.client(AUDITOR, language="en").get(f"{API}/audit", params=params), status)
    assert body["detail"] == says
    assert api.client(AUDITOR).get(f"{API}/audit", params={"action": "Approved", "limit": 1}).json()["total"] > 0

@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/audit", {"since": "0001-01-01"}),
        ("/audit", {"since": "0001-01-01T00:00:00+05:00"}),
        ("/audit", {"until": "9999-12-31T23:59:59-05:00"}),
        ("/audit", {"until": "9999-12-31"}),
        ("/dossiers/{did}", {"as_of": "0001-01-01"}),
    ],
)
def test_a_date_at_the_ends_of_the_calendar_is_refused_as_outside_the_years_accepted(
    api: Api, path: str, params: dict[str, object]
) -> None:
    client = api.client(AUDITOR, language="en")
    body = _refusal(client.get(API + path.format(did=api.dossier_id()), params=params), 422)
    assert "is outside 1900–2999" in str(body["detail"])


def test_the_audit_trails_count_stops_past_the_page_and_says_it_is_a_lower_bound(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    auditor = api.client(AUDITOR)
    exact = auditor.get(f"{API}/audit", params={"limit": 5}).json()
    assert exact["total_exact"] is True
    monkeypatch.setattr(web_api, "AUDIT_COUNT_LIMIT", 10)
    capped = auditor.get(f"{API}/audit", params={"limit": 5, "offset": 5}).json()
    # Counted up to ten past the page: a lower bound, and the page itself unchanged.
    assert capped["total_exact"] is False
    assert capped["total"] == 20
    assert exact["total"] > capped["total"]
    assert [e["position"] for e in capped["items"]] == [
        e["position"] for e in auditor.get(f"{API}/audit", params={"limit": 10}).json()["items"][5:]
    ]


def test_the_audit_trail_is_for_auditors_and_administrators_within_their_units(api: Api) -> None:
    _refusal(api.client(SECRETARY).get(f"{API}/audit"), 403)
    _refusal(api.client(APPROVER).get(f"{API}/audit"), 403)
    assert api.client("admin").get(f"{API}/audit", params={"limit": 1}).status_code == 200
    _refusal(api.client(AUDITOR).get(f"{API}/audit", params={"since": "last week"}), 422)
    _refusal(api.client(AUDITOR).get(f"{API}/audit", params={"unit": "no-such-unit"}), 404)


def test_the_auditor_learns_whether_the_signed_chain_verifies(api: Api) -> None:
    verdict = api.client(AUDITOR).get(f"{API}/audit/verify").json()
    assert verdict["checked"] is True
    assert verdict["ok"] is True
    assert verdict["position"] == verdict["head"] > 0
    assert verdict["up_to_date"] is True
    _refusal(api.client(SECRETARY).get(f"{API}/audit/verify"), 403)


# --- the document and the pages beside it ------------------------------------------------------------------------


def test_the_openapi_document_describes_every_operation_with_a_summary_and_response_models(api: Api) -> None:
    served = api.client().get("/openapi.json")
    assert "set-cookie" not in served.headers
    document = served.json()
    assert document["paths"]
    assert all(path.startswith(API) for path in document["paths"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("description"), f"{method} {path} has no description"
            ok = next(str(s) for s in operation["responses"] if str(s).startswith("2"))
            assert "$ref" in str(operation["responses"][ok]), f"{method} {path} has no response model"
            assert "401" in operation["responses"]
            assert "422" in operation["responses"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_the_pages_keep_their_html_error_pages_beside_the_api(api: Api) -> None:
    browser = api.web.signed_in(SECRETARY)
    page = browser.get("/dossiers/00000000-0000-0000-0000-000000000000")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


def test_an_unknown_query_parameter_is_422_naming_it_rather_than_ignored(api: Api) -> None:
    body = _refusal(api.client(AUDITOR).get(f"{API}/dossiers", params={"stat": "draft"}), 422)
    assert "unknown query parameter 'stat'" in str(body["detail"])
    assert "state" in str(body["detail"])


def test_a_body_sent_in_chunks_without_a_length_is_cut_off_at_the_limit(api: Api) -> None:
    def chunks() -> object:
        yield b'{"answers": {}, "facts": {}, "pad": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    did = api.dossier_id()
    before = api.version(did)
    response = api.client(SECRETARY).put(
        f"{API}/dossiers/{did}/self-assessment", content=chunks(), headers={"content-type": "application/json"}
    )
    _refusal(response, 413)
    assert api.version(did) == before


def test_a_path_the_api_does_not_have_is_a_json_404_and_a_method_it_does_not_offer_a_json_405(api: Api) -> None:
    auditor = api.client(AUDITOR)
    assert "/api/v1/no-such-thing" in str(_refusal(auditor.get(f"{API}/no-such-thing"), 404)["detail"])
    refused = auditor.delete(f"{API}/dossiers")
    _refusal(refused, 405)
    assert refused.headers["allow"] == "GET, POST"


def test_a_store_that_cannot_answer_is_a_json_503_not_a_server_error(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*_: object, **__: object) -> object:
        raise OperationalError("SELECT …", {}, Exception("database is locked"))

    monkeypatch.setattr(dossiers_model, "list_dossiers", locked)
    body = _refusal(api.client(AUDITOR).get(f"{API}/dossiers"), 503)
    assert body["detail"] == "OperationalError"


def _every_operation(api: Api) -> list[tuple[str, str]]:
    document = api.client().get("/openapi.json").json()
    did = api.dossier_id()
    return [
        (method.upper(), path.replace("{dossier_id}", did).replace("{action}", "submit"))
        for path, operations in document["paths"].items() for method in operations
    ]


def test_every_operation_refuses_a_call_without_a_token_and_changes_nothing(api: Api) -> None:
    did = api.dossier_id()
    before = api.version(did)
    operations = _every_operation(api)
    assert len(operations) == 17  # who-could-act joined the sixteen
    for method, path in operations:
        response = api.client().request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["status"] == 401
    assert api.version(did) == before


def test_every_operation_refuses_a_person_whose_roles_have_ended(api: Api) -> None:
    client = api.client(APPROVER)
    person = api.web.engine.person(person_id(APPROVER))
    admin = Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai"))
    for grant in person.grants.values():
        receipt = api.web.engine.revoke_role(admin, person.id, grant.grant_id, on=date(2025, 12, 1), reason="Nghỉ hưu")
        assert api.web.site.side.wait_for(receipt.position).reached
    for method, path in _every_operation(api):
        response = client.request(method, path, json={})
        assert response.status_code == 403, (method, path, response.text)


def test_an_evidence_file_the_disk_cannot_take_is_a_503_and_nothing_is_attached(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setattr(api.web.engine.blobs, "root", blocked / "evidence")
    monkeypatch.setattr(api.web.engine.blobs, "tmp_dir", blocked / "evidence" / "tmp")
    did = api.dossier_id()
    before = api.version(did)
    response = api.client(SECRETARY).post(
        f"{API}/dossiers/{did}/evidence", files={"file": ("Biên bản họp.pdf", PDF, "application/pdf")}
    )
    _refusal(response, 503)
    assert api.version(did) == before
