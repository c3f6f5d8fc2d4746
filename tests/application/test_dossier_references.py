"""A dossier named by its id or by UNIT-CODE/YEAR: a reference that names something else is refused, not answered."""

from __future__ import annotations

import pytest

from domain.errors import NotFound
from tests.application.conftest import World


def test_the_id_of_a_unit_or_a_person_names_no_dossier(world: World) -> None:
    for other in (world.units["cell-a"], world.admin.person_id):
        with pytest.raises(NotFound, match=f"{other} is not a dossier"):
            world.engine.find_dossier(str(other))
