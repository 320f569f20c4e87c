"""Bearer API keys: 401 without a valid key, 403 when its scopes do not cover the route."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from tribeops.core.schemas.keys import allows
from tribeops.core.services.context import Caller

from .state import AppState

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tribeops"'}


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard of every /v1 route: resolve the key, check the route's ``opt["scope"]``.

    Routes marked ``opt["public"]`` (webhook intake) authenticate the caller themselves.
    """
    if handler.opt.get("public"):
        return
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("Send an API key as 'Authorization: Bearer <key>'.", headers=CHALLENGE)
    state: AppState = connection.app.state.tribeops
    caller = await state.keys.resolve(token.strip())
    if caller is None:
        raise NotAuthorizedException("Unknown or revoked API key.", headers=CHALLENGE)
    needed = handler.opt.get("scope", "read")
    if not allows(caller.scopes, needed):
        raise PermissionDeniedException(f"This API key lacks the {needed!r} scope this operation needs.")
    connection.state.caller = caller


async def provide_caller(request: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    caller: Caller = request.state.caller
    return caller


async def provide_state(request: ASGIConnection[Any, Any, Any, Any]) -> AppState:
    state: AppState = request.app.state.tribeops
    return state


CallerDep = NamedDependency[Caller]
"""Handler parameter ``caller``: the authenticated caller of a /v1 route."""
