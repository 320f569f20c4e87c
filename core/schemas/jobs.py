"""Jobs: long work (aggregation, rebuilds, connection syncs) recorded in the database and run by workers."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .common import BrandId, JobId, JobStatus, Strict, Timestamp
from .connections import ConnectionId, StreamName, SyncReport

JobKind = Literal["scorecards.aggregate", "scorecards.rebuild", "connections.sync"]


class JobCreateParams(Strict):
    """``brand_id`` for the scorecard jobs; ``connection_id`` (and optionally one ``stream``) for
    a sync, whose brand is the connection's."""

    brand_id: BrandId | None = None
    connection_id: ConnectionId | None = None
    stream: StreamName | None = None
    from_start: Annotated[bool, Meta(description=(
        "A sync: read each stream from its start, as a new connection's first sync does, not from its "
        "checkpoint (what was stored before counts as duplicates; the checkpoint never goes back)."))] = False


class JobCreate(Strict):
    """``scorecards.aggregate`` brings a brand's scorecards up to date with its new events;
    ``scorecards.rebuild`` recomputes them from all its events; ``connections.sync`` fetches what
    a connection's account has new on its network, every stream (or the one given) from its
    checkpointed cursor, and stores it as events."""

    kind: JobKind
    params: JobCreateParams


class JobParams(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The job's brand; for a sync, also its connection, its stream when only one, and
    ``from_start`` when it reads from the start."""

    brand_id: BrandId
    connection_id: ConnectionId | None = None
    stream: StreamName | None = None
    from_start: bool = False


Count = Annotated[int, Meta(ge=0)]


class JobResult(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="object", tag="aggregation"):
    """What an aggregation or a rebuild did."""

    brand_id: BrandId
    from_seq: Annotated[Count, Meta(description="The brand's events were counted up to this `seq` before the job.")]
    to_seq: Annotated[Count, Meta(description="They are counted up to this `seq` now.")]
    events_recomputed: Annotated[Count, Meta(
        description="Aggregations: the events counted again, the new ones and those whose thread they joined "
                    "(their parents and replies).")] | None = None
    kit_similarities_changed: Annotated[Count, Meta(
        description="Campaign events whose similarity to their kit message was measured again and changed "
                    "(every one, in a rebuild; in an aggregation, only after a kit message changed).")] | None = None
    kit_events_recounted: Annotated[Count, Meta(
        description="Aggregations after a kit message changed: the events recounted because they became, or "
                    "stopped being, copies of it.")] | None = None


class SyncResult(msgspec.Struct, kw_only=True, tag_field="object", tag="sync"):
    """What a connection's sync stored, stream by stream (each up to where it stopped, if it failed)."""

    connection_id: ConnectionId
    streams: Annotated[list[SyncReport], Meta(max_length=50)]


class Job(msgspec.Struct, kw_only=True):
    id: JobId
    object: Literal["job"] = "job"
    kind: JobKind
    params: JobParams
    status: JobStatus
    attempts: int
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    result: JobResult | SyncResult | None
    errors: Annotated[list[Annotated[str, Meta(max_length=2000)]], Meta(max_length=100)] | None


JOB_EXAMPLE = {"kind": "scorecards.aggregate", "params": {"brand_id": "brd_01JD0000000000000000000000"}}
SYNC_EXAMPLE = {"kind": "connections.sync", "params": {"connection_id": "con_01JD0000000000000000000000"}}
