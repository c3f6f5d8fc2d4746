"""The reports' exports of 50,000 decided classifications: XLSX and CSV side by side, time and peak memory.

    .venv/bin/python bench/export_speed.py [--cells 50000] [--rounds 3]

Rows are written straight into the units and dossiers read models of a SQLite file (no events): a province of 50
districts of 1,000 party cells each, every cell decided for 2024, with Vietnamese names. Each measurement runs in a
fresh process (so that its peak RSS is its own), the formats interleaved round by round so that a neighbour's load
falls on all alike: reading the rows alone (the query's share), the CSV, and the XLSX, each from the first row to
the last byte of the file as the web route streams it (projections/exports.py: the same functions). The rows and the
XLSX are measured again on a copy where one cell moved after the period's end: the units below are then read as of
the period's end from every unit's versions, and the rows by chunks of unit ids, instead of along the scope rows.
Peak memory is tracemalloc's peak of Python allocations (measured in a second run: tracemalloc slows the run it
watches), and the process's peak RSS (VmHWM) above its RSS before the export.
Figures, not a test; the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from domain.ids import dossier_id, unit_id
from domain.values import Classification
from projections import exports
from projections.models.dossiers import DossiersProjection, micros
from projections.models.units import UnitsProjection, _segment
from projections.store import ReadModelStore, make_engine, sqlite_url

YEAR = 2024
# Units are named as they were at the end of the period, as the web route asks.
END = date(YEAR, 12, 31)
PROVINCE = "p0"
LEVELS = [
    (Classification.EXCELLENT, 0.1), (Classification.GOOD, 0.7), (Classification.COMPLETED, 0.17),
    (Classification.NOT_COMPLETED, 0.02), (Classification.NOT_RATED, 0.01),
]
# The Vietnamese words of the files, as the web layer gives them (bench/ does not import web/).
WORDING = exports.Wording(
    headers=["STT", "Mã đơn vị", "Đơn vị", "Mức xếp loại", "Đạt “4 tốt”", "Điểm", "Ngày quyết định",
             "Đang xem xét lại", "Bộ quy định", "Năm", "Số quyết định", "Ngày ban hành"],
    levels={
        Classification.EXCELLENT: "Hoàn thành xuất sắc nhiệm vụ", Classification.GOOD: "Hoàn thành tốt nhiệm vụ",
        Classification.COMPLETED: "Hoàn thành nhiệm vụ", Classification.NOT_COMPLETED: "Không hoàn thành nhiệm vụ",
        Classification.NOT_RATED: "Không xếp loại",
    },
    yes="Có",
    no="Không",
)


def _store(path: Path) -> ReadModelStore:
    return ReadModelStore(make_engine(sqlite_url(path), derived=True), [UnitsProjection(), DossiersProjection()])


def fill(path: Path, cells: int) -> None:
    store = _store(path)
    u = store.live_tables(UnitsProjection.name)
    d = store.live_tables(DossiersProjection.name)
    rows: dict[Any, list[dict[str, Any]]] = {}
    province = unit_id(PROVINCE)
    decided = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
    per_district = 1000
    weights = [w for _, w in LEVELS]
    rng = random.Random(5)

    paths: dict[Any, str] = {}

    def unit(code: str, name: str, parent: Any, position: int) -> None:
        # The tree's listing order, as the units read model keeps it (the exports do not read it).
        paths[unit_id(code)] = paths.get(parent, "") + _segment(name, position)
        rows.setdefault(u["units"], []).append({
            "unit_id": unit_id(code), "code": code, "name": name, "kind": "party_cell", "grp": "cell",
            "parent_id": parent, "established_on": date(2010, 1, 1), "dissolved_on": None, "active": True,
            "changed_on": date(2010, 1, 1), "position": position, "sort_path": paths[unit_id(code)],
        })
        rows.setdefault(u["unit_versions"], []).append({
            "unit_id": unit_id(code), "effective_from": date(2010, 1, 1), "name": name, "parent_id": parent,
            "active": True,
        })

    unit(PROVINCE, "Tỉnh ủy Lào Cai", None, 0)
    for n in range(cells):
        district_code = f"{PROVINCE}-d{n // per_district:02d}"
        district = unit_id(district_code)
        if n % per_district == 0:
            unit(district_code, f"Huyện ủy Mường Khương {n // per_district}", province, n + 1)
        code = f"{district_code}-c{n % per_district:04d}"
        uid = unit_id(code)
        did = dossier_id(uid, YEAR)
        name = f"Chi bộ Tổ dân phố số {n % per_district + 1} (phường Đông Hưng {n // per_district})"
        unit(code, name, district, cells + n)
        level = rng.choices([lv for lv, _ in LEVELS], weights)[0]
        four_good = level in (Classification.EXCELLENT, Classification.GOOD) and rng.random() < 0.6
        at = micros(decided + timedelta(days=rng.randrange(0, 60)))
        rows.setdefault(d["classifications"], []).append({
            "unit_id": uid, "year": YEAR, "unit_code": code, "dossier_id": did, "level": level.value,
            "four_good": four_good, "recognition_suspended": False, "reopened": False, "rule_set_id": "QD124-2023",
            "rule_set_version": 1, "decided_at_us": at, "decided_by": None, "reason": "", "position": n + 1,
            "act_number": f"{100 + n // per_district}-QĐ/HU", "act_date": date(2025, 1, 5),
        })
        rows.setdefault(d["dossiers"], []).append({
            "dossier_id": did, "unit_id": uid, "unit_code": code, "parent_id": district, "year": YEAR,
            "rule_set_id": "QD124-2023", "workflow_version": 1, "recognition_model_id": None, "state": "approved",
            "state_since_us": at, "round": 1, "suggested_level": level.value, "proposed_level": level.value,
            "final_level": level.value, "four_good": four_good, "recognition_suspended": False,
            "points": str(rng.randrange(50, 100)), "submitters": "", "last_actor_id": None, "last_role": None,
            "last_unit_id": None, "last_on_behalf_of": None, "last_at_us": at, "opened_at_us": at,
            "submitted_at_us": at, "decided_at_us": at, "waiting_step": None, "deadline": None, "levels": 3,
        })
        for depth, ancestor in enumerate((uid, district, province)):
            rows.setdefault(d["dossier_scope"], []).append({
                "dossier_id": did, "depth": depth, "ancestor_id": ancestor, "year": YEAR, "unit_code": code,
                "state": "approved", "state_since_us": at, "deadline": None,
            })
    with store.engine.begin() as conn:
        for table, batch in rows.items():
            for start in range(0, len(batch), 10_000):
                conn.execute(insert(table), batch[start : start + 10_000])
    store.engine.dispose()


def move_after_the_period(path: Path) -> None:
    """One cell moved to another district in March of the next year: the hierarchy now is no longer the period's,
    so an export reads the units below as of the period's end from their versions instead of the scope rows."""
    store = _store(path)
    u = store.live_tables(UnitsProjection.name)
    moved, to = unit_id(f"{PROVINCE}-d00-c0000"), unit_id(f"{PROVINCE}-d01")
    with store.engine.begin() as conn:
        conn.execute(u["units"].update().where(u["units"].c.unit_id == moved).values(
            parent_id=to, changed_on=date(YEAR + 1, 3, 1)))
        conn.execute(insert(u["unit_versions"]), [{
            "unit_id": moved, "effective_from": date(YEAR + 1, 3, 1), "name": "Chi bộ chuyển về huyện 1",
            "parent_id": to, "active": True,
        }])
    store.engine.dispose()


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _export(store: ReadModelStore, kind: str) -> dict[str, Any]:
    """One export from the first row to the last byte out, as the web route streams it."""
    below = unit_id(PROVINCE)
    out: dict[str, Any] = {"bytes": 0, "rows": 0}
    kind = kind.removesuffix("_moved")
    if kind == "rows":
        for _ in exports.decided_lines(store, YEAR, below, END):
            out["rows"] += 1
    elif kind == "csv":
        for chunk in exports.csv_chunks(exports.decided_lines(store, YEAR, below, END), WORDING):
            out["bytes"] += len(chunk)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            tempfile.tempdir = tmp
            lines = exports.decided_lines(store, YEAR, below, END)
            handle = exports.xlsx_file(lines, WORDING, title="Xếp loại năm 2024 p0", date_format="dd/mm/yyyy")
            with handle:
                # The sheet's XML as XlsxWriter wrote it to its temporary file before zipping it: the disk it took.
                with zipfile.ZipFile(handle) as archive:
                    out["sheet_xml"] = archive.getinfo("xl/worksheets/sheet1.xml").file_size
                handle.seek(0)
                for chunk in exports.file_chunks(handle):
                    out["bytes"] += len(chunk)
            tempfile.tempdir = None
    return out


