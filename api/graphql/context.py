"""Per-request context: services, the lazily resolved viewer, DataLoaders, and database calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
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
from api.graphql.read_threads import ReadThreads
from api.graphql.scope import Scope
from models import READ_POOL_SIZE
from sync.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Services:
    """What the app is built with; shared by every request."""

    settings: Settings
    engine: Engine
    mailer: MailSender
    # The pool reads go through (models.get_read_engine); writes and anything unset use `engine`.
    read_engine: Engine | None = None
    # The threads reads run on (`read_threads`), made on first use after each `close_reads`.
    _reads: ReadThreads | None = field(default=None, init=False, repr=False)

    def read_threads(self) -> ReadThreads:
        """The threads reads run on: as many as the read pool keeps connections, so none is
        closed after a read and opened again for the next (asyncio's default pool has cores + 4
        threads). Only the event loop's thread asks, so two are never made at once."""
        if self._reads is None:
            self._reads = ReadThreads(READ_POOL_SIZE, "api-read")
        return self._reads

    def close_reads(self) -> None:
        """Let the read threads end once idle (the app's lifespan ends); a later read makes new ones,
        so an app served again (a second lifespan) still reads."""
        reads, self._reads = self._reads, None
        if reads is not None:
            reads.close()


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

    def _read_now(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        engine = self.services.read_engine or self.services.engine
        try:
            with engine.connect() as conn:
                return fn(conn, *args, **kwargs)
        except sa.exc.DBAPIError as exc:
            # The read pool does not ping: a connection the server dropped fails here once (and
            # the pool is renewed). A read changes nothing, so it is simply tried again.
            if not exc.connection_invalidated:
                raise
        with engine.connect() as conn:
            return fn(conn, *args, **kwargs)

    async def read(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(connection, ...)` in a worker thread, so SQL never blocks the event loop.

        Each read checks a connection out for itself only. (Holding one per request deadlocks
        under load: requests waiting in the thread pool for a connection that requests waiting
        for a thread hold.)
        """

        def run() -> T:
            return self._read_now(fn, *args, **kwargs)

        return await self.services.read_threads().run(run)

    async def read_scoped(
        self, fn: Callable[Concatenate[sa.Connection, Scope, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, scope, ...)` for the authenticated viewer (else its authentication error).

        The first read of a request checks the token in the same trip to a worker thread and
        on the same connection: a request that reads once then costs one trip, not two.
        """
        if not self._resolved:
            async with self._viewer_lock:
                if not self._resolved:
                    self._resolved = True
                    token = self._token()
                    if token is not None:

                        def viewer_then_read(conn: sa.Connection) -> tuple[Viewer | None, T | None]:
                            viewer = self._load_viewer(conn, token)
                            return viewer, fn(conn, Scope(viewer), *args, **kwargs) if viewer else None

                        viewer, result = await self.read(viewer_then_read)
                        if viewer is not None:
                            return result  # type: ignore[return-value]  # fn's own result
        return await self.read(fn, await self.scope(), *args, **kwargs)

    def _token(self) -> str | None:
        header = self.request.headers.get("authorization") if self.request else None
        return bearer_token(header)

    def _load_viewer(self, conn: sa.Connection, token: str) -> Viewer | None:
        """The token's viewer, kept for the request; a refused token keeps its reason instead."""
        try:
            self._viewer = load_viewer(conn, self.settings, token)
        except NotAuthenticatedError as exc:
            self._viewer_error = exc.message
        return self._viewer

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
                token = self._token()
                if token is not None:
                    await self.read(self._load_viewer, token)
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
