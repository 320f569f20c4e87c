"""What every service call knows about its caller."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection


class Caller(msgspec.Struct, frozen=True):
    """An authenticated caller: its workspace, its key and the key's scopes."""

    workspace_id: str
    cursor_secret: str
    key_id: str | None = None
    scopes: tuple[str, ...] = ()


class Service:
    """Base of the services: a connection in a transaction, scoped to one workspace."""

    def __init__(self, conn: AsyncConnection, caller: Caller) -> None:
        self.conn = conn
        self.caller = caller
        self.ws = caller.workspace_id


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
