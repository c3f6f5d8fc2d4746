"""The administration pages over HTTP: every change through the engine and into the audit trail, every refusal kept
to what was typed with nothing changed, and nobody but an administrator let in."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from html import unescape

import pytest
from eventsourcing.persistence import IntegrityError
from fastapi.testclient import TestClient

from domain.actor import Actor
from domain.errors import NotFound
from domain.ids import person_id, unit_id
from domain.values import Role, UnitKind
from projections.models import audit as audit_model
from projections.models import units as units_model
from tests.web.world import APPROVER, AUDITOR, REVIEWER, SECRETARY, Web, csrf, password, text_of
from web import admin

ADMIN = "admin"
MOVED = "lc-pom-han-cb2"  # a cell of the Pom Hán ward
WARD = "lc-kim-tan"  # the ward it is moved under
OLD_WARD = "lc-pom-han"


def _events(web: Web) -> int:
    return web.engine.recorder.max_notification_id() or 0


def _branch(html: str, code: str) -> list[str]:
    """The codes the units tree on a page shows below `code`, in order."""
    rows = [(int(d), c) for d, c in re.findall(r'class="depth-(\d)"><a href="/admin/units/([^"]+)"', html)]
    for i, (depth, found) in enumerate(rows):
        if found == code:
            below = []
            for d, c in rows[i + 1 :]:
                if d <= depth:
                    break
                below.append(c)
            return below
    raise AssertionError(f"{code} is not in the tree")


def _post(web: Web, client: TestClient, page_path: str, action: str, data: dict[str, str]) -> tuple[int, str, str]:
    page = client.get(page_path)
    assert page.status_code == 200, text_of(page)
    response = web.post(client, action, page.text, data)
    return response.status_code, response.headers.get("location", ""), response.text


def _wait(web: Web) -> None:
    assert web.site.side.wait_for(_events(web), timeout=30).reached


# --- who may come in ------------------------------------------------------------------------------------------------

ADMIN_PAGES = ["/admin/units", f"/admin/units/{WARD}", "/admin/people", "/admin/periods", "/admin/rules", "/admin"]


@pytest.mark.parametrize("username", [SECRETARY, REVIEWER, APPROVER, AUDITOR])
def test_nobody_but_an_administrator_may_open_or_use_the_administration(web: Web, username: str) -> None:
    client = web.signed_in(username)
    assert "/admin" not in client.get("/work").text  # the link is shown only to administrators
    for path in [*ADMIN_PAGES, f"/admin/people/{person_id(SECRETARY)}"]:
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "administration pages are for administrators" in text_of(refused)
    form = client.get("/work").text
    approver = web.engine.person_by_username(APPROVER)
    (grant,) = [g for g in approver.grants.values() if g.role is Role.APPROVER]
    delegation = web.engine.delegate(
        _top_admin(web), approver.id, grant.grant_id,
        deputy_id=person_id(REVIEWER), valid_from=date(2025, 12, 1), valid_to=date(2026, 1, 1), legal_basis="QĐ 1",
    ).value
    _wait(web)
    before = _events(web)
    someone = f"/admin/people/{approver.id}"
    posts = {
        "/admin/units": {"code": "x-new", "name": "Chi bộ mới", "kind": "party_cell", "parent": WARD,
                         "established_on": "2025-01-01"},
        f"/admin/units/{MOVED}/rename": {"name": "Tên mới", "effective_from": "2026-01-01", "reason": "QĐ 1"},
        f"/admin/units/{MOVED}/move": {"parent": WARD, "effective_from": "2026-01-01", "reason": "sáp nhập"},
        f"/admin/units/{MOVED}/dissolve": {"effective_from": "2026-01-01", "reason": "giải thể"},
        "/admin/people": {"username": "x-new", "full_name": "Người mới", "password": "a-new-password"},
        f"{someone}/grants": {"role": "approver", "unit": WARD, "valid_from": "2025-12-01", "basis": "x"},
        f"{someone}/grants/{grant.grant_id}/revoke": {"on": "2025-12-02", "reason": "x"},
        f"{someone}/grants/{grant.grant_id}/delegate": {"deputy": AUDITOR, "valid_from": "2025-12-01",
                                                        "valid_to": "2026-01-01", "legal_basis": "x"},
        f"{someone}/delegations/{delegation}/end": {"on": "2025-12-02", "reason": "x"},
        f"{someone}/password": {"password": "a-new-password"},
        "/admin/periods": {"year": "2026"},
        "/admin/periods/2025/close": {"reason": "hết mùa"},
        "/admin/periods/2025/deadlines": {"deadline.review": "2025-12-28", "reason": "gia hạn"},
    }
    for path, data in posts.items():
        refused = web.post(client, path, form, data)
        assert refused.status_code == 403, path
        assert "administration pages are for administrators" in text_of(refused), path
    assert _events(web) == before
    assert web.site.accounts.check_password(APPROVER, "a-new-password") is None
    assert not web.site.accounts.has_account("x-new")


def _top_admin(web: Web) -> Actor:
    top = web.engine.person_by_username(ADMIN)
    (grant,) = top.grants.values()
    return Actor(top.id, Role.ADMINISTRATOR, grant.unit_id)


def test_a_signed_out_visitor_is_sent_to_sign_in_from_the_administration_and_the_workflow(web: Web) -> None:
    client = web.client()
    for path in ["/admin/units", "/admin/people", "/workflow"]:
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith(f"/sign-in?next={path}")


def test_an_administrator_sees_the_administration_link_and_every_section(web: Web) -> None:
    client = web.signed_in(ADMIN)
    assert 'href="/admin"' in client.get("/work").text
    assert client.get("/admin").headers["location"] == "/admin/units"
    for path, heading in [("/admin/units", "Register a unit"), ("/admin/people", "Register a person"),
                          ("/admin/periods", "Open a period"), ("/admin/rules", "Classification rule sets")]:
        page = client.get(path)
        assert page.status_code == 200, path
        assert heading in text_of(page)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(web: Web) -> None:
    client = web.signed_in(ADMIN)
    before = _events(web)
    response = client.post(f"/admin/units/{MOVED}/move", data={"parent": WARD, "effective_from": "2026-01-01"})
    assert response.status_code == 403
    assert _events(web) == before


def test_unknown_units_people_and_changes_are_not_found(web: Web) -> None:
    client = web.signed_in(ADMIN)
    assert client.get("/admin/units/no-such-unit").status_code == 404
    assert client.get("/admin/people/not-a-uuid").status_code == 404
    assert client.get(f"/admin/people/{person_id('nobody-at-all')}").status_code == 404
    form = client.get("/admin/units").text
    assert web.post(client, f"/admin/units/{MOVED}/explode", form, {}).status_code == 404
    assert web.post(client, "/admin/periods/20x5/close", form, {"reason": "x"}).status_code == 404
    assert web.post(client, "/admin/periods/20x5/deadlines", form, {"reason": "x"}).status_code == 404


# --- units ------------------------------------------------------------------------------------------------------


def test_an_administrator_moves_a_unit_from_a_date_and_the_tree_shows_it_there_from_that_date_only(web: Web) -> None:
    client = web.signed_in(ADMIN)
    status, location, _ = _post(
        web, client, f"/admin/units/{MOVED}", f"/admin/units/{MOVED}/move",
        {"parent": WARD, "effective_from": "2026-01-01", "reason": "Nghị quyết số 12-NQ/TU sáp nhập tổ dân phố"},
    )
    assert (status, location) == (303, f"/admin/units/{MOVED}?done=move_unit")
    page = client.get(location)
    assert "The move is recorded." in text_of(page)
    assert "Moved the unit under another committee" in text_of(page)  # its recent changes, from the audit trail

    before = client.get("/admin/units", params={"as_of": "2025-12-31"}).text
    after = client.get("/admin/units", params={"as_of": "2026-01-01"}).text
    assert MOVED in _branch(before, OLD_WARD)
    assert MOVED not in _branch(before, WARD)
    assert MOVED in _branch(after, WARD)
    assert MOVED not in _branch(after, OLD_WARD)
    assert "The units on Jan 1, 2026" in text_of(client.get("/admin/units", params={"as_of": "2026-01-01"}))

    # The as-of hierarchy every listing reads says the same.
    store = web.site.side.store
    assert units_model.parent_as_of(store, unit_id(MOVED), date(2025, 12, 31)) == unit_id(OLD_WARD)
    assert units_model.parent_as_of(store, unit_id(MOVED), date(2026, 1, 1)) == unit_id(WARD)


def test_a_move_appears_in_the_audit_trail_with_who_as_what_and_why(web: Web) -> None:
    client = web.signed_in(ADMIN)
    _post(
        web, client, f"/admin/units/{MOVED}", f"/admin/units/{MOVED}/move",
        {"parent": WARD, "effective_from": "2026-01-01", "reason": "Nghị quyết số 12-NQ/TU"},
    )
    (row,) = audit_model.audit_trail(
        web.site.side.store, unit_id=unit_id(MOVED), below_unit=False, action="Unit.Moved"
    ).rows
    assert row.person_id == person_id(ADMIN)
    assert row.role == Role.ADMINISTRATOR.value
    assert row.reason == "Nghị quyết số 12-NQ/TU"
    assert row.changes is not None
    assert row.changes["parent_id"]["after"] == str(unit_id(WARD))


def test_a_move_with_a_bad_date_is_refused_with_what_was_typed_kept_and_nothing_changed(web: Web) -> None:
    client = web.signed_in(ADMIN)
    before = _events(web)
    for day, says in [("31/12/2025", "is not a date"), ("", "date the change takes effect is needed"),
                      ("1990-01-01", "cannot take effect on Jan 1, 1990")]:  # dates in the reader's format
        status, _, html = _post(
            web, client, f"/admin/units/{MOVED}", f"/admin/units/{MOVED}/move",
            {"parent": WARD, "effective_from": day, "reason": "Lý do đã gõ <b>giữ nguyên</b>"},
        )
        assert status == 422, day
        assert says in html
        assert "Nothing was changed" in html
        assert "Lý do đã gõ &lt;b&gt;giữ nguyên&lt;/b&gt;</textarea>" in html
        assert f'value="{day}"' in html
    assert _events(web) == before
    assert web.engine.unit_by_code(MOVED).parent_id == unit_id(OLD_WARD)


def test_a_unit_cannot_be_moved_under_a_unit_below_itself(web: Web) -> None:
    client = web.signed_in(ADMIN)
    before = _events(web)
    status, _, html = _post(
        web, client, f"/admin/units/{OLD_WARD}", f"/admin/units/{OLD_WARD}/move",
        {"parent": MOVED, "effective_from": "2026-01-01", "reason": "thử"},
    )
    assert status == 422
    assert "cannot be moved under a unit below itself" in html
    assert _events(web) == before


def test_a_move_under_an_unknown_unit_is_bad_input_not_a_missing_page(web: Web) -> None:
    client = web.signed_in(ADMIN)
    status, _, html = _post(
        web, client, f"/admin/units/{MOVED}", f"/admin/units/{MOVED}/move",
        {"parent": "no-such-ward", "effective_from": "2026-01-01", "reason": "thử"},
    )
    assert status == 422
    assert "no unit with code 'no-such-ward'" in unescape(html)


def test_an_administrator_registers_renames_and_dissolves_a_unit(web: Web) -> None:
    client = web.signed_in(ADMIN)
    status, location, _ = _post(
        web, client, "/admin/units", "/admin/units",
        {"code": "lc-kim-tan-cb9", "name": "Chi bộ Tổ dân phố số 9", "kind": "party_cell", "parent": WARD,
         "group": "", "established_on": "2025-11-01"},
    )
    assert (status, location) == (303, "/admin/units/lc-kim-tan-cb9?done=register_unit")
    assert "lc-kim-tan-cb9" in _branch(client.get("/admin/units").text, WARD)

    before = _events(web)
    status, _, html = _post(
        web, client, "/admin/units/lc-kim-tan-cb9", "/admin/units/lc-kim-tan-cb9/rename",
        {"name": "Chi bộ Tổ dân phố số 9 mới", "effective_from": "2025-12-01", "reason": "  "},
    )
    assert status == 422
    assert "renaming a unit needs a reason (the decision that renames it)" in text_of_html(unescape(html))
    assert 'value="Chi bộ Tổ dân phố số 9 mới"' in html  # what was typed is kept
    assert _events(web) == before
    status, _, _ = _post(
        web, client, "/admin/units/lc-kim-tan-cb9", "/admin/units/lc-kim-tan-cb9/rename",
        {"name": "Chi bộ Tổ dân phố số 9 mới", "effective_from": "2025-12-01", "reason": "Quyết định 21-QĐ/ĐU đổi tên"},
    )
    assert status == 303
    page = text_of(client.get("/admin/units/lc-kim-tan-cb9"))
    assert "Chi bộ Tổ dân phố số 9 mới" in page
    assert "Renamed the unit" in page
    assert "Quyết định 21-QĐ/ĐU đổi tên" in page  # the recent changes show the reason

    status, _, html = _post(
        web, client, "/admin/units/lc-kim-tan-cb9", "/admin/units/lc-kim-tan-cb9/dissolve",
        {"effective_from": "2025-12-01", "reason": ""},
    )
    assert status == 422
    assert "needs a reason" in html
    status, _, _ = _post(
        web, client, "/admin/units/lc-kim-tan-cb9", "/admin/units/lc-kim-tan-cb9/dissolve",
        {"effective_from": "2025-12-02", "reason": "Quyết định giải thể số 3"},
    )
    assert status == 303
    assert "lc-kim-tan-cb9" not in _branch(client.get("/admin/units", params={"as_of": "2025-12-02"}).text, WARD)
    assert "lc-kim-tan-cb9" in _branch(client.get("/admin/units", params={"as_of": "2025-12-01"}).text, WARD)
    _wait(web)
    actions = [r.action for r in audit_model.audit_trail(
        web.site.side.store, unit_id=unit_id("lc-kim-tan-cb9"), below_unit=False).rows]
    # The claim on its code in every case is saved with the registration (domain/claims.py), and shown with it.
    assert actions == ["Unit.Registered", "NameClaim.Claimed", "Unit.Renamed", "Unit.Dissolved"]
    audit = text_of(web.signed_in(AUDITOR).get("/audit", params={"unit": "lc-kim-tan-cb9"}))
    assert "Quyết định 21-QĐ/ĐU đổi tên" in audit


def test_a_unit_with_units_under_it_cannot_be_dissolved(web: Web) -> None:
    client = web.signed_in(ADMIN)
    before = _events(web)
    status, _, html = _post(
        web, client, f"/admin/units/{WARD}", f"/admin/units/{WARD}/dissolve",
        {"effective_from": "2026-01-01", "reason": "Giải thể"},
    )
    assert status == 422
    assert "still has units under it" in html
    assert _events(web) == before


def test_a_code_already_taken_is_refused_with_the_form_kept(web: Web) -> None:
    client = web.signed_in(ADMIN)
    before = _events(web)
    status, _, html = _post(
        web, client, "/admin/units", "/admin/units",
        {"code": MOVED, "name": "Trùng mã", "kind": "party_cell", "parent": WARD, "established_on": "2025-01-01"},
    )
    assert status == 409
    assert "already exists" in html
    assert 'value="Trùng mã"' in html
    assert _events(web) == before


def test_a_code_or_username_differing_from_a_registered_one_only_in_case_is_refused_naming_it(web: Web) -> None:
    # Registered in a mix of cases, so that neither the all-lower nor the all-upper spelling of the twin is it.
    actor = _top_admin(web)
    web.engine.register_unit(
        actor, code="Lc-Đồng-Tuyển", name="Đảng ủy phường Đồng Tuyển", kind=UnitKind.GRASSROOTS_COMMITTEE,
        parent_id=unit_id(OLD_WARD), established_on=date(2025, 1, 1),
    )
    web.engine.register_person(actor, username="Đào.Hà", full_name="Đào Thị Hà")
    client = web.signed_in(ADMIN)
    before = _events(web)
    status, _, html = _post(
        web, client, "/admin/units", "/admin/units",
        {"code": "lC-đỒNG-tUYỂN", "name": "Trùng mã", "kind": "party_cell", "parent": WARD,
         "established_on": "2025-01-01"},
    )
    assert status == 409
    assert "a unit with code 'Lc-Đồng-Tuyển' already exists" in unescape(html)
    status, _, html = _post(
        web, client, "/admin/people", "/admin/people",
        {"username": "đÀO.hÀ", "full_name": "Người khác", "password": ""},
    )
    assert status == 409
    assert "a person with username 'Đào.Hà' already exists" in unescape(html)
    assert _events(web) == before
    assert not web.site.accounts.has_account("đÀO.hÀ")
    # The read models find it typed in another case too, Vietnamese letters included (SQL's lower() would not).
    _wait(web)
    found = units_model.unit_by_code(web.site.side.store, "LC-ĐỒNG-TUYỂN")
    assert found is not None
    assert found.code == "Lc-Đồng-Tuyển"
    assert units_model.unit_by_code(web.site.side.store, "LC-ĐỒNG-TUYEN") is None


def test_a_person_signs_in_with_their_username_typed_in_another_case(web: Web) -> None:
    actor = _top_admin(web)
    pid = web.engine.register_person(actor, username="Đào.Hà", full_name="Đào Thị Hà").value
    web.engine.grant_role(actor, pid, role=Role.AUDITOR, unit_id=unit_id(WARD), valid_from=date(2025, 1, 1))
    web.site.accounts.set_password("Đào.Hà", pid, password("Đào.Hà"))
    _wait(web)
    client = web.client()
    page = client.get("/sign-in").text
    data = {"csrf_token": csrf(page), "username": "ĐÀO.HÀ", "password": password("Đào.Hà")}
    response = client.post("/sign-in", data=data)
    assert response.status_code == 303, text_of(response)
    assert client.get("/work").status_code == 200
    # Another person's password in the same case-free name is still refused.
    wrong = web.client()
    data = {"csrf_token": csrf(wrong.get("/sign-in").text), "username": "đào.hà", "password": password(ADMIN)}
    assert wrong.post("/sign-in", data=data).status_code == 401


def test_the_units_tree_is_a_fragment_for_htmx_and_refuses_a_bad_date(web: Web) -> None:
    client = web.signed_in(ADMIN)
    fragment = client.get(
        "/admin/units", params={"as_of": "2024-12-31"}, headers={"HX-Request": "true", "HX-Target": "tree"}
    )
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="tree"')
    assert "<html" not in fragment.text
    assert client.get("/admin/units", params={"as_of": "yesterday"}).status_code == 422


def test_the_people_list_is_searched_without_diacritics_and_is_a_fragment_for_htmx(web: Web) -> None:
    client = web.signed_in(ADMIN)
    secretary = web.engine.person_by_username(SECRETARY).full_name
    bare = "".join(c for c in unicodedata.normalize("NFD", secretary) if not unicodedata.combining(c))
    bare = bare.replace("Đ", "D").replace("đ", "d").lower()
    fragment = client.get("/admin/people", params={"q": bare}, headers={"HX-Request": "true", "HX-Target": "people"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="people"')
    assert secretary in unescape(fragment.text)
    assert APPROVER not in fragment.text
    assert "Nobody matches." in client.get("/admin/people", params={"q": "không có ai tên này"}).text


# --- people, roles, delegations, passwords ----------------------------------------------------------------------


def _person_page(web: Web, username: str) -> str:
    return f"/admin/people/{person_id(username)}"


def test_a_new_person_gets_a_password_made_for_them_shown_once_and_can_sign_in_once_granted_a_role(web: Web) -> None:
    client = web.signed_in(ADMIN)
    page = client.get("/admin/people").text
    response = web.post(
        client, "/admin/people", page, {"username": "bt-moi", "full_name": "Nguyễn Văn Mới", "password": ""}
    )
    assert response.status_code == 201
    made = re.search(r'<span class="password">([^<]+)</span>', response.text)
    assert made is not None
    assert "it is not shown again" in text_of(response)
    assert "Nguyễn Văn Mới" in text_of(client.get("/admin/people", params={"q": "nguyen van moi"}))
    assert made.group(1) not in client.get(_person_page(web, "bt-moi")).text

    # Without a role the person cannot sign in yet; granted one, they can.
    newcomer = web.client()
    sign_in = newcomer.get("/sign-in").text
    data = {"csrf_token": csrf(sign_in), "username": "bt-moi", "password": made.group(1)}
    assert newcomer.post("/sign-in", data=data).status_code == 403
    status, location, _ = _post(
        web, client, _person_page(web, "bt-moi"), f"{_person_page(web, 'bt-moi')}/grants",
        {"role": "secretary", "unit": "lc-kim-tan-cb2", "valid_from": "2025-12-01", "valid_to": "",
         "basis": "Quyết định số 45-QĐ/ĐU"},
    )
    assert (status, location) == (303, f"{_person_page(web, 'bt-moi')}?done=grant_role")
    sign_in = newcomer.get("/sign-in").text
    assert newcomer.post("/sign-in", data={**data, "csrf_token": csrf(sign_in)}).status_code == 303
    assert "Granted a role" in text_of(client.get(location))


def test_a_short_password_is_refused_and_no_person_is_registered(web: Web) -> None:
    client = web.signed_in(ADMIN)
    before = _events(web)
    page = client.get("/admin/people").text
    response = web.post(
        client, "/admin/people", page, {"username": "bt-ngan", "full_name": "Trần Thị Ngắn", "password": "short"}
    )
    assert response.status_code == 422
    assert "at least 8 characters" in response.text
    assert 'value="Trần Thị Ngắn"' in response.text
    assert 'value="short"' not in response.text  # a password is never drawn back into a page
    assert _events(web) == before
    with pytest.raises(NotFound):
        web.engine.person_by_username("bt-ngan")


def test_an_administrator_sets_a_typed_password_and_the_old_one_and_its_sessions_end(web: Web) -> None:
    secretary = web.signed_in(SECRETARY)
    client = web.signed_in(ADMIN)
    status, _, html = _post(
        web, client, _person_page(web, SECRETARY), f"{_person_page(web, SECRETARY)}/password",
        {"password": "mat-khau-moi-2025"},
    )
    assert status == 200
    assert "The one-time password is set and the person's open sessions are ended" in unescape(html)
    assert 'class="password"' not in html  # typed by the administrator: nothing to show
    assert web.site.accounts.is_one_time(SECRETARY)  # the person chooses their own at the next sign-in
    assert web.site.accounts.check_password(SECRETARY, "mat-khau-moi-2025") == person_id(SECRETARY)
    assert web.site.accounts.check_password(SECRETARY, password(SECRETARY)) is None
    assert secretary.get("/work").status_code == 303  # signed out


def test_a_role_is_revoked_from_a_date_with_a_reason(web: Web) -> None:
    client = web.signed_in(ADMIN)
    person = web.engine.person_by_username(REVIEWER)
    (grant,) = [g for g in person.grants.values() if g.revoked_on is None]
    path = f"{_person_page(web, REVIEWER)}/grants/{grant.grant_id}/revoke"
    status, _, html = _post(web, client, _person_page(web, REVIEWER), path, {"on": "2025-12-02", "reason": ""})
    assert status == 422
    assert "needs a reason" in html
    status, _, _ = _post(
        web, client, _person_page(web, REVIEWER), path, {"on": "2025-12-02", "reason": "Chuyển công tác"}
    )
    assert status == 303
    assert web.engine.person_by_username(REVIEWER).grants[str(grant.grant_id)].revoked_on == date(2025, 12, 2)
    page = text_of(client.get(_person_page(web, REVIEWER)))
    assert "revoked from Dec 2, 2025" in page
    assert "Revoked a role" in page


def test_a_grant_or_a_revocation_sent_twice_is_refused_the_second_time_and_recorded_once(web: Web) -> None:
    client = web.signed_in(ADMIN)
    person_page = _person_page(web, REVIEWER)
    page = client.get(person_page).text
    grant = {"role": "auditor", "unit": WARD, "valid_from": "2025-12-01", "valid_to": "", "basis": "QĐ 7-QĐ/ĐU"}
    assert web.post(client, f"{person_page}/grants", page, grant).status_code == 303
    before = _events(web)
    again = web.post(client, f"{person_page}/grants", page, grant)  # the back button, or a double click
    assert again.status_code == 409
    assert "already holds the Auditor (inspection committee) role over Đảng bộ phường Kim Tân" in text_of(again)
    assert _events(web) == before
    (granted,) = [g for g in web.engine.person_by_username(REVIEWER).grants.values() if g.role is Role.AUDITOR]

    path = f"{person_page}/grants/{granted.grant_id}/revoke"
    page = client.get(person_page).text
    assert web.post(client, path, page, {"on": "2025-12-02", "reason": "Chuyển công tác"}).status_code == 303
    before = _events(web)
    later = web.post(client, path, page, {"on": "2026-06-01", "reason": "Chuyển công tác"})
    assert later.status_code == 422
    assert "already revoked on" in text_of(later)
    assert _events(web) == before
    assert web.engine.person_by_username(REVIEWER).grants[str(granted.grant_id)].revoked_on == date(2025, 12, 2)


def test_a_role_is_delegated_for_a_period_on_a_legal_basis_and_ended_early(web: Web) -> None:
    client = web.signed_in(ADMIN)
    approver = web.engine.person_by_username(APPROVER)
    (grant,) = [g for g in approver.grants.values() if g.role is Role.APPROVER]
    page = _person_page(web, APPROVER)
    delegate = f"{page}/grants/{grant.grant_id}/delegate"
    status, _, html = _post(
        web, client, page, delegate,
        {"deputy": "no-such-person", "valid_from": "2025-12-01", "valid_to": "2026-01-31", "legal_basis": "QĐ 7"},
    )
    assert status == 422
    assert "no person with username 'no-such-person'" in unescape(html)
    status, _, html = _post(
        web, client, page, delegate,
        {"deputy": REVIEWER, "valid_from": "2025-12-01", "valid_to": "2026-01-31", "legal_basis": ""},
    )
    assert status == 422
    assert "legal basis" in html
    status, location, _ = _post(
        web, client, page, delegate,
        {"deputy": REVIEWER, "valid_from": "2025-12-01", "valid_to": "2026-01-31",
         "legal_basis": "Quyết định số 15-QĐ/ĐU ủy quyền"},
    )
    assert (status, location) == (303, f"{page}?done=delegate")
    (delegation,) = web.engine.person_by_username(APPROVER).delegations.values()
    assert delegation.deputy_id == person_id(REVIEWER)
    assert "Quyết định số 15-QĐ/ĐU ủy quyền" in text_of(client.get(page))

    end = f"{page}/delegations/{delegation.delegation_id}/end"
    status, _, _ = _post(web, client, page, end, {"on": "2025-12-20", "reason": "Đồng chí đã trở lại"})
    assert status == 303
    ended = web.engine.person_by_username(APPROVER).delegations[str(delegation.delegation_id)]
    assert ended.revoked_on == date(2025, 12, 20)
    _wait(web)
    rows = audit_model.audit_trail(web.site.side.store, person_id=person_id(ADMIN), action="DelegationEnded").rows
    assert [r.reason for r in rows] == ["Đồng chí đã trở lại"]


# --- periods and rule sets --------------------------------------------------------------------------------------


def test_a_period_is_opened_with_its_deadlines_and_closed_with_a_reason(web: Web) -> None:
    client = web.signed_in(ADMIN)
    before = _events(web)
    out_of_order = {"year": "2026", "rule_set": "", "models": "four-good-cell-LC2024",
                    "deadline.self_assessment": "2026-12-20", "deadline.review": "2026-12-10",
                    "deadline.decision": "2027-01-15"}
    status, _, html = _post(web, client, "/admin/periods", "/admin/periods", out_of_order)
    assert status == 422
    assert "deadlines must follow the order of the steps" in html
    assert 'value="2026-12-20"' in html
    assert re.search(r'value="four-good-cell-LC2024"\s+checked', html)
    assert _events(web) == before

    status, location, _ = _post(
        web, client, "/admin/periods", "/admin/periods", {**out_of_order, "deadline.review": "2026-12-28"}
    )
    assert (status, location) == (303, "/admin/periods?done=open_period")
    period = web.engine.period(2026)
    assert period.deadlines == {"self_assessment": date(2026, 12, 20), "review": date(2026, 12, 28),
                                "decision": date(2027, 1, 15)}
    assert period.recognition_models == ["four-good-cell-LC2024"]
    assert "Dec 28, 2026" in text_of(client.get("/admin/periods"))

    status, _, html = _post(web, client, "/admin/periods", "/admin/periods", {**out_of_order, "year": "2026"})
    assert status in (409, 422)

    status, _, _ = _post(web, client, "/admin/periods", "/admin/periods/2026/close", {"reason": "Kết thúc năm"})
    assert status == 303
    assert web.engine.period(2026).closed
    _wait(web)
    actions = [r.action for r in audit_model.audit_trail(web.site.side.store, year=2026).rows]
    assert actions[-2:] == ["EvaluationPeriod.Opened", "EvaluationPeriod.Closed"]


def _overdue_today(text: str) -> str:
    found = re.search(r"decided, ([\d,]+) overdue today", text)
    assert found, text[:400]
    return found.group(1)


def test_moved_deadlines_reach_the_work_queues_the_dashboard_and_the_audit_trail(web: Web) -> None:
    client = web.signed_in(ADMIN)
    secretary, auditor = web.signed_in(SECRETARY), web.signed_in(AUDITOR)
    assert "Dec 15, 2025" in text_of(secretary.get("/work"))
    assert _overdue_today(text_of(auditor.get("/dashboard?unit=lao-cai&year=2025"))) == "0"
    form = {"deadline.self_assessment": "2025-11-28", "deadline.review": "2025-12-25",
            "deadline.decision": "2026-01-20", "reason": "Công văn 45-CV/TU rút ngắn hạn tự đánh giá"}
    status, location, _ = _post(web, client, "/admin/periods", "/admin/periods/2025/deadlines", form)
    assert (status, location) == (303, "/admin/periods?done=change_deadlines")
    assert web.engine.period(2025).deadlines["self_assessment"] == date(2025, 11, 28)
    assert "The new deadlines are recorded" in text_of(client.get(location))

    work = text_of(secretary.get("/work"))
    assert "Nov 28, 2025 overdue" in work
    assert "Dec 15, 2025" not in work
    assert int(_overdue_today(text_of(auditor.get("/dashboard?unit=lao-cai&year=2025"))).replace(",", "")) > 0
    (row,) = [r for r in audit_model.audit_trail(web.site.side.store, year=2025).rows
              if r.action == "EvaluationPeriod.DeadlinesChanged"]
    assert row.reason == "Công văn 45-CV/TU rút ngắn hạn tự đánh giá"
    assert row.changes == {"deadlines": {"self_assessment": {"before": "2025-12-15", "after": "2025-11-28"}}}
    assert "changed the step deadlines of an evaluation period" in text_of(auditor.get("/audit?year=2025"))


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        ({"deadline.review": "2026-02-01"}, "deadlines must follow the order of the steps"),
        ({"deadline.review": "25/12/2025"}, "is not a date (YYYY-MM-DD)"),
        ({"deadline.review": "2025-12-28", "reason": ""}, "needs a reason"),
    ],
)
def test_a_deadline_change_out_of_order_in_the_wrong_form_or_without_a_reason_is_refused_with_nothing_changed(
    web: Web, data: dict[str, str], refusal: str
) -> None:
    client = web.signed_in(ADMIN)
    before, deadlines = _events(web), dict(web.engine.period(2025).deadlines)
    status, _, html = _post(
        web, client, "/admin/periods", "/admin/periods/2025/deadlines", {"reason": "Công văn 46-CV/TU", **data}
    )
    assert status == 422
    assert refusal in text_of_html(unescape(html))
    assert f'value="{data["deadline.review"]}"' in html  # what was typed is kept
    assert _events(web) == before
    assert web.engine.period(2025).deadlines == deadlines


def test_the_deadlines_of_a_closed_period_are_refused_and_its_row_offers_no_form(web: Web) -> None:
    client = web.signed_in(ADMIN)
    assert "Change the 2024 deadlines" not in text_of(client.get("/admin/periods"))
    assert "Change the 2025 deadlines" in text_of(client.get("/admin/periods"))
    before = _events(web)
    status, _, html = _post(
        web, client, "/admin/periods", "/admin/periods/2024/deadlines",
        {"deadline.review": "2024-12-28", "reason": "Công văn 47-CV/TU"},
    )
    assert status == 409
    assert "the 2024 evaluation period is closed" in text_of_html(html)
    assert _events(web) == before


def test_a_year_that_is_not_four_digits_is_refused(web: Web) -> None:
    client = web.signed_in(ADMIN)
    status, _, html = _post(web, client, "/admin/periods", "/admin/periods", {"year": "２０２６"})
    assert status == 422
    assert "is not a year" in html


def test_the_rule_sets_page_lists_every_loaded_file_with_its_checksum_and_source(web: Web) -> None:
    client = web.signed_in(ADMIN)
    page = client.get("/admin/rules").text
    book = web.engine.rule_book
    for item in [*book.rule_sets, *book.recognition_models]:
        assert item.sha256 in page
        assert item.file_name in page
    # Which periods each file governs: the 2024 period's rule set names 2024.
    rule_set_2024 = web.engine.period(2024).rule_set_id
    row = re.search(rf"<tr>\s*<th scope=\"row\">[^<]*<br><span class=\"muted\">{rule_set_2024} v.*?</tr>", page, re.S)
    assert row is not None
    assert "2024" in row.group(0).rsplit("<td>", 1)[-1]


# --- an administrator over one ward only ---------------------------------------------------------------------------


def _ward_admin(web: Web) -> TestClient:
    engine, actor = web.engine, _top_admin(web)
    pid = engine.register_person(actor, username="vp-kim-tan", full_name="Văn phòng Đảng ủy Kim Tân").value
    engine.grant_role(actor, pid, role=Role.ADMINISTRATOR, unit_id=unit_id(WARD), valid_from=date(2025, 1, 1))
    web.site.accounts.set_password("vp-kim-tan", pid, password("vp-kim-tan"))
    _wait(web)
    return web.signed_in("vp-kim-tan")


def test_an_administrator_over_a_ward_sees_and_changes_only_that_ward(web: Web) -> None:
    client = _ward_admin(web)
    tree = client.get("/admin/units").text
    assert set(_branch(tree, WARD)) == {"lc-kim-tan-cb1", "lc-kim-tan-cb2"}
    assert OLD_WARD not in tree
    assert client.get(f"/admin/units/{OLD_WARD}").status_code == 403
    assert client.get(_person_page(web, "tc-lc-pom-han")).status_code == 403
    assert client.get(_person_page(web, SECRETARY)).status_code == 200
    people = text_of(client.get("/admin/people"))
    assert "bt-lc-kim-tan-cb1" in people
    assert "tc-lc-pom-han" not in people

    before = _events(web)
    status, _, html = _post(
        web, client, f"/admin/units/{WARD}", f"/admin/units/{WARD}/move",
        {"parent": OLD_WARD, "effective_from": "2026-01-01", "reason": "thử"},
    )
    assert status == 403
    status, _, html = _post(web, client, "/admin/periods", "/admin/periods", {"year": "2027"})
    assert status == 403
    assert "top-level unit" in text_of_html(html)
    assert _events(web) == before


def text_of_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_person_of_another_ward_cannot_be_given_a_password_by_a_ward_administrator(web: Web) -> None:
    client = _ward_admin(web)
    page = client.get("/admin/people").text
    response = web.post(client, f"{_person_page(web, 'tc-lc-pom-han')}/password", page, {"password": "x" * 12})
    assert response.status_code == 403
    assert web.site.accounts.check_password("tc-lc-pom-han", "x" * 12) is None


# --- a hierarchy too large to list whole -----------------------------------------------------------------------------


def test_a_hierarchy_too_long_for_one_page_is_cut_and_searched_and_its_forms_ask_for_a_code(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin.limits, "tree", 5)
    monkeypatch.setattr(admin.limits, "choices", 5)
    client = web.signed_in(ADMIN)
    page = client.get("/admin/units")
    assert len(re.findall(r'class="depth-\d"><a href=', page.text)) == 5
    assert re.search(r"The first 5 of \d+ units are shown", text_of(page))
    assert '<input id="unit-parent" name="parent"' in page.text
    assert '<select id="unit-parent"' not in page.text

    found = client.get("/admin/units", params={"q": "phuong kim tan"})
    codes = re.findall(r'class="depth-\d"><a href="/admin/units/([^"]+)"', found.text)
    assert WARD in codes
    assert OLD_WARD not in codes
    assert "No unit matches." in text_of(client.get("/admin/units", params={"q": "không có đơn vị này"}))

    unit_page = client.get(f"/admin/units/{MOVED}").text
    assert '<input id="move-parent" name="parent"' in unit_page
    assert '<input id="grant-unit" name="unit"' in client.get(_person_page(web, SECRETARY)).text
    status, _, _ = _post(
        web, client, f"/admin/units/{MOVED}", f"/admin/units/{MOVED}/move",
        {"parent": WARD, "effective_from": "2026-01-01", "reason": "Nghị quyết số 12-NQ/TU"},
    )
    assert status == 303
    assert web.engine.unit_by_code(MOVED).parent_id == unit_id(WARD)


def test_a_move_that_meets_a_concurrent_change_says_a_record_changed_not_a_dossier(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = web.signed_in(ADMIN)
    page = client.get(f"/admin/units/{MOVED}")
    saved = web.engine.save

    def collides(*aggregates: object, **kwargs: object) -> object:
        # What the store answers when another process wrote the same version of the unit first.
        monkeypatch.setattr(web.engine, "save", saved)
        raise IntegrityError("duplicate version")

    monkeypatch.setattr(web.engine, "save", collides)
    before = _events(web)
    response = web.post(
        client, f"/admin/units/{MOVED}/move", page.text,
        {"parent": WARD, "effective_from": "2026-01-01", "reason": "sáp nhập"},
    )
    assert response.status_code == 409
    assert "Someone else changed this record first" in response.text
    assert "changed this dossier" not in response.text
    assert _events(web) == before


def test_a_refused_period_comes_back_with_every_recognition_model_ticked_as_it_was_sent(web: Web) -> None:
    client = web.signed_in(ADMIN)
    page = client.get("/admin/periods").text
    refused = client.post("/admin/periods", data={
        "csrf_token": csrf(page), "year": "2026", "rule_set": "",
        "models": ["four-good-cell-LC2024", "four-good-committee-LC2024"],
        "deadline.self_assessment": "2026-12-20", "deadline.review": "2026-12-10", "deadline.decision": "2027-01-15",
    })
    assert refused.status_code == 422
    # Both, not only the last: a field sent twice is one entry of the values kept.
    assert re.search(r'value="four-good-cell-LC2024"\s+checked', refused.text)
    assert re.search(r'value="four-good-committee-LC2024"\s+checked', refused.text)
