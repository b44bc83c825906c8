"""Logging in to the fake: credentials, SOAP login, the OAuth token endpoint and the sessions they issue."""

from __future__ import annotations

import base64
import functools
import json
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .faults import RecordedRequest, _Response
from .org import FakeOrg
from .wire import _json

AuthMode = Literal["session", "soap", "oauth_password", "client_credentials", "jwt"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class FakeCredentials:
    """What the fake accepts. The OAuth password grant takes password+token, like SOAP."""

    username: str = "sync.user@example.test"
    password: str = "correct-horse-battery"
    security_token: str = "FAKESECTOKEN42"
    consumer_key: str = "3MVG9fake.consumer.key"
    consumer_secret: str = "FAKE0123456789SECRET"
    # None: JWT assertions must be signed with the fake's own key (``jwt_private_key_pem``).
    jwt_public_key_pem: bytes | None = None
    # True: a password without the security token is accepted (a trusted IP range).
    trusted_network: bool = False

    def password_ok(self, given: str) -> bool:
        return given == self.password + self.security_token or (
            self.trusted_network and given == self.password
        )


@functools.cache
def _jwt_keypair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def _oauth_error(error: str, description: str) -> _Response:
    return _json(400, {"error": error, "error_description": description})


_SOAP_LOGIN_RESPONSE = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><loginResponse><result>
<metadataServerUrl>{base}/services/Soap/m/{version}/{org15}</metadataServerUrl>
<passwordExpired>false</passwordExpired>
<sandbox>false</sandbox>
<serverUrl>{base}/services/Soap/u/{version}/{org15}</serverUrl>
<sessionId>{session_id}</sessionId>
<userId>{user_id}</userId>
<userInfo>
<accessibilityMode>false</accessibilityMode>
<currencySymbol>$</currencySymbol>
<orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>
<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode>
<orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments>
<orgHasPersonAccounts>false</orgHasPersonAccounts>
<organizationId>{org_id}</organizationId>
<organizationMultiCurrency>false</organizationMultiCurrency>
<organizationName>Fake Org</organizationName>
<profileId>00e5g000001FaKeAAA</profileId>
<roleId xsi:nil="true"/>
<sessionSecondsValid>7200</sessionSecondsValid>
<userDefaultCurrencyIsoCode xsi:nil="true"/>
<userEmail>{username}</userEmail>
<userFullName>Sync User</userFullName>
<userId>{user_id}</userId>
<userLanguage>en_US</userLanguage>
<userLocale>en_US</userLocale>
<userName>{username}</userName>
<userTimeZone>America/Los_Angeles</userTimeZone>
<userType>Standard</userType>
<userUiSkin>Theme3</userUiSkin>
</userInfo>
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""

_SOAP_INVALID_LOGIN = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="urn:fault.partner.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
    "<faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, "
    "password, security token; or user locked out.</faultstring><detail>"
    '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN'
    "</sf:exceptionCode><sf:exceptionMessage>Invalid username, password, security token; or "
    "user locked out.</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
    "</soapenv:Body></soapenv:Envelope>"
)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AuthEndpoints:
    """SOAP login and the OAuth token endpoint, and the session tokens they hand out."""

    version: str
    credentials: FakeCredentials
    my_domain: str
    session_ttl: float | None
    _lock: threading.RLock
    _sessions: dict[str, float | None]

    if TYPE_CHECKING:

        @property
        def url(self) -> str: ...

    @property
    def login_hosts(self) -> tuple[str, ...]:
        return ("login.salesforce.com", "test.salesforce.com", f"{self.my_domain}.salesforce.com")

    @property
    def jwt_private_key_pem(self) -> str:
        """Private key to sign JWT assertions with, when no ``jwt_public_key_pem`` is set."""
        return _jwt_keypair()[0]

    def connect_kwargs(self, auth: AuthMode = "session") -> dict[str, Any]:
        """Arguments for ``simple_salesforce.Salesforce`` (add ``session=fake.session()``)."""
        creds = self.credentials
        if auth == "session":
            return {"instance_url": self.url, "session_id": self.issue_token(), "version": self.version}
        if auth == "soap":
            return {
                "username": creds.username,
                "password": creds.password,
                "security_token": creds.security_token,
                "version": self.version,
            }
        if auth == "oauth_password":
            return {
                "username": creds.username,
                "password": creds.password + creds.security_token,
                "consumer_key": creds.consumer_key,
                "consumer_secret": creds.consumer_secret,
                "version": self.version,
            }
        if auth == "client_credentials":
            return {
                "consumer_key": creds.consumer_key,
                "consumer_secret": creds.consumer_secret,
                "domain": self.my_domain,
                "version": self.version,
            }
        if auth == "jwt":
            return {
                "username": creds.username,
                "consumer_key": creds.consumer_key,
                "privatekey": self.jwt_private_key_pem,
                "version": self.version,
            }
        raise ValueError(f"unknown auth mode {auth!r}")

    # sessions
    def issue_token(self) -> str:
        """A fresh valid access token, as if a login had happened."""
        token = f"{FakeOrg.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        with self._lock:
            expires = time.monotonic() + self.session_ttl if self.session_ttl else None
            self._sessions[token] = expires
        return token

    def expire_sessions(self) -> None:
        """Every issued token now answers 401 INVALID_SESSION_ID."""
        with self._lock:
            self._sessions = dict.fromkeys(self._sessions, 0.0)

    def _token_valid(self, token: str) -> bool:
        with self._lock:
            if token not in self._sessions:
                return False
            expires = self._sessions[token]
            return expires is None or time.monotonic() < expires

    def _soap_login(self, request: RecordedRequest) -> _Response:
        version = request.path.removeprefix("/services/Soap/u/").strip("/")
        try:
            root = ET.fromstring(request.body)
        except ET.ParseError:
            return _Response(500, _SOAP_INVALID_LOGIN.encode(), "text/xml; charset=utf-8")
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        creds = self.credentials
        password = values.get("password", "")
        org_ok = values.get("organizationId", "")[:15] == FakeOrg.org_id[:15]
        if values.get("username") != creds.username or not (
            creds.password_ok(password) or (org_ok and password == creds.password)
        ):
            return _Response(500, _SOAP_INVALID_LOGIN.encode(), "text/xml; charset=utf-8")
        body = _SOAP_LOGIN_RESPONSE.format(
            base=self.url,
            version=version,
            org15=FakeOrg.org_id[:15],
            org_id=FakeOrg.org_id,
            user_id=FakeOrg.user_id,
            session_id=self.issue_token(),
            username=escape(creds.username),
        )
        return _Response(200, body.encode(), "text/xml; charset=utf-8")

    def _token(self, request: RecordedRequest) -> _Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        creds = self.credentials
        grant = form.get("grant_type", "")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.header("Authorization") or ""
        if basic.startswith("Basic "):
            try:
                decoded = base64.b64decode(basic[6:], validate=True).decode()
            except ValueError:
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        if grant not in ("password", "client_credentials", JWT_BEARER):
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if grant != JWT_BEARER:
            if client_id != creds.consumer_key:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if client_secret != creds.consumer_secret:
                return _oauth_error("invalid_client", "invalid client credentials")
        if grant == "password" and not (
            form.get("username") == creds.username and creds.password_ok(form.get("password", ""))
        ):
            return _oauth_error("invalid_grant", "authentication failure")
        if grant == JWT_BEARER:
            problem = self._check_assertion(form.get("assertion", ""))
            if problem is not None:
                return problem
        token = self.issue_token()
        issued_at = str(int(time.time() * 1000))
        payload = {
            "access_token": token,
            "instance_url": self.url,
            "id": f"{self.url}/id/{FakeOrg.org_id}/{FakeOrg.user_id}",
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        if grant != "password":
            payload["scope"] = "api"
        return _json(200, payload)

    def _check_assertion(self, assertion: str) -> _Response | None:
        creds = self.credentials
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url(header_b64))
            claims = json.loads(_b64url(payload_b64))
            signature = _b64url(signature_b64)
        except ValueError:  # also covers binascii and JSON decoding errors
            return _oauth_error("invalid_grant", "invalid assertion")
        if not (isinstance(header, dict) and isinstance(claims, dict)):
            return _oauth_error("invalid_grant", "invalid assertion")
        public_pem = creds.jwt_public_key_pem or _jwt_keypair()[1]
        public_key = serialization.load_pem_public_key(public_pem)
        if header.get("alg") != "RS256" or not isinstance(public_key, rsa.RSAPublicKey):
            return _oauth_error("invalid_grant", "invalid assertion")
        try:
            public_key.verify(
                signature,
                f"{header_b64}.{payload_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != creds.consumer_key:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        audiences = {f"https://{h}" for h in self.login_hosts} | {self.url}
        if claims.get("aud") not in audiences:
            return _oauth_error("invalid_grant", "audience is invalid")
        if claims.get("sub") != creds.username:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        try:
            expired = float(claims.get("exp", 0)) < time.time()
        except (TypeError, ValueError):
            expired = True
        if expired:
            return _oauth_error("invalid_grant", "expired authorization code")
        return None
