"""Aggregates do not depend on the order events arrive in, nor on duplicate deliveries."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from ..conftest import bearer
from ..scoring import run_job, values
from .test_scorecards import EXPECTED, KIT, conversation


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """The conversation shuffled, cut into batches, some events delivered twice."""
    events = draw(st.permutations(conversation()))
    again = draw(st.lists(st.sampled_from(events), max_size=8))
    stream = draw(st.permutations(events + again))
    cuts = sorted(draw(st.sets(st.integers(1, len(stream) - 1), max_size=4)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]


def test_any_order_any_batches_same_scorecard(client: TestClient[Any], new_key: Any) -> None:
    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(batches=deliveries())
    def run(batches: list[list[dict[str, Any]]]) -> None:
        headers = bearer(new_key())
        brand = client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "acme"}},
                            headers=headers).json()["id"]
        campaign = client.post("/v1/campaigns", json={
            "brand_id": brand, "name": "C", "mode": "pull", "kit_message": KIT,
            "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2026-03-10T00:00:00Z"}, headers=headers).json()["id"]
        for batch in batches:  # aggregate after every batch: parents and children arrive in any order
            items = [{**e, "brand_id": brand, "campaign_id": campaign} for e in batch]
            assert client.post("/v1/events", json={"events": items}, headers=headers).status_code == 200
            assert run_job(client, headers, brand)["status"] == "succeeded"
        card = client.get("/v1/scorecards", params={"brand_id": brand, "campaign_id": campaign},
                          headers=headers).json()
        assert values(card) == EXPECTED

    run()
