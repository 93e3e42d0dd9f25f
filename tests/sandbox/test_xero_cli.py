"""`syncline auth` and `syncline connectors` against the Xero SANDBOX over real HTTP: the
authorization-code grant completed by following the sandbox's redirect, or by listening for
the browser's redirect on the endpoint's localhost ``redirect_uri``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.xero_support import running_sandbox
from syncline.connectors.base import ReadScope
from syncline.connectors.xero import XeroConnector

TENANT = "Sandbox Company A (UK)"


@pytest.fixture
def sandbox() -> Iterator[tuple[Any, Any]]:
    with running_sandbox() as running:
        yield running


def tenant_id(sandbox: Any) -> str:
    return next(t.tenant_id for t in sandbox.store.tenants.values() if t.name == TENANT)


def test_cli_auth_then_connectors(sandbox: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from syncline.cli.main import app

    xero, server = sandbox
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(Fernet.generate_key())
    config = tmp_path / "syncline.toml"
    config.write_text(f"""
[state]
url = "sqlite:///state.db"

[endpoints.books]
connector = "xero"
client_id = "sandbox-client"
client_secret = "sandbox-secret"
sandbox_url = "{server.url}"
tenant = "{TENANT}"
key_file = "secret.key"
redirect_uri = "http://localhost/cb"
""")
    runner = CliRunner()
    result = runner.invoke(app, ["auth", "books", "--follow", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "stored encrypted" in result.output and TENANT in result.output
    stored = (tmp_path / ".syncline" / "vault.json").read_text()
    assert "refresh_token" not in stored
    connector = XeroConnector("books", {
        "client_id": "sandbox-client", "client_secret": "sandbox-secret",
        "sandbox_url": server.url, "tenant": TENANT, "key_file": str(key_file),
        "redirect_uri": "http://localhost/cb"}, tmp_path)
    connector.open()
    assert connector.tenant_id == tenant_id(xero)
    connector.close()
    matrix = runner.invoke(app, ["connectors", "--json", "--config", str(config)])
    assert matrix.exit_code == 0, matrix.output
    assert '"xero"' in matrix.output and "ledger_account" in matrix.output
    wrong = runner.invoke(app, ["auth", "nowhere", "--follow", "--config", str(config)])
    assert wrong.exit_code == 2 and "nowhere" in wrong.output


def test_cli_auth_listens_for_the_browser_redirect(sandbox: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`syncline auth --listen` opens the browser and catches the redirect on the endpoint's
    localhost redirect_uri itself (the browser is played by an HTTP client)."""
    import threading
    import webbrowser

    import httpx
    from typer.testing import CliRunner

    from syncline.cli.main import app
    from syncline.sandbox import free_port

    _, server = sandbox
    port = free_port()
    (tmp_path / "secret.key").write_bytes(Fernet.generate_key())
    config = tmp_path / "syncline.toml"
    config.write_text(f"""
[endpoints.books]
connector = "xero"
client_id = "sandbox-client"
client_secret = "sandbox-secret"
sandbox_url = "{server.url}"
tenant = "{TENANT}"
key_file = "secret.key"
redirect_uri = "http://localhost:{port}/callback"
""")
    pages: list[str] = []

    def browser(url: str, *_: Any, **__: Any) -> bool:
        def visit() -> None:
            for _attempt in range(50):  # until the command listens
                try:
                    pages.append(httpx.get(url, follow_redirects=True, timeout=5).text)
                    return
                except httpx.ConnectError:
                    threading.Event().wait(0.1)
        threading.Thread(target=visit, daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    result = CliRunner().invoke(app, ["auth", "books", "--listen", "--wait", "30",
                                      "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "stored encrypted" in result.output and TENANT in result.output
    assert pages and "You can close this window" in pages[0]
    connector = XeroConnector("books", {
        "client_id": "sandbox-client", "client_secret": "sandbox-secret",
        "sandbox_url": server.url, "tenant": TENANT, "key_file": str(tmp_path / "secret.key"),
        "redirect_uri": f"http://localhost:{port}/callback"}, tmp_path)
    connector.open()
    assert list(connector.read_all("tax_rate", ReadScope()))
    connector.close()
    monkeypatch.setattr(webbrowser, "open", lambda *_, **__: False)  # nobody grants access
    refused = CliRunner().invoke(app, ["auth", "books", "--listen", "--wait", "1",
                                       "--config", str(config)])
    assert refused.exit_code != 0 and "no redirect arrived" in refused.output
