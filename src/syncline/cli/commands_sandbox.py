"""``syncline sandbox ...``: start a local SANDBOX that stands in for an accounting system.

Sandboxes are for tests, demos and trying syncline before connecting real books; they are
not connectors and hold everything in memory. Each sandbox is one function here registered
on :data:`sandbox_app` (``@sandbox_app.command("NAME")``); adding another is adding one
function.

The sandboxes need the ``sandbox`` extra (``pip install 'syncline[sandbox]'``: the JSON
schema and OpenAPI validators they check requests with); without it a sandbox command says
so and exits with code 2 (:func:`sandbox_extra`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from syncline.errors import UsageError

__all__ = ["INSTALL_EXTRA", "SANDBOX_EXTRA_MODULES", "qbo", "sandbox_app", "sandbox_extra",
           "xero"]

SANDBOX_EXTRA_MODULES = frozenset({"fastjsonschema", "jsonschema", "openapi_schema_validator",
                                   "referencing", "yaml"})
"""The top-level modules the ``sandbox`` extra of ``pyproject.toml`` installs (``referencing``
comes with ``jsonschema``, ``yaml`` is ``pyyaml``)."""
INSTALL_EXTRA = "pip install 'syncline[sandbox]'"


@contextmanager
def sandbox_extra() -> Iterator[None]:
    """Turn a missing module of the ``sandbox`` extra, imported in the block, into a
    :class:`~syncline.errors.UsageError` (exit code 2) that says how to install it.

    Raises:
        UsageError: a module of :data:`SANDBOX_EXTRA_MODULES` is not installed.
        ModuleNotFoundError: another module is missing (a broken install: not hidden).
    """
    try:
        yield
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in SANDBOX_EXTRA_MODULES:
            raise
        raise UsageError(f"the sandboxes need the 'sandbox' extra, which is not installed "
                         f"(no module '{missing}'): {INSTALL_EXTRA}") from None

sandbox_app = typer.Typer(
    name="sandbox",
    help="Start a local SANDBOX server standing in for an accounting system (Xero, "
         "QuickBooks Online) - for tests and demos, NOT the real service.",
    no_args_is_help=True,
)

PortOption = Annotated[int, typer.Option("--port", help="TCP port on --host.", min=1,
                                         max=65535)]
HostOption = Annotated[str, typer.Option("--host", help="Address to listen on.")]
RateScaleOption = Annotated[float, typer.Option(
    "--rate-scale", help="Speed up the rate-limit clock: with 60, a 'minute' of the limits "
                         "lasts one second (Retry-After then has fractions of a second).")]


@sandbox_app.command("xero")
def xero(
    port: PortOption = 8765,
    host: HostOption = "127.0.0.1",
    rate_scale: RateScaleOption = 1.0,
    per_minute: Annotated[int, typer.Option(help="Calls per minute per tenant.")] = 60,
    concurrent: Annotated[int, typer.Option(help="Calls in progress per tenant.")] = 5,
    per_day: Annotated[int, typer.Option(help="Calls per day per tenant.")] = 5000,
    tenant: Annotated[list[str] | None, typer.Option(
        "--tenant", help="An organisation to create (repeat for several); default: two.")]
    = None,
    client_id: Annotated[str, typer.Option(help="The OAuth client ID to accept.")]
    = "sandbox-client",
    client_secret: Annotated[str, typer.Option(help="The OAuth client secret to accept.")]
    = "sandbox-secret",
) -> None:
    """Start a SANDBOX of the Xero Accounting API (NOT the real Xero).

    A local server for tests and demos: OAuth 2.0 and tenants, Contacts, Invoices, bills,
    CreditNotes, Payments, Accounts, TaxRates, Items, TrackingCategories, validation
    against Xero's OpenAPI document, paging, If-Modified-Since, idempotency keys and rate
    limits. Data lives in memory until the server stops.
    """
    with sandbox_extra():
        from syncline.sandbox.xero import Limits, SandboxSettings, serve

    if rate_scale <= 0:
        raise UsageError("--rate-scale must be greater than 0")
    settings = SandboxSettings(
        client_id=client_id, client_secret=client_secret,
        limits=Limits(per_minute=per_minute, per_day=per_day, concurrent=concurrent,
                      scale=rate_scale))
    if tenant:
        settings.tenants = list(tenant)
    serve(settings, host=host, port=port)


@sandbox_app.command("qbo")
def qbo(
    port: PortOption = 8766,
    host: HostOption = "127.0.0.1",
    rate_scale: RateScaleOption = 1.0,
    per_minute: Annotated[int, typer.Option(help="Requests per minute per company.")] = 500,
    concurrent: Annotated[int, typer.Option(help="Requests in progress per company.")] = 10,
) -> None:
    """SANDBOX of the QuickBooks Online Accounting API v3 (NOT Intuit's service): OAuth 2.0
    with rotating refresh tokens, Customer, Vendor, Invoice, Bill, Payment, Account, TaxCode,
    Item, Term; query, change data capture (30 days), batch (30 operations), SyncToken
    checks, faults with codes, request ids and rate limits. Data lives in memory until the
    server stops."""
    with sandbox_extra():
        from syncline.sandbox.qbo import serve

    if rate_scale <= 0:
        raise UsageError("--rate-scale must be greater than 0")
    serve(port=port, host=host, rate_scale=rate_scale, per_minute=per_minute,
          concurrent=concurrent)
