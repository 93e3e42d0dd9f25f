"""``syncline auth ENDPOINT``: the first OAuth 2.0 authorization of an endpoint.

Prints the URL to open in a browser; after the user grants access, the browser is sent to
the endpoint's ``redirect_uri``; paste that address (or just its ``code``) back, and the
token is stored encrypted in the vault, from where the connector refreshes it on its own.
With ``--listen`` (for a ``redirect_uri`` on ``http://localhost:PORT/...``, the default) the
command opens the browser and catches the redirect itself on that port, so nothing needs
pasting. Works for connectors whose ``tokens`` offer ``authorization_url()`` and
``complete()`` (``xero``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlparse

import typer

from syncline.cli.common import ConfigOption, load
from syncline.errors import AuthenticationFailed, UsageError

__all__ = ["auth"]


def _follow(url: str, endpoint: str) -> str:
    """Open the authorization URL without a browser and return where it redirects (only a
    SANDBOX, which consents at once, answers that way)."""
    import httpx  # only --follow needs it (start-up time)

    try:
        response = httpx.get(url, follow_redirects=False, timeout=30)
    except httpx.HTTPError as error:
        raise AuthenticationFailed(endpoint, f"{url}: {error}") from None
    location = response.headers.get("location")
    if response.status_code not in (301, 302, 303, 307) or not location:
        raise UsageError("--follow works only with a sandbox that grants access at once; "
                         "open the URL in a browser instead")
    return str(location)


_RECEIVED = (b"<!doctype html><title>syncline</title><p>syncline received the authorization."
             b" You can close this window.</p>")


def _listen(redirect_uri: str, url: str, endpoint: str, timeout: float) -> str:
    """Open ``url`` in a browser and wait for its redirect to ``redirect_uri`` (a local
    address); returns the full redirect URL.

    Raises:
        UsageError: ``redirect_uri`` is not an ``http://localhost`` / ``127.0.0.1`` address.
        AuthenticationFailed: no redirect came within ``timeout`` seconds.
    """
    import webbrowser
    from http.server import BaseHTTPRequestHandler, HTTPServer  # only --listen (start-up)

    target = urlparse(redirect_uri)
    if target.scheme != "http" or target.hostname not in ("localhost", "127.0.0.1"):
        raise UsageError(f"--listen needs a redirect_uri on http://localhost:PORT/... "
                         f"(the endpoint has {redirect_uri})")
    caught: list[str] = []
    wanted_path = target.path or "/"

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if urlparse(self.path).path != wanted_path:
                self.send_error(404)
                return
            caught.append(f"http://{target.netloc}{self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(_RECEIVED)))
            self.end_headers()
            self.wfile.write(_RECEIVED)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    try:
        server = HTTPServer(("127.0.0.1", target.port or 80), Redirect)
    except OSError as error:
        raise UsageError(f"cannot listen on {target.netloc} for the redirect: {error}") \
            from None
    server.timeout = 0.5
    try:
        typer.echo(f"Opening the browser to grant access (or open this address):\n\n  {url}\n"
                   f"\nWaiting for the redirect to {redirect_uri} ...")
        webbrowser.open(url)
        deadline = time.monotonic() + timeout
        while not caught and time.monotonic() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    if not caught:
        raise AuthenticationFailed(endpoint, f"no redirect arrived at {redirect_uri} within "
                                             f"{timeout:.0f} s")
    return caught[0]


def auth(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The endpoint to authorize.")],
    answer: Annotated[str | None, typer.Option(
        "--answer", help="The redirect URL (or code) the browser came back with; "
                         "asked for when not given.")] = None,
    follow: Annotated[bool, typer.Option(
        "--follow", help="SANDBOX only: open the URL without a browser and complete at "
                         "once.")] = False,
    listen: Annotated[bool, typer.Option(
        "--listen", help="Open the browser and catch its redirect on the endpoint's "
                         "redirect_uri (http://localhost:PORT/...) instead of pasting it.")]
    = False,
    wait: Annotated[float, typer.Option(
        "--wait", help="With --listen: seconds to wait for the redirect.", min=1)] = 300.0,
    config: ConfigOption = None,
) -> None:
    """Authorize ENDPOINT with its OAuth 2.0 provider and store the token, encrypted."""
    from syncline.service.endpoints import endpoint_grant

    loaded = load(ctx, config)
    opened = endpoint_grant(loaded, endpoint)
    grant = opened.grant
    url, state = grant.authorization_url()
    expected: str | None = state  # checked only for a URL answered in this invocation
    if follow:
        answer = _follow(url, endpoint)
    elif listen:
        answer = _listen(opened.redirect_uri, url, endpoint, wait)
    elif answer is None:
        typer.echo(f"Open this address in a browser and grant access:\n\n  {url}\n")
        answer = typer.prompt("Then paste the address the browser was sent to (or the code)")
    else:
        expected = None
    grant.complete(answer, state=expected)
    typer.echo(f"authorized: the token for endpoint '{endpoint}' is stored encrypted")
    for found in opened.connections():
        typer.echo(f"  organisation {found.get('tenantName')}  (tenant "
                   f"{found.get('tenantId')})")
    opened.close()
