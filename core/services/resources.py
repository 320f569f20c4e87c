"""Shared get / list / delete for workspace-scoped resources; services add create and update."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import msgspec
import sqlalchemy as sa

from ..errors import NotFound
from ..pagination import paginate
from ..schemas.common import Page
from .context import Service, utcnow

T = TypeVar("T", bound=msgspec.Struct)


class ResourceService(Service, Generic[T]):
    """CRUD plumbing over one table whose rows carry ``workspace_id`` and ``id``."""

    table: ClassVar[sa.Table]
    kind: ClassVar[str]

    def to_item(self, row: Any) -> T:
        raise NotImplementedError

    def _scoped(self) -> sa.Select[Any]:
        return sa.select(self.table).where(self.table.c.workspace_id == self.ws)

    async def _row(self, object_id: str) -> Any:
        row = (await self.conn.execute(self._scoped().where(self.table.c.id == object_id))).first()
        if row is None:
            raise NotFound(self.kind, object_id)
        return row

    async def get(self, object_id: str) -> T:
        """The object, or ``NotFound`` when it is not in the caller's workspace."""
        return self.to_item(await self._row(object_id))

    async def list(self, *, limit: int, starting_after: str | None, where: list[Any] | None = None) -> Page[T]:
        """One page, newest first, narrowed by ``where`` clauses."""
        query = self._scoped().where(*(where or []))
        return await paginate(self.conn, query, self.table.c.id, secret=self.caller.cursor_secret, limit=limit,
                              starting_after=starting_after, to_item=self.to_item)

    async def delete(self, object_id: str) -> None:
        """Delete the object and what hangs off it (database cascades)."""
        await self._row(object_id)
        await self.conn.execute(sa.delete(self.table).where(
            self.table.c.workspace_id == self.ws, self.table.c.id == object_id))

    async def _insert(self, values: dict[str, Any]) -> str:
        now = utcnow()
        values = {"workspace_id": self.ws, "created_at": now, "updated_at": now, **values}
        await self.conn.execute(sa.insert(self.table).values(**values))
        return str(values["id"])

    async def _update(self, object_id: str, values: dict[str, Any]) -> T:
        if values:
            await self.conn.execute(sa.update(self.table).where(
                self.table.c.workspace_id == self.ws, self.table.c.id == object_id
            ).values(**values, updated_at=utcnow()))
        return await self.get(object_id)



def changes(update: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body sets, as builtins ready for the database."""
    return {
        name: msgspec.to_builtins(value) if isinstance(value, (msgspec.Struct, list, dict)) else value
        for name in update.__struct_fields__
        if (value := getattr(update, name)) is not msgspec.UNSET
    }
