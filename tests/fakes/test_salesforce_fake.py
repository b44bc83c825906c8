"""The fake Salesforce org answers the real simple-salesforce client as Salesforce would."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import Operation, _Bulk2Client
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)
from simple_salesforce.login import SalesforceLogin
from simple_salesforce.util import Usage

from tests.shared import shared_file

from . import salesforce
from .salesforce import FakeSalesforce, RecordedRequest, format_datetime
from .soql import id18

T0 = dt.datetime(2026, 1, 2, 10, 0, tzinfo=dt.UTC)
KEYSET_FIELDS = "SELECT Id, SystemModstamp FROM Contact"


# The shared fixture, under a short name (pytest registers fixtures by attribute name).
fake = salesforce.fake_salesforce


@pytest.fixture
def http(fake: FakeSalesforce) -> Iterator[requests.Session]:
    with fake.session() as session:
        yield session


@pytest.fixture
def sf(fake: FakeSalesforce, http: requests.Session) -> Salesforce:
    """A client on a token the fake issued (no login), as a connector resuming a session."""
    return Salesforce(**fake.connect_kwargs("session"), session=http)


def add_people(fake: FakeSalesforce, count: int, **common: Any) -> list[str]:
    return fake.org.add_contacts(
        {"FirstName": f"P{i}", "LastName": "Person", "Email": f"p{i}@example.test", **common}
        for i in range(count)
    )


def error_code(exc: SalesforceError) -> str:
    content: Any = exc.content
    return str(content[0]["errorCode"])


def fixture_json(name: str) -> Any:
    """A recorded Salesforce payload from shared/fixtures; a missing one fails the test."""
    return json.loads(shared_file("fixtures", "salesforce", *name.split("/")).read_text(encoding="utf-8"))


# --- TLS and login -------------------------------------------------------------------


def test_tls_is_verified_against_the_throwaway_ca(fake: FakeSalesforce) -> None:
    with requests.Session() as plain:
        plain.trust_env = False
        with pytest.raises(requests.exceptions.SSLError):
            plain.get(f"{fake.url}/services/data", timeout=5)
        assert plain.get(f"{fake.url}/services/data", verify=fake.ca_path, timeout=5).ok
    with requests.get(f"https://localhost:{fake.port}/services/data", verify=fake.ca_path) as r:
        assert r.json()[0]["version"] == "59.0"
    context = fake.tls.client_context()
    with (
        socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_mount_lets_a_connector_built_session_reach_the_fake(fake: FakeSalesforce) -> None:
    add_people(fake, 1)
    # trust_env stays on: an environment CA bundle must not beat the fake's CA.
    with requests.Session() as own:
        sf = Salesforce(**fake.connect_kwargs("soap"), session=fake.mount(own))
        assert sf.query("SELECT Id FROM Contact")["totalSize"] == 1


def test_soap_login_through_login_host_lands_on_the_fake(
    fake: FakeSalesforce, http: requests.Session
) -> None:
    add_people(fake, 3)
    sf = Salesforce(**fake.connect_kwargs("soap"), session=http)
    assert sf.sf_instance == fake.host
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 3
    (login,) = fake.requests_to("/services/Soap/u/")
    assert login.path == "/services/Soap/u/59.0"
    assert login.header("SOAPAction") == "login"
    assert b"<n1:username>sync.user@example.test</n1:username>" in login.body


def test_soap_login_with_a_wrong_password_is_invalid_login(
    fake: FakeSalesforce, http: requests.Session
) -> None:
    kwargs = fake.connect_kwargs("soap") | {"password": "wrong"}
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        Salesforce(**kwargs, session=http)
    assert caught.value.code == "INVALID_LOGIN"


def test_domain_cannot_point_at_the_fake_but_scratch_url_can(
    fake: FakeSalesforce, http: requests.Session
) -> None:
    creds = fake.credentials
    with pytest.raises(requests.exceptions.InvalidURL):
        Salesforce(**fake.connect_kwargs("soap"), domain=fake.host, session=http)
    session_id, instance = SalesforceLogin(
        username=creds.username,
        password=creds.password,
        security_token=creds.security_token,
        scratch_url=fake.url,
        session=http,
    )
    assert instance == fake.host
    assert session_id.startswith("00D")


@pytest.mark.parametrize(
    ("auth", "grant"),
    [
        ("oauth_password", "password"),
        ("client_credentials", "client_credentials"),
        ("jwt", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
    ],
)
def test_oauth_logins_issue_tokens_the_rest_api_accepts(
    fake: FakeSalesforce, http: requests.Session, auth: Any, grant: str
) -> None:
    add_people(fake, 2)
    sf = Salesforce(**fake.connect_kwargs(auth), session=http)
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 2
    (token_call,) = fake.requests_to("/services/oauth2/token")
    assert f"grant_type={grant}".replace(":", "%3A") in token_call.body.decode()


@pytest.mark.parametrize(
    ("auth", "change", "code"),
    [
        ("oauth_password", {"consumer_secret": "nope"}, "invalid_client"),
        ("oauth_password", {"consumer_key": "nope"}, "invalid_client_id"),
        ("oauth_password", {"password": "wrong"}, "invalid_grant"),
        ("client_credentials", {"consumer_secret": "nope"}, "invalid_client"),
        ("jwt", {"consumer_key": "nope"}, "invalid_client_id"),
    ],
)
def test_bad_oauth_credentials_are_refused(
    fake: FakeSalesforce, http: requests.Session, auth: Any, change: dict[str, str], code: str
) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        Salesforce(**(fake.connect_kwargs(auth) | change), session=http)
    assert caught.value.code == code


def test_jwt_for_a_user_who_has_not_approved_the_app_is_refused(
    fake: FakeSalesforce, http: requests.Session
) -> None:
    kwargs = fake.connect_kwargs("jwt") | {"username": "someone.else@example.test"}
    # simple-salesforce adds a hint (a UserWarning) to this particular refusal.
    with (
        pytest.warns(UserWarning, match="authorize this"),
        pytest.raises(SalesforceAuthenticationFailed) as caught,
    ):
        Salesforce(**kwargs, session=http)
    assert caught.value.code == "invalid_grant"


def test_jwt_signed_with_an_unknown_key_is_refused(fake: FakeSalesforce, http: requests.Session) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        Salesforce(**(fake.connect_kwargs("jwt") | {"privatekey": pem}), session=http)
    assert caught.value.code == "invalid_grant"


def test_unknown_or_expired_tokens_answer_invalid_session_id(
    fake: FakeSalesforce, http: requests.Session
) -> None:
    stranger = Salesforce(instance_url=fake.url, session_id="00Dnope!AQ", session=http)
    with pytest.raises(SalesforceExpiredSession) as caught:
        stranger.query("SELECT Id FROM Contact")
    assert caught.value.content == fixture_json("synthetic/error_401_invalid_session_id.json")
    sf = Salesforce(**fake.connect_kwargs("session"), session=http)
    sf.query("SELECT Id FROM Contact")
    fake.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Contact")


# --- REST query ------------------------------------------------------------------------


def test_query_all_pages_5000_records_by_2000(fake: FakeSalesforce, sf: Salesforce) -> None:
    ids = add_people(fake, 5000)
    result = sf.query_all("SELECT Id, Email, SystemModstamp FROM Contact")
    assert [r["Id"] for r in result["records"]] == ids
    first = result["records"][0]
    assert first["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v59.0/sobjects/Contact/{ids[0]}",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", first["SystemModstamp"])
    calls = fake.requests_to("/query")
    locator = calls[1].path.rsplit("/", 1)[1].split("-")[0]
    assert locator.startswith("01g")
    assert [c.path for c in calls[1:]] == [
        f"/services/data/v59.0/query/{locator}-2000",
        f"/services/data/v59.0/query/{locator}-4000",
    ]
    first_page = sf.query("SELECT Id FROM Contact")
    assert (first_page["totalSize"], first_page["done"], len(first_page["records"])) == (
        5000,
        False,
        2000,
    )
    assert re.fullmatch(r"/services/data/v59\.0/query/01g\w{15}-2000", first_page["nextRecordsUrl"])


def test_query_options_header_lowers_the_page_size(fake: FakeSalesforce, sf: Salesforce) -> None:
    add_people(fake, 1200)
    page = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(page["records"]) == 500
    assert page["nextRecordsUrl"].endswith("-500")


def test_expired_query_locator_is_invalid_query_locator(fake: FakeSalesforce, sf: Salesforce) -> None:
    add_people(fake, 2500)
    page = sf.query("SELECT Id FROM Contact")
    fake.expire_query_cursors()
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert caught.value.content == fixture_json("synthetic/error_400_invalid_query_locator.json")


def test_query_hides_deleted_rows_and_query_all_returns_them(fake: FakeSalesforce, sf: Salesforce) -> None:
    live, gone = add_people(fake, 2)
    fake.org.delete_contact(gone)
    soql = "SELECT Id, IsDeleted FROM Contact"
    assert [r["Id"] for r in sf.query_all(soql)["records"]] == [live]
    rows = sf.query_all(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(live, False), (gone, True)]
    assert fake.requests_to("/queryAll/")
    assert [c["Id"] for c in fake.org.contacts()] == [live]
    assert len(fake.org.contacts(live_only=False)) == 2


def test_count_query_answers_total_size_only(fake: FakeSalesforce, sf: Salesforce) -> None:
    ids = add_people(fake, 30)
    fake.org.delete_contact(ids[0])
    fake.org.update_contact(ids[1], Email="changed@example.test")
    where = "WHERE Email LIKE 'P%@EXAMPLE.test'"
    assert sf.query(f"SELECT COUNT() FROM Contact {where}") == {
        "totalSize": 28,
        "done": True,
        "records": [],
    }
    assert sf.query(f"SELECT COUNT() FROM Contact {where}", include_deleted=True)["totalSize"] == 29


def test_keyset_paging_on_systemmodstamp_and_id_visits_every_row_once(
    fake: FakeSalesforce, sf: Salesforce
) -> None:
    fake.org.set_clock(T0)
    shared = add_people(fake, 23)  # one SystemModstamp for all of them
    fake.org.advance_clock(dt.timedelta(seconds=1))
    later = add_people(fake, 4)
    fake.org.set_clock(T0 + dt.timedelta(minutes=5))
    fake.org.update_contact(shared[3], Phone="+33 1 23 45 67 89")
    seen: list[str] = []
    soql = f"{KEYSET_FIELDS} ORDER BY SystemModstamp, Id LIMIT 7"
    while rows := sf.query(soql)["records"]:
        seen += [r["Id"] for r in rows]
        stamp, last_id = rows[-1]["SystemModstamp"], rows[-1]["Id"]
        soql = (
            f"{KEYSET_FIELDS} WHERE (SystemModstamp > {stamp}) OR "
            f"(SystemModstamp = {stamp} AND Id > '{last_id}') "
            "ORDER BY SystemModstamp, Id LIMIT 7"
        )
    expected = [i for i in shared if i != shared[3]] + later + [shared[3]]
    assert seen == expected


def test_where_clause_semantics(fake: FakeSalesforce, sf: Salesforce) -> None:
    fake.org.set_clock(T0)
    a = fake.org.add_contact(LastName="A", Email="Ann@Example.test", Tier__c="gold")
    b = fake.org.add_contact(LastName="B", Email=None, Birthdate=dt.date(1990, 5, 17))
    fake.org.advance_clock(dt.timedelta(minutes=1))
    c = fake.org.add_contact(LastName="C", Email="c@example.test", Tier__c="silver")

    def ids(where: str, order: str = "Id") -> list[str]:
        soql = f"SELECT Id FROM Contact WHERE {where} ORDER BY {order}"
        return [r["Id"] for r in sf.query_all(soql)["records"]]

    assert ids("SystemModstamp = 2026-01-02T10:00:00Z") == [a, b]
    assert ids("SystemModstamp = 2026-01-02T10:00:00.000+0000") == [a, b]
    assert ids("SystemModstamp > 2026-01-02T12:00:30+02:00") == [c]
    assert ids("Email = 'ann@example.TEST'") == [a]
    assert ids("Email != 'ann@example.test'") == [b, c]  # != keeps nulls, unlike SQL
    assert ids("Email = null") == [b]
    assert ids("Tier__c IN ('gold', 'silver') AND IsDeleted = false") == [a, c]
    assert ids("NOT (Tier__c = 'gold')") == [b, c]
    assert ids("Birthdate < 2000-01-01") == [b]
    assert ids(f"Id = '{a[:15]}'") == [a]  # a 15-character id matches its 18-character form
    assert ids("IsDeleted = false", "Email DESC") == [c, a, b]  # nulls last when descending
    assert ids("IsDeleted = false", "Email") == [b, a, c]  # and first when ascending


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FORM Contact", "MALFORMED_QUERY"),
        ("SELECT Id, Nickname FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Customer", "INVALID_TYPE"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-02T10:00:00Z'", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-02T10:00:00", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE IsDeleted = 'false'", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE Id > 'not-an-id'", "INVALID_QUERY_FILTER_OPERATOR"),
        (
            "SELECT Id FROM Contact WHERE IsDeleted = false AND Email = 'a' OR Email = 'b'",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id FROM Contact ORDER BY", "MALFORMED_QUERY"),
    ],
)
def test_soql_errors_are_400_arrays(sf: Salesforce, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert caught.value.status == 400
    assert error_code(caught.value) == code


def test_malformed_query_message_matches_salesforce(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FORM Contact")
    assert caught.value.content == fixture_json("synthetic/error_400_malformed_query.json")


# --- getUpdated / getDeleted -----------------------------------------------------------


def test_updated_and_deleted_take_zoned_datetimes(fake: FakeSalesforce, sf: Salesforce) -> None:
    org = fake.org
    org.set_clock(T0)
    kept, changed, removed = add_people(fake, 3)
    org.set_clock(T0 + dt.timedelta(minutes=5, seconds=30))
    org.update_contact(changed, Email="new@example.test")
    org.set_clock(T0 + dt.timedelta(minutes=7))
    org.delete_contact(removed)
    org.set_clock(T0 + dt.timedelta(hours=1))
    paris = dt.timezone(dt.timedelta(hours=2))
    start = (T0 + dt.timedelta(minutes=1)).astimezone(paris)  # 12:01+02:00
    end = (T0 + dt.timedelta(minutes=30, seconds=59)).astimezone(paris)  # seconds are ignored

    updated = sf.Contact.updated(start, end)
    assert updated == {"ids": [changed], "latestDateCovered": "2026-01-02T10:30:00.000+0000"}
    (call,) = fake.requests_to("/updated")
    assert call.param("start") == "2026-01-02T12:01:00+02:00"

    deleted = sf.Contact.deleted(start, end)
    assert deleted["deletedRecords"] == [{"id": removed, "deletedDate": "2026-01-02T10:07:00.000+0000"}]
    assert deleted["latestDateCovered"] == "2026-01-02T10:30:00.000+0000"
    assert deleted["earliestDateAvailable"] == format_datetime(T0 - dt.timedelta(days=14, hours=23))
    assert kept not in updated["ids"]


def test_purged_delete_log_moves_earliest_date_and_refuses_older_starts(
    fake: FakeSalesforce, sf: Salesforce
) -> None:
    org = fake.org
    org.set_clock(T0)
    (gone,) = add_people(fake, 1)
    org.delete_contact(gone)
    org.set_clock(T0 + dt.timedelta(hours=3))
    org.purge_delete_log_before(T0 + dt.timedelta(hours=2))
    end = T0 + dt.timedelta(hours=3)
    after = sf.Contact.deleted(T0 + dt.timedelta(hours=2), end)
    assert after["earliestDateAvailable"] == "2026-01-02T12:00:00.000+0000"
    assert after["deletedRecords"] == []
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.deleted(T0 - dt.timedelta(minutes=1), end)
    assert error_code(caught.value) == "INVALID_REPLICATION_DATE"
    org.undelete(gone)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (T0.replace(tzinfo=None), T0.replace(tzinfo=None), "INVALID_PARAMETER_VALUE"),
        (T0, T0 + dt.timedelta(seconds=59), "INVALID_REPLICATION_DATE"),
        (T0 - dt.timedelta(days=31), T0, "INVALID_REPLICATION_DATE"),
    ],
)
def test_bad_replication_windows_are_refused(
    fake: FakeSalesforce, sf: Salesforce, start: dt.datetime, end: dt.datetime, code: str
) -> None:
    # A naive datetime is formatted by simple-salesforce as '...T10:00:00%3A' (no zone).
    fake.org.set_clock(T0 + dt.timedelta(hours=1))
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.updated(start, end)
    assert error_code(caught.value) == code


def test_too_many_updated_ids_is_exceeded_id_limit(fake: FakeSalesforce, sf: Salesforce) -> None:
    fake.org.set_clock(T0)
    add_people(fake, 11)
    fake.org.replication_id_limit = 10
    fake.org.set_clock(T0 + dt.timedelta(hours=1))
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.updated(T0, T0 + dt.timedelta(hours=1))
    assert caught.value.content == fixture_json("synthetic/error_400_exceeded_id_limit.json")


# --- Bulk API 2.0 ----------------------------------------------------------------------


def read_csv_rows(paths: list[str]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def test_bulk2_download_of_25000_records_comes_in_locator_pages(
    fake: FakeSalesforce, sf: Salesforce, tmp_path: Path
) -> None:
    ids = add_people(fake, 25_000, Birthdate=dt.date(1990, 1, 31), HasOptedOutOfEmail=True)
    results = sf.bulk2.Contact.download(
        "SELECT Id, Email, Birthdate, HasOptedOutOfEmail, SystemModstamp FROM Contact",
        path=str(tmp_path),
        max_records=10_000,
        wait=0,
    )
    assert [r["number_of_records"] for r in results] == [10_000, 10_000, 5_000]
    rows = read_csv_rows([str(r["file"]) for r in results])
    assert [r["Id"] for r in rows] == ids
    assert rows[0]["Birthdate"] == "1990-01-31"
    assert rows[0]["HasOptedOutOfEmail"] == "true"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rows[0]["SystemModstamp"])
    pages = fake.requests_to("/results")
    assert [p.param("locator") for p in pages] == [None, "MTAwMDA", "MjAwMDA"]
    assert {p.param("maxRecords") for p in pages} == {"10000"}
    first_line = Path(str(results[0]["file"])).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == '"Id","Email","Birthdate","HasOptedOutOfEmail","SystemModstamp"'


def test_bulk2_query_all_includes_deleted_rows(fake: FakeSalesforce, sf: Salesforce) -> None:
    ids = add_people(fake, 5)
    fake.org.delete_contact(ids[0])
    pages = list(sf.bulk2.Contact.query_all("SELECT Id, IsDeleted FROM Contact", wait=0))
    rows = list(csv.DictReader("".join(str(p) for p in pages).splitlines()))
    assert (rows[0]["Id"], rows[0]["IsDeleted"]) == (ids[0], "true")
    assert len(rows) == 5
    (live_page,) = sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0)
    assert len(str(live_page).splitlines()) == 1 + 4


def test_bulk2_job_can_be_resumed_by_id_from_another_client(
    fake: FakeSalesforce, http: requests.Session
) -> None:
    fake.bulk_polls_to_complete = 2
    add_people(fake, 7)

    def client() -> _Bulk2Client:
        token = fake.issue_token()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        return _Bulk2Client("Contact", f"{fake.url}/services/data/v59.0/jobs/", headers, http)

    created = client().create_job(Operation.query, "SELECT Id, LastName FROM Contact")
    assert created["state"] == "UploadComplete"
    assert set(created) == set(fixture_json("synthetic/bulk2_query_job_created.json"))
    resumed = client()  # a worker that only kept the job id
    with pytest.raises(SalesforceGeneralError) as caught:
        resumed.get_query_results(created["id"], max_records=5)
    assert (caught.value.status, error_code(caught.value)) == (412, "JOB_NOT_COMPLETE")
    assert resumed.get_job(created["id"], True)["state"] == "InProgress"
    complete = resumed.get_job(created["id"], True)
    assert complete["state"] == "JobComplete"
    assert set(complete) == set(fixture_json("synthetic/bulk2_query_job_complete.json"))
    first = resumed.get_query_results(created["id"], max_records=5)
    assert (first["number_of_records"], first["locator"]) == (5, "NQ")
    again = resumed.get_query_results(created["id"], locator="NQ", max_records=5)
    assert again == resumed.get_query_results(created["id"], locator="NQ", max_records=5)
    assert (again["number_of_records"], again["locator"]) == (2, "")

    running = resumed.create_job(Operation.query, "SELECT Id FROM Contact")
    assert resumed.abort_job(running["id"], True)["state"] == "Aborted"
    # Salesforce answers DELETE with 204 No Content; simple-salesforce still parses JSON.
    with pytest.raises(requests.exceptions.JSONDecodeError):
        resumed.delete_job(running["id"], True)
    assert fake.bulk_job(running["id"]) is None


def test_bulk2_failed_jobs_surface_as_operation_errors(fake: FakeSalesforce, sf: Salesforce) -> None:
    add_people(fake, 3)
    fake.fail_next_bulk_job("UNKNOWN_EXCEPTION: disk on fire")
    with pytest.raises(SalesforceOperationError, match="disk on fire"):
        next(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0))
    with pytest.raises(SalesforceOperationError, match="INVALID_FIELD: No such column 'Foo__c'"):
        next(sf.bulk2.Contact.query("SELECT Id, Foo__c FROM Contact", wait=0))
    with pytest.raises(SalesforceMalformedRequest):
        next(sf.bulk2.Contact.query("SELECT Id FORM Contact", wait=0))


# --- limits and faults -----------------------------------------------------------------


def test_every_rest_answer_reports_api_usage_and_the_limit_is_enforced(
    fake: FakeSalesforce, sf: Salesforce
) -> None:
    fake.set_api_usage(used=97, limit=100)
    sf.query("SELECT Id FROM Contact")
    assert sf.api_usage["api-usage"] == Usage(98, 100)
    assert sf.limits()["DailyApiRequests"] == {"Max": 100, "Remaining": 1}
    sf.query("SELECT Id FROM Contact")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.status == 403
    assert caught.value.content == fixture_json("synthetic/error_403_request_limit_exceeded.json")


def test_expired_session_fault_raises_for_a_bare_token(fake: FakeSalesforce, sf: Salesforce) -> None:
    fake.fail_next("/query", "expired_session")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Contact")
    assert sf.query("SELECT Id FROM Contact")["done"] is True


def test_expired_session_fault_makes_a_login_client_log_in_again(
    fake: FakeSalesforce, http: requests.Session
) -> None:
    sf = Salesforce(**fake.connect_kwargs("soap"), session=http)
    fake.fail_next("/query", "expired_session")
    assert sf.query("SELECT Id FROM Contact")["done"] is True
    assert len(fake.requests_to("/services/Soap/u/")) == 2


@pytest.mark.parametrize(
    ("kind", "status", "exception", "code"),
    [
        ("request_limit", None, SalesforceRefusedRequest, "REQUEST_LIMIT_EXCEEDED"),
        ("server_error", 500, SalesforceGeneralError, "UNKNOWN_EXCEPTION"),
        ("server_error", 503, SalesforceGeneralError, "SERVER_UNAVAILABLE"),
        ("rate_limited", None, SalesforceGeneralError, "TOO_MANY_REQUESTS"),
    ],
)
def test_http_faults_map_to_simple_salesforce_errors(
    fake: FakeSalesforce,
    sf: Salesforce,
    kind: Any,
    status: int | None,
    exception: type[SalesforceError],
    code: str,
) -> None:
    seen: list[requests.Response] = []
    sf.session.hooks["response"].append(lambda r, *args, **kwargs: seen.append(r))
    fake.fail_next("/query", kind, status=status, retry_after=7)
    with pytest.raises(exception) as caught:
        sf.query("SELECT Id FROM Contact")
    assert error_code(caught.value) == code
    assert caught.value.status == (status or {"request_limit": 403, "rate_limited": 429}[kind])
    # simple-salesforce drops the headers; a response hook is how a connector sees them.
    assert seen[-1].headers["Sforce-Limit-Info"].startswith("api-usage=")
    if kind == "rate_limited":
        assert seen[-1].headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("kind", "exception"),
    [
        ("slow", requests.exceptions.ReadTimeout),
        ("truncated", requests.exceptions.ChunkedEncodingError),
        ("reset", requests.exceptions.ConnectionError),
    ],
)
def test_transport_faults_surface_as_requests_errors(
    fake: FakeSalesforce, sf: Salesforce, kind: Any, exception: type[Exception]
) -> None:
    add_people(fake, 50)
    fake.fail_next("/query", kind, delay=1.0)
    with pytest.raises(exception):
        sf.query("SELECT Id, Email FROM Contact", timeout=0.3)
    assert len(sf.query("SELECT Id FROM Contact", timeout=5)["records"]) == 50


def test_fault_rules_match_by_predicate_and_count_down(fake: FakeSalesforce, sf: Salesforce) -> None:
    def asks_for_orders(request: RecordedRequest) -> bool:
        return "FROM Order" in (request.param("q") or "")

    fake.org.add_order(Description="first order")
    fake.fail_next(asks_for_orders, "server_error", times=2)
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError):
            sf.query("SELECT Id, Status FROM Order")
    (order,) = sf.query("SELECT Id, Status, EffectiveDate FROM Order")["records"]
    assert order["Status"] == "Draft"
    assert [r.fault for r in fake.request_log] == [None, "server_error", "server_error", None]


def test_request_log_keeps_method_path_and_query(fake: FakeSalesforce, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Contact WHERE Email = 'a@example.test'")
    (call,) = fake.request_log
    assert (call.method, call.path) == ("GET", "/services/data/v59.0/query/")
    assert call.query == {"q": ["SELECT Id FROM Contact WHERE Email = 'a@example.test'"]}
    assert call.header("authorization") == f"Bearer {sf.session_id}"


def retrying(call: Callable[[], Any], attempts: int = 25) -> Any:
    """What a connector's retry layer does around one call, minus the backoff."""
    for _ in range(attempts - 1):
        try:
            return call()
        except (requests.exceptions.RequestException, SalesforceGeneralError):
            continue
    return call()


