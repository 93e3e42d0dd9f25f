"""``syncline force``: forced mass resynchronisation of selected records.

Marks the records that meet the criteria (on the authoritative side) to be sent again to
the other side with action code R, even where nothing seems to have changed. With
``--now`` the link runs at once (under its run lock); otherwise the marks wait for the
link's next run (``syncline sync``, or the service's schedule). ``--log FILE`` writes the
detailed log of the run that sends them (CSV or JSON lines, by the file's extension);
``--email`` (with ``--now``) mails it through ``[notify.smtp]``.

Exit codes as ``syncline sync``: 0 marked (and, with ``--now``, sent); 1 the run left item
errors; 2 usage or configuration error; 3 the run could not proceed (also: link busy).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from syncline.cli.common import (
    ConfigOption,
    current_user,
    load,
    open_store,
    parse_since,
    parse_until,
)
from syncline.errors import UsageError
from syncline.model import Side

if TYPE_CHECKING:  # the engine, the service and Rich load when the command runs (start-up)
    from rich.console import Console

    from syncline.service.force import ForceResult
    from syncline.service.outcomes import RunOutcome

__all__ = ["force"]


def _check_range(name: str, start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start > end:
        raise UsageError(f"{name}: {start.isoformat()} is after {end.isoformat()}")


def force(
    ctx: typer.Context,
    link: Annotated[str, typer.Argument(help="The link whose records to send again.")],
    stream: Annotated[list[str] | None, typer.Option(
        "--stream", "-s", metavar="STREAM", help="Only this stream (repeatable).")] = None,
    from_key: Annotated[str | None, typer.Option(
        "--from-key", metavar="KEY", help="Only records whose key is >= KEY.")] = None,
    to_key: Annotated[str | None, typer.Option(
        "--to-key", metavar="KEY", help="Only records whose key is <= KEY.")] = None,
    since: Annotated[datetime | None, typer.Option(
        parser=parse_since, metavar="DATE",
        help="Only records whose record date (document date, event start, else the "
             "modification time) is on or after DATE.")] = None,
    until: Annotated[datetime | None, typer.Option(
        parser=parse_until, metavar="DATE",
        help="Only records whose record date is on or before DATE.")] = None,
    due_from: Annotated[datetime | None, typer.Option(
        "--due-from", parser=parse_since, metavar="DATE",
        help="Only records due on or after DATE (streams with a due date).")] = None,
    due_to: Annotated[datetime | None, typer.Option(
        "--due-to", parser=parse_until, metavar="DATE",
        help="Only records due on or before DATE.")] = None,
    owner: Annotated[str | None, typer.Option(
        "--owner", metavar="NAME",
        help="Only records owned by NAME (sales representative / user).")] = None,
    mine: Annotated[bool, typer.Option(
        "--mine", help="Only records owned by you (your login name).")] = False,
    with_related: Annotated[bool, typer.Option(
        "--with-related", help="Also send the records they refer to (the contact of a task "
                               "or event, the customer of an invoice).")] = False,
    source: Annotated[Side | None, typer.Option(
        "--from", metavar="a|b", case_sensitive=False,
        help="The authoritative side to send from (default: the source of a one-way link, "
             "else a).")] = None,
    now: Annotated[bool, typer.Option(
        "--now", help="Run the link at once; otherwise the marks wait for its next run.")
    ] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="With --now: wait for another run of the link instead of failing.")
    ] = False,
    log: Annotated[Path | None, typer.Option(
        "--log", metavar="FILE", dir_okay=False,
        help="Write the detailed log of the forced run to FILE (.csv or .jsonl).")] = None,
    email: Annotated[str | None, typer.Option(
        "--email", metavar="ADDRESSES",
        help="With --now: e-mail the detailed log to these addresses (comma-separated; "
             "needs [notify.smtp] in the configuration).")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print only a JSON document on stdout.")] = False,
    config: ConfigOption = None,
) -> None:
    """Send selected records of LINK again (action code R), even if nothing changed."""
    from rich.console import Console

    from syncline.cli.commands_sync import print_summary, run_with_progress
    from syncline.cli.render import dump_json, worst_exit
    from syncline.service import RunMode, RunRequest, Trigger
    from syncline.service.criteria import ForceCriteria
    from syncline.service.force import authoritative_side
    from syncline.service.force_mail import ForceLogMailer, parse_recipients
    from syncline.service.forcelog import log_format
    from syncline.service.service import SyncService

    _check_range("--since / --until", since, until)
    _check_range("--due-from / --due-to", due_from, due_to)
    user = current_user()
    if owner is not None and mine:
        raise UsageError("give --owner NAME or --mine, not both")
    if mine:
        if user is None:
            raise UsageError("--mine: your login name is unknown; use --owner NAME")
        owner = user
    if log is not None:
        log_format(log)
        log = log.expanduser().resolve()
    recipients = parse_recipients(email) if email else []
    if recipients and not now:
        raise UsageError("--email needs --now: this command sends the log when the run it "
                         "starts has written it (the web console and the API also mail the "
                         "log of a later run)")
    loaded = load(ctx, config)
    settings = loaded.link(link)
    if recipients and loaded.notify.smtp is None:
        raise UsageError("--email needs [notify.smtp] in the configuration")
    criteria = ForceCriteria(tuple(stream or ()), from_key, to_key, since, until, due_from,
                             due_to, owner, with_related, source)
    authoritative_side(settings, source)
    console = Console(stderr=json_output)
    with open_store(loaded) as store:
        mailer = ForceLogMailer(loaded, store) if recipients else None
        if mailer is not None and log is None:
            log = mailer.log_path(link)
        service = SyncService(loaded, store, holder="syncline force")
        try:
            result = service.force(link, criteria, requested_by=user, log_path=log)
        finally:
            service.shutdown()
        if not json_output:
            _print_marked(console, result)
        if not now:
            if json_output:
                typer.echo(dump_json(result.to_json()))
            elif result.selection.total:
                console.print(f"they are sent with the next run of {link} (syncline sync "
                              f"{link}, or the service's schedule)", highlight=False)
            raise typer.Exit(0)
        request = RunRequest(link, RunMode.FORCED, trigger=Trigger.FORCE,
                             requested_by=(user,) if user else ())
        summary, _failed, error = run_with_progress(loaded, store, request, console,
                                                    plain=json_output, wait=wait,
                                                    command="syncline force")
    document = result.to_json()
    if summary is None:
        typer.echo(f"{typer.style('error:', fg='red', bold=True)} {link}: {error} (the marks "
                   f"are kept; they are sent with the next run)", err=True)
        if json_output:
            typer.echo(dump_json(document))
        raise typer.Exit(3)
    if json_output:
        document["run"] = summary.to_json()
        typer.echo(dump_json(document))
    else:
        print_summary(console, summary)
        if log is not None:
            console.print(f"log written to {log}", highlight=False)
    if mailer is not None and log is not None:
        sent = mailer.send(result.request_id, link, recipients, log)
        message = f"log e-mailed to {', '.join(recipients)}" if sent else \
            f"the log could not be e-mailed (see the messages above); it is in {log}"
        typer.echo(message, err=True)
    outcomes: list[RunOutcome] = [summary.outcome]
    raise typer.Exit(worst_exit(outcomes))


def _print_marked(console: Console, result: ForceResult) -> None:
    selection = result.selection
    parts = ", ".join(f"{stream} {len(found)}" for stream, found in selection.records.items())
    related = f"; {selection.related} of them related records" if selection.related else ""
    console.print(f"{result.link}: marked {selection.total} records to send from "
                  f"{result.side.value} ({result.endpoint}): {parts or 'none'}{related} "
                  f"(request {result.request_id})", highlight=False)
    for note in selection.notes:
        console.print(f"[yellow]•[/] {note}", highlight=False)
