from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Read from the environment (and a `.env` file if present)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # None: the embedded SQLite store under data_dir. A postgresql:// URL: that PostgreSQL database.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default=Path("data"), validation_alias="DOSSIERFLOW_DATA_DIR")
    max_evidence_bytes: int = Field(default=20 * 1024 * 1024, validation_alias="DOSSIERFLOW_MAX_EVIDENCE_BYTES")
    # The Ed25519 key that signs the chain head: None means signing-key.pem in data_dir, created on first write.
    # Put it where the database's administrator cannot read it.
    signing_key: Path | None = Field(default=None, validation_alias="DOSSIERFLOW_SIGNING_KEY")
