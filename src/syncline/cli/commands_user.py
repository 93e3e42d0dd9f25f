"""``syncline user ...``: the people (and programs) allowed to use the service's API, their
roles and their API tokens.

Roles (see :class:`~syncline.service.stores.Role`): ``viewer`` reads status and
journals; ``operator`` also starts syncs, retries items, resolves conflicts, pauses links;
``admin`` also runs Sync All, Force Sync and forced resynchronisation, and manages users.

Passwords are read from a hidden prompt (``--password``) or from the first line of stdin
(``--password-stdin``), never from the command line; they are stored as argon2 hashes. An
API token is printed once, when it is made (``syncline user token NAME``, or ``user add
--token``); only its digest is stored, so a lost token is revoked and replaced.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from syncline.cli.common import ConfigOption, current_user, load, open_store
from syncline.errors import UsageError

if TYPE_CHECKING:  # the store (SQLAlchemy, argon2) and Rich load when a command runs
    from syncline.service.stores import User

__all__ = ["user_app"]

user_app = typer.Typer(
    name="user",
    help="Manage the users of the service's API: roles (viewer, operator, admin), passwords "
         "and API tokens.",
    no_args_is_help=True,
)

RoleArgument = Annotated[str, typer.Argument(metavar="ROLE",
                                             help="viewer, operator or admin.")]
PasswordOption = Annotated[bool, typer.Option(
    "--password", help="Set a password, typed at a hidden prompt.")]
PasswordStdinOption = Annotated[bool, typer.Option(
    "--password-stdin", help="Set a password, read from the first line of stdin.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _password(prompt: bool, stdin: bool) -> str | None:
    """The password asked for, or ``None``.

    Raises:
        UsageError: both ways were asked for, or the password is empty.
    """
    if prompt and stdin:
        raise UsageError("give --password or --password-stdin, not both")
    if stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    elif prompt:
        value = str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    else:
        return None
    if not value:
        raise UsageError("the password is empty")
    return value


def _user_json(user: User) -> dict[str, object]:
    return {"name": user.name, "role": user.role.value, "created_at": user.created_at,
            "created_by": user.created_by, "has_password": user.has_password,
            "tokens": user.tokens}


@user_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's name (no spaces).")],
    role: Annotated[str, typer.Option("--role", "-r", help="viewer, operator or admin.")]
    = "viewer",  # Role.VIEWER; a literal so that --help does not load the store
    password: PasswordOption = False,
    password_stdin: PasswordStdinOption = False,
    token: Annotated[bool, typer.Option(
        "--token", help="Also make an API token and print it (shown this once).")] = False,
    label: Annotated[str | None, typer.Option(
        "--label", help="A label for the token (where it is used).")] = None,
    config: ConfigOption = None,
) -> None:
    """Add user NAME with a role; optionally a password and an API token."""
    from syncline.service.stores import parse_role, users_of

    chosen = parse_role(role)
    secret = _password(password, password_stdin)
    loaded = load(ctx, config)
    with open_store(loaded) as store:
        users = users_of(store)
        created = users.add_user(name, chosen, secret, created_by=current_user())
        typer.echo(f"added user {created.name} ({created.role.value})"
                   + (" with a password" if created.has_password else ""))
        if token:
            _print_token(name, users.create_token(name, label))


def _print_token(name: str, token: str) -> None:
    typer.echo(f"API token for {name} (shown once; keep it secret):", err=True)
    typer.echo(token)


@user_app.command("list")
def list_users(ctx: typer.Context, json_output: JsonOption = False,
               config: ConfigOption = None) -> None:
    """List the users, their roles and how many API tokens each has."""
    from rich.console import Console
    from rich.table import Table

    from syncline.cli.render import dump_json
    from syncline.service.stores import users_of

    loaded = load(ctx, config)
    with open_store(loaded) as store:
        users = users_of(store).users()
    if json_output:
        typer.echo(dump_json([_user_json(user) for user in users]))
        return
    if not users:
        typer.echo("no users yet (add one with 'syncline user add NAME --role admin')")
        return
    table = Table("user", "role", "password", "tokens", "created", "by")
    for user in users:
        table.add_row(user.name, user.role.value, "yes" if user.has_password else "no",
                      str(user.tokens), user.created_at.strftime("%Y-%m-%d %H:%M"),
                      user.created_by or "")
    Console().print(table)


@user_app.command("set-role")
def set_role(ctx: typer.Context,
             name: Annotated[str, typer.Argument(help="The user.")],
             role: RoleArgument, config: ConfigOption = None) -> None:
    """Change the role of user NAME."""
    from syncline.service.stores import keep_an_admin, parse_role, users_of

    chosen = parse_role(role)
    loaded = load(ctx, config)
    with open_store(loaded) as store:
        users = users_of(store)
        before = users.user(name)
        keep_an_admin(users, name, chosen)
        users.set_role(name, chosen)
    typer.echo(f"{name}: {before.role.value} -> {chosen.value}")


@user_app.command("password")
def set_password(ctx: typer.Context,
                 name: Annotated[str, typer.Argument(help="The user.")],
                 password_stdin: PasswordStdinOption = False,
                 config: ConfigOption = None) -> None:
    """Set the password of user NAME (hidden prompt, or --password-stdin)."""
    from syncline.service.stores import users_of

    secret = _password(not password_stdin, password_stdin)
    assert secret is not None
    loaded = load(ctx, config)
    with open_store(loaded) as store:
        users_of(store).set_password(name, secret)
    typer.echo(f"{name}: password changed")


@user_app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The user.")],
           config: ConfigOption = None) -> None:
    """Remove user NAME and their API tokens."""
    from syncline.service.stores import keep_an_admin, users_of

    loaded = load(ctx, config)
    with open_store(loaded) as store:
        users = users_of(store)
        users.user(name)
        keep_an_admin(users, name, None)
        tokens = len(users.tokens(name))
        users.remove_user(name)
    typer.echo(f"removed user {name} and {tokens} API token(s)")


@user_app.command("token")
def token(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The user.")],
          label: Annotated[str | None, typer.Option(
              "--label", help="A label for the token (where it is used).")] = None,
          config: ConfigOption = None) -> None:
    """Make an API token for user NAME and print it (shown this once)."""
    from syncline.service.stores import users_of

    loaded = load(ctx, config)
    with open_store(loaded) as store:
        made = users_of(store).create_token(name, label)
    _print_token(name, made)


@user_app.command("tokens")
def tokens(ctx: typer.Context,
           name: Annotated[str | None, typer.Argument(help="Only this user's.")] = None,
           json_output: JsonOption = False, config: ConfigOption = None) -> None:
    """List API tokens (their ids, labels and last use; never the tokens)."""
    from rich.console import Console
    from rich.table import Table

    from syncline.cli.render import dump_json
    from syncline.service.stores import users_of

    loaded = load(ctx, config)
    with open_store(loaded) as store:
        users = users_of(store)
        if name is not None:
            users.user(name)
        found = users.tokens(name)
    if json_output:
        typer.echo(dump_json([{"id": item.id, "user": item.user, "label": item.label,
                               "created_at": item.created_at,
                               "last_used_at": item.last_used_at} for item in found]))
        return
    table = Table("id", "user", "label", "created", "last used")
    for item in found:
        table.add_row(str(item.id), item.user, item.label or "",
                      item.created_at.strftime("%Y-%m-%d %H:%M"),
                      item.last_used_at.strftime("%Y-%m-%d %H:%M")
                      if item.last_used_at else "never")
    Console().print(table)


@user_app.command("revoke")
def revoke(ctx: typer.Context,
           token_id: Annotated[int, typer.Argument(metavar="TOKEN_ID",
                                                   help="The id 'syncline user tokens' shows.")],
           config: ConfigOption = None) -> None:
    """Revoke (delete) an API token."""
    from syncline.service.stores import users_of

    loaded = load(ctx, config)
    with open_store(loaded) as store:
        if not users_of(store).revoke_token(token_id):
            raise UsageError(f"no API token {token_id} (see 'syncline user tokens')")
    typer.echo(f"revoked API token {token_id}")
