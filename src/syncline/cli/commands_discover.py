"""``syncline discover ENDPOINT``: list the address books or calendars the configured user
of a ``carddav`` / ``caldav`` endpoint can reach (through the well-known URLs, the
current-user-principal and its home sets), so that one can be picked for ``url``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from syncline.cli.common import ConfigOption, load

if TYPE_CHECKING:  # the DAV modules (and httpx) load only when the command runs
    from syncline.service.endpoints import Collection

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
    from syncline.service.endpoints import discover_collections

    loaded = load(ctx, config)
    discovery = discover_collections(loaded, endpoint)
    found = discovery.collections
    if json_output:
        typer.echo(dump_json([collection_json(collection) for collection in found]))
        return
    what = "address books" if discovery.service == "carddav" else "calendars"
    if not found:
        typer.echo(f"{endpoint}: no {what} found from {discovery.url}")
        return
    table = Table(title=f"{what} of {discovery.username or 'the user'} ({endpoint})",
                  title_justify="left")
    table.add_column("url", overflow="fold")
    table.add_column("name")
    if discovery.service == "caldav":
        table.add_column("components")
    table.add_column("sync-collection")
    for collection in found:
        row = [collection.url, collection.display_name or ""]
        if discovery.service == "caldav":
            row.append(", ".join(collection.components) or "(any)")
        row.append("yes" if collection.sync_collection else "no")
        table.add_row(*row)
    Console(width=160).print(table, highlight=False)
