"""The Salesforce connector against the fake org: logins, TLS, retries, re-login, values, state."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors import FatalSourceError, SourceRecord, StreamContext
from connectors.salesforce import AuthMode, ContactsStream, SalesforceSettings, auth_mode
from sync.settings import Settings
from tests.fakes import salesforce
from tests.fakes.salesforce import FakeSalesforce

fake = salesforce.fake_salesforce
UTC = dt.UTC
FAST = {
    "salesforce_retry_initial_wait_seconds": 0.01,
    "salesforce_retry_max_wait_seconds": 0.05,
    "salesforce_bulk_poll_seconds": 0.01,
}


def settings_for(fake: FakeSalesforce, mode: str, tmp_path: Path, **overrides: Any) -> SalesforceSettings:
    """Settings that select `mode`, with the fake's credentials."""
    c = fake.credentials
    values: dict[str, Any] = dict(FAST)
    if mode == "soap":
        values.update(
            salesforce_username=c.username,
            salesforce_password=c.password,
            salesforce_security_token=c.security_token,
        )
    elif mode == "oauth_password":
        values.update(
            salesforce_username=c.username,
            salesforce_password=c.password,
            salesforce_security_token=c.security_token,
            salesforce_consumer_key=c.consumer_key,
            salesforce_consumer_secret=c.consumer_secret,
        )
    elif mode == "jwt":
        key = tmp_path / "server.key"
        key.write_text(fake.jwt_private_key_pem)
        values.update(
            salesforce_username=c.username,
            salesforce_consumer_key=c.consumer_key,
            salesforce_private_key_file=key,
        )
    elif mode == "client_credentials":
        values.update(
            salesforce_consumer_key=c.consumer_key,
            salesforce_consumer_secret=c.consumer_secret,
            salesforce_domain=fake.my_domain,
        )
    elif mode == "session":
        values.update(salesforce_instance_url=fake.url, salesforce_access_token=fake.issue_token())
    return Settings(**{**values, **overrides}).salesforce


@pytest.fixture
def http(fake: FakeSalesforce) -> Iterator[requests.Session]:
    with fake.session() as session:
        yield session


def read_all(stream: ContactsStream, **ctx: Any) -> list[SourceRecord]:
    context = StreamContext(started_at=dt.datetime.now(UTC), **ctx)
    return [r for r in stream.records(context) if isinstance(r, SourceRecord)]


