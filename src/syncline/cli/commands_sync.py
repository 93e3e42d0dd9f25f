"""``syncline setup`` and ``syncline sync``: preparing endpoints and running links.

Without a LINK, ``sync`` is Sync All: it runs the links an admin switched on for it
(``syncline link LINK --sync-all on``) that are not paused, and names the others as left out
with the reason; when no link takes part it stops with a usage error (exit code 2) saying
how to run or switch on one. Of the links it runs, a link whose configuration is wrong (an
unset ``env:`` variable, a missing table) is reported, naming the link, and skipped; a link
whose run cannot proceed (endpoint unreachable, link busy) is reported; the others run
either way, and the end shows which link got which result.

Exit codes of ``sync``, the worst result winning (see :mod:`syncline.cli.sync_report`): 2 a
link has a configuration error (or the command was called wrongly: then nothing ran); 3 a
run could not proceed; 1 a run finished with item errors (records that stay pending, or
deletions held back by ``max_delete``); 0 every run ended ``ok`` or ``warning``;
130 a run was stopped with Ctrl-C (see :mod:`syncline.cli.interrupt`; the links after it
do not run).

The state store unreachable (before or during a run: :class:`~syncline.errors.StateUnavailable`)
ends the command with one line and exit code 3; with ``--json`` a failed-run document is
printed first for each link that did not run.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from syncline.cli.common import (
    ConfigOption,
    current_user,
    load,
    open_store,
    parse_since,
    parse_until,
)
from syncline.errors import ConfigError, RunCancelled, RunError, StateUnavailable, UsageError

if TYPE_CHECKING:  # the engine, the store and Rich load when a command runs (start-up)
    from rich.console import Console

    from syncline.cli.sync_report import LinkResult
    from syncline.config import Config
    from syncline.service import Lease, RunRequest
    from syncline.service.outcomes import RunSummary
    from syncline.service.stores import StateStore

__all__ = ["choose_streams", "print_summary", "run_with_progress", "setup", "sync"]


def setup(
    ctx: typer.Context,
    link: Annotated[str, typer.Argument(help="The link whose endpoints to prepare.")],
    config: ConfigOption = None,
) -> None:
    """Prepare both endpoints of LINK for incremental sync (e.g. install change capture).

    Safe to run again; prints what each endpoint did.
    """
    from rich.console import Console

    from syncline.service.endpoints import prepare_endpoints

    loaded = load(ctx, config)
    console = Console()
    # both endpoints are opened (and their keys checked) before either is set up
    for prepared in prepare_endpoints(loaded, link):
        console.print(f"[bold]{prepared.endpoint}[/] ({prepared.connector}, "
                      f"side {prepared.side}):")
        for line in prepared.done or ["nothing to do"]:
            console.print(f"  {line}", markup=False, highlight=False)
    console.print(f"{link} is ready: run [bold]syncline sync {link}[/]")


def choose_streams(config: Config, links: list[str],
                   wanted: list[str]) -> dict[str, tuple[str, ...]]:
    """Per link, the streams to sync: all of its streams, or those of ``wanted`` it syncs.

    With one link every wanted stream must belong to it; across all links each wanted stream
    must belong to at least one, and links syncing none of them are left out.

    Raises:
        UsageError: a wanted stream is not synced (by the link, or by any link).
        ConfigError: a named link does not exist.
    """
    if not wanted:
        return {name: () for name in links}
    chosen: dict[str, tuple[str, ...]] = {}
    for name in links:
        settings = config.link(name)
        synced = settings.streams
        if len(links) == 1:
            settings.check_streams(name, wanted)
        own = tuple(stream for stream in dict.fromkeys(wanted) if stream in synced)
        if own:
            chosen[name] = own
    unsynced = [stream for stream in wanted
                if not any(stream in streams for streams in chosen.values())]
    if unsynced:
        raise UsageError(f"no link syncs {', '.join(unsynced)}")
    return chosen


def print_summary(console: Console, summary: RunSummary) -> None:
    """The per-stream table of a run, the dry-run plan, the run's messages, and, when
    records could not go, the command that lists them grouped by cause."""
    from rich.markup import escape

    from syncline.cli.render import planned_table, summary_table
    from syncline.cli.sync_report import errors_hint

    if summary.dry_run:
        console.print(planned_table(summary.planned))
        console.print("[yellow]dry run:[/] nothing was changed", highlight=False)
    console.print(summary_table(summary))
    for message in summary.messages:
        console.print(f"[yellow]•[/] {message}", highlight=False)
    hint = errors_hint(summary)
    if hint is not None:
        console.print(f"[red]•[/] {escape(hint)}", highlight=False)


def run_with_progress(config: Config, store: StateStore, request: RunRequest,
                      console: Console, *, plain: bool, wait: bool = False,
                      command: str = "syncline sync"
                      ) -> tuple[RunSummary | None, dict[str, Any] | None, RunError | None]:
    """Run ``request`` through the service's one way in (:func:`syncline.service.run_link`:
    under the link's run lock, notified) with progress on the terminal, Ctrl-C stopping it;
    returns ``(summary, None, None)`` when it ran, or ``(None, failed-run JSON or None,
    error)`` when it could not proceed (also :class:`~syncline.errors.LinkBusy`: another run
    holds the link and ``wait`` is false; :class:`~syncline.errors.RunCancelled`: Ctrl-C
    stopped it).

    Raises:
        ConfigError, UsageError: the link or the request is wrong (nothing ran).
    """
    from syncline.cli.interrupt import ctrl_c_stops
    from syncline.cli.progress import progress_for
    from syncline.cli.render import run_row_json
    from syncline.run_context import StopSignal
    from syncline.service import run_link
    from syncline.service.lock import holder_text

    name = request.link
    before = store.runs(name, limit=1)
    last_id = before[0]["id"] if before else 0
    stop = StopSignal()
    try:
        def waiting(lease: Lease) -> None:
            typer.echo(f"{name}: waiting for {lease.describe()} to finish", err=True)

        with progress_for(console, sys.stderr, name, plain=plain) as reporter, \
                ctrl_c_stops(stop):
            return run_link(config, store, request, progress=reporter, wait=wait,
                            on_wait=waiting, holder=holder_text(command, request.user),
                            stop=stop), None, None
    except RunError as error:
        if stop.requested and not isinstance(error, RunCancelled):
            error = RunCancelled(stop.reason)  # Ctrl-C while waiting for the link
        after = store.runs(name, limit=1)
        failed = run_row_json(name, after[0]) if after and after[0]["id"] > last_id else None
        return None, failed, error


def _sync_all_links(store: StateStore, links: list[str], results: list[LinkResult],
                    documents: list[dict[str, Any]]) -> list[str]:
    """The links of ``links`` that Sync All runs (switched on, not paused); the others are
    added to ``results`` and ``documents`` as left out, with the reason.

    Raises:
        UsageError: no link takes part (saying how to run or switch on one).
    """
    from syncline.cli.sync_report import LEFT_OUT, LinkResult, not_run_json
    from syncline.service.stores import controls_of

    selection = controls_of(store).sync_all_selection(links)
    if not selection.taking_part:
        raise UsageError(f"no link takes part in Sync All ({selection.left_out_text()}); "
                         f"run one with 'syncline sync LINK', or switch links on with "
                         f"'syncline link LINK --sync-all on'")
    for name, why in selection.left_out.items():
        message = f"left out of Sync All: {why}"
        results.append(LinkResult(name, LEFT_OUT, message))
        documents.append(not_run_json(name, LEFT_OUT, message))
    return list(selection.taking_part)


def sync(
    ctx: typer.Context,
    link: Annotated[str | None, typer.Argument(
        help="The link to run; without it every link switched on for Sync All runs in "
             "turn (syncline link LINK --sync-all on).")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Read both sides completely and reconcile (Force Sync).")] = False,
    stream: Annotated[list[str] | None, typer.Option(
        "--stream", "-s", metavar="STREAM",
        help="Sync only this stream (repeatable).")] = None,
    since: Annotated[datetime | None, typer.Option(
        parser=parse_since, metavar="DATE",
        help="Only records modified on or after DATE (ISO date or date-time).")] = None,
    until: Annotated[datetime | None, typer.Option(
        parser=parse_until, metavar="DATE",
        help="Only records modified on or before DATE (a date means its whole day).")] = None,
    from_key: Annotated[str | None, typer.Option(
        "--from-key", "--from", metavar="KEY",
        help="Only records whose key is >= KEY (as text).")] = None,
    to_key: Annotated[str | None, typer.Option(
        "--to-key", "--to", metavar="KEY",
        help="Only records whose key is <= KEY (as text).")] = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="If another run holds the link (the service, another sync), wait "
                       "for it instead of failing with 'link is busy'.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the planned changes; change nothing.")] = False,
    allow_mass_delete: Annotated[bool, typer.Option(
        "--allow-mass-delete", help="Apply deletions beyond the link's max_delete.")] = False,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print only the run summary as JSON on stdout.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run LINK (or every link switched on for Sync All) once: read both sides, plan,
    apply, journal.

    A date or key scope reads only that part and leaves the cursors where they are.
    """
    from rich.console import Console

    from syncline.cli.render import dump_json, planned_json
    from syncline.cli.sync_report import (
        CONFIG_ERROR,
        LinkResult,
        errors_hint,
        exit_code,
        not_run_json,
        results_table,
    )
    from syncline.service import ReadScope, RunMode, RunRequest, Trigger

    if since is not None and until is not None and since > until:
        raise UsageError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
    loaded = load(ctx, config)
    if link is not None:
        loaded.link(link)
    links = [link] if link is not None else list(loaded.links)
    if not links:
        raise UsageError(f"{loaded.source} configures no link; add a [links.NAME] table")
    scope = ReadScope(since=since, until=until, from_key=from_key, to_key=to_key)
    console = Console()
    documents: list[dict[str, Any]] = []
    results: list[LinkResult] = []
    error_word = typer.style("error:", fg="red", bold=True)
    interrupted = False
    per_link = choose_streams(loaded, links, list(stream or []))  # before the store opens
    try:
        with open_store(loaded) as store:
            if link is None:
                taking_part = _sync_all_links(store, links, results, documents)
                per_link = {name: streams for name, streams in per_link.items()
                            if name in taking_part}
                if not per_link:
                    raise UsageError(f"no link taking part in Sync All syncs "
                                     f"{', '.join(stream or [])} (taking part: "
                                     f"{', '.join(taking_part)})")
            user = current_user()
            for name, streams in per_link.items():
                request = RunRequest(name, RunMode.FULL if full else RunMode.INCREMENTAL,
                                     frozenset(streams), scope, Trigger.MANUAL,
                                     (user,) if user else (),
                                     allow_mass_delete=allow_mass_delete, dry_run=dry_run)
                before = store.runs(name, limit=1)
                try:
                    summary, failed, error = run_with_progress(loaded, store, request, console,
                                                               plain=json_output, wait=wait)
                except ConfigError as problem:  # this link cannot run; the others can
                    where = f"{loaded.source}: " if problem.source is None and problem.key else ""
                    message = f"{where}{problem}"
                    others = "; the other links run" if len(per_link) > 1 else ""
                    typer.echo(f"{error_word} {message} (link '{name}' skipped{others})", err=True)
                    results.append(LinkResult(name, CONFIG_ERROR, message))
                    after = store.runs(name, limit=1)
                    recorded = after[0] if after and (not before or
                                                      after[0]["id"] > before[0]["id"]) else None
                    documents.append(not_run_json(name, CONFIG_ERROR, message, recorded))
                    continue
                if summary is None:
                    message = str(error)
                    results.append(LinkResult(name, "failed", message))
                    typer.echo(f"{error_word} {name}: {message} "
                               f"(nothing was lost; changes wait for the next run)", err=True)
                    documents.append(failed if failed is not None
                                     else not_run_json(name, "failed", message))
                    if isinstance(error, RunCancelled):
                        interrupted = True
                        break
                    continue
                errors = sum(counts.errors for counts in summary.streams.values())
                results.append(LinkResult(name, summary.outcome.value, errors=errors))
                if json_output:
                    document = summary.to_json()
                    if dry_run:
                        document["planned"] = planned_json(summary.planned)
                    documents.append(document)
                    hint = errors_hint(summary)
                    if hint is not None:
                        typer.echo(hint, err=True)
                else:
                    print_summary(console, summary)
    except StateUnavailable as outage:  # one line on stderr; with --json, failed runs
        if json_output:
            done = {result.link for result in results}
            documents.extend(not_run_json(name, "failed", str(outage))
                             for name in per_link if name not in done)
            typer.echo(dump_json(documents if link is None else documents[-1]))
        raise
    code = exit_code(results)
    if json_output and link is None:
        typer.echo(dump_json(documents))
    elif json_output and documents:
        typer.echo(dump_json(documents[0]))
    elif len(results) > 1:
        console.print(results_table(results, code))
    raise typer.Exit(RunCancelled.exit_code if interrupted else code)
