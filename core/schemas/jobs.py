"""Jobs: long work (aggregation, rebuilds) recorded in the database and run by workers."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .common import BrandId, Strict, Timestamp, id_of

JobKind = Literal["scorecards.aggregate", "scorecards.rebuild"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]
JobId = id_of("job", "job")


class JobParams(Strict):
    brand_id: BrandId


class JobCreate(Strict):
    """``scorecards.aggregate`` brings a brand's scorecards up to date with its new events;
    ``scorecards.rebuild`` recomputes them from all its events."""

    kind: JobKind
    params: JobParams


Count = Annotated[int, Meta(ge=0)]


class JobResult(msgspec.Struct, kw_only=True, omit_defaults=True):
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
    result: JobResult | None
    errors: Annotated[list[Annotated[str, Meta(max_length=2000)]], Meta(max_length=100)] | None


JOB_EXAMPLE = {"kind": "scorecards.aggregate", "params": {"brand_id": "brd_01JD0000000000000000000000"}}
