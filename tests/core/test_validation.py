"""Strict conversion lists every bad field with a JSON pointer."""

from __future__ import annotations

import pytest

from tribeops.core.errors import ValidationFailed
from tribeops.core.schemas.campaigns import CampaignCreate
from tribeops.core.validation import convert, pointer_from_message

BRAND = "brd_01JD0000000000000000000000"


def test_nested_lists_of_structs_are_checked_item_by_item() -> None:
    raw = {"brand_id": BRAND, "name": "C", "mode": "loud",
           "targets": [{"metric": "ok_metric", "comparison": "gte", "value": 1},
                       {"metric": "Bad Metric", "comparison": "gte", "value": 1, "extra": True}]}
    with pytest.raises(ValidationFailed) as caught:
        convert(raw, CampaignCreate)
    pointers = [e.pointer for e in caught.value.errors]
    assert pointers == ["/mode", "/targets/1/extra", "/targets/1/metric"]


def test_valid_input_converts() -> None:
    campaign = convert({"brand_id": BRAND, "name": "C", "mode": "pull", "starts_at": "2026-01-01T10:00:00+02:00"},
                       CampaignCreate)
    assert campaign.starts_at is not None and campaign.starts_at.utcoffset() is not None


@pytest.mark.parametrize(("message", "pointer"), [
    ("Expected `int` - at `$.a[2].b`", "/a/2/b"),
    ("Object contains unknown field `x/y` - at `$.a`", "/a/x~1y"),
    ("Expected `str`", ""),
])
def test_pointers_from_msgspec_messages(message: str, pointer: str) -> None:
    assert pointer_from_message(message)[0] == pointer


def test_ids_sort_by_creation() -> None:
    import time

    from tribeops.core.ids import looks_like, new_id

    first = new_id("brand")
    time.sleep(0.002)
    second = new_id("brand")
    assert first < second and looks_like("brand", first) and not looks_like("tribe", first)


def test_ids_made_together_are_distinct_well_formed_and_carry_their_time(monkeypatch) -> None:
    import time
    from collections import Counter

    from tribeops.core import ids

    monkeypatch.setattr(time, "time", lambda: 1_795_000_000.123)
    batch = ids.new_ids("member", 5000)
    assert len(set(batch)) == 5000 and all(ids.looks_like("member", i) for i in batch)
    # The first ten characters are the time in milliseconds, as the one-at-a-time encoding writes it.
    assert {i[4:14] for i in batch} == {ids._encode(1_795_000_000_123 << 80)[:10]}
    # The random part uses the whole alphabet, about evenly (80 random bits, 5 per character).
    counts = Counter("".join(i[14:] for i in batch))
    assert len(counts) == 32 and max(counts.values()) < 1.2 * min(counts.values())
