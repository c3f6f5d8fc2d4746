"""Administrators and auditors are told, on every page, when the read models their lists come from are not level
with the event log: behind it, stopped by an event they could not apply, or being rebuilt."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update

from domain.actor import Actor
from domain.ids import person_id, unit_id
from domain.values import Role
from projections.store import TRACKING
from tests.web.world import AUDITOR, CELL, SECRETARY, Web, text_of
from workflow.bootstrap import build_engine

BANNER = "The lists may be incomplete: some read models are not level with the event log"


def _a_step_the_read_models_have_not_seen(web: Web) -> int:
    """The read models stand still (their runner stopped); another process records a step. The log's head after."""
    web.site.side.close()
    other = build_engine(database_url=None, data_dir=web.data_dir, clock=web.clock)
    try:
        renamed = other.rename_unit(
            Actor(person_id("admin"), Role.ADMINISTRATOR, unit_id("lao-cai")), unit_id(CELL),
            name="Chi bộ Tổ dân phố số 5 (mới)", effective_from=date(2025, 11, 1), reason="Đổi tên",
        )
    finally:
        other.close()
    return renamed.position


def test_no_banner_while_the_read_models_are_level_with_the_log(web: Web) -> None:
    for username, path in ((AUDITOR, "/audit"), ("admin", "/admin/units"), (AUDITOR, "/work")):
        page = web.signed_in(username).get(path)
        assert page.status_code == 200, text_of(page)
        assert BANNER not in page.text


def test_an_auditor_and_an_administrator_are_told_which_read_models_are_behind_and_by_how_much(web: Web) -> None:
    head = _a_step_the_read_models_have_not_seen(web)
    for username, path in ((AUDITOR, "/audit"), (AUDITOR, "/dashboard"), ("admin", "/admin/units"), ("admin", "/work")):
        shown = text_of(web.signed_in(username).get(path))
        assert BANNER in shown, path
        assert f"The audit trail (audit): at event {head - 1:,} of {head:,}, catching up" in shown, shown
        assert "The units and their hierarchy (units): at event" in shown
    # My work says it once, in the banner, not again in its own words.
    assert "The lists are still catching up" not in text_of(web.signed_in(AUDITOR).get("/work"))
    # A secretary's pages are not about the lists of others: My work says it in its own words, no banner.
    work = text_of(web.signed_in(SECRETARY).get("/work"))
    assert BANNER not in work
    assert "The lists are still catching up" in work


def test_a_read_model_stopped_by_an_error_is_named_with_the_event_it_stopped_at(web: Web) -> None:
    store = web.site.side.store
    web.site.side.close()
    with store.engine.begin() as conn:
        conn.execute(
            update(TRACKING).where(TRACKING.c.name == "statistics", TRACKING.c.generation == store.live_generation(
                "statistics")).values(failed_position=1234, error="ZeroDivisionError: division by zero")
        )
    page = web.signed_in(AUDITOR).get("/dashboard")
    assert 'class="lagging stopped"' in page.text
    assert ("The dashboard's figures (statistics): stopped at event 1,234 by an error; nothing after it is shown "
            "until an administrator fixes it and runs dossierflow projections retry statistics.") in text_of(page)


def test_a_rebuild_under_way_is_named_with_how_far_it_has_come(web: Web) -> None:
    web.site.side.close()
    web.site.side.store.start_building("dossiers")
    shown = text_of(web.signed_in("admin").get("/admin/units"))
    assert "Dossiers and classifications (dossiers): being rebuilt, at event 0 of" in shown
    assert "the pages show the version before until the new one is level" in shown


def test_the_banner_is_in_the_persons_language(web: Web) -> None:
    _a_step_the_read_models_have_not_seen(web)
    client = web.signed_in(AUDITOR)
    page = client.get("/audit", headers={"Accept-Language": "vi"})
    assert "Các danh sách có thể chưa đầy đủ" in page.text
