"""`dossierflow serve` behind a reverse proxy: the proxy's forwarded headers are believed from the addresses that
DOSSIERFLOW_FORWARDED_ALLOW_IPS lists, and from no other (the sign-in brake counts by the client's address, and a
cookie is marked Secure on HTTPS: both rest on those headers)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.application.conftest import build_world
from tests.e2e.test_bad_input import assert_one_line_refusal, run
from tests.e2e.test_cli import COMMAND, PROJECT
from workflow.store import application_env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _session_cookie_through_a_proxy(tmp_path: Path, allow: str | None) -> str:
    """The Set-Cookie header of the sign-in page, asked from loopback as a proxy would forward an HTTPS visit."""
    port = _free_port()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # A store to serve (only `demo` makes one), signed with the key the server looks for in the data directory.
    env = application_env(None, data_dir / "events.sqlite", signing_key=data_dir / "signing-key.pem")
    build_world(env).engine.close()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DOSSIERFLOW_"))}
    environ |= {"DOSSIERFLOW_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT)}
    if allow is not None:
        environ["DOSSIERFLOW_FORWARDED_ALLOW_IPS"] = allow
    server = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port)], env=environ, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/sign-in",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return str(answer.headers.get("Set-Cookie", ""))
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stderr.read().decode() if server.stderr else "no server") from None
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_proxy_on_this_host_is_believed_by_default(tmp_path: Path) -> None:
    cookie = _session_cookie_through_a_proxy(tmp_path, None)
    assert cookie.startswith("dossierflow_session=")
    assert "Secure" in cookie


def test_a_proxy_not_listed_in_the_setting_is_not_believed(tmp_path: Path) -> None:
    # The request still comes from 127.0.0.1, but only 10.9.9.9 is a proxy now: its X-Forwarded-Proto is ignored.
    cookie = _session_cookie_through_a_proxy(tmp_path, "10.9.9.9")
    assert cookie.startswith("dossierflow_session=")
    assert "Secure" not in cookie


@pytest.mark.parametrize("value", ["proxy.example", "10.0.0.1,,10.0.0.2", "10.0.0.0/33"])
def test_a_proxy_address_that_is_not_an_address_is_one_line_naming_the_variable(tmp_path: Path, value: str) -> None:
    (tmp_path / "data").mkdir()
    result = run(tmp_path / "data", "serve", "--port", "1", env={"DOSSIERFLOW_FORWARDED_ALLOW_IPS": value})
    assert_one_line_refusal(result, "DOSSIERFLOW_FORWARDED_ALLOW_IPS=", "is not an IP address or network")
    assert "value error" not in result.stderr.lower()
