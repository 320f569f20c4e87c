"""Campaigns: a brief, a kit message, what to track, a period and KPI targets."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .common import BrandId, CampaignId, Labels, Mode, Name, Networks, Strict, Text, Timestamp, TribeId

CampaignStatus = Literal["draft", "scheduled", "active", "paused", "ended", "archived"]
Comparison = Literal["gte", "gt", "lte", "lt", "eq"]
MetricName = Annotated[
    str, Meta(min_length=1, max_length=64, pattern="^[a-z][a-z0-9_]*$", examples=["conversation_rate"])
]
Brieftext = Annotated[str, Meta(max_length=2000)]


class Brief(Strict):
    """What the campaign says, to whom (tribe ids of the same brand), why, and how."""

    what: Brieftext | None = None
    to_whom: Annotated[list[TribeId], Meta(max_length=50)] = []
    why: Brieftext | None = None
    how: Brieftext | None = None


class Target(Strict):
    """A KPI target: ``metric`` compared with ``value`` (e.g. conversation_rate gte 0.2)."""

    metric: MetricName
    comparison: Comparison
    value: Annotated[float, Meta(ge=-1e12, le=1e12)]


Targets = Annotated[list[Target], Meta(max_length=50)]


class CampaignCreate(Strict):
    brand_id: BrandId
    name: Name
    mode: Mode
    brief: Brief = msgspec.field(default_factory=Brief)
    kit_message: Text | None = None
    hashtags: Labels = []
    keywords: Labels = []
    networks: Networks = []
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    status: CampaignStatus = "draft"
    targets: Targets = []


class CampaignUpdate(Strict):
    """Partial update; a campaign cannot move to another brand."""

    name: Name | UnsetType = UNSET
    mode: Mode | UnsetType = UNSET
    brief: Brief | UnsetType = UNSET
    kit_message: Text | None | UnsetType = UNSET
    hashtags: Labels | UnsetType = UNSET
    keywords: Labels | UnsetType = UNSET
    networks: Networks | UnsetType = UNSET
    starts_at: Timestamp | None | UnsetType = UNSET
    ends_at: Timestamp | None | UnsetType = UNSET
    status: CampaignStatus | UnsetType = UNSET
    targets: Targets | UnsetType = UNSET


class Campaign(msgspec.Struct, kw_only=True):
    id: CampaignId
    object: Literal["campaign"] = "campaign"
    brand_id: BrandId
    name: Name
    mode: Mode
    brief: Brief
    kit_message: Text | None
    hashtags: Labels
    keywords: Labels
    networks: Networks
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    status: CampaignStatus
    targets: Targets
    created_at: Timestamp
    updated_at: Timestamp


CAMPAIGN_EXAMPLE = {
    "brand_id": "brd_01JD0000000000000000000000",
    "name": "Share your morning cup",
    "mode": "pull",
    "brief": {
        "what": "Members show how they brew",
        "to_whom": ["trb_01JD0000000000000000000000"],
        "why": "Let the community carry the conversation",
        "how": "Ask, answer, thank; no scripted posts",
    },
    "kit_message": "Show us your morning cup with #MyAcmeMorning",
    "hashtags": ["MyAcmeMorning"],
    "keywords": ["morning cup"],
    "networks": ["instagram", "x"],
    "starts_at": "2026-03-01T00:00:00Z",
    "ends_at": "2026-03-31T00:00:00Z",
    "status": "scheduled",
    "targets": [{"metric": "conversation_rate", "comparison": "gte", "value": 0.2}],
}
