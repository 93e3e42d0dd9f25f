"""The API over a PostgreSQL state store (127.0.0.1:5432; skipped when unreachable, failing
on CI): users and tokens, controls, runs recorded with their user, journal filters, errors
kept with the planted secret masked (psycopg passes named parameters, SQLite positional
ones: the store's redaction handles both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.support import memory_link
from syncline.connectors.base import Connector
from syncline.connectors.memory import MemoryConnector
from syncline.state.users_store import Role, UsersStore

from .support import serve_api, wait_for
from .test_secrets import PLANTED, _Leaky

pytestmark = pytest.mark.postgres


def test_api_over_postgres(tmp_path: Path, postgres_url: str,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTED_API_KEY", PLANTED)
    link = memory_link(tmp_path, streams=["contact"], link_extra='schedule = "manual"',
                       state=postgres_url)
    link.path.write_text(link.path.read_text().replace(
        "[endpoints.right]\n", '[endpoints.right]\napi_key = "env:PLANTED_API_KEY"\n'))
    config = link.config()

    def factory(name: str) -> Connector:
        endpoint = config.endpoints[name]
        cls = _Leaky if name == "right" else MemoryConnector
        return cls(name, endpoint.settings, config.base_dir)

    link.a.put("contact", "c1", {"name": "Ada"})
    link.a.put("contact", "c2", {"name": "reject me"})
    with serve_api(config, factory=factory) as api:
        operator, viewer = api.client(Role.OPERATOR), api.client(Role.VIEWER)
        assert viewer.post("/api/links/lr/sync", json={}).status_code == 403
        assert operator.post("/api/links/lr/pause", json={}).json()["paused"] is True
        assert operator.post("/api/links/lr/sync", json={}).status_code == 409
        assert operator.post("/api/links/lr/resume", json={}).json()["paused"] is False
        assert operator.post("/api/links/lr/sync", json={}).status_code == 202
        run = wait_for(lambda: next((row for row in api.store.runs("lr")
                                     if row["outcome"] != "running"), None), "the run")
        assert run["outcome"] == "error" and run["user"] == "operator"
        errors = viewer.get("/api/links/lr/journal", params={"outcome": "error"}).json()
        assert len(errors) == 1 and "X-Api-Key: ***" in errors[0]["message"]
        assert viewer.get("/api/links/lr/journal", params={"key": "c1"}).json()[0][
            "outcome"] == "ok"
        (group,) = viewer.get("/api/links/lr/errors").json()
        assert PLANTED not in str(group) and group["count"] == 1
        assert all(PLANTED not in str(row) for row in api.store.pending_items("lr"))
        users = UsersStore(api.store)
        assert [user.name for user in users.users()] == ["admin", "operator", "viewer"]
        assert users.tokens("viewer")[0].last_used_at is not None
