"""Strict conversion lists every bad field with a JSON pointer."""

from __future__ import annotations

import json

import msgspec
import pytest

from tribeops.core import ingest
from tribeops.core.errors import ValidationFailed
from tribeops.core.schemas.campaigns import CampaignCreate
from tribeops.core.schemas.events import EventIn
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


BATCH_EVENT = {"id": "e1", "brand_id": BRAND, "network": "x", "kind": "like", "occurred_at": "2026-03-01T09:00:00Z",
               "actor": {"id": "1", "handle": "anna", "followers": "12"}, "value": "3"}


@pytest.mark.parametrize("body", [
    {"events": [BATCH_EVENT, {**BATCH_EVENT, "id": "e2", "kind": "teleport", "text": "hi"}]},  # kinds: checked later
    {"events": [BATCH_EVENT], "extra": 1},
    {"events": [BATCH_EVENT, {**BATCH_EVENT, "surprise": True}]},
    {"events": [{**BATCH_EVENT, "occurred_at": "yesterday"}]},
    {"events": [{**BATCH_EVENT, "text": "nul \u0000 here"}]},
    {"events": [BATCH_EVENT] * 1001},
    {"events": []},
    {"events": "x"},
    [BATCH_EVENT],
])
def test_a_batch_decoded_in_one_go_is_what_item_by_item_makes_of_it(body: object) -> None:
    """The typed decode of a whole ``POST /v1/events`` body either gives exactly the events the
    item-by-item way would (coercions included), or steps aside (None) whenever that way would
    reject the envelope or an item, or look for NUL characters."""
    raw = json.dumps(body).encode()
    fast = ingest.decoded(raw)
    try:
        items = ingest.envelope(json.loads(raw))
    except ValidationFailed:
        assert fast is None
        return
    converted = []
    for item in items:
        try:
            converted.append(msgspec.convert(item, EventIn, strict=False))
        except msgspec.ValidationError:
            assert fast is None
            return
    if b"\\u0000" in raw:
        assert fast is None
        return
    assert fast == converted and fast[0].value == 3.0 and fast[0].actor.followers == 12
