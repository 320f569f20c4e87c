"""/v1/events: batch ingestion (scope ``ingest``) and reading."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post

from tribeops.core.ingest import IngestResult, envelope, ingest, notify_ingested
from tribeops.core.schemas.events import EVENT_EXAMPLE, EventBatch

from ..auth import CallerDep
from ..docs import problems
from ..state import Runtime


class EventController(Controller):
    path = "/events"
    tags = ["Events"]

    @post(operation_id="ingestEvents", summary="Send a batch of KPI events", status_code=200,
          opt={"scope": "ingest", "request_body": EventBatch, "request_example": {"events": [EVENT_EXAMPLE]}},
          responses=problems(400, 401, 403, 413, 422))
    async def ingest_events(self, request: Request[Any, Any, Any], runtime: Runtime,
                            caller: CallerDep) -> IngestResult:
        """Store up to 1000 events. Each is checked on its own: valid ones are stored even when
        neighbours are rejected, ids already known count as `duplicates`, and every rejected item
        is listed with its `index` and the fields that were wrong. Retrying a batch is safe."""
        items = envelope(await request.json())
        async with runtime.db.transaction() as conn:
            batch = await ingest(conn, runtime.registry, caller, items)
        await notify_ingested(runtime.core.pm, runtime.registry, caller.workspace_id, batch)
        return batch.result