def one(path: Path, kind: str) -> dict[str, Any]:
    """One export in this process, twice: timed (and its RSS peak above the start), then under tracemalloc, which
    slows every allocation several times over, for the peak of Python's allocations."""
    store = _store(path)
    # Warm what any running server has warm: the imports, the tables' metadata, the connection pool.
    next(exports.decided_lines(store, YEAR, unit_id(PROVINCE), END))
    rss_before = _rss_kib("VmRSS")
    started = time.perf_counter()
    out = _export(store, kind)
    seconds = time.perf_counter() - started
    rss_peak = max(0, _rss_kib("VmHWM") - rss_before) * 1024
    tracemalloc.start()
    _export(store, kind)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"kind": kind, "seconds": seconds, "traced_peak": traced_peak, "rss_peak_above_start": rss_peak, **out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("DB", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(Path(args.one[0]), args.one[1])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "read-models.sqlite"
        moved = Path(tmp) / "read-models-moved.sqlite"
        began = time.perf_counter()
        fill(path, args.cells)
        shutil.copyfile(path, moved)
        move_after_the_period(moved)
        print(f"{args.cells:,} decided classifications written in {time.perf_counter() - began:.0f} s", flush=True)
        results: dict[str, list[dict[str, Any]]] = {
            "rows": [], "rows_moved": [], "csv": [], "xlsx": [], "xlsx_moved": [],
        }
        loads = []
        for round_ in range(args.rounds):
            for kind in results:
                db = moved if kind.endswith("_moved") else path
                out = subprocess.run(
                    [sys.executable, __file__, "--one", str(db), kind], check=True, capture_output=True, text=True
                )
                results[kind].append(json.loads(out.stdout))
                loads.append(os.getloadavg()[0])
            print(f"  round {round_ + 1}/{args.rounds} (load average {os.getloadavg()[0]:.1f})", flush=True)
    base = statistics.median(r["seconds"] for r in results["rows"])
    print(f"\n{args.cells:,} classifications below one province, SQLite, median of {args.rounds} rounds "
          f"(load average {min(loads):.1f}–{max(loads):.1f} over the run, 2 cores shared):")
    print(f"  {'':<34}{'time':>9}{'× rows':>8}{'rows/s':>10}{'file':>10}{'traced peak':>13}{'RSS peak':>10}")
    for kind, label in (("rows", "reading the rows alone"),
                        ("rows_moved", "rows, a unit moved since the period"),
                        ("csv", "CSV (UTF-8, BOM), streamed"),
                        ("xlsx", "XLSX (constant_memory), streamed"),
                        ("xlsx_moved", "XLSX, a unit moved since the period")):
        runs = results[kind]
        seconds = statistics.median(r["seconds"] for r in runs)
        size = statistics.median(r["bytes"] for r in runs)
        traced = statistics.median(r["traced_peak"] for r in runs)
        rss = statistics.median(r["rss_peak_above_start"] for r in runs)
        print(f"  {label:<34}{seconds:>8.2f}s{seconds / base:>7.1f}×{args.cells / seconds:>10,.0f}"
              f"{size / 1e6:>8.1f}MB{traced / 1e6:>11.1f}MB{rss / 1e6:>8.1f}MB")
    xml = statistics.median(r["sheet_xml"] for r in results["xlsx"])
    xlsx_size = statistics.median(r["bytes"] for r in results["xlsx"])
    print(f"  XLSX disk at its peak: the sheet's XML ({xml / 1e6:.1f} MB, XlsxWriter's temporary file) and the "
          f"zipped file ({xlsx_size / 1e6:.1f} MB) side by side, {(xml + xlsx_size) / 1e6:.1f} MB, in the system's "
          "temporary directory; none of it is left after the download")


if __name__ == "__main__":
    main()
