"""Brands: who speaks, with an identity and the handles that count as the brand speaking."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .common import BrandId, Handles, Labels, Name, Strict, Timestamp

Tone = Annotated[str, Meta(max_length=500, description="How the brand sounds, in a few words.")]


class BrandIdentity(Strict):
    """What the brand stands for; topic fit and risk rules read it."""

    values: Labels = []
    keywords: Labels = []
    tone: Tone | None = None
    owned_topics: Labels = []
    avoided_topics: Labels = []


class BrandCreate(Strict):
    name: Name
    identity: BrandIdentity = msgspec.field(default_factory=BrandIdentity)
    handles: Handles = {}


class BrandUpdate(Strict):
    """Partial update: fields left out keep their value; objects given replace the stored one whole."""

    name: Name | UnsetType = UNSET
    identity: BrandIdentity | UnsetType = UNSET
    handles: Handles | UnsetType = UNSET


class Brand(msgspec.Struct, kw_only=True):
    id: BrandId
    object: Literal["brand"] = "brand"
    name: Name
    identity: BrandIdentity
    handles: Handles
    created_at: Timestamp
    updated_at: Timestamp


BRAND_EXAMPLE = {
    "name": "Acme Coffee",
    "identity": {
        "values": ["craft", "fair trade"],
        "keywords": ["espresso", "roastery"],
        "tone": "warm, witty",
        "owned_topics": ["coffee culture"],
        "avoided_topics": ["politics"],
    },
    "handles": {"x": "@acmecoffee", "instagram": "acme.coffee"},
}
