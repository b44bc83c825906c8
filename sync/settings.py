"""The one typed configuration object, read once from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SOURCE_PRIORITY: dict[str, int] = {
    # Self-service input (sign-up, profile edits) beats any import: the person typed it.
    "internal": 100,
    "salesforce": 80,
    "shopify": 60,
    "hubspot": 55,
    "salesforce-dataloader": 50,
    "mailchimp": 40,
    "csv": 30,
    "spotify": 20,
}


class Settings(BaseSettings):
    """Everything the worker, the CLI and the API are configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{Path.cwd() / 'customer_sync.db'}",
        description="SQLAlchemy URL of the store; an SQLite file in the working directory by default.",
    )
    celery_broker_url: str | None = None
    redis_url: str | None = None

    secret_key: SecretStr = SecretStr("dev-insecure-change-me")
    webhook_secret: SecretStr | None = None
    token_encryption_key: SecretStr | None = None

    batch_size: int = Field(default=5000, ge=1, le=100_000)
    default_phone_region: str = "US"
    source_priority: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_SOURCE_PRIORITY))

    log_level: str = "INFO"
    log_json: bool = True

    def priority_of(self, source: str) -> int:
        """Priority of a source name; `shopify-eu` falls back to `shopify`, then to `csv`'s."""
        if source in self.source_priority:
            return self.source_priority[source]
        family = source.split("-", 1)[0].split(":", 1)[0]
        return self.source_priority.get(family, self.source_priority.get("csv", 0))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
