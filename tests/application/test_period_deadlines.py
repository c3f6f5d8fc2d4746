"""An administrator moves step deadlines of an open period after opening it, on a legal basis; the engine refuses a
closed period, an order of steps broken, an unknown step, a change without a reason or that changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.errors import InvalidInput, NotAuthorized, PeriodClosed
from tests.application.conftest import World
from tests.application.helpers import draft

OPENED = {"self_assessment": date(2024, 12, 15), "review": date(2024, 12, 25), "decision": date(2025, 1, 15)}


def _events(world: World) -> int:
    return world.engine.recorder.max_notification_id() or 0


def test_an_administrator_moves_a_step_deadline_and_the_event_keeps_the_old_date_and_the_reason(world: World) -> None:
    world.engine.change_deadlines(
        world.admin, 2024, deadlines={"review": date(2024, 12, 30)}, reason="Công văn 12-CV/TU gia hạn"
    )
    period = world.engine.period(2024)
    assert period.deadlines == {**OPENED, "review": date(2024, 12, 30)}
    event = list(world.engine.history(period.id))[-1]
    assert type(event).__name__ == "DeadlinesChanged"
    assert event.deadlines == {"review": date(2024, 12, 30)}
    assert event.previous == {"review": date(2024, 12, 25)}
    assert event.reason == "Công văn 12-CV/TU gia hạn"
    assert event.actor.person_id == world.admin.person_id


def test_only_the_steps_whose_date_differs_are_recorded_as_changed(world: World) -> None:
    world.engine.change_deadlines(
        world.admin, 2024, deadlines={**OPENED, "decision": date(2025, 1, 31)}, reason="Công văn 13-CV/TU"
    )
    event = list(world.engine.history(world.engine.period(2024).id))[-1]
    assert event.deadlines == {"decision": date(2025, 1, 31)}


def test_a_submission_after_the_old_deadline_and_before_the_new_one_is_not_late(world: World) -> None:
    did = draft(world, "cell-a")
    world.engine.change_deadlines(
        world.admin, 2024, deadlines={"self_assessment": date(2024, 12, 20)}, reason="Gia hạn tự đánh giá"
    )
    world.clock.set(datetime(2024, 12, 18, 2, 0, tzinfo=UTC))
    world.engine.submit(world.secretary("cell-a"), did)
    submitted = list(world.engine.history(did))[-1]
    assert type(submitted).__name__ == "Submitted"
    assert submitted.late is False


@pytest.mark.parametrize(
    ("deadlines", "refusal"),
    [
        ({"review": date(2024, 12, 10)}, "deadlines must follow the order of the steps"),
        ({"decision": date(2024, 12, 20)}, "deadlines must follow the order of the steps"),
        ({"appeal": date(2025, 2, 1)}, "unknown deadline step"),
        (OPENED, "no deadline of the 2024 period would change"),
    ],
)
def test_a_deadline_change_that_breaks_the_order_names_no_step_or_changes_nothing_is_refused(
    world: World, deadlines: dict[str, date], refusal: str
) -> None:
    before = _events(world)
    with pytest.raises(InvalidInput, match=refusal):
        world.engine.change_deadlines(world.admin, 2024, deadlines=deadlines, reason="Công văn 14-CV/TU")
    assert world.engine.period(2024).deadlines == OPENED
    assert _events(world) == before


def test_a_deadline_change_needs_a_reason(world: World) -> None:
    with pytest.raises(InvalidInput, match="needs a reason"):
        world.engine.change_deadlines(world.admin, 2024, deadlines={"review": date(2024, 12, 30)}, reason="  ")
    assert world.engine.period(2024).deadlines == OPENED


def test_the_deadlines_of_a_closed_period_cannot_change(world: World) -> None:
    world.engine.close_period(world.admin, 2024, reason="Kết thúc kỳ đánh giá")
    before = _events(world)
    with pytest.raises(PeriodClosed, match="closed"):
        world.engine.change_deadlines(world.admin, 2024, deadlines={"review": date(2024, 12, 30)}, reason="Muộn")
    assert world.engine.period(2024).deadlines == OPENED
    assert _events(world) == before


def test_nobody_but_an_administrator_may_change_deadlines(world: World) -> None:
    for actor in (world.auditor, world.district_approver):
        with pytest.raises(NotAuthorized):
            world.engine.change_deadlines(actor, 2024, deadlines={"review": date(2024, 12, 30)}, reason="Tự gia hạn")
    assert world.engine.period(2024).deadlines == OPENED
