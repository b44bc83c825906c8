"""Access tokens (short-lived JWTs), refresh tokens (rotating, revocable) and mailed tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
import sqlalchemy as sa
import structlog

from models import RefreshToken, utcnow
from sync.settings import Settings

log = structlog.get_logger(__name__)

_ALGORITHM = "HS256"
_refresh = RefreshToken.__table__  # type: ignore[attr-defined]


class TokenError(Exception):
    """A token that cannot be used; `code` is stable for clients, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AccessClaims:
    customer_pk: int
    email: str | None
    family: str
    expires_at: datetime


def _secret(settings: Settings, purpose: str) -> bytes:
    # One derived key per purpose, so a token minted for one use is never accepted for another;
    # HMAC also makes every key 32 bytes, whatever the length of SECRET_KEY.
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def issue_access_token(
    settings: Settings, customer_pk: int, email: str | None, family: str, now: datetime
) -> str:
    """A signed JWT for `customer_pk`, tied to its refresh-token family so revoking ends it."""
    payload = {
        "sub": str(customer_pk),
        "email": email,
        "fam": family,
        "iat": int(now.timestamp()),
        "origIat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.access_token_ttl_seconds)).timestamp()),
    }
    return jwt.encode(payload, _secret(settings, "access"), algorithm=_ALGORITHM)


def _decode(settings: Settings, token: str, purpose: str) -> dict[str, Any]:
    return _decode_with(_secret(settings, purpose), token)