def add_people(fake: FakeSalesforce, count: int, **extra: Any) -> list[str]:
    stamp = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    return [
        fake.org.add_contact(
            stamp=stamp, LastName="Person", FirstName=f"P{i}", Email=f"p{i}@example.com", **extra
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("mode", ["soap", "oauth_password", "jwt", "client_credentials", "session"])
def test_every_auth_mode_reads_contacts(
    mode: str, fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    add_people(fake, 3)
    settings = settings_for(fake, mode, tmp_path)
    assert auth_mode(settings) == AuthMode(mode)
    records = read_all(ContactsStream(settings, session=http))
    assert sorted(r.fields["Email"] for r in records) == [
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
    ]


def test_no_credentials_is_a_fatal_error_before_anything_is_sent() -> None:
    with pytest.raises(FatalSourceError, match="no Salesforce credentials"):
        auth_mode(Settings().salesforce)


def test_a_wrong_password_fails_the_login_without_echoing_it(
    fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    settings = settings_for(fake, "soap", tmp_path, salesforce_password="hunter2-wrong")
    with pytest.raises(FatalSourceError, match="INVALID_LOGIN") as caught:
        read_all(ContactsStream(settings, session=http))
    assert "hunter2-wrong" not in str(caught.value)


def test_the_configured_ca_bundle_wins_over_requests_ca_bundle(
    fake: FakeSalesforce, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_people(fake, 2)
    # An environment CA that does not know the fake: requests would let it override verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    settings = settings_for(fake, "session", tmp_path, salesforce_ca_bundle=Path(fake.ca_path))
    assert len(read_all(ContactsStream(settings))) == 2
    without = settings_for(fake, "session", tmp_path)
    with pytest.raises(requests.exceptions.SSLError):
        read_all(ContactsStream(without))


@pytest.mark.parametrize("kind", ["server_error", "rate_limited", "reset", "truncated"])
def test_transient_faults_are_retried(
    kind: Any, fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    add_people(fake, 5)
    fake.fail_next("/queryAll", kind, times=2)
    records = read_all(ContactsStream(settings_for(fake, "soap", tmp_path), session=http))
    assert len(records) == 5
    assert [r.fault for r in fake.requests_to("/queryAll")][:2] == [kind, kind]


def test_retries_give_up_after_the_configured_attempts(
    fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    add_people(fake, 1)
    fake.fail_next("/queryAll", "server_error", times=None)
    settings = settings_for(fake, "soap", tmp_path, salesforce_retry_attempts=3)
    with pytest.raises(Exception, match="500"):
        read_all(ContactsStream(settings, session=http))
    assert len(fake.requests_to("/queryAll")) == 3


def test_an_expired_session_logs_in_again(
    fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    add_people(fake, 4)
    stream = ContactsStream(settings_for(fake, "soap", tmp_path), session=http)
    fake.fail_next("/queryAll", "expired_session", times=2)
    assert len(read_all(stream)) == 4
    assert stream.client.relogins == 2
    assert len(fake.requests_to("/services/Soap/u/")) == 3


def test_re_login_is_bounded_when_the_session_stays_invalid(
    fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    add_people(fake, 1)
    settings = settings_for(fake, "soap", tmp_path, salesforce_max_relogins=2)
    fake.fail_next("/sobjects/Contact/deleted", "expired_session", times=None)
    stream = ContactsStream(settings, session=http)
    ctx = {"cursor": {"watermark": (dt.datetime.now(UTC) - dt.timedelta(hours=2)).isoformat(), "last_id": ""}}
    with pytest.raises(FatalSourceError, match="after 2 re-login"):
        read_all(stream, **ctx)
    assert len(fake.requests_to("/services/Soap/u/")) == 3  # the first login and two more


def test_a_bare_token_that_expires_is_fatal(
    fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    add_people(fake, 1)
    stream = ContactsStream(settings_for(fake, "session", tmp_path), session=http)
    fake.expire_sessions()
    with pytest.raises(FatalSourceError, match="access token expired"):
        read_all(stream)


def test_rest_and_bulk_give_the_same_records(
    fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    fake.org.add_field("Contact", "Tier__c", "string")
    fake.org.add_field("Contact", "Score__c", "double")
    fake.org.add_field("Contact", "Vip__c", "boolean")
    add_people(fake, 30, Tier__c="Gold", Score__c=3, Vip__c=True, Birthdate=dt.date(1990, 5, 1))
    add_people(fake, 5)
    rest = read_all(ContactsStream(settings_for(fake, "soap", tmp_path), session=http))
    bulk = read_all(
        ContactsStream(settings_for(fake, "soap", tmp_path, salesforce_bulk_threshold=10), session=http)
    )
    assert fake.requests_to("/jobs/query")
    by_id = {r.source_id: r for r in bulk}
    assert len(rest) == len(bulk) == 35
    for r in rest:
        assert (r.fields, r.modstamp, r.deleted) == (
            by_id[r.source_id].fields,
            by_id[r.source_id].modstamp,
            False,
        )
    gold = next(r for r in rest if r.fields.get("Tier__c"))
    assert (gold.fields["Score__c"], gold.fields["Vip__c"], gold.fields["Birthdate"]) == (
        3,
        True,
        "1990-05-01",
    )


def test_deleted_records_carry_only_their_id(
    fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    (gone, kept) = add_people(fake, 2)
    fake.org.delete_contact(gone)
    records = {
        r.source_id: r for r in read_all(ContactsStream(settings_for(fake, "soap", tmp_path), session=http))
    }
    assert records[gone].deleted and records[gone].fields == {}
    assert not records[kept].deleted


def test_state_is_small_json_and_holds_no_secret(
    fake: FakeSalesforce, http: requests.Session, tmp_path: Path
) -> None:
    add_people(fake, 3)
    settings = settings_for(fake, "oauth_password", tmp_path)
    stream = ContactsStream(settings, session=http)
    read_all(stream)
    state = json.dumps([stream.cursor(), stream.checkpoint(), stream.describe()])
    assert set(stream.cursor()) == {"watermark", "last_id"}
    c = fake.credentials
    for secret in (c.password, c.security_token, c.consumer_secret, *fake._sessions):
        assert secret not in state
