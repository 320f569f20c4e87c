"""Bounded building blocks shared by every resource schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

import msgspec
from msgspec import Meta

T = TypeVar("T")

Name = Annotated[str, Meta(min_length=1, max_length=200, description="A display name.")]
Label = Annotated[str, Meta(min_length=1, max_length=100)]
Text = Annotated[str, Meta(max_length=5000)]
Network = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=32,
        pattern="^[a-z][a-z0-9_]*$",
        description="A network's short name: x, facebook, instagram, youtube, reddit, mastodon, bluesky, rss, csv...",
        examples=["instagram"],
    ),
]
Handle = Annotated[str, Meta(min_length=1, max_length=100, description="An account's handle on a network.")]
Timestamp = Annotated[datetime, Meta(tz=True, description="RFC 3339 date-time with a time zone.")]
Labels = Annotated[list[Label], Meta(max_length=100)]
Networks = Annotated[list[Network], Meta(max_length=32)]
Handles = Annotated[dict[Network, Handle], Meta(max_length=32)]
Mode = Literal["push", "pull"]


def id_of(prefix: str, what: str) -> object:
    """An ``Annotated`` id type, e.g. ``id_of("brd", "brand")``."""
    return Annotated[
        str,
        Meta(  # no min_length: a short value is then told the pattern, which shows what an id looks like
            max_length=30,
            pattern=f"^{prefix}_[0-9A-HJKMNP-TV-Z]{{26}}$",
            description=f"The id of a {what}.",
            examples=[f"{prefix}_01JD0000000000000000000000"],
        ),
    ]


BrandId = id_of("brd", "brand")
TribeId = id_of("trb", "tribe")
CampaignId = id_of("cmp", "campaign")
ApiKeyId = id_of("key", "API key")
JobId = id_of("job", "job")
JobStatus = Literal["queued", "running", "succeeded", "failed"]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list, newest first. Pass ``next_cursor`` as ``starting_after`` for the next."""

    object: Literal["list"] = "list"
    data: Annotated[list[T], Meta(max_length=100)]
    has_more: bool
    next_cursor: Annotated[str, Meta(max_length=200)] | None


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused, not ignored."""
