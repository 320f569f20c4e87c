"""/v1/api-keys (admin scope)"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post

from tribeops.core.schemas.common import Page
from tribeops.core.schemas.keys import ApiKey, ApiKeyCreate, ApiKeyCreated
from tribeops.core.services.workspaces import ApiKeyService

from ..creating import IdempotencyKey, create
from ..docs import CREATED, READ_ERRORS, WRITE_ERRORS, IdParam, Limit, StartingAfter, body, problems
from ..auth import CallerDep
from ..state import Runtime

KeyIdParam = Annotated[str, IdParam]
ADMIN = {"scope": "admin"}


class ApiKeyController(Controller):
    path = "/api-keys"
    tags = ["API keys"]

    @post(operation_id="createApiKey", summary="Create an API key", opt=ADMIN, status_code=201,
          responses=problems(*WRITE_ERRORS), response_headers=CREATED)
    async def create_api_key(
        self, request: Request[Any, Any, Any], runtime: Runtime, caller: CallerDep,
        data: Annotated[ApiKeyCreate, body({"name": "ingest from CRM", "scopes": ["ingest"]}, "The key to create.")],
        idempotency_key: Annotated[str | None, IdempotencyKey] = None,
    ) -> Response[ApiKeyCreated]:
        """A new key; its `secret` is in this response only, so store it now."""
        return await create(request, runtime, caller, lambda conn: ApiKeyService(conn, caller).create(data),
                            "/v1/api-keys")

    @get(operation_id="listApiKeys", summary="List API keys", opt=ADMIN, responses=problems(*READ_ERRORS))
    async def list_api_keys(self, runtime: Runtime, caller: CallerDep, limit: Limit = 20,
                            starting_after: StartingAfter = None) -> Page[ApiKey]:
        """The workspace's keys, revoked ones included, never with their secrets."""
        async with runtime.db.reading() as conn:
            return await ApiKeyService(conn, caller).list(limit, starting_after)

    @get("/{key_id:str}", operation_id="getApiKey", summary="Get an API key", opt=ADMIN,
         responses=problems(*READ_ERRORS))
    async def get_api_key(self, runtime: Runtime, caller: CallerDep, key_id: KeyIdParam) -> ApiKey:
        async with runtime.db.reading() as conn:
            return await ApiKeyService(conn, caller).get(key_id)

    @delete("/{key_id:str}", operation_id="revokeApiKey", summary="Revoke an API key", opt=ADMIN,
            status_code=200, responses=problems(*READ_ERRORS))
    async def revoke_api_key(self, runtime: Runtime, caller: CallerDep, key_id: KeyIdParam) -> ApiKey:
        """Revoke the key at once; it stays listed with its `revoked_at`."""
        async with runtime.db.transaction() as conn:
            key = await ApiKeyService(conn, caller).revoke(key_id)
        runtime.keys.forget_key(key_id)
        return key
