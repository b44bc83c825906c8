"""Per-request context: services, the lazily resolved viewer, DataLoaders, and database calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from strawberry.fastapi import BaseContext

from api.auth import (
    MailSender,
    NotAuthenticatedError,
    Viewer,
    bearer_token,
    load_viewer,
)
from api.graphql.loaders import Loaders
from api.graphql.scope import Scope
from sync.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Services:
    """What the app is built with; shared by every request."""

    settings: Settings
    engine: Engine
    mailer: MailSender


class RequestContext(BaseContext):
    """One GraphQL request's view of the services."""

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.loaders = Loaders(self)
        self._viewer: Viewer | None = None
        self._viewer_error: str | None = None
        self._resolved = False
        self._viewer_lock = asyncio.Lock()

    @property
    def settings(self) -> Settings:
        return self.services.settings

    async def read(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(connection, ...)` in a worker thread, so SQL never blocks the event loop.

        Each read checks a connection out for itself only. (Holding one per request deadlocks
        under load: requests waiting in the thread pool for a connection that requests waiting
        for a thread hold.)
        """

        def run() -> T:
            with self.services.engine.connect() as conn:
                return fn(conn, *args, **kwargs)

        return await asyncio.to_thread(run)

    async def write(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like `read`, inside one transaction that commits when `fn` returns."""

        def run() -> T:
            with self.services.engine.begin() as conn:
                return fn(conn, *args, **kwargs)

        return await asyncio.to_thread(run)

    async def viewer(self) -> Viewer | None:
        """The authenticated customer, or None for an anonymous (or badly authenticated) call."""
        async with self._viewer_lock:
            if not self._resolved:
                self._resolved = True
                header = self.request.headers.get("authorization") if self.request else None
                token = bearer_token(header)
                if token is not None:
                    try:
                        self._viewer = await self.read(load_viewer, self.settings, token)
                    except NotAuthenticatedError as exc:
                        self._viewer_error = exc.message
        return self._viewer

    async def scope(self) -> Scope:
        """What the authenticated viewer may read (the authentication error if there is none)."""
        return Scope(await self.require_viewer())

    async def require_viewer(self) -> Viewer:
        """The viewer, or the authentication error this request deserves."""
        viewer = await self.viewer()
        if viewer is None:
            # A fresh error each time: graphql-core attaches a path to the instance it is given.
            raise NotAuthenticatedError(self._viewer_error) if self._viewer_error else NotAuthenticatedError()
        return viewer
