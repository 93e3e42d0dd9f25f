"""``syncline user``: add (with a role, a password from stdin or a prompt, a token),
list, set-role, password, token, tokens, revoke, remove; the last admin is kept; only
hashes reach the state database."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from syncline.cli import app
from syncline.state.store import StateStore
from syncline.state.users_store import Role, UsersStore


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "syncline.toml"
    path.write_text('[state]\nurl = "sqlite:///state.db"\n', encoding="utf-8")
    return path


def _users(tmp_path: Path) -> tuple[StateStore, UsersStore]:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    return store, UsersStore(store)


def test_add_list_token_and_password(runner: CliRunner, tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    result = runner.invoke(app, ["user", "add", "alice", "--role", "admin", "--token",
                                 "--label", "laptop", "--config", config])
    assert result.exit_code == 0, result.output
    assert "added user alice (admin)" in result.stdout
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("sl_") and len(token) == 46
    result = runner.invoke(app, ["user", "add", "bob", "--role", "Viewer", "--password-stdin",
                                 "--config", config], input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert "added user bob (viewer) with a password" in result.stdout
    assert "correct horse battery" not in result.output
    store, users = _users(tmp_path)
    try:
        found = users.authenticate(token)
        assert found is not None and found.name == "alice" and found.role is Role.ADMIN
        assert users.check_password("bob", "correct horse battery") is not None
        assert users.check_password("bob", "wrong") is None
        assert users.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    finally:
        store.close()
    listed = json.loads(runner.invoke(app, ["user", "list", "--json", "--config",
                                            config]).stdout)
    assert [(item["name"], item["role"], item["has_password"], item["tokens"])
            for item in listed] == [("alice", "admin", False, 1), ("bob", "viewer", True, 0)]
    table = runner.invoke(app, ["user", "list", "--config", config]).stdout
    assert "alice" in table and "admin" in table and "viewer" in table
    tokens = json.loads(runner.invoke(app, ["user", "tokens", "--json", "--config",
                                            config]).stdout)
    assert [(item["user"], item["label"]) for item in tokens] == [("alice", "laptop")]
    assert token not in json.dumps(tokens)
    raw = (tmp_path / "state.db").read_bytes()
    assert token.encode() not in raw and b"correct horse battery" not in raw


def test_roles_passwords_revoke_and_remove(runner: CliRunner, tmp_path: Path) -> None:
    config = str(_config(tmp_path))

    def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, ["user", *args, "--config", config], input=stdin)
        return result.exit_code, result.output

    assert run("add", "alice", "--role", "admin")[0] == 0
    assert run("add", "carol")[0] == 0  # viewer by default
    code, output = run("add", "carol", "--role", "operator")
    assert code == 2 and "user 'carol' exists already" in output
    code, output = run("add", "dave", "--role", "boss")
    assert code == 2 and "unknown role 'boss'; roles: viewer, operator, admin" in output
    code, output = run("add", "two words")
    assert code == 2 and "without spaces" in output
    code, output = run("add", "bell\x07ringer")
    assert code == 2 and "control characters" in output
    code, output = run("set-role", "carol", "operator")
    assert code == 0 and "carol: viewer -> operator" in output
    code, output = run("set-role", "alice", "viewer")
    assert code == 2 and "alice is the only admin" in output
    code, output = run("remove", "alice")
    assert code == 2 and "alice is the only admin" in output
    code, output = run("password", "carol", stdin="s3cret\ns3cret\n")
    assert code == 2 and "too short: it needs at least 12 characters (got 6)" in output
    code, output = run("password", "carol", stdin="s3cret-s3cret\ns3cret-s3cret\n")
    assert code == 0 and "carol: password changed" in output
    code, output = run("password", "carol", stdin="one\nother\n")
    assert code != 0
    code, output = run("token", "carol", "--label", "ci")
    assert code == 0
    token = output.strip().splitlines()[-1]
    code, output = run("token", "nobody")
    assert code == 2 and "no user 'nobody'; users: alice, carol" in output
    store, users = _users(tmp_path)
    try:
        assert users.check_password("carol", "s3cret-s3cret") is not None
        assert users.authenticate(token) is not None
        (info,) = users.tokens("carol")
    finally:
        store.close()
    code, output = run("revoke", str(info.id))
    assert code == 0 and f"revoked API token {info.id}" in output
    code, output = run("revoke", str(info.id))
    assert code == 2 and "no API token" in output
    assert run("token", "carol")[0] == 0
    code, output = run("remove", "carol")
    assert code == 0 and "removed user carol and 1 API token(s)" in output
    store, users = _users(tmp_path)
    try:
        assert users.authenticate(token) is None
        assert [user.name for user in users.users()] == ["alice"]
        assert users.tokens() == []
    finally:
        store.close()
