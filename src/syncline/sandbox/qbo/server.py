"""Running the QuickBooks Online SANDBOX: in a background thread (tests, benchmarks) or in
the foreground (``syncline sandbox qbo``)."""

from __future__ import annotations

from types import TracebackType

import uvicorn

from syncline.sandbox import ServerThread, banner
from syncline.sandbox.qbo.app import BANNER, SandboxState, create_app
from syncline.sandbox.qbo.limits import Limits
from syncline.sandbox.qbo.oauth import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

__all__ = ["DEFAULT_REALM", "SandboxServer", "serve"]

DEFAULT_REALM = "9341453100000001"
"""The realmId of the company a sandbox starts with."""


class SandboxServer:
    """A sandbox serving on 127.0.0.1 from a background thread (uvicorn through the shared
    :class:`~syncline.sandbox.ServerThread`).

    Use as a context manager or call :meth:`start` / :meth:`stop`. Without ``port`` a free
    port is chosen; :attr:`base_url` tells which.
    """

    def __init__(self, state: SandboxState | None = None, *, port: int | None = None,
                 host: str = "127.0.0.1") -> None:
        self.state = state or SandboxState()
        if not self.state.companies:
            self.state.add_company(DEFAULT_REALM)
        self._thread = ServerThread(create_app(self.state), host, port)
        self.host = host
        self.port = self._thread.port

    @property
    def base_url(self) -> str:
        return self._thread.url

    def start(self) -> SandboxServer:
        """Start serving; returns once the server accepts connections.

        Raises:
            RuntimeError: the server did not start.
        """
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread. Safe to call twice."""
        self._thread.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def serve(*, port: int = 8765, host: str = "127.0.0.1", rate_scale: float = 1.0,
          per_minute: int = 500, concurrent: int = 10) -> None:
    """Serve a sandbox in the foreground until interrupted, after printing the banner and
    what a syncline endpoint needs to connect (realmId, client credentials, a first refresh
    token)."""
    state = SandboxState(Limits.scaled(rate_scale, per_minute=per_minute,
                                       concurrent=concurrent))
    state.add_company(DEFAULT_REALM)
    tokens = state.tokens(DEFAULT_REALM)
    base = f"http://{host}:{port}"
    print(banner("QuickBooks Online", base, [
        BANNER,
        f"base_url      = {base}",
        f"token_url     = {base}/oauth2/v1/tokens/bearer",
        f"discovery     = {base}/.well-known/openid_configuration/  (intuit-oauth's "
        f"environment)",
        f"realm_id      = {DEFAULT_REALM}",
        f"client_id     = {SANDBOX_CLIENT_ID}",
        f"client_secret = {SANDBOX_CLIENT_SECRET}",
        f"refresh_token = {tokens['refresh_token']}  (single use: refresh tokens rotate)",
        f"limits        = {per_minute} requests per {60 / rate_scale:g} s, "
        f"{concurrent} concurrent, per company"]), flush=True)
    uvicorn.run(create_app(state), host=host, port=port, log_level="info")
