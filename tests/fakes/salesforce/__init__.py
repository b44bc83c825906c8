"""A fake Salesforce org on local HTTPS that the real simple-salesforce client talks to.

Reaching it from connector code
-------------------------------
simple-salesforce builds every login URL as ``https://{domain}.salesforce.com/...`` (SOAP
``/services/Soap/u/{version}``, OAuth ``/services/oauth2/token``), so ``domain`` cannot name
the fake: ``domain="127.0.0.1:PORT"`` gives the host ``127.0.0.1:PORT.salesforce.com``, which
requests refuses (``InvalidURL``). ``SalesforceLogin(scratch_url=...)`` redirects the SOAP login
only, and ``Salesforce(...)`` does not pass it on. So a connector must accept an injected
``requests.Session`` and hand it to ``Salesforce(session=...)``:

* ``fake.session()`` is such a session: ``verify=<ca path>`` (verification stays on) and
  ``trust_env=False``, because requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override
  ``Session.verify``. It mounts ``FakeHostAdapter`` for ``https://login.salesforce.com``,
  ``https://test.salesforce.com``, ``https://{fake.my_domain}.salesforce.com`` and the fake's
  own URL; the adapter forwards to the fake and pins ``verify`` to the CA.
* ``fake.mount(session)`` does the mounting on a session the connector built itself.
* Logins answer ``serverUrl``/``instance_url`` = ``fake.url`` (``https://127.0.0.1:PORT``), so
  REST, query and Bulk 2.0 calls then go to the fake directly.

``fake.connect_kwargs(auth)`` gives the other ``Salesforce`` arguments for each auth mode::

    with FakeSalesforce() as fake, fake.session() as http:
        Salesforce(**fake.connect_kwargs("session"), session=http)  # instance_url + token
        Salesforce(**fake.connect_kwargs("soap"), session=http)  # username/password/token
        Salesforce(**fake.connect_kwargs("oauth_password"), session=http)
        Salesforce(**fake.connect_kwargs("client_credentials"), session=http)  # domain=My Domain
        Salesforce(**fake.connect_kwargs("jwt"), session=http)  # privatekey=fake's own key

Approximations (no recorded original to copy): the messages of INVALID_REPLICATION_DATE and of
a missing or malformed start/end (errorCodes MISSING_ARGUMENT, INVALID_PARAMETER_VALUE); the
429 answer (errorCode TOO_MANY_REQUESTS: Salesforce itself rarely sends 429); the 500/503
bodies; the Bulk 2.0 answers to unsupported SOQL (400 API_ERROR), to aborting or deleting a job
in the wrong state (400 INVALIDJOB) and to reading results with another API version (409). The
SOAP login answer uses the partner namespace that ``/services/Soap/u/`` answers with; the
fixture copied from simple-salesforce's tests uses the enterprise one.
"""

from __future__ import annotations

from .auth import JWT_BEARER as JWT_BEARER
from .auth import AuthMode, FakeCredentials
from .faults import TRANSIENT_FAULTS as TRANSIENT_FAULTS
from .faults import FaultKind, FaultRule, RecordedRequest
from .org import FakeOrg
from .server import FakeHostAdapter, FakeSalesforce, fake_salesforce
from .wire import format_datetime

__all__ = [
    "AuthMode",
    "FakeCredentials",
    "FakeHostAdapter",
    "FakeOrg",
    "FakeSalesforce",
    "FaultKind",
    "FaultRule",
    "RecordedRequest",
    "fake_salesforce",
    "format_datetime",
]
