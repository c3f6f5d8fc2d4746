"""The dossier page as a secretary edits a returned dossier: what changed is redrawn as they go, in their language's
numbers."""

from __future__ import annotations

import html
import re
from datetime import date

from fastapi.testclient import TestClient

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Role
from tests.web.world import CELL, REVIEWER, SECRETARY, Web, csrf, text_of

HX = {"HX-Request": "true"}


def _version(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found
    return found.group(1)


def _submitted(web: Web) -> tuple[TestClient, str]:
    """The cell's dossier submitted with 45 points on assigned targets: the secretary's client and its path."""
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    data = {"csrf_token": csrf(page), "version": _version(page), "c.assigned_targets.points": "45"}
    assert secretary.post(f"{path}/answers", data=data).status_code == 303
    page = secretary.get(path).text
    assert secretary.post(
        f"{path}/act/submit", data={"csrf_token": csrf(page), "version": _version(page)}
    ).status_code == 303
    return secretary, path


def _returned(web: Web) -> tuple[TestClient, str]:
    """The same, then returned by the committee."""
    secretary, path = _submitted(web)
    reviewer = web.signed_in(REVIEWER)
    page = reviewer.get(path).text
    returned = reviewer.post(
        f"{path}/act/return_to_unit",
        data={"csrf_token": csrf(page), "version": _version(page), "reason": "Bổ sung biên bản họp"},
    )
    assert returned.status_code == 303, text_of(returned)
    return secretary, path


def _autosave(client: TestClient, path: str, points: str, **headers: str) -> str:
    page = client.get(path, headers=headers).text
    saved = client.post(
        f"{path}/answers",
        data={"csrf_token": csrf(page), "version": _version(page), "c.assigned_targets.points": points},
        headers={**HX, **headers},
    )
    assert saved.status_code == 200, text_of(saved)
    return saved.text


def _changes(html: str) -> str:
    found = re.search(r'<section id="changes"[^>]*>(.*?)</section>', html, re.S)
    assert found, "the answer carries no 'what changed' section"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_an_autosave_of_a_returned_dossier_redraws_what_changed_since_the_last_round(web: Web) -> None:
    secretary, path = _returned(web)
    # Nothing changed yet: the section is in the page, empty and hidden, for an autosave to fill.
    assert re.search(r'<section id="changes"[^>]*hidden', secretary.get(path).text)
    saved = _autosave(secretary, path, "47")
    changes = _changes(saved)
    assert "What changed since the last round" in changes
    assert re.search(r"assigned_targets : 45 · .* → 47 · ", changes), changes
    # It comes out of band, as the suggestion does, so htmx swaps it where the page has it.
    assert re.search(r'<section id="changes"[^>]*hx-swap-oob="true"', saved)
    again = _changes(_autosave(secretary, path, "48"))
    assert re.search(r"assigned_targets : 45 · .* → 48 · ", again), again


def test_points_are_shown_in_the_number_format_of_the_persons_language(web: Web) -> None:
    secretary, path = _returned(web)
    vietnamese = _changes(_autosave(secretary, path, "47,5", **{"Accept-Language": "vi"}))
    assert re.search(r": 45 · .* → 47,5 · ", vietnamese), vietnamese
    english = secretary.get(path).text
    assert re.search(r": 45 · .* → 47\.5 · ", _changes(english))
    # The field shows the answer as it can be typed over: the decimal sign of the language, never "47.50" or
    # a grouping that the form would read as a decimal sign.
    assert 'value="47.5"' in english
    assert 'value="47,5"' in secretary.get(path, headers={"Accept-Language": "vi"}).text


def test_a_refused_dialog_says_why_inside_the_dialog_and_leads_the_browser_to_it(web: Web) -> None:
    _, path = _submitted(web)
    reviewer = web.signed_in(REVIEWER)
    page = reviewer.get(path).text
    # The answer's address ends in the dialog's id: the browser shows the dialog, not the top of the page.
    assert f'action="{path}/act/return_to_unit#dialog-return_to_unit"' in page
    refused = reviewer.post(
        f"{path}/act/return_to_unit", data={"csrf_token": csrf(page), "version": _version(page), "reason": "   "}
    )
    assert refused.status_code == 422
    html = refused.text
    assert html.count('role="alert"') == 1
    dialog = re.search(r'<details class="dialog" id="dialog-return_to_unit" open>(.*?)</details>', html, re.S)
    assert dialog, "the refused step's dialog is not open again"
    assert 'role="alert"' in dialog.group(1)
    assert "A reason is needed" in dialog.group(1)


def test_a_refusal_of_a_step_without_a_dialog_is_said_at_the_top_of_the_page(web: Web) -> None:
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    stale = str(int(_version(page)) - 1)
    refused = secretary.post(f"{path}/act/submit", data={"csrf_token": csrf(page), "version": stale})
    assert refused.status_code == 409
    assert refused.text.count('role="alert"') == 1
    assert re.search(r'<section class="refusal" role="alert">', refused.text)


def test_an_autosave_redraws_every_forms_version_and_not_the_evidence_and_actions_under_the_persons_hands(
    web: Web,
) -> None:
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    # The form saves as each field is left, at once (a delay let a click that leaves the page beat the save),
    # one save after another (a second save sent before the first's answer would carry a stale version).
    form = re.search(r'<form id="answers"[^>]*>', page)
    assert form
    assert 'hx-trigger="change"' in form.group(0)
    assert 'hx-sync="this:queue last"' in form.group(0)
    assert '<script src="/static/autosave.js" defer></script>' in page
    ids = set(re.findall(r'id="(version-[\w-]+)" name="version"', page))
    assert {"version-attach", "version-act-submit"} <= ids

    saved = _autosave(secretary, path, "44")
    redrawn = dict(re.findall(r'<input type="hidden" id="(version[\w-]*)" name="version" value="(\d+)"', saved))
    assert set(redrawn) == ids | {"version"}, redrawn
    assert len(set(redrawn.values())) == 1
    assert redrawn["version"] != _version(page)
    # The sections themselves stay: redrawn, they dropped the file being chosen and the form just clicked.
    assert 'id="evidence"' not in saved
    assert 'id="actions"' not in saved
    # The next form sent carries the version the save left, and goes through.
    after = secretary.get(path).text
    submitted = secretary.post(
        f"{path}/act/submit", data={"csrf_token": csrf(after), "version": redrawn["version-act-submit"]}
    )
    assert submitted.status_code == 303, text_of(submitted)


def test_the_autosave_script_is_not_sent_to_a_person_who_cannot_edit(web: Web) -> None:
    _, path = _submitted(web)
    reviewer = web.signed_in(REVIEWER)
    assert "autosave.js" not in reviewer.get(path).text
    assert web.client().get("/static/autosave.js").status_code == 200


def test_a_refused_save_shows_the_sub_items_ticked_as_they_were_sent_not_as_stored(web: Web) -> None:
    # A 2026 period with the four-good models: the cell's dossier has criteria with sub-items to tick.
    admin = Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai"))
    web.engine.open_period(
        admin, year=2026, recognition_models=["four-good-cell-LC2024", "four-good-committee-LC2024"],
        deadlines={"self_assessment": date(2026, 12, 15), "review": date(2026, 12, 20),
                   "decision": date(2027, 1, 15)},
    )
    opened = web.engine.open_dossier(admin, unit_id(CELL), 2026)
    assert web.site.side.wait_for(opened.position).reached
    secretary = web.signed_in(SECRETARY)
    path = f"/dossiers/{opened.value}"
    page = secretary.get(path).text
    first, second = re.findall(r'<input type="checkbox" name="(c\.fg_meeting_quality\.sub\.[^"]+)"', page)[:2]
    shown = {"c.fg_meeting_quality.subs": "shown"}
    saved = secretary.post(
        f"{path}/answers", data={"csrf_token": csrf(page), "version": _version(page), **shown, first: "on"}
    )
    assert saved.status_code == 303, text_of(saved)
    page = secretary.get(path).text
    # The first box unticked, the second ticked, and points that are not a number: refused, shown as sent.
    refused = secretary.post(f"{path}/answers", data={
        "csrf_token": csrf(page), "version": _version(page), **shown, second: "on",
        "c.assigned_targets.points": "bốn mươi",
    })
    assert refused.status_code == 422
    ticked = re.findall(r'<input type="checkbox" name="(c\.[^"]+\.sub\.[^"]+)" checked', refused.text)
    assert ticked == [second]


def test_a_refused_mark_not_rated_keeps_the_ground_chosen(web: Web) -> None:
    path = web.dossier_path("mk-nam-lu")  # endorsed in the demo, before the province's approver
    approver = web.signed_in("tt-tinh-uy")
    page = approver.get(path).text
    refused = approver.post(f"{path}/act/mark_not_rated", data={
        "csrf_token": csrf(page), "version": _version(page), "ground": "exempted", "reason": " ",
    })
    assert refused.status_code == 422, text_of(refused)
    assert re.search(r'<option value="exempted" selected>', refused.text)


def _error_beside(answer: str, key: str) -> str:
    found = re.search(rf'<p id="error-{key}" class="field-error error" hx-swap-oob="true" ([^>]*)>(.*?)</p>', answer,
                      re.S)
    assert found, f"the answer redraws no refusal beside {key}"
    return "" if "hidden" in found.group(1) else html.unescape(found.group(2))


def test_an_autosave_saves_every_valid_field_and_says_why_beside_each_field_it_could_not_save(web: Web) -> None:
    path = web.dossier_path()
    did = web.engine.find_dossier(f"{CELL}/2025")
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    recorded = web.engine.dossier(did).answers
    # Placeholders beside every field, empty and hidden, for an autosave to fill.
    assert '<p id="error-c-key_tasks" class="field-error error" hidden></p>' in page
    assert '<p id="error-f-shortcomings_remedied_percent" class="field-error error" hidden></p>' in page
    saved = secretary.post(f"{path}/answers", headers=HX, data={
        "csrf_token": csrf(page), "version": _version(page),
        "c.assigned_targets.points": "bốn mươi",  # not a number: the form cannot read it
        "c.key_tasks.points": "900",  # over the criterion's maximum: the engine refuses it
        "c.key_tasks.comment": "Đã hoàn thành",
        "c.shortcomings_remedy.points": "4.5",
        "c.shortcomings_remedy.comment": "Đã khắc phục",
        "f.shortcomings_remedied_percent": "90",
    })
    assert saved.status_code == 422, text_of(saved)
    dossier = web.engine.dossier(did)
    assert str(dossier.answers["shortcomings_remedy"].points) == "4.5"
    assert dossier.answers["shortcomings_remedy"].comment == "Đã khắc phục"
    assert str(dossier.facts["shortcomings_remedied_percent"]) == "90"
    assert dossier.answers.get("assigned_targets") == recorded.get("assigned_targets")
    assert dossier.answers.get("key_tasks") == recorded.get("key_tasks")
    assert "'bốn mươi' is not a number" in _error_beside(saved.text, "c-assigned_targets")
    assert "points must be a number from 0 to" in _error_beside(saved.text, "c-key_tasks")
    assert _error_beside(saved.text, "c-shortcomings_remedy") == ""
    assert _error_beside(saved.text, "f-shortcomings_remedied_percent") == ""
    assert "Saved, except the answers whose refusal is said beside them" in saved.text
    # The versions are redrawn: the next save carries the version this one left.
    version = re.search(r'<input type="hidden" id="version" name="version" value="(\d+)"', saved.text)
    assert version
    assert int(version.group(1)) == dossier.version

    corrected = secretary.post(f"{path}/answers", headers=HX, data={
        "csrf_token": csrf(page), "version": version.group(1),
        "c.assigned_targets.points": "40", "c.key_tasks.points": "9",
    })
    assert corrected.status_code == 200, text_of(corrected)
    assert _error_beside(corrected.text, "c-assigned_targets") == ""
    assert _error_beside(corrected.text, "c-key_tasks") == ""
    assert str(web.engine.dossier(did).answers["key_tasks"].points) == "9"


def test_the_forms_own_button_still_refuses_the_whole_form_for_one_invalid_field(web: Web) -> None:
    path = web.dossier_path()
    did = web.engine.find_dossier(f"{CELL}/2025")
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    before = web.engine.dossier(did).version
    refused = secretary.post(f"{path}/answers", data={
        "csrf_token": csrf(page), "version": _version(page),
        "c.key_tasks.points": "900", "c.shortcomings_remedy.points": "4.5",
    })
    assert refused.status_code == 422
    assert web.engine.dossier(did).version == before
    # What was typed is kept on the page, to correct.
    assert 'value="900"' in refused.text
    assert 'value="4.5"' in refused.text


def test_the_beacon_of_a_closing_page_saves_every_valid_field(web: Web) -> None:
    path = web.dossier_path()
    did = web.engine.find_dossier(f"{CELL}/2025")
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    sent = secretary.post(f"{path}/answers", data={
        "csrf_token": csrf(page), "version": _version(page), "autosave": "1",
        "c.key_tasks.points": "900", "c.shortcomings_remedy.points": "4.5",
    })
    assert sent.status_code == 422
    assert str(web.engine.dossier(did).answers["shortcomings_remedy"].points) == "4.5"
