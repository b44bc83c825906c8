"""One authenticated Salesforce connection: retries, bounded re-login, quota pause and API budget."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import structlog
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from connectors.base import FatalSourceError, PauseRun
from connectors.redact import redact
from connectors.salesforce.auth import AuthMode, Login, auth_mode, log_in
from connectors.salesforce.settings import SalesforceSettings

log = structlog.get_logger("connectors.salesforce")

T = TypeVar("T")

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
# How long to wait before resuming after Salesforce refused for the daily quota.
QUOTA_RETRY_AFTER = 3600.0


class _PinnedCA(HTTPAdapter):
    """Verify TLS against one CA file whatever the environment says.

    requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override `Session.verify`; pinning it in the
    adapter keeps the configured CA while leaving the environment's proxies in force.
    """

    def __init__(self, ca_path: str) -> None:
        super().__init__()
        self._ca_path = ca_path

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self._ca_path
        return super().send(request, *args, **kwargs)


class TruncatedAnswer(Exception):  # noqa: N818 - what the answer is, like BulkJobGone
    """An answer that arrived whole by HTTP but holds less than it announced (a page cut short)."""


def is_transient(exc: BaseException) -> bool:
    """Worth another try: 5xx, 429, timeouts, resets and bodies cut short."""
    if isinstance(exc, TruncatedAnswer):
        return True
    if isinstance(exc, SalesforceGeneralError):
        return exc.status in _RETRIED_STATUS
    return isinstance(
        exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
    )


def error_code(exc: SalesforceError) -> str | None:
    """The `errorCode` of a Salesforce error answer (a JSON array of errors)."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode"))
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or "") or None
    return None


# What a person can act on, by what requests says underneath (the rest of its text is noise).
_UNREACHABLE_REASONS = (
    ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted (SALESFORCE_CA_BUNDLE?)"),
    ("Connection refused", "connection refused"),
    ("Name or service not known", "the host name does not resolve"),
    ("nodename nor servname", "the host name does not resolve"),
    ("timed out", "timed out"),
    ("Connection reset", "the connection was reset"),
)


def describe_unreachable(exc: requests.RequestException, url: str | None) -> str:
    """`cannot reach Salesforce at HOST: REASON`, one line, without the request's URL or query."""
    text = str(exc)
    reason = next((why for needle, why in _UNREACHABLE_REASONS if needle in text), type(exc).__name__)
    where = urlsplit(url).netloc if url else "the configured instance"
    return f"cannot reach Salesforce at {where}: {reason}"


def describe_error_answer(exc: SalesforceError) -> str:
    """`STATUS ERRORCODE: message` of an error answer, with anything secret-looking redacted."""
    content = exc.content
    first = content[0] if isinstance(content, list) and content else content
    if isinstance(first, dict):
        detail = f"{first.get('errorCode') or first.get('error') or ''}: {first.get('message') or first.get('error_description') or ''}"
    else:
        detail = str(first)[:500]
    return redact(f"{exc.status} {detail}".strip())


def explain_failure(exc: BaseException, instance_url: str | None) -> str | None:
    """One redacted line for an error that ended a Salesforce read, or None if it is not one.

    The exceptions' own text is the whole answer (URL with its SOQL, body with whatever the org
    echoed): only the error's own words are kept.
    """
    if isinstance(exc, SalesforceError):
        return f"Salesforce answered {describe_error_answer(exc)}"
    if isinstance(exc, TruncatedAnswer):
        return redact(str(exc))
    if isinstance(exc, requests.RequestException):
        request = getattr(exc, "request", None)
        return describe_unreachable(exc, instance_url or getattr(request, "url", None))
    return None


