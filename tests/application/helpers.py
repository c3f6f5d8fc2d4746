from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.values import Classification
from tests.application.conftest import World
from workflow.rules.samples import sample_answers


def draft(world: World, unit: str, level: Classification = Classification.GOOD, *, four_good: bool = True) -> UUID:
    """A dossier of `unit` for 2024 with answers aiming at `level`."""
    engine = world.engine
    secretary = world.secretary(unit)
    did = engine.open_dossier(secretary, world.units[unit], 2024).value
    dossier = engine.dossier(did)
    rule_set = engine.rule_book.rule_set(dossier.rule_set_id)
    model = engine.rule_book.recognition(dossier.recognition_model_id) if dossier.recognition_model_id else None
    answers, facts = sample_answers(rule_set, model, level, four_good=four_good)
    engine.record_answers(secretary, did, answers=answers, facts=facts)
    return did


def reviewer_of(world: World, unit: str) -> str:
    return "committee" if unit in ("cell-a", "cell-b") else "district"


def endorsed(world: World, unit: str, level: Classification = Classification.GOOD, *, four_good: bool = True) -> UUID:
    did = draft(world, unit, level, four_good=four_good)
    world.engine.submit(world.secretary(unit), did)
    reviewer = world.committee_reviewer if reviewer_of(world, unit) == "committee" else world.district_reviewer
    world.engine.endorse(reviewer, did)
    return did


def decided(world: World, unit: str, level: Classification = Classification.GOOD, *, four_good: bool = True) -> UUID:
    did = endorsed(world, unit, level, four_good=four_good)
    approver = world.committee_approver if reviewer_of(world, unit) == "committee" else world.district_approver
    world.engine.approve(approver, did)
    return did


def at_one_instant(world: World, commands: list[Callable[[], object]]) -> list[BaseException | None]:
    """Run the commands so that each has loaded everything before any of them saves. A command that tries again
    after a collision saves again without waiting: the others are past the barrier by then."""
    engine = world.engine
    barrier = threading.Barrier(len(commands), timeout=10)
    save = engine._save
    waited = threading.local()

    def save_after_all_loaded(*aggregates: Any) -> int:
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return save(*aggregates)

    engine._save = save_after_all_loaded  # type: ignore[method-assign]
    outcomes: list[BaseException | None] = [None] * len(commands)

    def run(i: int) -> None:
        try:
            commands[i]()
        except BaseException as error:
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine._save = save  # type: ignore[method-assign]
    return outcomes
