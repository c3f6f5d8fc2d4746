"""Codes and usernames that differ only in letter case are one name: a second registration is refused naming the first,
whatever the mix of cases (Vietnamese letters included), and a lookup in another case finds the one registered."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from domain.errors import AlreadyExists, NotFound
from domain.values import UnitKind
from tests.application.conftest import World, build_world
from workflow import store
from workflow.engine import Engine


def _register_unit(world: World, code: str, engine: Engine | None = None) -> None:
    (engine or world.engine).register_unit(
        world.admin, code=code, name="Chi bộ mới", kind=UnitKind.PARTY_CELL, parent_id=world.units["committee"],
        established_on=date(2020, 1, 1),
    )


@pytest.mark.parametrize(
    ("first", "twin"),
    [("Kim-Tan", "kIM-tAN"), ("abc", "Abc"), ("Abc", "abc"), ("Đồng-Tuyển", "đỒNG-tUYỂN"), ("ĐẢNG-ỦY", "đảng-ủy")],
)
def test_a_unit_code_differing_from_a_registered_one_only_in_case_is_refused_naming_the_registered_one(
    world: World, first: str, twin: str
) -> None:
    _register_unit(world, first)
    head = world.engine.recorder.max_notification_id()
    said = re.escape(f"a unit with code '{first}' already exists; codes that differ only")
    with pytest.raises(AlreadyExists, match=said):
        _register_unit(world, twin)
    assert world.engine.recorder.max_notification_id() == head


def test_a_unit_code_differing_from_a_registered_one_only_in_how_its_accents_are_composed_is_refused(
    world: World,
) -> None:
    _register_unit(world, "Tân-An")
    with pytest.raises(AlreadyExists, match="'Tân-An' already exists"):
        _register_unit(world, "Ta\u0302n-an")


def test_a_code_differing_only_in_its_tones_is_another_code(world: World) -> None:
    _register_unit(world, "tan-an")
    _register_unit(world, "Tân-An")
    assert world.engine.unit_by_code("TÂN-AN").code == "Tân-An"


@pytest.mark.parametrize(("first", "twin"), [("Nguyen.An", "nGUYEN.aN"), ("đào.hà", "ĐÀO.HÀ"), ("ĐàoHà", "đàohà")])
def test_a_username_differing_from_a_registered_one_only_in_case_is_refused_naming_the_registered_one(
    world: World, first: str, twin: str
) -> None:
    world.engine.register_person(world.admin, username=first, full_name="Nguyễn An")
    head = world.engine.recorder.max_notification_id()
    said = re.escape(f"username '{first}' already exists; usernames that differ only")
    with pytest.raises(AlreadyExists, match=said):
        world.engine.register_person(world.admin, username=twin, full_name="Người khác")
    assert world.engine.recorder.max_notification_id() == head


def test_a_twin_registered_by_another_engine_on_the_same_store_is_seen(tmp_path: Path) -> None:
    _twins_seen_across_engines(
        store.application_env(None, tmp_path / "events.sqlite", signing_key=tmp_path / "signing-key.pem")
    )


@pytest.mark.postgres
def test_a_twin_registered_by_another_engine_on_the_same_postgresql_store_is_seen(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    _twins_seen_across_engines(
        store.application_env(fresh_postgres_url, tmp_path / "unused.sqlite", signing_key=tmp_path / "signing-key.pem")
    )


def _twins_seen_across_engines(env: dict[str, str]) -> None:
    world = build_world(env)
    # This engine has read the log's registrations once already; the other writes after that.
    _register_unit(world, "first-cell")
    other = Engine(env, clock=world.clock)
    try:
        _register_unit(world, "Second-Cell", engine=other)
        other.register_person(world.admin, username="Le.Binh", full_name="Lê Bình")
    finally:
        other.close()
    with pytest.raises(AlreadyExists, match="'Second-Cell' already exists"):
        _register_unit(world, "SECOND-cell")
    with pytest.raises(AlreadyExists, match=re.escape("'Le.Binh' already exists")):
        world.engine.register_person(world.admin, username="le.BINH", full_name="Lê Bình")
    world.engine.close()


def test_a_unit_or_person_named_in_another_case_is_found(world: World) -> None:
    world.engine.register_person(world.admin, username="Đào.Hà", full_name="Đào Thị Hà")
    assert world.engine.unit_by_code("COMMITTEE").id == world.units["committee"]
    assert world.engine.unit_by_code("Cell-A").code == "cell-a"
    assert world.engine.person_by_username("đÀO.hÀ").username == "Đào.Hà"
    with pytest.raises(NotFound, match="no unit with code 'committe'"):
        world.engine.unit_by_code("committe")
    with pytest.raises(NotFound, match=re.escape("no person with username 'dao.ha'")):
        world.engine.person_by_username("dao.ha")


def test_a_dossier_named_with_its_unit_code_in_another_case_is_found(world: World) -> None:
    did = world.engine.open_dossier(world.secretary("cell-a"), world.units["cell-a"], 2024).value
    assert world.engine.find_dossier("CELL-A/2024") == did
