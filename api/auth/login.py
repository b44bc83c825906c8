"""Login with throttling: 20 wrong passwords in a row lock an e-mail for a while."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from api.auth.errors import NON_FIELD, FormErrors, single
from api.auth.passwords import hash_password, needs_rehash, verify_password
from api.auth.tokens import issue_session
from models import Customer, CustomerLogin, utcnow
from sync.mapping import FieldError, normalize_email
from sync.settings import Settings

log = structlog.get_logger(__name__)

_customer = Customer.__table__  # type: ignore[attr-defined]
_login = CustomerLogin.__table__  # type: ignore[attr-defined]

_INVALID = "Please, enter valid credentials."


@dataclass(frozen=True)
class LoginResult:
    success: bool
    errors: FormErrors | None = None
    token: str | None = None
    refresh_token: str | None = None
    customer_pk: int | None = None


class UnknownEmailThrottle:
    """Failure counts for e-mails without a login, kept in memory.

    So that an unknown address locks after as many tries as a known one: the lockout answer
    must not tell an attacker which addresses exist.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()

    def locked(self, email: str, now: datetime) -> bool:
        with self._lock:
            _, until = self._entries.get(email, (0, None))
            return until is not None and until > now

    def fail(self, email: str, now: datetime, settings: Settings) -> bool:
        """Count a failure; True when it locks the address."""
        with self._lock:
            count, _ = self._entries.pop(email, (0, None))
            count += 1
            until = None
            if count >= settings.login_max_failures:
                count, until = 0, now + timedelta(seconds=settings.login_lockout_seconds)
            self._entries[email] = (count, until)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
            return until is not None


def _locked_answer() -> LoginResult:
    return LoginResult(
        success=False,
        errors=single(NON_FIELD, "too_many_attempts", "Too many failed attempts. Try again in a while."),
    )


def _invalid_answer() -> LoginResult:
    return LoginResult(success=False, errors=single(NON_FIELD, "invalid_credentials", _INVALID))


def obtain_token(
    conn: sa.Connection,
    settings: Settings,
    throttle: UnknownEmailThrottle,
    email: str,
    password: str,
) -> LoginResult:
    """Check the credentials and open a session; every failure looks alike from outside."""
    now = utcnow()
    try:
        address = normalize_email(email)
    except FieldError:
        verify_password(None, password, settings)
        return _invalid_answer()
    row = conn.execute(
        sa.select(_login, _customer.c.active)
        .join(_customer, _customer.c.pk == _login.c.customer_pk)
        .where(_login.c.email == address)
        .with_for_update(of=_login)
    ).first()
    if row is None:
        verify_password(None, password, settings)
        if throttle.locked(address, now):
            return _locked_answer()
        if throttle.fail(address, now, settings):
            log.warning("login.locked", email_known=False)
        return _invalid_answer()
    if row.locked_until is not None and row.locked_until > now:
        return _locked_answer()
    if not verify_password(row.password_hash, password, settings):
        failures = row.failed_attempts + 1
        values: dict[str, object] = {"failed_attempts": failures}
        if failures >= settings.login_max_failures:
            values = {
                "failed_attempts": 0,
                "locked_until": now + timedelta(seconds=settings.login_lockout_seconds),
            }
            # Never the password, nor the address: the login's key is enough to investigate.
            log.warning("login.locked", login_pk=row.pk, failures=failures)
        conn.execute(_login.update().where(_login.c.pk == row.pk).values(**values))
        return _invalid_answer()
    if row.verification_required:
        return LoginResult(
            success=False,
            errors=single(NON_FIELD, "not_verified", "Please verify your account: see the mail we sent."),
        )
    if not row.active:
        return _invalid_answer()
    updates: dict[str, object] = {"failed_attempts": 0, "locked_until": None}
    if needs_rehash(row.password_hash, settings):
        updates["password_hash"] = hash_password(password, settings)
    conn.execute(_login.update().where(_login.c.pk == row.pk).values(**updates))
    conn.execute(_customer.update().where(_customer.c.pk == row.customer_pk).values(last_login=now))
    access, refresh = issue_session(conn, settings, row.customer_pk, address, now)
    return LoginResult(success=True, token=access, refresh_token=refresh, customer_pk=int(row.customer_pk))
