"""The ASGI app: GraphQL at /graphql, webhooks at /webhooks, Spotify linking, a health check at /healthz."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from strawberry.fastapi import GraphQLRouter

from api.auth import FolderMailSender, LogMailSender, MailSender
from api.graphql import RequestContext, Services, build_schema
from api.oauth import spotify_router
from api.webhooks import DrainRequester, InProcessDrains, webhook_router
from models import get_engine
from sync.settings import Settings, get_settings

access_log = structlog.get_logger("api.access")


def _default_mailer(settings: Settings) -> MailSender:
    if settings.mail_outbox_dir is not None:
        return FolderMailSender(settings.mail_outbox_dir)
    return LogMailSender()


def _drains(settings: Settings) -> DrainRequester:
    """How webhook imports run: in this process, as no broker is configured."""
    return InProcessDrains(settings)


def create_app(settings: Settings | None = None, mailer: MailSender | None = None) -> FastAPI:
    """The API for `settings` (the process settings by default), sending mail through `mailer`."""
    settings = settings or get_settings()
    services = Services(
        settings=settings,
        engine=get_engine(settings.database_url),
        mailer=mailer or _default_mailer(settings),
    )

    async def context() -> RequestContext:
        return RequestContext(services)

    app = FastAPI(title="customer-sync", docs_url=None, redoc_url=None)
    app.state.services = services
    app.include_router(
        GraphQLRouter(build_schema(settings), context_getter=context, graphql_ide="graphiql"),
        prefix="/graphql",
    )
    app.state.webhook_drains = _drains(settings)
    app.include_router(webhook_router(settings, services.engine, app.state.webhook_drains))
    # Linking a customer's Spotify account: /connect/spotify and /callback/spotify.
    app.include_router(spotify_router)

    @app.middleware("http")
    async def log_access(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # One JSON line per request. The path only: a query string or a header may hold a token.
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            access_log.info(
                "http.request",
                method=request.method,
                path=request.url.path,
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        # Reaching the store is what makes this process useful; a load balancer should know.
        try:
            with services.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API with uvicorn (`customer-sync serve`), on a store migrated to head."""
    from models import ensure_schema

    ensure_schema(get_settings().database_url)
    # Our access line replaces uvicorn's, which would print query strings.
    uvicorn.run(create_app(), host=host, port=port, proxy_headers=True, access_log=False)
