"""Commands that look (and, for conflicts, decide) rather than sync: ``status``, ``journal``,
``conflicts`` and ``connectors``."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from syncline.cli.common import (
    DEFAULT_CONFIG,
    ConfigOption,
    config_path,
    current_user,
    load,
    open_store,
)
from syncline.errors import UsageError
from syncline.model import ActionCode, Outcome, Side

if TYPE_CHECKING:  # Rich, the renderers and the connectors load when a command runs
    from syncline.cli.render import CapabilityRow

__all__ = ["JournalAction", "capability_rows", "conflicts", "connectors", "journal", "status"]


class JournalAction(StrEnum):
    """``--action`` choices: the journal's action codes."""

    A = ActionCode.CREATE.value
    M = ActionCode.MODIFY.value
    D = ActionCode.DELETE.value
    R = ActionCode.FORCED.value


def status(
    ctx: typer.Context,
    link: Annotated[str | None, typer.Argument(
        help="The link to show; without it every link.")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print JSON: an object for LINK, a list for every link.")] = False,
    config: ConfigOption = None,
) -> None:
    """Show the last run of each link, when it last synced, and what waits."""
    from rich.console import Console

    from syncline.cli.render import LinkStatus, dump_json, status_json, status_view

    loaded = load(ctx, config)
    names = [link] if link is not None else list(loaded.links)
    for name in names:
        loaded.link(name)
    with open_store(loaded) as store:
        statuses = []
        for name in names:
            runs = store.runs(name, limit=1)
            settings = loaded.links[name]
            statuses.append(LinkStatus(
                link=name, a=settings.a, b=settings.b, last_run=runs[0] if runs else None,
                last_synced_at=store.last_synced_at(name),
                pending_items=len(store.pending_items(name)),
                open_conflicts=len(store.conflicts(name))))
    if json_output:
        documents = [status_json(entry) for entry in statuses]
        typer.echo(dump_json(documents[0] if link is not None else documents))
        return
    console = Console()
    for entry in statuses:
        console.print(*status_view(entry), highlight=False)


def journal(
    ctx: typer.Context,
    link: Annotated[str, typer.Argument(help="The link whose journal to show.")],
    run: Annotated[int | None, typer.Option(
        "--run", metavar="ID", help="Only rows of this run.")] = None,
    action: Annotated[JournalAction | None, typer.Option(
        "--action", case_sensitive=False,
        help="Only this action: A create, M modify, D delete, R forced resend.")] = None,
    outcome: Annotated[Outcome | None, typer.Option(
        "--outcome", case_sensitive=False, help="Only rows with this outcome.")] = None,
    stream: Annotated[str | None, typer.Option(
        "--stream", "-s", metavar="STREAM", help="Only rows of this stream.")] = None,
    limit: Annotated[int, typer.Option(
        "--limit", "-n", min=1, help="At most this many rows (newest first).")] = 200,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the rows as a JSON list.")] = False,
    config: ConfigOption = None,
) -> None:
    """Show what runs of LINK did to each record, newest first."""
    from rich.console import Console

    from syncline.cli.render import dump_json, journal_json, journal_table

    loaded = load(ctx, config)
    settings = loaded.link(link)
    if stream is not None:
        settings.check_streams(link, [stream])
    with open_store(loaded) as store:
        rows = store.journal(link, run_id=run, action=action.value if action else None,
                             outcome=outcome.value if outcome else None, stream=stream,
                             limit=limit)
    if json_output:
        typer.echo(dump_json(journal_json(rows)))
        return
    console = Console()
    if not rows:
        console.print(f"no journal rows of {link} match", highlight=False)
        return
    console.print(journal_table(link, rows))
    if len(rows) == limit:
        console.print(f"[dim]showing the newest {limit} rows; use --limit or filters for "
                      f"more[/]", highlight=False)


def conflicts(
    ctx: typer.Context,
    link: Annotated[str, typer.Argument(help="The link whose conflicts to show.")],
    resolve: Annotated[int | None, typer.Option(
        "--resolve", metavar="ID", help="Resolve this open conflict (needs --side).")] = None,
    side: Annotated[Side | None, typer.Option(
        "--side", case_sensitive=False,
        help="With --resolve: the side whose version wins (a or b).")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the open conflicts as a JSON list.")] = False,
    config: ConfigOption = None,
) -> None:
    """List the open conflicts of LINK (held by the 'manual' policy), or resolve one.

    A resolution is recorded now and applied by the next run of the link.
    """
    from rich.console import Console

    from syncline.cli.render import conflicts_json, conflicts_table, dump_json
    from syncline.service.conflict_view import SharedFields

    loaded = load(ctx, config)
    settings = loaded.link(link)
    if (resolve is None) != (side is None):
        raise UsageError("--resolve ID and --side a|b go together")
    with open_store(loaded) as store:
        if resolve is not None and side is not None:
            found = store.conflicts(link, conflict_id=resolve)
            if not found:
                open_ids = [str(row["id"]) for row in store.conflicts(link)]
                raise UsageError(f"link '{link}' has no open conflict {resolve}; open: "
                                 f"{', '.join(open_ids) or 'none'}")
            store.resolve_conflict(resolve, {"side": side.value}, current_user())
            winner = settings.a if side is Side.A else settings.b
            loser = settings.b if side is Side.A else settings.a
            typer.echo(f"conflict {resolve} resolved: the version on {winner} (side "
                       f"{side.value}) will be written to {loser} by the next run of {link} "
                       f"(syncline sync {link})")
            return
        rows = store.conflicts(link)
    shared = SharedFields(loaded, link)
    if json_output:
        typer.echo(dump_json(conflicts_json(rows, shared)))
        return
    console = Console()
    if not rows:
        console.print(f"{link} has no open conflicts", highlight=False)
        return
    console.print(conflicts_table(link, rows, shared))
    console.print(f"resolve one with: syncline conflicts {link} --resolve ID --side a|b",
                  markup=False, highlight=False)


def capability_rows() -> list[CapabilityRow]:
    """The capability matrix of every registered connector, one row per stream; a connector
    that cannot be loaded gets one row saying why."""
    from syncline.cli.render import CapabilityRow
    from syncline.service.endpoints import Capability, connector_capabilities

    rows: list[CapabilityRow] = []
    for found in connector_capabilities():
        if found.problem is not None:
            rows.append(CapabilityRow(found.name, "", Capability.NONE, problem=found.problem))
        rows.extend(CapabilityRow(found.name, stream, flags)
                    for stream, flags in found.streams.items())
    return rows


def connectors(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the matrix as a JSON list.")] = False,
    config: ConfigOption = None,
) -> None:
    """Show every connector type and what it can do per stream.

    Needs no configuration file; when there is one, also lists its endpoints' connectors.
    """
    from rich.console import Console

    from syncline.cli.render import capability_json, capability_table, dump_json

    rows = capability_rows()
    if json_output:
        typer.echo(dump_json(capability_json(rows)))
        return
    console = Console()
    console.print(capability_table(rows))
    path = config_path(ctx, config)
    if path == DEFAULT_CONFIG and not path.exists():
        return
    loaded = load(ctx, config)
    used = ", ".join(f"{name} ({endpoint.connector})"
                     for name, endpoint in loaded.endpoints.items())
    console.print(f"endpoints in {path}: {used or 'none'}", markup=False, highlight=False)
