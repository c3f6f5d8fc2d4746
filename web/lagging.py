"""What administrators and auditors are told on every page while the read models are not level with the event log.

Every list they look at (units, dashboard, audit trail, reports, My work, the administration's people) is read from
the read models, not from the log. One that is behind, stopped by an event it could not apply, or being rebuilt
makes those lists incomplete or old without a sign; a page that says so, with what is behind, keeps an oversight
from being drawn on them. The figures are those of `dossierflow projections status` (ReadSide.status).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.values import Role
from web.labels import N_

if TYPE_CHECKING:
    from projections.readside import ReadSide
    from web.app import Visit

# What each read model holds, as the pages' readers know it.
HOLDS = {
    "units": N_("The units and their hierarchy"),
    "dossiers": N_("Dossiers and classifications"),
    "access": N_("People, roles and work queues"),
    "statistics": N_("The dashboard's figures"),
    "audit": N_("The audit trail"),
}
# The roles whose pages say it: those who oversee, and whose conclusions rest on complete lists.
OVERSEERS = frozenset({Role.ADMINISTRATOR, Role.AUDITOR})
# Seconds a page waits for read models behind the log before saying they are.
BRIEF_WAIT = 0.25


@dataclass(frozen=True)
class Lagging:
    name: str  # the read model's, as the command line names it
    holds: str  # a msgid
    state: str  # "failed", "rebuilding" or "behind"
    position: int
    head: int
    failed_at: int | None


def lagging(side: ReadSide, visit: Visit) -> list[Lagging]:
    """The read models not level with the log, for a page an administrator or an auditor reads; else nothing."""
    if visit.person is None or not (visit.roles() & OVERSEERS):
        return []
    # The visit read every live read model's position and the log's head already: when all stand at the head and
    # none failed, only a rebuild under way is left to ask about, in one statement.
    failed = any(failed_at is not None for _, _, _, failed_at in visit.read_models)
    level = visit.head > 0 and not failed and all(
        position is not None and position >= visit.head for _, _, position, _ in visit.read_models
    )
    if not level and not failed and visit.head > 0:
        # A step just recorded (by anyone) is applied within milliseconds: a moment's wait keeps the banner from
        # flashing on a page drawn in between. Only a read model still behind after it is said to be.
        level = side.wait_for(visit.head, timeout=BRIEF_WAIT).reached
    if level and not any(building is not None for _, building in side.store.states().values()):
        return []
    found = []
    for status in side.status():
        if status.failed_position is not None:
            state = "failed"
        elif status.building:
            state = "rebuilding"
        elif status.lag_events > 0:
            state = "behind"
        else:
            continue
        found.append(
            Lagging(status.name, HOLDS.get(status.name, status.name), state, status.position, status.head,
                    status.failed_position)
        )
    return found
