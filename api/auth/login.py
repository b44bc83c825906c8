"""Login with throttling: 20 wrong passwords in a row lock an e-mail for a while."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite

from api.auth.errors import NON_FIELD, FormErrors, single
from api.auth.passwords import hash_password, needs_rehash, verify_password
from api.auth.tokens import issue_session
from models import Customer, CustomerLogin, LoginThrottle, utcnow
from sync.mapping import FieldError, normalize_email
from sync.settings import Settings

log = structlog.get_logger(__name__)

_customer = Customer.__table__  # type: ignore[attr-defined]
_login = CustomerLogin.__table__  # type: ignore[attr-defined]
_throttle: sa.Table = LoginThrottle.__table__  # type: ignore[attr-defined]

_INVALID = "Please, enter valid credentials."


@dataclass(frozen=True)
class LoginResult:
    success: bool
    errors: FormErrors | None = None
    token: str | None = None
    refresh_token: str | None = None
    customer_pk: int | None = None


def _failures(conn: sa.Connection, address: str, now: datetime) -> tuple[int, bool]:
    """`(failures so far, locked now)` for an address, its row locked for this transaction."""
    row = conn.execute(
        sa.select(_throttle.c.failures, _throttle.c.locked_until)
        .where(_throttle.c.email == address)
        .with_for_update()
    ).first()
    if row is None:
        return 0, False
    return int(row.failures), row.locked_until is not None and row.locked_until > now


def _record_failure(
    conn: sa.Connection, settings: Settings, address: str, failures: int, now: datetime
) -> bool:
    """Count one more failure for the address; True when that locks it."""
    failures += 1
    locked_until = None
    if failures >= settings.login_max_failures:
        failures, locked_until = 0, now + timedelta(seconds=settings.login_lockout_seconds)
    values = {"failures": failures, "locked_until": locked_until, "updated_at": now}
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_throttle)
    # Upsert: two first failures at once must not collide on the key.
    conn.execute(
        insert.values(email=address, **values).on_conflict_do_update(index_elements=["email"], set_=values)
    )
    return locked_until is not None


def _locked_answer() -> LoginResult:
    return LoginResult(
        success=False,
        errors=single(NON_FIELD, "too_many_attempts", "Too many failed attempts. Try again in a while."),
    )


def _invalid_answer() -> LoginResult:
    return LoginResult(success=False, errors=single(NON_FIELD, "invalid_credentials", _INVALID))


def obtain_token(conn: sa.Connection, settings: Settings, email: str, password: str) -> LoginResult:
    """Check the credentials and open a session; every failure looks alike from outside.

    Alike in time too: a password is hashed on every path (known address or not, locked or
    not), so how long the answer takes does not tell whether the address has a login.
    """
    now = utcnow()
    try:
        address = normalize_email(email)
    except FieldError:
        verify_password(None, password, settings)
        return _invalid_answer()
    failures, locked = _failures(conn, address, now)
    row = conn.execute(
        sa.select(_login, _customer.c.active)
        .join(_customer, _customer.c.pk == _login.c.customer_pk)
        .where(_login.c.email == address)
        .with_for_update(of=_login)
    ).first()
    matches = verify_password(row.password_hash if row is not None else None, password, settings)
    if locked:
        return _locked_answer()
    if not matches or row is None:
        if _record_failure(conn, settings, address, failures, now):
            # Never the password, nor the address: the login's key (if any) is enough to investigate.
            log.warning("login.locked", login_pk=row.pk if row is not None else None)
        return _invalid_answer()
    if row.verification_required:
        return LoginResult(
            success=False,
            errors=single(NON_FIELD, "not_verified", "Please verify your account: see the mail we sent."),
        )
    if not row.active:
        return _invalid_answer()
    conn.execute(_throttle.delete().where(_throttle.c.email == address))
    if needs_rehash(row.password_hash, settings):
        conn.execute(
            _login.update()
            .where(_login.c.pk == row.pk)
            .values(password_hash=hash_password(password, settings))
        )
    conn.execute(_customer.update().where(_customer.c.pk == row.customer_pk).values(last_login=now))
    access, refresh = issue_session(conn, settings, row.customer_pk, address, now)
    return LoginResult(success=True, token=access, refresh_token=refresh, customer_pk=int(row.customer_pk))
