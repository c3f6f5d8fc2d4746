"""The engine's transcoder writes, byte for byte, what the library's JSONTranscoder writes."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import reduce
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, Transcoding, TranscodingNotRegisteredError

import workflow.store
from domain.actor import Actor
from domain.decisions import DecisionAct, DecisionEntry
from domain.person import Delegation, Grant
from domain.unit import UnitVersion
from domain.values import Answer, Classification, Evidence, Grade, Role
from tests.application.conftest import build_world
from tests.application.helpers import decided, endorsed
from workflow.store import TRANSCODED_DATACLASSES, TRANSCODED_ENUMS, FastJSONTranscoder
from workflow.store.transcodings import DataclassAsDict


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


def test_every_character_is_escaped_as_the_library_escapes_it() -> None:
    plain, fast = _both()
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert fast.encode({"text": every, every[:300]: "key"}) == plain.encode({"text": every, every[:300]: "key"})
    for c in range(0x80):
        assert fast.encode({"c": chr(c)}) == plain.encode({"c": chr(c)})


class _Label(str):
    pass


class _LabelAsText(Transcoding):
    """A transcoding json never uses (it writes a str subclass itself): the fast path must not use it either."""

    type = _Label
    name = "label"

    def encode(self, obj: _Label) -> str:
        return f"label:{obj}"

    def decode(self, data: str) -> _Label:
        return _Label(data)


@pytest.mark.parametrize(
    ("case", "value"),
    [
        ("a float", {"x": 1e16, "y": [0.1, -0.0, 1.5e-7]}),
        ("a float that is not finite", {"x": float("nan"), "y": float("inf")}),
        ("an int beyond 64 bits", {"x": 2**64 + 1, "y": -(2**70)}),
        ("keys that are not strings", {1: "one", None: "none", False: "no", 2.5: "half"}),
        ("a str subclass", {"x": _Label("a")}),
        ("a dict subclass", {"x": OrderedDict(b=1, a=2)}),
        ("a tuple", {"x": (1, "two", None)}),
        ("nesting deeper than 255", {"x": reduce(lambda inner, _: [inner], range(300), [])}),
    ],
)
def test_what_the_fast_path_cannot_say_exactly_is_written_by_the_librarys_path(case: str, value: Any) -> None:
    plain, fast = _both()
    for transcoder in (plain, fast):
        transcoder.register(_LabelAsText())
    assert fast.encode(value) == plain.encode(value), case


def test_a_string_that_is_not_valid_unicode_is_refused_as_the_library_refuses_it() -> None:
    plain, fast = _both()
    with pytest.raises(UnicodeEncodeError):
        plain.encode({"x": "\udc80"})
    with pytest.raises(UnicodeEncodeError):
        fast.encode({"x": "\udc80"})


def test_a_value_without_a_transcoding_deep_inside_is_refused_as_the_library_refuses_it() -> None:
    _, fast = _both()
    actor = Actor(person_id=uuid4(), role=Role.APPROVER, unit_id=uuid4())
    with pytest.raises(TranscodingNotRegisteredError):
        fast.encode({"value": [actor, {"deep": [object()]}]})


class _AnswerAsText(DataclassAsDict):
    """A dataclass transcoding of its own making: the fast path must use its encode, not the generic fields'."""

    def encode(self, obj: Any) -> dict[str, Any]:
        return {"text": repr(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return data["text"]


def test_a_transcoding_that_encodes_in_its_own_way_is_written_as_the_library_writes_it() -> None:
    plain, fast = JSONTranscoder(), FastJSONTranscoder()
    for transcoder in (plain, fast):
        transcoder.register(_AnswerAsText(Answer, name="answer_text"))
    value = {"answer": Answer(grade=Grade.GOOD, comment="ok")}
    assert fast.encode(value) == plain.encode(value)
