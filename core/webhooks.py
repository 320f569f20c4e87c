"""Webhook intake: the network calls us, the connector checks its signature, core stores the page.

Deliveries carry no API key: the connection id in the URL finds the connection, and the
connector's signature check against the connection's ``webhook_secret`` decides whether the
body is the network's. Subscription challenges are answered with the ``verify_token``.
"""

from __future__ import annotations

import sqlalchemy as sa

from . import tables as t
from .connectors import PayloadError, StreamContext, WebhookRequest, WebhookResponse
from .errors import NotFound
from .runtime import Runtime
from .services.context import Caller
from .sync import SyncReport, commit_page


async def _load(runtime: Runtime, connection_id: str) -> tuple[Caller, StreamContext, object]:
    async with runtime.db.reading() as conn:
        row = (await conn.execute(sa.select(t.connections).where(t.connections.c.id == connection_id))).first()
        handles = None if row is None else (await conn.execute(
            sa.select(t.brands.c.handles).where(t.brands.c.id == row.brand_id))).scalar()
    registered = None if row is None else runtime.registry.connectors.get(row.network)
    if row is None or registered is None or "webhooks" not in registered.item.capabilities:
        raise NotFound("webhook", connection_id)
    cls = registered.item
    connector = cls(cls.parse_config(row.config))
    caller = Caller(workspace_id=row.workspace_id, cursor_secret="")
    context = StreamContext(workspace_id=row.workspace_id, brand_id=row.brand_id, network=row.network,
                            config=connector.config, brand_handles=dict(handles or {}))
    return caller, context, (connector, dict(row.config))


async def challenge(runtime: Runtime, connection_id: str, request: WebhookRequest) -> WebhookResponse:
    """Answer the network's subscription check, or 404 when the request is not one."""
    _, _, (connector, config) = await _load(runtime, connection_id)  # type: ignore[misc]
    answer = connector.answer_challenge(request, str(config.get("verify_token", "")))
    if answer is None:
        raise NotFound("webhook challenge", connection_id)
    return answer


async def deliver(runtime: Runtime, connection_id: str, request: WebhookRequest) -> SyncReport | None:
    """Store a signed delivery; None when the signature does not verify."""
    caller, context, (connector, config) = await _load(runtime, connection_id)  # type: ignore[misc]
    if not connector.verify_webhook(request, str(config.get("webhook_secret", ""))):
        return None
    stream = connector.webhook_stream()
    page = stream.parse(request.body, context)
    report = SyncReport(connection_id=connection_id, stream=stream.name)
    await commit_page(runtime, caller, connection_id, stream, page, report)
    return report


__all__ = ["PayloadError", "challenge", "deliver"]
