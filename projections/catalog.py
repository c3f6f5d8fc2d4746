"""Every read model of dossierflow, in the order a pass feeds them."""

from __future__ import annotations

from projections.core import Projection
from projections.models.access import AccessProjection
from projections.models.audit import AuditProjection
from projections.models.dossiers import DossiersProjection
from projections.models.statistics import StatisticsProjection
from projections.models.units import UnitsProjection


def all_projections() -> list[Projection]:
    # Dossiers carry the classifications and their history; each read model owns its tables and is fed on its own.
    return [UnitsProjection(), DossiersProjection(), AccessProjection(), StatisticsProjection(), AuditProjection()]
