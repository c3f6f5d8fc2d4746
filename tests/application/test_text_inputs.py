"""Text that enters the record (names, reasons, legal bases, notes, comments) cannot carry characters that would forge
or disguise what is later printed; a refusal says which character and records nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from uuid import UUID

import pytest

from domain.errors import InvalidInput
from domain.ids import person_id
from domain.messages import N_, Message
from domain.text import clean_text, is_refused_character
from domain.values import Answer, Classification, Grade, Role, UnitKind
from tests.application.conftest import World
from tests.application.helpers import decided, draft, endorsed

FORGING = [
    pytest.param("ok\nv9   2025-01-01 00:00  Approved (endorsed -> approved)", id="line feed"),
    pytest.param("ok\rover", id="carriage return"),
    pytest.param("red \x1b[31mtext", id="escape sequence"),
    pytest.param("nul\x00byte", id="NUL"),
    pytest.param("bell\x07", id="BEL"),
    pytest.param("c1 \x9b control", id="C1 control"),
    pytest.param("line\u2028separator", id="line separator"),
    pytest.param("para\u2029separator", id="paragraph separator"),
    pytest.param("abc\u202edcb", id="right-to-left override"),
    pytest.param("abc\u2067isolate\u2069", id="bidi isolate"),
    pytest.param("undecodable \udcff byte", id="lone surrogate"),
    # What a web form's decoder leaves of bytes that were not UTF-8: the text as sent is lost.
    pytest.param("undecodable \ufffd\ufffd bytes", id="replacement character"),
]

Act = Callable[[str], object]
# Sets a command up (a draft to withdraw, a decision to re-open), then gives the step that takes the text.
TextCommand = Callable[[World], Act]


def _rename(world: World) -> Act:
    return lambda text: world.engine.rename_unit(
        world.admin, world.units["treasury"], name=text, effective_from=date(2024, 6, 1), reason="QĐ 6"
    )


def _register_unit_named(world: World) -> Act:
    return lambda text: world.engine.register_unit(
        world.admin,
        code="new-cell",
        name=text,
        kind=UnitKind.PARTY_CELL,
        parent_id=world.units["committee"],
        established_on=date(2024, 1, 1),
    )


def _register_unit_coded(world: World) -> Act:
    return lambda text: world.engine.register_unit(
        world.admin,
        code=text,
        name="Chi bộ mới",
        kind=UnitKind.PARTY_CELL,
        parent_id=world.units["committee"],
        established_on=date(2024, 1, 1),
    )


def _move(world: World) -> Act:
    return lambda text: world.engine.move_unit(
        world.admin,
        world.units["cell-a"],
        parent_id=world.units["district"],
        effective_from=date(2024, 6, 1),
        reason=text,
    )


def _dissolve(world: World) -> Act:
    return lambda text: world.engine.dissolve_unit(
        world.admin, world.units["cell-b"], effective_from=date(2024, 6, 1), reason=text
    )


def _register_person_named(world: World) -> Act:
    return lambda text: world.engine.register_person(world.admin, username="new-person", full_name=text)


def _register_person_username(world: World) -> Act:
    return lambda text: world.engine.register_person(world.admin, username=text, full_name="Người mới")


def _grant(world: World) -> Act:
    return lambda text: world.engine.grant_role(
        world.admin,
        person_id("auditor"),
        role=Role.AUDITOR,
        unit_id=world.units["committee"],
        valid_from=date(2024, 1, 1),
        basis=text,
    )


def _grant_of(world: World, username: str) -> UUID:
    return next(iter(world.engine.person(person_id(username)).grants.values())).grant_id


def _revoke(world: World) -> Act:
    pid = person_id("auditor")
    return lambda text: world.engine.revoke_role(
        world.admin, pid, _grant_of(world, "auditor"), on=date(2024, 6, 1), reason=text
    )


def _delegate(world: World) -> Act:
    principal = person_id("district-approver")
    return lambda text: world.engine.delegate(
        world.admin,
        principal,
        _grant_of(world, "district-approver"),
        deputy_id=person_id("district-reviewer"),
        valid_from=date(2024, 11, 1),
        valid_to=date(2024, 12, 31),
        legal_basis=text,
    )


def _close_period(world: World) -> Act:
    return lambda text: world.engine.close_period(world.admin, 2024, reason=text)


def _comment(world: World) -> Act:
    did = draft(world, "treasury")
    return lambda text: world.engine.record_answers(
        world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.GOOD, comment=text)}
    )


def _attach(world: World) -> Act:
    did = draft(world, "treasury")
    return lambda text: world.engine.attach_evidence(
        world.secretary("treasury"), did, name=text, data=b"minutes of the meeting"
    )


def _withdraw(world: World) -> Act:
    did = draft(world, "treasury")
    return lambda text: world.engine.withdraw(world.secretary("treasury"), did, reason=text)


def _return_to_unit(world: World) -> Act:
    did = draft(world, "treasury")
    world.engine.submit(world.secretary("treasury"), did)
    return lambda text: world.engine.return_to_unit(world.district_reviewer, did, reason=text)


def _endorse_note(world: World) -> Act:
    did = draft(world, "treasury")
    world.engine.submit(world.secretary("treasury"), did)
    return lambda text: world.engine.endorse(world.district_reviewer, did, note=text)


def _endorse_lower(world: World) -> Act:
    did = draft(world, "treasury")
    world.engine.submit(world.secretary("treasury"), did)
    return lambda text: world.engine.endorse(world.district_reviewer, did, level=Classification.COMPLETED, reason=text)


def _approve(world: World) -> Act:
    did = endorsed(world, "treasury")
    return lambda text: world.engine.approve(world.district_approver, did, reason=text)


def _return_to_committee(world: World) -> Act:
    did = endorsed(world, "treasury")
    return lambda text: world.engine.return_to_committee(world.district_approver, did, reason=text)


def _reopen(world: World) -> Act:
    did = decided(world, "treasury")
    return lambda text: world.engine.reopen(world.district_approver, did, legal_basis=text)


ENTRY_POINTS: list[TextCommand] = [
    _rename,
    _register_unit_named,
    _register_unit_coded,
    _move,
    _dissolve,
    _register_person_named,
    _register_person_username,
    _grant,
    _revoke,
    _delegate,
    _close_period,
    _comment,
    _attach,
    _withdraw,
    _return_to_unit,
    _endorse_note,
    _endorse_lower,
    _approve,
    _return_to_committee,
    _reopen,
]
MULTILINE = {_comment, _endorse_note}


def _events(world: World) -> int:
    return world.engine.recorder.max_notification_id() or 0


# A comment and a committee's note are free text that may keep their own lines (the report escapes them).
REFUSALS = [
    pytest.param(command, text.values[0], id=f"{text.id}-{command.__name__.strip('_')}")
    for command in ENTRY_POINTS
    for text in FORGING
    if not (command in MULTILINE and text.id == "line feed")
]


@pytest.mark.parametrize(("command", "text"), REFUSALS)
def test_text_with_a_forging_character_is_refused_by_every_command_and_records_nothing(
    world: World, command: TextCommand, text: str
) -> None:
    act = command(world)
    before = _events(world)
    with pytest.raises(InvalidInput, match=r"U\+[0-9A-F]{4}"):
        act(text)
    assert _events(world) == before


@pytest.mark.parametrize("command", [pytest.param(c, id=c.__name__.strip("_")) for c in ENTRY_POINTS])
def test_every_command_that_takes_text_accepts_ordinary_vietnamese_text(world: World, command: TextCommand) -> None:
    act = command(world)
    before = _events(world)
    text = "Theo Quyết định số 12-QĐ/HU ngày 1/3/2025 của Ban Thường vụ Huyện ủy"
    # A unit code takes every character of this sentence but '/', which separates it from the year in a reference;
    # a username is one word of them (typed at every sign-in, named on command lines).
    if command is _register_unit_coded:
        text = text.replace("/", "-")
    elif command is _register_person_username:
        text = "".join(text.split()).replace("/", "-")
    act(text)
    assert _events(world) > before


def test_a_comment_and_a_committee_note_may_keep_their_own_lines_and_tabs(world: World) -> None:
    did = draft(world, "treasury")
    comment = "Đạt:\n\t- nghị quyết số 1\n\t- nghị quyết số 2"
    world.engine.record_answers(
        world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.GOOD, comment=comment)}
    )
    assert world.engine.dossier(did).answers["leadership_of_tasks"].comment == comment


def test_the_refusal_names_the_character_and_where_it_is() -> None:
    with pytest.raises(InvalidInput) as refused:
        clean_text("Chi bộ\nv9 Approved", "a unit's name")
    assert str(refused.value) == (
        "a unit's name contains U+000A LINE FEED at character 7; control and line-breaking characters are not accepted"
    )
    assert "\n" not in str(refused.value)


def test_a_refused_comment_is_named_by_its_criterion(world: World) -> None:
    # The name is made only when the text is refused: it must still name the criterion the comment belongs to.
    did = draft(world, "treasury")
    with pytest.raises(InvalidInput) as refused:
        world.engine.record_answers(
            world.secretary("treasury"), did,
            answers={"leadership_of_tasks": Answer(grade=Grade.GOOD, comment="tốt\x1b[2J")},
        )
    assert str(refused.value).startswith("the comment on leadership_of_tasks contains U+001B ESCAPE")


def test_a_text_named_by_a_function_is_named_only_when_refused() -> None:
    asked: list[str] = []

    def name() -> Message:
        asked.append("asked")
        return Message(N_("the comment on %(criterion)s"), criterion="c1")

    assert clean_text("  đạt  ", name) == "đạt"
    assert asked == []
    with pytest.raises(InvalidInput) as refused:
        clean_text("đạt\x07", name)
    assert asked == ["asked"]
    assert str(refused.value).startswith("the comment on c1 contains U+0007")


@pytest.mark.parametrize(
    "text",
    ["Đảng bộ xã Tả Ngài Chồ", "Chi bộ Tổ dân phố 1 (khu 2) — “Kim Tân”", "القسم", "עברית\u200f", "中文 名"],
)
def test_names_in_any_script_are_accepted_as_they_are(text: str) -> None:
    assert clean_text(f"  {text}  ", "a unit's name") == text


def test_every_refused_character_is_refused_alone_and_inside_printable_text() -> None:
    # clean_text clears printable text without walking it; this holds only while no refused character is printable.
    refused = [chr(c) for c in range(0x110000) if is_refused_character(chr(c))]
    assert {"\u202e", "\x1b", "\u2028", "\ud800"} <= set(refused)
    for char in refused:
        with pytest.raises(InvalidInput):
            clean_text(f"Chi bộ{char}Kim Tân", "a unit's name")
