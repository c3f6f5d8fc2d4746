from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from domain.actor import Actor
from domain.ids import person_id
from domain.values import DossierState, Role
from projections.core import Projection
from projections.models.access import (
    WaitingRule,
    access_history,
    archive,
    authorities,
    queues,
    role_holders,
    who_could_act,
)
from projections.models.dossiers import STEP_OF_STATE
from projections.store import ReadModelStore, make_engine
from tests.application.conftest import World, build_world
from tests.application.helpers import draft, endorsed
from tests.conftest import Backend
from tests.integration.read_models_world import (
    Season,
    authorities_on,
    engine_who_could_act,
    feed,
    open_store,
    people,
    play_season,
    projections,
    rules_from_spec,
    waiting_for,
)
from workflow.clock import end_of_day, local_date
from workflow.spec import SPECS

RULES = rules_from_spec(SPECS[1])
Played = tuple[World, Season, ReadModelStore]


@pytest.fixture(scope="module")
def played() -> Played:
    world = build_world()
    season = play_season(world)
    store = ReadModelStore(make_engine("sqlite://"), projections_all())
    feed(store, world)
    return world, season, store


def projections_all() -> list[Projection]:
    return projections()


def test_rules_come_from_the_spec_with_each_roles_scope_and_states() -> None:
    by_trigger = {r.trigger: r for r in RULES}
    assert by_trigger["submit"] == WaitingRule(
        "submit", Role.SECRETARY, "own", frozenset({DossierState.DRAFT}), False
    )
    assert by_trigger["endorse"].scope == "direct"
    assert by_trigger["endorse"].states == {DossierState.SUBMITTED, DossierState.RETURNED_TO_COMMITTEE}
    assert by_trigger["approve"].independent
    assert by_trigger["approve"].when_closed_from == {DossierState.REOPENED}
    assert by_trigger["mark_not_rated"].states == {
        DossierState.SUBMITTED, DossierState.ENDORSED, DossierState.REOPENED
    }


def check_queues_match_available_actions(world: World, season: Season, store: ReadModelStore) -> int:
    """For every authority valid today and every dossier: in that queue iff the engine offers that actor a
    waiting action on it. Returns how many (actor, dossier) pairs were compared."""
    today = local_date(world.clock.now)
    expected_authorities = authorities_on(world, today)
    compared = 0
    seen: set[tuple[UUID, Role, UUID, UUID | None]] = set()
    for person in people(world):
        for queue in queues(store, person.id, today, RULES):
            actor = Actor(person.id, queue.role, queue.unit_id, queue.on_behalf_of)
            seen.add((actor.person_id, actor.role, actor.unit_id, actor.on_behalf_of))
            expected = {did for did in season.dossiers.values() if waiting_for(world, actor, did)}
            assert {i.dossier_id for i in queue.items} == expected, (person.username, queue.role)
            assert queue.count == len(expected)
            since = [i.waiting_since for i in queue.items]
            assert since == sorted(since)
            for item in queue.items:
                offered = {a.trigger for a in world.engine.available_actions(actor, item.dossier_id)}
                assert set(item.triggers) <= offered
                # The deadline shown is the period's for the step the dossier waits for, as it stands now.
                step = STEP_OF_STATE.get(world.engine.dossier(item.dossier_id).state)
                assert item.deadline == (world.engine.period(item.year).deadlines.get(step) if step else None)
            compared += len(season.dossiers)
    workflow_roles = {Role.SECRETARY, Role.REVIEWER, Role.APPROVER}
    assert seen == {
        (a.person_id, a.role, a.unit_id, a.on_behalf_of) for a in expected_authorities if a.role in workflow_roles
    }
    # Every authority without a queue (an auditor, an administrator) has no waiting action anywhere either.
    for actor in expected_authorities:
        if actor.role not in workflow_roles:
            assert not any(waiting_for(world, actor, did) for did in season.dossiers.values())
    return compared


def test_queues_hold_exactly_what_the_engine_lets_each_person_do_now(played: Played) -> None:
    world, season, store = played
    assert check_queues_match_available_actions(world, season, store) > 50


def test_queues_match_the_engine_after_every_step_of_the_season() -> None:
    world = build_world()
    store = ReadModelStore(make_engine("sqlite://"), projections_all())
    checked = []

    def after_step(season: Season) -> None:
        feed(store, world, page_size=7)
        checked.append(check_queues_match_available_actions(world, season, store))

    play_season(world, after_step)
    assert len(checked) == 13


def test_nobody_reviews_what_they_submitted() -> None:
    world = build_world()
    world.person("dual", "Người hai vai", [(Role.SECRETARY, "cell-b"), (Role.REVIEWER, "committee")])
    did = draft(world, "cell-b")
    world.engine.submit(world.actor("dual", Role.SECRETARY, "cell-b"), did)
    store = ReadModelStore(make_engine("sqlite://"), projections_all())
    feed(store, world)
    today = local_date(world.clock.now)
    dual = {q.role: q for q in queues(store, person_id("dual"), today, RULES)}
    assert dual[Role.REVIEWER].count == 0
    other = {q.role: q for q in queues(store, person_id("committee-reviewer"), today, RULES)}
    assert [i.dossier_id for i in other[Role.REVIEWER].items] == [did]
    assert other[Role.REVIEWER].items[0].triggers == ("endorse", "return_to_unit")
    assert "dual" not in {c.username for c in who_could_act(store, did, world.clock.now, RULES)}


