"""Salesforce logins: the auth mode follows from the settings given; secrets stay in SecretStr."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import SalesforceLogin

from connectors.base import FatalSourceError
from connectors.salesforce.settings import SalesforceSettings


class AuthMode(StrEnum):
    """How the connector obtains an access token."""

    SOAP = "soap"  # username + password + security token
    OAUTH_PASSWORD = "oauth_password"  # noqa: S105 - the same, through a connected app
    JWT = "jwt"  # JWT bearer, signed with a private key file
    CLIENT_CREDENTIALS = "client_credentials"  # a connected app's own user; needs a My Domain
    SESSION = "session"  # an access token handed over as is; cannot log in again


@dataclass(frozen=True, slots=True)
class Login:
    """An access token and the instance host it is valid for."""

    session_id: str
    instance: str


def auth_mode(settings: SalesforceSettings) -> AuthMode:
    """The mode the settings allow; modes that can log in again come before a bare token."""
    s = settings
    if s.username and s.consumer_key and s.private_key_file:
        return AuthMode.JWT
    if s.username and s.password and s.consumer_key:
        if s.consumer_secret is None:
            raise FatalSourceError("SALESFORCE_CONSUMER_KEY needs SALESFORCE_CONSUMER_SECRET")
        return AuthMode.OAUTH_PASSWORD
    if s.username and s.password:
        return AuthMode.SOAP
    if s.consumer_key and s.consumer_secret:
        if s.domain in ("login", "test"):
            raise FatalSourceError("client credentials need SALESFORCE_DOMAIN set to the org's My Domain")
        return AuthMode.CLIENT_CREDENTIALS
    if s.access_token and s.instance_url:
        return AuthMode.SESSION
    raise FatalSourceError(
        "no Salesforce credentials: set SALESFORCE_USERNAME and SALESFORCE_PASSWORD, a connected app "
        "(SALESFORCE_CONSUMER_KEY/SECRET), or SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN"
    )


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter else ""


def log_in(settings: SalesforceSettings, mode: AuthMode, http: requests.Session) -> Login:
    """Log in (or take the configured session) and return the token and instance host."""
    s = settings
    if mode is AuthMode.SESSION:
        parts = urlsplit(s.instance_url or "")
        if not parts.netloc:
            raise FatalSourceError(
                "SALESFORCE_INSTANCE_URL must be a URL such as https://acme.my.salesforce.com"
            )
        return Login(_secret(s.access_token), parts.netloc)
    login = functools.partial(SalesforceLogin, session=http, sf_version=s.api_version, domain=s.domain)
    password = _secret(s.password)
    token = _secret(s.security_token)
    try:
        match mode:
            case AuthMode.SOAP:
                session_id, instance = login(username=s.username, password=password, security_token=token)
            case AuthMode.OAUTH_PASSWORD:
                # The password grant takes the security token appended, as the SOAP login does.
                session_id, instance = login(
                    username=s.username,
                    password=password + token,
                    consumer_key=s.consumer_key,
                    consumer_secret=_secret(s.consumer_secret),
                )
            case AuthMode.JWT:
                session_id, instance = login(
                    username=s.username,
                    consumer_key=s.consumer_key,
                    privatekey_file=str(s.private_key_file),
                )
            case AuthMode.CLIENT_CREDENTIALS:
                session_id, instance = login(
                    consumer_key=s.consumer_key,
                    consumer_secret=_secret(s.consumer_secret),
                )
    except SalesforceAuthenticationFailed as exc:
        # The server's code and message name the problem; they never echo the password.
        raise FatalSourceError(f"Salesforce login ({mode}) failed: {exc.code}: {exc.message}") from None
    except FileNotFoundError as exc:
        raise FatalSourceError(f"SALESFORCE_PRIVATE_KEY_FILE not found: {exc.filename}") from None
    return Login(str(session_id), str(instance))
