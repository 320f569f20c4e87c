"""OpenAPI helpers shared by the controllers: documented errors, common parameters."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.datastructures import ResponseHeader
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, PathParameter, QueryParameter

from .problems import PROBLEM, Problem

_DESCRIPTIONS = {
    400: "The request could not be read (malformed JSON).",
    401: "Missing, unknown or revoked API key.",
    403: "The API key lacks the scope this operation needs.",
    404: "No such object in this workspace.",
    409: "A request with the same Idempotency-Key is still in progress.",
    413: "The request body is larger than the configured limit.",
    415: "The body is not JSON (`Content-Type` must be `application/json`).",
    422: "Validation failed; `errors` names each bad field with a JSON pointer.",
    503: "The database is busy (SQLite: another writer held it too long); retry after `Retry-After` seconds.",
}

READ_ERRORS = (400, 401, 403, 404, 422)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)


def problems(*codes: int) -> dict[int, ResponseSpec]:
    """Problem responses for ``codes``, and 503 (any operation may meet a busy database), as
    Litestar ``responses=``."""
    return {
        code: ResponseSpec(data_container=Problem, media_type=PROBLEM, description=_DESCRIPTIONS[code],
                           generate_examples=False)
        for code in dict.fromkeys((*codes, 503))
    }


def body(example: dict[str, Any], description: str, **more: dict[str, Any]) -> Any:
    """A request body's documentation: its example, and ``more`` named ones."""
    return Body(description=description, examples=[Example(summary="Example", value=example),
                                                   *(Example(summary=name, value=v) for name, v in more.items())])


# The headers of a creating POST's answer, and of a job's while it has not finished.
CREATED = [
    ResponseHeader(name="Location", description="URL of the created object.", documentation_only=True,
                   required=True),
    ResponseHeader(name="Idempotent-Replayed", documentation_only=True,
                   description="`true` when this answers a retry with the same `Idempotency-Key` (the first "
                               "response, replayed); absent otherwise."),
]
RETRY_AFTER = ResponseHeader(name="Retry-After", documentation_only=True,
                             description="While the job is `queued` or `running`: seconds to wait before polling it "
                                         "again. Absent once it has finished.")
# Schemas of those headers (any other is a bounded string).
HEADER_SCHEMAS = {"Idempotent-Replayed": {"type": "string", "enum": ["true"]},
                  "Retry-After": {"type": "integer", "minimum": 1, "maximum": 30}}

Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size, 1 to 100.")]
StartingAfter = Annotated[
    str | None,
    QueryParameter(min_length=1, max_length=200, description="The `next_cursor` of the previous page."),
]
IdParam = PathParameter(min_length=1, max_length=64, description="The object's id.")
IdFilter = QueryParameter(min_length=1, max_length=64)