def _decode_with(key: bytes, token: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("expired_token", "Signature has expired") from None
    except jwt.PyJWTError:
        raise TokenError("invalid_token", "Error decoding signature") from None


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """The claims of a valid, unexpired access token; `TokenError` otherwise."""
    claims, expires = _checked_access_token(_secret(settings, "access"), token)
    if expires <= time.time():  # PyJWT's own test (`exp <= now`), for a token it passed before
        raise TokenError("expired_token", "Signature has expired")
    return claims


# Every request checks its access token. Its signature and claims need checking once: after
# that, only whether it has expired can change, and that is tested on every use. (PyJWT's decode
# was 6-9 % of a small query's instructions.) A refused token is not kept: it is checked each time.
@lru_cache(maxsize=4096)
def _checked_access_token(key: bytes, token: str) -> tuple[AccessClaims, int]:
    """A token's claims and expiry (Unix seconds), once its signature and claims are valid."""
    payload = _decode_with(key, token)
    try:
        claims = AccessClaims(
            customer_pk=int(payload["sub"]),
            email=payload.get("email"),
            family=str(payload["fam"]),
            expires_at=datetime.fromtimestamp(payload["exp"]).astimezone(),
        )
    except (KeyError, ValueError):
        raise TokenError("invalid_token", "Error decoding signature") from None
    return claims, int(payload["exp"])


def public_payload(claims: AccessClaims) -> dict[str, Any]:
    """What `verifyToken` shows of a token: who, until when; not its family."""
    return {
        "sub": str(claims.customer_pk),
        "email": claims.email,
        "exp": int(claims.expires_at.timestamp()),
    }


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_refresh_token(
    conn: sa.Connection, settings: Settings, customer_pk: int, family: str | None, now: datetime
) -> tuple[str, str]:
    """A fresh refresh token (stored only as its hash) and its family; a new family if none."""
    raw = secrets.token_hex(20)
    family = family or secrets.token_hex(16)
    conn.execute(
        _refresh.insert().values(
            customer_pk=customer_pk,
            token_hash=_hash(raw),
            family=family,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
            created_at=now,
        )
    )
    return raw, family


def _revoke_family(conn: sa.Connection, family: str, now: datetime) -> int:
    result = conn.execute(
        _refresh.update()
        .where(_refresh.c.family == family, _refresh.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class Rotation:
    """A spent refresh token's successor, or why there is none (returned, not raised, so the
    revocation of a replayed token's family commits with the transaction)."""

    customer_pk: int | None = None
    refresh_token: str | None = None
    family: str | None = None
    error: TokenError | None = None


def rotate_refresh_token(
    conn: sa.Connection, settings: Settings, raw: str, now: datetime | None = None
) -> Rotation:
    """Spend `raw` for a successor in the same family.

    A token that was already rotated is being replayed (stolen or leaked): the whole family is
    revoked, so the thief and the victim both have to log in again.
    """
    now = now or utcnow()
    row = conn.execute(
        sa.select(_refresh).where(_refresh.c.token_hash == _hash(raw)).with_for_update()
    ).first()
    if row is None:
        return Rotation(error=TokenError("invalid_token", "Invalid refresh token"))
    if row.replaced_by is not None:
        revoked = _revoke_family(conn, row.family, now)
        log.warning("token.refresh_reuse", customer_pk=row.customer_pk, revoked=revoked)
        return Rotation(error=TokenError("invalid_token", "Invalid refresh token"))
    if row.revoked_at is not None:
        return Rotation(error=TokenError("revoked_token", "Refresh token has been revoked"))
    if row.expires_at <= now:
        return Rotation(error=TokenError("expired_token", "Refresh token is expired"))
    new_raw, family = issue_refresh_token(conn, settings, row.customer_pk, row.family, now)
    conn.execute(
        _refresh.update().where(_refresh.c.pk == row.pk).values(revoked_at=now, replaced_by=_hash(new_raw))
    )
    return Rotation(customer_pk=int(row.customer_pk), refresh_token=new_raw, family=family)


def revoke_refresh_token(conn: sa.Connection, raw: str, now: datetime | None = None) -> int:
    """Revoke the session `raw` belongs to (its whole family); how many tokens that ended."""
    row = conn.execute(sa.select(_refresh).where(_refresh.c.token_hash == _hash(raw))).first()
    if row is None:
        raise TokenError("invalid_token", "Invalid refresh token")
    return _revoke_family(conn, row.family, now or utcnow())


def family_is_live(
    family: str | sa.ColumnElement[str],
    customer_pk: int | sa.ColumnElement[int],
    now: datetime | sa.ColumnElement[datetime],
) -> sa.ColumnElement[bool]:
    """SQL: `customer_pk`'s session `family` has an unrevoked, unexpired token (not logged out).

    The owner is part of the check: a token naming another `sub` on a live session is refused.
    Values or bound parameters (the viewer's statement is built once, with parameters).
    """
    return sa.exists().where(
        _refresh.c.family == family,
        _refresh.c.customer_pk == customer_pk,
        _refresh.c.revoked_at.is_(None),
        _refresh.c.expires_at > now,
    )


def issue_verification_token(
    settings: Settings, login_pk: int, fingerprint: str, profile: dict[str, Any], now: datetime
) -> str:
    """A signed, expiring token mailed to prove the mailbox; carries the sign-up's profile."""
    payload = {
        "sub": str(login_pk),
        "fp": fingerprint,
        "profile": profile,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.verification_token_ttl_seconds)).timestamp()),
    }
    return jwt.encode(payload, _secret(settings, "verify"), algorithm=_ALGORITHM)


def decode_verification_token(settings: Settings, token: str) -> tuple[int, str, dict[str, Any]]:
    """`(login_pk, fingerprint, profile)` of a valid verification token."""
    payload = _decode(settings, token, "verify")
    try:
        return int(payload["sub"]), str(payload["fp"]), dict(payload.get("profile") or {})
    except (KeyError, ValueError, TypeError):
        raise TokenError("invalid_token", "Error decoding signature") from None


def login_fingerprint(password_hash: str) -> str:
    """Changes whenever the login's password does, which voids older verification mails."""
    return _hash(password_hash)[:16]


def issue_session(
    conn: sa.Connection, settings: Settings, customer_pk: int, email: str | None, now: datetime
) -> tuple[str, str]:
    """A new login session: `(access_token, refresh_token)` in a fresh refresh family."""
    refresh, family = issue_refresh_token(conn, settings, customer_pk, None, now)
    return issue_access_token(settings, customer_pk, email, family, now), refresh
