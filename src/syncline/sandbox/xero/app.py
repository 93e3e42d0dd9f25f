"""Assembling the Xero SANDBOX: settings, the FastAPI application, and running it.

Besides Xero's own routes (see :mod:`.api` and :mod:`.oauth`) the sandbox serves a few of
its own under ``/sandbox`` (no authentication; it is a local test server):

``GET /sandbox``              what this is, the tenants and the client credentials
``GET /sandbox/log``          the request log (see :class:`~.store.LoggedRequest`)
``GET /sandbox/state``        every record of every tenant, in API form
``POST /sandbox/expire-tokens``  expire every access token now (to test refreshing)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from syncline.sandbox import SANDBOX_NOTICE, ServerThread, banner
from syncline.sandbox.xero.api import PREFIX, AccountingApi, api_router
from syncline.sandbox.xero.limits import Limits, RateLimiter
from syncline.sandbox.xero.oauth import OAuthServer, oauth_router
from syncline.sandbox.xero.store import SandboxStore

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "SandboxSettings", "XeroSandbox",
           "create_app", "serve"]

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
TITLE = "Xero Accounting API - syncline SANDBOX (not the real Xero)"


@dataclass
class SandboxSettings:
    """How a sandbox behaves: its organisations, its OAuth client, token lifetime, rate
    limits (and their time scale) and an artificial delay per call (to make calls overlap
    in tests of the concurrency limit)."""

    tenants: list[str] = field(default_factory=lambda: ["Sandbox Company A (UK)",
                                                        "Sandbox Company B (UK)"])
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    access_token_seconds: float = 1800.0
    limits: Limits = field(default_factory=Limits)
    latency: float = 0.0


class XeroSandbox:
    """One sandbox: its store, OAuth server, limiter and FastAPI application."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self.store = SandboxStore(self.settings.tenants)
        self.oauth = OAuthServer(self.store, {self.settings.client_id:
                                              self.settings.client_secret},
                                 self.settings.access_token_seconds)
        self.limiter = RateLimiter(self.settings.limits)
        self.api = AccountingApi(self.store, self.oauth, self.limiter, self.settings.latency)
        self.app = create_app(self)

    def tenant_ids(self) -> list[str]:
        return list(self.store.tenants)

    def banner_lines(self) -> list[str]:
        limits = self.settings.limits
        lines = [f"OAuth client: id={self.settings.client_id} "
                 f"secret={self.settings.client_secret}",
                 "authorize: /identity/connect/authorize  token: /identity/connect/token",
                 f"API: {PREFIX}   connections: /connections   log: /sandbox/log",
                 f"limits per tenant: {limits.per_minute}/minute, {limits.concurrent} at once, "
                 f"{limits.per_day}/day; time scale x{limits.scale:g}"]
        lines += [f"tenant {tenant.tenant_id}  {tenant.name}"
                  for tenant in self.store.tenants.values()]
        return lines

    def serve_in_thread(self, port: int | None = None) -> ServerThread:
        """Start serving on 127.0.0.1 (a free port unless given) in a background thread."""
        return ServerThread(self.app, port=port).start()


def create_app(sandbox: XeroSandbox) -> FastAPI:
    """The FastAPI application of ``sandbox``."""
    app = FastAPI(title=TITLE, version="sandbox", description=(
        f"{SANDBOX_NOTICE}. Behaves as Xero's documented Accounting API does for Contacts, "
        f"Invoices, CreditNotes, Payments, Accounts, TaxRates, Items and TrackingCategories, "
        f"validating bodies against Xero's published OpenAPI document."))
    app.include_router(oauth_router(sandbox.oauth))
    app.include_router(api_router(sandbox.api))

    @app.get("/sandbox", tags=["SANDBOX control"])
    def about() -> JSONResponse:
        return JSONResponse({"sandbox": True, "notice": SANDBOX_NOTICE,
                             "lines": sandbox.banner_lines(),
                             "tenants": {t.tenant_id: t.name
                                         for t in sandbox.store.tenants.values()}})

    @app.get("/sandbox/log", tags=["SANDBOX control"])
    def log() -> JSONResponse:
        return JSONResponse(sandbox.store.log_entries())

    @app.get("/sandbox/state", tags=["SANDBOX control"])
    def state() -> JSONResponse:
        return JSONResponse(sandbox.store.snapshot())

    @app.post("/sandbox/expire-tokens", tags=["SANDBOX control"])
    def expire_tokens() -> JSONResponse:
        return JSONResponse({"expired": sandbox.oauth.expire_access_tokens()})

    return app


def serve(settings: SandboxSettings, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Print the banner and serve until interrupted (the ``syncline sandbox xero`` command)."""
    import uvicorn

    sandbox = XeroSandbox(settings)
    url = f"http://{host}:{port}"
    hint = [f"endpoint settings: connector = \"xero\", sandbox_url = \"{url}\", "
            f"client_id = \"{settings.client_id}\", client_secret = "
            f"\"{settings.client_secret}\"; then `syncline auth ENDPOINT --follow`"]
    print(banner("Xero Accounting API", url, sandbox.banner_lines() + hint), flush=True)
    uvicorn.run(sandbox.app, host=host, port=port, log_level="warning")
