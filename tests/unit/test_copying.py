"""Copies of aggregates share what is inside their containers: no event applied to a copy may reach the original."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from domain.copying import copy_aggregate
from domain.decisions import DecisionBook
from domain.dossier import Dossier
from domain.period import EvaluationPeriod
from domain.person import Person
from domain.unit import Unit
from domain.values import Classification, UnitKind
from tests.application.conftest import World, build_world
from tests.application.helpers import decided, endorsed


def _a_season_with_every_kind_of_event() -> World:
    world = build_world()
    engine, admin = world.engine, world.admin
    decided(world, "cell-a", Classification.GOOD)
    decided(world, "cell-b", Classification.GOOD)
    engine.reopen(world.district_approver, decided(world, "treasury"), legal_basis="Kết luận kiểm tra số 3")
    committee = endorsed(world, "committee")
    engine.return_to_committee(world.district_approver, committee, reason="bổ sung biên bản")
    engine.return_to_unit(world.district_reviewer, committee, reason="thiếu biên bản")
    sha = engine.attach_evidence(world.secretary("committee"), committee, name="bien-ban.pdf", data=b"%PDF-1.4 x").value
    engine.remove_evidence(world.secretary("committee"), committee, sha256=sha, reason="nhầm tệp")
    engine.submit(world.secretary("committee"), committee)
    new = engine.register_unit(
        admin, code="cell-c", name="Chi bộ 3", kind=UnitKind.PARTY_CELL, parent_id=world.units["committee"],
        established_on=date(2024, 8, 1),
    ).value
    engine.rename_unit(admin, new, name="Chi bộ Tổ 3", effective_from=date(2024, 9, 1), reason="đổi tên")
    engine.move_unit(admin, new, parent_id=world.units["district"], effective_from=date(2024, 10, 1), reason="sáp nhập")
    engine.dissolve_unit(admin, new, effective_from=date(2024, 10, 20), reason="giải thể")
    world.units["cell-c"] = new
    holder = world.person("deputy", "Phó Bí thư", [])
    principal = world.engine.person(world.secretary("treasury").person_id)
    grant = next(iter(principal.grants))
    engine.delegate(
        admin, principal.id, principal.grants[grant].grant_id, deputy_id=holder, valid_from=date(2024, 1, 1),
        valid_to=date(2025, 1, 1), legal_basis="Quyết định 7",
    )
    engine.revoke_role(admin, principal.id, principal.grants[grant].grant_id, on=date(2024, 12, 1), reason="chuyển")
    engine.change_deadlines(admin, 2024, deadlines={"decision": date(2025, 1, 31)}, reason="gia hạn")
    engine.close_period(admin, 2024, reason="kết thúc")
    return world


def _replayed(events: list[Any]) -> Aggregate:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, Aggregate)
    return aggregate


def test_no_event_applied_to_a_copy_changes_the_original_for_every_kind_of_aggregate() -> None:
    world = _a_season_with_every_kind_of_event()
    engine = world.engine
    seen: set[type[Aggregate]] = set()
    ids = {n.originator_id for n in engine.recorder.select_notifications(start=1, limit=10_000)}
    for aggregate_id in ids:
        events = list(engine.events.get(aggregate_id))
        for split in range(1, len(events)):
            original = _replayed(events[:split])
            before = copy.deepcopy(vars(original))
            duplicate = copy_aggregate(original)
            for later in events[split:]:
                later.mutate(duplicate)
            assert vars(original) == before, f"{type(original).__name__} v{split} changed by {events[split:]}"
            assert vars(duplicate) == vars(_replayed(events))
            seen.add(type(original))
    assert seen >= {Dossier, Unit, Person, EvaluationPeriod, DecisionBook}
