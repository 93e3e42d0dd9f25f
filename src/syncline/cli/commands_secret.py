"""``syncline secret ...``: connector credentials kept encrypted in the credentials vault,
so that the configuration refers to them (``password = "vault:NAME"``) instead of holding
them.

The value is read from a hidden prompt or from the first line of stdin (``--stdin``),
never from the command line; it is encrypted with the secret key (``SYNCLINE_SECRET_KEY``
or the key file, created on first use with permissions 0600; see :mod:`syncline.vault`).
Run these commands as the user that runs ``syncline serve``, so both find the same vault
(or point ``SYNCLINE_VAULT`` at it).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from syncline.errors import UsageError

__all__ = ["secret_app"]

secret_app = typer.Typer(
    name="secret",
    help="Keep connector credentials encrypted: settings refer to them as vault:NAME.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="The credential's name (vault:NAME).")]


@secret_app.command("set")
def set_secret(name: NameArgument,
               stdin: Annotated[bool, typer.Option(
                   "--stdin", help="Read the value from the first line of stdin.")] = False,
               ) -> None:
    """Store (or replace) credential NAME; a setting uses it as "vault:NAME"."""
    from syncline.vault import default_vault_path, store_credential  # cryptography: slow

    if stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = str(typer.prompt(f"Value of {name}", hide_input=True,
                                 confirmation_prompt=True))
    if not value:
        raise UsageError("the value is empty")
    store_credential(name, value)
    typer.echo(f"stored credential {name} (encrypted) in {default_vault_path()}; "
               f"use it as \"vault:{name}\"")


@secret_app.command("list")
def list_secrets() -> None:
    """List the names of the stored credentials (never their values)."""
    from syncline.vault import credential_names, default_vault_path

    names = credential_names()
    if not names:
        typer.echo(f"no credentials in {default_vault_path()}")
    for name in names:
        typer.echo(name)


@secret_app.command("remove")
def remove_secret(name: NameArgument) -> None:
    """Forget credential NAME."""
    from syncline.vault import default_vault_path, remove_credential

    if not remove_credential(name):
        raise UsageError(f"no credential '{name}' in {default_vault_path()}")
    typer.echo(f"removed credential {name}")
