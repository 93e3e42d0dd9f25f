"""``syncline auth ENDPOINT``: the first OAuth 2.0 authorization of an endpoint.

Prints the URL to open in a browser; after the user grants access, the browser is sent to
the endpoint's ``redirect_uri``; paste that address (or just its ``code``) back, and the
token is stored encrypted in the vault, from where the connector refreshes it on its own.
Works for connectors whose ``tokens`` offer ``authorization_url()`` and ``complete()``
(``xero``).
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import httpx
import typer

from syncline.cli.common import ConfigOption, load
from syncline.connectors import connector_class
from syncline.errors import AuthenticationFailed, ConfigError, UsageError

__all__ = ["auth"]


class _Grant(Protocol):
    def authorization_url(self, state: str | None = None) -> tuple[str, str]: ...

    def complete(self, answer: str, state: str | None = None) -> dict[str, Any]: ...


def _follow(url: str, endpoint: str) -> str:
    """Open the authorization URL without a browser and return where it redirects (only a
    SANDBOX, which consents at once, answers that way)."""
    try:
        response = httpx.get(url, follow_redirects=False, timeout=30)
    except httpx.HTTPError as error:
        raise AuthenticationFailed(endpoint, f"{url}: {error}") from None
    location = response.headers.get("location")
    if response.status_code not in (301, 302, 303, 307) or not location:
        raise UsageError("--follow works only with a sandbox that grants access at once; "
                         "open the URL in a browser instead")
    return str(location)


def auth(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The endpoint to authorize.")],
    answer: Annotated[str | None, typer.Option(
        "--answer", help="The redirect URL (or code) the browser came back with; "
                         "asked for when not given.")] = None,
    follow: Annotated[bool, typer.Option(
        "--follow", help="SANDBOX only: open the URL without a browser and complete at "
                         "once.")] = False,
    config: ConfigOption = None,
) -> None:
    """Authorize ENDPOINT with its OAuth 2.0 provider and store the token, encrypted."""
    loaded = load(ctx, config)
    settings = loaded.endpoints.get(endpoint)
    if settings is None:
        raise ConfigError(f"there is no endpoint '{endpoint}'", key=f"endpoints.{endpoint}",
                          source=loaded.source)
    connector = connector_class(settings.connector)(endpoint, settings.settings,
                                                    loaded.base_dir)
    tokens = getattr(connector, "tokens", None)
    if tokens is None or not hasattr(tokens, "authorization_url"):
        raise UsageError(f"endpoint '{endpoint}' ({settings.connector}) does not use an "
                         f"OAuth authorization grant")
    grant: _Grant = tokens
    url, state = grant.authorization_url()
    expected: str | None = state  # checked only for a URL answered in this invocation
    if follow:
        answer = _follow(url, endpoint)
    elif answer is None:
        typer.echo(f"Open this address in a browser and grant access:\n\n  {url}\n")
        answer = typer.prompt("Then paste the address the browser was sent to (or the code)")
    else:
        expected = None
    grant.complete(answer, state=expected)
    typer.echo(f"authorized: the token for endpoint '{endpoint}' is stored encrypted")
    connections = getattr(connector, "connections", None)
    if callable(connections):
        for found in connections():
            typer.echo(f"  organisation {found.get('tenantName')}  (tenant "
                       f"{found.get('tenantId')})")
    connector.close()
