"""Accounts: sign-up (and the claim of a synced customer), mailbox verification, the first admin."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from api.auth.errors import NON_FIELD, FormErrors, single
from api.auth.mail import Mail, MailSender
from api.auth.passwords import hash_password, password_problems
from api.auth.signup_form import PAYLOAD_FIELDS, Profile, SignUp, validate_sign_up
from api.auth.tokens import (
    TokenError,
    decode_verification_token,
    issue_session,
    issue_verification_token,
    login_fingerprint,
)
from models import Customer, CustomerLogin, CustomerSource, utcnow
from sync.load import merge_stand_ins, recompute_customers
from sync.mapping import FieldError, new_loyalty_id, normalize_date, normalize_email
from sync.settings import SIGN_UP_SOURCE, Settings, get_settings

log = structlog.get_logger(__name__)

_customer = Customer.__table__  # type: ignore[attr-defined]
_login = CustomerLogin.__table__  # type: ignore[attr-defined]
_source = CustomerSource.__table__  # type: ignore[attr-defined]

INTERNAL_SOURCE = SIGN_UP_SOURCE


@dataclass(frozen=True)
class SignUpResult:
    success: bool
    errors: FormErrors | None = None
    token: str | None = None
    refresh_token: str | None = None
    verification_required: bool = False


def content_hash(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a payload: equal payloads, equal hashes."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_internal_source(
    conn: sa.Connection, settings: Settings, customer_pk: int, payload: dict[str, Any], now: datetime
) -> None:
    """Upsert the customer's self-service source row (`internal`, keyed by the customer pk)."""
    values = {
        "source": INTERNAL_SOURCE,
        "source_id": str(customer_pk),
        "entity_source": "INTERNAL",
        "customer_pk": customer_pk,
        "priority": settings.priority_of(INTERNAL_SOURCE),
        "modstamp": now,
        "content_hash": content_hash(payload),
        "payload": payload,
        "deleted": False,
        "created_at": now,
        "updated_at": now,
    }
    key = sa.and_(_source.c.source == INTERNAL_SOURCE, _source.c.source_id == str(customer_pk))
    updated = conn.execute(
        _source.update()
        .where(key)
        .values({k: v for k, v in values.items() if k not in ("source", "source_id", "created_at")})
    )
    if updated.rowcount == 0:
        conn.execute(_source.insert().values(values))


def _insert_customer(
    conn: sa.Connection, settings: Settings, profile: Profile, now: datetime, **extra: Any
) -> int:
    payload = profile.payload
    row = {
        **{k: v for k, v in payload.items() if k != "birthday"},
        "birthday": normalize_date(payload["birthday"]) if payload["birthday"] else None,
        "extra_info": {},
        "loyalty_id": new_loyalty_id(),
        "user_type": profile.user_type,
        "merchant_type": profile.merchant_type,
        "num_of_order_discounts_allowed": 0,
        "entity_source": "INTERNAL",
        "active": True,
        "staff": False,
        "admin": False,
        "archived": False,
        "verified": False,
        "created_at": now,
        "updated_at": now,
        **extra,
    }
    pk = int(conn.execute(_customer.insert().values(row).returning(_customer.c.pk)).scalar_one())
    conn.execute(_customer.update().where(_customer.c.pk == pk).values(entity_source_id=str(pk)))
    write_internal_source(conn, settings, pk, payload, now)
    return pk


def _verification_mail(to: str, token: str, now: datetime, *, claim: bool) -> Mail:
    """The mail that proves a mailbox, saying when the sign-up it confirms was made.

    A later sign-up for the same address voids this one's token and sends its own: the mail
    says when, and that a sign-up its reader did not make must not be confirmed (review F11:
    someone else's claim reached the owner's mailbox as the newest mail). Nothing the sign-up
    typed is quoted: a stranger's text has no place in a mail to the owner.
    """
    return Mail(
        to=to,
        subject="Confirm your e-mail address",
        body=(
            f"Someone signed up with this address on {now:%Y-%m-%d at %H:%M} UTC.\n"
            "If that was you, confirm that this address is yours by sending the token below\n"
            "to the `verifyAccount(token: ...)` mutation. It expires in a few days.\n"
            + (
                "If it was not you, do not use it: without it nothing happens, and whoever signed\n"
                "up cannot sign in to the account this shop holds for this address.\n\n"
                if claim
                else "If it was not you, do not use it, and tell the shop.\n\n"
            )
            + f"{token}\n"
        ),
    )


