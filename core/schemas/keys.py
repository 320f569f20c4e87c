"""API keys: scoped credentials of a workspace, shown once and stored hashed."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .common import ApiKeyId, Label, Strict, Timestamp

Scope = Literal["read", "write", "ingest", "admin"]
SCOPES: tuple[str, ...] = ("read", "write", "ingest", "admin")


class ApiKeyCreate(Strict):
    name: Label
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=4)]


class ApiKey(msgspec.Struct, kw_only=True):
    id: ApiKeyId
    object: Literal["api_key"] = "api_key"
    name: Label
    prefix: Annotated[str, Meta(max_length=32, description="The key's public prefix, to recognise it.")]
    scopes: Annotated[list[Scope], Meta(max_length=4)]
    created_at: Timestamp
    revoked_at: Timestamp | None


class ApiKeyCreated(ApiKey, kw_only=True):
    """The new key with its secret, which is shown this once and never again."""

    secret: Annotated[str, Meta(max_length=128, description="The key itself: send it as a bearer token.")]


def allows(granted: list[str] | tuple[str, ...], needed: str) -> bool:
    """Whether ``granted`` scopes cover ``needed``: admin covers all, write covers read."""
    if "admin" in granted or needed in granted:
        return True
    return needed == "read" and "write" in granted
