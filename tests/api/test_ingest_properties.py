"""Ingestion properties: whatever the mix, order and retries, exactly the valid events are stored once."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from tribeops.testing.events import EventBuilder

from ..conftest import bearer

BAD = {  # how to spoil an event, and the pointer the rejection must name
    "kind": ({"kind": "teleport"}, "/kind"),
    "time": ({"occurred_at": "not a time"}, "/occurred_at"),
    "future": ({"occurred_at": "2999-01-01T00:00:00Z"}, "/occurred_at"),
    "actor": ({"actor": {"handle": "no id"}}, "/actor/id"),
    "extra": ({"colour": "red"}, "/colour"),
    "value": ({"value": "a lot"}, "/value"),
}


@st.composite
def batches(draw: st.DrawFn, pool: list[dict[str, Any]]) -> list[list[tuple[dict[str, Any], str | None]]]:
    """Several batches drawn from a pool of valid events, each item maybe spoilt, repeated or reordered."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        items = []
        for event in draw(st.lists(st.sampled_from(pool), min_size=1, max_size=25)):
            spoil = draw(st.none() | st.sampled_from(sorted(BAD)))
            items.append(({**event, **BAD[spoil][0]} if spoil else event, spoil))
        out.append(draw(st.permutations(items)))
    return out


def test_random_batches_store_exactly_the_unique_valid_events(client: TestClient[Any], new_key: Any) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        headers = bearer(new_key())
        brand = client.post("/v1/brands", json={"name": "B"}, headers=headers).json()["id"]
        builder = EventBuilder(brand)
        pool = [builder.like() for _ in range(30)]
        stored_ids: set[str] = set()
        for batch in data.draw(batches(pool)):
            body = client.post("/v1/events", json={"events": [item for item, _ in batch]}, headers=headers).json()
            expected = {i: BAD[spoil][1] for i, (_, spoil) in enumerate(batch) if spoil}
            assert {r["index"]: r["errors"][0]["pointer"] for r in body["rejected"]} == expected
            valid_ids = [item["id"] for item, spoil in batch if not spoil]
            new = set(valid_ids) - stored_ids
            assert body["accepted"] == len(new)
            assert body["duplicates"] == len(valid_ids) - len(new)
            stored_ids |= new
        exported = client.get("/v1/events/export", params={"brand_id": brand}, headers=headers).text.splitlines()
        assert len(exported) == len(stored_ids)

    run()


def test_concurrent_identical_batches_store_each_event_once(client: TestClient[Any], admin: dict[str, str],
                                                            brand: dict[str, Any]) -> None:
    builder = EventBuilder(brand["id"])
    batch = [builder.comment(actor=f"fan{i % 40}", text=f"hello {i}") for i in range(300)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda _: client.post("/v1/events", json={"events": batch}, headers=admin).json(),
                               range(6)))
    assert sum(b["accepted"] for b in bodies) == 300
    assert all(b["accepted"] + b["duplicates"] == 300 for b in bodies)
    lines = client.get("/v1/events/export", params={"brand_id": brand["id"]}, headers=admin).text.splitlines()
    assert len(lines) == 300
    members = client.get("/v1/members", params={"brand_id": brand["id"], "limit": 100}, headers=admin).json()
    assert len(members["data"]) == 40
