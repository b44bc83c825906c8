"""Salesforce Contacts, read as customers."""

from __future__ import annotations

from typing import ClassVar

from connectors.salesforce.streams import SalesforceStream


class ContactsStream(SalesforceStream):
    """Salesforce Contacts as customers."""

    name: ClassVar[str] = "contacts"
    sobject: ClassVar[str] = "Contact"
    kind: ClassVar[str] = "customers"
    default_fields: ClassVar[dict[str, list[str]]] = {
        "email": ["Email"],
        "firstname": ["FirstName"],
        "lastname": ["LastName"],
        "phoneNumber": ["Phone", "MobilePhone"],
        "birthday": ["Birthdate"],
        # MailingCountryCode exists in orgs with country picklists; it is selected only where it does.
        "country": ["MailingCountry", "MailingCountryCode"],
        "city": ["MailingCity"],
        "street": ["MailingStreet"],
        "zipCode": ["MailingPostalCode"],
    }

    def configured_fields(self) -> dict[str, list[str]]:
        return dict(self.settings.contact_fields)
