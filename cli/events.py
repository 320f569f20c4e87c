"""``tribeops events import FILE.ndjson``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from tribeops.core.db import Database
from tribeops.core.importer import ImportSummary, import_file
from tribeops.core.migrate import upgrade
from tribeops.core.runtime import Runtime
from tribeops.core.services.workspaces import ensure_workspace
from tribeops.core.settings import Settings

from .process import tune_gc


@click.group("events")
def events_group() -> None:
    """KPI events."""


@events_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workspace", default="default", show_default=True, help="Workspace the events belong to.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 1000))
def events_import(file: Path, workspace: str, batch_size: int) -> None:
    """Stream FILE (one event per line, as in POST /v1/events) through ingestion.

    Safe to re-run: events already stored count as duplicates. Rejected lines go to
    FILE.rejected.ndjson with their line number and errors.
    """
    settings = Settings.from_env()
    upgrade(settings.database_url)
    summary = asyncio.run(_run(settings, file, workspace, batch_size))
    click.echo(f"{summary.lines} lines: {summary.accepted} accepted, {summary.duplicates} duplicates, "
               f"{summary.rejected} rejected", err=True)
    if summary.rejected_file:
        click.echo(f"Rejected lines and why: {summary.rejected_file}", err=True)


async def _run(settings: Settings, file: Path, workspace: str, batch_size: int) -> ImportSummary:
    runtime = Runtime.create(settings, Database.from_settings(settings))
    runtime.db.start()  # the WAL checkpointer, off the import's write path
    tune_gc()
    try:
        async with runtime.db.transaction() as conn:
            caller = await ensure_workspace(conn, workspace)
        with click.progressbar(length=file.stat().st_size, label=f"Importing {file.name}",
                               file=click.get_text_stream("stderr")) as bar:
            return await import_file(runtime, caller, file, batch_size, progress=bar.update)
    finally:
        await runtime.close()
