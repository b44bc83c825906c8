"""Accounts and tokens: sign-up, login, passwords, JWT sessions, mail, and who is asking (viewer)."""

from __future__ import annotations

from api.auth.accounts import AdminCreationError, content_hash, create_admin, register, verify_account
from api.auth.errors import NON_FIELD, ErrorCollector, FormErrors, single
from api.auth.login import obtain_token
from api.auth.mail import FolderMailSender, LogMailSender, Mail, MailSender, MemoryMailSender
from api.auth.passwords import hash_password
from api.auth.signup_form import SignUp
from api.auth.tokens import (
    TokenError,
    decode_access_token,
    issue_access_token,
    issue_session,
    public_payload,
    revoke_refresh_token,
    rotate_refresh_token,
)
from api.auth.viewer import NotAuthenticatedError, Viewer, bearer_token, load_viewer

__all__ = [
    "NON_FIELD",
    "AdminCreationError",
    "ErrorCollector",
    "FolderMailSender",
    "FormErrors",
    "LogMailSender",
    "Mail",
    "MailSender",
    "MemoryMailSender",
    "NotAuthenticatedError",
    "SignUp",
    "TokenError",
    "Viewer",
    "bearer_token",
    "content_hash",
    "create_admin",
    "decode_access_token",
    "hash_password",
    "issue_access_token",
    "issue_session",
    "load_viewer",
    "obtain_token",
    "public_payload",
    "register",
    "revoke_refresh_token",
    "rotate_refresh_token",
    "single",
    "verify_account",
]
