"""The built-in metrics' own bookkeeping, with a stand-in context: what a series shares."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from tribeops.plugins.metrics import returning_members


class Context:
    """A metric context over made-up aggregates: who was active before March, the period's
    members (5 active), and the first active days, from a function given."""

    brand_id, campaign_id, tribe_id, network = "brd_x", None, None, None

    def __init__(self, memo: dict[str, Any], since: str, until: str, first_days: Any) -> None:
        self.memo, self.first_days = memo, first_days
        self.period_from = datetime.fromisoformat(since).replace(tzinfo=timezone.utc)
        self.period_to = datetime.fromisoformat(until).replace(tzinfo=timezone.utc)

    async def scalar(self, sql: str, **params: Any) -> Any:
        assert "LIMIT 1" in sql  # was anyone active before the period? Not before March
        return None if self.period_from <= datetime(2026, 3, 1, tzinfo=timezone.utc) else 1

    async def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        if "member_id) m" in sql:  # active members and ambassadors
            return [(5, 0)]
        return await self.first_days(params["bound"])


async def test_a_series_reads_the_first_days_once_up_to_the_end_of_its_whole_period() -> None:
    bounds = []

    async def first_days(bound: str) -> list[tuple[str, int]]:
        bounds.append(bound)
        return [("2026-03-03", 2), ("2026-03-20", 1), ("2026-04-02", 1), ("2026-04-20", 1)]

    memo: dict[str, Any] = {}
    cards = [await returning_members(Context(memo, since, until, first_days)) for since, until in (
        ("2026-03-01", "2026-05-01"), ("2026-03-01", "2026-04-01"), ("2026-04-01", "2026-04-15"),
        ("2026-04-15", "2026-05-01"))]
    # Nobody returns in the whole period nor in March, which it starts with; in each half of
    # April, 5 active members, one of them first active then. Read once, for the whole period.
    assert [card.value for card in cards] == [0.0, 0.0, 4.0, 4.0]
    assert bounds == ["2026-05-01"]


async def test_a_failed_first_days_pass_fails_every_bucket_without_trying_again() -> None:
    tries = []

    async def timing_out(bound: str) -> list[tuple[str, int]]:
        tries.append(bound)
        raise TimeoutError("statement timeout")

    memo: dict[str, Any] = {}
    with pytest.raises(TimeoutError):
        await returning_members(Context(memo, "2026-03-15", "2026-05-01", timing_out))
    for since, until in (("2026-03-15", "2026-04-01"), ("2026-04-01", "2026-05-01")):
        with pytest.raises(RuntimeError, match="could not be read: TimeoutError"):
            await returning_members(Context(memo, since, until, timing_out))
    assert len(tries) == 1
