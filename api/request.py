"""The request class, which checks a JSON body against the route's schema reporting every bad
field, and the check of query values against their parameters' types."""

from __future__ import annotations

import datetime
import types
import typing
import uuid
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.exceptions import ClientException, SerializationException
from litestar.routes import HTTPRoute

from tribeops.core.errors import FieldError, ValidationFailed
from tribeops.core.schemas.common import Strict
from tribeops.core.validation import collect_errors, nul_errors


class TribeopsRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        try:
            value = await super().json()
        except SerializationException as exc:
            # Litestar answers 400 to a malformed body only while it parses a handler's `data`;
            # handlers that read the body themselves (batch ingestion) get the same answer here.
            raise ClientException(str(exc)) from exc
        field = self.route_handler.parsed_data_field
        target = field.annotation if field is not None else None
        if isinstance(target, type) and issubclass(target, Strict):
            errors = collect_errors(value, target)
            if b"\\u0000" in await self.body():  # cheap test first: NUL is rare and always escaped in JSON
                errors += nul_errors(value)
            if errors:
                raise ValidationFailed(errors)
        return value


async def check_query_values(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: read each query value as the type the document gives it.

    Litestar converts query values with msgspec in lax mode and drops the msgspec bounds of
    their types, so "null" reads as no value for an optional date-time, enum or number, a
    number reads as a date-time (Unix time), and a string parameter's length and pattern go
    unchecked. Values of string-typed parameters (strings, date-times, enums) are checked
    here strictly, bounds included; "null" is refused where it would read as no value.
    """
    state = request.app.state
    if "query_types" not in state:  # worked out on the first request, once the routes are final
        state["query_types"] = _query_types(request.app)
    errors = [
        FieldError(f"/{name}", message, "query")
        for name, annotation in state["query_types"].get(id(request.route_handler), ())
        for raw in request.query_params.getall(name, [])
        if (message := _query_value_error(raw, annotation))
    ]
    if errors:
        raise ValidationFailed(errors)


def _query_types(app: Litestar) -> dict[int, list[tuple[str, Any]]]:
    """Route handler id → (name, annotation) of each of its query parameters."""
    table: dict[int, list[tuple[str, Any]]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, kwargs_model in route.route_handler_map.values():
                fields = handler.parsed_fn_signature.parameters
                table[id(handler)] = [(p.field_alias, fields[p.field_name].annotation)
                                      for p in kwargs_model.expected_query_params if p.field_name in fields]
    return table


def _query_value_error(raw: str, annotation: Any) -> str | None:
    try:
        if _is_string_typed(annotation):
            msgspec.convert(raw, annotation, strict=True)
        elif raw.lower() == "null" and msgspec.convert(raw, annotation, strict=False) is None:
            return "Not a value of this parameter; leave it out for none."
    except msgspec.ValidationError as exc:
        return str(exc)
    except TypeError:  # a type msgspec cannot convert to: Litestar's own parsing decides
        return None
    return None


_STRING_TYPES = (str, datetime.datetime, datetime.date, datetime.time, uuid.UUID)


def _is_string_typed(annotation: Any) -> bool:
    """Whether every value of ``annotation`` but None is a JSON string."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(options) and all(_is_string_typed(a) for a in options)
    if typing.get_origin(annotation) is typing.Literal:
        return all(isinstance(v, str) for v in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, _STRING_TYPES)
