"""Commands for posting to the books: ``post``, ``errors`` and ``xref``.

``syncline post LINK --stream invoice --key INV-1001`` asks for documents to be sent (the way
documents go when a stream's ``send_all`` is off) and runs the stream at once;
``syncline errors LINK`` lists the records that could not go, grouped by cause ("no ledger
account mapped for product 'CONSULT-HR' — 12 invoices"); ``syncline xref LINK set|list|remove``
edits the cross-reference tables the posting rules look codes up in.

Terms: a **cause** is why a record could not go, as data (kind, field, value; see
:mod:`syncline.service.error_groups`), so that one missing entry blocking many documents
shows as one group listing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from syncline.cli.common import ConfigOption, current_user, load, open_store
from syncline.errors import UsageError
from syncline.model import Outcome

if TYPE_CHECKING:  # the engine, the store and Rich load when a command runs (start-up)
    from syncline.config import LinkConfig
    from syncline.service import Lease
    from syncline.service.stores import StateStore

__all__ = ["XrefAction", "errors", "post", "xref"]

_SHOWN = 10  # documents listed per cause in the table


# -- post ---------------------------------------------------------------------------------------
def post(
    ctx: typer.Context,
    link: Annotated[str, typer.Argument(help="The link to post through.")],
    stream: Annotated[str, typer.Option(
        "--stream", "-s", metavar="STREAM", help="The stream of the documents (invoice...).")],
    key: Annotated[list[str], typer.Option(
        "--key", "-k", metavar="KEY",
        help="A document to post: its key or its number (repeatable).")],
    no_run: Annotated[bool, typer.Option(
        "--no-run", help="Only mark the documents; the next run of LINK posts them.")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="If another run holds the link (the service, a sync), wait for it "
                       "instead of failing with 'link is busy'.")] = False,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print what happened to each document as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Post documents to the books one by one (for streams whose send_all is off), then run
    the stream so they go now. Exit code 1 when a document is blocked by a rule; 3 when the
    run could not proceed (the link busy, an endpoint unreachable): the documents stay
    marked and go with the next run."""
    from rich.console import Console
    from rich.table import Table

    from syncline.cli.render import dump_json, outcome_text
    from syncline.errors import RunError
    from syncline.service import RunRequest, Trigger, run_link
    from syncline.service.endpoints import resolve_keys
    from syncline.service.lock import holder_text
    from syncline.service.stores import rules_of

    loaded = load(ctx, config)
    settings = loaded.link(link)
    settings.check_streams(link, [stream])
    if stream not in settings.rules:
        raise UsageError(f"link '{link}' has no posting rules for {stream}: every {stream} "
                         f"goes with each sync (add [links.{link}.rules.{stream}] with "
                         f"send_all = false to post them one by one)")
    keys = resolve_keys(loaded, settings, stream, list(dict.fromkeys(key)))
    user = current_user()
    with open_store(loaded) as store:
        scope_id = store.scope_id(link, stream)
        rules_of(store).request_posts(scope_id, keys.values(), user)
        if no_run:
            typer.echo(f"{len(keys)} {stream} document(s) marked for posting; the next run of "
                       f"{link} sends them (syncline sync {link})")
            return
        request = RunRequest(link, streams=frozenset({stream}), trigger=Trigger.MANUAL,
                             requested_by=(user,) if user else ())

        def waiting(lease: Lease) -> None:
            typer.echo(f"{link}: waiting for {lease.describe()} to finish", err=True)

        try:
            summary = run_link(loaded, store, request, holder=holder_text("syncline post", user),
                               wait=wait, on_wait=waiting)
        except RunError as error:  # as ``sync`` says it; the marks wait for the next run
            typer.echo(f"{typer.style('error:', fg='red', bold=True)} {link}: {error} (the "
                       f"documents stay marked; the next run of {link} sends them)", err=True)
            raise typer.Exit(error.exit_code) from None
        rows = store.journal(link, run_id=summary.run_id, stream=stream, limit=None) \
            if summary.run_id is not None else []
        mapped = store.mappings_for(scope_id, "a", keys.values())
    results = _post_results(keys, rows, mapped)
    if json_output:
        typer.echo(dump_json(results))
    else:
        console = Console()
        table = Table(title=f"post {link} {stream}", title_justify="left")
        for column in ("document", "key", "outcome", "in the books", "message"):
            table.add_column(column)
        for item in results:
            table.add_row(item["document"], item["key"], outcome_text(item["outcome"]),
                          item["b_key"] or "", item["message"] or "")
        console.print(table)
        for message in summary.messages:
            console.print(f"[yellow]•[/] {message}", highlight=False)
    if any(item["outcome"] == Outcome.ERROR.value for item in results):
        raise typer.Exit(1)


