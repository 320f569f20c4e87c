"""Domain errors. The API layer turns each into an RFC 9457 problem; core never speaks HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One bad input field: a JSON pointer into the body (or a parameter's name) and what is wrong.

    ``location`` (``in`` on the wire) is ``body`` unless the field is a ``query`` or ``path``
    parameter, whose pointer is then ``/<parameter name>``.
    """

    pointer: Annotated[str, msgspec.Meta(max_length=1000)]
    message: Annotated[str, msgspec.Meta(max_length=1000)]
    location: Literal["body", "query", "path", "header"] = msgspec.field(default="body", name="in")


class TribeopsError(Exception):
    """Base of every error core raises on purpose."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(TribeopsError):
    """The object does not exist in the caller's workspace (whether or not it exists elsewhere)."""

    title = "Not found"

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"No {kind} with id {object_id!r}.")
        self.kind = kind
        self.object_id = object_id


class ValidationFailed(TribeopsError):
    """Input that is well formed but not acceptable; every bad field is listed."""

    title = "Validation failed"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        names = ", ".join(e.pointer or "(body)" for e in errors)
        super().__init__(detail or f"The request has {len(errors)} invalid field(s): {names}.")
        self.errors = errors


class Conflict(TribeopsError):
    """The request conflicts with the current state (for instance a request still in flight)."""

    title = "Conflict"
