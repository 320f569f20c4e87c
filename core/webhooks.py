"""Webhook intake: the network calls us, the connector checks its signature, core stores the page.

Deliveries carry no API key: the connection id in the URL finds the connection, and the
connector's signature check against the connection's ``webhook_secret`` decides whether the
body is the network's. Subscription challenges are answered with the ``verify_token``.
"""

from __future__ import annotations

from .connectors import PayloadError, WebhookRequest, WebhookResponse
from .errors import NotFound
from .runtime import Runtime
from .services.context import Caller
from .sync import Loaded, SyncReport, commit_page, load_connector


async def _load(runtime: Runtime, connection_id: str) -> Loaded:
    try:
        loaded = await load_connector(runtime, connection_id, None)
    except NotFound:
        raise NotFound("webhook", connection_id) from None
    if "webhooks" not in loaded.connector.capabilities:
        raise NotFound("webhook", connection_id)
    return loaded


async def challenge(runtime: Runtime, connection_id: str, request: WebhookRequest) -> WebhookResponse:
    """Answer the network's subscription check, or 404 when the request is not one."""
    loaded = await _load(runtime, connection_id)
    answer = loaded.connector.answer_challenge(request, str(loaded.row.config.get("verify_token", "")))
    if answer is None:
        raise NotFound("webhook challenge", connection_id)
    return answer


async def deliver(runtime: Runtime, connection_id: str, request: WebhookRequest) -> SyncReport | None:
    """Store a signed delivery; None when the signature does not verify."""
    loaded = await _load(runtime, connection_id)
    if not loaded.connector.verify_webhook(request, str(loaded.row.config.get("webhook_secret", ""))):
        return None
    stream = loaded.connector.webhook_stream()
    page = stream.parse(request.body, loaded.context())
    caller = Caller(workspace_id=loaded.row.workspace_id, cursor_secret="")
    report = SyncReport(connection_id=connection_id, stream=stream.name)
    await commit_page(runtime, caller, connection_id, stream, page, report)
    return report


__all__ = ["PayloadError", "challenge", "deliver"]
