"""Codes and usernames that differ only in letter case are one name: a second registration is refused naming the first,
whatever the mix of cases (Vietnamese letters included), and a lookup in another case finds the one registered."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from domain.errors import AlreadyExists, NotFound
from domain.person import Person
from domain.unit import Unit
from domain.values import UnitKind
from tests.application.conftest import World, build_world
from workflow import store
from workflow.engine import Engine, Receipt


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


# --- twins registered at the same instant ---------------------------------------------------------------------------


def test_twin_codes_registered_by_two_engines_at_the_same_instant_are_one_registered_and_one_refused(
    tmp_path: Path,
) -> None:
    _twins_at_once(store.application_env(None, tmp_path / "events.sqlite", signing_key=tmp_path / "signing-key.pem"))


@pytest.mark.postgres
def test_twin_codes_registered_by_two_engines_at_the_same_instant_on_postgresql_are_one_registered_and_one_refused(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    _twins_at_once(
        store.application_env(fresh_postgres_url, tmp_path / "unused.sqlite", signing_key=tmp_path / "signing-key.pem")
    )


def _at_once(engines: list[Engine], calls: list[Callable[[], object]]) -> list[object]:
    """Each call on its own engine, in its own thread, every check done before any of them saves: as two
    administrators' forms arriving within the same moment at two processes."""
    barrier = threading.Barrier(len(calls), timeout=30)
    for engine in engines:
        save = engine._save

        def held(*aggregates: Any, _save: Callable[..., int] = save) -> int:
            barrier.wait()
            return _save(*aggregates)

        engine._save = held  # type: ignore[method-assign]
    outcomes: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            outcomes[index] = calls[index]()
        except Exception as error:  # the outcome is what the test reads
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        del engine._save
    return outcomes


def _twins_at_once(env: dict[str, str]) -> None:
    world = build_world(env)
    other = Engine(env, clock=world.clock)
    try:
        engines = [world.engine, other]
        # Both have read the log's registrations already: what the other is saving is not in what they read.
        for engine in engines:
            engine.unit_by_code("committee")
        head = world.engine.recorder.max_notification_id()
        # Under different parents, so that only the name is shared between the two saves.
        units = _at_once(engines, [
            lambda: world.engine.register_unit(
                world.admin, code="Kim-Tan", name="Chi bộ Kim Tân", kind=UnitKind.PARTY_CELL,
                parent_id=world.units["committee"], established_on=date(2020, 1, 1),
            ),
            lambda: other.register_unit(
                world.admin, code="kim-tan", name="Chi bộ Kim Tân 2", kind=UnitKind.GRASSROOTS_CELL,
                parent_id=world.units["district"], established_on=date(2020, 1, 1),
            ),
        ])
        people = _at_once(engines, [
            lambda: world.engine.register_person(world.admin, username="Kim.Tan", full_name="Kim Tân"),
            lambda: other.register_person(world.admin, username="kim.tan", full_name="Kim Tân 2"),
        ])
        for outcomes, names, said in (
            (units, ("Kim-Tan", "kim-tan"), "a unit with code '{}' already exists; codes that differ only in case"),
            (people, ("Kim.Tan", "kim.tan"), "username '{}' already exists; usernames that differ only in case"),
        ):
            won = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, Receipt)]
            lost = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, AlreadyExists)]
            assert len(won) == 1, outcomes
            assert len(lost) == 1, outcomes
            # The loser hears what the sequential case says, naming the one registered.
            assert said.format(names[won[0]]) in str(outcomes[lost[0]])
        # Nothing of the losers was stored: one unit (with its parent's attachment and its claim), one person (with
        # its claim). PostgreSQL's ids have gaps where a transaction rolled back: the events are counted.
        stored = world.engine.recorder.select_notifications(start=head + 1, limit=100)
        assert len(stored) == 3 + 2, [n.topic for n in stored]
        assert world.engine.verify().ok
        for engine in engines:
            assert engine.unit_by_code("KIM-TAN").code in ("Kim-Tan", "kim-tan")
    finally:
        other.close()
        world.engine.close()


def test_a_twin_of_a_code_registered_before_codes_were_claimed_is_still_refused(world: World) -> None:
    # A store written by an earlier version holds registrations without their claim: the log answers for them.
    unit = Unit.register(
        code="Pom-Han", name="Chi bộ Pom Hán", kind=UnitKind.PARTY_CELL, parent_id=None, group="",
        established_on=date(2020, 1, 1), actor=world.admin, timestamp=world.clock(),
    )
    person = Person.register(username="Pom.Han", full_name="Pom Hán", actor=world.admin, timestamp=world.clock())
    world.engine.save(unit, person)
    head = world.engine.recorder.max_notification_id()
    with pytest.raises(AlreadyExists, match="'Pom-Han' already exists"):
        _register_unit(world, "POM-HAN")
    with pytest.raises(AlreadyExists, match=re.escape("'Pom.Han' already exists")):
        world.engine.register_person(world.admin, username="pom.han", full_name="Người khác")
    assert world.engine.recorder.max_notification_id() == head
    # Other names are registered, and claimed, as before.
    _register_unit(world, "Cam-Duong")
    assert world.engine.recorder.max_notification_id() == head + 3
