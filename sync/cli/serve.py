"""`customer-sync serve`: the GraphQL API; the API is imported only when serving."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
import typer

from models import SchemaOutOfDateError
from sync.cli._common import fail, read_signing_settings


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            envvar="WEB_CONCURRENCY",
            help="Server processes sharing the port (one per core the API may use).",
        ),
    ] = 1,
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql, health at /healthz)."""
    # The API's imports are only paid for when serving.
    from api import InsecureSecretKeyError
    from api import serve as serve_api

    read_signing_settings()
    try:
        serve_api(host=host, port=port, workers=workers)
    except InsecureSecretKeyError as exc:  # the app checks too, however it is started
        fail(str(exc))
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
