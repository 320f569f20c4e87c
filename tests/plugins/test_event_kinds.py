"""A plugin's event kinds: accepted at ingest, and, registered ``active``, counted as taking part."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from tribeops.core.plugin_api import EventKind
from tribeops.core.settings import Settings
from tribeops.testing.events import EventBuilder

from ..scoring import run_job
from .kit import plugin, registering


@pytest.fixture
def tribeops_settings(tribeops_settings: Settings) -> Settings:
    return msgspec.structs.replace(tribeops_settings, load_plugins="", disable_plugins=None)


@pytest.fixture
def tribeops_plugins() -> list[Any]:
    return [plugin("unboxings", **registering(event_kinds=[
        EventKind(name="unboxing", description="A member posted an unboxing video", active=True),
        EventKind(name="peek", description="A member looked at a story"),
    ]))]


def test_a_kind_registered_active_counts_as_taking_part(tribeops_client: TestClient[Any],
                                                         tribeops_headers: dict[str, str],
                                                         tribeops_scorecard: Any) -> None:
    brand = tribeops_client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "acme"}},
                                 headers=tribeops_headers).json()["id"]
    ev = EventBuilder(brand)
    sent = [ev.event("unboxing", actor="anna"), ev.event("peek", actor="bob"), ev.like(actor="carl"),
            ev.event("unboxing", actor="acme")]  # the brand's own: not a member taking part
    assert tribeops_client.post("/v1/events", json={"events": sent}, headers=tribeops_headers).json()["accepted"] == 4

    def active() -> Any:
        card = tribeops_client.get("/v1/scorecards", params={"brand_id": brand}, headers=tribeops_headers).json()
        return {m["name"]: m["value"] for m in card["metrics"]}["active_members"]

    assert run_job(tribeops_client, tribeops_headers, brand)["status"] == "succeeded"
    assert active() == 1  # anna, counted by the incremental run
    card = tribeops_scorecard(brand)  # and by a rebuild
    assert {m["name"]: m["value"] for m in card["metrics"]}["active_members"] == 1
