from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.actor import Actor
from domain.decisions import DecisionBook, DecisionEntry, QuotaFigures
from domain.errors import InvalidInput, InvalidTransition, QuotaExceeded
from domain.person import Person
from domain.unit import Unit
from domain.values import Classification, Role, UnitKind

T = datetime(2024, 1, 1, tzinfo=UTC)
ADMIN = Actor(uuid4(), Role.ADMINISTRATOR, uuid4())


def _unit() -> Unit:
    return Unit.register(
        code="kim-tan",
        name="Đảng bộ phường Kim Tân",
        kind=UnitKind.GRASSROOTS_COMMITTEE,
        parent_id=None,
        group="",
        established_on=date(2000, 1, 1),
        actor=ADMIN,
        timestamp=T,
    )


def test_a_unit_answers_its_name_and_parent_as_of_any_date() -> None:
    unit = _unit()
    old_parent, new_parent = uuid4(), uuid4()
    unit.move(parent_id=old_parent, effective_from=date(2010, 1, 1), reason="", actor=ADMIN, timestamp=T)
    unit.rename(
        name="Đảng bộ phường Kim Tân (mới)", effective_from=date(2024, 3, 1), reason="QĐ", actor=ADMIN, timestamp=T
    )
    unit.move(parent_id=new_parent, effective_from=date(2025, 7, 1), reason="Sắp xếp", actor=ADMIN, timestamp=T)
    assert unit.as_of(date(1999, 12, 31)) is None
    assert unit.as_of(date(2005, 1, 1)).parent_id is None  # type: ignore[union-attr]
    then = unit.as_of(date(2024, 12, 31))
    assert then is not None
    assert (then.name, then.parent_id) == ("Đảng bộ phường Kim Tân (mới)", old_parent)
    assert unit.as_of(date(2025, 7, 1)).parent_id == new_parent  # type: ignore[union-attr]


def test_a_change_dated_before_the_last_one_is_refused() -> None:
    unit = _unit()
    unit.rename(name="Tên mới", effective_from=date(2024, 3, 1), reason="QĐ", actor=ADMIN, timestamp=T)
    with pytest.raises(InvalidInput, match="before its last change"):
        unit.rename(name="Tên khác", effective_from=date(2024, 1, 1), reason="QĐ", actor=ADMIN, timestamp=T)


def test_a_dissolved_unit_takes_no_more_changes_and_is_inactive_from_that_date() -> None:
    unit = _unit()
    unit.dissolve(effective_from=date(2025, 7, 1), reason="Nghị quyết sắp xếp", actor=ADMIN, timestamp=T)
    assert unit.as_of(date(2025, 6, 30)).active  # type: ignore[union-attr]
    assert not unit.as_of(date(2025, 7, 1)).active  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition, match="dissolved"):
        unit.rename(name="x", effective_from=date(2025, 8, 1), reason="QĐ", actor=ADMIN, timestamp=T)


def test_a_parent_knows_its_children_as_of_a_date() -> None:
    parent, child = _unit(), uuid4()
    parent.attach_child(child_id=child, effective_from=date(2020, 1, 1), actor=ADMIN, timestamp=T)
    parent.detach_child(child_id=child, effective_from=date(2025, 7, 1), actor=ADMIN, timestamp=T)
    assert parent.children_as_of(date(2019, 1, 1)) == []
    assert parent.children_as_of(date(2024, 12, 31)) == [child]
    assert parent.children_as_of(date(2025, 7, 1)) == []


def test_a_grant_is_valid_only_within_its_period_and_until_revoked() -> None:
    person = Person.register(username="a", full_name="Nguyễn Văn A", actor=ADMIN, timestamp=T)
    unit, gid = uuid4(), uuid4()
    person.grant(
        grant_id=gid,
        role=Role.APPROVER,
        unit_id=unit,
        valid_from=date(2024, 1, 1),
        valid_to=date(2026, 1, 1),
        basis="",
        actor=ADMIN,
        timestamp=T,
    )
    assert person.holds(Role.APPROVER, unit, date(2023, 12, 31)) is None
    assert person.holds(Role.APPROVER, unit, date(2024, 6, 1)) is not None
    assert person.holds(Role.REVIEWER, unit, date(2024, 6, 1)) is None
    person.revoke(grant_id=gid, on=date(2025, 1, 1), reason="Nghỉ hưu", actor=ADMIN, timestamp=T)
    assert person.holds(Role.APPROVER, unit, date(2025, 1, 1)) is None
    with pytest.raises(InvalidInput, match="end after it starts"):
        person.grant(
            grant_id=uuid4(),
            role=Role.APPROVER,
            unit_id=unit,
            valid_from=date(2024, 1, 1),
            valid_to=date(2024, 1, 1),
            basis="",
            actor=ADMIN,
            timestamp=T,
        )