def test_a_revoked_grant_empties_its_queue_and_the_successor_has_it(played: Played) -> None:
    _, _, store = played
    assert queues(store, person_id("committee-reviewer"), date(2024, 11, 20), RULES) == []
    successor = queues(store, person_id("committee-reviewer-2"), date(2024, 11, 20), RULES)
    assert [q.role for q in successor] == [Role.REVIEWER]


def test_a_deputy_has_the_queue_of_the_grant_delegated_to_them_while_the_delegation_lasts(played: Played) -> None:
    _, _, store = played
    during = queues(store, person_id("deputy"), date(2024, 12, 1), RULES)
    assert [(q.role, q.on_behalf_of) for q in during] == [(Role.APPROVER, person_id("district-approver"))]
    assert queues(store, person_id("deputy"), date(2025, 2, 1), RULES) == []


def test_who_could_act_on_any_day_is_who_the_engines_authorization_lets_act(played: Played) -> None:
    world, season, store = played
    spec = SPECS[1]
    moments: list[datetime] = [*season.moments]
    moments += [end_of_day(date(2024, 11, 1) + timedelta(days=n)) for n in range(0, 140, 4)]
    checked = 0
    for did in season.dossiers.values():
        for moment in moments:
            found = who_could_act(store, did, moment, RULES)
            mine = {(c.person_id, c.grant_id, c.delegation_id, t) for c in found for t in c.triggers}
            assert mine == engine_who_could_act(world, spec, did, moment, season.closed_at), (did, moment)
            checked += bool(mine)
    assert checked > 100


def test_who_could_act_names_the_delegation_and_on_whose_behalf(played: Played) -> None:
    _, season, store = played
    found = who_could_act(store, season.dossiers["treasury"], date(2024, 11, 30), RULES)
    deputies = [c for c in found if c.delegation_id is not None]
    assert [(c.username, c.on_behalf_of) for c in deputies] == [("deputy", person_id("district-approver"))]
    assert "approve" in deputies[0].triggers


def test_who_could_act_uses_the_hierarchy_of_that_day(played: Played) -> None:
    # zone-cell's committee ("zone") moved under "committee" on 15 October 2024: before, the committee's approver
    # had no say over it; after, it has.
    _, season, store = played
    before = who_could_act(store, season.dossiers["zone-cell"], date(2024, 10, 14), RULES)
    after = who_could_act(store, season.dossiers["zone-cell"], date(2024, 11, 15), RULES)
    assert before == []  # not opened yet on that day
    assert "committee-approver" in {c.username for c in after}


def test_before_a_dossier_is_opened_its_role_holders_are_those_over_its_unit_in_that_days_hierarchy(
    played: Played,
) -> None:
    # Nobody could act on zone-cell's dossier before it was opened (5 November 2024); who held its roles could be
    # asked all the same, and the answer follows the move of its committee under "committee" on 15 October.
    _, season, store = played
    did = season.dossiers["zone-cell"]
    before_move = role_holders(store, did, date(2024, 10, 14), RULES)
    after_move = role_holders(store, did, date(2024, 10, 16), RULES)
    assert who_could_act(store, did, date(2024, 10, 16), RULES) == []
    assert "sec-zone-cell" in {c.username for c in before_move}
    assert "committee-approver" not in {c.username for c in before_move}
    assert {"sec-zone-cell", "committee-approver"} <= {c.username for c in after_move}
    assert all(c.triggers == () for c in before_move + after_move)
    # Only the workflow's roles, and only over the unit or above it.
    assert {c.role for c in after_move} <= {r.role for r in RULES}
    assert role_holders(store, did, date(1990, 1, 1), RULES) == []


def test_access_history_lists_revocations_and_delegations(played: Played) -> None:
    world, _, store = played
    mine = access_history(store, person_id=person_id("committee-reviewer"))
    assert [(g.role, g.revoked_on) for g in mine] == [(Role.REVIEWER, date(2024, 11, 20))]
    over_district = access_history(store, unit_id=world.units["district"])
    approver = [g for g in over_district if g.username == "district-approver"]
    assert [d.deputy_id for d in approver[0].delegations] == [person_id("deputy")]
    deputy = access_history(store, person_id=person_id("deputy"))
    assert [g.username for g in deputy] == ["district-approver"]


def test_the_archive_lists_what_a_person_acted_on_latest_first(played: Played) -> None:
    _, season, store = played
    approver = archive(store, person_id("district-approver"))
    assert [(i.dossier_id, i.last_trigger) for i in approver.items] == [(season.dossiers["treasury"], "approve")]
    reviewer = archive(store, person_id("committee-reviewer"))
    assert [(i.dossier_id, i.last_trigger) for i in reviewer.items] == [(season.dossiers["cell-a"], "return_to_unit")]
    secretary = archive(store, person_id("sec-cell-a"), limit=1)
    assert secretary.total == 1
    assert secretary.items[0].last_trigger == "resubmit"


