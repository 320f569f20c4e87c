"""Members: people across networks, their identities, tribes and activity."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from .common import Network, Strict, Timestamp, TribeId, id_of

MemberId = id_of("mbr", "member")
Short = Annotated[str, Meta(max_length=200)]


class Identity(msgspec.Struct, kw_only=True):
    """One account of the member on one network, with the latest profile facts seen."""

    network: Network
    external_id: Short
    handle: Short | None
    profile: Annotated[dict[Annotated[str, Meta(max_length=32)], Any], Meta(max_length=20)]
    first_seen_at: Timestamp
    last_seen_at: Timestamp


class Activity(msgspec.Struct, kw_only=True):
    events: int
    first_at: Timestamp | None
    last_at: Timestamp | None
    by_kind: Annotated[dict[Annotated[str, Meta(max_length=32)], int], Meta(max_length=100)]
    brand_ids: Annotated[list[Short], Meta(max_length=1000)]


class Member(msgspec.Struct, kw_only=True):
    id: MemberId
    object: Literal["member"] = "member"
    merged_into: MemberId | None
    identities: Annotated[list[Identity], Meta(max_length=1000)]
    tribe_ids: Annotated[list[TribeId], Meta(max_length=1000)]
    created_at: Timestamp
    activity: Activity | None = None
    """Only on ``GET /v1/members/{id}``."""


class MergeRequest(Strict):
    """Join the identities of ``member_id`` (and its events and tribes) into this member."""

    member_id: MemberId


class TribeMemberAdd(Strict):
    member_id: MemberId


class TribeMembership(msgspec.Struct, kw_only=True):
    object: Literal["tribe_membership"] = "tribe_membership"
    tribe_id: TribeId
    member_id: MemberId
    source: Literal["rule", "manual"]
    created_at: Timestamp
