"""The store the web load benchmark runs against: many endorsed dossiers waiting for a few dozen approvers.

Built with the engine's own commands (as `dossierflow demo` builds its season), on the real clock, in a few threads
(each playing the cells of its own committees, so that they never write the same unit or decision book); then the
read models are brought level with the log, and each approver gets a password and a signed-in session (through
web.accounts, as a sign-in writes it), so a server started on it has nothing to catch up.

A province with `superiors` superior committees; `cells` grassroots cells spread evenly over them, each with its
secretary and a 2025 dossier (QD366-2025) answered at "good", submitted and endorsed at "good" by its committee's
organization board. `clients` approvers, approver i holding the approver role over committee i mod `superiors`:
with one committee per client no two clients touch the same decision book; with fewer committees they share books
(and the dossiers of a committee are dealt out between its approvers, so no two clients take the same dossier).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.actor import Actor
from domain.ids import person_id
from domain.values import Classification, Role, UnitKind
from projections.store import make_engine
from web.accounts import Accounts
from web.readside import open_read_side
from web.server import accounts_url
from workflow.bootstrap import build_engine
from workflow.rules.samples import sample_answers

YEAR = 2025
RULE_SET = "QD366-2025"
# The demo's 2025 deadlines: on the real clock of a run they have passed, so My work shows its overdue marks.
DEADLINES = {"self_assessment": date(2025, 12, 15), "review": date(2025, 12, 25), "decision": date(2026, 1, 20)}
GROUPS = ("ward/commune", "agencies", "schools", "armed forces")
# Names with the diacritics My work sorts and searches by.
VILLAGES = ("Nậm Chảy", "Lùng Khấu Nhin", "Tả Ngải Chồ", "Bản Lầu", "Pha Long", "Mường Khương", "Cốc Lếu", "Đồng Tuyển")


def password(username: str) -> str:
    return f"pw-{username}-load"


@dataclass(frozen=True)
class Client:
    """One load client: who it is, its signed-in session (cookie and CSRF token), and the dossiers (id, version) it
    may approve, in order."""

    username: str
    password: str
    superior_code: str
    cookie: str
    csrf_token: str
    dossiers: list[tuple[str, int]]


@dataclass(frozen=True)
class Built:
    cells: int
    superiors: int
    events: int
    seconds: float
    clients: list[Client]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @staticmethod
    def load(path: Path) -> Built:
        raw = json.loads(path.read_text())
        clients = [
            Client(c["username"], c["password"], c["superior_code"], c["cookie"], c["csrf_token"],
                   [tuple(d) for d in c["dossiers"]])
            for c in raw.pop("clients")
        ]
        return Built(clients=clients, **raw)


def build(
    database_url: str | None, data_dir: Path, *, cells: int, superiors: int, clients: int, threads: int = 4,
    progress: Callable[[str], None] = print,
) -> Built:
    """The store described above, on the real clock (the 2025 period stays open, its deadlines have passed)."""
    started = time.perf_counter()
    engine = build_engine(database_url=database_url, data_dir=data_dir)
    try:
        admin = engine.install(
            root_code="tinh", root_name="Đảng bộ tỉnh (tải thử)", established_on=date(2000, 1, 1),
            admin_username="admin", admin_name="Quản trị viên",
        ).value

        def person(username: str, name: str, role: Role, unit: UUID) -> UUID:
            pid = engine.register_person(admin, username=username, full_name=name).value
            engine.grant_role(admin, pid, role=role, unit_id=unit, valid_from=date(2020, 1, 1))
            return pid

        committees: list[tuple[str, UUID]] = []
        for k in range(superiors):
            code = f"huyen-{k:03}"
            uid = engine.register_unit(
                admin, code=code, name=f"Huyện ủy {VILLAGES[k % len(VILLAGES)]} {k}", kind=UnitKind.SUPERIOR_COMMITTEE,
                parent_id=admin.unit_id, established_on=date(2000, 1, 1),
            ).value
            person(f"tc-{code}", f"Ban Tổ chức {code}", Role.REVIEWER, uid)
            committees.append((code, uid))
        approvers = []
        for c in range(clients):
            code, uid = committees[c % superiors]
            username = f"tt-{c:03}"
            person(username, f"Đồng chí Thường trực {c}", Role.APPROVER, uid)
            approvers.append((username, code))
        engine.open_period(admin, year=YEAR, rule_set_id=RULE_SET, deadlines=DEADLINES)
        answers, facts = sample_answers(engine.rule_book.rule_set(RULE_SET), None, Classification.GOOD)

        dossiers: dict[str, list[tuple[str, int]]] = {code: [] for code, _ in committees}
        done = [0]
        lock = threading.Lock()
        step = max(1, cells // 10)

        def cell(i: int) -> None:
            code, parent = committees[i % superiors]
            cell_code = f"cb-{i:05}"
            uid = engine.register_unit(
                admin, code=cell_code, name=f"Chi bộ thôn {VILLAGES[i % len(VILLAGES)]} {i}",
                kind=UnitKind.GRASSROOTS_CELL, parent_id=parent, established_on=date(2010, 1, 1),
                group=GROUPS[i % len(GROUPS)],
            ).value
            secretary = Actor(person(f"bt-{cell_code}", f"Bí thư {i}", Role.SECRETARY, uid), Role.SECRETARY, uid)
            did = engine.open_dossier(secretary, uid, YEAR).value
            engine.record_answers(secretary, did, answers=answers, facts=facts)
            engine.submit(secretary, did)
            engine.endorse(Actor(person_id(f"tc-{code}"), Role.REVIEWER, parent), did, level=Classification.GOOD)
            with lock:
                dossiers[code].append((str(did), engine.dossier(did).version))
                done[0] += 1
                if done[0] % step == 0:
                    progress(f"    {done[0]:,} of {cells:,} dossiers endorsed ({time.perf_counter() - started:,.0f} s)")

        def lane(lane_number: int) -> None:
            # A lane plays the cells of its own committees: two lanes never write the same committee's unit or
            # decision book, so they never collide.
            for i in range(cells):
                if (i % superiors) % threads == lane_number:
                    cell(i)

        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(lane, n) for n in range(threads)]:
                future.result()
        events = engine.recorder.max_notification_id() or 0
        played = time.perf_counter() - started
        side = open_read_side(engine, database_url=database_url, data_dir=data_dir)
        try:
            side.catch_up()
        finally:
            side.close()
            side.store.engine.dispose()
        progress(f"    read models caught up in {time.perf_counter() - started - played:,.0f} s")
    finally:
        engine.close()

    # Each approver's password, and a session of theirs already signed in: the row a sign-in writes. Signing 50
    # clients in over HTTP costs 50 argon2 verifications (a third of a second each on a busy 2-core machine) per
    # configuration; the benchmark signs one in over HTTP to check the path and lets the others use these.
    sessions: dict[str, tuple[str, str]] = {}
    accounts_engine = make_engine(accounts_url(database_url, data_dir))
    try:
        accounts = Accounts(accounts_engine)
        for username, _ in approvers:
            accounts.set_password(username, person_id(username), password(username))
            cookie, session = accounts.new_session(person_id(username))
            sessions[username] = (cookie, session.csrf_token)
    finally:
        accounts_engine.dispose()

    # Deal each committee's dossiers out between its approvers, round robin: disjoint lists, none taken twice.
    sharing: dict[str, list[str]] = {}
    for username, code in approvers:
        sharing.setdefault(code, []).append(username)
    made = []
    for username, code in approvers:
        mates = sharing[code]
        mine = sorted(dossiers[code])[mates.index(username)::len(mates)]
        made.append(Client(username, password(username), code, *sessions[username], mine))
    return Built(cells, superiors, events, time.perf_counter() - started, made)


def app_on(data: Path, postgres: str | None) -> Any:
    """The application `dossierflow serve` would make of a built store, made in this process."""
    os.environ["DOSSIERFLOW_DATA_DIR"] = str(data)
    if postgres:
        os.environ["DATABASE_URL"] = postgres
    else:
        os.environ.pop("DATABASE_URL", None)
    from web.server import app_from_env

    return app_from_env()
