"""What one approve action costs the server, and what of it is the floor: the engine's command, the read models'
pass over its events, and the rest (HTTP form, session, CSRF, authorization, the answer), without a load tool.

    .venv/bin/python bench/web_approve_cost.py [--cells 320] [--clients 10] [--postgres URL]

Builds a store with bench/web_load_data.py (approvers over committees of endorsed dossiers, each with a signed-in
session), opens the app in this process (`dossierflow serve`'s wiring, read models fed in-process), and approves
the dossiers, alternating between two ways so that both see the same load:
  HTTP      POST /dossiers/<id>/act/approve through the ASGI app (answered once the read models have the decision);
  engine    Engine.approve called directly, then ReadSide.wait_for its position: the engine's command and the
            read models' pass, nothing of the web.
Prints CPU milliseconds per approval: of the whole process (process time: the runner's thread included) for each
way, and of the calling thread alone during Engine.approve (thread time: the command without the read models).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from web_load_data import Built, app_on, build  # noqa: E402
from web_page_cost import _call  # noqa: E402


async def _run(app: Any, built: Built) -> None:
    from domain.actor import Actor
    from domain.ids import person_id, unit_id
    from domain.values import Classification, Role

    site = app.state.site
    engine, side = site.engine, site.side
    async with app.router.lifespan_context(app):
        await asyncio.sleep(3)  # the chain's verification at start, in a thread of its own
        http_cpu = engine_cpu = command_cpu = 0.0
        http_n = engine_n = 0
        print(f"measuring (pid {os.getpid()})", flush=True)
        started_wall = time.perf_counter()
        # Each client's first dossier warms both ways up, unmeasured.
        for c in built.clients:
            for k, (did, version) in enumerate(c.dossiers):
                by_http = k % 2 == 0
                before = time.process_time()
                if by_http:
                    form = urlencode({"csrf_token": c.csrf_token, "version": version, "level": "good"}).encode()
                    status, _ = await _call(app, f"/dossiers/{did}/act/approve", c.cookie, form)
                    if status != 303:
                        raise SystemExit(f"approve answered {status}")
                else:
                    actor = Actor(person_id(c.username), Role.APPROVER, unit_id(c.superior_code))
                    thread_before = time.thread_time()
                    receipt = engine.approve(actor, UUID(did), level=Classification.GOOD, expected_version=version)
                    spent = time.thread_time() - thread_before
                    if not side.wait_for(receipt.position).reached:
                        raise SystemExit("the read models did not reach the approval")
                cpu = time.process_time() - before
                if k < 2:
                    continue
                if by_http:
                    http_cpu, http_n = http_cpu + cpu, http_n + 1
                else:
                    engine_cpu, command_cpu, engine_n = engine_cpu + cpu, command_cpu + spent, engine_n + 1
        wall = time.perf_counter() - started_wall
    print(f"{http_n} approvals over HTTP, {engine_n} straight to the engine, in {wall:.1f} s")
    print(f"  HTTP approve (whole process):                      {1000 * http_cpu / http_n:6.2f} ms CPU each")
    print(f"  Engine.approve + read models' pass (whole process): {1000 * engine_cpu / engine_n:6.2f} ms CPU each")
    print(f"  Engine.approve alone (its thread):                  {1000 * command_cpu / engine_n:6.2f} ms CPU each")
    print(f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=320)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--postgres", default=None, help="an empty PostgreSQL database to build in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dossierflow-approvecost-") as tmp:
        data = Path(tmp) / "data"
        print(f"building {args.cells} endorsed dossiers for {args.clients} approvers", flush=True)
        built = build(args.postgres, data, cells=args.cells, superiors=args.clients, clients=args.clients,
                      progress=lambda line: None)
        app = app_on(data, args.postgres)
        asyncio.run(_run(app, built))


if __name__ == "__main__":
    main()
