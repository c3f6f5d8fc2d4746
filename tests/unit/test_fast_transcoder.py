"""The engine's transcoder writes, byte for byte, what the library's JSONTranscoder writes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

import workflow.store
from domain.actor import Actor
from domain.decisions import DecisionAct, DecisionEntry
from domain.person import Delegation, Grant
from domain.unit import UnitVersion
from domain.values import Answer, Classification, Evidence, Grade, Role
from tests.application.conftest import build_world
from tests.application.helpers import decided, endorsed
from workflow.store import TRANSCODED_DATACLASSES, TRANSCODED_ENUMS, FastJSONTranscoder


def _both() -> tuple[JSONTranscoder, FastJSONTranscoder]:
    plain, fast = JSONTranscoder(), FastJSONTranscoder()
    workflow.store.register_transcodings(plain)
    workflow.store.register_transcodings(fast)
    return plain, fast


def _values() -> list[Any]:
    actor = Actor(person_id=uuid4(), role=Role.APPROVER, unit_id=uuid4(), on_behalf_of=uuid4())
    samples: list[Any] = [
        actor,
        Answer(grade=Grade.GOOD, points=Decimal("7.25"), met=True, sub_items={"2.1": True}, comment="ok \"quoted\"\n"),
        Answer(),
        Evidence(sha256="ab" * 32, name="biên bản.pdf", size=12345, media_type="application/pdf"),
        UnitVersion(date(2024, 7, 1), "Chi bộ Kho bạc Nhà nước", uuid4(), True),
        Grant(uuid4(), Role.REVIEWER, uuid4(), date(2024, 1, 1), None, "QĐ 12", revoked_on=date(2024, 6, 1)),
        Delegation(uuid4(), uuid4(), uuid4(), date(2024, 1, 1), date(2024, 2, 1), "QĐ 13"),
        DecisionEntry(uuid4(), uuid4(), "wards", Classification.GOOD, True),
        DecisionAct("125-QĐ/HU", date(2024, 12, 27)),
        uuid4(),
        datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        date(2024, 12, 31),
        Decimal("-0.10"),
        Decimal("1E+3"),
        "chữ \u2028 \x00 \\",
        1.5,
        None,
        [True, 2, [actor, {"nested": actor}]],
    ]
    samples.extend(member for enum_class in TRANSCODED_ENUMS for member in enum_class)
    assert {type(v) for v in samples} >= set(TRANSCODED_DATACLASSES)
    return samples


def test_every_transcoded_value_is_written_as_the_library_writes_it() -> None:
    plain, fast = _both()
    values = _values()
    for value in values:
        assert fast.encode({"value": value}) == plain.encode({"value": value})
    everything = {"all": values, "again": values}
    assert fast.encode(everything) == plain.encode(everything)
    assert fast.decode(fast.encode(everything)) == plain.decode(plain.encode(everything))


def test_a_value_without_a_transcoding_is_refused_as_the_library_refuses_it() -> None:
    _, fast = _both()
    with pytest.raises(TranscodingNotRegisteredError):
        fast.encode({"value": object()})


def test_the_engine_stores_what_the_librarys_transcoder_would_have_stored() -> None:
    world = build_world()
    decided(world, "cell-a", Classification.GOOD)
    # A decision with its act: the events of version 2 carry a DecisionAct.
    world.engine.approve(world.district_approver, endorsed(world, "treasury"), act_number="125-QĐ/HU")
    endorsed(world, "cell-b", Classification.GOOD)
    engine = world.engine
    assert isinstance(engine.mapper.transcoder, FastJSONTranscoder)
    plain, _ = _both()
    notifications = engine.recorder.select_notifications(start=1, limit=10_000)
    assert len(notifications) > 20
    for notification in notifications:
        assert plain.encode(plain.decode(notification.state)) == notification.state
