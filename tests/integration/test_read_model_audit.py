"""The audit trail read model: every event a row, who and on whose behalf, why, what changed; searchable; CSV."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Index, Integer, MetaData, Table, insert, select

from domain.ids import person_id
from projections.log import RecorderLog
from projections.models.audit import COLUMNS, AuditProjection, AuditRow, audit_csv, audit_trail, iter_audit
from projections.runner import Runner
from projections.store import ReadModelStore, make_engine
from tests.conftest import Backend
from tests.read_side_checks import PrefixLog, dump, fed
from tests.read_side_season import (
    DELEGATION_BASIS,
    MOVE_REASON,
    REOPEN_BASIS,
    RETURN_REASON,
    Season,
    play_season,
)


@pytest.fixture(scope="module")
def season() -> Season:
    return play_season()


@pytest.fixture(scope="module")
def store(season: Season) -> ReadModelStore:
    return fed(season.world.engine, AuditProjection())


def _everything(store: ReadModelStore) -> list[AuditRow]:
    return list(iter_audit(store, chunk=50))


def test_every_event_of_the_log_is_one_row_in_order(season: Season, store: ReadModelStore) -> None:
    engine = season.world.engine
    rows = _everything(store)
    assert [r.position for r in rows] == list(range(1, engine.recorder.max_notification_id() + 1))
    logged = RecorderLog(engine.recorder, engine.mapper).read(0, 10_000)
    assert [r.action for r in rows] == [type(e.event).__qualname__ for e in logged]
    assert all(r.recorded_at.tzinfo is not None for r in rows)
    assert audit_trail(store).total == len(rows)


def test_a_dossiers_trail_says_who_did_what_and_why_with_the_answers_before_and_after(
    season: Season, store: ReadModelStore
) -> None:
    world = season.world
    trail = audit_trail(store, dossier_id=season.dossiers["cell-a"])
    assert [r.action.split(".")[1] for r in trail.rows] == [
        "Opened", "AnswersRecorded", "Submitted", "ReturnedToUnit", "AnswersRecorded", "Resubmitted", "Endorsed",
        "Approved", "Reopened", "Approved",
    ]
    assert {r.unit_id for r in trail.rows} == {world.units["cell-a"]}
    assert {r.year for r in trail.rows} == {2024}
    returned = trail.rows[3]
    assert (returned.person_name, returned.role, returned.reason) == ("Ban Tổ chức Đảng ủy", "reviewer", RETURN_REASON)
    assert (returned.from_state, returned.to_state) == ("submitted", "returned_to_unit")
    assert returned.role_unit_id == world.units["committee"]
    criterion = season.changed_criterion
    first, changed = trail.rows[1].changes, trail.rows[4].changes
    assert first is not None
    assert changed is not None
    assert first["answers"][criterion]["before"] is None
    assert changed["answers"][criterion]["before"] == first["answers"][criterion]["after"]
    assert changed["answers"][criterion]["after"]["comment"] == "Đã bổ sung biên bản"
    resubmitted = trail.rows[5].changes
    assert resubmitted is not None
    assert resubmitted["round"] == 2
    assert resubmitted["answers"][criterion]["after"]["comment"] == "Đã bổ sung biên bản"
    reopened, redecided = trail.rows[8], trail.rows[9]
    assert (reopened.reason, reopened.previous_level, reopened.to_state) == (REOPEN_BASIS, "good", "reopened")
    assert (redecided.level, redecided.previous_level, redecided.reason) == ("completed", "good", REOPEN_BASIS)
    assert redecided.grant_id is not None


def test_a_deputys_decision_names_the_deputy_the_principal_the_grant_and_the_delegation(
    season: Season, store: ReadModelStore
) -> None:
    (approved,) = audit_trail(store, dossier_id=season.dossiers["cell-b"], action="Approved").rows
    assert (approved.person_id, approved.person_name) == (season.deputy, "Phó Bí thư Đảng ủy")
    assert (approved.on_behalf_of, approved.on_behalf_of_name) == (
        person_id("committee-approver"), "Thường trực Đảng ủy",
    )
    principal = season.world.engine.person(person_id("committee-approver"))
    (grant,) = principal.grants.values()
    (delegation,) = principal.delegations.values()
    assert (approved.grant_id, approved.delegation_id) == (grant.grant_id, delegation.delegation_id)
    (delegated,) = audit_trail(store, action="Person.Delegated").rows
    assert (delegated.reason, delegated.subject_person_id) == (DELEGATION_BASIS, principal.id)
    assert delegated.unit_id == season.world.units["committee"]
    # A person's trail holds what was done on their behalf.
    mine = audit_trail(store, person_id=principal.id, action="Approved", limit=1000).rows
    assert approved.position in [r.position for r in mine]


def test_a_unit_with_everything_below_it_follows_the_current_hierarchy(season: Season, store: ReadModelStore) -> None:
    units = season.world.units
    below = audit_trail(store, unit_id=units["committee-2"], limit=1000)
    dossiers = {r.dossier_id for r in below.rows} - {None}
    # cell-c was moved under committee-2 with its dossier; cell-a stays under the other committee.
    assert season.dossiers["cell-c"] in dossiers
    assert season.dossiers["cell-d"] in dossiers
    assert season.dossiers["cell-a"] not in dossiers
    own = audit_trail(store, unit_id=units["committee-2"], below_unit=False, limit=1000)
    assert {r.unit_id for r in own.rows} == {units["committee-2"]}
    assert own.total < below.total
    (moved,) = audit_trail(store, action="Unit.Moved").rows
    assert moved.reason == MOVE_REASON
    assert moved.changes == {
        "parent_id": {"before": str(units["committee"]), "after": str(units["committee-2"])},
        "effective_from": "2025-03-15",
    }
    district = audit_trail(store, unit_id=units["district"])
    assert district.total == audit_trail(store, unit_id=units["district"], year=None).total
    assert {r.dossier_id for r in audit_trail(store, unit_id=units["district"], limit=10_000).rows} >= set(
        season.dossiers.values()
    )


def test_the_quota_decisions_are_in_the_trail_with_their_figures(season: Season, store: ReadModelStore) -> None:
    lists = audit_trail(store, action="DecisionsRecorded", unit_id=season.world.units["district"], below_unit=False)
    figures = [r.changes["figures"] for r in lists.rows if r.changes is not None]
    assert [{"group": "agencies", "good_or_better": 10, "excellent": 2, "cap": 2}] in figures


def test_a_claim_on_a_code_or_username_is_a_row_beside_the_registration_it_was_saved_with(
    season: Season, store: ReadModelStore
) -> None:
    rows = _everything(store)
    claims = [r for r in rows if r.action == "NameClaim.Claimed"]
    registrations = [r for r in rows if r.action in ("Unit.Registered", "Person.Registered")]
    assert len(claims) == len(registrations)
    (unit_claim,) = audit_trail(store, action="NameClaim.Claimed", unit_id=season.world.units["committee-2"],
                                below_unit=False).rows
    assert unit_claim.label == "reserved the code or username in every letter case"
    assert unit_claim.changes == {"kind": "code", "name": "committee-2"}
    assert unit_claim.person_id == season.world.admin.person_id
    (person_claim,) = [r for r in claims if r.subject_person_id == person_id("deputy")]
    assert person_claim.changes == {"kind": "username", "name": "deputy"}
    assert person_claim.unit_id is None
    # Each saved with its registration, after it: the same unit or person, the same moment.
    registered = {(r.unit_id if r.action == "Unit.Registered" else r.subject_person_id): r for r in registrations}
    for claim in claims:
        registration = registered[claim.unit_id or claim.subject_person_id]
        assert (registration.recorded_at, registration.person_id) == (claim.recorded_at, claim.person_id)
        assert registration.position < claim.position


def test_filters_by_time_year_and_pages_combine(season: Season, store: ReadModelStore) -> None:
    everything = _everything(store)
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    before = audit_trail(store, until=moment, limit=10_000)
    after = audit_trail(store, since=moment, limit=10_000)
    assert before.total + after.total == len(everything)
    assert all(r.recorded_at <= moment for r in before.rows)
    paged = [r for offset in range(0, len(everything), 13) for r in audit_trail(store, offset=offset, limit=13).rows]
    assert paged == everything
    assert audit_trail(store, year=2024, limit=10_000).total == len([r for r in everything if r.year == 2024])
    assert audit_trail(store, year=2031).total == 0


def test_a_dossiers_trail_as_of_a_moment_stops_there(season: Season, store: ReadModelStore) -> None:
    cell_a = season.dossiers["cell-a"]
    as_decided = audit_trail(store, dossier_id=cell_a, as_of=datetime(2025, 1, 31, tzinfo=UTC))
    assert as_decided.rows[-1].action == "Dossier.Approved"
    assert as_decided.rows[-1].level == "good"
    assert audit_trail(store, dossier_id=cell_a).total == as_decided.total + 2


def test_the_csv_export_has_one_header_and_a_line_per_row_in_the_original_script(
    season: Season, store: ReadModelStore
) -> None:
    out = io.StringIO()
    written = audit_csv(store, out, unit_id=season.world.units["committee"])
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert lines[0] == list(COLUMNS)
    assert len(lines) == written + 1 == audit_trail(store, unit_id=season.world.units["committee"]).total + 1
    by_name = [dict(zip(COLUMNS, line, strict=True)) for line in lines[1:]]
    returned = next(r for r in by_name if r["action"] == "Dossier.ReturnedToUnit")
    assert returned["reason"] == RETURN_REASON
    assert returned["person_name"] == "Ban Tổ chức Đảng ủy"
    assert json.loads(returned["changes"]) == {"round": 1}
    with pytest.raises(TypeError, match="unknown audit filter"):
        audit_csv(store, io.StringIO(), unit="x")


@pytest.mark.parametrize("page_size", [1, 7])
def test_pages_of_any_size_give_the_same_rows(season: Season, store: ReadModelStore, page_size: int) -> None:
    assert dump(fed(season.world.engine, AuditProjection(), page_size=page_size), "audit") == dump(store, "audit")


def test_fed_live_a_few_events_at_a_time_it_equals_the_read_model_rebuilt_from_scratch(
    season: Season, store: ReadModelStore
) -> None:
    engine = season.world.engine
    log = RecorderLog(engine.recorder, engine.mapper)
    live = ReadModelStore(make_engine("sqlite://"), [AuditProjection()])
    shuffler = random.Random(7)
    position = 0
    while position < log.head():
        position = min(log.head(), position + shuffler.randint(1, 40))
        Runner(live, PrefixLog(log, position), page_size=shuffler.choice([3, 11, 500])).catch_up()
    assert dump(live, "audit") == dump(store, "audit")


def test_on_both_backends_every_row_carries_its_events_chain_hash(backend: Backend) -> None:
    season = play_season(backend.env)
    engine = season.world.engine
    try:
        url = "sqlite:///" + backend.location + ".read.sqlite"
        if backend.name == "postgres":
            url = backend.location.replace("postgresql://", "postgresql+psycopg://", 1)
        on_backend = fed(engine, AuditProjection(), url=url)
        rows = _everything(on_backend)
        logged = RecorderLog(engine.recorder, engine.mapper).read(0, 10_000)
        # As the chain table holds them (the log reads them with the events, in one statement on PostgreSQL), and
        # on a page that starts past the first event too.
        links = engine.recorder.select_chain_links(None, logged[-1].position, 10_000)
        assert [e.chain_hash for e in logged] == [link.hash for link in links]
        later = RecorderLog(engine.recorder, engine.mapper).read(logged[40].position, 7)
        assert [(e.position, e.chain_hash) for e in later] == [(e.position, e.chain_hash) for e in logged[41:48]]
        assert [r.chain_hash for r in rows] == [e.chain_hash for e in logged]
        assert all(r.chain_hash for r in rows)
        assert rows == _everything(fed(engine, AuditProjection()))
        on_backend.engine.dispose()
    finally:
        engine.close()


def _searches(season: Season) -> list[dict[str, object]]:
    units = season.world.units
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        {},
        {"unit_id": units["district"]},
        {"unit_id": units["committee-2"]},
        {"unit_id": units["district"], "action": "Dossier.Approved"},
        {"unit_id": units["district"], "action": "Approved"},
        {"unit_id": units["district"], "year": 2024},
        {"unit_id": units["district"], "since": moment},
        {"unit_id": units["district"], "until": moment, "action": "Dossier.Submitted", "year": 2024},
        {"unit_id": units["committee"], "below_unit": False},
        {"action": "Dossier.ReturnedToUnit"},
        {"year": 2031},
        {"since": moment},
    ]


@pytest.mark.parametrize("lead_limit", [0, 1_000_000])
def test_every_search_finds_the_same_rows_whichever_index_leads_it(
    season: Season, store: ReadModelStore, lead_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = _everything(store)
    wanted = [audit_trail(store, limit=10_000, **search).rows for search in _searches(season)]  # type: ignore[arg-type]
    # 0: no filter ever leads, every search walks the log in position order; a million: the fewest rows always lead.
    monkeypatch.setattr("projections.models.audit.LEAD_LIMIT", lead_limit)
    for search, rows in zip(_searches(season), wanted, strict=True):
        found = audit_trail(store, limit=10_000, **search)  # type: ignore[arg-type]
        assert found.rows == rows, search
        assert found.total == len(rows)
        assert [r.position for r in iter_audit(store, chunk=7, **search)] == [r.position for r in rows]
    assert len(wanted[0]) == len(everything)
    assert wanted[7]
    assert all(r.year == 2024 and r.action == "Dossier.Submitted" for r in wanted[7])
    assert wanted[3]
    assert wanted[3] == wanted[4]
    assert wanted[10] == ()


def test_a_page_after_a_position_and_before_one_are_the_pages_next_to_it(
    season: Season, store: ReadModelStore
) -> None:
    district = season.world.units["district"]
    pages = [audit_trail(store, unit_id=district, offset=offset, limit=9) for offset in (0, 9, 18)]
    assert all(len(p.rows) == 9 for p in pages)
    assert (pages[0].earlier, pages[0].more, pages[1].earlier, pages[1].more) == (False, True, True, True)
    following = audit_trail(store, unit_id=district, after=pages[1].rows[-1].position, limit=9)
    assert following.rows == pages[2].rows
    assert (following.earlier, following.more) == (True, True)
    previous = audit_trail(store, unit_id=district, before=pages[1].rows[0].position, limit=9)
    assert previous.rows == pages[0].rows
    assert (previous.earlier, previous.more) == (False, True)
    last = audit_trail(store, unit_id=district, limit=10_000).rows[-1].position
    assert audit_trail(store, unit_id=district, after=last, limit=9).rows == ()
    assert not audit_trail(store, unit_id=district, after=last - 1, limit=9).more


@pytest.mark.parametrize("lead_limit", [1, 5, 40, 1_000_000])
def test_a_capped_count_is_right_whether_the_units_index_counted_it_or_not(
    season: Season, store: ReadModelStore, lead_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    district = season.world.units["district"]
    matching = len(audit_trail(store, unit_id=district, limit=10_000).rows)
    assert matching > 40
    monkeypatch.setattr("projections.models.audit.LEAD_LIMIT", lead_limit)
    for count_limit in (3, 20, 10_000):
        trail = audit_trail(store, unit_id=district, limit=5, count_limit=count_limit)
        assert (trail.total, trail.total_exact) == (min(matching, count_limit), matching <= count_limit)
    assert audit_trail(store, unit_id=district, limit=5).total == matching


def test_on_sqlite_a_search_walks_the_index_it_names_rather_than_the_one_the_planner_would_pick() -> None:
    # SQLAlchemy's SQLite compiler drops table hints: without the read models' own compiler a province's search by
    # time range sorted a hundred thousand rows of the time index to keep fifty (0.33 s at 3M events, 0.06 s after).
    engine = make_engine("sqlite://")
    metadata = MetaData()
    rows = Table("rows", metadata, Column("position", Integer, primary_key=True), Column("at", Integer),
                 Index("ix_rows_at", "at"), Index("ix_rows_walk", "position", "at"))
    metadata.create_all(engine)
    query = select(rows.c.position).where(rows.c.at > 5).order_by(rows.c.position).limit(3)
    hinted = query.with_hint(rows, "INDEXED BY ix_rows_walk", dialect_name="sqlite")
    with engine.begin() as conn:
        conn.execute(insert(rows), [{"position": p, "at": p % 10} for p in range(1, 101)])
        sql = str(hinted.compile(engine, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert "ix_rows_walk" in plan
        assert [p for (p,) in conn.execute(hinted)] == [6, 7, 8]
    assert "INDEXED BY ix_rows_walk" in str(hinted.compile(engine))
    engine.dispose()
