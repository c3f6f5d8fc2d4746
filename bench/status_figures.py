"""The four read-side figures of issue 6 at the size of a given log, side by side in one run, touching nothing.

    .venv/bin/python bench/status_figures.py --store DIR_OR_URL [--store ...] [--repeat 20] [--runs 3] [--all]

--store: a SQLite data directory or a postgresql:// URL holding a log made by bench/big_log.py, its read models
already built (`dossierflow projections rebuild`). Nothing is written: the read models are read as they are (the
lag of each behind the log is printed; the CLI would catch up first), the engine opens the store read-only.

1. the statistics of the province for the year (`projections.models.statistics.statistics`), median and worst of
   --repeat calls after one warm-up;
2. a person's queues (`projections.models.access.queues`): the province's approver, whose queues span every dossier
   below it, and a district's reviewer;
3. `dossierflow status` and `dossierflow units` as a person types them (wall clock and the process's own CPU,
   median of --runs), and what they print; with --all also `status --all` and `units --all` (every line, streamed);
4. the CPU of `import web.cli` alone (best of --runs), the floor under every command.

Figures, not pass/fail: the wanted bound is printed beside each.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BenchStore, open_bench_store, timed_calls
from issue6_figures import YEAR, _waiting_rules, read_side

from domain.ids import person_id, unit_id
from projections.models.access import queues
from projections.models.statistics import statistics as province_statistics

ROOT = Path(__file__).resolve().parent.parent
DOSSIERFLOW = Path(sys.executable).with_name("dossierflow")
PEOPLE = (("province approver", "tv-tinh"), ("district reviewer", "tc-h01"))


def query_figures(bench: BenchStore, repeat: int) -> list[tuple[str, str, str]]:
    engine = bench.engine(read_only=True)
    side = read_side(bench, engine)
    try:
        store = side.store
        head = engine.recorder.max_notification_id() or 0
        live = {t.name: t for t in store.trackings() if t.generation == store.live_generation(t.name)}
        behind = {name: head - t.position for name, t in live.items() if t.position < head}
        if behind:
            print(f"  read models behind the log ({head:,} events): {behind}; figures of what they hold", flush=True)
        rows = []
        median, worst = timed_calls(lambda: province_statistics(store, unit_id("tinh"), YEAR), repeat)
        found = province_statistics(store, unit_id("tinh"), YEAR)
        rows.append((
            "statistics of the province",
            f"{1000 * median:.1f} ms (worst of {repeat} {1000 * worst:.1f} ms; {found.dossiers:,} dossiers below)",
            "< 100 ms",
        ))
        rules = _waiting_rules()
        today = date.today()
        for who, username in PEOPLE:
            pid = person_id(username)
            median, worst = timed_calls(lambda pid=pid: queues(store, pid, today, rules), repeat)
            waiting = sum(q.count for q in queues(store, pid, today, rules))
            rows.append((
                f"queues of the {who} ({username})",
                f"{1000 * median:.1f} ms (worst {1000 * worst:.1f} ms; {waiting:,} waiting)",
                "< 100 ms",
            ))
        return rows
    finally:
        side.close()
        side.store.engine.dispose()
        engine.close()


def cli_figure(bench: BenchStore, args: list[str], runs: int, timeout: float) -> str:
    times, cpu = [], []
    lines = 0
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [str(DOSSIERFLOW), *args], env=bench.cli_env(), cwd=ROOT, capture_output=True, text=True,
                timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            return f"more than {timeout:.0f} s (stopped)"
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The process's own work (user + system CPU), which a loaded machine's queue for the CPU does not inflate.
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            return f"failed ({done.returncode}): {(done.stderr or done.stdout).strip()[:200]}"
        lines = len(done.stdout.splitlines())
    wall, work = statistics.median(times), statistics.median(cpu)
    return f"{wall:.2f} s wall, {work:.2f} s CPU (median of {runs}; {lines:,} lines)"


def import_figure(runs: int) -> str:
    probe = "import time; t = time.process_time(); import web.cli; print(time.process_time() - t)"
    found = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
        found.append(float(done.stdout))
    return f"{min(found):.2f} s CPU (best of {runs}; median {statistics.median(found):.2f} s)"


def measure(spec: str, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    bench = open_bench_store(spec)
    engine = bench.engine(read_only=True)
    try:
        events = engine.recorder.max_notification_id() or 0
    finally:
        engine.close()
    print(f"[{bench.backend}] {bench.describe()}: {events:,} events", flush=True)
    rows = query_figures(bench, args.repeat)
    commands = [["status"], ["units"]] + ([["status", "--all"], ["units", "--all"]] if args.all else [])
    for command in commands:
        figure = cli_figure(bench, command, args.runs, args.timeout)
        rows.append((f"`dossierflow {' '.join(command)}`", figure, "< 1 s"))
    rows.append(("`import web.cli` (every command's floor)", import_figure(args.runs), "—"))
    return [(f"{bench.backend} {events:,} events: {label}", value, wanted) for label, value, wanted in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", action="append", required=True, help="a SQLite directory or a PostgreSQL URL")
    parser.add_argument("--repeat", type=int, default=20, help="calls of each query")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command")
    parser.add_argument("--all", action="store_true", help="also `status --all` and `units --all`")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    rows = [row for spec in args.store for row in measure(spec, args)]
    width = max(len(label) for label, _, _ in rows)
    print()
    print(f"| {'figure':<{width}} | measured | wanted |")
    print(f"| {'-' * width} | --- | --- |")
    for label, value, wanted in rows:
        print(f"| {label:<{width}} | {value} | {wanted} |")


if __name__ == "__main__":
    main()
