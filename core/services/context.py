"""What every service call knows about its caller."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import tables as t
from ..errors import FieldError, ValidationFailed


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

    async def require_brand(self, brand_id: str, pointer: str = "/brand_id") -> None:
        """422 naming ``pointer`` when the brand is not one of the caller's."""
        found = (await self.conn.execute(sa.select(t.brands.c.id).where(
            t.brands.c.workspace_id == self.ws, t.brands.c.id == brand_id))).first()
        if found is None:
            raise ValidationFailed([FieldError(pointer, f"No brand with id {brand_id!r} in this workspace.")])


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
