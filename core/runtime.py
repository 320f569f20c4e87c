"""A runtime: what one process (API or worker) runs on. Built at start-up, never at import."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pluggy
import sqlalchemy as sa

from . import aggregate, scorecards
from . import tables as t
from .db import Database
from .idempotency import purge
from .plugins import Registry, create_manager
from .safety import notify
from .schemas.scorecards import Scope
from .scorecards import build
from .services.context import Caller
from .settings import Settings


log = logging.getLogger("tribeops")
CHECK_TIMEOUT = 5.0  # seconds each metric has in the check after a job


class Runtime:
    """Settings, the database, and a fresh plugin manager with its registry."""

    def __init__(self, settings: Settings, db: Database, pm: pluggy.PluginManager, registry: Registry) -> None:
        self.settings = settings
        self.db = db
        self.pm = pm
        self.registry = registry

    @classmethod
    def create(cls, settings: Settings, db: Database | None = None, plugins: Sequence[Any] = ()) -> Runtime:
        """Load the plugins (raising ``PluginLoadError`` when they clash) and open the database."""
        pm, registry = create_manager(settings.load_plugins, settings.disable_plugins, plugins)
        return cls(settings, db or Database.from_settings(settings), pm, registry)

    async def start(self) -> None:
        """Start the database's background work, forget expired idempotency keys, then tell the
        plugins the runtime is up.

        A failing ``startup`` is recorded against its plugin; an unreachable database is left
        for ``/readyz`` to report rather than stopping the process.
        """
        self.db.start()
        try:
            async with self.db.transaction() as conn:
                await purge(conn, timedelta(hours=self.settings.idempotency_ttl_hours))
        except Exception as exc:  # noqa: BLE001
            log.warning("could not purge expired idempotency keys: %s", exc)
        for failure in await notify(self.pm, "startup", runtime=self):
            self.registry.record_error(failure.plugin, str(failure))

    async def run_job(self, job: Any) -> dict[str, Any]:
        """Run a claimed job (its row, see :func:`~tribeops.core.jobs.execute`) and return its
        result: an aggregation, a rebuild, or a connection's sync."""
        if job.kind == "connections.sync":
            from .sync import sync_connection  # the sync engine is built on the runtime

            return await sync_connection(self, job.workspace_id, job.params["connection_id"], job.params.get("stream"),
                                         bool(job.params.get("from_start")))
        return await aggregate.run(self.db, job.kind, job.workspace_id, job.params["brand_id"])

    async def check_metrics(self, job: Any) -> list[str]:
        """After a job: run every metric on the brand's latest day with data and return the failures
        (a plugin's metric that raised, say), so the job's result shows them. One day, not the whole
        history, and each metric given :data:`CHECK_TIMEOUT` seconds, not a scorecard's minute:
        automatic aggregations follow every ingest and must stay cheap, and one slow metric would
        otherwise hold up every job (on the embedded default, every brand's). A sync has none:
        its events are counted by the aggregation that follows."""
        if not job.kind.startswith("scorecards."):
            return []
        brand_id = job.params["brand_id"]
        async with self.db.reading() as conn:
            last = (await conn.execute(sa.select(sa.func.max(t.rollups.c.day)).where(
                t.rollups.c.brand_id == brand_id, t.rollups.c.tribe == "*"))).scalar()
            day = date.fromisoformat(last) if last else datetime.now(timezone.utc).date()
            card = await build(conn, self.registry, Caller(workspace_id=job.workspace_id, cursor_secret=""),
                               Scope(brand_id=brand_id), day, day + timedelta(days=1), "total",
                               min(CHECK_TIMEOUT, scorecards.METRIC_TIMEOUT))
        return card.errors

    async def close(self) -> None:
        await self.db.dispose()
