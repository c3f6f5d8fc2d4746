"""What the read models' pass after one approval costs, alone: Engine.approve, then `Runner.run_pass()` in this
thread (as the runner's thread runs it live, on a connection kept between passes), timed by CPU time of the pass only.

    .venv/bin/python bench/approve_pass_cost.py [--cells 200] [--clients 10] [--store DIR] [--profile]

Builds the store of bench/web_load_data.py (kept in --store if given, and reused from there on a later run: each
run approves a copy of it), then approves every dossier, one pass per approval. Prints the mean and median CPU
milliseconds per pass (the first ten passes warm up, unmeasured), and with --profile cProfile's view of the passes.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from web_load_data import Built, build  # noqa: E402

WARM_UP = 10


def _built(store: Path, cells: int, clients: int) -> Built:
    saved = store / "built.json"
    if not saved.exists():
        store.mkdir(parents=True, exist_ok=True)
        print(f"building {cells} endorsed dossiers for {clients} approvers", flush=True)
        build(None, store / "data", cells=cells, superiors=clients, clients=clients, progress=lambda line: None).save(
            saved
        )
    return Built.load(saved)


def _passes(store: Path, built: Built, profile: cProfile.Profile | None) -> list[float]:
    from domain.actor import Actor
    from domain.ids import person_id, unit_id
    from domain.values import Classification, Role
    from web.readside import open_read_side
    from workflow.bootstrap import build_engine

    spent: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dossierflow-passcost-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(store / "data", data)
        engine = build_engine(database_url=None, data_dir=data)
        side = open_read_side(engine, database_url=None, data_dir=data)
        runner = side.new_runner()
        # As the live loop holds it: one connection between passes.
        runner._live_conn = side.store.engine.connect()
        try:
            runner.run_pass()
            for c in built.clients:
                actor = Actor(person_id(c.username), Role.APPROVER, unit_id(c.superior_code))
                for did, version in c.dossiers:
                    engine.approve(actor, UUID(did), level=Classification.GOOD, expected_version=version)
                    before = time.process_time()
                    if profile is not None:
                        profile.enable()
                    result = runner.run_pass()
                    if profile is not None:
                        profile.disable()
                    spent.append(time.process_time() - before)
                    if not result.applied or result.failures:
                        raise SystemExit(f"the pass after an approval applied nothing or failed: {result}")
        finally:
            runner._drop_live_connection()
            runner.locks.release_all()
            side.close()
            engine.close()
    return spent[WARM_UP:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--store", type=Path, default=None, help="where to keep the built store between runs")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="dossierflow-passcost-store-") as tmp:
        store = args.store or Path(tmp)
        spent = sorted(_passes(store, _built(store, args.cells, args.clients), profile))
    print(f"{len(spent)} passes after an approval: mean {1000 * sum(spent) / len(spent):.2f} ms CPU, "
          f"median {1000 * spent[len(spent) // 2]:.2f} ms CPU (load average {os.getloadavg()[0]:.1f})")
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
