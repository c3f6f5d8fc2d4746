"""The engine's aggregate cache holds what the store holds: refused commands leave no trace, other writers are seen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from domain.decisions import DecisionBook
from domain.dossier import Dossier
from domain.errors import ConcurrencyConflict, NotAuthorized, PeriodClosed, ReasonRequired
from domain.ids import decision_book_id
from domain.values import Answer, Classification, DossierState, Grade
from tests.application.conftest import World, build_world
from tests.application.helpers import decided, draft, endorsed
from tests.conftest import Backend
from workflow.engine import Engine


@pytest.fixture
def world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


@pytest.fixture
def other(world: World, backend: Backend) -> Iterator[Engine]:
    """A second engine on the same store: another process, as far as the first one can tell."""
    engine = Engine(dict(backend.env), clock=world.clock)
    yield engine
    engine.close()


def test_a_refused_approval_leaves_no_trace_in_the_cached_decision_book(world: World) -> None:
    engine = world.engine
    decided(world, "cell-a", Classification.GOOD)
    did = endorsed(world, "cell-b", Classification.GOOD)
    book_id = decision_book_id(world.units["committee"], 2024)
    before = engine._get(DecisionBook, book_id, "decision book")

    # The book records the decision first; the dossier then refuses a level below the proposal without a reason.
    with pytest.raises(ReasonRequired):
        engine.approve(world.committee_approver, did, level=Classification.COMPLETED)

    after = engine._get(DecisionBook, book_id, "decision book")
    assert (after.version, after.entries) == (before.version, before.entries)
    assert vars(after) == vars(engine.repository.get(book_id, version=before.version))
    assert engine.dossier(did).state is DossierState.ENDORSED
    engine.approve(world.committee_approver, did)
    assert engine._get(DecisionBook, book_id, "decision book").version == before.version + 1


def test_a_copy_changed_without_saving_leaves_no_trace_in_the_cache(world: World) -> None:
    did = draft(world, "treasury")
    mine = world.engine.dossier(did)
    mine.record_answers(
        world.engine.workflow, answers={"leadership_of_tasks": Answer(grade=Grade.POOR)}, facts={},
        actor=world.secretary("treasury"), timestamp=world.clock(),
    )
    assert world.engine.dossier(did).answers["leadership_of_tasks"].grade is not Grade.POOR
    assert world.engine.dossier(did).version == mine.version - 1


def test_a_collision_on_save_makes_the_retry_read_the_store(world: World, other: Engine) -> None:
    did = draft(world, "treasury")
    stale = world.engine.dossier(did)
    other.record_answers(world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.AVERAGE)})
    stale.record_answers(
        world.engine.workflow, answers={"leadership_of_tasks": Answer(grade=Grade.EXCELLENT)}, facts={},
        actor=world.secretary("treasury"), timestamp=world.clock(),
    )
    with pytest.raises(ConcurrencyConflict):
        world.engine._save(stale)
    assert world.engine.dossier(did).answers["leadership_of_tasks"].grade is Grade.AVERAGE
    world.engine.record_answers(
        world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.EXCELLENT)}
    )
    assert other.dossier(did).answers["leadership_of_tasks"].grade is Grade.EXCELLENT


def test_a_grant_revoked_by_another_process_is_refused_at_the_next_command(world: World, other: Engine) -> None:
    secretary = world.secretary("treasury")
    did = draft(world, "treasury")
    person = other.person(secretary.person_id)
    grant = next(g for g in person.grants.values() if g.unit_id == world.units["treasury"])
    other.revoke_role(world.admin, person.id, grant.grant_id, on=date(2024, 10, 1), reason="chuyển công tác")

    with pytest.raises(NotAuthorized):
        world.engine.submit(secretary, did)


def test_a_period_closed_by_another_process_locks_its_dossiers_at_the_next_command(
    world: World, other: Engine
) -> None:
    did = draft(world, "treasury")
    assert not world.engine.period(2024).closed
    other.close_period(world.admin, 2024, reason="kết thúc đợt đánh giá")

    with pytest.raises(PeriodClosed):
        world.engine.submit(world.secretary("treasury"), did)
    assert world.engine.dossier(did).state is DossierState.DRAFT


def test_a_grant_revoked_by_another_process_between_our_read_and_our_save_is_refused_next(
    world: World, other: Engine
) -> None:
    # Our save's own events are not read back when they follow the last notification seen; here they do not (the
    # revocation came between), so the next command must still read the revocation.
    secretary = world.secretary("treasury")
    did = draft(world, "treasury")
    mine = world.engine.dossier(did)
    person = other.person(secretary.person_id)
    grant = next(g for g in person.grants.values() if g.unit_id == world.units["treasury"])
    other.revoke_role(world.admin, person.id, grant.grant_id, on=date(2024, 10, 1), reason="chuyển công tác")
    mine.record_answers(
        world.engine.workflow, answers={"leadership_of_tasks": Answer(grade=Grade.POOR)}, facts={},
        actor=secretary, timestamp=world.clock(),
    )
    assert world.engine._save(mine) > 0

    with pytest.raises(NotAuthorized):
        world.engine.submit(secretary, did)


def _race_our_next_save(world: World, other_writer: Callable[[], object], *, before: bool) -> None:
    """Make our engine's next save meet another writer's command (stored just `before` ours, or just after it) and
    a sync of our cache that reads both, once ours is stored and before it reaches the cache: as when several
    writer threads share one cache."""
    save = world.engine.save

    def save_in_a_race(*objs: Any, **kwargs: Any) -> Any:
        world.engine.save = save  # type: ignore[method-assign]
        if before:
            other_writer()
        recordings = save(*objs, **kwargs)
        if not before:
            other_writer()
        world.engine.cache.sync()
        return recordings

    world.engine.save = save_in_a_race  # type: ignore[method-assign]

@pytest.mark.parametrize("before", [True, False], ids=["stored-before-ours", "stored-after-ours"])
def test_a_save_is_cached_though_a_sync_saw_another_aggregate_change_around_it(
    world: World, other: Engine, before: bool
) -> None:
    did, elsewhere = draft(world, "treasury"), draft(world, "cell-a")
    world.engine.cache.evict([elsewhere])  # not held here: a sync seeing it change moves the generation
    _race_our_next_save(
        world,
        lambda: other.record_answers(
            world.secretary("cell-a"), elsewhere, answers={"leadership_of_tasks": Answer(grade=Grade.AVERAGE)}
        ),
        before=before,
    )
    generation = world.engine.cache.generation
    world.engine.record_answers(
        world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.EXCELLENT)}
    )
    assert world.engine.cache.generation != generation

    def no_load(*_: Any, **__: Any) -> Any:
        raise AssertionError("read from the store: the save did not reach the cache")

    world.engine.cache._reconstruct_aggregate = no_load  # type: ignore[method-assign]
    assert world.engine.dossier(did).answers["leadership_of_tasks"].grade is Grade.EXCELLENT
    assert world.engine.dossier(did).version == other.dossier(did).version


def test_a_save_is_not_cached_once_a_sync_has_seen_a_newer_version_of_it(world: World, other: Engine) -> None:
    # Another writer commands the dossier right after our save and a sync reads that before our save reaches the
    # cache: caching our version then would hide the newer one from every later read (the sync has passed it).
    did = draft(world, "treasury")
    _race_our_next_save(
        world,
        lambda: other.record_answers(
            world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.AVERAGE)}
        ),
        before=False,
    )
    world.engine.record_answers(
        world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.EXCELLENT)}
    )
    assert world.engine.dossier(did).answers["leadership_of_tasks"].grade is Grade.AVERAGE
    assert world.engine.dossier(did).version == other.dossier(did).version


def _counting_reads(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times the engine asks its event store and its snapshot store for an aggregate's records."""
    asked = {"events": 0, "snapshots": 0}
    assert engine.snapshots is not None
    for name, recorder in (("events", engine.events.recorder), ("snapshots", engine.snapshots.recorder)):

        def counted(*args: Any, _name: str = name, _select: Any = recorder.select_events, **kwargs: Any) -> Any:
            asked[_name] += 1
            return _select(*args, **kwargs)

        monkeypatch.setattr(recorder, "select_events", counted)
    return asked


