"""Refreshing linked Spotify profiles: one run of `spotify/profiles`, per batch of links if fanned out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import requests
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connectors.spotify import LinkedAccount, ProfilesStream, SpotifyClient, TokenCipher, TokenSet
from models import Customer, SpotifyLink, SpotifyLinkStatus, SyncRun, ensure_schema, utcnow
from sync.mapping import SPOTIFY_SPEC
from sync.pipeline import RunSummary, create_run, execute_run, set_task
from sync.settings import Settings

log = structlog.get_logger("sync.jobs.spotify")

_link = SpotifyLink.__table__  # type: ignore[attr-defined]
_customer = Customer.__table__  # type: ignore[attr-defined]
# Links read per query while streaming: bounded memory whatever the number of links.
_PAGE = 500


def token_cipher(settings: Settings) -> TokenCipher:
    """The cipher for TOKEN_ENCRYPTION_KEY; a missing or bad key is one clear error."""
    key = settings.token_encryption_key
    return TokenCipher.from_setting(key.get_secret_value() if key else None)


def spotify_client(settings: Settings, session: requests.Session | None = None) -> SpotifyClient:
    return SpotifyClient(settings.spotify, session)


def encrypted_tokens(cipher: TokenCipher, tokens: TokenSet) -> dict[str, Any]:
    """The link columns that hold `tokens`, encrypted."""
    return {
        "access_token_encrypted": cipher.encrypt(tokens.access_token),
        "refresh_token_encrypted": cipher.encrypt(tokens.refresh_token),
        "expires_at": tokens.expires_at,
        "scope": tokens.scope[:1024],
    }


class StoredLinks:
    """The `LinkStore` of the refresh: links read from the store, outcomes written back at once."""

    def __init__(self, engine: Engine, cipher: TokenCipher, link_ids: Sequence[int] | None = None) -> None:
        self.engine = engine
        self.cipher = cipher
        self.link_ids = sorted(set(link_ids)) if link_ids is not None else None

    def due(self, now: datetime, after_link_id: int) -> Iterator[LinkedAccount]:
        after = after_link_id
        while True:
            query = (
                sa.select(_link, _customer.c.loyalty_id)
                .join(_customer, _customer.c.pk == _link.c.customer_pk)
                .where(_link.c.status == SpotifyLinkStatus.LINKED, _link.c.pk > after)
                .where(sa.or_(_link.c.retry_after.is_(None), _link.c.retry_after <= now))
                .order_by(_link.c.pk)
                .limit(_PAGE)
            )
            if self.link_ids is not None:
                query = query.where(_link.c.pk.in_(self.link_ids))
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            for row in rows:
                yield LinkedAccount(
                    link_id=row["pk"],
                    source_id=row["spotify_account_id"],
                    tokens=TokenSet(
                        self.cipher.decrypt(row["access_token_encrypted"]),
                        self.cipher.decrypt(row["refresh_token_encrypted"]),
                        row["expires_at"],
                        row["scope"],
                    ),
                    loyalty_id=row["loyalty_id"],
                    retry_after=row["retry_after"],
                )
            if len(rows) < _PAGE:
                return
            after = rows[-1]["pk"]

    def _update(self, link_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(_link).where(_link.c.pk == link_id).values(updated_at=utcnow(), **values))

    def save_tokens(self, link_id: int, tokens: TokenSet) -> None:
        self._update(link_id, **encrypted_tokens(self.cipher, tokens))

    def mark_revoked(self, link_id: int) -> None:
        self._update(link_id, status=SpotifyLinkStatus.NEEDS_RELINK, retry_after=None)

    def defer(self, link_id: int, until: datetime) -> None:
        self._update(link_id, retry_after=until)

    def clear_deferral(self, link_id: int) -> None:
        self._update(link_id, retry_after=None)


def link_batches(settings: Settings, size: int = 500) -> list[list[int]]:
    """The ids of the linked accounts in batches of `size`, for one task per batch."""
    if size < 1:
        raise ValueError("a batch holds at least one link")
    engine = ensure_schema(settings.database_url)
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                sa.select(_link.c.pk).where(_link.c.status == SpotifyLinkStatus.LINKED).order_by(_link.c.pk)
            ).scalars()
        )
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def deferred_links(settings: Settings, link_ids: Sequence[int]) -> tuple[list[int], datetime | None]:
    """Which of `link_ids` a 429 deferred, and when the last of them may be read again."""
    engine = ensure_schema(settings.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_link.c.pk, _link.c.retry_after)
            .where(_link.c.pk.in_(sorted(set(link_ids))), _link.c.status == SpotifyLinkStatus.LINKED)
            .where(_link.c.retry_after.is_not(None))
            .order_by(_link.c.pk)
        ).all()
    return [r.pk for r in rows], max((r.retry_after for r in rows), default=None)


def next_due(settings: Settings) -> datetime | None:
    """When the earliest deferred account may be read again (for scheduling a follow-up run)."""
    engine = ensure_schema(settings.database_url)
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.min(_link.c.retry_after)).where(_link.c.status == SpotifyLinkStatus.LINKED)
        ).scalar()
    return value if isinstance(value, datetime) else None


def batch_stream_name(link_ids: Sequence[int] | None) -> str:
    """The run stream (and lease) of a refresh: `profiles`, or `profiles:FIRST-LAST` for a batch."""
    if link_ids is None:
        return "profiles"
    if not link_ids:
        return "profiles:none"
    return f"profiles:{min(link_ids)}-{max(link_ids)}"


def sync_spotify(
    settings: Settings,
    *,
    link_ids: Sequence[int] | None = None,
    run_id: str | None = None,
    trigger: str = "cli",
    token: str | None = None,
    task_id: str | None = None,
    session: requests.Session | None = None,
) -> RunSummary:
    """Re-read the linked profiles (all, or a batch of `link_ids`) as one run of Spotify profiles.

        Revoked links are marked `needs_relink`, rate-limited accounts deferred past Retry-After:
        both are warnings of the run, never a failure and never a wait. `run_id` of an existing
        run carries it on after its last committed link (a re-applied task); a new `run_id` names
        the run created. `token` owns the stream's lease and `task_id` is recorded on the run (both
    the Celery task's id). Raises FatalSourceError,
        before any run is recorded, when Spotify or the encryption key is not set.
    """
    cipher = token_cipher(settings)
    engine = ensure_schema(settings.database_url)
    with spotify_client(settings, session) as client:
        links = StoredLinks(engine, cipher, link_ids)
        stream = ProfilesStream(
            client,
            links,
            params={"link_ids": links.link_ids} if links.link_ids is not None else None,
            name=batch_stream_name(links.link_ids),
        )
        if run_id is None or not _run_exists(engine, run_id):
            run_id = create_run(
                engine,
                stream,
                entity_kind="customers",
                mode="full",
                trigger=trigger,
                run_id=run_id,
                task_id=task_id,
            )
        elif task_id:
            set_task(engine, run_id, task_id)
        summary = execute_run(engine, settings, stream, SPOTIFY_SPEC, run_id, token=token)
    if stream.deferred_until is not None:
        log.info("spotify.deferred_accounts", run_id=run_id, next_try=stream.deferred_until.isoformat())
    return summary


def _run_exists(engine: Engine, run_id: str) -> bool:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is not None


def rotate_token_keys(settings: Settings) -> int:
    """Re-encrypt every stored token under the first key of TOKEN_ENCRYPTION_KEY; returns the links done."""
    cipher = token_cipher(settings)
    engine = ensure_schema(settings.database_url)
    done = 0
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(_link.c.pk, _link.c.access_token_encrypted, _link.c.refresh_token_encrypted)
        ).all()
        for pk, access, refresh in rows:
            conn.execute(
                sa.update(_link)
                .where(_link.c.pk == pk)
                .values(
                    access_token_encrypted=cipher.rotate(access),
                    refresh_token_encrypted=cipher.rotate(refresh),
                )
            )
            done += 1
    return done


__all__ = [
    "StoredLinks",
    "deferred_links",
    "encrypted_tokens",
    "link_batches",
    "next_due",
    "rotate_token_keys",
    "spotify_client",
    "sync_spotify",
    "token_cipher",
]
