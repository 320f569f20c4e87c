"""``tribeops demo``: load the demo dataset, aggregate it, say where to look."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from tribeops.core import demo, jobs
from tribeops.core.bootstrap import issue_key
from tribeops.core.ingest import ingest_batch
from tribeops.core.migrate import upgrade
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.scorecards import Scope
from tribeops.core.scorecards import build
from tribeops.core.services.workspaces import ensure_workspace
from tribeops.core.plugins import create_manager
from tribeops.core.settings import Settings

HEADLINE = ("likes", "impressions", "megaphone_index", "pull_index", "conversation_rate", "reply_back_rate",
            "community_care_share", "member_to_member_share", "thanks", "ambassadors", "after_campaign_activity")


@click.command("demo")
@click.option("--workspace", default="demo", show_default=True)
@click.option("--scale", default=1.5, show_default=True, type=click.FloatRange(0.1, 50),
              help="Multiplies the number of events (1.5: about 35,000).")
@click.option("--host", default="http://127.0.0.1:8000", show_default=True,
              help="Where `tribeops serve` listens, for the curl commands printed at the end. The demo "
                   "writes into TRIBEOPS_DATABASE_URL itself: the service must use the same database.")
def demo_command(workspace: str, scale: float, host: str) -> None:
    """Load a demo brand with a push and a pull campaign and show their scorecards side by side.

    With TRIBEOPS_REDIS_URL set, the aggregation runs on the `tribeops worker`s; otherwise here.
    """
    settings = Settings.from_env()
    create_manager(settings.load_plugins, settings.disable_plugins)  # a plugin that cannot load stops it first
    upgrade(settings.database_url)
    asyncio.run(_demo(settings, workspace, scale, host))


async def _demo(settings: Settings, workspace: str, scale: float, host: str) -> None:
    runtime = Runtime.create(settings)
    try:
        async with runtime.db.transaction() as conn:
            caller = await ensure_workspace(conn, workspace)
            brand, push, pull, _ = await demo.create_brand(conn, caller)
        loaded = await _load(runtime, caller, demo.events(brand, push, pull, scale))
        await runtime.db.bulk_loaded("events")
        click.echo(f"Loaded {loaded} events for brand {brand}.", err=True)
        await _aggregate(runtime, settings, caller.workspace_id, brand)
        key = await issue_key(runtime.db, workspace, ["read"], "demo viewer")
        async with runtime.db.reading() as conn:
            cards = [await build(conn, runtime.registry, caller, Scope(brand_id=brand, campaign_id=c), None, None,
                                 "total") for c in (push, pull)]
        _report(cards, key, host, brand, push, pull)
    finally:
        await runtime.close()


async def _load(runtime: Runtime, caller: Any, stream: Any) -> int:
    batch: list[dict[str, Any]] = []
    total = 0
    with click.progressbar(length=0, label="Loading events", file=click.get_text_stream("stderr")) as bar:
        for event in stream:
            batch.append(event)
            if len(batch) == 1000:
                total += (await ingest_batch(runtime.db, runtime.registry, caller, batch)).result.accepted
                bar.update(len(batch))
                batch = []
        if batch:
            total += (await ingest_batch(runtime.db, runtime.registry, caller, batch)).result.accepted
    return total


async def _aggregate(runtime: Runtime, settings: Settings, workspace_id: str, brand: str) -> None:
    async with runtime.db.transaction() as conn:
        job_id = await jobs.insert_job(conn, workspace_id, "scorecards.rebuild", brand)
    if not settings.redis_url:
        # Left queued while a job of the brand runs elsewhere (a server on the same database):
        # that one's process runs it next.
        while await jobs.execute(runtime.db, job_id, runtime.check_metrics) is None:
            if await jobs.wait(runtime.db, job_id, timeout=1) is not None:
                break
        return
    from tribeops.workers.queue import ArqQueue

    queue = ArqQueue(settings.redis_url)
    await queue.enqueue(job_id)
    await queue.close()
    click.echo("Aggregating on the workers (`tribeops worker`)...", err=True)
    if await jobs.wait(runtime.db, job_id, timeout=600) is None:
        raise click.ClickException(f"job {job_id} did not finish: is `tribeops worker` running?")


def _report(cards: list[Any], key: str, host: str, brand: str, push: str, pull: str) -> None:
    values = [{m.name: m.value for m in card.metrics} for card in cards]
    click.echo(f"\n{'metric':26s} {'push: Summer Blend':>20s} {'pull: morning cup':>20s}")
    for name in HEADLINE:
        row = [f"{v[name]:.3f}" if isinstance(v[name], float) and v[name] % 1 else str(v[name]) for v in values]
        click.echo(f"{name:26s} {row[0]:>20s} {row[1]:>20s}")
    click.echo(f"\nA read-only key for the demo workspace: {key}")
    auth = f"-H 'Authorization: Bearer {key}'"
    click.echo(f"curl {auth} '{host}/v1/scorecards?brand_id={brand}&campaign_id={push}'")
    click.echo(f"curl {auth} '{host}/v1/scorecards?brand_id={brand}&campaign_id={pull}'")
    click.echo(f"curl {auth} '{host}/v1/scorecards/compare?campaign_id={push}&campaign_id={pull}'")
