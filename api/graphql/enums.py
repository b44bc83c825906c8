"""The documented GraphQL enums, built from the store's enums so the two cannot drift."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar, cast

import pycountry
import strawberry

from models.enums import UserEntitySource as _EntitySource
from models.enums import UserGender as _Gender
from models.enums import UserMerchantType as _MerchantType
from models.enums import UserUserType as _UserType

E = TypeVar("E", bound=Enum)


def _mirror(source: type[Enum], name: str, description: str) -> type[Enum]:
    # A copy rather than decorating the store's class: strawberry marks what it decorates.
    members = {member.name: member.value for member in source}
    return _graphql_enum(name, members, description)


def _graphql_enum(name: str, members: dict[str, str], description: str) -> type[Enum]:
    copy = cast("type[Enum]", Enum(name, members))
    return strawberry.enum(copy, name=name, description=description)


UserGender = _mirror(_Gender, "UserGender", "Gender of the customer")
UserUserType = _mirror(_UserType, "UserUserType", "Who the customer is to the platform")
UserMerchantType = _mirror(_MerchantType, "UserMerchantType", "What kind of business a merchant runs")
UserEntitySource = _mirror(_EntitySource, "UserEntitySource", "Where the customer was created")
UserCountry = _graphql_enum(
    "UserCountry",
    {code: code for code in sorted(c.alpha_2 for c in pycountry.countries)},
    "ISO 3166-1 alpha-2 country code",
)


def enum_value(enum: type[E], value: str | None) -> E | None:
    """The member for a stored value; an unknown one reads as null rather than failing the query."""
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        return None
