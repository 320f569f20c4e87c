"""The request class, which checks a JSON body against the route's schema reporting every bad
field, and the checks of the query and the body that run before every route."""

from __future__ import annotations

import datetime
import types
import typing
import uuid
from typing import Any, NamedTuple

import msgspec
from litestar import Litestar, Request
from litestar.exceptions import ClientException, HTTPException, SerializationException
from litestar.routes import HTTPRoute

from tribeops.core.errors import FieldError, ValidationFailed
from tribeops.core.schemas.common import Strict
from tribeops.core.validation import collect_errors, escape, nul_errors


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


class QueryParam(NamedTuple):
    """A query parameter of a route, as the document gives it."""

    annotation: Any
    required: bool
    repeated: bool  # a list: the parameter may be given several times


async def check_request(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook of the API's operations: what Litestar would let through or
    answer vaguely, refused with the field named (see :func:`check_query` and :func:`check_body`)."""
    if not request.scope["path"].startswith("/v1/") or request.route_handler.opt.get("public"):
        return  # probes and documents; a network's webhook call, in the network's own terms
    check_query(request)
    await check_body(request)


def check_query(request: Request[Any, Any, Any]) -> None:
    """The query against the route's parameters, every problem reported at once (422):

    - a parameter the route does not have (as Stripe does: a misspelt or unsupported filter
      would otherwise be ignored, and the answer taken for what was asked);
    - a required one left out (Litestar answers 400 without naming it as a field);
    - a single-valued one given twice (Litestar keeps the last), a repeatable one given the
      same value twice;
    - each value read as the type the document gives it. Litestar converts query values with
      msgspec in lax mode and drops the msgspec bounds of their types, so "null" reads as no
      value for an optional date-time, enum or number, a number reads as a date-time (Unix
      time), and a string parameter's length and pattern go unchecked. Values of string-typed
      parameters (strings, date-times, enums) are checked here strictly, bounds included;
      "null" is refused where it would read as no value.
    """
    state = request.app.state
    if "query_params" not in state:  # worked out on the first request, once the routes are final
        state["query_params"] = _query_params(request.app)
    params: dict[str, QueryParam] = state["query_params"].get(id(request.route_handler), {})
    given = request.query_params
    errors = [FieldError(f"/{escape(name)}", "Not a parameter of this operation.", "query")
              for name in dict.fromkeys(given) if name not in params]
    for name, param in params.items():
        values = given.getall(name, [])
        if not values and param.required:
            errors.append(FieldError(f"/{name}", "Required.", "query"))
        elif len(values) > 1 and not param.repeated:
            errors.append(FieldError(f"/{name}", f"Given {len(values)} times; give it once.", "query"))
        errors += [FieldError(f"/{name}/{i}" if param.repeated else f"/{name}", message, "query")
                   for i, raw in enumerate(values) if (message := _query_value_error(raw, param.annotation))]
        if param.repeated:  # each value given more than once, at its first repeat
            errors += [FieldError(f"/{name}/{i}", f"{raw!r} is given {values.count(raw)} times; give it once.",
                                  "query")
                       for i, raw in enumerate(values) if raw in values[:i] and raw not in values[values.index(raw) + 1:i]]
    if errors:
        raise ValidationFailed(errors)


async def check_body(request: Request[Any, Any, Any]) -> None:
    """A route that reads a JSON body is sent one: a body said to be of another type gets 415,
    no body at all 400 (not a validation failure of a field named ``data``)."""
    handler = request.route_handler
    if handler.parsed_data_field is None and "request_body" not in handler.opt:
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(status_code=415, detail=f"The body must be JSON (Content-Type: application/json), "
                                                    f"not {media_type}.")
    body = await request.body()
    if not body or body.isspace():  # not strip(): a batch of events is megabytes, not copied for this
        raise ClientException("The request needs a JSON body; none was sent.")


def _query_params(app: Litestar) -> dict[int, dict[str, QueryParam]]:
    """Route handler id → its query parameters by name."""
    table: dict[int, dict[str, QueryParam]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, kwargs_model in route.route_handler_map.values():
                fields = handler.parsed_fn_signature.parameters
                table[id(handler)] = {
                    p.field_alias: QueryParam(fields[p.field_name].annotation if p.field_name in fields else None,
                                              p.is_required, p.is_sequence)
                    for p in kwargs_model.expected_query_params}
    return table


def _query_value_error(raw: str, annotation: Any) -> str | None:
    if annotation is None:  # a dependency's parameter: Litestar's own parsing decides
        return None
    if typing.get_origin(_bare(annotation)) is list:  # a repeated parameter: each value as an item
        annotation = typing.get_args(_bare(annotation))[0]
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


def _bare(annotation: Any) -> Any:
    """``annotation`` without its ``Annotated`` layers and, if optional, without None."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return _bare(options[0])
    return annotation


def _is_string_typed(annotation: Any) -> bool:
    """Whether every value of ``annotation`` but None is a JSON string."""
    annotation = _bare(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(options) and all(_is_string_typed(a) for a in options)
    if typing.get_origin(annotation) is typing.Literal:
        return all(isinstance(v, str) for v in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, _STRING_TYPES)