def _fifth(n: int) -> int:
    return n // 5


def _entry(level: Classification, *, decided: bool = True, group: str = "g") -> DecisionEntry:
    return DecisionEntry(uuid4(), uuid4(), group, level, None, decided=decided)


@pytest.mark.parametrize(("good_or_better", "cap"), [(4, 0), (5, 1), (9, 1), (10, 2)])
def test_the_decision_book_caps_excellent_at_a_fifth_of_good_or_better(good_or_better: int, cap: int) -> None:
    book = DecisionBook(superior_id=uuid4(), year=2024, actor=ADMIN, timestamp=T)
    goods = [_entry(Classification.GOOD) for _ in range(good_or_better - cap)]
    book.decide(entries=goods, cap=_fifth, actor=ADMIN, timestamp=T)
    for _ in range(cap):
        book.decide(entries=[_entry(Classification.EXCELLENT)], cap=_fifth, actor=ADMIN, timestamp=T)
    figures = book.figures("g", _fifth)
    assert (figures.good_or_better, figures.excellent, figures.cap) == (good_or_better, cap, cap)
    # Upgrading one more decided unit keeps the base and goes one over the cap.
    upgraded = DecisionEntry(goods[0].unit_id, goods[0].dossier_id, "g", Classification.EXCELLENT, None)
    with pytest.raises(QuotaExceeded, match=f"above the cap of {cap}"):
        book.decide(entries=[upgraded], cap=_fifth, actor=ADMIN, timestamp=T)
    book.decide(entries=[_entry(Classification.GOOD, group="other")], cap=_fifth, actor=ADMIN, timestamp=T)
    assert book.figures("g", _fifth) == figures


def test_endorsed_proposals_count_in_the_base_until_decided_and_never_use_up_the_quota() -> None:
    book = DecisionBook(superior_id=uuid4(), year=2024, actor=ADMIN, timestamp=T)
    proposals = [_entry(Classification.GOOD, decided=False) for _ in range(4)]
    proposals.append(_entry(Classification.EXCELLENT, decided=False))
    for proposal in proposals:
        book.propose(entry=proposal, actor=ADMIN, timestamp=T)
    assert book.figures("g", _fifth) == QuotaFigures("g", 5, 0, 1)
    excellent = proposals[-1]
    book.decide(
        entries=[DecisionEntry(excellent.unit_id, excellent.dossier_id, "g", Classification.EXCELLENT, None)],
        cap=_fifth, actor=ADMIN, timestamp=T,
    )
    assert book.figures("g", _fifth) == QuotaFigures("g", 5, 1, 1)


def test_a_downgrade_that_shrinks_the_base_under_the_excellent_already_decided_is_refused() -> None:
    book = DecisionBook(superior_id=uuid4(), year=2024, actor=ADMIN, timestamp=T)
    goods = [_entry(Classification.GOOD, decided=False) for _ in range(8)]
    for proposal in goods:
        book.propose(entry=proposal, actor=ADMIN, timestamp=T)
    book.decide(entries=[_entry(Classification.EXCELLENT) for _ in range(2)], cap=_fifth, actor=ADMIN, timestamp=T)
    assert book.figures("g", _fifth) == QuotaFigures("g", 10, 2, 2)
    downgrade = DecisionEntry(goods[0].unit_id, goods[0].dossier_id, "g", Classification.COMPLETED, None)
    with pytest.raises(QuotaExceeded, match=r"2 excellent among 9 .* above the cap of 1"):
        book.decide(entries=[downgrade], cap=_fifth, actor=ADMIN, timestamp=T)
    assert book.figures("g", _fifth) == QuotaFigures("g", 10, 2, 2)


def test_a_decision_list_is_judged_on_its_final_tally_and_refused_whole() -> None:
    book = DecisionBook(superior_id=uuid4(), year=2024, actor=ADMIN, timestamp=T)
    over = [_entry(Classification.GOOD) for _ in range(7)] + [_entry(Classification.EXCELLENT) for _ in range(3)]
    with pytest.raises(QuotaExceeded, match="decision list of 10 units is refused whole"):
        book.decide(entries=over, cap=_fifth, actor=ADMIN, timestamp=T)
    assert book.entries == {}
    within = [_entry(Classification.GOOD) for _ in range(8)] + [_entry(Classification.EXCELLENT) for _ in range(2)]
    assert book.decide(entries=within, cap=_fifth, actor=ADMIN, timestamp=T) == {"g": QuotaFigures("g", 10, 2, 2)}


