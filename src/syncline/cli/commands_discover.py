"""``syncline discover ENDPOINT``: list the address books or calendars the configured user
of a ``carddav`` / ``caldav`` endpoint can reach (through the well-known URLs, the
current-user-principal and its home sets), so that one can be picked for ``url``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from syncline.cli.common import ConfigOption, load
from syncline.errors import ConfigError, UsageError

if TYPE_CHECKING:  # the DAV modules (and httpx) load only when the command runs
    from syncline.connectors.dav.discovery import Collection

__all__ = ["collection_json", "discover"]


def collection_json(collection: Collection) -> dict[str, Any]:
    """One collection as JSON."""
    return {"url": collection.url, "display_name": collection.display_name,
            "components": list(collection.components),
            "sync_collection": collection.sync_collection}


def discover(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="A carddav or caldav endpoint.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """List the address books or calendars of a CardDAV / CalDAV endpoint's user."""
    from rich.console import Console
    from rich.table import Table

    from syncline.cli.render import dump_json
    from syncline.connectors import connector_class
    from syncline.connectors.dav.client import DavClient
    from syncline.connectors.dav.connector import DavConnector
    from syncline.connectors.dav.discovery import user_collections
    from syncline.connectors.dav.settings import parse_settings

    loaded = load(ctx, config)
    settings = loaded.endpoints.get(endpoint)
    if settings is None:
        raise ConfigError(f"unknown endpoint '{endpoint}'; known: "
                          f"{', '.join(loaded.endpoints) or 'none'}", key=f"endpoints.{endpoint}")
    cls = connector_class(settings.connector, key=f"endpoints.{endpoint}.connector")
    if not issubclass(cls, DavConnector):
        raise UsageError(f"discover works on carddav and caldav endpoints; '{endpoint}' is a "
                         f"{settings.connector} endpoint")
    options = parse_settings(endpoint, settings.settings, cls.stream_names)
    client = DavClient(endpoint, username=options.username,
                       password=options.resolved_password(endpoint),
                       verify_tls=options.verify_tls, ca_file=options.ca_path(loaded.base_dir),
                       timeout=options.timeout, retries=options.retry_policy(endpoint))
    try:
        found = user_collections(client, options.url, cls.service)
    finally:
        client.close()
    if json_output:
        typer.echo(dump_json([collection_json(collection) for collection in found]))
        return
    what = "address books" if cls.service == "carddav" else "calendars"
    if not found:
        typer.echo(f"{endpoint}: no {what} found from {options.url}")
        return
    table = Table(title=f"{what} of {options.username or 'the user'} ({endpoint})",
                  title_justify="left")
    table.add_column("url", overflow="fold")
    table.add_column("name")
    if cls.service == "caldav":
        table.add_column("components")
    table.add_column("sync-collection")
    for collection in found:
        row = [collection.url, collection.display_name or ""]
        if cls.service == "caldav":
            row.append(", ".join(collection.components) or "(any)")
        row.append("yes" if collection.sync_collection else "no")
        table.add_row(*row)
    Console(width=160).print(table, highlight=False)
