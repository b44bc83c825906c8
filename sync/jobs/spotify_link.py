"""Linking and unlinking a customer's Spotify account: signed state, code exchange, first profile."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import jwt
import requests
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connectors import ReadError, SourceRecord, SourceWarning, Stream, StreamContext
from connectors.spotify import LINKED_LOYALTY_ID, SpotifyError, profile_source_id
from models import (
    Customer,
    CustomerSource,
    OAuthStateUse,
    SpotifyLink,
    SpotifyLinkStatus,
    ensure_schema,
    utcnow,
)
from sync.jobs.spotify import encrypted_tokens, spotify_client, token_cipher
from sync.load import recompute_customers
from sync.mapping import SPOTIFY_SPEC
from sync.pipeline import RunSummary, create_run, execute_run
from sync.settings import Settings

log = structlog.get_logger("sync.jobs.spotify")

_ALGORITHM = "HS256"
_STATE = "spotify-state"
_CONNECT_LINK = "spotify-connect-link"
_link = SpotifyLink.__table__  # type: ignore[attr-defined]
_customer = Customer.__table__  # type: ignore[attr-defined]
_source = CustomerSource.__table__  # type: ignore[attr-defined]
_state_use = OAuthStateUse.__table__  # type: ignore[attr-defined]


class LinkRefusedError(Exception):
    """Why a link cannot go ahead, in words for the customer's browser, with an HTTP status."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


def _key(settings: Settings, purpose: str) -> bytes:
    # One key per purpose, so a state can never pass for a connect link, nor for an API token.
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def _sign(settings: Settings, purpose: str, customer_pk: int, ttl: int, **claims: Any) -> str:
    now = utcnow()
    payload = {
        "aud": purpose,
        "sub": str(customer_pk),
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
        **claims,
    }
    return jwt.encode(payload, _key(settings, purpose), algorithm=_ALGORITHM)


def _read(settings: Settings, purpose: str, token: str, what: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _key(settings, purpose),
            algorithms=[_ALGORITHM],
            audience=purpose,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise LinkRefusedError(400, f"This {what} has expired", "Start linking Spotify again.") from None
    except jwt.PyJWTError:
        raise LinkRefusedError(400, f"This {what} is not valid", "Start linking Spotify again.") from None
    if not str(claims["sub"]).isdigit():
        raise LinkRefusedError(400, f"This {what} is not valid", "Start linking Spotify again.")
    return claims


def sign_connect_link(settings: Settings, customer_pk: int) -> str:
    """A token for `/connect/spotify?link=...` that a merchant can send to a known customer."""
    return _sign(settings, _CONNECT_LINK, customer_pk, settings.spotify.link_ttl_seconds)


def read_connect_link(settings: Settings, token: str) -> int:
    return int(_read(settings, _CONNECT_LINK, token, "link")["sub"])


@dataclass(frozen=True, slots=True)
class LinkState:
    """A verified `state`: whose link it is, its single-use nonce, and its end."""

    customer_pk: int
    nonce: str
    expires_at: datetime


def sign_state(settings: Settings, customer_pk: int) -> str:
    """The OAuth `state` for one attempt: signed, expiring, bound to the customer, single use."""
    return _sign(
        settings, _STATE, customer_pk, settings.spotify.state_ttl_seconds, nonce=secrets.token_hex(16)
    )


def read_state(settings: Settings, state: str) -> LinkState:
    claims = _read(settings, _STATE, state, "Spotify link request")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise LinkRefusedError(400, "This Spotify link request is not valid", "Start linking Spotify again.")
    return LinkState(int(claims["sub"]), nonce, datetime.fromtimestamp(int(claims["exp"]), UTC))


def _live_customer(conn: sa.Connection, customer_pk: int) -> sa.Row[Any]:
    row = conn.execute(
        sa.select(_customer.c.pk, _customer.c.loyalty_id).where(
            _customer.c.pk == customer_pk, _customer.c.active.is_(True)
        )
    ).first()
    if row is None:
        raise LinkRefusedError(
            404, "Unknown customer", "This customer does not exist or is no longer active."
        )
    return row


def authorize_url(settings: Settings, customer_pk: int) -> str:
    """Spotify's consent page for `customer_pk`, carrying a fresh state."""
    token_cipher(settings)  # no key, no link: say so before sending the customer to Spotify
    engine = ensure_schema(settings.database_url)
    with engine.connect() as conn:
        _live_customer(conn, customer_pk)
    with spotify_client(settings) as client:
        return client.authorize_url(sign_state(settings, customer_pk))


def _consume(engine: Engine, state: LinkState) -> None:
    """Spend the state's nonce; a second callback with it is a replay."""
    now = utcnow()
    try:
        with engine.begin() as conn:
            # Spent nonces of expired states can go: their signature refuses them anyway.
            conn.execute(sa.delete(_state_use).where(_state_use.c.expires_at < now))
            conn.execute(
                sa.insert(_state_use).values(
                    nonce=state.nonce, customer_pk=state.customer_pk, used_at=now, expires_at=state.expires_at
                )
            )
    except sa.exc.IntegrityError:
        raise LinkRefusedError(
            400, "This Spotify link request was already used", "Start linking Spotify again."
        ) from None


class _JustLinked(Stream):
    """The one profile the callback just read, as a run of `spotify/link:<customer>`."""

    source: ClassVar[str] = "spotify"
    name: ClassVar[str] = "link"
    entity_source: ClassVar[str] = "SPOTIFY"

    def __init__(self, record: SourceRecord, customer_pk: int) -> None:
        super().__init__()
        self.record = record
        # Its own stream (and lease): a link never waits for, nor is skipped by, a refresh.
        self.name = f"link:{customer_pk}"  # type: ignore[misc]

    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError | SourceWarning]:
        yield self.record


