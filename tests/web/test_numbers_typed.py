"""A number typed on the self-assessment form or sent to the API is ASCII digits with one decimal sign at most.

Python reads other scripts' digits ("٤" is 4), underscores ("1_0" is 10) and exponents ("1e1") as numbers: a
page would then record a number other than the one it shows. Each is refused as any text that is not a number is,
in the reader's language, and nothing is recorded."""

from __future__ import annotations

import re
from uuid import UUID

import pytest

from tests.web.api_world import API, api_on
from tests.web.world import CELL, SECRETARY, Web, csrf, text_of


def _dossier_id(web: Web) -> UUID:
    return web.engine.find_dossier(f"{CELL}/2025")


ODD_NUMBERS = ["٤", "٤٥", "४५", "４５", "1_0", "1e1", "4 5", "²"]


def _version(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found
    return found.group(1)


@pytest.mark.parametrize("typed", ODD_NUMBERS)
@pytest.mark.parametrize("field", ["c.assigned_targets.points", "f.shortcomings_remedied_percent"])
def test_points_or_a_percentage_not_written_in_ascii_digits_are_refused_and_nothing_is_recorded(
    web: Web, field: str, typed: str
) -> None:
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    before = web.engine.dossier(_dossier_id(web)).version
    refused = secretary.post(
        f"{path}/answers", data={"csrf_token": csrf(page), "version": _version(page), field: typed}
    )
    assert refused.status_code == 422, text_of(refused)
    assert f"&#39;{typed}&#39; is not a number" in refused.text or f"'{typed}' is not a number" in refused.text
    assert web.engine.dossier(_dossier_id(web)).version == before


def test_the_refusal_of_a_number_in_other_digits_is_said_in_the_readers_language(web: Web) -> None:
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    refused = secretary.post(
        f"{path}/answers", data={"csrf_token": csrf(page), "version": _version(page), "c.assigned_targets.points": "٤"},
        headers={"Accept-Language": "vi"},
    )
    assert refused.status_code == 422
    assert "is not a number" not in refused.text
    assert "٤" in refused.text


@pytest.mark.parametrize(("typed", "recorded"), [("45", "45"), ("45,5", "45.5"), ("45.5", "45.5"), (".5", "0.5")])
def test_points_in_ascii_digits_with_a_comma_or_a_point_are_recorded(web: Web, typed: str, recorded: str) -> None:
    path = web.dossier_path()
    secretary = web.signed_in(SECRETARY)
    page = secretary.get(path).text
    saved = secretary.post(
        f"{path}/answers",
        data={"csrf_token": csrf(page), "version": _version(page), "c.assigned_targets.points": typed},
    )
    assert saved.status_code == 303, text_of(saved)
    assert str(web.engine.dossier(_dossier_id(web)).answers["assigned_targets"].points) == recorded


@pytest.mark.parametrize("typed", ODD_NUMBERS)
def test_the_api_refuses_points_or_a_percentage_as_text_not_in_ascii_digits(web: Web, typed: str) -> None:
    api = api_on(web)
    did = api.dossier_id()
    client = api.client(SECRETARY)
    before = api.version(did)
    bodies: list[dict[str, object]] = [
        {"answers": {"key_tasks": {"points": typed}}}, {"facts": {"shortcomings_remedied_percent": typed}}
    ]
    for body in bodies:
        refused = client.put(f"{API}/dossiers/{did}/self-assessment", json=body)
        assert refused.status_code == 422, refused.text
        assert "is not a number" in refused.json()["detail"], refused.json()
    assert api.version(did) == before
    # Decimal text as the API documents it still goes through.
    valid = {"answers": {"key_tasks": {"points": "9.5"}}, "facts": {"shortcomings_remedied_percent": "92.5"}}
    saved = client.put(f"{API}/dossiers/{did}/self-assessment", json=valid)
    assert saved.status_code == 200, saved.text
