"""The yardstick of the web load benchmark: a bare FastAPI app with one endpoint, served by uvicorn as
`dossierflow serve` serves the real one (same workers, log level, proxy headers). Its /healthz has the app's shape:
a plain `def` (run in the thread pool) answering {"ok": true}, with no middleware, session, database or template."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/healthz")
def healthz() -> JSONResponse:
    return JSONResponse({"ok": True})
