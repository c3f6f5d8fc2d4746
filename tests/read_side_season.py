"""A small season played through the engine for the statistics and audit read models: every kind of event they read.

The district of `build_world` with a second committee, a group of ten grassroots cells decided as one decision list
(after a list over the quota was refused), a return with its reason and a resubmission with changed answers, a
deputy deciding on behalf of the committee's approver, a re-opening and re-classification, a young cell marked not
rated, a withdrawn and restored draft, and a cell moved to the other committee with its dossier.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from domain.errors import QuotaExceeded
from domain.ids import dossier_id, person_id
from domain.values import Classification, Role, UnitKind
from tests.application.conftest import World, build_world
from tests.application.helpers import draft, endorsed
from workflow.engine import DecisionRequest

EXC, GOOD, DONE = Classification.EXCELLENT, Classification.GOOD, Classification.COMPLETED
RETURN_REASON = "Thiếu biên bản họp chi bộ tháng 9"
REOPEN_BASIS = "Kết luận kiểm tra số 12-KL/UBKT ngày 10/3/2025"
DELEGATION_BASIS = "Quyết định số 15-QĐ/ĐU ngày 01/10/2024"
MOVE_REASON = "Sáp nhập tổ dân phố theo Nghị quyết 35"


@dataclass
class Season:
    world: World
    dossiers: dict[str, UUID] = field(default_factory=dict)
    deputy: UUID | None = None
    changed_criterion: str = ""


def _unit(world: World, code: str, name: str, kind: UnitKind, parent: str, *, group: str = "",
          established_on: date = date(2010, 1, 1)) -> None:
    world.units[code] = world.engine.register_unit(
        world.admin, code=code, name=name, kind=kind, parent_id=world.units[parent], established_on=established_on,
        group=group,
    ).value
    world.person(f"sec-{code}", f"Bí thư {name}", [(Role.SECRETARY, code)])


def play_season(env: dict[str, str] | None = None) -> Season:
    world = build_world(env)
    engine = world.engine
    season = Season(world)
    _unit(world, "committee-2", "Đảng bộ phường Pom Hán", UnitKind.GRASSROOTS_COMMITTEE, "district")
    world.person("committee-2-reviewer", "Ban Tổ chức Đảng ủy Pom Hán", [(Role.REVIEWER, "committee-2")])
    _unit(world, "cell-c", "Chi bộ Tổ dân phố 3", UnitKind.PARTY_CELL, "committee")
    _unit(world, "cell-d", "Chi bộ Tổ dân phố 4", UnitKind.PARTY_CELL, "committee-2")

    # Ten grassroots cells of one group under the district: 7 good, 3 proposed excellent.
    group = []
    for n, level in enumerate([GOOD] * 7 + [EXC] * 3):
        code = f"gc-{n}"
        _unit(world, code, f"Chi bộ cơ sở số {n}", UnitKind.GRASSROOTS_CELL, "district", group="agencies")
        group.append(endorsed(world, code, level))
        season.dossiers[code] = group[-1]
    try:
        engine.decide_list(world.district_approver, [DecisionRequest(d) for d in group])
        raise AssertionError("a decision list over the quota was accepted")
    except QuotaExceeded:
        pass
    requests = [DecisionRequest(d) for d in group[:9]]
    requests.append(DecisionRequest(group[9], GOOD, "Hạn mức 20%: chọn hai đơn vị xuất sắc"))
    engine.decide_list(world.district_approver, requests)

    # cell-a: returned with a reason, answers changed, resubmitted, endorsed, decided.
    cell_a = draft(world, "cell-a", GOOD)
    season.dossiers["cell-a"] = cell_a
    engine.submit(world.secretary("cell-a"), cell_a)
    engine.return_to_unit(world.committee_reviewer, cell_a, reason=RETURN_REASON)
    dossier = engine.dossier(cell_a)
    criterion, answer = next((k, a) for k, a in sorted(dossier.answers.items()) if a.comment is not None)
    season.changed_criterion = criterion
    engine.record_answers(
        world.secretary("cell-a"), cell_a, answers={criterion: replace(answer, comment="Đã bổ sung biên bản")}
    )
    engine.submit(world.secretary("cell-a"), cell_a)
    engine.endorse(world.committee_reviewer, cell_a)
    engine.approve(world.committee_approver, cell_a)

    # cell-b: decided by a deputy on behalf of the committee's approver.
    approver = engine.person(person_id("committee-approver"))
    (grant,) = approver.grants.values()
    season.deputy = engine.register_person(world.admin, username="deputy", full_name="Phó Bí thư Đảng ủy").value
    engine.delegate(
        world.committee_approver, approver.id, grant.grant_id, deputy_id=season.deputy,
        valid_from=date(2024, 10, 1), valid_to=date(2025, 3, 1), legal_basis=DELEGATION_BASIS,
    )
    cell_b = endorsed(world, "cell-b", GOOD)
    season.dossiers["cell-b"] = cell_b
    engine.approve(world.actor("deputy", Role.APPROVER, "committee", on_behalf_of="committee-approver"), cell_b)

    # cell-c: decided not four-good; then the committee, decided by the district.
    cell_c = draft(world, "cell-c", GOOD, four_good=False)
    season.dossiers["cell-c"] = cell_c
    engine.submit(world.secretary("cell-c"), cell_c)
    engine.endorse(world.committee_reviewer, cell_c)
    engine.approve(world.committee_approver, cell_c)
    committee = endorsed(world, "committee", GOOD)
    season.dossiers["committee"] = committee
    engine.approve(world.district_approver, committee)

    # Re-opened and re-classified: cell-a down to completed, with the legal basis.
    world.clock.set(datetime(2025, 3, 12, 2, 0, tzinfo=UTC))
    engine.reopen(world.committee_approver, cell_a, legal_basis=REOPEN_BASIS)
    engine.approve(world.committee_approver, cell_a, level=DONE, reason=REOPEN_BASIS)

    # The treasury's draft withdrawn and restored, then submitted; a young cell marked not rated.
    treasury = draft(world, "treasury", GOOD)
    season.dossiers["treasury"] = treasury
    engine.withdraw(world.secretary("treasury"), treasury, reason="Nộp nhầm")
    engine.restore(world.secretary("treasury"), treasury)
    engine.submit(world.secretary("treasury"), treasury)
    _unit(world, "young", "Chi bộ mới thành lập", UnitKind.GRASSROOTS_CELL, "district",
          established_on=date(2024, 9, 1))
    young = draft(world, "young", GOOD)
    season.dossiers["young"] = young
    engine.submit(world.secretary("young"), young)
    engine.mark_not_rated(world.district_approver, young)

    # cell-d submitted under committee-2; cell-c (decided) moved to committee-2 with its dossier.
    season.dossiers["cell-d"] = draft(world, "cell-d", GOOD)
    engine.submit(world.secretary("cell-d"), season.dossiers["cell-d"])
    engine.move_unit(
        world.admin, world.units["cell-c"], parent_id=world.units["committee-2"], effective_from=date(2025, 3, 15),
        reason=MOVE_REASON,
    )
    return season


def expected_figures(world: World, unit_code: str) -> dict[str, Any]:
    """The statistics of a unit computed from the engine's own aggregates: an oracle for the read model."""
    engine = world.engine
    root = world.units[unit_code]

    def below(uid: UUID) -> bool:
        parent = engine.unit(uid).parent_id
        while parent is not None:
            if parent == root:
                return True
            parent = engine.unit(parent).parent_id
        return False

    by_state: dict[str, int] = {}
    by_level: dict[str, int] = {}
    cells = four_good = 0
    for code, uid in world.units.items():
        del code
        if not below(uid):
            continue
        did = dossier_id(uid, 2024)
        if not engine._exists(did):
            continue
        dossier = engine.dossier(did)
        by_state[dossier.state.value] = by_state.get(dossier.state.value, 0) + 1
        final = dossier.state.value in ("approved", "not_rated")
        if final and dossier.level is not None:
            by_level[dossier.level.value] = by_level.get(dossier.level.value, 0) + 1
        if engine.unit(uid).kind.value in ("party_cell", "grassroots_cell"):
            cells += 1
            four_good += int(final and bool(dossier.four_good))
    return {"by_state": by_state, "by_level": by_level, "cells": cells, "four_good_cells": four_good}
