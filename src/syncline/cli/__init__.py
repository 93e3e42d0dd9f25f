"""The ``syncline`` command line (Typer + Rich). :data:`app` is the Typer application,
:func:`main` the console script."""

from __future__ import annotations

from syncline.cli.main import app, main

__all__ = ["app", "main"]
