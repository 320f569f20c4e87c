"""RFC 9457 problem details for every error; nothing internal ever reaches a client."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from tribeops.core.db import database_busy
from tribeops.core.errors import Conflict, FieldError, NotFound, TribeopsError, ValidationFailed
from tribeops.core.validation import escape

log = logging.getLogger("tribeops.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "urn:tribeops:problem:"


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem. ``errors`` lists each bad field of a validation failure."""

    type: Annotated[str, msgspec.Meta(max_length=200)]
    title: Annotated[str, msgspec.Meta(max_length=100)]
    status: Annotated[int, msgspec.Meta(ge=400, le=599)]
    detail: Annotated[str, msgspec.Meta(max_length=2000)]
    errors: Annotated[list[FieldError], msgspec.Meta(max_length=1000)] | None = None


_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           409: "Conflict", 413: "Request body too large", 415: "Unsupported media type", 422: "Validation failed",
           429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}
_SLUGS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
          409: "conflict", 413: "body-too-large", 415: "unsupported-media-type", 422: "validation-failed",
          429: "rate-limited", 500: "internal", 503: "unavailable"}


def problem(status: int, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None) -> Response[Problem]:
    body = Problem(type=TYPE_BASE + _SLUGS.get(status, str(status)), title=_TITLES.get(status, "Error"),
                   status=status, detail=detail, errors=errors)
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def _litestar_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        key = str(item.get("key", "")) if isinstance(item, dict) else ""
        source = getattr(item.get("source"), "value", None) or item.get("source") or "body" if isinstance(item, dict) else "body"
        message = str(item.get("message", "Invalid value.")) if isinstance(item, dict) else str(item)
        if source == "header":  # named as sent: Idempotency-Key, not the handler's idempotency_key
            key = "-".join(part.capitalize() for part in key.split("_"))
        pointer = "" if key in ("", "data") else "/" + "/".join(escape(k) for k in key.split("."))
        errors.append(FieldError(pointer, message, source))
    if not errors:  # malformed JSON and the like: not a field problem
        return problem(400, exc.detail or "The request could not be read.")
    names = ", ".join(e.pointer or "(body)" for e in errors)
    return problem(422, f"The request has {len(errors)} invalid field(s): {names}.", errors)


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """The single exception handler of the app."""
    if isinstance(exc, ValidationFailed):
        return problem(422, exc.detail, exc.errors)
    if isinstance(exc, NotFound):
        return problem(404, exc.detail)
    if isinstance(exc, Conflict):
        return problem(409, exc.detail)
    if isinstance(exc, TribeopsError):
        return problem(400, exc.detail)
    if isinstance(exc, ValidationException):
        return _litestar_validation(request, exc)
    if isinstance(exc, HTTPException) and exc.status_code == 413:
        limit = request.app.state.tribeops.settings.max_body_bytes
        return problem(413, f"The request body is larger than {limit} bytes, this server's limit "
                            "(TRIBEOPS_MAX_BODY_BYTES).", headers=exc.headers)
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        detail = exc.detail if exc.detail and exc.detail != _TITLES.get(exc.status_code) else _default(exc.status_code)
        return problem(exc.status_code, detail, headers=exc.headers)
    if database_busy(exc):
        log.warning("%s %s: the database stayed locked by another writer (%s)", request.method, request.url.path, exc)
        return problem(503, "The database is busy: another writer held it too long. Retry in a few seconds.",
                       headers={"Retry-After": "5"})
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "Something went wrong on our side; the request may be retried.")


def _default(status: int) -> str:
    return {404: "No such resource.", 405: "This method is not allowed on this resource.",
            }.get(status, _TITLES.get(status, "Error"))


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {Exception: handle}