def chaos_run(seed: int) -> tuple[list[str], list[str | None]]:
    with FakeSalesforce() as fake, fake.session() as http:
        ids = add_people(fake, 4500)
        sf = Salesforce(**fake.connect_kwargs("session"), session=http)
        fake.chaos(0.4, seed=seed)
        page = retrying(lambda: sf.query("SELECT Id FROM Contact"))
        seen = [r["Id"] for r in page["records"]]
        while not page["done"]:
            more = functools.partial(sf.query_more, page["nextRecordsUrl"], identifier_is_url=True)
            page = retrying(more)
            seen += [r["Id"] for r in page["records"]]
        assert seen == ids
        return seen, [r.fault for r in fake.request_log]


def test_chaos_mode_is_seeded_and_survivable_with_retries() -> None:
    _, faults = chaos_run(seed=3)
    _, replay = chaos_run(seed=3)
    assert faults == replay
    assert {"server_error", "rate_limited", "reset", "truncated"} & set(faults)
    assert faults.count(None) == 3  # every page eventually came through


# --- wire shapes and org helpers -------------------------------------------------------


def test_answers_have_the_fixture_shapes(fake: FakeSalesforce, sf: Salesforce) -> None:
    fake.org.set_clock(T0 + dt.timedelta(hours=1))
    start, end = T0, T0 + dt.timedelta(minutes=30)
    assert set(sf.Contact.updated(start, end)) == set(fixture_json("synthetic/contact_updated_response.json"))
    assert set(sf.Contact.deleted(start, end)) == set(fixture_json("synthetic/contact_deleted_response.json"))
    with fake.session() as http:
        answer = http.post(
            f"{fake.url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(fake.credentials.consumer_key, fake.credentials.consumer_secret),
        ).json()
        refused = http.post(
            f"{fake.url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(fake.credentials.consumer_key, "wrong"),
        )
    assert set(fixture_json("simple_salesforce_oauth_token_response.json")) <= set(answer)
    assert answer["instance_url"] == fake.url
    assert refused.status_code == 400
    assert refused.json() == fixture_json("synthetic/oauth_token_error_invalid_client.json")


