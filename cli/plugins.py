"""``tribeops plugins ...`` and ``tribeops connectors ...``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import msgspec

from tribeops.core import catalogue
from tribeops.core.connectors import PayloadError, StreamContext
from tribeops.core.errors import ValidationFailed
from tribeops.core.plugins import PluginLoadError, Registry, create_manager
from tribeops.core.settings import Settings


def _registry() -> Registry:
    settings = Settings.from_env()
    try:
        return create_manager(settings.load_plugins, settings.disable_plugins)[1]
    except PluginLoadError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("plugins")
def plugins_group() -> None:
    """Plugins: list what is installed, scaffold a new one."""


@plugins_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_list(as_json: bool) -> None:
    """The loaded plugins: name, version, hooks, and what each registers."""
    entries = catalogue.plugins(_registry())
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(entries), indent=2))
        return
    for entry in entries:
        origin = "built-in" if entry.builtin else f"version {entry.version or '?'}"
        click.echo(f"{entry.name} ({origin})")
        click.echo(f"  hooks: {', '.join(entry.hooks) or '-'}")
        for what, names in entry.registered.items():
            click.echo(f"  {what}: {', '.join(names)}")
        for error in entry.errors:
            click.echo(f"  error: {error}")


@plugins_group.command("new")
@click.argument("name")
@click.option("--directory", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Where to create the plugin's folder.")
def plugins_new(name: str, directory: Path) -> None:
    """Scaffold a plugin package NAME whose tests pass right away."""
    from .scaffold import scaffold

    try:
        target = scaffold(name, directory)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    click.echo(f"Created {target}. Next: pip install -e {target} && pytest {target}")


@click.group("connectors")
def connectors_group() -> None:
    """Connectors: debug how a raw payload is read."""


@connectors_group.command("parse")
@click.argument("network")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--stream", "stream_name", default=None, help="Stream to parse with (default: the first).")
@click.option("--config", "config_json", default="{}", show_default=True, help="Connector configuration as JSON.")
@click.option("--brand-id", default="brd_00000000000000000000000000", show_default=True)
@click.option("--handle", "handles", multiple=True, help="The brand's handle on NETWORK (marks brand posts).")
def connectors_parse(network: str, file: Path, stream_name: str | None, config_json: str, brand_id: str,
                     handles: tuple[str, ...]) -> None:
    """Print the normalised events of a raw payload FILE as NDJSON (profiles go to stderr)."""
    registered = _registry().connectors.get(network)
    if registered is None:
        raise click.BadParameter(f"no connector for {network!r}", param_hint="NETWORK")
    cls = registered.item
    try:
        config = cls.parse_config(json.loads(config_json))
    except (ValueError, ValidationFailed) as exc:
        details = "; ".join(f"{e.pointer}: {e.message}" for e in getattr(exc, "errors", [])) or str(exc)
        raise click.BadParameter(details, param_hint="--config") from None
    connector = cls(config)
    stream = connector.stream(stream_name) if stream_name else connector.streams()[0]
    context = StreamContext(workspace_id="cli", brand_id=brand_id, network=network, config=config,
                            brand_handles={network: handles[0]} if handles else {})
    try:
        page = stream.parse(file.read_bytes(), context)
    except PayloadError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    for event in page.events:
        sys.stdout.write(msgspec.json.encode(event).decode() + "\n")
    for member in page.members:
        sys.stderr.write("member " + msgspec.json.encode(member).decode() + "\n")
    for position, reason in page.rejected:
        sys.stderr.write(f"rejected {position}: {reason}\n")
    click.echo(f"{len(page.events)} events, {len(page.members)} profiles, {len(page.rejected)} rejected, "
               f"next page: {page.next_page}", err=True)
