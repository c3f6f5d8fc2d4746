from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflow.store.timeouts import DEFAULT_CONNECT_TIMEOUT, DEFAULT_LOCK_TIMEOUT

Seconds = Annotated[int, Field(ge=1, le=3600)]


class Settings(BaseSettings):
    """Read from the environment (and a `.env` file if present). See the README's configuration table."""

    # An empty variable (`DOSSIERFLOW_MAX_EVIDENCE_BYTES=` in a .env file) means the default, not a bad value.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    # None: the embedded SQLite store under data_dir. A postgresql:// (or postgres://) URL: that PostgreSQL database.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default=Path("data"), validation_alias="DOSSIERFLOW_DATA_DIR")
    max_evidence_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, le=2**40, validation_alias="DOSSIERFLOW_MAX_EVIDENCE_BYTES"
    )
    postgres_connect_timeout: Seconds = Field(
        default=DEFAULT_CONNECT_TIMEOUT, validation_alias="DOSSIERFLOW_POSTGRES_CONNECT_TIMEOUT"
    )
    postgres_lock_timeout: Seconds = Field(
        default=DEFAULT_LOCK_TIMEOUT, validation_alias="DOSSIERFLOW_POSTGRES_LOCK_TIMEOUT"
    )
    # The Ed25519 key that signs the chain head: None means signing-key.pem in data_dir, created on first write.
    # Put it where the database's administrator cannot read it.
    signing_key: Path | None = Field(default=None, validation_alias="DOSSIERFLOW_SIGNING_KEY")
    # Mark the session cookie Secure even when the app itself sees plain HTTP (behind an HTTPS proxy).
    secure_cookies: bool = Field(default=False, validation_alias="DOSSIERFLOW_SECURE_COOKIES")
    # My work pages kept rendered per process (web/page_cache.py); 0 renders every view afresh.
    page_cache_entries: int = Field(default=512, ge=0, le=1_000_000, validation_alias="DOSSIERFLOW_PAGE_CACHE_ENTRIES")
    # The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: IP addresses or networks,
    # comma-separated, or "*". The sign-in brake counts failures per client address: behind a proxy that is not
    # listed, every visitor shares the proxy's address, and one person's mistyped passwords lock out everyone.
    forwarded_allow_ips: str = Field(default="127.0.0.1", validation_alias="DOSSIERFLOW_FORWARDED_ALLOW_IPS")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",")]
        if entries == ["*"]:
            return "*"
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (give them comma-separated, or *)"
                ) from None
        return ",".join(entries)


class SettingsError(ValueError):
    """A setting that cannot be used, said in one line that names the variable."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(settings_problem(error)) from None


def settings_problem(error: ValidationError) -> str:
    """The first problem of a settings validation, as `VARIABLE=value: what is wrong`, on one line.

    pydantic's own rendering spans four lines and links to its documentation; this names what to change.
    """
    aliases = {
        name: str(field.validation_alias) for name, field in Settings.model_fields.items() if field.validation_alias
    }
    first = error.errors(include_url=False)[0]
    location = str(first["loc"][0]) if first["loc"] else "a setting"
    variable = aliases.get(location, location)
    value = first.get("input")
    shown = value if isinstance(value, str) else None
    if shown is not None and len(shown) > 40:
        shown = shown[:40] + "…"
    given = f"={shown!r}" if shown is not None else ""
    # A validator's own sentence comes as "Value error, <sentence>": the sentence alone says it.
    message = str(first["msg"]).removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else "is not valid"
    more = len(error.errors()) - 1
    return f"{variable}{given}: {message}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