@dataclass(frozen=True, slots=True)
class LinkResult:
    customer_pk: int
    spotify_account_id: str
    run: RunSummary


def complete_link(
    settings: Settings, state: str, code: str, *, session: requests.Session | None = None
) -> LinkResult:
    """The callback's work: check and spend the state, exchange the code, store, load the profile.

    Raises LinkRefusedError (nothing stored) for a bad, expired or replayed state, an unknown
    customer, a refused code, or an account another customer has linked.
    """
    checked = read_state(settings, state)
    cipher = token_cipher(settings)
    engine = ensure_schema(settings.database_url)
    _consume(engine, checked)
    with engine.connect() as conn:
        customer = _live_customer(conn, checked.customer_pk)
    try:
        with spotify_client(settings, session) as client:
            tokens = client.exchange_code(code)
            profile, tokens = client.profile(tokens)
    except SpotifyError as exc:
        log.warning("spotify.link_failed", customer_pk=checked.customer_pk, error=str(exc))
        raise LinkRefusedError(502, "Spotify did not complete the link", str(exc)) from None
    account = profile_source_id(profile)
    with engine.begin() as conn:
        _claim_account(conn, checked.customer_pk, account)
        values = {**encrypted_tokens(cipher, tokens), "status": SpotifyLinkStatus.LINKED, "retry_after": None}
        updated = conn.execute(
            sa.update(_link)
            .where(_link.c.customer_pk == checked.customer_pk, _link.c.spotify_account_id == account)
            .values(updated_at=utcnow(), **values)
        ).rowcount
        if not updated:
            conn.execute(
                sa.insert(_link).values(customer_pk=checked.customer_pk, spotify_account_id=account, **values)
            )
    record = SourceRecord(account, {**profile, LINKED_LOYALTY_ID: customer.loyalty_id}, position=1)
    stream = _JustLinked(record, checked.customer_pk)
    run_id = create_run(engine, stream, entity_kind="customers", mode="full", trigger="link")
    summary = execute_run(engine, settings, stream, SPOTIFY_SPEC, run_id)
    log.info("spotify.linked", customer_pk=checked.customer_pk, run_id=run_id)
    return LinkResult(checked.customer_pk, account, summary)


def _claim_account(conn: sa.Connection, customer_pk: int, account: str) -> None:
    """Make sure `account` can join `customer_pk`: not linked elsewhere; an old source row moves."""
    other = conn.execute(
        sa.select(_link.c.customer_pk).where(
            _link.c.spotify_account_id == account, _link.c.customer_pk != customer_pk
        )
    ).first()
    if other is not None:
        raise LinkRefusedError(
            409,
            "This Spotify account is linked to another customer",
            "Unlink it there first, or log in to Spotify with another account.",
        )
    row = conn.execute(
        sa.select(_source.c.pk, _source.c.customer_pk).where(
            _source.c.source == "spotify", _source.c.source_id == account
        )
    ).first()
    if row is not None and row.customer_pk != customer_pk:
        # Unlinked by its former customer (tombstoned): it belongs to whoever links it now.
        conn.execute(sa.update(_source).where(_source.c.pk == row.pk).values(customer_pk=customer_pk))
        recompute_customers(conn, [row.customer_pk])


class _Unlinked(Stream):
    """Tombstones of the customer's Spotify source rows, as a run of `spotify/unlink:<customer>`."""

    source: ClassVar[str] = "spotify"
    name: ClassVar[str] = "unlink"
    entity_source: ClassVar[str] = "SPOTIFY"

    def __init__(self, accounts: list[str], customer_pk: int) -> None:
        super().__init__()
        self.accounts = accounts
        # Its own stream (and lease): an unlink never waits for, nor is skipped by, a refresh.
        self.name = f"unlink:{customer_pk}"  # type: ignore[misc]

    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError | SourceWarning]:
        for position, account in enumerate(self.accounts, start=1):
            yield SourceRecord(account, {}, deleted=True, position=position)


def unlink_spotify(settings: Settings, customer_pk: int) -> int:
    """Remove the customer's Spotify links (their tokens go with them) and tombstone the source rows."""
    engine = ensure_schema(settings.database_url)
    with engine.begin() as conn:
        accounts = list(
            conn.execute(
                sa.delete(_link)
                .where(_link.c.customer_pk == customer_pk)
                .returning(_link.c.spotify_account_id)
            ).scalars()
        )
    if accounts:
        stream = _Unlinked(sorted(set(accounts)), customer_pk)
        run_id = create_run(engine, stream, entity_kind="customers", mode="full", trigger="unlink")
        execute_run(engine, settings, stream, SPOTIFY_SPEC, run_id)
        log.info("spotify.unlinked", customer_pk=customer_pk, links=len(accounts), run_id=run_id)
    return len(accounts)
