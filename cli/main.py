"""``tribeops``: serve the API, migrate the database, issue keys, export the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from tribeops.core import __version__
from tribeops.core.bootstrap import first_run, issue_key
from tribeops.core.db import Database
from tribeops.core.migrate import upgrade
from tribeops.core.plugins import PluginLoadError, create_manager
from tribeops.core.schemas.keys import SCOPES
from tribeops.core.settings import Settings

from .demo import demo_command
from .events import events_group
from .plugins import connectors_group, plugins_group

OPENAPI_PATH = Path("openapi/openapi.json")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


async def _with_db(settings: Settings, work):  # type: ignore[no-untyped-def]
    db = Database.from_settings(settings)
    try:
        return await work(db)
    finally:
        await db.dispose()


class _Commands(click.Group):
    """The commands, each stopped by a plugin that cannot load with one line naming it (as
    ``tribeops plugins list`` says it), not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PluginLoadError as exc:
            raise click.ClickException(f"a plugin stops start-up: {exc}") from None


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="tribeops")
def main() -> None:
    """tribeops: brand conversation ops, over REST."""


# Every line of the server, the worker and the demo with its time, level and logger, on stderr.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "loggers": {name: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
                for name in ("tribeops", "uvicorn", "uvicorn.error", "arq")},
}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="API processes.")
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations before starting.")
def serve(host: str, port: int, workers: int, no_migrate: bool) -> None:
    """Serve the API (SQLite in ./tribeops.db unless TRIBEOPS_DATABASE_URL says otherwise)."""
    import uvicorn

    settings = _settings()
    create_manager(settings.load_plugins, settings.disable_plugins)  # the app loads them again, in uvicorn
    if not no_migrate:
        upgrade(settings.database_url)
    key = asyncio.run(_with_db(settings, first_run))
    if key:
        click.echo("Created workspace 'default'. Its admin API key, shown this once:\n")
        click.echo(f"    {key}\n")
        click.echo(f"Try: curl -H 'Authorization: Bearer {key}' http://{host}:{port}/v1/brands\n")
    click.echo(f"API docs: http://{host}:{port}/schema  (OpenAPI: /schema/openapi.json)", err=True)
    uvicorn.run("tribeops.cli.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", access_log=False, log_config=LOG_CONFIG)


@main.command()
def worker() -> None:
    """Run an arq worker (needs TRIBEOPS_REDIS_URL): jobs, and the tick that keeps scorecards fresh
    and connections synced.

    If Redis goes away the worker waits and reconnects; jobs are in the database, none is lost.
    """
    import contextlib
    import logging
    import logging.config
    import time

    from arq.worker import Worker
    from redis.exceptions import RedisError

    from tribeops.workers.settings import worker_settings

    logging.config.dictConfig(LOG_CONFIG)
    settings = _settings()
    create_manager(settings.load_plugins, settings.disable_plugins)  # the worker's runtime loads them again
    try:
        options = worker_settings(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    log = logging.getLogger("tribeops.worker")
    wait = 1.0
    while True:
        worker, started = Worker(**options), time.monotonic()
        try:
            worker.run()
            return
        except (ConnectionError, OSError, RedisError) as exc:
            if time.monotonic() - started > 60:  # it had been serving: a new outage, short waits again
                wait = 1.0
            # arq's shutdown hook needs Redis too: the runtime it would have closed is closed here,
            # else each outage would leave a pool of database connections behind.
            runtime = options["ctx"].pop("runtime", None)
            if runtime is not None:
                with contextlib.suppress(Exception):
                    worker.loop.run_until_complete(runtime.close())
            wait = min(wait * 2, 10.0)
            log.warning("Redis unreachable (%s); retrying in %.0f s", exc, wait)
            time.sleep(wait)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION."""
    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"Database at {revision}.", err=True)


@db.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(destination: Path) -> None:
    """Copy the SQLite database to DESTINATION (a new file), consistent even while `serve` runs.

    A plain copy of the file is not: it misses what is still in its write-ahead log. On
    PostgreSQL, use pg_dump.
    """
    from tribeops.core.db import backup_sqlite, sqlite_file

    path = sqlite_file(_settings().database_url)
    if path is None:
        raise click.ClickException("Not a SQLite file database: on PostgreSQL, use pg_dump "
                                   "(for instance: pg_dump --format=custom --file=tribeops.dump DBNAME).")
    try:
        size = backup_sqlite(path, str(destination))
    except (FileExistsError, FileNotFoundError, sqlite3.Error) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backed up {path} to {destination} ({size / 1e6:.1f} MB).", err=True)


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--workspace", required=True, help="Workspace name; created if it does not exist.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES),
              help="Repeat for several scopes.")
@click.option("--name", default="cli key", show_default=True)
def keys_create(workspace: str, scopes: tuple[str, ...], name: str) -> None:
    """Create an API key and print it (only it) on stdout."""
    if not 1 <= len(workspace) <= 64:
        raise click.BadParameter("1 to 64 characters", param_hint="--workspace")
    settings = _settings()
    upgrade(settings.database_url)
    secret = asyncio.run(_with_db(settings, lambda db: issue_key(db, workspace, list(scopes), name)))
    click.echo(secret)


@main.group()
def openapi() -> None:
    """The OpenAPI document."""


@openapi.command("export")
@click.option("--check", is_flag=True, help="Fail if the committed file differs from the app's document.")
@click.option("--output", type=click.Path(path_type=Path), default=OPENAPI_PATH, show_default=True)
def openapi_export(check: bool, output: Path) -> None:
    """Write the app's OpenAPI document to OUTPUT (or compare with it)."""
    from tribeops.api.app import create_app

    text = json.dumps(create_app(Settings()).state.openapi_document, indent=2, ensure_ascii=False) + "\n"
    if check:
        current = output.read_text() if output.exists() else ""
        if current != text:
            click.echo(f"{output} is out of date with the app; regenerate it with: tribeops openapi export",
                       err=True)
            sys.exit(1)
        click.echo(f"{output} is up to date.", err=True)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    click.echo(f"Wrote {output}.", err=True)


main.add_command(plugins_group)
main.add_command(demo_command)
main.add_command(events_group)
main.add_command(connectors_group)


if __name__ == "__main__":
    main()
