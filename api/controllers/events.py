"""/v1/events: batch ingestion (scope ``ingest``) and reading."""

from __future__ import annotations

from typing import Any

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Stream

from tribeops.core.ingest import IngestResult, decoded, envelope, ingest_batch, notify_ingested
from tribeops.core.schemas.common import Network, Page, Timestamp
from tribeops.core.schemas.events import EVENT_EXAMPLE, Event, EventBatch, KindName, Origin
from tribeops.core.services.events import EventFilter, EventService, export

from ..auth import CallerDep
from ..docs import READ_ERRORS, IdFilter, Limit, StartingAfter, problems
from ..state import Runtime


NDJSON = "application/x-ndjson"
IdQuery = Annotated[str | None, IdFilter]


class EventController(Controller):
    path = "/events"
    tags = ["Events"]

    @post(operation_id="ingestEvents", summary="Send a batch of KPI events", status_code=200,
          opt={"scope": "ingest", "request_body": EventBatch, "request_example": {"events": [EVENT_EXAMPLE]}},
          responses=problems(400, 401, 403, 413, 415, 422))
    async def ingest_events(self, request: Request[Any, Any, Any], runtime: Runtime,
                            caller: CallerDep) -> IngestResult:
        """Store up to 1000 events. Each is checked on its own: valid ones are stored even when
        neighbours are rejected, ids already known count as `duplicates`, and every rejected item
        is listed with its `index` and the fields that were wrong. Retrying a batch is safe."""
        body = await request.body()
        items: list[Any] | None = decoded(body)
        check_nul = False
        if items is None:  # something is wrong somewhere: item by item, to say what
            items, check_nul = envelope(await request.json()), b"\\u0000" in body
        batch = await ingest_batch(runtime.db, runtime.registry, caller, items, check_nul)
        await notify_ingested(runtime.core.pm, runtime.registry, caller.workspace_id, batch)
        return batch.result

    @get(operation_id="listEvents", summary="List events", responses=problems(*READ_ERRORS))
    async def list_events(self, runtime: Runtime, caller: CallerDep, limit: Limit = 20,
                          starting_after: StartingAfter = None, brand_id: IdQuery = None, campaign_id: IdQuery = None,
                          tribe_id: IdQuery = None, network: FromQuery[Network | None] = None,
                          kind: FromQuery[KindName | None] = None, origin: FromQuery[Origin | None] = None,
                          since: FromQuery[Timestamp | None] = None,
                          until: FromQuery[Timestamp | None] = None) -> Page[Event]:
        """Stored events with what tribeops derived (origin, paid, member, enrichment), last ingested first.
        `tribe_id` matches events tagged with the tribe and its members' untagged events; `since` and
        `until` bound `occurred_at` as [since, until)."""
        f = EventFilter(brand_id=brand_id, campaign_id=campaign_id, tribe_id=tribe_id, network=network, kind=kind,
                        origin=origin, since=since, until=until)
        async with runtime.db.reading() as conn:
            return await EventService(conn, caller).list(f, limit=limit, starting_after=starting_after)

    @get("/export", operation_id="exportEvents", summary="Export events as NDJSON", media_type=NDJSON,
         responses=problems(*READ_ERRORS))
    async def export_events(self, runtime: Runtime, caller: CallerDep, brand_id: IdQuery = None,
                            campaign_id: IdQuery = None, tribe_id: IdQuery = None,
                            network: FromQuery[Network | None] = None, kind: FromQuery[KindName | None] = None,
                            origin: FromQuery[Origin | None] = None, since: FromQuery[Timestamp | None] = None,
                            until: FromQuery[Timestamp | None] = None) -> Stream:
        """Every matching event, one JSON object per line (the `Event` schema), oldest first,
        streamed: exports of any size use constant memory on the server."""
        f = EventFilter(brand_id=brand_id, campaign_id=campaign_id, tribe_id=tribe_id, network=network, kind=kind,
                        origin=origin, since=since, until=until)
        return Stream(export(runtime.db, caller, f), media_type=NDJSON)
