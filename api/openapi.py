"""The OpenAPI document: Litestar lays out paths and operations, msgspec writes the schemas.

Litestar drops some msgspec constraints (bounds of list items and map values, key patterns,
``additionalProperties: false``), so every request and response body schema here comes from
``msgspec.json.schema_components`` of the handlers' own types, which is exact. Parameters keep
Litestar's schemas with their bounds moved where validators look for them. Creating
operations link to the get / update / delete of what they created, for stateful testing.
The app serves exactly this document, and ``openapi/openapi.json`` is a copy of it.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import msgspec
from litestar import Litestar, Request, Router, get
from litestar.constants import OPENAPI_JSON_HANDLER_NAME
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.routes import HTTPRoute

from tribeops.core import __version__

from .docs import HEADER_SCHEMAS
from .problems import PROBLEM, Problem

REF = "#/components/schemas/{name}"
DESCRIPTION = """Brand conversation ops: brands, their tribes and campaigns; KPI events from every
network; scorecards that set vanity metrics beside relationship metrics.

Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problem documents
(`application/problem+json`); a validation problem lists each bad field in `errors` as a JSON
pointer and a message. Lists are paginated, newest first, with `limit` and `starting_after`
(the previous page's `next_cursor`). Creating POSTs accept an `Idempotency-Key` header.
Text fields may not contain the NUL character (`\\u0000`)."""
TAGS = ["Brands", "Tribes", "Campaigns", "Events", "Members", "Connections", "Scorecards", "Jobs", "Plugins", "API keys", "Health"]


@get("/openapi.json", include_in_schema=False, media_type="application/vnd.oai.openapi+json",
     name=OPENAPI_JSON_HANDLER_NAME)
async def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    document: dict[str, Any] = request.app.state.openapi_document
    return document


def config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="tribeops",
        version=__version__,
        description=DESCRIPTION,
        path="/schema",
        openapi_router=Router("/schema", route_handlers=[openapi_json], include_in_schema=False),
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(security_schemes={
            "bearerAuth": SecurityScheme(type="http", scheme="bearer", description="An API key of the workspace.")
        }),
        security=[{"bearerAuth": []}],
        tags=[Tag(name=name) for name in TAGS],
        use_handler_docstrings=True,
        create_examples=False,
    )


def document(app: Litestar) -> dict[str, Any]:
    """The finished OpenAPI document of ``app``."""
    doc = app.openapi_schema.to_schema()
    body_types: set[Any] = {Problem}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in doc.get("paths", {}):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                op = doc["paths"][route.path_format].get(method.lower())
                if op is not None:
                    body_types |= _finish_operation(op, handler)
    (_, components) = msgspec.json.schema_components(sorted(body_types, key=repr), ref_template=REF)
    doc.setdefault("components", {})["schemas"] = dict(sorted(components.items()))
    _require_what_is_sent(doc, _omitting(body_types))
    _add_links(doc)
    return doc


def _omitting(types_: set[Any]) -> set[str]:
    """The names of the structs among (and inside) ``types_`` that leave out fields at their
    default when encoded."""
    names: set[str] = set()
    seen: set[int] = set()

    def walk(info: Any) -> None:
        if id(info) in seen:
            return
        seen.add(id(info))
        if isinstance(info, msgspec.inspect.StructType):
            if (typing.get_origin(info.cls) or info.cls).__struct_config__.omit_defaults:
                names.add(info.cls.__name__)
            for f in info.fields:
                walk(f.type)
        for attr in ("type", "item_type", "key_type", "value_type"):
            if isinstance(getattr(info, attr, None), msgspec.inspect.Type):
                walk(getattr(info, attr))
        for inner in getattr(info, "types", ()):
            walk(inner)

    for info in msgspec.inspect.multi_type_info(list(types_)):
        walk(info)
    return names


def _require_what_is_sent(doc: dict[str, Any], omitting: set[str]) -> None:
    """Mark every property of an object only ever sent (never part of a request) as required:
    the API encodes every field, defaults included, except those of ``omitting``. A client
    generated from the document then types them as always there."""
    schemas = doc["components"]["schemas"]
    received: set[str] = set()
    todo = [op["requestBody"] for item in doc["paths"].values() for op in item.values()
            if isinstance(op, dict) and "requestBody" in op]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in received:
                    received.add(name)
                    todo.append(schemas[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    for name, schema in schemas.items():
        if name not in received and name not in omitting and schema.get("properties"):
            schema["required"] = list(schema["properties"])


def _finish_operation(op: dict[str, Any], handler: Any) -> set[Any]:
    used: set[Any] = set()
    data = handler.parsed_data_field
    documented = handler.opt.get("request_body")
    if documented is not None:
        # The handler reads its body itself (items are checked one by one), so say what it takes.
        media = {"schema": _ref(documented)}
        if handler.opt.get("request_example"):
            media["examples"] = {"example": {"summary": "Example", "value": handler.opt["request_example"]}}
        op["requestBody"] = {"required": True, "content": {"application/json": media}}
        used.add(documented)
    elif data is not None:
        data_type = _unwrap(data.annotation)
        media: dict[str, Any] = {"schema": _ref(data_type)}
        examples = getattr(data.kwarg_definition, "examples", None) or []
        if examples:
            media["examples"] = {f"example{i or ''}": {"summary": ex.summary, "value": ex.value}
                                 for i, ex in enumerate(examples)}
        op["requestBody"]["content"] = {"application/json": media}
        used.add(data_type)
    returned = _unwrap(handler.parsed_fn_signature.return_type.annotation)
    for code, response in op.get("responses", {}).items():
        content = response.get("content", {})
        if code.startswith("2") and returned is not None and "application/json" in content:
            content["application/json"] = {"schema": _ref(returned)}
            used.add(returned)
        if "application/x-ndjson" in content:
            content["application/x-ndjson"] = {"schema": {
                "type": "string", "format": "ndjson",
                "description": "One `Event` JSON object per line."}}
        if "text/plain" in content:
            content["text/plain"] = {"schema": {"type": "string", "maxLength": 10_000}}
        if PROBLEM in content:
            content[PROBLEM] = {"schema": {"$ref": REF.format(name="Problem")}}
    annotations = {name: f.annotation for name, f in handler.parsed_fn_signature.parameters.items()}
    for param in op.get("parameters", []):
        schema = _tidy_parameter(param.get("schema", {}), param.get("required", False))
        param["schema"] = {**schema, **_msgspec_bounds(annotations.get(param["name"]))}
    for response in op.get("responses", {}).values():
        if "headers" in response:  # in a stable order (Litestar gathers them in a set)
            response["headers"] = dict(sorted(response["headers"].items()))
        for name, header in response.get("headers", {}).items():
            header["schema"] = HEADER_SCHEMAS.get(name, {"type": "string", "maxLength": 2048})
    return used


def _unwrap(annotation: Any) -> Any:
    """``Annotated[T, ...]`` → T, ``Response[T]`` → T, ``None`` → None."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation in (None, type(None)):
        return None
    origin = typing.get_origin(annotation)
    if origin is not None and getattr(origin, "__name__", "") == "Response":
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _msgspec_bounds(annotation: Any) -> dict[str, Any]:
    """The bounds msgspec declares on a parameter's type (Litestar drops them for query parameters)."""
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        if any(isinstance(m, msgspec.Meta) for m in args[1:]):
            break
        annotation = args[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else annotation
    try:
        schema = msgspec.json.schema(annotation)
    except (TypeError, ValueError):
        return {}
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return {"items": {k: v for k, v in schema["items"].items() if k != "$defs"}}
    return {k: v for k, v in schema.items() if k in ("maxLength", "minLength", "pattern", "minimum", "maximum")}


def _ref(tp: Any) -> dict[str, Any]:
    (schema,), _ = msgspec.json.schema_components([tp], ref_template=REF)
    return schema


_BOUNDS = ("maxLength", "minLength", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _tidy_parameter(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    """Move bounds into the value branch; an optional parameter is simply absent, never null."""
    branches = schema.get("oneOf")
    if isinstance(schema.get("type"), list) and not required:
        kinds = [k for k in schema["type"] if k != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
        if "enum" in schema:
            schema["enum"] = [v for v in schema["enum"] if v is not None]
    if not branches:
        return schema
    bounds = {k: schema.pop(k) for k in _BOUNDS if k in schema}
    values = [b for b in branches if b.get("type") != "null"]
    if len(values) == 1 and not required:
        schema.pop("oneOf")
        return {**schema, **values[0], **bounds}
    for branch in values:
        branch.update({k: v for k, v in bounds.items() if branch.get("type") in ("string", "integer", "number")})
    return schema


_CREATE = re.compile(r"^create([A-Z]\w*)$")


def _add_links(doc: dict[str, Any]) -> None:
    ops = {op["operationId"]: op for item in doc.get("paths", {}).values() for op in item.values()
           if isinstance(op, dict) and "operationId" in op}
    for op_id, op in ops.items():
        match = _CREATE.match(op_id)
        created = op.get("responses", {}).get("201")
        if not match or created is None:
            continue
        links = {}
        for verb in ("get", "update", "delete", "revoke"):
            target = ops.get(f"{verb}{match.group(1)}")
            if target is None:
                continue
            names = [p["name"] for p in target.get("parameters", []) if p.get("in") == "path"]
            links[f"{verb.capitalize()}{match.group(1)}"] = {
                "operationId": target["operationId"],
                "parameters": {name: "$response.body#/id" for name in names},
                "description": f"The created object's `id` is the `{names[0]}` of `{target['operationId']}`.",
            }
        created["links"] = links
