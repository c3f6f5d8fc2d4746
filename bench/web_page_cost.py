"""The server's own cost of one My work page, without HTTP or a load tool: CPU time and SQL statements per page,
the app's /healthz beside it, called through the ASGI app in this process (the same middleware, routes and
templates as `dossierflow serve`, minus uvicorn's HTTP parsing).

    .venv/bin/python bench/web_page_cost.py [--cells 160] [--pages 400] [--profile] [--postgres URL]

Builds a small store with bench/web_load_data.py (approvers over committees of endorsed dossiers, each with a
signed-in session), then asks My work of the approvers in turn, `--pages` times after a warm-up, and prints the
CPU milliseconds per page (process time: the server's work, not the wait for a shared core), the statements sent
to each database per page (the event store's reads of the log's tail or head apart, as "event store"), and
/healthz's CPU per request. Where bench/web_load.py measures what a client sees under 50 clients, this says what a
page costs and what a change saved. `--profile` prints cProfile's top
functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine as SqlEngine  # noqa: E402
from web_load_data import app_on, build  # noqa: E402

STATEMENTS: Counter[str] = Counter()


@event.listens_for(SqlEngine, "before_cursor_execute")
def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    STATEMENTS[conn.engine.url.database or "?"] += 1


def _counting(driver_rows: Any) -> Any:
    # The statements sent straight through the driver (projections.store.driver_rows) pass no SQLAlchemy event.
    def counted(engine: SqlEngine, statement: str, parameters: Any = ()) -> Any:
        STATEMENTS[engine.url.database or "?"] += 1
        return driver_rows(engine, statement, parameters)

    return counted


def _count_driver_statements() -> None:
    import projections.reading
    import web.accounts

    for module in (projections.reading, web.accounts):
        module.driver_rows = _counting(module.driver_rows)  # type: ignore[attr-defined]


def _count_visit_reads(site: Any) -> None:
    # On PostgreSQL a visit's session, head and positions are one statement on connections of its own
    # (web/visit_reads.py).
    reads = site.visit_reads
    if reads is None:
        return
    rows = reads._rows
    name = reads.store.engine.url.database or "?"

    def counted(parameters: Any) -> Any:
        STATEMENTS[name] += 1
        return rows(parameters)

    reads._rows = counted


def _count_event_store_reads(recorder: Any) -> None:
    # The engine's cache reads the log's tail (or its head) through the event store's own connections.
    for name in ("select_tail", "max_notification_id"):
        method = getattr(recorder, name)

        def counted(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            STATEMENTS["event store"] += 1
            return _method(*args, **kwargs)

        setattr(recorder, name, counted)


async def _call(app: Any, path: str, cookie: str | None, form: bytes | None = None) -> tuple[int, bytes]:
    """GET `path`, or POST the urlencoded `form` to it."""
    headers = [(b"host", b"127.0.0.1:8000"), (b"accept-language", b"vi")]
    if cookie:
        headers.append((b"cookie", f"dossierflow_session={cookie}".encode()))
    if form is not None:
        headers += [(b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(form)).encode())]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET" if form is None else "POST",
        "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    status = 0
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": form or b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(body)


async def _run(app: Any, cookies: list[str], pages: int, profile: bool, inline_work: bool) -> None:
    # The lifespan (the thread limiter, the chain watch) as uvicorn runs it.
    async with app.router.lifespan_context(app):
        # A fresh app verifies the signed chain in a thread: let it finish before anything is timed.
        await asyncio.sleep(3)
        for cookie in cookies:
            status, page = await _call(app, "/work", cookie)
            if status != 200 or b"csrf_token" not in page:
                raise SystemExit(f"My work answered {status}")
        for _ in range(200):
            await _call(app, "/healthz", None)
        started = time.process_time()
        for _ in range(pages):
            await _call(app, "/healthz", None)
        health = (time.process_time() - started) / pages
        STATEMENTS.clear()
        profiler = cProfile.Profile() if profile else None
        if profiler or inline_work:
            # The profiler sees this thread only: the page's blocking work (the visit, the route) is run inline.
            import anyio.to_thread

            async def inline(func: Any, *args: Any, **_: Any) -> Any:
                return func(*args)

            anyio.to_thread.run_sync = inline  # type: ignore[assignment]
        if profiler:
            profiler.enable()
        started = time.process_time()
        wall = time.perf_counter()
        size = 0
        for i in range(pages):
            status, page = await _call(app, "/work", cookies[i % len(cookies)])
            size += len(page)
        cpu = (time.process_time() - started) / pages
        wall_each = (time.perf_counter() - wall) / pages
        if profiler:
            profiler.disable()
        per_page = {name: count / pages for name, count in STATEMENTS.items()}
        print(f"My work: {cpu * 1000:.2f} ms CPU per page ({wall_each * 1000:.2f} ms wall), "
              f"{size / pages / 1024:.1f} KiB, statements per page: "
              + ", ".join(f"{Path(n).name} {k:.1f}" for n, k in sorted(per_page.items())))
        print(f"/healthz: {health * 1000:.2f} ms CPU per request; My work ÷ /healthz in CPU: {cpu / health:.1f}")
        print(f"load average {os.getloadavg()[0]:.1f}")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=160)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--postgres", default=None, help="an empty PostgreSQL database to build in (kept with --data)")
    parser.add_argument("--profile", action="store_true", help="cProfile the pages (run inline, as --inline)")
    parser.add_argument("--inline", action="store_true",
                        help="run the page's blocking work on the event loop's thread, not in the thread pool: the "
                             "cost of the work alone, without the hand-over between threads")
    parser.add_argument("--data", type=Path, default=None, help="keep the built store here (reused when present)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dossierflow-pagecost-") as tmp:
        data = args.data or Path(tmp) / "data"
        marker = data / "built.json"
        if marker.exists():
            from web_load_data import Built

            built = Built.load(marker)
        else:
            print(f"building {args.cells} endorsed dossiers for {args.clients} approvers", flush=True)
            built = build(args.postgres, data, cells=args.cells, superiors=args.clients, clients=args.clients,
                          progress=lambda line: None)
            built.save(marker)
        app = app_on(data, args.postgres)
        _count_driver_statements()
        _count_visit_reads(app.state.site)
        _count_event_store_reads(app.state.site.engine.recorder)
        asyncio.run(_run(app, [c.cookie for c in built.clients], args.pages, args.profile, args.inline))


if __name__ == "__main__":
    main()
