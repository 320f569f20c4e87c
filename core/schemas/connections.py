"""Connections: a brand's account on a network, read by that network's connector."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .common import BrandId, JobId, JobStatus, Name, Network, Strict, Timestamp, id_of

ConnectionId = id_of("con", "connection")
Config = Annotated[dict[Annotated[str, Meta(max_length=64)], Any], Meta(max_length=50)]
StreamName = Annotated[str, Meta(min_length=1, max_length=64, description="A stream of the connection's connector.")]
SyncEvery = Annotated[int, Meta(ge=1, le=10080, description=(
    "Minutes between automatic syncs (one week at most); null: only when asked for. A connector that "
    "polls gets 60 when it is not given; one that does not (webhooks, files) only takes null."))]
# Minutes between a polling connection's syncs when its creator does not say.
DEFAULT_SYNC_EVERY = 60


class ConnectionCreate(Strict):
    brand_id: BrandId
    network: Network
    name: Name
    config: Config = {}
    sync_every_minutes: SyncEvery | None | UnsetType = UNSET


class ConnectionUpdate(Strict):
    name: Name | UnsetType = UNSET
    config: Config | UnsetType = UNSET
    sync_every_minutes: SyncEvery | None | UnsetType = UNSET


class StreamState(msgspec.Struct, kw_only=True):
    cursor: Annotated[str, Meta(max_length=200)] | None = None
    synced_at: Timestamp | None = None


class LastSync(msgspec.Struct, kw_only=True):
    """The connection's latest sync job (``GET /v1/jobs/{job_id}`` has its result and errors)."""

    job_id: JobId
    status: JobStatus
    stream: StreamName | None
    created_at: Timestamp
    finished_at: Timestamp | None


class Connection(msgspec.Struct, kw_only=True):
    """Secrets in ``config`` (keys containing secret, token or password) are shown as ``********``."""

    id: ConnectionId
    object: Literal["connection"] = "connection"
    brand_id: BrandId
    network: Network
    name: Name
    config: Config
    state: Annotated[dict[Annotated[str, Meta(max_length=64)], StreamState], Meta(max_length=50)]
    sync_every_minutes: SyncEvery | None
    last_sync: LastSync | None
    next_sync_at: Annotated[Timestamp | None, Meta(description=(
        "When the next automatic sync is due: `sync_every_minutes` after the last sync of every stream "
        "was asked for, or at once for one never synced (within the scheduler's tick of a second or "
        "two); null when it syncs only when asked for."))]
    created_at: Timestamp
    updated_at: Timestamp


class SyncReport(msgspec.Struct, kw_only=True):
    """What a sync of one stream (or one webhook delivery) stored."""

    connection_id: ConnectionId
    stream: StreamName
    pages: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    members: int = 0
    cursor: Annotated[str, Meta(max_length=200, description=(
        "The stream's checkpoint after this sync (or delivery): where the next one goes on from."))] | None = None


CONNECTION_EXAMPLE = {
    "brand_id": "brd_01JD0000000000000000000000",
    "network": "rss",
    "name": "Acme blog",
    "config": {"feed_url": "https://blog.acme.example/feed/"},
}
