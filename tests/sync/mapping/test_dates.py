"""Both date readers take the fixed forms alike: Excel serials, ISO 8601, the given formats."""

from __future__ import annotations

from datetime import date

import pytest

from sync.mapping import FieldError
from sync.mapping.normalize import MONTH_FIRST_FORMATS, normalize_date, read_date

FIXED_FORMS = [
    ("31120", date(1985, 3, 14)),  # an Excel serial number
    (" 1985-03-14T09:30:00Z ", date(1985, 3, 14)),  # ISO 8601; the time is dropped
    ("3-14-1985", date(1985, 3, 14)),  # one of the given formats
]


@pytest.mark.parametrize(("text", "expected"), FIXED_FORMS)
def test_normalize_date_and_read_date_read_the_fixed_forms_alike(text: str, expected: date) -> None:
    assert normalize_date(text, MONTH_FIRST_FORMATS) == expected
    assert read_date(text, None, MONTH_FIRST_FORMATS) == expected


def test_a_value_in_no_form_is_an_invalid_date_for_both() -> None:
    with pytest.raises(FieldError) as by_normalize:
        normalize_date("soon")
    with pytest.raises(FieldError) as by_read:
        read_date("soon", None)
    assert by_normalize.value.reason == by_read.value.reason == "invalid_date"