def test_org_helpers_keep_salesforce_bookkeeping(fake: FakeSalesforce) -> None:
    org = fake.org
    org.set_clock(T0)
    contact = org.add_contact(FirstName="Zoë", LastName="Müller", Loyalty_Points__c=12.5)
    assert len(contact) == 18
    assert contact == id18(contact[:15])
    org.set_clock(T0 + dt.timedelta(minutes=1))
    org.update_contact(contact, system_only=True)
    stored = org.get(contact)
    assert stored is not None
    assert (stored["SystemModstamp"], stored["LastModifiedDate"]) == (
        T0 + dt.timedelta(minutes=1),
        T0,
    )
    assert stored["Name"] == "Zoë Müller"
    org.update_contact(contact, stamp=T0 + dt.timedelta(days=1), Email="z@example.test")
    assert org.contacts()[0]["LastModifiedDate"] == T0 + dt.timedelta(days=1)
    with pytest.raises(KeyError, match="custom fields end in __c"):
        org.add_contact(LastName="X", Nickname="x")
    with pytest.raises(TypeError, match="date field"):
        org.add_contact(LastName="X", Birthdate="1990-01-01")
    with pytest.raises(ValueError, match="naive"):
        org.add_contact(LastName="X", Seen__c=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="LastName"):
        org.add_contact(FirstName="No last name")
