"""Connections: a brand's account on a network, read by that network's connector."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .common import BrandId, Name, Network, Strict, Timestamp, id_of

ConnectionId = id_of("con", "connection")
Config = Annotated[dict[Annotated[str, Meta(max_length=64)], Any], Meta(max_length=50)]


class ConnectionCreate(Strict):
    brand_id: BrandId
    network: Network
    name: Name
    config: Config = {}


class ConnectionUpdate(Strict):
    name: Name | UnsetType = UNSET
    config: Config | UnsetType = UNSET


class StreamState(msgspec.Struct, kw_only=True):
    cursor: Annotated[str, Meta(max_length=200)] | None = None
    synced_at: Annotated[str, Meta(max_length=40)] | None = None


class Connection(msgspec.Struct, kw_only=True):
    """Secrets in ``config`` (keys containing secret, token or password) are shown as ``********``."""

    id: ConnectionId
    object: Literal["connection"] = "connection"
    brand_id: BrandId
    network: Network
    name: Name
    config: Config
    state: Annotated[dict[Annotated[str, Meta(max_length=64)], StreamState], Meta(max_length=50)]
    created_at: Timestamp
    updated_at: Timestamp


CONNECTION_EXAMPLE = {
    "brand_id": "brd_01JD0000000000000000000000",
    "network": "rss",
    "name": "Acme blog",
    "config": {"feed_url": "https://blog.acme.example/feed/"},
}