def test_a_dossier_the_cache_does_not_hold_is_read_at_one_query_when_its_history_is_short(
    world: World, other: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    did = endorsed(world, "cell-a")
    asked = _counting_reads(other, monkeypatch)
    dossier = other.dossier(did)
    # A handful of events, below the first snapshot interval: no snapshot can stand for any of them.
    assert asked == {"events": 1, "snapshots": 0}
    mine = world.engine.dossier(did)
    assert (dossier.version, dossier.state, dossier.answers) == (mine.version, mine.state, mine.answers)


def test_a_dossier_with_a_long_history_is_still_read_from_its_snapshot(
    world: World, other: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    did = draft(world, "treasury")
    secretary = world.secretary("treasury")
    interval = Engine.snapshotting_intervals[Dossier]
    for n in range(interval + 2 - world.engine.dossier(did).version):
        answer = Answer(grade=Grade.GOOD, comment=f"lần {n}")
        world.engine.record_answers(secretary, did, answers={"leadership_of_tasks": answer})
    asked = _counting_reads(other, monkeypatch)
    replayed: list[int] = []
    mutate = Dossier.Event.mutate

    def counted_mutate(event: Any, aggregate: Any) -> Any:
        replayed.append(event.originator_version)
        return mutate(event, aggregate)

    monkeypatch.setattr(Dossier.Event, "mutate", counted_mutate)
    dossier = other.dossier(did)
    assert asked["snapshots"] == 1
    # Only the events after the snapshot were applied to it.
    assert replayed == [interval + 1, interval + 2]
    assert dossier.version == interval + 2
    assert dossier.answers == world.engine.dossier(did).answers


def _counting_tail_reads(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads: list[int] = []
    tail = engine.cache._tail

    def counted(after: int, limit: int) -> list[tuple[int, Any, int]]:
        reads.append(after)
        return tail(after, limit)

    monkeypatch.setattr(engine.cache, "_tail", counted)
    return reads


def test_a_head_already_heard_of_spares_the_reads_inside_their_query_of_the_log(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    secretary = world.secretary("treasury")
    world.engine.person(secretary.person_id)
    head = world.engine.recorder.max_notification_id()
    assert head == world.engine.cache.seen
    reads = _counting_tail_reads(world.engine, monkeypatch)
    with world.engine.cache.known_head(head):
        world.engine.person(secretary.person_id)
        world.engine.unit(world.units["treasury"])
    assert reads == []
    # Outside it, a use case still reads the log's tail, as every one does.
    world.engine.person(secretary.person_id)
    assert len(reads) == 1


def test_a_grant_revoked_by_another_process_past_a_known_head_is_seen_by_the_reads_inside(
    world: World, other: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    secretary = world.secretary("treasury")
    before = world.engine.person(secretary.person_id)
    grant = next(g for g in before.grants.values() if g.unit_id == world.units["treasury"])
    other.revoke_role(world.admin, before.id, grant.grant_id, on=date(2024, 10, 1), reason="chuyển công tác")
    head = other.recorder.max_notification_id()
    assert head is not None
    assert head > world.engine.cache.seen
    reads = _counting_tail_reads(world.engine, monkeypatch)
    with world.engine.cache.known_head(head):
        after = world.engine.person(secretary.person_id)
    assert len(reads) == 1
    assert after.version > before.version
    assert world.engine.cache.seen >= head


def test_a_known_head_inside_a_use_case_does_not_spare_that_use_cases_own_sync(
    world: World, other: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    secretary = world.secretary("treasury")
    world.engine.person(secretary.person_id)
    stale = world.engine.cache.seen
    other.close_period(world.admin, 2024, reason="kết thúc đợt đánh giá")
    reads = _counting_tail_reads(world.engine, monkeypatch)
    world.engine.cache.begin()
    try:
        # An enclosing unit of work has begun and not yet synced: a head read by someone else says nothing of it.
        with world.engine.cache.known_head(stale):
            assert world.engine.period(2024).closed
    finally:
        world.engine.cache.end()
    assert len(reads) == 1
