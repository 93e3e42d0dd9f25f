"""Every API call is authenticated (401 without a valid token) and allowed to exactly the
roles the issue gives it (403 below): viewer reads, operator starts syncs, retries,
resolves and pauses, admin forces, runs Sync All and manages users."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from syncline.state.users_store import Role, UsersStore

from .support import ROLES, Served, wait_for

VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN

# (method, path, JSON body, the lowest role allowed, the status that role gets); path
# parameters are filled from PATH_VALUES
ROUTES: list[tuple[str, str, Any, Role, int]] = [
    ("GET", "/api/me", None, VIEWER, 200),
    ("GET", "/api/links", None, VIEWER, 200),
    ("GET", "/api/links/{link}", None, VIEWER, 200),
    ("GET", "/api/links/{link}/runs", None, VIEWER, 200),
    ("GET", "/api/links/{link}/journal", None, VIEWER, 200),
    ("GET", "/api/links/{link}/errors", None, VIEWER, 200),
    ("GET", "/api/links/{link}/warnings", None, VIEWER, 200),
    ("GET", "/api/links/{link}/conflicts", None, VIEWER, 200),
    ("GET", "/api/links/{link}/xref", None, VIEWER, 200),
    ("GET", "/api/links/{link}/notifications", None, VIEWER, 200),
    ("GET", "/api/links/{link}/schedule", None, VIEWER, 200),
    ("GET", "/api/endpoints", None, VIEWER, 200),
    ("GET", "/api/runs", None, VIEWER, 200),
    ("GET", "/api/runs/{run_id}", None, VIEWER, 404),
    ("GET", "/api/runs/{run_id}/journal", None, VIEWER, 404),
    ("POST", "/api/links/{link}/sync", {"streams": ["contact"]}, OPERATOR, 202),
    ("POST", "/api/links/{link}/retry", {}, OPERATOR, 409),
    ("POST", "/api/links/{link}/conflicts/{conflict_id}/resolve", {"side": "a"}, OPERATOR,
     404),
    ("POST", "/api/links/{link}/pause", {"stream": "contact"}, OPERATOR, 200),
    ("POST", "/api/links/{link}/resume", {"stream": "contact"}, OPERATOR, 200),
    ("POST", "/api/links/{link}/force-sync", None, ADMIN, 202),
    ("POST", "/api/links/{link}/force", {"streams": ["contact"]}, ADMIN, 200),
    ("PUT", "/api/links/{link}/sync-all", {"enabled": True}, ADMIN, 200),
    ("PUT", "/api/links/{link}/schedule", {"schedule": "manual"}, ADMIN, 200),
    ("POST", "/api/sync-all", None, ADMIN, 202),
    ("PUT", "/api/links/{link}/xref/{table}/{local}", {"remote": "OUTPUT"}, ADMIN, 404),
    ("DELETE", "/api/links/{link}/xref/{table}/{local}", None, ADMIN, 404),
    ("GET", "/api/users", None, ADMIN, 200),
    ("POST", "/api/users", {"name": "newcomer", "role": "viewer"}, ADMIN, 201),
    ("PATCH", "/api/users/{name}", {"role": "viewer"}, ADMIN, 200),
    ("DELETE", "/api/users/{name}", None, ADMIN, 200),
    ("GET", "/api/users/{name}/tokens", None, ADMIN, 200),
    ("POST", "/api/users/{name}/tokens", {"label": "x"}, ADMIN, 201),
    ("DELETE", "/api/tokens/{token_id}", None, ADMIN, 404),
]
STREAMING = {("GET", "/api/events"), ("GET", "/api/links/{link}/events")}
OWN_TAGS = {"links", "runs", "review", "progress", "users"}
PATH_VALUES = {"link": "lr", "run_id": "1", "conflict_id": "1", "name": "viewer",
               "table": "tax_codes", "local": "GST", "token_id": "9999"}


def _call(client: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    return client.request(method, path, json=body)


def _operations(api: Served) -> set[tuple[str, str]]:
    document = httpx.get(f"{api.url}/api/openapi.json").json()
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method, operation in item.items() if set(operation.get("tags", [])) & OWN_TAGS}


def test_every_operation_needs_a_valid_token(api: Served) -> None:
    operations = _operations(api)
    assert operations - STREAMING == {(method, path) for method, path, *_ in ROUTES}, \
        "every operation needs its row in ROUTES"
    anonymous = httpx.Client(base_url=api.url, timeout=30)
    forged = api.client(token="sl_" + "x" * 43)
    for method, path in sorted(operations):
        concrete = path.format(**PATH_VALUES)
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        for client in (anonymous, forged):
            answer = _call(client, method, concrete, body)
            assert answer.status_code == 401, (method, concrete, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert api.store.runs("lr") == []  # nothing started by anyone unauthenticated
    assert [user.name for user in UsersStore(api.store).users()] == \
        sorted(role.value for role in ROLES)


@pytest.mark.parametrize(("method", "path", "body", "lowest", "expected"), ROUTES,
                         ids=[f"{method} {path}" for method, path, *_ in ROUTES])
def test_each_role_is_allowed_or_denied(api: Served, method: str, path: str, body: Any,
                                        lowest: Role, expected: int) -> None:
    concrete = path.format(**PATH_VALUES)
    for role in ROLES:
        answer = _call(api.client(role), method, concrete, body)
        if role.allows(lowest):
            assert answer.status_code == expected, (role, answer.text)
            if method != "GET":
                break  # one change is enough; a second could differ (created twice ...)
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert f"needs the {lowest.value} role" in answer.json()["detail"]


def test_viewer_may_not_start_a_sync_and_nothing_runs(api: Served) -> None:
    answer = api.client(VIEWER).post("/api/links/lr/sync", json={})
    assert answer.status_code == 403
    assert "viewer" in answer.json()["detail"]
    assert api.client(VIEWER).post("/api/links/lr/force-sync").status_code == 403
    assert api.client(OPERATOR).post("/api/links/lr/force-sync").status_code == 403
    assert api.store.runs("lr") == []


def test_the_run_records_who_triggered_it(api: Served, link: Any) -> None:
    link.a.put("contact", "c1", {"name": "Ada", "email": "ada@example.com"})
    answer = api.client(OPERATOR).post("/api/links/lr/sync", json={})
    assert answer.status_code == 202 and answer.json()["requested_by"] == ["operator"]
    run = wait_for(lambda: next((row for row in api.store.runs("lr")
                                 if row["outcome"] != "running"), None), "the run")
    assert run["user"] == "operator" and run["trigger"] == "api"
    shown = api.client(VIEWER).get(f"/api/runs/{run['id']}").json()
    assert shown["user"] == "operator"
    assert len(link.b.stream("contact")) == 1


def test_tokens_and_users_managed_through_the_api(api: Served) -> None:
    admin = api.client(ADMIN)
    created = admin.post("/api/users", json={"name": "carol", "role": "operator",
                                             "password": "s3cret-pass-word"})
    assert created.status_code == 201 and created.json()["has_password"] is True
    assert "s3cret-pass-word" not in created.text
    token = admin.post("/api/users/carol/tokens", json={"label": "ci"}).json()["token"]
    carol = api.client(token=token)
    assert carol.get("/api/me").json()["role"] == "operator"
    assert carol.get("/api/users").status_code == 403
    listed = admin.get("/api/users/carol/tokens").json()
    assert [item["label"] for item in listed] == ["ci"] and token not in str(listed)
    assert listed[0]["last_used_at"] is not None
    assert admin.patch("/api/users/carol", json={"role": "admin"}).status_code == 200
    assert carol.get("/api/users").status_code == 200
    assert admin.delete(f"/api/tokens/{listed[0]['id']}").status_code == 200
    assert carol.get("/api/me").status_code == 401
    assert admin.delete("/api/users/admin").status_code == 409  # not yourself
    assert admin.patch("/api/users/carol", json={"role": "viewer"}).status_code == 200
    demoted = admin.patch("/api/users/admin", json={"role": "operator"})
    assert demoted.status_code == 409 and "only admin" in demoted.json()["detail"]
    assert admin.delete("/api/users/carol").status_code == 200
    assert UsersStore(api.store).find("carol") is None
