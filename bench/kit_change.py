"""Kit message benchmark: what a new kit message costs, beside the rebuild it no longer triggers.

    python bench/kit_change.py --db both [--history 1000000]

For each database: a brand's history as in bench/aggregate.py (setup, not measured), with every
fifth member post, share and mention in a campaign and half of those copies of its kit message
(setup). It times a rebuild of the brand, then the brand's next run after each of three kit
changes (as ``PATCH /v1/campaigns/{id}`` and the scheduler do them):

- an unrelated message: every copy stops being one;
- the first message again: every copy is one again;
- a small edit of it: every measure changes, few copies stop being one.

Each run measures the campaign's events against the new message and recounts those whose
counted facts changed. At the end a rebuild checks that the runs left the same figures.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from aggregate import brand_with_history, plain_scan
from common import history_benchmark

from tribeops.core import aggregate
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.campaigns import CampaignCreate, CampaignUpdate
from tribeops.core.services.campaigns import CampaignService
from tribeops.core.settings import Settings

KIT = "Show us your morning cup with #MyAcmeMorning"
CHANGES = (("an unrelated message", "Tea time is the best time of the day"), ("the first message again", KIT),
           ("a small edit of it", KIT + " today"))


async def copies(runtime: Runtime, brand: str) -> tuple[int, int]:
    """The brand's campaign posts with text, and the copies among them, as the rollups count them."""
    async with runtime.db.reading() as conn:
        row = (await conn.execute(sa.text("SELECT SUM(mega_text), SUM(mega_copy) FROM rollups WHERE brand_id = :b "
                                          "AND tribe = '*'"), {"b": brand})).one()
    return int(row[0] or 0), int(row[1] or 0)


async def timed(runtime: Runtime, kind: str, ws: str, brand: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = await aggregate.run(runtime.db, kind, ws, brand)
    return time.perf_counter() - started, result


async def bench(url: str, backend: str, history: int) -> None:
    runtime = Runtime.create(Settings(database_url=url))
    try:
        caller, brand, _ = await brand_with_history(runtime, "big", history, 2)
        ws = caller.workspace_id
        async with runtime.db.transaction() as conn:
            campaign = (await CampaignService(conn, caller).create(CampaignCreate(
                brand_id=brand, name="Mornings", mode="push", kit_message=KIT))).id
            await conn.execute(sa.text(
                "UPDATE events SET campaign_id = :c, text = CASE WHEN seq % 10 = 0 THEN :k ELSE text END, "
                "kit_similarity = CASE WHEN seq % 10 = 0 THEN 1.0 ELSE 0.0 END WHERE brand_id = :b "
                "AND origin = 'member' AND kind IN ('post', 'share', 'mention') AND seq % 5 = 0"),
                {"c": campaign, "k": KIT, "b": brand})
        rebuild, _ = await timed(runtime, "scorecards.rebuild", ws, brand)
        scan = await plain_scan(runtime.db, brand)
        text, copied = await copies(runtime, brand)
        print(f"[{backend}] history {history:,} events; {text:,} campaign posts with text, {copied:,} copies")
        print(f"  rebuild (what a kit change used to run): {rebuild:6.2f} s   (plain GROUP BY scan: {scan:.2f} s)")
        for what, kit in CHANGES:
            async with runtime.db.transaction() as conn:
                await CampaignService(conn, caller).update(campaign, CampaignUpdate(kit_message=kit))
            elapsed, result = await timed(runtime, "scorecards.aggregate", ws, brand)
            print(f"  kit changed to {what + ':':25} {elapsed:6.2f} s  ({elapsed / rebuild:.2f} of the rebuild); "
                  f"{result['kit_similarities_changed']:,} measures changed, {result['kit_events_recounted']:,} "
                  f"events recounted; copies now {(await copies(runtime, brand))[1]:,}")
        counted = await copies(runtime, brand)
        await timed(runtime, "scorecards.rebuild", ws, brand)
        print(f"  a rebuild afterwards finds the same figures: {await copies(runtime, brand) == counted}")
    finally:
        await runtime.close()


def main() -> None:
    history_benchmark(__doc__, "kit", lambda url, backend, history, _: bench(url, backend, history),
                      big=False)


if __name__ == "__main__":
    main()
