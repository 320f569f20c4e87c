"""KPI events: one thing that happened on a network, as integrations and connectors send it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta

from .common import BrandId, CampaignId, Handle, Network, Strict, Timestamp, TribeId

BUILTIN_KINDS: tuple[str, ...] = (
    "follow", "unfollow", "impression", "view", "like", "share", "reply", "comment", "mention", "post", "vote",
    "click", "conversion", "question", "answer",
)
# The built-in kinds by which a member takes part (a plugin's kind does when registered ``active``).
ACTIVE_KINDS: tuple[str, ...] = ("reply", "comment", "share", "mention", "post", "question", "answer", "vote")

Count = Annotated[int, Meta(ge=0, le=10_000_000_000)]
Ref = Annotated[str, Meta(min_length=1, max_length=200)]
KindName = Annotated[str, Meta(min_length=1, max_length=32, pattern="^[a-z][a-z0-9_]*$", examples=["comment"])]
AttrValue = Union[Annotated[str, Meta(max_length=1000)], int, float, bool, None]
Attrs = Annotated[dict[Annotated[str, Meta(min_length=1, max_length=64)], AttrValue], Meta(max_length=50)]
Origin = Literal["brand", "member"]


class Actor(Strict):
    """Who did it: the account's id on the network, and the profile facts known at the time."""

    id: Annotated[str, Meta(min_length=1, max_length=200, description="The account's id on the network.")]
    handle: Handle | None = None
    name: Annotated[str, Meta(max_length=200)] | None = None
    followers: Count | None = None
    following: Count | None = None
    posts: Count | None = None
    listed: Count | None = None
    created_at: Timestamp | None = None
    default_avatar: bool | None = None
    bio: Annotated[str, Meta(max_length=2000)] | None = None
    location: Annotated[str, Meta(max_length=200)] | None = None
    url: Annotated[str, Meta(max_length=2000)] | None = None
    verified: bool | None = None


class EventIn(Strict):
    """A KPI event as sent. ``id`` is the client's own: the dedupe key, forever, per workspace."""

    id: Annotated[str, Meta(min_length=1, max_length=200, description="Client-given id; the dedupe key.")]
    brand_id: BrandId
    network: Network
    kind: KindName
    actor: Actor
    occurred_at: Annotated[datetime, Meta(tz=True, description=(
        "When it happened on the network: RFC 3339 date-time with a time zone, from 2000-01-01 to a day "
        "from now."))]
    campaign_id: CampaignId | None = None
    tribe_id: TribeId | None = None
    conversation_id: Ref | None = None
    post_id: Annotated[str, Meta(min_length=1, max_length=200, description=(
        "The network's id of this post, comment or message, which replies name in `in_reply_to`. Ids are "
        "matched within the workspace whatever the network: where two networks could give the same id, "
        "prefix them (`ig:123`)."))] | None = None
    in_reply_to: Annotated[str, Meta(min_length=1, max_length=200, description=(
        "The `post_id` this event answers, likes or shares."))] | None = None
    value: Annotated[float, Meta(ge=-1e12, le=1e12)] = 1.0
    text: Annotated[str, Meta(max_length=10_000)] | None = None
    paid: bool = False
    attrs: Attrs = msgspec.field(default_factory=dict)


class EventBatch(Strict):
    """The body of ``POST /v1/events``: up to 1000 events, each checked on its own."""

    events: Annotated[list[EventIn], Meta(min_length=1, max_length=1000)]


class ActorRef(msgspec.Struct, kw_only=True):
    id: Annotated[str, Meta(max_length=200)]
    handle: Handle | None


Enrichment = Annotated[dict[Annotated[str, Meta(max_length=64)], AttrValue], Meta(max_length=100)]


class Event(msgspec.Struct, kw_only=True):
    """A stored KPI event, with what tribeops derived from it."""

    id: Annotated[str, Meta(max_length=200)]
    object: Literal["event"] = "event"
    brand_id: BrandId
    campaign_id: CampaignId | None
    tribe_id: TribeId | None
    network: Network
    kind: KindName
    origin: Origin
    paid: bool
    member_id: Annotated[str, Meta(max_length=32)]
    actor: ActorRef
    conversation_id: Ref | None
    post_id: Ref | None
    in_reply_to: Ref | None
    occurred_at: Timestamp
    value: float
    text: Annotated[str, Meta(max_length=10_000)] | None
    attrs: Attrs
    enrichment: Enrichment
    enrichment_errors: Annotated[list[Annotated[str, Meta(max_length=2000)]], Meta(max_length=100)] | None
    ingested_at: Timestamp


EVENT_EXAMPLE = {
    "id": "ig-comment-17890001",
    "brand_id": "brd_01JD0000000000000000000000",
    "campaign_id": "cmp_01JD0000000000000000000000",
    "network": "instagram",
    "kind": "comment",
    "actor": {"id": "17841400000000001", "handle": "anna.brews", "followers": 412, "following": 380},
    "conversation_id": "ig-post-1789",
    "post_id": "ig-comment-17890001",
    "in_reply_to": "ig-post-1789",
    "occurred_at": "2026-03-02T08:15:00Z",
    "text": "Grazie! My morning cup is a cortado #MyAcmeMorning",
}
