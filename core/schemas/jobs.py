"""Jobs: long work (aggregation, rebuilds) recorded in the database and run by workers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from .common import BrandId, Strict, Timestamp

JobKind = Literal["scorecards.aggregate", "scorecards.rebuild"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]
JobId = Annotated[str, Meta(min_length=30, max_length=30, pattern="^job_[0-9A-HJKMNP-TV-Z]{26}$")]


class JobParams(Strict):
    brand_id: BrandId


class JobCreate(Strict):
    """``scorecards.aggregate`` brings a brand's scorecards up to date with its new events;
    ``scorecards.rebuild`` recomputes them from all its events."""

    kind: JobKind
    params: JobParams


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
    result: Annotated[dict[Annotated[str, Meta(max_length=64)], Any], Meta(max_length=50)] | None
    errors: Annotated[list[Annotated[str, Meta(max_length=2000)]], Meta(max_length=100)] | None


JOB_EXAMPLE = {"kind": "scorecards.aggregate", "params": {"brand_id": "brd_01JD0000000000000000000000"}}
