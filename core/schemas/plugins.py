"""What the plugins brought: the catalogues behind /v1/plugins, /v1/connectors and /v1/metrics."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec
from msgspec import Meta

T = TypeVar("T")
Short = Annotated[str, Meta(max_length=200)]
Long = Annotated[str, Meta(max_length=5000)]
Names = Annotated[list[Short], Meta(max_length=1000)]


class PluginEntry(msgspec.Struct, kw_only=True):
    name: Short
    object: Literal["plugin"] = "plugin"
    version: Short | None
    builtin: bool
    hooks: Names
    registered: Annotated[dict[Short, Names], Meta(max_length=10)]
    errors: Annotated[list[Long], Meta(max_length=100)]


class StreamEntry(msgspec.Struct, kw_only=True):
    name: Short
    key: Short
    cursor_field: Short | None
    is_sorted: Annotated[bool, Meta(description=(
        "Pages come oldest first: the cursor is checkpointed with each page. Otherwise, once the "
        "stream is read to its end."))]


class ConnectorEntry(msgspec.Struct, kw_only=True):
    network: Short
    object: Literal["connector"] = "connector"
    title: Short
    description: Long
    capabilities: Annotated[list[Literal["polling", "webhooks", "files"]], Meta(max_length=3)]
    streams: Annotated[list[StreamEntry], Meta(max_length=100)]
    config_schema: Annotated[dict[Short, Any], Meta(max_length=100)]
    plugin: Short


class MetricEntry(msgspec.Struct, kw_only=True):
    name: Short
    object: Literal["metric"] = "metric"
    family: Literal["vanity", "relationship", "pushpull", "authenticity", "risk"]
    description: Long
    formula: Long
    unit: Short
    version: Short
    plugin: Short


class Catalogue(msgspec.Struct, Generic[T], kw_only=True):
    """A whole catalogue in one page (catalogues are small): ``has_more`` is always false."""

    object: Literal["list"] = "list"
    data: Annotated[list[T], Meta(max_length=10_000)]
    has_more: bool = False
    next_cursor: None = None
