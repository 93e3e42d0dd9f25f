"""Secrets never show: a planted secret (an endpoint's API key that a remote system echoes
back in its error messages and a careless connector logs), a user's password and API
token, and an OAuth token in the vault are searched for in the service's log lines, the
journal, pending items and run rows, every API answer and progress event, and the raw
bytes of the state database and of the vault; they are found nowhere in clear text."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.support import memory_link
from syncline import connectors
from syncline.cli import app
from syncline.connectors.base import Connector, WriteBatch, WriteResult
from syncline.connectors.memory import MemoryConnector
from syncline.errors import EndpointUnavailable, ValidationFailed
from syncline.redaction import install_log_scrubbing
from syncline.secret_values import resolve_secret
from syncline.state.users_store import Role, UsersStore
from syncline.vault import Vault

from .support import Served, read_events, serve_api, wait_for

PLANTED = "planted-Secr3t-91d7c0e2"
HOOK_SECRET = "hook-Secr3t-5a4b3c2d"
PASSWORD = "user-Passw0rd-e6f1"
OAUTH = "oauth-refresh-0b9e77d1"

leaked: list[str] = []  # what the leaky connector produced: proof the secret had a way out


class _Leaky(MemoryConnector):
    """A memory connector that talks like a careless remote system: its errors quote the
    API key it was sent, and it logs the key."""

    fail_open = False

    @property
    def key(self) -> str:
        return resolve_secret(str(self.settings["api_key"]))

    def open(self) -> None:
        logging.getLogger("tests.leaky").warning("connecting with api_key=%s", self.key)
        if self.fail_open:
            leaked.append(self.key)
            raise EndpointUnavailable(self.endpoint, f"401 for key {self.key}")
        super().open()

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        results = super().write(batch)
        out = []
        for result in results:
            if batch.stream == "contact" and result.error is None and \
                    "reject" in str(self.data.stream("contact").get(result.key or "", ("", {}))[
                        1].get("name", "")):
                message = f"remote said: bad record (request had X-Api-Key: {self.key})"
                leaked.append(message)
                out.append(WriteResult(result.token, error=ValidationFailed(
                    message, stream=batch.stream, key=result.key)))
            else:
                out.append(result)
        return out


@pytest.fixture
def secret_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("PLANTED_API_KEY", PLANTED)
    monkeypatch.setenv("PLANTED_HOOK_SECRET", HOOK_SECRET)
    link = memory_link(tmp_path, streams=["contact"], link_extra='schedule = "manual"',
                       extra='[links.lr.notify]\nwebhook = "http://127.0.0.1:9/hook"\n'
                             'webhook_secret = "env:PLANTED_HOOK_SECRET"\non = ["failed"]\n')
    text = link.path.read_text().replace('[endpoints.right]\n',
                                         '[endpoints.right]\napi_key = "env:PLANTED_API_KEY"\n')
    link.path.write_text(text)
    config = link.config()

    def factory(name: str) -> Connector:
        endpoint = config.endpoints[name]
        cls = _Leaky if name == "right" else MemoryConnector
        return cls(name, endpoint.settings, config.base_dir)

    for number in range(3):
        link.a.put("contact", f"c{number}", {"name": f"reject me {number}" if number == 1
                                             else f"Person {number}"})
    with serve_api(config, factory=factory) as served:
        yield served


def _logs() -> tuple[io.StringIO, logging.Handler]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    return buffer, handler


def test_a_planted_secret_is_found_nowhere(secret_api: Served, tmp_path: Path) -> None:
    api = secret_api
    buffer, handler = _logs()
    install_log_scrubbing(api.context.secrets)  # what 'syncline serve' does at start
    assert PLANTED in api.context.secrets and HOOK_SECRET in api.context.secrets
    leaked.clear()
    answers: list[str] = []
    try:
        admin, viewer = api.client(Role.ADMIN), api.client(Role.VIEWER)
        created = admin.post("/api/users", json={"name": "erin", "role": "operator",
                                                 "password": PASSWORD})
        token = admin.post("/api/users/erin/tokens", json={}).json()["token"]
        answers += [created.text]
        with viewer.stream("GET", "/api/links/lr/events") as stream:
            lines = stream.iter_lines()
            read_events(lines, "snapshot")
            api.client(token=token).post("/api/links/lr/sync", json={})
            events = read_events(lines, "run_finished")
        answers += [str(event) for event in events]
        wait_for(lambda: api.context.service.wait_idle(0.1), "the run to end")
        _Leaky.fail_open = True
        try:
            admin.post("/api/links/lr/force-sync")
            wait_for(lambda: api.store.runs("lr")[0]["outcome"] == "failed", "the failed run")
            wait_for(lambda: api.context.service.wait_idle(0.1), "the run to end")
        finally:
            _Leaky.fail_open = False
        run_ids = [row["id"] for row in api.store.runs("lr")]
        for path in ["/api/links", "/api/links/lr", "/api/links/lr/runs",
                     "/api/links/lr/journal", "/api/links/lr/errors", "/api/links/lr/warnings",
                     "/api/endpoints", "/api/users", "/api/users/erin/tokens", "/api/me",
                     "/api/links/lr/notifications", "/api/links/lr/conflicts",
                     *[f"/api/runs/{run_id}" for run_id in run_ids],
                     *[f"/api/runs/{run_id}/journal" for run_id in run_ids]]:
            answer = admin.get(path)
            assert answer.status_code == 200, (path, answer.text)
            answers.append(answer.text)
        api.context.notifier.flush(30) if api.context.notifier else None
    finally:
        logging.getLogger().removeHandler(handler)
    # the secret had its ways out: the remote echoed it, the run failed quoting it
    assert any(PLANTED in text for text in leaked) and len(leaked) >= 2
    stored = {
        "journal": [str(row) for row in api.store.journal("lr")],
        "pending": [str(row) for row in api.store.pending_items("lr")],
        "runs": [str(row) for row in api.store.runs("lr")],
    }
    assert any("***" in text for text in stored["pending"])  # kept, with the key masked
    assert any("***" in text for text in stored["runs"])
    log_text = buffer.getvalue()
    assert "connecting with api_key=***" in log_text
    for where, texts in [("log", [log_text]), ("API", answers), *stored.items()]:
        for secret in (PLANTED, HOOK_SECRET, PASSWORD, token):
            assert not any(secret in text for text in texts), f"{where} shows a secret"
    vault = Vault(tmp_path / "vault.json", key_file=tmp_path / "keys" / "secret.key")
    vault.put("books/oauth", {"refresh_token": OAUTH, "api_key": PLANTED})
    assert vault.get("books/oauth") == {"refresh_token": OAUTH, "api_key": PLANTED}
    api.store.engine.dispose()  # checkpoint the WAL into the database file
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir()
                   if path.name.startswith("state.db") or path.name.startswith("vault"))
    assert b"SQLite format 3" in raw and b"erin" in raw  # the right files were read
    for secret in (PLANTED, HOOK_SECRET, PASSWORD, token, OAUTH):
        assert secret.encode() not in raw, f"{secret[:8]}... is stored in clear text"
    assert UsersStore(api.store).check_password("erin", PASSWORD) is not None


def test_cli_runs_show_and_store_no_secret(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``syncline sync`` with the leaky endpoint: neither its output (item errors, the
    error of a run that could not proceed, the JSON summary) nor the state shows the key."""
    monkeypatch.setenv("PLANTED_API_KEY", PLANTED)
    monkeypatch.setitem(connectors._BUILT_IN, "leaky", f"{__name__}:_Leaky")
    link = memory_link(tmp_path, streams=["contact"])
    link.path.write_text(link.path.read_text().replace(
        '[endpoints.right]\nconnector = "memory"\n',
        '[endpoints.right]\nconnector = "leaky"\napi_key = "env:PLANTED_API_KEY"\n'))
    link.a.put("contact", "c1", {"name": "reject me"})
    runner = CliRunner()
    leaked.clear()
    first = runner.invoke(app, ["sync", "lr", "--config", str(link.path)])
    second = runner.invoke(app, ["sync", "lr", "--json", "--config", str(link.path)])
    _Leaky.fail_open = True
    try:
        third = runner.invoke(app, ["sync", "lr", "--config", str(link.path)])
        fourth = runner.invoke(app, ["sync", "lr", "--json", "--config", str(link.path)])
    finally:
        _Leaky.fail_open = False
    assert first.exit_code == 1 and third.exit_code == 3, (first.output, third.output)
    assert any(PLANTED in text for text in leaked)
    assert "***" in third.output + fourth.output
    for result in (first, second, third, fourth):
        assert PLANTED not in result.output
    errors = runner.invoke(app, ["errors", "lr", "--json", "--config", str(link.path)])
    journal = runner.invoke(app, ["journal", "lr", "--config", str(link.path)])
    assert "X-Api-Key: ***" in errors.output
    assert PLANTED not in errors.output + journal.output
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir()
                   if path.name.startswith("state.db"))
    assert raw and PLANTED.encode() not in raw
