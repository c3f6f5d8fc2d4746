"""A decision list (or a single decision) is taken by an act: its number, unique per deciding body and period, and its
date, recorded with every decision of it; events recorded before acts existed read back with none."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import pytest

from domain.decisions import DecisionAct, DecisionBook
from domain.dossier import Dossier
from domain.errors import AlreadyExists, InvalidInput
from domain.ids import decision_book_id
from domain.values import Classification, DossierState
from tests.application.conftest import World
from tests.application.helpers import endorsed
from workflow.engine import DecisionRequest

GOOD = Classification.GOOD


def _act_of(world: World, did: Any) -> DecisionAct | None:
    act: DecisionAct | None = world.engine.dossier(did).decision["act"]
    return act


def test_a_decision_list_records_its_act_number_and_date_with_every_decision(world: World) -> None:
    cells = [endorsed(world, "cell-a"), endorsed(world, "cell-b")]
    world.engine.decide_list(
        world.committee_approver, [DecisionRequest(d) for d in cells],
        act_number="  125-QĐ/ĐU ", act_date=date(2024, 10, 30),
    )
    assert [_act_of(world, d) for d in cells] == [DecisionAct("125-QĐ/ĐU", date(2024, 10, 30))] * 2
    book = world.engine._book_view(world.units["committee"], 2024)
    assert book is not None
    assert book.act_day("125-qđ/đu") == date(2024, 10, 30)


def test_an_act_without_a_date_is_dated_today_in_vietnam(world: World) -> None:
    did = endorsed(world, "treasury")
    world.engine.approve(world.district_approver, did, act_number="7-QĐ/HU")
    assert _act_of(world, did) == DecisionAct("7-QĐ/HU", date(2024, 11, 1))


def test_a_decision_without_a_number_records_no_act(world: World) -> None:
    did = endorsed(world, "treasury")
    world.engine.approve(world.district_approver, did)
    assert _act_of(world, did) is None


def test_a_number_already_taken_by_the_same_deciding_body_in_the_period_is_refused_and_nothing_changes(
    world: World,
) -> None:
    world.engine.decide_list(world.committee_approver, [DecisionRequest(endorsed(world, "cell-a"))],
                             act_number="125-QĐ/HỦ")
    other = endorsed(world, "cell-b")
    # The same number, however typed: another case, spaces around, the tone mark typed apart from its letter.
    for typed in ("125-qđ/hủ", " 125-QĐ/HỦ  ", unicodedata.normalize("NFD", "125-QĐ/HỦ")):
        with pytest.raises(AlreadyExists, match=r"decision number .* is already taken by an act of 2024-11-01"):
            world.engine.decide_list(world.committee_approver, [DecisionRequest(other)], act_number=typed)
    assert world.engine.dossier(other).state is DossierState.ENDORSED


def test_the_same_number_is_free_for_another_deciding_body(world: World) -> None:
    world.engine.decide_list(world.committee_approver, [DecisionRequest(endorsed(world, "cell-a"))],
                             act_number="12-QĐ")
    did = endorsed(world, "treasury")
    world.engine.approve(world.district_approver, did, act_number="12-QĐ")
    assert _act_of(world, did) == DecisionAct("12-QĐ", date(2024, 11, 1))


@pytest.mark.parametrize(
    ("number", "day", "refusal"),
    [
        ("125-QĐ/HU", date(2024, 11, 2), "is after today"),
        ("125-QĐ/HU", date(2023, 12, 31), "before the period 2024 began"),
        ("", date(2024, 10, 1), "the number is missing"),
        ("125-QĐ\n/HU", None, "LINE FEED"),
        ("125\u200b-QĐ/HU", None, "not printed"),
        ("1" * 51, None, "at most 50"),
    ],
)
def test_a_bad_act_is_refused_clearly_and_nothing_is_decided(
    world: World, number: str, day: date | None, refusal: str
) -> None:
    did = endorsed(world, "treasury")
    with pytest.raises(InvalidInput, match=refusal):
        world.engine.approve(world.district_approver, did, act_number=number, act_date=day)
    assert world.engine.dossier(did).state is DossierState.ENDORSED


def _without_act(world: World, event: Any) -> Any:
    """The event as version 1 stored it: no act, no class version; read back through the engine's mapper."""
    mapper = world.engine.mapper
    stored = mapper.to_stored_event(event)
    state = mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    state.pop("act")
    old = type(stored)(stored.originator_id, stored.originator_version, stored.topic, mapper.transcoder.encode(state))
    return mapper.to_domain_event(old)


def test_decisions_recorded_before_acts_existed_read_back_without_an_act(world: World) -> None:
    did = endorsed(world, "treasury")
    world.engine.approve(world.district_approver, did, act_number="1-QĐ")
    approved = next(e for e in world.engine.repository.event_store.get(did) if isinstance(e, Dossier.Approved))
    recorded = next(
        e for e in world.engine.repository.event_store.get(decision_book_id(world.units["district"], 2024))
        if isinstance(e, DecisionBook.DecisionsRecorded)
    )
    for event in (approved, recorded):
        old = _without_act(world, event)
        assert old.act is None
        assert old.originator_id == event.originator_id


def test_a_snapshot_of_a_book_taken_before_acts_existed_has_no_act_and_takes_any_number(world: World) -> None:
    did = endorsed(world, "treasury")
    world.engine.approve(world.district_approver, did)
    book = world.engine._book_view(world.units["district"], 2024)
    assert book is not None
    snapshot = DecisionBook.Snapshot.take(book)
    state = dict(snapshot.state)
    assert state.pop("class_version") == 2
    state.pop("acts")
    old = DecisionBook.Snapshot(
        originator_id=snapshot.originator_id, originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp, topic=snapshot.topic, state=state,
    )
    restored = old.mutate(None)
    assert restored.acts == {}
    assert restored.entries == book.entries
