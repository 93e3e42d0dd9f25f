"""The ``syncline`` command line: the Typer application and its entry point.

Every command is thin: parse, call the engine or the state store, render. Errors syncline
raises on purpose end the command with one line on stderr and the error's exit code:

=====  ===========================================================================
code   meaning
=====  ===========================================================================
0      everything went (warnings included)
1      a run finished with item errors (the records stay pending and are retried)
2      usage or configuration error: nothing was touched (``sync`` of every link: a link
       with a configuration error was skipped, the others ran)
3      a run could not proceed (endpoint unreachable, authentication, link busy, state
       store)
130    interrupted (Ctrl-C); the next run resumes
=====  ===========================================================================
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from syncline import __version__
from syncline.cli import (
    commands_discover,
    commands_force,
    commands_info,
    commands_link,
    commands_post,
    commands_project,
    commands_serve,
    commands_sync,
)
from syncline.cli.commands_auth import auth as auth_command
from syncline.cli.commands_sandbox import sandbox_app
from syncline.cli.commands_secret import secret_app
from syncline.cli.commands_user import user_app
from syncline.cli.common import CliState, ConfigOption
from syncline.errors import ConfigError, SynclineError

__all__ = ["app", "main"]


def report_error(error: SynclineError, config: Path | None = None) -> None:
    """Print ``error`` as one line on stderr: ``error: <what and where>``. A configuration
    error that does not name its file yet is prefixed with ``config``, the file loaded."""
    where = f"{config}: " if isinstance(error, ConfigError) and error.source is None \
        and error.key and config is not None else ""
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {where}{error}", err=True)


class SynclineGroup(TyperGroup):
    """The command group; turns syncline's own errors into a message and an exit code
    instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SynclineError as error:
            state = ctx.find_object(CliState)
            report_error(error, state.loaded if state is not None else None)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: nothing is lost; the next run resumes where this one "
                       "stopped", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    name="syncline",
    cls=SynclineGroup,
    help="Two-way record sync between business systems.",
    epilog="Exit codes: 0 ok, 1 item errors, 2 usage or config error, 3 run could not proceed.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # docstrings are paragraphs: their line breaks are not kept
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"syncline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: ConfigOption = None,
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version.")] = None,
) -> None:
    """syncline keeps records (contacts, organisations, items, invoices, ...) in step
    between two systems, both ways, and journals everything it does."""
    ctx.obj = CliState(config=Path(config) if config is not None else None)


app.command("init")(commands_project.init)
app.command("demo")(commands_project.demo)
app.command("setup")(commands_sync.setup)
app.command("sync")(commands_sync.sync)
app.command("status")(commands_info.status)
app.command("link")(commands_link.link)
app.command("journal")(commands_info.journal)
app.command("conflicts")(commands_info.conflicts)
app.command("connectors")(commands_info.connectors)
app.add_typer(sandbox_app)
app.command("auth")(auth_command)
app.command("post")(commands_post.post)
app.command("errors")(commands_post.errors)
app.command("xref")(commands_post.xref)
app.command("serve")(commands_serve.serve)
app.command("force")(commands_force.force)
app.command("discover")(commands_discover.discover)
app.add_typer(user_app)
app.add_typer(secret_app)


def main() -> None:
    """The console script ``syncline``: the whole app, or only the command asked for (see
    :func:`app_for`)."""
    app_for(sys.argv[1:])()


def app_for(arguments: list[str]) -> typer.Typer:
    """The app to run for the command line ``arguments``: when they name a command, an app
    holding only that command (Typer builds a command from each function's signature on
    every call, about a millisecond per command); otherwise (help, ``--version``, no or an
    unknown command) the whole app, so that help and errors list every command."""
    name = _command_name(arguments)
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups
              if info.typer_instance is not None and info.typer_instance.info.name == name]
    if name is None or (not commands and not groups):
        return app
    trimmed = copy.copy(app)
    trimmed.registered_commands, trimmed.registered_groups = commands, groups
    return trimmed


def _command_name(arguments: list[str]) -> str | None:
    """The command the arguments name: the first one that is neither an option of the root
    (``--config PATH``, ``-c PATH``, ``--config=PATH``) nor its value; ``None`` when an
    option other than ``--config`` comes first (``--help``, ``--version``)."""
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        if argument in ("--config", "-c"):
            position += 2
        elif argument.startswith("--config="):
            position += 1
        elif argument.startswith("-"):
            return None
        else:
            return argument
    return None
