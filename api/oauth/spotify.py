"""`/connect/spotify` and `/callback/spotify`: the customer's side of linking a Spotify account."""

from __future__ import annotations

import html

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import NotAuthenticatedError, bearer_token, load_viewer
from connectors import FatalSourceError
from sync.jobs import LinkRefusedError, authorize_url, complete_link, read_connect_link
from sync.settings import Settings

log = structlog.get_logger("api.oauth")

router = APIRouter()

# The pages carry one-time values (state, code) in their URLs: keep them out of caches.
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def page(status: int, title: str, detail: str) -> HTMLResponse:
    """A small page a person can read; never a traceback, a token or a driver message."""
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_NO_STORE)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.services.settings
    return settings


def _customer_pk(request: Request, link: str | None) -> int:
    settings = _settings(request)
    if link:
        return read_connect_link(settings, link)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise LinkRefusedError(
            401, "Log in first", "Linking Spotify needs a logged-in customer or a link sent to you."
        )
    try:
        with request.app.state.services.engine.connect() as conn:
            return load_viewer(conn, settings, token).pk
    except NotAuthenticatedError as exc:
        raise LinkRefusedError(401, "Log in again", exc.message) from None


@router.get("/connect/spotify")
def connect_spotify(request: Request, link: str | None = None) -> Response:
    """Send the customer to Spotify's consent page with a state bound to them."""
    try:
        url = authorize_url(_settings(request), _customer_pk(request, link))
    except LinkRefusedError as exc:
        return page(exc.status, exc.title, exc.detail)
    except FatalSourceError as exc:
        log.error("spotify.connect_unavailable", error=str(exc))
        return page(503, "Spotify linking is not available", "Please try again later.")
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


@router.get("/callback/spotify")
def callback_spotify(
    request: Request, state: str | None = None, code: str | None = None, error: str | None = None
) -> Response:
    """Where Spotify sends the customer back: check the state, store the link, read the profile."""
    if not state:
        return page(400, "This Spotify link request is not valid", "Start linking Spotify again.")
    settings = _settings(request)
    if error or not code:
        reason = (
            "You did not allow access" if error == "access_denied" else "Spotify did not complete the link"
        )
        log.info("spotify.link_not_granted", error=(error or "no code")[:64])
        return page(400, reason, "Nothing was linked. You can start again whenever you like.")
    try:
        result = complete_link(settings, state, code)
    except LinkRefusedError as exc:
        return page(exc.status, exc.title, exc.detail)
    except FatalSourceError as exc:
        log.error("spotify.callback_unavailable", error=str(exc))
        return page(503, "Spotify linking is not available", "Nothing was linked. Please try again later.")
    if result.run.status != "succeeded":
        log.warning("spotify.link_run", run_id=result.run.run_id, status=result.run.status)
    return page(200, "Spotify is linked", "Your Spotify profile is now part of your customer record.")
