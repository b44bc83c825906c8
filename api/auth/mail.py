"""Outgoing mail behind one small interface: logged, kept in memory, or written to a folder."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from uuid import uuid4

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class MailSender(Protocol):
    """Anything that can deliver a mail; the API never cares how."""

    def send(self, mail: Mail) -> None: ...


def _masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


class LogMailSender:
    """Development default: records *that* a mail went out, never its body (it holds tokens)."""

    def send(self, mail: Mail) -> None:
        log.info("mail.sent", to=_masked(mail.to), subject=mail.subject, delivered=False)


@dataclass
class MemoryMailSender:
    """Keeps every mail in `outbox`, for tests."""

    outbox: list[Mail] = field(default_factory=list)

    def send(self, mail: Mail) -> None:
        self.outbox.append(mail)


@dataclass
class FolderMailSender:
    """Development: each mail becomes an owner-only `.eml` file, so a developer can follow links."""

    folder: Path

    def send(self, mail: Mail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        message = EmailMessage()
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        path = self.folder / f"{uuid4().hex}.eml"
        # Created 0600 from the start: the body carries a verification token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(message.as_bytes())
        log.info("mail.sent", to=_masked(mail.to), subject=mail.subject, delivered=False)