def _post_results(keys: Mapping[str, str], rows: list[dict[str, Any]],
                  mapped: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per document asked for: its worst journal row of the run (the last of those), or
    where it stands. (A document can have several rows: its create, then the books' own
    values of fields they own put back on the local side.)"""
    severity = {Outcome.ERROR.value: 3, Outcome.WARNING.value: 2}
    last: dict[str, dict[str, Any]] = {}
    for row in reversed(rows):  # journal rows come newest first
        if row.get("a_key") is not None:
            known = last.get(str(row["a_key"]))
            if known is None or severity.get(str(row["outcome"]), 1) \
                    >= severity.get(str(known["outcome"]), 1):
                last[str(row["a_key"])] = row
    results = []
    for name, record_key in keys.items():
        row = last.get(record_key)
        mapping = mapped.get(record_key)
        b_key = mapping.b_key if mapping is not None else None
        if row is not None:
            outcome, message = str(row["outcome"]), row.get("message")
        elif mapping is not None:
            outcome, message = Outcome.OK.value, "already in the books: nothing to send"
        else:
            outcome, message = Outcome.SKIPPED.value, "not read in this run; marked for the next"
        results.append({"document": name, "key": record_key, "outcome": outcome,
                        "b_key": b_key, "message": message})
    return results


# -- errors -------------------------------------------------------------------------------------
def errors(
    ctx: typer.Context,
    link: Annotated[str, typer.Argument(help="The link whose blocked records to list.")],
    stream: Annotated[str | None, typer.Option(
        "--stream", "-s", metavar="STREAM", help="Only this stream.")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the groups as a JSON list.")] = False,
    config: ConfigOption = None,
) -> None:
    """List the records of LINK that could not go, grouped by cause. They stay pending and
    go with the next run once the cause is fixed."""
    from rich.console import Console
    from rich.markup import escape

    from syncline.cli.render import dump_json
    from syncline.service.review import blocked_groups, groups_json

    loaded = load(ctx, config)
    settings = loaded.link(link)
    if stream is not None:
        settings.check_streams(link, [stream])
    with open_store(loaded) as store:
        groups = blocked_groups(store, link, stream)
    if json_output:
        typer.echo(dump_json(groups_json(groups)))
        return
    console = Console()
    if not groups:
        console.print(f"{link} has no blocked records", highlight=False)
        return
    for group in groups:
        console.print(f"[bold]{escape(group.text)}[/] — {group.count} {group.noun}",
                      highlight=False)
        names = [item["document"] for item in group.documents]
        more = f", … {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
        console.print(f"  {', '.join(names[:_SHOWN])}{more}", markup=False, highlight=False)


# -- xref ---------------------------------------------------------------------------------------
class XrefAction(StrEnum):
    SET = "set"
    LIST = "list"
    REMOVE = "remove"


def _check_table(link: str, settings: LinkConfig, table: str | None) -> str:
    from syncline.service.review import xref_tables

    tables = xref_tables(settings)
    if table is None:
        raise UsageError(f"name the xref table; link '{link}' uses: {', '.join(tables) or 'none'}")
    if table not in tables:
        close = get_close_matches(table, tables, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(f"link '{link}' has no xref table '{table}'{hint}; its rules use: "
                         f"{', '.join(tables) or 'none'}")
    return table


def xref(
    ctx: typer.Context,
    link: Annotated[str, typer.Argument(help="The link whose xref tables to edit.")],
    action: Annotated[XrefAction, typer.Argument(help="set, list or remove.")],
    table: Annotated[str | None, typer.Argument(
        help="The table (ledger_account, tax_rate...): the target field of an xref rule.")]
    = None,
    local: Annotated[str | None, typer.Argument(help="The local value (e.g. a product code).")]
    = None,
    remote: Annotated[str | None, typer.Argument(
        help="With set: the books value (e.g. a ledger account code).")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="With list: print the entries as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Edit the cross-reference tables of LINK: set TABLE LOCAL REMOTE, remove TABLE LOCAL,
    list [TABLE]. Entries stored here win over the config file's."""
    from syncline.service.stores import rules_of

    loaded = load(ctx, config)
    settings = loaded.link(link)
    with open_store(loaded) as store:
        rules_store = rules_of(store)
        if action is XrefAction.LIST:
            if table is not None:
                _check_table(link, settings, table)
            _list_xref(link, settings, store, table, json_output)
            return
        chosen = _check_table(link, settings, table)
        if local is None or (action is XrefAction.SET and remote is None):
            needs = "TABLE LOCAL REMOTE" if action is XrefAction.SET else "TABLE LOCAL"
            raise UsageError(f"xref {action.value} needs {needs}")
        if action is XrefAction.SET:
            assert remote is not None
            replaced = rules_store.set_xref(link, chosen, local, remote, current_user())
            verb = "replaced" if replaced else "added"
            typer.echo(f"{chosen}: '{local}' -> '{remote}' {verb}; the next run of {link} "
                       f"uses it (syncline sync {link})")
            return
        if rules_store.remove_xref(link, chosen, local):
            configured = settings.xref.get(chosen, {}).get(local)
            after = f"; the config file's entry '{configured}' applies again" \
                if configured is not None else ""
            typer.echo(f"{chosen}: '{local}' removed{after}")
            return
        if local in settings.xref.get(chosen, {}):
            raise UsageError(f"{chosen}: '{local}' is set in {loaded.source} "
                             f"([links.{link}.xref.{chosen}]); remove it there")
        raise UsageError(f"{chosen} has no entry for '{local}'")


def _list_xref(link: str, settings: LinkConfig, store: StateStore, table: str | None,
               json_output: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from syncline.cli.render import dump_json
    from syncline.service.review import xref_listing, xref_tables

    tables = [table] if table is not None else xref_tables(settings)
    entries = xref_listing(store, link, settings, tables)
    if json_output:
        typer.echo(dump_json(entries))
        return
    console = Console()
    if not entries:
        console.print(f"no xref entries for {link} ({', '.join(tables) or 'no tables'})",
                      highlight=False)
        return
    grid = Table(title=f"xref {link}", title_justify="left")
    for column in ("table", "local value", "books value", "from"):
        grid.add_column(column)
    for item in entries:
        grid.add_row(item["table"], item["local"], item["remote"], item["source"])
    console.print(grid)
