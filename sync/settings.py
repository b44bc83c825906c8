"""The one typed configuration object, read once from the environment and `.env`."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from connectors.salesforce import SalesforceSettings
from connectors.spotify import SpotifySettings

# The API's own source: a customer's sign-up and profile edits, keyed by the customer's pk.
SIGN_UP_SOURCE = "internal"


def sign_up_family(source: str) -> bool:
    """Whether `source` is the sign-up source or named into its family (`internal-eu`), whose
    priority it would take (`Settings.priority_of`): no file may write under such a name."""
    return _family(source) == SIGN_UP_SOURCE


# What a source may be named: it keys every `customer_source` row, in 64 characters at most.
_SOURCE_NAME = re.compile(r"(?=[^\s\x00-\x1f\x7f-\x9f]*\w)[^\s\x00-\x1f\x7f-\x9f]{1,64}")
SOURCE_NAME_RULE = (
    "a source name must have up to 64 characters, with a letter or digit and no space or control character"
    " (e.g. shopify-eu)"
)
# The largest priority a source may have either way (stored in a 32-bit column).
_PRIORITY_BOUND = 1_000_000


def usable_source_name(name: str) -> bool:
    """Whether `name` may name a source (`SOURCE_NAME_RULE`): a blank, a line break or a name
    past 64 characters named nothing anyone could find again, and PostgreSQL refused the last
    mid-run where SQLite kept it."""
    return bool(_SOURCE_NAME.fullmatch(name))


def _family(source: str) -> str:
    return source.split("-", 1)[0].split(":", 1)[0]


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


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The development key the code ships with: anyone can read it, so no token it signs means anything.
DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105  (public on purpose: refused outside development)
MIN_SECRET_KEY_LENGTH = 32
MAKE_A_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'  # noqa: S105  (a command, not a key)
# What `DATABASE_URL` may name, and the driver each scheme people write is read with.
_DATABASE_SCHEMES = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "postgresql+psycopg2": "postgresql+psycopg2",
    "sqlite": "sqlite",
}


def _local_store() -> str:
    """The default store: an SQLite file in the working directory."""
    return f"sqlite:///{Path.cwd() / 'customer_sync.db'}"


class Settings(BaseSettings):
    """Everything the worker, the CLI and the API are configured with."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default_factory=_local_store,
        description="SQLAlchemy URL of the store; by default an SQLite file in the working directory.",
    )
    celery_broker_url: str | None = None
    redis_url: str | None = None

    # `production` unless said otherwise: a forgotten variable must fail safe, not open.
    app_env: Literal["development", "production"] = "production"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    webhook_secret: SecretStr | None = None
    token_encryption_key: SecretStr | None = None

    batch_size: int = Field(default=5000, ge=1, le=100_000)
    # Processes that map (validate, normalise) a run's batches from its second batch on, while
    # this one reads and writes; 0 maps inline. Unset: one per core, at most 4, and inline in a
    # Celery prefork child, which may not fork (sync.pipeline.mapper.pool_size).
    mapping_workers: int | None = Field(default=None, ge=0, le=64)
    default_phone_region: str = "US"
    source_priority: dict[str, StrictInt] = Field(default_factory=lambda: dict(DEFAULT_SOURCE_PRIORITY))

    # API: token lifetimes, login throttling, request bounds and outgoing mail.
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=10)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    verification_token_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=60)
    login_max_failures: int = Field(default=20, ge=1)
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)
    password_min_length: int = Field(default=8, ge=6)
    # argon2id cost; the defaults are argon2-cffi's (RFC 9106's low-memory profile).
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)
    api_max_depth: int = Field(default=10, ge=3)
    api_max_aliases: int = Field(default=15, ge=1)
    api_max_tokens: int = Field(default=5000, ge=100)
    api_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # Unset: on in development, off in production (a schema map is an attacker's map too).
    graphql_introspection: bool | None = None
    graphiql: bool | None = None
    mail_outbox_dir: Path | None = Field(
        default=None,
        description="Development: write outgoing mail there (owner-only files) instead of sending.",
    )

    # Webhooks (api/webhooks): the signing secret is above. Sources named here take full
    # records in the `native` layout at POST /webhooks/<name>.
    webhook_sources: list[str] = Field(default_factory=list)
    webhook_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    webhook_replay_window_seconds: int = Field(default=300, ge=1)
    # Salesforce redelivers an unacknowledged Outbound Message for up to 24 hours; seen
    # notification ids (and imported payloads) are kept three times that long.
    webhook_retention_hours: int = Field(default=72, ge=1)
    # A burst of webhooks for one stream within this window becomes one import.
    webhook_debounce_seconds: float = Field(default=2.0, ge=0, le=300)

    # Each connector declares its own settings; they read their own variables (`SALESFORCE_*`).
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    spotify: SpotifySettings = Field(default_factory=SpotifySettings)

    # The worker (sync/celery.py). The broker and result backend default to REDIS_URL.
    celery_result_backend: str | None = None
    celery_queue: str = Field(default="customer-sync", min_length=1)
    # Prepended to every Redis key (broker, results, beat, webhook windows), so apps can share
    # one Redis; a `:` is added to one that ends in a letter or digit (`cs` -> `cs:`).
    celery_key_prefix: str = ""
    # Redis hands an unacknowledged task to another worker after this long: every time limit,
    # countdown and back-off below must stay under it (checked below).
    celery_visibility_timeout_seconds: int = Field(default=3600, ge=2)
    celery_task_time_limit_seconds: int = Field(default=3000, ge=1)
    celery_task_soft_time_limit_seconds: int = Field(default=2900, ge=1)
    celery_retry_backoff_max_seconds: int = Field(default=600, ge=1)
    celery_max_retries: int = Field(default=5, ge=0)
    # A task delivered this many times (its worker kept dying) fails its run instead of looping.
    celery_max_deliveries: int = Field(default=5, ge=1)
    celery_result_expires_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    celery_beat_redis_url: str | None = None
    celery_beat_lock_timeout_seconds: int = Field(default=300, ge=2)
    celery_beat_max_loop_seconds: int = Field(default=60, ge=1)
    # A run holds its stream for this long past its last sign of life (a batch or a heartbeat).
    run_lease_seconds: int = Field(default=120, ge=2)
    # CSV files at least this large are cut into chunks of about `csv_chunk_bytes`, one task each.
    csv_fanout_min_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    csv_chunk_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # `user:password` for Flower's UI and API (several joined by commas, as Flower reads them);
    # `celery -A sync flower` refuses to start without.
    flower_basic_auth: SecretStr | None = None
    # beat_schedule.py: incremental syncs this often; full syncs nightly at this UTC time.
    beat_incremental_every_seconds: int = Field(default=15 * 60, ge=1)
    beat_nightly_at: str = Field(default="02:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    beat_nightly_expires_seconds: int = Field(default=3 * 3600, ge=60)

    log_level: str = "INFO"
    # JSON lines for log shippers; `LOG_JSON=false` gives a console view for people.
    log_json: bool = True

    @model_validator(mode="before")
    @classmethod
    def _connector_settings(cls, data: Any) -> Any:
        """Build each connector's settings from its own variables, with the flat names as overrides.

        `Settings(salesforce_username=...)` keeps working: such keys configure the connector.
        """
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, model in _CONNECTOR_SETTINGS.items():
            prefix = f"{name}_"
            flat = {k.removeprefix(prefix): data.pop(k) for k in list(data) if k.startswith(prefix)}
            given = data.get(name)
            if flat or isinstance(given, dict):
                base = given.model_dump() if isinstance(given, BaseModel) else dict(given or {})
                # Constructed, not validated from a dict: only `__init__` reads the environment.
                data[name] = model(**{**base, **flat})
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        """`MAPPING_WORKERS=` (a blank left in a `.env` or a template) means unset: the default.

        Not for `DATABASE_URL`, from the environment or `.env` alike: see `_supported_database`.
        """
        if value == "" and info.field_name and info.field_name != "database_url":
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return value

    @field_validator("source_priority")
    @classmethod
    def _sign_ups_rank_first(cls, value: dict[str, int]) -> dict[str, int]:
        """The given priorities over the defaults; the sign-up source must stay above every other.

        What people type into their accounts (sign-up, profile edits) outranks every import
        (README "How it works"): a source ranked with it or above would rewrite their records.
        """
        # Stored with every source row (a 32-bit column): a larger one failed runs mid-way.
        wild = sorted(k for k, v in value.items() if not -_PRIORITY_BOUND <= v <= _PRIORITY_BOUND)
        if wild:
            raise ValueError(
                f"{', '.join(map(json.dumps, wild))}: expected a priority from "
                f"-{_PRIORITY_BOUND:,} to {_PRIORITY_BOUND:,}"
            )
        blank = [k for k in value if not usable_source_name(k)]
        if blank:
            raise ValueError(f"{', '.join(map(json.dumps, blank))}: {SOURCE_NAME_RULE}")
        merged = {**DEFAULT_SOURCE_PRIORITY, **value}
        top = merged[SIGN_UP_SOURCE]
        # The family too (`internal-eu`): nothing may write under it, and nothing may rank so.
        above = sorted(k for k, v in merged.items() if v >= top and k != SIGN_UP_SOURCE)
        if above:
            raise ValueError(
                f"{', '.join(map(json.dumps, above))} must rank below {SIGN_UP_SOURCE} ({top}): "
                "what people type into their accounts outranks every import"
            )
        return merged

    @field_validator("webhook_sources")
    @classmethod
    def _not_the_sign_up_source(cls, value: list[str]) -> list[str]:
        """No webhook may write under the sign-up source or its family (`internal-eu`): what
        people type into their accounts is theirs, as `import csv` refuses those names too.
        Each name is a usable source name, as `import csv` asks of its own."""
        unusable = [s for s in value if not usable_source_name(s)]
        if unusable:
            raise ValueError(f"{', '.join(map(json.dumps, unusable))}: {SOURCE_NAME_RULE}")
        taken = sorted({s for s in value if sign_up_family(s)})
        if taken:
            raise ValueError(
                f"{', '.join(map(json.dumps, taken))} must not be named: it is the API's own "
                "sign-up source, which no webhook may write under"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        """A level name logging knows (DEBUG, INFO, WARNING, ERROR, CRITICAL), in any case."""
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        """`postgres://` and `postgresql://` as people write them; PostgreSQL or SQLite only.

        An empty `DATABASE_URL` is refused, unlike other empty settings: it is a deployment's
        unset secret (`DATABASE_URL=${PG_URL}`), and the default would quietly be a local file.
        """
        if not value:
            raise ValueError(
                "it is empty; expected postgresql://USER@HOST/DB or sqlite:///PATH, "
                "or no DATABASE_URL for an SQLite file here"
            )
        scheme, sep, rest = value.partition("://")
        driver = _DATABASE_SCHEMES.get(scheme.lower())
        if not sep or driver is None:
            raise ValueError(
                f"{scheme or value!r} is not a supported store; expected postgresql://USER@HOST/DB "
                "or sqlite:///PATH"
            )
        return f"{driver}://{rest}"

    @field_validator("celery_key_prefix")
    @classmethod
    def _separated_prefix(cls, value: str) -> str:
        """The prefix ends in a separator, so every key reads `PREFIX:name`.

        kombu, the result backend, redbeat and the webhook windows each glue the prefix to
        names of their own (`_kombu.binding.…`, `redbeat…`, `webhook:…`): `cs` gave
        `cs_kombu.binding.…` beside `csredbeat…`. A prefix ending in `:`, `-`, `_`, `.` or
        `/` is kept as written.
        """
        return f"{value}:" if value and value[-1].isalnum() else value

    @field_validator("flower_basic_auth", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        # `FLOWER_BASIC_AUTH=` in a `.env` means "not given": Flower then refuses to start.
        return None if value == "" else value

    @field_validator("flower_basic_auth")
    @classmethod
    def _flower_logins(cls, value: SecretStr | None) -> SecretStr | None:
        """Each comma-separated login is `user:password`, neither part empty.

        Flower compares what a browser sends (always `user:password`) with each login whole,
        so `user` alone would lock everyone out and `user:` let anyone in without a password.
        The value is never echoed: it holds the passwords.
        """
        if value is None:
            return None
        for login in value.get_secret_value().split(","):
            user, colon, password = login.partition(":")
            if not (user.strip() and colon and password):
                raise ValueError(
                    "expected user:password (several joined by commas), each with a user and a password"
                )
        return value

    @property
    def introspection_enabled(self) -> bool:
        if self.graphql_introspection is not None:
            return self.graphql_introspection
        return self.app_env == "development"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.app_env == "development"

    def signing_key_problem(self) -> str | None:
        """Why `SECRET_KEY` may not sign tokens here, or None; development accepts any key."""
        if self.app_env == "development":
            return None
        key = self.secret_key.get_secret_value()
        if key == DEFAULT_SECRET_KEY:
            why = "SECRET_KEY is the built-in development key"
        elif len(key) < MIN_SECRET_KEY_LENGTH:
            why = f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters"
        else:
            return None
        return f"{why}; set a random one ({MAKE_A_SECRET_KEY}) or APP_ENV=development"

    @model_validator(mode="after")
    def _limits_below_visibility(self) -> Settings:
        # Past the visibility timeout Redis gives a still-running task to a second worker.
        visibility = self.celery_visibility_timeout_seconds
        for name in ("celery_task_time_limit_seconds", "celery_retry_backoff_max_seconds"):
            if getattr(self, name) >= visibility:
                raise ValueError(
                    f"{name.upper()} must be below CELERY_VISIBILITY_TIMEOUT_SECONDS ({visibility})"
                )
        if self.celery_task_soft_time_limit_seconds >= self.celery_task_time_limit_seconds:
            raise ValueError(
                "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS must be below CELERY_TASK_TIME_LIMIT_SECONDS"
            )
        return self

    def priority_of(self, source: str) -> int:
        """Priority of a source name; `shopify-eu` falls back to `shopify`, then to `csv`'s."""
        if source in self.source_priority:
            return self.source_priority[source]
        return self.source_priority.get(_family(source), self.source_priority.get("csv", 0))


# Each connector's settings class, by the field (and flat-name prefix) it has on Settings.
_CONNECTOR_SETTINGS: dict[str, type[BaseSettings]] = {
    "salesforce": SalesforceSettings,
    "spotify": SpotifySettings,
}


def _env_name(model: str, field: str) -> str:
    # Errors name the model (`Settings`, `SalesforceSettings`, ...); each reads its own prefix.
    for cls in _CONNECTOR_SETTINGS.values():
        if cls.__name__ == model or (model == "" and field in cls.model_fields):
            return (str(cls.model_config.get("env_prefix", "")) + field).upper()
    return field.upper()


def describe_settings_error(exc: ValidationError | SettingsError) -> str:
    """One line for a person: which variable is wrong, what it holds, and what is expected."""
    if isinstance(exc, SettingsError):
        # pydantic-settings could not parse a JSON value; its message names the field.
        field = str(exc).split("for field ", 1)[-1].split(" ", 1)[0].strip('"')
        model = "Settings" if field in Settings.model_fields else ""
        return f"{_env_name(model, field)} is not valid JSON; expected a JSON object such as '{{\"key\": 1}}'"
    error = exc.errors(include_url=False)[0]
    fields = [str(p) for p in error["loc"] if isinstance(p, str) and p not in _CONNECTOR_SETTINGS]
    name = _env_name(exc.title, fields[0] if fields else "")
    given = error.get("input")
    # URLs, keys and tokens are never echoed: a database URL carries its password.
    secret = any(word in name for word in ("URL", "KEY", "SECRET", "TOKEN", "PASSWORD", "AUTH"))
    short = isinstance(given, str | int | float) and len(str(given)) <= 60
    shown = f" ({given!r})" if short and not secret else ""
    message = error["msg"].removeprefix("Value error, ")
    if error["type"].startswith(("greater_than", "less_than")):
        message = "expected a number " + message.removeprefix("Input should be ")
    elif message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    return f"{name}{shown} is not valid: {message}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
