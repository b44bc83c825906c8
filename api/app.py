"""The ASGI app: GraphQL at /graphql, webhooks at /webhooks, Spotify linking, a health check at /healthz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from strawberry.fastapi import GraphQLRouter

from api.auth import FolderMailSender, LogMailSender, MailSender
from api.graphql import RequestContext, Services, build_schema
from api.graphql.http import GraphQLOverHttp
from api.middleware import RequestGuard
from api.oauth import spotify_router
from api.process import prepare_serving_process
from api.webhooks import CeleryDrains, DrainRequester, InProcessDrains, webhook_router
from models import get_engine, get_read_engine
from sync.celery import broker_url
from sync.log import configure_logging
from sync.settings import Settings, get_settings


def _default_mailer(settings: Settings) -> MailSender:
    if settings.mail_outbox_dir is not None:
        return FolderMailSender(settings.mail_outbox_dir)
    return LogMailSender()


def _drains(settings: Settings) -> DrainRequester:
    """How webhook imports run: as tasks on the workers, or without a broker in this process."""
    if broker_url(settings):
        return CeleryDrains(settings)
    return InProcessDrains(settings)


class InsecureSecretKeyError(RuntimeError):
    """`SECRET_KEY` would let anyone sign tokens; the message says how to make a good one."""


def create_app(
    settings: Settings | None = None, mailer: MailSender | None = None, *, direct_graphql: bool = True
) -> FastAPI:
    """The API for `settings` (the process settings by default), sending mail through `mailer`.

    `direct_graphql=False` sends every /graphql request through strawberry's router, which
    otherwise serves only what `api.graphql.http` leaves to it (the tests compare the two).

    Refuses (InsecureSecretKeyError) to be built with the default or a short `SECRET_KEY`
    outside development: whoever knows the key can sign an admin's token.
    """
    settings = settings or get_settings()
    problem = settings.signing_key_problem()
    if problem is not None:
        raise InsecureSecretKeyError(problem)
    services = Services(
        settings=settings,
        engine=get_engine(settings.database_url),
        mailer=mailer or _default_mailer(settings),
        read_engine=get_read_engine(settings.database_url),
    )

    async def context() -> RequestContext:
        return RequestContext(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.webhook_drains.close()
        services.close_reads()

    app = FastAPI(title="customer-sync", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.services = services
    schema = build_schema(settings)
    # GraphiQL, queries by GET and anything but a JSON POST: strawberry's router.
    app.include_router(
        GraphQLRouter(
            schema,
            context_getter=context,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
        ),
        prefix="/graphql",
    )
    app.state.webhook_drains = _drains(settings)
    app.include_router(webhook_router(settings, services.engine, app.state.webhook_drains))
    # Linking a customer's Spotify account: /connect/spotify and /callback/spotify.
    app.include_router(spotify_router)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        # Reaching the store is what makes this process useful; a load balancer should know.
        try:
            with services.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    if direct_graphql:
        # A JSON POST to /graphql: run on the schema directly, inside the guard that read its body.
        app.add_middleware(GraphQLOverHttp, schema=schema, context=lambda: RequestContext(services))
    # Outermost: every answer (a 413 or 400 from the guard too) gets a request id and one JSON
    # access line (method, path without its query string, status, duration).
    app.add_middleware(RequestGuard, max_body_bytes=settings.api_max_body_bytes)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the API with uvicorn (`customer-sync serve`), on a store migrated to head.

    With several `workers` uvicorn forks that many processes, each building its own app
    (engine, pool, schema), sharing the port: Python runs one request's code at a time per
    process, so that is how the API uses more than one core.
    """
    from models import ensure_schema

    app = create_app()  # the signing key is checked before the store is touched
    ensure_schema(get_settings().database_url)
    # Our access line replaces uvicorn's, which would print query strings.
    options: dict[str, Any] = {"host": host, "port": port, "proxy_headers": True, "access_log": False}
    if workers == 1:
        prepare_serving_process()
        uvicorn.run(app, **options)
    else:
        uvicorn.run("api.app:create_worker_app", factory=True, workers=workers, **options)


def create_worker_app() -> FastAPI:
    """One of `serve --workers N`'s processes: a fresh interpreter, so it sets up logging first."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    prepare_serving_process()
    return app
