"""The JSON API on a copy of the demo season: a token per demo person, and a client that sends no cookie."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from domain.ids import person_id
from tests.web.world import CELL, Web
from web.tokens import Tokens

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Api:
    web: Web
    tokens: Tokens
    made: dict[str, str] = field(default_factory=dict)

    def token(self, username: str) -> str:
        if username not in self.made:
            self.made[username], _ = self.tokens.create(person_id(username), label="tests")
        return self.made[username]

    def client(self, username: str | None = None, language: str = "en") -> TestClient:
        headers = {"Accept-Language": language}
        if username is not None:
            headers["Authorization"] = f"Bearer {self.token(username)}"
        return TestClient(self.web.app, follow_redirects=False, base_url="http://testserver", headers=headers)

    def dossier_id(self, code: str = CELL, year: int = 2025) -> str:
        return str(self.web.engine.find_dossier(f"{code}/{year}"))

    def version(self, did: str) -> int:
        return int(self.web.engine.dossier(self.web.engine.find_dossier(did)).version)

    def act(self, username: str, did: str, action: str, body: dict[str, Any] | None = None) -> Response:
        """A step with the version the caller just read in If-Match."""
        client = self.client(username)
        etag = client.get(f"{API}/dossiers/{did}").headers.get("etag")
        # One who may not read the dossier has no ETag to send: the step goes without one, to be refused as such.
        headers = {"If-Match": etag} if etag else {}
        return client.post(f"{API}/dossiers/{did}/actions/{action}", json=body or {}, headers=headers)


def api_on(web: Web) -> Api:
    return Api(web, Tokens(web.site.accounts.engine))
