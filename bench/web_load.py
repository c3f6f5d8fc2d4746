"""Requests/s and latency of the web application under 50 concurrent clients, measured with wrk against
`dossierflow serve`: My work and an approve action, beside a trivial endpoint in the same run.

    .venv/bin/python bench/web_load.py [--quick] [--cells N] [--superiors K] [--clients 50] [--duration S]
                                       [--workers 2,3] [--think S] [--postgres URL | --no-postgres | --no-sqlite]
                                       [--profile DIR]
    make bench-web [BENCH_FLAGS=--quick]

Needs wrk (Debian: apt-get install -y wrk); --profile needs py-spy (pip install py-spy).

For each backend a store is built with the engine, once (bench/web_load_data.py: N grassroots cells with a 2025
dossier endorsed at "good", spread over K superior committees, one approver per client with a session already
signed in); each server configuration (SQLite with one worker; PostgreSQL with each --workers count) gets a fresh
copy of it (a copied data directory; a database created from the built one as template), since approving uses
dossiers up.

Per configuration, in this order, each after a warm-up, and once the server is quiet (no CPU used for a second: a
fresh server verifies the whole chain first, and a run's last requests are let finish):
  bare /healthz    a bare FastAPI app with one endpoint, served by uvicorn the same way (bench/web_load_bare.py);
  My work, no cache  GET /work, each client as its own approver, back to back, against a server of its own started
                   with DOSSIERFLOW_PAGE_CACHE_ENTRIES=0: every view rendered;
  /healthz         the app's own trivial endpoint (it skips the visit but goes through the app's middleware);
  My work, cached  the same with the page cache on (the default): nothing changes between a client's views, so
                   after the warm-up every view is served from the cache (web/page_cache.py);
  My work, think   the same with a think time between a client's requests (--think, mean 3 s): the latency of the
                   page at a load the server carries, rather than at saturation;
  approve          POST /dossiers/<id>/act/approve (csrf_token, version, level=good), each client taking the next
                   dossier of its own list; only 303s count (the answer comes once the read models have the
                   decision); anything else is an error, listed by status.
Each client is one wrk connection on a wrk thread of its own (-t = -c), so that a thread's Lua state is the
connection's: its cookie, CSRF token and dossiers. One client signs in over HTTP (the check that the path works);
the others use the sessions the build wrote through web.accounts (the rows a sign-in writes), since 50 argon2
verifications per configuration cost more than the measurements on a 2-core machine. wrk shares the cores with the
server, and so does anything else running: the table shows the load average beside each figure.

Prints a table: backend, workers, endpoint, requests/s, p50, p95, p99, the server's CPU milliseconds per request,
the ratio to the app's /healthz and to the bare app's in the same configuration, the load average, errors.
Figures, not a pass/fail test. Cleans up its servers, directories and databases, also when interrupted. With
--profile DIR, py-spy samples the server during My work and approve (raw stacks in DIR, summarized by
bench/web_load_profile.py): those figures are then taken under the profiler.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import httpx2 as httpx  # noqa: E402
import psycopg  # noqa: E402
from _common import DEFAULT_POSTGRES_URL  # noqa: E402
from psycopg import sql  # noqa: E402
from web_load_data import Built, Client, build  # noqa: E402

BIN = Path(sys.executable).parent
SESSION_COOKIE = "dossierflow_session"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# One wrk thread per connection: setup() numbers the threads, init() reads that client's line of the config file
# (cookie, CSRF token, dossiers), response() tallies the statuses, done() prints one machine-readable line.
LUA = r"""
local threads = {}
local count = 0