class SalesforceClient:
    """Runs calls against one org, owning login, retries and the run's API budget."""

    def __init__(self, settings: SalesforceSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.mode: AuthMode = auth_mode(settings)
        self.http = session or requests.Session()
        if settings.ca_bundle is not None:
            ca = str(settings.ca_bundle)
            self.http.verify = ca
            self.http.mount("https://", _PinnedCA(ca))
        self.http.hooks["response"].append(self._on_response)
        self.calls = 0
        self.budget: int | None = None
        self.api_usage: tuple[int, int] | None = None
        self.relogins = 0
        # The Retry-After of the last answer, when it was a 429 or 503 that gave one.
        self.retry_after: float | None = None
        self._sf: Salesforce | None = None
        self._retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(settings.retry_attempts),
            wait=wait_exponential_jitter(
                multiplier=settings.retry_initial_wait_seconds,
                max=settings.retry_max_wait_seconds,
                jitter=settings.retry_initial_wait_seconds,
            ),
            before_sleep=self._log_retry,
            reraise=True,
        )

    # --- the connection -------------------------------------------------------------------

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client, logged in on first use."""
        if self._sf is None:
            self._connect()
        assert self._sf is not None
        return self._sf

    @property
    def timeout(self) -> float:
        return self.settings.request_timeout_seconds

    def _connect(self) -> None:
        login: Login = self._retrying(log_in, self.settings, self.mode, self.http)
        # A "direct" client: simple-salesforce's own re-login on 401 is unbounded for per-object
        # calls, so this class does it, a bounded number of times.
        self._sf = Salesforce(
            session_id=login.session_id,
            instance=login.instance,
            session=self.http,
            version=self.settings.api_version,
        )
        log.info("salesforce.login", auth=str(self.mode), instance=login.instance)

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        """Run `fn(sf)`, retrying transient failures, logging in again on an expired session.

        Raises PauseRun on the daily quota or when the run's API budget is spent.
        """
        consecutive = 0
        while True:
            try:
                if self._sf is None:
                    self._connect()
                result: T = self._retrying(self._attempt, fn)
                return result
            except SalesforceExpiredSession:
                if self.mode is AuthMode.SESSION:
                    raise FatalSourceError(
                        "the Salesforce access token expired; configure a login to let the sync renew it"
                    ) from None
                if consecutive >= self.settings.max_relogins:
                    raise FatalSourceError(
                        f"Salesforce session still invalid after {consecutive} re-login(s) ({what})"
                    ) from None
                consecutive += 1
                self.relogins += 1
                log.warning("salesforce.relogin", call=what, attempt=consecutive)
                self._connect()
            except SalesforceRefusedRequest as exc:
                code = error_code(exc)
                if code == "REQUEST_LIMIT_EXCEEDED":
                    log.warning("salesforce.quota_exceeded", call=what)
                    raise PauseRun("salesforce: REQUEST_LIMIT_EXCEEDED", QUOTA_RETRY_AFTER) from None
                raise FatalSourceError(f"Salesforce refused {what}: {code}") from None

    def _attempt(self, fn: Callable[[Salesforce], T]) -> T:
        if self.budget is not None and self.calls >= self.budget:
            log.warning("salesforce.budget_spent", calls=self.calls, budget=self.budget)
            raise PauseRun(f"salesforce: API budget of {self.budget} calls for this run spent")
        assert self._sf is not None
        return fn(self._sf)

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """One page of a SOQL query (queryAll with `include_deleted`)."""

        def run(sf: Salesforce) -> dict[str, Any]:
            return dict(sf.query(soql, include_deleted=include_deleted, timeout=self.timeout))

        return self.call("query", run)

    def query_more(self, next_url: str) -> dict[str, Any]:
        """The page a `nextRecordsUrl` points at."""

        def run(sf: Salesforce) -> dict[str, Any]:
            return dict(sf.query_more(next_url, identifier_is_url=True, timeout=self.timeout))

        return self.call("query_more", run)

    # --- what every answer tells -----------------------------------------------------------

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # simple-salesforce drops the headers of error answers, so they are read here.
        if not urlsplit(response.url).path.startswith("/services/data/"):
            return
        self.calls += 1
        wait = response.headers.get("Retry-After", "")
        self.retry_after = (
            float(wait) if response.status_code in (429, 503) and wait.strip().isdigit() else None
        )
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            used, limit = int(match.group(1)), int(match.group(2))
            self.api_usage = (used, limit)
            if self.budget is None:
                remaining = max(0, limit - used)
                self.budget = int(remaining * self.settings.api_budget_fraction)
                log.info("salesforce.budget", remaining=remaining, budget=self.budget)

    def _log_retry(self, state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "salesforce.retry",
            attempt=state.attempt_number,
            error=type(exc).__name__,
            status=getattr(exc, "status", None),
            wait=round(state.next_action.sleep, 2) if state.next_action else None,
        )
