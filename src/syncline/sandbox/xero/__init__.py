"""The Xero Accounting API SANDBOX: a local stand-in for Xero, for tests and demos.

NOT the real Xero and not the ``xero`` connector: a local HTTP server that behaves as the
documented Accounting API does (Contacts, Invoices and bills, CreditNotes, Payments,
Accounts, TaxRates, Items, TrackingCategories), with a minimal OAuth 2.0 server, validation
against Xero's published OpenAPI document (vendored in ``spec/`` with its MIT licence),
paging, ``If-Modified-Since``, per-element validation errors, status rules, idempotency keys
and per-tenant rate limits. Start it with ``syncline sandbox xero``.
"""

from __future__ import annotations

from syncline.sandbox.xero.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SandboxSettings,
    XeroSandbox,
    serve,
)
from syncline.sandbox.xero.limits import Limits

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "Limits",
    "SandboxSettings",
    "XeroSandbox",
    "serve",
]
