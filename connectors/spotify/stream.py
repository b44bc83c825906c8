"""The Spotify profiles stream: re-reads every linked account's /v1/me, refreshing its tokens first."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import structlog

from connectors.base import ReadError, SourceRecord, SourceWarning, Stream, StreamContext
from connectors.spotify.client import (
    RateLimited,
    SpotifyClient,
    SpotifyError,
    SpotifyUnavailableError,
    TokenRevoked,
    TokenSet,
)
from connectors.spotify.profile import LINKED_LOYALTY_ID

log = structlog.get_logger("connectors.spotify")


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    """One linked account as the stream needs it: its key, its tokens, and its customer."""

    link_id: int
    source_id: str
    tokens: TokenSet
    loyalty_id: str | None = None
    retry_after: datetime | None = None


class LinkStore(Protocol):
    """Where links live (the store keeps them encrypted); the stream reports each outcome here."""

    def due(self, now: datetime, after_link_id: int) -> Iterable[LinkedAccount]:
        """Linked accounts not deferred past `now`, in link id order, after `after_link_id`."""

    def save_tokens(self, link_id: int, tokens: TokenSet) -> None:
        """Keep refreshed tokens at once: a rotated refresh token must never be lost."""

    def mark_revoked(self, link_id: int) -> None:
        """The account revoked access: the link needs re-linking by its customer."""

    def defer(self, link_id: int, until: datetime) -> None:
        """Read this account again no earlier than `until`."""

    def clear_deferral(self, link_id: int) -> None:
        """The account was read: it is no longer deferred."""


class ProfilesStream(Stream):
    """Every due linked account's profile, one `/v1/me` each, keyed by `account_id` (else `id`).

    State: no cursor (each run reads every linked account again); the checkpoint is the last
    link id handled, so a re-applied run carries on after it without calling Spotify twice.
    """

    source: ClassVar[str] = "spotify"
    name: ClassVar[str] = "profiles"
    kind: ClassVar[str] = "customers"
    primary_keys: ClassVar[tuple[str, ...]] = ("account_id",)
    replication_key: ClassVar[str | None] = None
    resume_by_skip: ClassVar[bool] = False
    entity_source: ClassVar[str] = "SPOTIFY"

    def __init__(
        self,
        client: SpotifyClient,
        links: LinkStore,
        *,
        params: dict[str, Any] | None = None,
        name: str | None = None,
        source_name: str | None = None,
    ) -> None:
        super().__init__(source_name)
        if name is not None:
            # A batch of links is its own stream (`profiles:12-511`): a run takes its stream's
            # lease, and batches of disjoint accounts may run side by side.
            self.name = name  # type: ignore[misc]
        self.client = client
        self.links = links
        # What the run record shows of this run's scope (e.g. its batch of link ids), so a
        # re-applied run reads the same links.
        self.params = dict(params or {})
        self._after = 0
        # While Spotify's Retry-After runs, the whole app is limited: accounts are deferred
        # without a call rather than each earning its own 429.
        self._blocked_until: datetime | None = None
        self.deferred_until: datetime | None = None

    def checkpoint(self) -> dict[str, Any]:
        return {"after_link": self._after}

    def describe(self) -> dict[str, Any]:
        s = self.client.settings
        return {
            "refresh": True,
            "api_url": s.api_url,
            "accounts_url": s.accounts_url,
            "scopes": s.scopes,
            **self.params,
        }

    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError | SourceWarning]:
        self._after = int(ctx.checkpoint.get("after_link") or 0)
        for position, link in enumerate(self.links.due(datetime.now(UTC), self._after), start=1):
            self._after = link.link_id
            yield self._read(link, position)

    def _read(self, link: LinkedAccount, position: int) -> SourceRecord | SourceWarning:
        now = datetime.now(UTC)
        if self._blocked_until is not None and now < self._blocked_until:
            return self._defer(link, position, self._blocked_until, "not tried: the app is rate-limited")

        def keep(tokens: TokenSet) -> None:
            self.links.save_tokens(link.link_id, tokens)

        try:
            profile, _ = self.client.profile(link.tokens, now, on_refresh=keep)
        except TokenRevoked as exc:
            self.links.mark_revoked(link.link_id)
            log.warning("spotify.link_revoked", link_id=link.link_id)
            return SourceWarning(
                "token_revoked", f"{exc}; link {link.link_id} needs re-linking", link.source_id, position
            )
        except RateLimited as exc:
            until = now + timedelta(seconds=exc.retry_after_seconds)
            self._blocked_until = until
            log.warning("spotify.rate_limited", link_id=link.link_id, retry_after=exc.retry_after_seconds)
            return self._defer(link, position, until, str(exc))
        except SpotifyUnavailableError as exc:
            log.warning("spotify.unavailable", link_id=link.link_id, error=str(exc))
            return SourceWarning("spotify_unavailable", str(exc), link.source_id, position)
        except SpotifyError as exc:
            log.warning("spotify.refused", link_id=link.link_id, error=str(exc))
            return SourceWarning("spotify_error", str(exc), link.source_id, position)
        if link.retry_after is not None:
            self.links.clear_deferral(link.link_id)
        fields = dict(profile)
        if link.loyalty_id:
            fields[LINKED_LOYALTY_ID] = link.loyalty_id
        # The link's key, not the profile's: a profile that gains `account_id` later keeps
        # feeding the same source row.
        return SourceRecord(source_id=link.source_id, fields=fields, position=position)

    def _defer(self, link: LinkedAccount, position: int, until: datetime, why: str) -> SourceWarning:
        self.links.defer(link.link_id, until)
        if self.deferred_until is None or until > self.deferred_until:
            self.deferred_until = until
        # One line per account at debug: a 429 can defer thousands; the run counts them all.
        log.debug("spotify.deferred", link_id=link.link_id, until=until.isoformat())
        return SourceWarning(
            "rate_limited",
            f"{why}; link {link.link_id} deferred until {until.isoformat()}",
            link.source_id,
            position,
        )
