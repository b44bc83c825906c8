"""The SOAP 1.1 envelopes Salesforce expects back from an Outbound Message endpoint."""

from __future__ import annotations

from xml.sax.saxutils import escape

SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"

# Salesforce stops redelivering a message only when it gets exactly this acknowledgement.
_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    " <soapenv:Body>\n"
    '  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">\n'
    "   <Ack>true</Ack>\n"
    "  </notificationsResponse>\n"
    " </soapenv:Body>\n"
    "</soapenv:Envelope>\n"
)

_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    " <soapenv:Body>\n"
    "  <soapenv:Fault>\n"
    "   <faultcode>soapenv:{code}</faultcode>\n"
    "   <faultstring>{message}</faultstring>\n"
    "   <detail />\n"
    "  </soapenv:Fault>\n"
    " </soapenv:Body>\n"
    "</soapenv:Envelope>\n"
)


def ack_envelope() -> bytes:
    """The `Ack` that tells Salesforce the whole message was taken."""
    return _ACK.encode()


def fault_envelope(message: str, *, server: bool = False) -> bytes:
    """A SOAP fault: `Client` when the message itself is wrong, `Server` when we failed."""
    one_line = " ".join(message.split())
    return _FAULT.format(code="Server" if server else "Client", message=escape(one_line)).encode()
