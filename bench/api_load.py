"""Requests/s and latency of the JSON API under concurrent clients, measured with wrk against `dossierflow serve` on
the demo season (SQLite), beside the app's trivial /healthz in the same run.

    .venv/bin/python bench/api_load.py [--clients 50] [--duration 10] [--quick]

Needs wrk (Debian: apt-get install -y wrk). A copy of the demo season is loaded into a scratch directory, a token is
made for the provincial auditor with `dossierflow token create` (the path a client takes), and each endpoint is hit
by --clients connections with that bearer token, after a warm-up, once the server is quiet (it verifies the chain at
start). Endpoints, in this order:
  /healthz                       the yardstick: the app's middleware and nothing else;
  GET /api/v1/me                 the token's lookup, the person and their roles: what every API call pays first;
  GET /api/v1/dossiers           a page of 50 of the province's 70 dossiers from the read model, with unit names;
  GET /api/v1/dossiers/{id}      one dossier from the event log with the steps the engine offers the caller;
  GET /api/v1/audit              a page of 100 rows of the audit trail.
Prints requests/s, p50 and p99 (wrk's latency distribution), the ratio to /healthz and the load average after each
run: the machine is shared, so only the ratios of one run compare. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from web_load import BIN, free_port, server, server_env, settle  # noqa: E402

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Row:
    endpoint: str
    per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    load: float


def _ms(text: str) -> float:
    found = re.fullmatch(r"([0-9.]+)(us|ms|s)", text.strip())
    if not found:
        raise SystemExit(f"wrk printed a latency this script does not read: {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def wrk(port: int, path: str, token: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    command = [
        "wrk", "-t2", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout=30s", "--latency",
        "-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if not (rate and p50 and p99):
        raise SystemExit(f"wrk gave no figures:\n{out}")
    return float(rate.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(bad.group(1)) if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 s runs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    seconds = 3.0 if args.quick else args.duration
    scratch = Path(tempfile.mkdtemp(prefix="dossierflow-api-load-"))
    try:
        data_dir = scratch / "data"
        env = server_env(None, data_dir)
        subprocess.run([str(BIN / "dossierflow"), "demo"], env=env, check=True, capture_output=True)
        made = subprocess.run([str(BIN / "dossierflow"), "token", "create", "ubkt-tinh-uy", "--label", "bench"],
                              env=env, check=True, capture_output=True, text=True)
        token = made.stdout.strip()
        port = free_port()
        command = [str(BIN / "dossierflow"), "serve", "--port", str(port)]
        rows: list[Row] = []
        with server(command, env, scratch, scratch / "serve.log", port) as process:
            settle(process)
            import httpx2 as httpx

            listed = httpx.get(f"http://127.0.0.1:{port}/api/v1/dossiers", params={"limit": 1},
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
            listed.raise_for_status()
            one = listed.json()["items"][0]["id"]
            for name, path in (
                ("/healthz", "/healthz"),
                ("GET /api/v1/me", "/api/v1/me"),
                ("GET /api/v1/dossiers", "/api/v1/dossiers?limit=50"),
                ("GET /api/v1/dossiers/{id}", f"/api/v1/dossiers/{one}"),
                ("GET /api/v1/audit", "/api/v1/audit?limit=100"),
            ):
                wrk(port, path, token, args.clients, 1.0)  # warm-up
                settle(process)
                rate, p50, p99, bad = wrk(port, path, token, args.clients, seconds)
                rows.append(Row(name, rate, p50, p99, bad, os.getloadavg()[0]))
                print(f"  {name}: {rate:,.0f}/s (load average {rows[-1].load:.1f})", flush=True)
        yardstick = rows[0].per_second or 1.0
        print(f"\n{args.clients} clients, {seconds:.0f} s each, SQLite, one worker; {os.cpu_count()} cores")
        print(f"{'endpoint':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'× healthz':>10} {'non-2xx':>8} {'load':>6}")
        for r in rows:
            print(f"{r.endpoint:<28} {r.per_second:>8,.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
                  f"{r.per_second / yardstick:>10.2f} {r.non_2xx:>8} {r.load:>6.1f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
