"""Getting started: ``syncline init`` (a starter configuration) and ``syncline demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from syncline.cli.commands_sync import print_summary
from syncline.cli.common import CliState, ConfigOption, config_path
from syncline.cli.starter import STARTER_CONFIG
from syncline.errors import UsageError

if TYPE_CHECKING:  # imported when used: other commands need not load the demo (start-up)
    from rich.console import Console
    from rich.table import Table

    from syncline.demo import ConflictStory, Demo
    from syncline.service.outcomes import RunSummary

__all__ = ["demo", "init"]


def init(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Write a commented starter syncline.toml (never over an existing file)."""
    path = config_path(ctx, config)
    if path.exists():
        raise UsageError(f"{path} already exists; edit it, or choose another file with "
                         f"--config PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    typer.echo(f"wrote {path}: describe your endpoints and links there, then run "
               f"'syncline setup LINK' and 'syncline sync LINK'")


def demo(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(
        file_okay=False, help="Where to build the demo (its previous demo files are replaced).")
    ] = Path("syncline-demo"),
) -> None:
    """Build two sample databases with different schemas, link them, sync, change both
    sides (with a conflict and a delete), sync again, and show what happened; then sync the
    CRM's contacts, appointments and tasks with FOLDER/groupware, .vcf and .ics files any
    contacts or calendar application opens.

    Writes FOLDER/syncline.toml; look further with --config FOLDER/syncline.toml.
    """
    state = ctx.find_object(CliState)
    if state is not None and state.config is not None:
        raise UsageError("demo writes its own FOLDER/syncline.toml: give the folder instead "
                         "of --config")
    from rich.console import Console

    from syncline.cli.render import worst_exit
    from syncline.demo import GROUPWARE_LINKS, LINK, Demo

    console = Console()
    run = Demo(folder)
    config_arg = f"--config {run.config_file}"

    console.rule("[bold]1. two systems with sample data")
    run.prepare()
    console.print(_sizes_table(run.build()))
    console.print(f"wrote {run.write_config()} linking them both ways (link [bold]{LINK}[/])",
                  highlight=False)

    console.rule("[bold]2. setup: change capture on both sides")
    for endpoint, lines in run.setup().items():
        console.print(f"[bold]{endpoint}[/]:", highlight=False)
        for line in lines or ["nothing to do"]:
            _say(console, f"  {line}")

    console.rule("[bold]3. first sync: existing records are paired by natural keys")
    first = _sync(run, console, LINK)
    paired = ", ".join(f"{stream} {count} (by {' + '.join(keys)})"
                       for stream, (count, keys) in run.paired(first).items() if count)
    _say(console, f"already on both sides, paired instead of created: {paired or 'none'}")

    console.rule("[bold]4. people change both systems")
    report = run.change_both_sides()
    for edit in report.edits:
        _say(console, f"  {edit.endpoint:6} {edit.stream:8} {edit.description}")

    console.rule("[bold]5. second sync: only the changes travel")
    second = _sync(run, console, LINK)

    console.rule("[bold]6. what happened")
    if second.run_id is not None:
        console.print(_actions_table(run, second.run_id))
        for story in run.conflicts(second.run_id):
            _print_conflict(console, story)

    console.rule("[bold]7. groupware: the CRM's contacts, appointments and tasks as files")
    outcomes = [first.outcome, second.outcome]
    for link in GROUPWARE_LINKS:
        run.setup(link)
        outcomes.append(_sync(run, console, link).outcome)
    for found in run.groupware():
        _say(console, f"  {found.link}: {found.files} {found.stream} files in {found.folder}")
    _say(console, "open them in any contacts or calendar application (or point khard, khal or "
                  "vdirsyncer at the folders); edits made there come back with "
                  f"syncline {config_arg} sync crm-contacts")

    console.print("\nlook further:", highlight=False)
    for command in (f"syncline {config_arg} status",
                    f"syncline {config_arg} journal {LINK} --run {second.run_id}",
                    f"syncline {config_arg} journal {LINK} --action D",
                    f"syncline {config_arg} sync {LINK} --dry-run --full"):
        _say(console, f"  {command}")
    console.print("\nthe web console (sign in as the user you add):", highlight=False)
    for command in (f"syncline {config_arg} user add you --role admin --password",
                    f"syncline {config_arg} serve    # then open http://127.0.0.1:8040/"):
        _say(console, f"  {command}")
    raise typer.Exit(worst_exit(outcomes))


def _sync(run: Demo, console: Console, link: str) -> RunSummary:
    from syncline.cli.progress import progress_for

    with progress_for(console, sys.stderr, link, plain=False) as reporter:
        summary = run.sync(reporter, link_name=link)
    print_summary(console, summary)
    return summary


def _sizes_table(sizes: dict[str, dict[str, int]]) -> Table:
    from rich.table import Table

    table = Table(title="sample databases", title_justify="left")
    table.add_column("database")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for database, tables in sizes.items():
        for position, (name, rows) in enumerate(tables.items()):
            table.add_row(f"{database}.db" if position == 0 else "", name, str(rows))
        table.add_section()
    return table


def _actions_table(run: Demo, run_id: int) -> Table:
    from rich.table import Table

    names = {"A": "created", "M": "modified", "D": "deleted", "R": "resent"}
    table = Table(title=f"run {run_id} by action and direction (from the journal)",
                  title_justify="left")
    for column in ("action", "direction", "outcome", "records"):
        table.add_column(column, justify="right" if column == "records" else "left")
    for (action, direction, outcome), count in sorted(run.journal_counts(run_id).items()):
        arrow = "crm → books" if direction == "a>b" else "books → crm"
        table.add_row(f"{action} {names.get(action, '')}", arrow, outcome, str(count))
    return table


def _say(console: Console, text: str) -> None:
    """Print ``text`` as is: no markup, no highlighting, never wrapped."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _print_conflict(console: Console, story: ConflictStory) -> None:
    console.print(f"\n[bold magenta]conflict[/] on {story.stream} crm:{story.a_key} / "
                  f"books:{story.b_key}", highlight=False)
    case = story.case
    if case is not None:
        _say(console, f"  crm set {case.field} to {case.crm_value}, books set it to "
                      f"{case.books_value} a moment later")
    _say(console, f"  the journal says: {story.message}")
    if story.crm_now is not None:
        _say(console, f"  now crm has {story.crm_now} and books has {story.books_now}")
