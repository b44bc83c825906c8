"""The webhook endpoints: validate, write the inbox, ask for a drain, answer within milliseconds."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from api.webhooks._body import BodyTooLargeError, read_limited_body
from api.webhooks._drains import DrainRequester
from api.webhooks._json import BadDeliveryError, parse_json_delivery
from api.webhooks._outbound import (
    MalformedMessageError,
    organization_matches,
    parse_outbound_message,
    salesforce_record,
)
from api.webhooks._signing import SignatureError, verify_signature
from api.webhooks._soap import SOAP_CONTENT_TYPE, ack_envelope, fault_envelope
from sync.jobs.webhook import FETCH_STREAMS, REF, Accepted, InboxItem, accept_delivery, fetch_problem
from sync.settings import Settings

log = structlog.get_logger("api.webhooks")

SALESFORCE = "salesforce"
# Outbound Messages import Contacts only: an Order's customer is found by its contact's
# e-mail, which the message does not carry.
_OUTBOUND_STREAMS = {"Contact": "contacts"}


class DrainUnavailableError(Exception):
    """The records are in the inbox, but their import could not be requested (broker down)."""


def _soap(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type=SOAP_CONTENT_TYPE)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "application/json"


class WebhookEndpoints:
    """The handlers, bound to the settings, the store and how drains are requested."""

    def __init__(self, settings: Settings, engine: Engine, drains: DrainRequester) -> None:
        self.settings = settings
        self.engine = engine
        self.drains = drains

    # --- Salesforce Outbound Messages ---------------------------------------------------------

    async def outbound_message(self, request: Request) -> Response:
        expected = self.settings.salesforce.organization_id
        if not expected:
            # Salesforce retries a failed delivery for 24 hours: time enough to configure it.
            return _soap(503, fault_envelope("SALESFORCE_ORGANIZATION_ID is not configured", server=True))
        token = self.settings.salesforce.outbound_token
        if token is None or not token.get_secret_value():
            return _soap(503, fault_envelope("SALESFORCE_OUTBOUND_TOKEN is not configured", server=True))
        given = request.query_params.get("token", "")
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            # Checked before the body is read: a caller without the URL's token learns nothing more.
            log.warning("webhook.rejected", source=SALESFORCE, reason="token")
            return _soap(401, fault_envelope("the endpoint URL's token is missing or wrong"))
        try:
            body = await read_limited_body(request, self.settings.webhook_max_body_bytes)
            message = parse_outbound_message(body)
        except BodyTooLargeError as exc:
            return _soap(413, fault_envelope(str(exc)))
        except MalformedMessageError as exc:
            log.warning("webhook.rejected", source=SALESFORCE, reason="malformed", error=str(exc))
            return _soap(400, fault_envelope(str(exc)))
        if not organization_matches(message.organization_id, expected):
            log.warning("webhook.rejected", source=SALESFORCE, reason="organization")
            return _soap(400, fault_envelope("OrganizationId does not match the configured organization"))

        by_stream: dict[str, dict[str, list[InboxItem]]] = {}
        ignored: set[str] = set()
        columns = self._contact_columns()
        for n in message.notifications:
            stream = _OUTBOUND_STREAMS.get(n.sobject)
            if stream is None:
                ignored.add(n.sobject or "?")
                continue
            record = salesforce_record(n, columns)
            item = InboxItem(record.source_id, record.fields, record.modstamp, record.deleted)
            by_stream.setdefault(stream, {})[n.id] = [item]
        if ignored:
            # Acknowledged all the same: a fault would only make Salesforce redeliver it for a day.
            log.warning("webhook.unsupported_sobject", source=SALESFORCE, sobjects=sorted(ignored))
        try:
            accepted = {s: await self._accept(SALESFORCE, s, d) for s, d in by_stream.items()}
        except DrainUnavailableError:
            return _soap(
                503, fault_envelope("the import could not be scheduled; deliver it again", server=True)
            )
        except sa.exc.SQLAlchemyError as exc:
            log.error("webhook.store_failed", source=SALESFORCE, error=type(exc).__name__)
            return _soap(
                500, fault_envelope("the message could not be stored; deliver it again", server=True)
            )
        log.info(
            "webhook.accepted",
            source=SALESFORCE,
            action_id=message.action_id,
            notifications=len(message.notifications),
            records=sum(a.items for a in accepted.values()),
            duplicates=sum(a.duplicates for a in accepted.values()),
        )
        return _soap(200, ack_envelope())

    def _contact_columns(self) -> list[str]:
        from sync.jobs.webhook import salesforce_contact_spec

        spec = salesforce_contact_spec(self.settings)
        return [c for columns in spec.fields.values() for c in columns]

    # --- signed JSON --------------------------------------------------------------------------

    def _takes(self, source: str) -> tuple[bool, bool] | None:
        """(takes refs, takes records) for a source, or None for a source we do not know."""
        refs = source in FETCH_STREAMS
        records = source in self.settings.webhook_sources and source != SALESFORCE
        return (refs, records) if refs or records else None

    def _stream_of(self, source: str, request: Request) -> str | None:
        asked = request.query_params.get("stream")
        streams = FETCH_STREAMS.get(source, ("customers",))
        if asked is None:
            return streams[0]
        return asked if asked in streams else None

    async def signed_json(self, source: str, request: Request) -> Response:
        secret = self.settings.webhook_secret
        if secret is None or not secret.get_secret_value():
            # Never accept unsigned: without a secret there is nothing to check a signature with.
            return _error(503, "webhooks are off: WEBHOOK_SECRET is not configured")
        takes = self._takes(source)
        if takes is None:
            return _error(404, f"no webhook source named {source!r}")
        stream = self._stream_of(source, request)
        if stream is None:
            return _error(404, f"source {source!r} has no stream {request.query_params.get('stream')!r}")
        try:
            body = await read_limited_body(request, self.settings.webhook_max_body_bytes)
            verify_signature(
                secret.get_secret_value(),
                request.headers.get("x-timestamp"),
                request.headers.get("x-signature"),
                body,
                window_seconds=self.settings.webhook_replay_window_seconds,
            )
            items = parse_json_delivery(body, refs=takes[0], records=takes[1])
        except BodyTooLargeError as exc:
            return _error(413, str(exc))
        except SignatureError as exc:
            log.warning("webhook.rejected", source=source, reason="signature", error=str(exc))
            return _error(401, str(exc))
        except BadDeliveryError as exc:
            log.warning("webhook.rejected", source=source, reason="malformed", error=str(exc))
            return _error(400, str(exc))
        if any(item.kind == REF for item in items):
            problem = fetch_problem(self.settings, source)
            if problem is not None:
                # Ids alone are nothing to import until the source can be asked for them: taken
                # now, they would wait in the inbox for ever. 503, not 4xx: the request is
                # right and the gap is this server's configuration, so a sender that retries
                # server errors delivers it again once the credentials are set (as with a
                # missing WEBHOOK_SECRET or SALESFORCE_ORGANIZATION_ID).
                log.warning("webhook.rejected", source=source, reason="fetch_unconfigured")
                return _error(503, f"ids cannot be fetched from {source}: {problem}")
        # The signature names this exact request: a replay of it inside the window is a duplicate.
        delivery = "sig:" + request.headers.get("x-signature", "").strip().removeprefix("sha256=")
        try:
            accepted = await self._accept(source, stream, {delivery: items})
        except DrainUnavailableError:
            return _error(503, "the import could not be scheduled; send it again")
        except sa.exc.SQLAlchemyError as exc:
            log.error("webhook.store_failed", source=source, error=type(exc).__name__)
            return _error(500, "the delivery could not be stored; send it again")
        log.info("webhook.accepted", source=source, stream=stream, records=accepted.items)
        return JSONResponse(
            {"accepted": accepted.items, "duplicate": accepted.duplicates > 0}, status_code=202
        )

    async def _accept(
        self, source: str, stream: str, deliveries: Mapping[str, Sequence[InboxItem]]
    ) -> Accepted:
        # The store and the broker are blocking clients: off the event loop.
        return await run_in_threadpool(self._accept_blocking, source, stream, deliveries)

    def _accept_blocking(
        self, source: str, stream: str, deliveries: Mapping[str, Sequence[InboxItem]]
    ) -> Accepted:
        accepted = accept_delivery(self.engine, source, stream, deliveries)
        # A redelivery asks again too: it may be the retry of one whose drain request failed.
        if any(deliveries.values()):
            try:
                self.drains.request(source, stream)
            except Exception as exc:
                log.error(
                    "webhook.drain_request_failed", source=source, stream=stream, error=type(exc).__name__
                )
                raise DrainUnavailableError from None
        return accepted


def webhook_router(settings: Settings, engine: Engine, drains: DrainRequester) -> APIRouter:
    """`POST /webhooks/salesforce` (Outbound Messages, or signed JSON) and `POST /webhooks/{source}`."""
    endpoints = WebhookEndpoints(settings, engine, drains)
    router = APIRouter(prefix="/webhooks", include_in_schema=False)

    @router.post("/salesforce")
    async def salesforce(request: Request) -> Response:
        if _is_json(request):
            return await endpoints.signed_json(SALESFORCE, request)
        return await endpoints.outbound_message(request)

    @router.post("/{source}")
    async def signed(source: str, request: Request) -> Response:
        return await endpoints.signed_json(source, request)

    return router
