"""The oversight pages on a large log: the dashboard (page and charts), the audit search and the units tree.

    .venv/bin/python bench/oversight_speed.py --store DIR [--read-models FILE] [--rounds 40] [--no-catch-up]

--store: a data directory holding an embedded store written by bench/big_log.py (its events.sqlite and the
bench-manifest.json naming the province and its districts). It is opened read-only: nothing is written there.
--read-models: where this script keeps the read models of that log (built on the first run, caught up later);
default <temp dir>/dossierflow-<store name>-read-models.sqlite, outside the repository.

Each round asks every page once, in turn, through the application in this process (Starlette's TestClient: the
whole ASGI stack, sign-in session, middleware and templates, no network), beside the app's trivial /healthz in the
same round, so that the figures can be compared on a noisy shared machine: p50 and p95 in ms, and p95 as a
multiple of /healthz's. The load average is printed beside the figures. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from domain.ids import person_id
from projections.catalog import all_projections
from projections.log import RecorderLog
from projections.models import audit as audit_model
from projections.models import units as units_model
from projections.readside import ReadSide
from projections.store import make_engine
from web.accounts import Accounts
from web.app import Site, create_app
from web.oversight import _csv_chunks
from workflow.bootstrap import build_engine

HERE = Path(__file__).resolve().parent


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def _progress(name: str, position: int, head: int) -> None:
    print(f"  {name}: {position:,} of {head:,}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--read-models", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--no-catch-up", action="store_true",
        help="read models someone else keeps (e.g. DIR/read-models.sqlite): only read them, never feed them",
    )
    args = parser.parse_args()
    store_dir: Path = args.store
    manifest = json.loads((store_dir / "bench-manifest.json").read_text(encoding="utf-8"))
    province, districts = manifest["province"], manifest["districts"]
    year = int(manifest.get("year", 2024))
    read_models = args.read_models or Path(tempfile.gettempdir()) / f"dossierflow-{store_dir.name}-read-models.sqlite"
    read_models.parent.mkdir(parents=True, exist_ok=True)

    engine = build_engine(database_url=None, data_dir=store_dir, read_only=True)
    side = ReadSide(
        make_engine(f"sqlite:///{read_models}", derived=True),
        all_projections(),
        RecorderLog(engine.recorder, engine.mapper),
        sqlite_file=read_models,
    )
    head = engine.recorder.max_notification_id() or 0
    if args.no_catch_up:
        behind, failed = side.behind(head)
        if behind or failed:
            raise SystemExit(f"the read models in {read_models} are not level with the log: {behind or failed}")
    else:
        started = time.perf_counter()
        side.catch_up(progress=_progress)
        print(f"read models of {head:,} events ready in {time.perf_counter() - started:.0f} s ({read_models})")

    scratch = Path(tempfile.mkdtemp(prefix="oversight-bench-"))
    accounts = Accounts(
        make_engine(f"sqlite:///{scratch / 'web.sqlite'}"), hasher=PasswordHasher(time_cost=1, memory_cost=1024)
    )
    reviewer = f"tc-{province}"
    accounts.set_password(reviewer, person_id(reviewer), "bench-password")
    site = Site(engine, side, accounts)
    app = create_app(site, run_background=False)
    district = districts[len(districts) // 2]
    # A page far down the province's trail as the pager's links reach it (they carry the position before it), and
    # a unit's own name to search for (a cell's, from the middle of the log).
    province_id = units_model.unit_by_code(side.store, province)
    assert province_id is not None
    (before_page_1000,) = audit_model.audit_trail(
        side.store, unit_id=province_id.unit_id, offset=999 * 50 - 1, limit=1, count_limit=0
    ).rows
    editable = manifest.get("editable") or []
    cell = units_model.unit_by_code(side.store, editable[len(editable) // 2][1]) if editable else None
    name = cell.name if cell is not None else province
    requests = {
        "healthz": "/healthz",
        "dashboard": f"/dashboard?unit={province}&year={year}&compare=none",
        "dashboard district": f"/dashboard?unit={district}&year={year}&compare=none",
        "chart states.svg": f"/dashboard/charts/states.svg?unit={province}&year={year}&compare=none",
        "chart levels.svg": f"/dashboard/charts/levels.svg?unit={province}&year={year}&compare=none",
        "audit (province, page 1)": "/audit",
        "audit (province, page 1000)": "/audit?page=1000",
        "audit (province, p1000 link)": f"/audit?page=1000&after={before_page_1000.position}",
        "audit person": f"/audit?person=tc-{district}",
        "audit person+district": f"/audit?person=tc-{district}&unit={district}",
        "audit action+year": f"/audit?action=Dossier.ReturnedToUnit&year={year}",
        "audit action (common)": "/audit?action=Dossier.Approved",
        "audit year": f"/audit?year={year}",
        "audit year (none)": f"/audit?year={year - 5}",
        "audit range (province)": f"/audit?since={year}-12-01&until={year}-12-10",
        "audit district": f"/audit?unit={district}",
        "audit district+action": f"/audit?unit={district}&action=Dossier.Approved",
        "audit district+range": f"/audit?unit={district}&since={year}-12-01&until={year}-12-10",
        "audit district+all": (
            f"/audit?unit={district}&action=Dossier.Submitted&year={year}&since={year}-11-01&until={year}-12-31"
        ),
        # TestClient reads a streamed response whole: the export's start is timed on the rows it streams first.
        "audit.csv (first 500 rows)": f"csv:{district}",
        "units (province)": "/units",
        "units (a district opened)": f"/units?unit={district}",
        "units search (district code)": f"/units?q={district}",
        "units search (a cell's name)": f"/units?{urlencode({'q': name})}",
        "units search (common words)": f"/units?{urlencode({'q': 'chi bo'})}",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"})
    with client:
        page = client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed = client.post(
            "/sign-in", data={"csrf_token": token.group(1), "username": reviewer, "password": "bench-password"},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text[:500]
        times: dict[str, list[float]] = {name: [] for name in requests}
        sizes: dict[str, int] = {}
        for name, path in requests.items():  # one warm-up each, and every page must answer 200
            status, size = _ask(client, site, path)
            assert status == 200, (path, status)
            sizes[name] = size
        print(f"{args.rounds} rounds, {_load()}")
        for _ in range(args.rounds):
            for name, path in requests.items():
                started = time.perf_counter()
                status, _ = _ask(client, site, path)
                times[name].append((time.perf_counter() - started) * 1000)
                assert status == 200
    side.close()
    engine.close()
    base = _p95(times["healthz"])
    print(f"\n{head:,} events in the log; {args.rounds} rounds; {_load()}")
    print(f"{'request':32} {'p50 ms':>9} {'p95 ms':>9} {'p95 / healthz':>14} {'bytes':>10}")
    for name, found in times.items():
        print(
            f"{name:32} {statistics.median(found):9.1f} {_p95(found):9.1f} {_p95(found) / base:14.1f} "
            f"{sizes[name]:10,}"
        )


def _ask(client: TestClient, site: Site, path: str) -> tuple[int, int]:
    """The status and the bytes read; for "csv:UNIT", the first chunk the export of that unit's trail streams (the
    time until a download starts), as /audit.csv makes it."""
    if not path.startswith("csv:"):
        response = client.get(path)
        return response.status_code, len(response.content)
    unit = units_model.unit_by_code(site.side.store, path[4:])
    assert unit is not None
    first = next(_csv_chunks(site, {"unit_id": unit.unit_id}))
    return 200, len(first.encode("utf-8"))


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