@pytest.mark.parametrize("page_size", [1, 7, 500])
def test_pages_of_any_size_give_the_same_queues(played: Played, page_size: int) -> None:
    world, _, store = played
    other = ReadModelStore(make_engine("sqlite://"), projections_all())
    feed(other, world, page_size=page_size)
    today = local_date(world.clock.now)
    for person in people(world):
        assert queues(other, person.id, today, RULES) == queues(store, person.id, today, RULES)
        assert access_history(other, person_id=person.id) == access_history(store, person_id=person.id)


@pytest.fixture
def backend_world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


def test_queues_and_who_could_act_agree_with_the_engine_on_both_backends(
    backend_world: World, backend: Backend, tmp_path: Path
) -> None:
    season = play_season(backend_world)
    store = open_store(backend, tmp_path)
    try:
        feed(store, backend_world, page_size=7)
        check_queues_match_available_actions(backend_world, season, store)
        for did in season.dossiers.values():
            for moment in season.moments:
                found = who_could_act(store, did, moment, RULES)
                mine = {(c.person_id, c.grant_id, c.delegation_id, t) for c in found for t in c.triggers}
                assert mine == engine_who_could_act(backend_world, SPECS[1], did, moment, season.closed_at)
    finally:
        store.engine.dispose()


@pytest.fixture(scope="module")
def crowded() -> Iterator[tuple[World, ReadModelStore]]:
    """Queues and archives longer than one: both cells endorsed, so the committee's approver has two dossiers
    waiting and its reviewer acted on two."""
    world = build_world()
    endorsed(world, "cell-a")
    endorsed(world, "cell-b")
    draft(world, "treasury")
    # The committee's approver also stands in for the district's: grants of their own and a delegation to them.
    today = local_date(world.clock.now)
    holder = world.engine.person(person_id("district-approver"))
    (grant,) = holder.grants.values()
    world.engine.delegate(
        world.admin, holder.id, grant.grant_id, deputy_id=person_id("committee-approver"), valid_from=today,
        valid_to=today + timedelta(days=60), legal_basis="test",
    )
    store = ReadModelStore(make_engine("sqlite://"), projections_all())
    feed(store, world)
    yield world, store
    store.engine.dispose()
    world.engine.close()


def test_a_queue_cut_short_by_its_limit_still_counts_every_dossier_waiting(
    crowded: tuple[World, ReadModelStore],
) -> None:
    world, store = crowded
    today = local_date(world.clock.now)
    compared = 0
    for person in people(world):
        whole = queues(store, person.id, today, RULES, limit=500)
        for limit in (1, 2):
            cut = queues(store, person.id, today, RULES, limit=limit)
            assert [q.count for q in cut] == [q.count for q in whole]
            assert [q.items for q in cut] == [q.items[:limit] for q in whole]
            compared += sum(q.count > limit for q in whole)
    # Some queue must be longer than the limit, or the count of a cut queue was never compared.
    assert compared > 0


def test_the_archive_total_is_the_same_on_every_page_and_past_the_end(crowded: tuple[World, ReadModelStore]) -> None:
    world, store = crowded
    longest = 0
    for person in people(world):
        whole = archive(store, person.id, limit=500)
        longest = max(longest, whole.total)
        for limit, offset in ((1, 0), (1, 1), (2, 1), (1, whole.total), (5, whole.total + 3)):
            page = archive(store, person.id, limit=limit, offset=offset)
            assert page.total == whole.total, (person.username, limit, offset)
            assert page.items == whole.items[offset:offset + limit]
    # Someone acted on several dossiers, or no first page was ever cut short of the total.
    assert longest >= 2


def test_a_persons_authorities_are_their_grants_then_the_delegations_to_them_as_the_engine_has_them(
    played: Played, crowded: tuple[World, ReadModelStore]
) -> None:
    both_kinds = 0
    for world, store in ((played[0], played[2]), crowded):
        for day in (date(2024, 6, 1), date(2024, 12, 1), date(2025, 2, 1), local_date(world.clock.now)):
            expected = authorities_on(world, day)
            for person in people(world):
                found = authorities(store, person.id, day)
                mine = [(a.role, a.unit_id, a.on_behalf_of) for a in expected if a.person_id == person.id]
                got = [(a.role, a.unit_id, a.holder_id if a.delegation_id else None) for a in found]
                assert sorted(got, key=str) == sorted(mine, key=str), (person.username, day)
                assert all(a.holder_id == person.id for a in found if a.delegation_id is None)
                kinds = [a.delegation_id is not None for a in found]
                assert kinds == sorted(kinds), "a person's own grants come before the delegations to them"
                both_kinds += len(set(kinds)) == 2
    # Someone held both on some day, or the order was never put to the test.
    assert both_kinds > 0
