"""Connections, with their configuration checked by the network's connector."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import sqlalchemy as sa

from .. import tables as t
from ..errors import FieldError, ValidationFailed
from ..ids import new_id
from ..jobs import SYNC, every_stream
from ..plugins import Registry
from ..schemas.common import Page
from ..schemas.connections import (DEFAULT_SYNC_EVERY, Connection, ConnectionCreate, ConnectionUpdate, LastSync,
                                   StreamState)
from .context import Caller, Service
from .resources import ResourceService

SECRET_WORDS = ("secret", "token", "password")


def masked(config: dict[str, Any]) -> dict[str, Any]:
    return {k: "********" if any(w in k.lower() for w in SECRET_WORDS) and v else v for k, v in config.items()}


class ConnectionService(ResourceService[Connection]):
    table = t.connections
    kind = "connection"

    def __init__(self, conn: Any, caller: Caller, registry: Registry) -> None:
        Service.__init__(self, conn, caller)
        self.registry = registry

    def _scoped(self) -> sa.Select[Any]:
        """The connections, each with its latest sync job (joined through the id found for it)
        and when its syncs of every stream were last asked for."""
        c, j = t.connections.c, t.jobs.c
        mine = t.jobs.alias("mine")
        latest = (sa.select(mine.c.id).where(mine.c.subject == c.id, mine.c.kind == SYNC)
                  .order_by(mine.c.created_at.desc(), mine.c.id.desc()).limit(1).correlate(t.connections)
                  .scalar_subquery())
        last = t.jobs.alias("last_sync")
        last_full = (sa.select(sa.func.max(j.created_at)).where(j.subject == c.id, j.kind == SYNC, every_stream())
                     .correlate(t.connections).scalar_subquery())
        return (sa.select(t.connections, last.c.id.label("sync_job"), last.c.status.label("sync_status"),
                          last.c.params.label("sync_params"), last.c.created_at.label("sync_created"),
                          last.c.finished_at.label("sync_finished"), last_full.label("full_sync_asked"))
                .select_from(t.connections.outerjoin(last, last.c.id == latest)).where(c.workspace_id == self.ws))

    def to_item(self, row: Any) -> Connection:
        last = None if row.sync_job is None else LastSync(
            job_id=row.sync_job, status=row.sync_status, stream=(row.sync_params or {}).get("stream"),
            created_at=row.sync_created, finished_at=row.sync_finished)
        every = row.sync_every_minutes
        next_at = None if every is None else (
            row.full_sync_asked + timedelta(minutes=every) if row.full_sync_asked else row.created_at)
        return Connection(id=row.id, brand_id=row.brand_id, network=row.network, name=row.name,
                          config=masked(dict(row.config)), created_at=row.created_at, updated_at=row.updated_at,
                          state={k: msgspec.convert(v, StreamState) for k, v in (row.state or {}).items()},
                          sync_every_minutes=every, last_sync=last, next_sync_at=next_at)

    def _sync_every(self, network: str, minutes: int | None | msgspec.UnsetType) -> int | None:
        """The minutes between the connection's automatic syncs: as given, else 60 for a
        connector that polls; a connector that does not (webhooks, files) takes only null."""
        polls = "polling" in self.registry.connectors[network].item.capabilities
        if isinstance(minutes, msgspec.UnsetType):
            return DEFAULT_SYNC_EVERY if polls else None
        if minutes is not None and not polls:
            raise ValidationFailed([FieldError("/sync_every_minutes", f"The {network} connector does not poll its "
                                                                      "network, so there is nothing to sync: "
                                                                      "leave it out or null.")])
        return minutes

    def _check_config(self, network: str, config: dict[str, Any]) -> None:
        registered = self.registry.connectors.get(network)
        if registered is None:
            known = ", ".join(sorted(self.registry.connectors)) or "none"
            raise ValidationFailed([FieldError("/network", f"No connector for {network!r}; installed: {known}.")])
        try:
            registered.item.parse_config(config)
        except ValidationFailed as exc:
            raise ValidationFailed([FieldError("/config" + e.pointer, e.message) for e in exc.errors]) from None

    async def create(self, data: ConnectionCreate) -> Connection:
        """A connection of one of the caller's brands; its config must satisfy the connector."""
        await self.require_brand(data.brand_id)
        self._check_config(data.network, data.config)
        values = {"id": new_id("connection"), "brand_id": data.brand_id, "network": data.network,
                  "name": data.name, "config": data.config, "state": {},
                  "sync_every_minutes": self._sync_every(data.network, data.sync_every_minutes)}
        return await self.get(await self._insert(values))

    async def update(self, connection_id: str, data: ConnectionUpdate) -> Connection:
        row = await self._row(connection_id)
        values: dict[str, Any] = {}
        if not isinstance(data.name, msgspec.UnsetType):
            values["name"] = data.name
        if not isinstance(data.config, msgspec.UnsetType):
            self._check_config(row.network, data.config)
            values["config"] = data.config
        if data.sync_every_minutes is None:  # never syncing needs no connector
            values["sync_every_minutes"] = None
        elif not isinstance(data.sync_every_minutes, msgspec.UnsetType):
            if row.network not in self.registry.connectors:
                raise ValidationFailed([FieldError("/sync_every_minutes", f"No connector for {row.network!r} is "
                                                                          "installed to sync it.")])
            values["sync_every_minutes"] = self._sync_every(row.network, data.sync_every_minutes)
        return await self._update(connection_id, values)

    async def raw_config(self, connection_id: str) -> tuple[str, str, dict[str, Any]]:
        """(brand id, network, unmasked config), for the sync engine and webhook intake."""
        row = await self._row(connection_id)
        return row.brand_id, row.network, dict(row.config)

    async def list_connections(self, *, limit: int, starting_after: str | None,
                               brand_id: str | None) -> Page[Connection]:
        where = [t.connections.c.brand_id == brand_id] if brand_id else []
        return await self.list(limit=limit, starting_after=starting_after, where=where)
