"""Form errors as graphql-auth answers them: `{field: [{message, code}]}`."""

from __future__ import annotations

from collections import defaultdict

FormErrors = dict[str, list[dict[str, str]]]

NON_FIELD = "nonFieldErrors"


class ErrorCollector:
    """Collects problems per field, then answers `None` when there were none."""

    def __init__(self) -> None:
        self._errors: defaultdict[str, list[dict[str, str]]] = defaultdict(list)

    def add(self, field: str, code: str, message: str) -> None:
        self._errors[field].append({"message": message, "code": code})

    def __bool__(self) -> bool:
        return bool(self._errors)

    def result(self) -> FormErrors | None:
        return dict(self._errors) or None


def single(field: str, code: str, message: str) -> FormErrors:
    return {field: [{"message": message, "code": code}]}
