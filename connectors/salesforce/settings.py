"""The Salesforce connector's own settings, read from `SALESFORCE_*` variables (and `.env`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SalesforceSettings(BaseSettings):
    """Credentials, limits and field mappings of one Salesforce org.

    The auth mode follows from which credentials are set (see `connectors.salesforce.auth`).
    """

    # An empty variable (a blank left in a `.env` or a template) means unset: the default.
    model_config = SettingsConfigDict(
        env_prefix="SALESFORCE_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    instance_url: str | None = None
    # The org whose Outbound Messages the webhook takes (15- or 18-character id).
    organization_id: str | None = None
    # Outbound Messages are unsigned and an org id is no secret (every message and web-to-lead
    # form shows it), so the endpoint URL configured in Salesforce carries this token
    # (`/webhooks/salesforce?token=…`) and a message without it is refused.
    outbound_token: SecretStr | None = None
    access_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key_file: Path | None = None
    domain: str = Field(default="login", description="`login`, `test` or a My Domain.")
    api_version: str = "59.0"
    ca_bundle: Path | None = Field(
        default=None, description="A CA file to trust instead of the system's (proxies, private CAs)."
    )
    bulk_threshold: int = Field(default=10_000, ge=1)
    lookback_seconds: int = Field(default=300, ge=0)
    api_budget_fraction: float = Field(default=0.25, gt=0, le=1)
    max_relogins: int = Field(default=3, ge=0)
    retry_attempts: int = Field(default=6, ge=1)
    retry_initial_wait_seconds: float = Field(default=1.0, ge=0)
    retry_max_wait_seconds: float = Field(default=60.0, ge=0)
    request_timeout_seconds: float = Field(default=120.0, gt=0)
    page_size: int = Field(default=2000, ge=1, le=2000)
    bulk_page_size: int = Field(default=50_000, ge=1)
    bulk_poll_seconds: float = Field(default=2.0, ge=0)
    bulk_wait_seconds: float = Field(default=3600.0, gt=0)
    # Documented field -> Salesforce columns, merged over the defaults of each stream.
    contact_fields: dict[str, list[str]] = Field(default_factory=dict)
    order_fields: dict[str, list[str]] = Field(default_factory=dict)
    order_email_field: str = "BillToContact.Email"