def test_a_group_already_over_its_cap_still_takes_decisions_that_do_not_worsen_it() -> None:
    book = DecisionBook(superior_id=uuid4(), year=2024, actor=ADMIN, timestamp=T)
    proposals = [_entry(Classification.GOOD, decided=False) for _ in range(5)]
    for proposal in proposals:
        book.propose(entry=proposal, actor=ADMIN, timestamp=T)
    book.decide(entries=[_entry(Classification.EXCELLENT)], cap=_fifth, actor=ADMIN, timestamp=T)
    # A proposal returned to its unit leaves the base: 5 good or better, cap 1, 1 excellent: still within.
    book.withdraw_proposal(unit_id=proposals[0].unit_id, reason="trả lại", actor=ADMIN, timestamp=T)
    assert book.figures("g", _fifth) == QuotaFigures("g", 5, 1, 1)
    book.withdraw_proposal(unit_id=proposals[1].unit_id, reason="trả lại", actor=ADMIN, timestamp=T)
    assert book.figures("g", _fifth).overflow == 1
    good = DecisionEntry(proposals[2].unit_id, proposals[2].dossier_id, "g", Classification.GOOD, None)
    book.decide(entries=[good], cap=_fifth, actor=ADMIN, timestamp=T)
    with pytest.raises(QuotaExceeded):
        book.decide(entries=[_entry(Classification.EXCELLENT)], cap=_fifth, actor=ADMIN, timestamp=T)


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 400)), max_size=30), st.integers(0, 400))
def test_a_units_count_of_children_on_a_day_equals_the_children_listed_for_that_day(
    moves: list[tuple[int, bool, int]], day_offset: int
) -> None:
    parent = Unit.register(
        code="p", name="Đảng bộ", kind=UnitKind.GRASSROOTS_COMMITTEE, parent_id=None, group="",
        established_on=date(2020, 1, 1), actor=ADMIN, timestamp=T,
    )
    children = [uuid4() for _ in range(6)]
    last = date(2020, 1, 1)
    for child, attach, offset in moves:
        # Changes take effect in the order they are made, as the engine's commands require.
        last = max(last, date(2020, 1, 1) + timedelta(days=offset))
        spans = parent.children.get(str(children[child]), [])
        is_open = bool(spans) and spans[-1][1] is None
        if attach and not is_open:
            parent.attach_child(child_id=children[child], effective_from=last, actor=ADMIN, timestamp=T)
        elif not attach and is_open:
            parent.detach_child(child_id=children[child], effective_from=last, actor=ADMIN, timestamp=T)
    day = date(2020, 1, 1) + timedelta(days=day_offset)
    assert parent.children_count_as_of(day) == len(parent.children_as_of(day))


@given(
    st.lists(
        st.tuples(
            st.integers(0, 7),
            st.sampled_from(["propose", "decide", "withdraw", "suspend"]),
            st.sampled_from(list(Classification)),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_a_decision_books_running_counts_equal_a_count_over_its_entries(
    steps: list[tuple[int, str, Classification, bool]],
) -> None:
    book = DecisionBook(superior_id=uuid4(), year=2024, actor=ADMIN, timestamp=T)
    units = [uuid4() for _ in range(8)]
    for n, step, level, four_good in steps:
        entry = DecisionEntry(units[n], uuid4(), "g", level, four_good, decided=step == "decide")
        if step == "propose":
            book.propose(entry=entry, actor=ADMIN, timestamp=T)
        elif step == "decide":
            with contextlib.suppress(QuotaExceeded):
                book.decide(entries=[entry], cap=lambda n: None, actor=ADMIN, timestamp=T)
        elif step == "withdraw":
            book.withdraw_proposal(unit_id=units[n], reason="trả lại", actor=ADMIN, timestamp=T)
        else:
            book.suspend(unit_id=units[n], proposal=None, reason="mở lại", actor=ADMIN, timestamp=T)
    decided = [e for e in book.entries.values() if e.decided]
    rated = [e for e in decided if e.level is not Classification.NOT_RATED]
    assert book.decided == {
        "decided": len(decided),
        "rated": len(rated),
        "completed": sum(e.level >= Classification.COMPLETED for e in rated),
        "good": sum(e.level >= Classification.GOOD for e in rated),
        "four_good": sum(bool(e.four_good) for e in rated),
    }
    for group, (good, excellent) in book.tallies.items():
        in_group = [e for e in book.entries.values() if e.group == group]
        assert good == sum(e.in_base for e in in_group)
        assert excellent == sum(e.excellent for e in in_group)
