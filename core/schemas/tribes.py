"""Tribes: the communities a brand lives in, each with its own strategy and membership rules."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .common import BrandId, Handle, Labels, Mode, Name, Networks, Strict, Text, TribeId, Timestamp

TribeKind = Literal["customers", "employees", "prospects", "talent", "investors", "fans", "partners", "custom"]
Goal = Annotated[str, Meta(min_length=1, max_length=500)]


class TribeStrategy(Strict):
    """How the brand means to talk with this tribe."""

    mode: Mode = "pull"
    goals: Annotated[list[Goal], Meta(max_length=20)] = []
    networks: Networks = []


class TribeRules(Strict):
    """Who belongs: any listed handle, anyone using a hashtag, or a keyword in their bio or text."""

    handles: Annotated[list[Handle], Meta(max_length=1000)] = []
    hashtags: Labels = []
    keywords: Labels = []


class TribeCreate(Strict):
    brand_id: BrandId
    name: Name
    kind: TribeKind = "custom"
    description: Text | None = None
    strategy: TribeStrategy = msgspec.field(default_factory=TribeStrategy)
    rules: TribeRules = msgspec.field(default_factory=TribeRules)


class TribeUpdate(Strict):
    """Partial update; a tribe cannot move to another brand."""

    name: Name | UnsetType = UNSET
    kind: TribeKind | UnsetType = UNSET
    description: Text | None | UnsetType = UNSET
    strategy: TribeStrategy | UnsetType = UNSET
    rules: TribeRules | UnsetType = UNSET


class Tribe(msgspec.Struct, kw_only=True):
    id: TribeId
    object: Literal["tribe"] = "tribe"
    brand_id: BrandId
    name: Name
    kind: TribeKind
    description: Text | None
    strategy: TribeStrategy
    rules: TribeRules
    created_at: Timestamp
    updated_at: Timestamp


TRIBE_EXAMPLE = {
    "brand_id": "brd_01JD0000000000000000000000",
    "name": "Home baristas",
    "kind": "customers",
    "description": "People who brew at home and talk about it.",
    "strategy": {"mode": "pull", "goals": ["members answer each other"], "networks": ["instagram", "reddit"]},
    "rules": {"handles": [], "hashtags": ["homebarista"], "keywords": ["latte art"]},
}
