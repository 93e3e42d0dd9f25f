"""A local SANDBOX imitating the QuickBooks Online Accounting API v3, for tests and demos.

It is not Intuit's service and not the product's connector: it holds made-up companies in
memory and answers as the documented API does (entities, query, change data capture, batch,
SyncToken concurrency, faults with codes, request ids, rate limits, OAuth 2.0).

Modules: :mod:`.faults` (fault bodies and codes), :mod:`.query` (the query parser),
:mod:`.entities` (entity kinds, checks, totals), :mod:`.matching` (a query's conditions,
order and field list applied to objects), :mod:`.store` (one company's data),
:mod:`.limits` (rate limits, request log), :mod:`.oauth` (the token server), :mod:`.app`
(HTTP routes), :mod:`.seed` (starting data), :mod:`.server` (running it).
"""

from __future__ import annotations

from syncline.sandbox.qbo.app import BANNER, BATCH_LIMIT, SandboxState, create_app
from syncline.sandbox.qbo.limits import Limits, RequestRecord
from syncline.sandbox.qbo.oauth import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from syncline.sandbox.qbo.server import DEFAULT_REALM, SandboxServer, serve
from syncline.sandbox.qbo.store import Company

__all__ = [
    "BANNER",
    "BATCH_LIMIT",
    "DEFAULT_REALM",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "Company",
    "Limits",
    "RequestRecord",
    "SandboxServer",
    "SandboxState",
    "create_app",
    "serve",
]
