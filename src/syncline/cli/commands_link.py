"""``syncline link``: the switches people set on a link, shown and changed.

``syncline link LINK`` prints whether LINK is paused, its paused streams and whether it takes
part in Sync All (``syncline link`` alone: every link, one line each); ``syncline link LINK
--sync-all on|off`` switches it into or out of Sync All
(``syncline sync`` with no link, the API's ``POST /sync-all``, the console's button). Every
link is out of Sync All until switched on. The switches live in the state store, so the
service, the API and the console see the change at once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from syncline.cli.common import ConfigOption, current_user, load, open_store
from syncline.errors import UsageError

__all__ = ["Switch", "link"]


class Switch(StrEnum):
    """A switch's two positions on the command line."""

    ON = "on"
    OFF = "off"


def link(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(
        metavar="[LINK]", help="The link to show or change; without it every link is shown.")]
    = None,
    sync_all: Annotated[Switch | None, typer.Option(
        "--sync-all", case_sensitive=False,
        help="on: LINK takes part in Sync All (syncline sync with no link, the API's and the "
             "console's Sync All); off: it is left out. Links are off until switched on.")]
    = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the link's switches as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Show LINK's switches (paused, Sync All), or switch it into or out of Sync All.

    Without LINK, every link's switches are shown, one line each.
    """
    from syncline.cli.render import dump_json
    from syncline.service.stores import controls_of

    loaded = load(ctx, config)
    if name is None:
        if sync_all is not None:
            raise UsageError("--sync-all needs the LINK to switch")
        with open_store(loaded) as store:
            every = [controls_of(store).controls(link_name) for link_name in loaded.links]
        if json_output:
            typer.echo(dump_json([{"link": found.link, **found.to_json()} for found in every]))
            return
        for found in every:
            typer.echo(f"{found.link}: {'paused' if found.paused else 'not paused'}; "
                       f"Sync All {'on' if found.sync_all else 'off'}")
        return
    loaded.link(name)
    with open_store(loaded) as store:
        controls = controls_of(store)
        if sync_all is not None:
            found = controls.set_sync_all(name, sync_all is Switch.ON, user=current_user())
        else:
            found = controls.controls(name)
    if json_output:
        typer.echo(dump_json({"link": name, **found.to_json()}))
        return
    part = "takes part in Sync All" if found.sync_all else \
        f"is left out of Sync All (switch it on: syncline link {name} --sync-all on)"
    if sync_all is not None:
        typer.echo(f"{name} {part}" if found.sync_all else f"{name} is left out of Sync All")
        return
    state = "paused" if found.paused else "not paused"
    typer.echo(f"{name}: {state}; {part}")
    if found.paused_streams:
        typer.echo(f"paused streams: {', '.join(sorted(found.paused_streams))}")