function setup(thread)
  count = count + 1
  thread:set("id", count)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  think = tonumber(args[4] or "0")
  math.randomseed(id * 7919)
  statuses = {}
  ran_out = 0
  reqs = {}
  n = 0
  if mode == "plain" then
    reqs[1] = wrk.format("GET", args[3])
    return
  end
  local f = assert(io.open(args[2]))
  local line
  for _ = 1, id do line = f:read("*l") end
  f:close()
  local cookie, csrf, items = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = {["Cookie"] = "dossierflow_session=" .. cookie}
  if mode == "get" then
    reqs[1] = wrk.format("GET", args[3], headers)
    return
  end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  for did, version in items:gmatch("([^:,]+):(%d+)") do
    local body = "csrf_token=" .. csrf .. "&version=" .. version .. "&level=good"
    reqs[#reqs + 1] = wrk.format("POST", "/dossiers/" .. did .. "/act/approve", headers, body)
  end
end

-- Think time between a client's requests (0: none, back to back). Spread from half to one and a half times the
-- mean so that the clients do not move in step.
function delay()
  if think == 0 then return 0 end
  return think * (0.5 + math.random())
end

function request()
  if mode ~= "post" then return reqs[1] end
  n = n + 1
  if n > #reqs then
    -- Only between the last answer and the stop taking effect: answered 409, counted as an error.
    ran_out = 1
    n = #reqs
  end
  return reqs[n]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if mode == "post" and n >= #reqs then
    ran_out = 1
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local codes = {}
  local out = 0
  for _, t in ipairs(threads) do
    for code, k in pairs(t:get("statuses")) do codes[code] = (codes[code] or 0) + k end
    out = out + (t:get("ran_out") or 0)
  end
  local parts = {}
  for code, k in pairs(codes) do parts[#parts + 1] = string.format('"%d": %d', code, k) end
  local e = summary.errors
  io.write(string.format(
    'WRKRESULT {"duration_us": %d, "requests": %d, "socket_errors": %d, "timeouts": %d, ' ..
    '"p50": %d, "p95": %d, "p99": %d, "max": %d, "ran_out": %d, "codes": {%s}}\n',
    summary.duration, summary.requests, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, out,
    table.concat(parts, ", ")))
end
"""


@dataclass
class Measured:
    backend: str
    workers: int
    endpoint: str
    seconds: float
    ok: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    # The machine's 1-minute load average after the run: the server and wrk, and whatever else was running.
    load: float
    errors: dict[str, int] = field(default_factory=dict)
    ran_out: int = 0
    completed: int = 0
    # CPU time the server's processes used during the run, per request completed: what a request costs the server
    # whatever share of the cores it got (the requests/s above depend on what else runs on the machine).
    cpu_ms: float = 0.0

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def errors_text(self) -> str:
        shown = ", ".join(f"{k}×{v}" for k, v in sorted(self.errors.items()) if v)
        if not self.completed:
            shown = (shown + "; " if shown else "") + "no request completed within the run"
        if self.ran_out:
            shown = (shown + "; " if shown else "") + f"{self.ran_out} clients ran out of dossiers"
        return shown or "0"


@dataclass
class Options:
    clients: int
    duration: float
    warmup: float
    timeout: int
    scratch: Path
    profile: Path | None
    think: float


# --- servers ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    command: list[str], env: dict[str, str], cwd: Path, log: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """A server in a process group of its own, answering /healthz; stopped (SIGINT, then SIGKILL) on the way out."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server stopped at start (exit {process.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer within 120 s; see {log}")
            time.sleep(0.2)
        yield process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    # The group is the server's own (start_new_session): uvicorn's supervisor and its workers, nothing else.
    for sig, wait in ((signal.SIGINT, 20.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            # Workers may outlive the supervisor by a moment: the group is gone when no member answers signal 0.
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                os.killpg(process.pid, 0)
                time.sleep(0.1)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def group_cpu_seconds(group: int) -> float:
    """CPU time used so far by the live processes of a process group (the server's supervisor and workers)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces and parentheses: the fields that follow start after the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(process: subprocess.Popen[bytes], *, idle_share: float = 0.1, most: float = 180.0) -> float:
    """Wait until the server is quiet (under `idle_share` of a core for a second): a freshly started app verifies
    the whole signed chain in a thread of each worker (web/chain.py), which must not fall on a measurement.
    Returns the seconds waited."""
    started = time.monotonic()
    before = group_cpu_seconds(process.pid)
    while time.monotonic() - started < most:
        time.sleep(1.0)
        now = group_cpu_seconds(process.pid)
        if now - before < idle_share:
            break
        before = now
    return time.monotonic() - started


def server_env(database_url: str | None, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DOSSIERFLOW_DATA_DIR")}
    env["DOSSIERFLOW_DATA_DIR"] = str(data_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


# --- clients ----------------------------------------------------------------------------------------------------


def sign_in(port: int, client: Client) -> tuple[str, str]:
    """(session cookie, CSRF token) of a fresh session of this client's approver, signed in over HTTP."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False, timeout=30) as http:
        page = http.get("/sign-in")
        token = CSRF.search(page.text)
        assert token, "the sign-in page carries no CSRF token"
        answer = http.post(
            "/sign-in", data={"csrf_token": token.group(1), "username": client.username, "password": client.password}
        )
        if answer.status_code != 303:
            raise SystemExit(f"signing in as {client.username} answered {answer.status_code}")
        work = http.get("/work")
        if work.status_code != 200:
            raise SystemExit(f"My work of {client.username} answered {work.status_code}")
        token = CSRF.search(work.text)
        assert token, "My work carries no CSRF token"
        return http.cookies[SESSION_COOKIE], token.group(1)


def check_session(port: int, cookie: str, csrf_token: str) -> None:
    work = httpx.get(f"http://127.0.0.1:{port}/work", cookies={SESSION_COOKIE: cookie}, timeout=30)
    if work.status_code != 200 or csrf_token not in work.text:
        raise SystemExit(f"a client's session does not open My work (answered {work.status_code})")


def write_config(path: Path, sessions: list[tuple[str, str]], dossiers: list[list[tuple[str, int]]]) -> Path:
    lines = [
        f"{cookie}\t{csrf}\t{','.join(f'{did}:{version}' for did, version in mine)}"
        for (cookie, csrf), mine in zip(sessions, dossiers, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(
    options: Options, port: int, mode: str, config: Path | None, path: str, seconds: float, think_ms: int = 0
) -> dict[str, Any]:
    script = options.scratch / "web_load.lua"
    if not script.exists():
        script.write_text(LUA)
    command = [
        "wrk", f"-t{options.clients}", f"-c{options.clients}", f"-d{max(1, round(seconds))}s",
        f"--timeout={options.timeout}s", "-s", str(script), f"http://127.0.0.1:{port}",
        "--", mode, str(config or "-"), path, str(think_ms),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKRESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRKRESULT "))
    return result


def measured(
    backend: str, workers: int, endpoint: str, raw: dict[str, Any], expected: int, load: float
) -> Measured:
    codes = {int(k): v for k, v in raw["codes"].items()}
    errors = {str(code): k for code, k in codes.items() if code != expected}
    errors["socket"] = raw["socket_errors"]
    errors["timeout"] = raw["timeouts"]
    return Measured(
        backend, workers, endpoint, raw["duration_us"] / 1e6, codes.get(expected, 0),
        raw["p50"] / 1000, raw["p95"] / 1000, raw["p99"] / 1000, load, errors, raw["ran_out"], raw["requests"],
    )


@contextlib.contextmanager
def profiled(options: Options, process: subprocess.Popen[bytes], name: str) -> Iterator[None]:
    """py-spy sampling the server (and its workers) while the block runs, when --profile is given."""
    if options.profile is None:
        yield
        return
    out = options.profile / f"{name}.txt"
    spy = subprocess.Popen(
        [str(BIN / "py-spy"), "record", "--pid", str(process.pid), "--subprocesses", "--nonblocking",
         "--rate", "250", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)  # py-spy attaches before the load starts
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


# --- one configuration ------------------------------------------------------------------------------------------


def run_configuration(
    options: Options, backend: str, workers: int, database_url: str | None, data_dir: Path, built: Built
) -> list[Measured]:
    label = f"{backend}, {workers} worker{'s' * (workers > 1)}"
    began = time.perf_counter()

    def say(text: str) -> None:
        print(f"  [{label}] {time.perf_counter() - began:5.0f} s  {text} (load average {os.getloadavg()[0]:.1f})",
              flush=True)

    results: list[Measured] = []
    logs = options.scratch / "logs"
    logs.mkdir(exist_ok=True)
    slug = f"{backend.lower()}-w{workers}"

    def measure(
        process: subprocess.Popen[bytes], endpoint: str, port: int, mode: str, config: Path | None, path: str,
        expected: int, think_ms: int = 0,
    ) -> None:
        # What the warm-up or the run before left in flight is finished before this run starts.
        settle(process)
        cpu_before = group_cpu_seconds(process.pid)
        raw = wrk(options, port, mode, config, path, options.duration, think_ms)
        cpu = group_cpu_seconds(process.pid) - cpu_before
        results.append(measured(backend, workers, endpoint, raw, expected, os.getloadavg()[0]))
        row = results[-1]
        row.cpu_ms = 1000 * cpu / row.completed if row.completed else 0.0
        say(f"{endpoint}: {row.per_second:,.0f} req/s, p95 {row.p95_ms:,.1f} ms, server CPU {row.cpu_ms:.2f} ms "
            f"per request, errors {row.errors_text()}")

    port = free_port()
    bare = [str(BIN / "python"), "-m", "uvicorn", "--app-dir", str(HERE), "web_load_bare:app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--proxy-headers",
            "--forwarded-allow-ips", "127.0.0.1"]
    say("bare FastAPI app")
    with server(bare, dict(os.environ), options.scratch, logs / f"{slug}-bare.log", port) as yardstick:
        wrk(options, port, "plain", None, "/healthz", options.warmup)
        measure(yardstick, "bare /healthz", port, "plain", None, "/healthz", 200)

    # My work rendered on every view (the page cache off), in a server of its own before the one below: what the
    # page costs without the cache, beside what a repeated view costs with it.
    port = free_port()
    serve = [str(BIN / "dossierflow"), "serve", "--port", str(port), "--workers", str(workers)]
    uncached_env = {**server_env(database_url, data_dir), "DOSSIERFLOW_PAGE_CACHE_ENTRIES": "0"}
    say("dossierflow serve, My work's page cache off")
    with server(serve, uncached_env, options.scratch, logs / f"{slug}-serve-nocache.log", port) as app:
        say(f"answering; quiet after {settle(app):.0f} s more")
        sessions = [sign_in(port, built.clients[0])] + [(c.cookie, c.csrf_token) for c in built.clients[1:]]
        work = write_config(options.scratch / f"{slug}-work-nocache.tsv", sessions, [[] for _ in sessions])
        wrk(options, port, "get", work, "/work", options.warmup)
        with profiled(options, app, f"{slug}-work-nocache"):
            measure(app, "My work, no cache", port, "get", work, "/work", 200)

    port = free_port()
    serve = [str(BIN / "dossierflow"), "serve", "--port", str(port), "--workers", str(workers)]
    say("dossierflow serve")
    with server(serve, server_env(database_url, data_dir), options.scratch, logs / f"{slug}-serve.log", port) as app:
        say(f"answering; quiet after {settle(app):.0f} s more")
        wrk(options, port, "plain", None, "/healthz", options.warmup)
        measure(app, "/healthz", port, "plain", None, "/healthz", 200)

        # The first client signs in over HTTP; the others bring the sessions made with the store. Every session
        # must open its approver's My work before anything is measured.
        sessions = [sign_in(port, built.clients[0])] + [(c.cookie, c.csrf_token) for c in built.clients[1:]]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda s: check_session(port, *s), sessions))
        say(f"{len(sessions)} clients signed in")
        work = write_config(options.scratch / f"{slug}-work.tsv", sessions, [[] for _ in sessions])
        wrk(options, port, "get", work, "/work", options.warmup)
        with profiled(options, app, f"{slug}-work"):
            measure(app, "My work, cached", port, "get", work, "/work", 200)
        if options.think:
            # The same clients reading at a person's pace: the latency of a page at a load the server can carry.
            measure(app, f"My work, {options.think:g} s think", port, "get", work, "/work", 200,
                    round(options.think * 1000))

        # The first dossiers of each list warm the approve path up; the rest are for the measured run.
        warm = 3
        warmup = write_config(options.scratch / f"{slug}-approve-warm.tsv", sessions,
                              [c.dossiers[:warm] for c in built.clients])
        # wrk leaves its last requests in flight; measure() lets the server finish them first, or a straggler of
        # this warm-up and the first measured approve of the same committee could collide on its decision book.
        wrk(options, port, "post", warmup, "-", options.warmup)
        approve = write_config(options.scratch / f"{slug}-approve.tsv", sessions,
                               [c.dossiers[warm:] for c in built.clients])
        with profiled(options, app, f"{slug}-approve"):
            measure(app, "approve", port, "post", approve, "-", 303)
    say("stopped")
    return results


# --- stores -----------------------------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def databases(server_url: str) -> Iterator[list[str]]:
    """Names of databases created inside the block, each dropped on the way out."""
    made: list[str] = []
    try:
        yield made
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            for name in reversed(made):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(server_url: str, made: list[str], template: str | None = None) -> str:
    name = f"dossierflow_webload_{uuid4().hex[:8]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)
    made.append(name)
    return name


def build_store(database_url: str | None, data_dir: Path, args: argparse.Namespace, backend: str) -> Built:
    print(f"  [{backend}] building {args.cells:,} endorsed dossiers under {args.superiors} committees "
          f"for {args.clients} approvers", flush=True)
    built = build(database_url, data_dir, cells=args.cells, superiors=args.superiors, clients=args.clients,
                  progress=lambda line: print(line, flush=True))
    print(f"  [{backend}] built: {built.events:,} events in {built.seconds:,.0f} s", flush=True)
    return built


def run_sqlite(options: Options, args: argparse.Namespace) -> list[Measured]:
    built_dir = options.scratch / "sqlite-built"
    built = build_store(None, built_dir, args, "SQLite")
    copy = options.scratch / "sqlite-w1"
    shutil.copytree(built_dir, copy)
    try:
        return run_configuration(options, "SQLite", 1, None, copy, built)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def run_postgres(options: Options, args: argparse.Namespace, server_url: str) -> list[Measured]:
    results: list[Measured] = []
    with databases(server_url) as made:
        template = create_database(server_url, made)
        built_dir = options.scratch / "postgres-built"
        built = build_store(with_database(server_url, template), built_dir, args, "PostgreSQL")
        for workers in args.workers:
            name = create_database(server_url, made, template=template)
            # The signing key and the head file live in the data directory: each copy of the database gets its own.
            copy = options.scratch / f"postgres-w{workers}"
            shutil.copytree(built_dir, copy)
            try:
                results += run_configuration(options, "PostgreSQL", workers, with_database(server_url, name), copy,
                                             built)
            finally:
                shutil.rmtree(copy, ignore_errors=True)
    return results


# --- the report -------------------------------------------------------------------------------------------------


def table(rows: list[Measured]) -> None:
    print()
    print(f"{'backend':<11}{'workers':>8}  {'endpoint':<21}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'cpu ms':>8}{'÷ /healthz':>12}{'÷ bare':>9}{'load':>6}  errors")
    for row in rows:
        same = [r for r in rows if r.backend == row.backend and r.workers == row.workers]
        app = next((r.per_second for r in same if r.endpoint == "/healthz"), 0.0)
        bare = next((r.per_second for r in same if r.endpoint == "bare /healthz"), 0.0)
        paced = "think" in row.endpoint  # its rate is what the clients asked for, not what the server can do
        ratios = (f"{row.per_second / app if app else 0:>12.2f}{row.per_second / bare if bare else 0:>9.2f}"
                  if not paced else f"{'—':>12}{'—':>9}")
        # Clients that ran out of dossiers stood idle for the rest of the run: their rate is a floor, not a figure.
        rate = ("≥" if row.ran_out else "") + f"{row.per_second:,.0f}"
        print(f"{row.backend:<11}{row.workers:>8}  {row.endpoint:<21}{rate:>9}{row.p50_ms:>9,.1f}"
              f"{row.p95_ms:>9,.1f}{row.p99_ms:>9,.1f}{row.cpu_ms:>8.2f}{ratios}{row.load:>6.1f}  {row.errors_text()}")
    print()
    print("Wanted: My work and approve at >= 0.3 of the trivial endpoint's requests/s, p95 < 100 ms for My work.")
    if any(row.ran_out for row in rows):
        print("≥: clients ran out of dossiers before the run ended and stood idle, so the rate is only a floor (the")
        print("time divided by is the whole run's): give more --cells, or a shorter --duration.")
    print("The clients send back to back (but the think-time row): with 50 of them, p50 is about 50 / (requests/s),")
    print("so p95 < 100 ms back to back needs some 500+ requests/s. load: the machine's 1-minute load average.")
    print("cpu ms: the server's CPU time (all its processes, the read models' runner too) per request completed;")
    print("the bare app's is uvicorn's and FastAPI's alone. Ratios of it hold on a busy machine better than req/s.")
    print("My work, cached: each client reloads its own page with nothing changed in between, so after the warm-up")
    print("every view is a hit of the page cache (the visit, the log's head and the read models' positions are still")
    print("read on every view; any event makes the next view render). My work, no cache: the same clients against a")
    print("server started with DOSSIERFLOW_PAGE_CACHE_ENTRIES=0, every view rendered: what a changed page costs.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a first look: fewer dossiers, shorter runs, 2 workers")
    parser.add_argument("--cells", type=int, default=None,
                        help="endorsed dossiers per store (default 4000; quick 2000)")
    parser.add_argument("--superiors", type=int, default=None,
                        help="superior committees the cells are spread over (default: one per client)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measurement (default 15; quick 3)")
    parser.add_argument("--workers", default=None, help="PostgreSQL worker counts (default 2,3; quick 2)")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL, help="a PostgreSQL server (its default database)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--think", type=float, default=None,
                        help="also My work with this mean think time between a client's requests, in seconds "
                             "(default 3; quick: not measured; 0: not measured). Under 3.3: uvicorn closes a "
                             "connection idle for 5 s, and the longest pause is 1.5 times the mean")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the server during My work and approve")
    args = parser.parse_args()
    # Quick: enough that 50 clients approving for 3 s after a 1 s warm-up do not run out (500 did, at 116/s).
    args.cells = args.cells or (2000 if args.quick else 4000)
    args.superiors = args.superiors or args.clients
    args.think = args.think if args.think is not None else (0.0 if args.quick else 3.0)
    args.workers = [int(w) for w in (args.workers or ("2" if args.quick else "2,3")).split(",")]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    if args.profile is not None and not (BIN / "py-spy").exists():
        raise SystemExit(f"--profile needs py-spy in {BIN} (pip install py-spy)")
    if args.cells < args.clients * 8:
        raise SystemExit(f"--cells: at least 8 dossiers per client ({args.clients * 8})")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dossierflow-webload-") as tmp:
        options = Options(
            clients=args.clients, duration=args.duration or (3 if args.quick else 15), warmup=1 if args.quick else 3,
            timeout=30, scratch=Path(tmp), profile=args.profile, think=args.think,
        )
        if options.profile is not None:
            options.profile.mkdir(parents=True, exist_ok=True)
        rows: list[Measured] = []
        try:
            if not args.no_sqlite:
                rows += run_sqlite(options, args)
            if not args.no_postgres:
                try:
                    with psycopg.connect(args.postgres, connect_timeout=3):
                        pass
                except psycopg.OperationalError as error:
                    print(f"PostgreSQL not reachable at {args.postgres}: {error}; skipped")
                else:
                    rows += run_postgres(options, args, args.postgres)
        finally:
            if rows:
                table(rows)
            if options.profile is not None:
                from web_load_profile import summarize

                for raw in sorted(options.profile.glob("*.txt")):
                    summarize(raw)
    print(f"({time.perf_counter() - started:,.0f} s in all)")


if __name__ == "__main__":
    main()
