"""One Engine shared by many threads, as a web server shares it: only domain refusals, never a torn aggregate."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from domain.decisions import DecisionBook
from domain.errors import DomainError
from domain.ids import decision_book_id
from domain.values import Classification, DossierState, Role, UnitKind
from tests.application.conftest import World, build_world
from tests.application.helpers import draft
from tests.conftest import Backend
from workflow.engine import Engine

THREADS = 8
ROUNDS = 1000
EXTRA_CELLS = 40


class LockedClock:
    """The simulated clock, safe to read from many threads: each reading is a distinct, later moment."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(microseconds=1)
            return self._now


@pytest.fixture
def world(backend: Backend) -> Iterator[World]:
    world = build_world(dict(backend.env))
    yield world
    world.engine.close()


@pytest.fixture
def busy_switching() -> Iterator[None]:
    # Threads switch every 5 ms by default; switching far more often makes the interleavings that tear an
    # aggregate (a copy taken while another thread updates it) show up in a thousand rounds instead of by luck.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _cells_under_the_committee(world: World) -> list[str]:
    cells = ["cell-a", "cell-b"]
    for n in range(EXTRA_CELLS):
        code = f"cell-x{n}"
        world.units[code] = world.engine.register_unit(
            world.admin, code=code, name=f"Chi bộ thôn {n}", kind=UnitKind.PARTY_CELL,
            parent_id=world.units["committee"], established_on=date(2010, 1, 1),
        ).value
        world.person(f"sec-{code}", f"Bí thư {code}", [(Role.SECRETARY, code)])
        cells.append(code)
    return cells


def _race(world: World, dossiers: list[UUID]) -> list[BaseException]:
    engine, approver = world.engine, world.committee_approver
    committee = world.units["committee"]
    levels = [Classification.GOOD, Classification.EXCELLENT, Classification.COMPLETED]
    commands: list[Callable[[random.Random, UUID], object]] = [
        lambda rng, did: engine.approve(approver, did, level=rng.choice(levels), reason="quyết định của Thường trực"),
        lambda rng, did: engine.approve(approver, did),
        lambda rng, did: engine.reopen(approver, did, legal_basis="Kết luận kiểm tra số 12"),
        lambda rng, did: engine.quota(committee, 2024, "party_cell"),
        lambda rng, did: engine.evaluate(did),
        lambda rng, did: engine.available_actions(approver, did),
        lambda rng, did: engine.dossier(did).version,
    ]
    unexpected: list[BaseException] = []
    counter = iter(range(ROUNDS))
    counter_lock = threading.Lock()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            with counter_lock:
                if next(counter, None) is None:
                    return
            try:
                rng.choice(commands)(rng, rng.choice(dossiers))
            except DomainError:
                pass
            except BaseException as error:
                unexpected.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return unexpected


def test_one_engine_survives_many_threads_approving_and_reopening_at_once(
    world: World, backend: Backend, busy_switching: None
) -> None:
    cells = _cells_under_the_committee(world)
    dossiers = []
    for n, cell in enumerate(cells):
        did = draft(world, cell, Classification.EXCELLENT if n % 3 == 0 else Classification.GOOD)
        world.engine.submit(world.secretary(cell), did)
        world.engine.endorse(world.committee_reviewer, did)
        dossiers.append(did)
    world.engine.clock = LockedClock(datetime(2024, 12, 20, 2, 0, tzinfo=UTC))

    unexpected = _race(world, dossiers)

    assert not unexpected, f"{len(unexpected)} rounds failed outside the domain, first: {unexpected[0]!r}"
    # What the shared engine holds must be what the store holds: a second engine reads it afresh.
    fresh = Engine(dict(backend.env), clock=world.clock)
    try:
        book_id = decision_book_id(world.units["committee"], 2024)
        book = fresh._get(DecisionBook, book_id, "decision book")
        assert vars(world.engine._get(DecisionBook, book_id, "decision book")) == vars(book)
        for did in dossiers:
            mine, stored = world.engine.dossier(did), fresh.dossier(did)
            assert vars(mine) == vars(stored)
            # The book holds exactly the decided dossiers, at their levels: a reopened one is suspended until
            # decided again. A lost update (two approvals passing on one book version) would break this.
            entry = book.decision_for(stored.unit_id)
            if stored.state is DossierState.APPROVED:
                assert entry is not None
                assert entry.level is stored.level
            else:
                assert entry is None
        # Whatever the interleaving, no decision may have taken the group past its cap.
        figures = fresh.quota(world.units["committee"], 2024, "party_cell")
        assert figures.cap is not None
        assert figures.excellent <= figures.cap
    finally:
        fresh.close()
    assert world.engine.verify().ok
