"""Helpers for tests against the Xero SANDBOX over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from cryptography.fernet import Fernet

from syncline.connectors.xero import XeroConnector
from syncline.sandbox import ServerThread
from syncline.sandbox.xero import Limits, SandboxSettings, XeroSandbox

__all__ = ["ApiUser", "authorize", "connector_settings", "running_sandbox"]

API = "/api.xro/2.0"


@contextmanager
def running_sandbox(**settings: Any) -> Iterator[tuple[XeroSandbox, ServerThread]]:
    """A fresh sandbox served on a free port for the duration of the block."""
    sandbox = XeroSandbox(SandboxSettings(**settings))
    server = sandbox.serve_in_thread()
    try:
        yield sandbox, server
    finally:
        server.stop()


def token_for(url: str) -> dict[str, Any]:
    """Tokens from the sandbox's authorization-code flow (as another app would get them)."""
    with httpx.Client(base_url=url) as http:
        redirect = http.get("/identity/connect/authorize", params={
            "response_type": "code", "client_id": "sandbox-client", "state": "s",
            "redirect_uri": "http://localhost/cb", "scope": "accounting.transactions"})
        code = parse_qs(urlparse(redirect.headers["location"]).query)["code"][0]
        answer = http.post("/identity/connect/token", data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": "http://localhost/cb"}, auth=("sandbox-client", "sandbox-secret"))
        answer.raise_for_status()
        tokens: dict[str, Any] = answer.json()
        return tokens


class ApiUser:
    """Another user of the organisation: calls the sandbox's API directly."""

    def __init__(self, url: str, tenant: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.token = token_for(url)["access_token"]
        self.tenant = tenant

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "xero-tenant-id": self.tenant, **extra}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self.headers(**kwargs.pop("headers", {}))
        return self.http.request(method, f"{API}{path}", headers=headers, **kwargs)


def connector_settings(url: str, tmp_path: Path, tenant: str, **extra: Any) -> dict[str, Any]:
    key_file = tmp_path / "secret.key"
    if not key_file.exists():
        key_file.write_bytes(Fernet.generate_key())
        key_file.chmod(0o600)
    return {"client_id": "sandbox-client", "client_secret": "sandbox-secret",
            "sandbox_url": url, "tenant": tenant, "vault": str(tmp_path / "vault.json"),
            "key_file": str(key_file), "state_dir": str(tmp_path / "state"),
            "redirect_uri": "http://localhost/cb",
            "limits": {"time_scale": 600.0}, **extra}


def authorize(connector: XeroConnector) -> None:
    """Run the authorization-code grant through the connector (the `syncline auth` path)."""
    url, state = connector.tokens.authorization_url()
    redirect = httpx.get(url, follow_redirects=False)
    connector.tokens.complete(redirect.headers["location"], state=state)


def make_connector(url: str, tmp_path: Path, tenant: str, **extra: Any) -> XeroConnector:
    connector = XeroConnector("books", connector_settings(url, tmp_path, tenant, **extra),
                              tmp_path)
    if connector.vault.get(connector.config.connection) is None:
        authorize(connector)
    connector.open()
    return connector


DEFAULT_LIMITS = Limits(scale=600.0)
