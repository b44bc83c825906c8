"""The ASGI API: the documented GraphQL operations, sign-up, login and access rules."""

from __future__ import annotations

from api.app import InsecureSecretKeyError, create_app, serve
from api.auth import AdminCreationError, Mail, MailSender, MemoryMailSender, create_admin
from api.graphql import build_schema, export_schema

__all__ = [
    "AdminCreationError",
    "InsecureSecretKeyError",
    "Mail",
    "MailSender",
    "MemoryMailSender",
    "build_schema",
    "create_admin",
    "create_app",
    "export_schema",
    "serve",
]
