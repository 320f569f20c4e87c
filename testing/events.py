"""An event builder for tests: realistic KPI events with a few keyword arguments."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

_counter = itertools.count(1)


class EventBuilder:
    """Builds ``POST /v1/events`` items for one brand.

    >>> events = EventBuilder("brd_...", network="instagram")
    >>> post = events.post(actor="acme", text="New roast!")
    >>> reply = events.comment(actor="anna", in_reply_to=post["post_id"], text="Grazie!")
    """

    def __init__(self, brand_id: str, network: str = "x", start: datetime | None = None, **defaults: Any) -> None:
        self.brand_id = brand_id
        self.network = network
        self.clock = start or datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
        self.defaults = defaults

    def event(self, kind: str, actor: str | dict[str, Any] = "member", minutes: float = 1.0,
              **fields: Any) -> dict[str, Any]:
        """One event of ``kind`` by ``actor`` (a handle, or a whole actor object), ``minutes`` after the last."""
        self.clock += timedelta(minutes=minutes)
        number = next(_counter)
        event: dict[str, Any] = {
            "id": f"evt-{number}", "brand_id": self.brand_id, "network": self.network, "kind": kind,
            "actor": actor if isinstance(actor, dict) else {"id": f"id-{actor.lstrip('@').lower()}", "handle": actor},
            "occurred_at": self.clock.isoformat(),
            "post_id": f"post-{number}", **self.defaults,
        }
        event.update(fields)
        return event

    def post(self, actor: str | dict[str, Any] = "member", **fields: Any) -> dict[str, Any]:
        return self.event("post", actor, **fields)

    def comment(self, actor: str | dict[str, Any] = "member", **fields: Any) -> dict[str, Any]:
        return self.event("comment", actor, **fields)

    def reply(self, actor: str | dict[str, Any] = "member", **fields: Any) -> dict[str, Any]:
        return self.event("reply", actor, **fields)

    def like(self, actor: str | dict[str, Any] = "member", **fields: Any) -> dict[str, Any]:
        return self.event("like", actor, **fields)
