"""`customer-sync spotify`: connect links for customers, and the token encryption keys."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
import typer

from connectors import FatalSourceError
from connectors.spotify import TokenCipher
from models import Customer, SchemaOutOfDateError
from sync.cli._common import (
    JsonOption,
    fail,
    open_store,
    out,
    print_json,
    read_settings,
    read_signing_settings,
)

app = typer.Typer(
    help="Spotify: links for customers to connect their account; token keys.", no_args_is_help=True
)


@app.command("link-url")
def link_url(
    email: Annotated[str, typer.Option(help="The customer's e-mail.")],
    base_url: Annotated[
        str | None,
        typer.Option(help="The API's public URL; by default the origin of SPOTIFY_REDIRECT_URI."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """A signed link to send a known customer: opening it starts linking their Spotify account."""
    from sync.jobs import sign_connect_link

    settings = read_signing_settings()
    origin = base_url
    if origin is None:
        redirect = urlsplit(settings.spotify.redirect_uri or "")
        if not redirect.scheme or not redirect.netloc:
            fail("set SPOTIFY_REDIRECT_URI (or pass --base-url): the link points at this API")
        origin = f"{redirect.scheme}://{redirect.netloc}"
    customers = Customer.__table__  # type: ignore[attr-defined]
    with open_store().connect() as conn:
        pk = conn.execute(
            sa.select(customers.c.pk).where(
                customers.c.email == email.strip().lower(), customers.c.active.is_(True)
            )
        ).scalar()
    if pk is None:
        fail(f"no active customer with e-mail {email.strip()}")
        return  # unreachable: fail() exits
    url = f"{origin.rstrip('/')}/connect/spotify?{urlencode({'link': sign_connect_link(settings, int(pk))})}"
    expires = settings.spotify.link_ttl_seconds
    if as_json:
        print_json({"customer_pk": pk, "url": url, "expires_in": expires})
        return
    out.print(url, soft_wrap=True, highlight=False)


@app.command("new-key")
def new_key() -> None:
    """Print a fresh key for TOKEN_ENCRYPTION_KEY (to rotate: put it first, keep the old one after)."""
    out.print(TokenCipher.new_key(), highlight=False)


@app.command("rotate-keys")
def rotate_keys(as_json: JsonOption = False) -> None:
    """Re-encrypt every stored Spotify token under the first key; then the old keys can go."""
    from sync.jobs import rotate_token_keys

    settings = read_settings()
    try:
        done = rotate_token_keys(settings)
    except FatalSourceError as exc:
        fail(str(exc))
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    if as_json:
        print_json({"rotated": done})
        return
    out.print(f"re-encrypted the tokens of {done} link(s) under the first key", highlight=False)
