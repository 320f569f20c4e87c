"""Alert sinks are isolated: one failing or hanging sink does not stop the others."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from tribeops.core.alerts import deliver
from tribeops.core.extensions import Alert, AlertSink
from tribeops.core.plugins import create_manager
from tribeops.core.plugin_api import hookimpl


def test_failing_and_slow_sinks_are_recorded_and_the_good_one_still_receives() -> None:
    received: list[Alert] = []

    async def slow(alert: Alert) -> None:
        await asyncio.sleep(5)

    def broken(alert: Alert) -> None:
        raise ConnectionError("sink down")

    class Sinks:
        __name__ = "sinks"

        @hookimpl
        def register_alert_sinks(self, register: Any) -> None:
            register(AlertSink(name="broken", description="raises", send=broken))
            register(AlertSink(name="slow", description="hangs", send=slow, timeout=0.05))
            register(AlertSink(name="good", description="keeps", send=received.append))

    _, registry = create_manager(load="", extra=[Sinks()])
    alert = Alert(kind="flame", severity="warning", workspace_id="wsp", brand_id=None, title="t", detail="d",
                  created_at=datetime.now(timezone.utc))
    failures = asyncio.run(deliver(registry, alert))
    assert received == [alert]
    assert len(failures) == 2 and any("timed out" in f for f in failures) and any("sink down" in f for f in failures)
    assert all(f.startswith("sinks:") for f in failures)
    assert len(registry.plugins["sinks"].errors) == 2
