"""Strict conversion of decoded JSON into msgspec structs, reporting *every* bad field.

msgspec stops at the first error; clients deserve the whole list. ``convert`` walks the
struct's fields one by one (recursing into nested structs and lists of structs), so a body
with three bad fields gets three ``FieldError`` entries, each with a JSON pointer.
"""

from __future__ import annotations

import re
import types
import typing
from functools import lru_cache
from typing import Any, TypeVar

import msgspec

from .errors import FieldError, ValidationFailed

T = TypeVar("T", bound=msgspec.Struct)

_AT_RE = re.compile(r" - at `\$(.*)`$")
_PATH_RE = re.compile(r"\.([^.\[]+)|\[(\d+|'[^']*'|\"[^\"]*\")\]")
_UNKNOWN_RE = re.compile(r"unknown field `(.+)`")


def escape(token: str) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer_from_message(message: str, base: str = "") -> tuple[str, str]:
    """Split a msgspec error message into (JSON pointer, human message)."""
    pointer = base
    match = _AT_RE.search(message)
    if match:
        message = message[: match.start()]
        for name, index in _PATH_RE.findall(match.group(1)):
            token = name or index.strip("'\"")
            pointer += "/" + escape(token)
    unknown = _UNKNOWN_RE.search(message)
    if unknown:
        pointer += "/" + escape(unknown.group(1))
        message = "Unknown field; remove it (fields are checked strictly)."
    return pointer, message


@lru_cache(maxsize=None)
def _field_plan(cls: type) -> tuple[dict[str, tuple[str, Any, bool]], bool]:
    hints = typing.get_type_hints(cls, include_extras=True)
    plan = {f.encode_name: (f.name, hints[f.name], f.required) for f in msgspec.structs.fields(cls)}
    return plan, bool(getattr(cls.__struct_config__, "forbid_unknown_fields", False))


def _strip(annotation: Any) -> Any:
    """The struct class or ``list[struct]`` hidden under Annotated / Optional / Unset, if any."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a not in (type(None), msgspec.UnsetType)]
        return _strip(inner[0]) if len(inner) == 1 else annotation
    return annotation


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def collect_errors(raw: Any, cls: type[msgspec.Struct], base: str = "") -> list[FieldError]:
    """Every problem with ``raw`` as a ``cls``, field by field. Empty when ``raw`` is acceptable."""
    if not isinstance(raw, dict):
        return [FieldError(base, f"Expected an object, got {_json_type(raw)}.")]
    plan, strict = _field_plan(cls)
    errors: list[FieldError] = []
    if strict:
        errors += [FieldError(f"{base}/{escape(str(k))}", "Unknown field; remove it (fields are checked strictly).")
                   for k in raw if k not in plan]
    for key, (_, annotation, required) in plan.items():
        pointer = f"{base}/{escape(key)}"
        if key not in raw:
            if required:
                errors.append(FieldError(pointer, "This field is required."))
            continue
        errors += _check_value(raw[key], annotation, pointer)
    return errors


def _check_value(value: Any, annotation: Any, pointer: str) -> list[FieldError]:
    inner = _strip(annotation)
    if _is_struct(inner) and isinstance(value, dict):
        return collect_errors(value, inner, pointer)
    if typing.get_origin(inner) is dict and isinstance(value, dict):
        key_type, value_type = typing.get_args(inner) or (Any, Any)
        errors = _convert_errors(value, annotation, pointer, shallow=True)
        for key, item in value.items():
            key_errors = _convert_errors(key, key_type, f"{pointer}/{escape(str(key))}")
            errors += [FieldError(e.pointer, f"Key: {e.message}") for e in key_errors]
            if not key_errors:
                errors += _check_value(item, value_type, f"{pointer}/{escape(str(key))}")
        return errors
    if typing.get_origin(inner) is list and isinstance(value, list):
        (item_type,) = typing.get_args(inner) or (Any,)
        item_inner = _strip(item_type)
        if _is_struct(item_inner):
            errors = _convert_errors(value, annotation, pointer, shallow=True)
            for i, item in enumerate(value):
                errors += _check_value(item, item_type, f"{pointer}/{i}")
            return errors
    return _convert_errors(value, annotation, pointer)


def _convert_errors(value: Any, annotation: Any, pointer: str, shallow: bool = False) -> list[FieldError]:
    try:
        if shallow:
            _check_len(value, annotation)
        else:
            msgspec.convert(value, annotation, strict=False)
    except msgspec.ValidationError as exc:
        ptr, message = pointer_from_message(str(exc), pointer)
        return [FieldError(ptr, message)]
    return []


def _check_len(value: list[Any] | dict[Any, Any], annotation: Any) -> None:
    """Check only the container's own bounds (items are checked one by one by the caller)."""
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        for meta in args[1:]:
            if isinstance(meta, msgspec.Meta):
                if meta.max_length is not None and len(value) > meta.max_length:
                    kind = "object" if isinstance(value, dict) else "array"
                    raise msgspec.ValidationError(f"Expected `{kind}` of length <= {meta.max_length}")
                if meta.min_length is not None and len(value) < meta.min_length:
                    kind = "object" if isinstance(value, dict) else "array"
                    raise msgspec.ValidationError(f"Expected `{kind}` of length >= {meta.min_length}")
        annotation = args[0]


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__
    )


def convert(raw: Any, cls: type[T], base: str = "") -> T:
    """Turn decoded JSON into ``cls`` or raise :class:`ValidationFailed` listing every bad field."""
    errors = collect_errors(raw, cls, base)
    if errors:
        raise ValidationFailed(errors)
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:  # cross-field checks in __post_init__
        ptr, message = pointer_from_message(str(exc), base)
        raise ValidationFailed([FieldError(ptr, message)]) from None


def nul_errors(value: Any, base: str = "") -> list[FieldError]:
    """Strings holding a NUL character, which PostgreSQL cannot store: refused on every backend."""
    if isinstance(value, str):
        return [FieldError(base, "Text may not contain the NUL character (\\u0000).")] if "\x00" in value else []
    errors: list[FieldError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{base}/{escape(str(key))}"
            if "\x00" in str(key):
                errors.append(FieldError(where, "Keys may not contain the NUL character (\\u0000)."))
            errors += nul_errors(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            errors += nul_errors(item, f"{base}/{i}")
    return errors
