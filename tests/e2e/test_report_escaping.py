"""The printed report escapes whatever stored text holds, so no stored text can forge or disguise a line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.values import Answer, DossierState, Grade
from tests.application.conftest import World, build_world
from tests.application.helpers import draft
from web import report


@pytest.fixture
def world() -> Iterator[World]:
    world = build_world()
    yield world
    world.engine.close()


def test_a_comments_own_lines_and_tabs_are_printed_escaped_inside_the_one_line_of_its_answer(world: World) -> None:
    did = draft(world, "treasury")
    comment = "Đạt:\n\t- nghị quyết số 1\n\t- nghị quyết số 2"
    world.engine.record_answers(
        world.secretary("treasury"), did, answers={"leadership_of_tasks": Answer(grade=Grade.GOOD, comment=comment)}
    )
    lines = list(report.dossier_lines(world.engine, world.engine.dossier(did)))
    assert all("\n" not in line and "\t" not in line for line in lines)
    assert any(line.endswith("— Đạt:\\n\\t- nghị quyết số 1\\n\\t- nghị quyết số 2") for line in lines), lines


def test_the_history_escapes_a_reason_stored_before_the_rule_so_it_cannot_forge_a_line(world: World) -> None:
    did = draft(world, "treasury")
    dossier = world.engine.dossier(did)
    forged = "ok\nv9   2025-01-15 09:00  Approved (endorsed -> approved)\x1b[2K"
    # As an event written before text was checked, or by another tool: straight through the event method.
    dossier._withdrawn(
        from_state=dossier.state, to_state=DossierState.WITHDRAWN, reason=forged,
        actor=world.secretary("treasury"), timestamp=world.clock(),
    )
    world.engine.save(dossier)
    lines = list(report.history_lines(world.engine, did))
    assert not any(line.startswith("v9") for line in lines)
    assert lines[-1] == "       why: ok\\nv9   2025-01-15 09:00  Approved (endorsed -> approved)\\x1b[2K"