def register(conn: sa.Connection, settings: Settings, mailer: MailSender, form: SignUp) -> SignUpResult:
    """Create a customer with a login, or a pending claim of a synced customer with that e-mail."""
    profile, errors = validate_sign_up(form, settings)
    if profile is None:
        return SignUpResult(success=False, errors=errors)
    email = profile.payload["email"]
    now = utcnow()
    existing = conn.execute(
        sa.select(_customer.c.pk, _login.c.pk.label("login_pk"), _login.c.verification_required)
        .select_from(_customer.outerjoin(_login, _login.c.customer_pk == _customer.c.pk))
        .where(_customer.c.email == email)
    ).first()
    if existing is not None and existing.login_pk is not None and not existing.verification_required:
        return SignUpResult(
            success=False,
            errors=single("email", "unique", "A user with that email already exists."),
        )
    password_hash = hash_password(form.password1, settings)
    try:
        with conn.begin_nested():
            if existing is None:
                customer_pk = _insert_customer(conn, settings, profile, now)
                verification_required = False
            else:
                # A sync created this customer: whoever registers must first prove the mailbox,
                # or anyone could read a stranger's record by signing up with their address.
                customer_pk = int(existing.pk)
                verification_required = True
                conn.execute(_login.delete().where(_login.c.customer_pk == customer_pk))
            login_pk = int(
                conn.execute(
                    _login.insert()
                    .values(
                        customer_pk=customer_pk,
                        email=email,
                        password_hash=password_hash,
                        email_verified=False,
                        verification_required=verification_required,
                        created_at=now,
                    )
                    .returning(_login.c.pk)
                ).scalar_one()
            )
    except IntegrityError:
        # Lost a race with a concurrent sign-up (or a sync) for the same address.
        return SignUpResult(
            success=False,
            errors=single("email", "unique", "A user with that email already exists."),
        )
    token = issue_verification_token(
        settings, login_pk, login_fingerprint(password_hash), profile.payload, now
    )
    mailer.send(_verification_mail(email, token, now, claim=verification_required))
    log.info("account.registered", customer_pk=customer_pk, claim=verification_required)
    if verification_required:
        return SignUpResult(success=True, verification_required=True)
    access, refresh = issue_session(conn, settings, customer_pk, email, now)
    return SignUpResult(success=True, token=access, refresh_token=refresh)


def verify_account(conn: sa.Connection, settings: Settings, token: str) -> FormErrors | None:
    """Mark the mailbox proven; a pending claim then takes over its customer. Errors or None."""
    try:
        login_pk, fingerprint, profile = decode_verification_token(settings, token)
    except TokenError as exc:
        return single(NON_FIELD, exc.code, str(exc))
    login = conn.execute(sa.select(_login).where(_login.c.pk == login_pk).with_for_update()).first()
    # A second sign-up for the same address replaces the password, voiding older mails.
    if login is None or login_fingerprint(login.password_hash) != fingerprint:
        return single(NON_FIELD, "invalid_token", "This verification link is no longer valid.")
    if login.email_verified and not login.verification_required:
        return single(NON_FIELD, "already_verified", "Account already verified.")
    now = utcnow()
    conn.execute(
        _login.update()
        .where(_login.c.pk == login_pk)
        .values(email_verified=True, verification_required=False)
    )
    conn.execute(
        _customer.update().where(_customer.c.pk == login.customer_pk).values(verified=True, updated_at=now)
    )
    if login.verification_required:
        write_internal_source(conn, settings, login.customer_pk, profile, now)
        recompute_customers(conn, [login.customer_pk])
        log.info("account.claimed", customer_pk=login.customer_pk)
    else:
        # Signed up before a sync imported this address: what the imports kept apart now joins.
        merged = merge_stand_ins(conn, login.customer_pk, login.email)
        if merged:
            log.info("account.merged_imports", customer_pk=login.customer_pk, merged=merged)
    return None


class AdminCreationError(ValueError):
    """The first admin could not be created; the message says why."""


@dataclass(frozen=True)
class AdminCreated:
    """Who became admin: a new customer, or an existing one promoted (`who` names it)."""

    pk: int
    promoted: bool
    who: str


def _describe(row: Any) -> str:
    name = " ".join(part for part in (row.firstname, row.lastname) if part) or "no name"
    return f"customer {row.pk} ({name}, {row.email}, from {row.entity_source or 'unknown source'})"


def create_admin(
    session: Session,
    email: str,
    password: str,
    settings: Settings | None = None,
    *,
    promote_existing: bool = False,
) -> AdminCreated:
    """Create the admin with this e-mail and password, or promote the customer who has it.

    For `customer-sync users create-admin`. A customer with that address (synced, or signed up)
    is promoted only with `promote_existing`: an operator must see whom they are making admin.
    An existing login is never overwritten.
    """
    settings_ = settings or get_settings()
    try:
        normalized = normalize_email(email)
    except FieldError as exc:
        raise AdminCreationError(f"not a valid e-mail address: {email!r}") from exc
    problems = password_problems(password, settings_.password_min_length, (normalized,))
    if problems:
        raise AdminCreationError("; ".join(p.message for p in problems))
    conn = session.connection()
    now = utcnow()
    if conn.execute(sa.select(_login.c.pk).where(_login.c.email == normalized)).first():
        raise AdminCreationError(f"{normalized} already has a login")
    existing = conn.execute(
        sa.select(
            _customer.c.pk,
            _customer.c.firstname,
            _customer.c.lastname,
            _customer.c.email,
            _customer.c.entity_source,
        ).where(_customer.c.email == normalized)
    ).first()
    admin_flags = {"user_type": "ADMIN", "admin": True, "staff": True, "verified": True}
    if existing is None:
        payload: dict[str, Any] = dict.fromkeys(PAYLOAD_FIELDS)
        payload.update(email=normalized, firstname="", lastname="")
        profile = Profile(payload, "ADMIN", None)
        pk = _insert_customer(conn, settings_, profile, now, **admin_flags)
        who = f"customer {pk} ({normalized})"
    elif not promote_existing:
        raise AdminCreationError(
            f"{normalized} is already {_describe(existing)}; pass --promote-existing to make them admin"
        )
    else:
        pk, who = int(existing.pk), _describe(existing)
        conn.execute(
            _customer.update().where(_customer.c.pk == pk).values(**admin_flags, active=True, updated_at=now)
        )
    conn.execute(
        _login.insert().values(
            customer_pk=pk,
            email=normalized,
            password_hash=hash_password(password, settings_),
            email_verified=True,
            verification_required=False,
            created_at=now,
        )
    )
    log.info("account.admin_created", customer_pk=pk, promoted=existing is not None)
    return AdminCreated(int(pk), existing is not None, who)
