"""Scorecards: metrics of a scope over a period, beside their targets."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .common import BrandId, CampaignId, Network, Timestamp, TribeId

Short = Annotated[str, Meta(max_length=200)]
Granularity = Literal["total", "day", "week", "month"]


class Scope(msgspec.Struct, kw_only=True):
    brand_id: BrandId
    campaign_id: CampaignId | None = None
    tribe_id: TribeId | None = None
    network: Network | None = None


class Period(msgspec.Struct, kw_only=True):
    """Whole UTC days: ``from`` included, ``to`` excluded."""

    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")


class MetricValue(msgspec.Struct, kw_only=True):
    name: Short
    family: Literal["vanity", "relationship", "pushpull", "authenticity", "risk"]
    value: float | None
    unit: Short
    numerator: Annotated[float | None, Meta(
        description="A rate's dividend (`value` = numerator ÷ denominator); null for any other metric.")]
    denominator: Annotated[float | None, Meta(
        description="A rate's divisor, or how many values an average or a median is over; null for a count or a "
                    "sum. Where it is 0, `value` is null.")]
    target: float | None = None
    comparison: Literal["gte", "gt", "lte", "lt", "eq"] | None = None
    met: bool | None = None


class SeriesPoint(msgspec.Struct, kw_only=True):
    period: Period
    metrics: Annotated[list[MetricValue], Meta(max_length=500)]


class Scorecard(msgspec.Struct, kw_only=True):
    object: Literal["scorecard"] = "scorecard"
    scope: Scope
    period: Period
    granularity: Granularity
    metrics: Annotated[list[MetricValue], Meta(max_length=500)]
    series: Annotated[list[SeriesPoint], Meta(max_length=400)] | None
    fresh_as_of: Timestamp | None
    """When the aggregates were last brought up to date (null: never aggregated yet)."""
    pending: bool
    """Events arrived since ``fresh_as_of``, a kit message changed (past posts are measured
    against it again), or past events changed in a way that calls for a rebuild (a merge or
    tribe edit too large to recount at once); an aggregation (or a rebuild) will pick them up
    shortly."""
    errors: Annotated[list[Annotated[str, Meta(max_length=2000)]], Meta(max_length=100)] = []
    """Metrics whose computation failed (a plugin's, for instance), named with their plugin."""


class Comparison(msgspec.Struct, kw_only=True):
    object: Literal["scorecard_comparison"] = "scorecard_comparison"
    scorecards: Annotated[list[Scorecard], Meta(max_length=20)]
