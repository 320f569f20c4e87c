"""/v1/connections: a brand's accounts on networks; webhook intake for the networks."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.exceptions import NotAuthorizedException

from tribeops.core import webhooks
from tribeops.core.connectors import PayloadError, WebhookRequest
from tribeops.core.errors import FieldError, ValidationFailed
from tribeops.core.schemas.common import Page
from tribeops.core.schemas.connections import (CONNECTION_EXAMPLE, Connection, ConnectionCreate, ConnectionUpdate,
                                                SyncReport)
from tribeops.core.schemas.jobs import Job
from tribeops.core.services.connections import ConnectionService

from ..auth import CallerDep
from ..creating import IdempotencyKey, create
from ..docs import (CREATED, READ_ERRORS, RETRY_AFTER, WRITE_ERRORS, IdFilter, IdParam, Limit, StartingAfter, body,
                    problems)
from ..state import Runtime
from .jobs import start_job

ConnectionIdParam = Annotated[str, IdParam]


class ConnectionController(Controller):
    path = "/connections"
    tags = ["Connections"]

    @post(operation_id="createConnection", summary="Connect a brand's account", opt={"scope": "write"},
          status_code=201, responses=problems(*WRITE_ERRORS), response_headers=CREATED)
    async def create_connection(
        self, request: Request[Any, Any, Any], runtime: Runtime, caller: CallerDep,
        data: Annotated[ConnectionCreate, body(CONNECTION_EXAMPLE, "The connection to create.")],
        idempotency_key: Annotated[str | None, IdempotencyKey] = None,
    ) -> Response[Connection]:
        """A brand's account on a network; `config` is checked against the network's connector
        (its schema is in `GET /v1/connectors`). A connector that polls its network syncs the
        connection every `sync_every_minutes` (60 unless given; null: only when asked for), the
        first time at once."""
        return await create(request, runtime, caller,
                            lambda conn: ConnectionService(conn, caller, runtime.registry).create(data),
                            "/v1/connections")

    @get(operation_id="listConnections", summary="List connections", responses=problems(*READ_ERRORS))
    async def list_connections(self, runtime: Runtime, caller: CallerDep, limit: Limit = 20,
                               starting_after: StartingAfter = None,
                               brand_id: Annotated[str | None, IdFilter] = None) -> Page[Connection]:
        async with runtime.db.reading() as conn:
            return await ConnectionService(conn, caller, runtime.registry).list_connections(
                limit=limit, starting_after=starting_after, brand_id=brand_id)

    @get("/{connection_id:str}", operation_id="getConnection", summary="Get a connection",
         responses=problems(*READ_ERRORS))
    async def get_connection(self, runtime: Runtime, caller: CallerDep,
                             connection_id: ConnectionIdParam) -> Connection:
        """The connection with each stream's checkpointed cursor in `state`."""
        async with runtime.db.reading() as conn:
            return await ConnectionService(conn, caller, runtime.registry).get(connection_id)

    @patch("/{connection_id:str}", operation_id="updateConnection", summary="Update a connection",
           opt={"scope": "write"}, responses=problems(*WRITE_ERRORS))
    async def update_connection(self, runtime: Runtime, caller: CallerDep, connection_id: ConnectionIdParam,
                                data: Annotated[ConnectionUpdate, body({"name": "Blog"}, "Fields to change.")]
                                ) -> Connection:
        async with runtime.db.transaction() as conn:
            return await ConnectionService(conn, caller, runtime.registry).update(connection_id, data)

    @post("/{connection_id:str}/sync", operation_id="syncConnection", summary="Sync a connection now",
          opt={"scope": "write"}, status_code=202, responses=problems(400, 401, 403, 404, 409, 422),
          response_headers=[*CREATED, RETRY_AFTER])
    async def sync_connection(self, request: Request[Any, Any, Any], runtime: Runtime, caller: CallerDep,
                              connection_id: ConnectionIdParam,
                              idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response[Job]:
        """Queue a `connections.sync` job for every stream of the connection, as
        `POST /v1/jobs` does, and answer it: poll `Location`. Each stream goes on from its
        checkpointed cursor; the job's `result` counts what each stored."""
        return await start_job(request, runtime, caller, lambda jobs: jobs.sync_now(connection_id))

    @delete("/{connection_id:str}", operation_id="deleteConnection", summary="Delete a connection",
            opt={"scope": "write"}, responses=problems(*READ_ERRORS))
    async def delete_connection(self, runtime: Runtime, caller: CallerDep, connection_id: ConnectionIdParam) -> None:
        """Forget the connection; the events it brought stay."""
        async with runtime.db.transaction() as conn:
            await ConnectionService(conn, caller, runtime.registry).delete(connection_id)


def _webhook_request(request: Request[Any, Any, Any], body: bytes) -> WebhookRequest:
    return WebhookRequest(method=request.method, headers={k.lower(): v for k, v in request.headers.items()},
                          query=dict(request.query_params), body=body)


class WebhookController(Controller):
    """Called by the networks, not by API clients: no API key, the connector checks signatures."""

    path = "/connections/{connection_id:str}/webhook"
    tags = ["Connections"]
    security = [{}]
    opt = {"public": True}

    @get(operation_id="answerWebhookChallenge", summary="Answer a network's webhook subscription check",
         responses=problems(400, 404, 422), media_type="text/plain")
    async def answer_challenge(self, request: Request[Any, Any, Any], runtime: Runtime,
                               connection_id: ConnectionIdParam) -> Response[str]:
        answer = await webhooks.challenge(runtime.core, connection_id, _webhook_request(request, b""))
        return Response(answer.body.decode(), status_code=answer.status, media_type=answer.content_type)

    @post(operation_id="receiveWebhook", summary="Receive a network's signed webhook delivery", status_code=200,
          responses=problems(400, 401, 404, 413, 422))
    async def receive(self, request: Request[Any, Any, Any], runtime: Runtime,
                      connection_id: ConnectionIdParam) -> SyncReport:
        """Verify the network's signature, then store the delivery like one page of a sync."""
        payload = await request.body()
        try:
            report = await webhooks.deliver(runtime.core, connection_id, _webhook_request(request, payload))
        except PayloadError as exc:
            raise ValidationFailed([FieldError("", str(exc))]) from None
        if report is None:
            raise NotAuthorizedException("The delivery's signature does not verify.")
        return report
