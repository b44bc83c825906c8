"""Per-request context: services, the lazily resolved viewer, DataLoaders, and database calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from strawberry.fastapi import BaseContext

from api.auth import (
    MailSender,
    NotAuthenticatedError,
    UnknownEmailThrottle,
    Viewer,
    bearer_token,
    load_viewer,
)
from api.graphql.loaders import Loaders
from sync.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Services:
    """What the app is built with; shared by every request."""

    settings: Settings
    engine: Engine
    mailer: MailSender
    throttle: UnknownEmailThrottle = field(default_factory=UnknownEmailThrottle)


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
        # One connection for all of the request's reads (see `read`), given back by `close`.
        self._conn: sa.Connection | None = None
        self._conn_lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        return self.services.settings

    async def read(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(connection, ...)` in a worker thread, so SQL never blocks the event loop.

        The request's reads share one connection, taken on first use: a customer with its
        points and three connections costs one pool checkout (and one liveness ping), not six.
        They take turns on it; on this workload the database answers faster than Python asks.
        """

        def run() -> T:
            with self._conn_lock:
                if self._conn is None:
                    self._conn = self.services.engine.connect()
                try:
                    return fn(self._conn, *args, **kwargs)
                except Exception:
                    self._conn.rollback()  # an aborted transaction must not fail the next read
                    raise

        return await asyncio.to_thread(run)

    def close(self) -> None:
        """Give the reads' connection back to the pool (at the end of the request)."""
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

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

    async def require_viewer(self) -> Viewer:
        """The viewer, or the authentication error this request deserves."""
        viewer = await self.viewer()
        if viewer is None:
            # A fresh error each time: graphql-core attaches a path to the instance it is given.
            raise NotAuthenticatedError(self._viewer_error) if self._viewer_error else NotAuthenticatedError()
        return viewer
