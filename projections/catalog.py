"""Every read model of dossierflow, in the order a pass feeds them."""

from __future__ import annotations

from projections.core import Projection


def all_projections() -> list[Projection]:
    # Filled in as the read models land; each is a Projection subclass of projections/models/.
    return []
