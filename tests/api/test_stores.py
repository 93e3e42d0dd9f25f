"""The stores behind the API: users (argon2id hashes, token digests, rehash on login),
link controls (defaults, pause per stream, Sync All switch) and journal paging / key
filters (LIKE wildcards in a key are taken literally)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert, select

from syncline.errors import UsageError
from syncline.state import schema as t
from syncline.state.controls_store import ControlsStore
from syncline.state.journal_query import JournalFilter, journal_page
from syncline.state.store import StateStore
from syncline.state.users_store import Role, UsersStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def test_passwords_are_argon2id_and_tokens_sha256(store: StateStore) -> None:
    weak = UsersStore(store, PasswordHasher(time_cost=1, memory_cost=8 * 1024))
    weak.add_user("ann", Role.OPERATOR, "pa55word-pa55word")
    with store.engine.connect() as connection:
        (stored,) = connection.execute(select(t.users.c.password_hash)).one()
    assert stored.startswith("$argon2id$") and "pa55word-pa55word" not in stored
    users = UsersStore(store)  # default (stronger) parameters: the hash is upgraded
    assert users.check_password("ann", "wrong") is None
    assert users.check_password("ann", "pa55word-pa55word") is not None
    with store.engine.connect() as connection:
        (upgraded,) = connection.execute(select(t.users.c.password_hash)).one()
    assert upgraded != stored and users.check_password("ann", "pa55word-pa55word") is not None
    token = users.create_token("ann", "ci")
    with store.engine.connect() as connection:
        (digest,) = connection.execute(select(t.api_tokens.c.token_hash)).one()
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert users.authenticate(token) == users.user("ann")
    assert users.authenticate("not-a-token") is None
    with pytest.raises(UsageError, match="exists already"):
        users.add_user("ann", Role.VIEWER)
    with pytest.raises(UsageError, match="the password is empty"):
        users.add_user("bea", Role.VIEWER, "")
    with pytest.raises(UsageError, match="at least 12 characters \\(got 11\\)"):
        users.add_user("bea", Role.VIEWER, "elevenchars")
    with pytest.raises(UsageError, match="at least 12 characters"):
        users.set_password("ann", "x")
    for name in ("bea\x00", "b\x1b[31mea", "be\u200ba", "bea\x7f"):
        with pytest.raises(UsageError, match="printable"):
            users.add_user(name, Role.VIEWER)
    assert [user.name for user in users.users()] == ["ann"]
    assert users.check_password("ann", "pa55word-pa55word") is not None
    assert Role.ADMIN.allows(Role.OPERATOR) and not Role.VIEWER.allows(Role.OPERATOR)


def test_link_controls(store: StateStore) -> None:
    controls = ControlsStore(store)
    fresh = controls.controls("lr")
    assert (fresh.paused, fresh.sync_all, fresh.paused_streams) == (False, False, frozenset())
    controls.set_sync_all("lr", True, user="boss")
    assert controls.controls("lr").sync_all is True
    controls.set_paused("lr", True, stream="invoice", user="ops")
    controls.set_sync_all("lr", False, user="boss")
    found = controls.controls("lr")
    assert found.paused is False and found.paused_streams == {"invoice"}
    assert found.sync_all is False and found.updated_by == "boss"
    controls.set_paused("lr", False, stream="invoice")
    controls.set_paused("lr", True, user="ops")
    found = controls.controls("lr")
    assert found.paused is True and found.paused_streams == frozenset()
    assert controls.controls("other").paused is False
    controls.set_paused("other", False)  # a row made by pausing leaves Sync All off
    controls.set_sync_all("on", True)
    selection = controls.sync_all_selection(["lr", "other", "on", "never"])
    assert selection.taking_part == ("on",)
    assert selection.left_out == {"lr": "Sync All is off for it",
                                  "other": "Sync All is off for it",
                                  "never": "Sync All is off for it"}
    controls.set_sync_all("lr", True)
    assert controls.sync_all_selection(["lr"]).left_out == {"lr": "paused"}


def test_journal_paging_and_literal_key_filter(store: StateStore) -> None:
    scope = store.scope_id("lr", "contact")
    rows = [{"run_id": 1, "scope_id": scope, "a_key": key, "b_key": None, "action": "A",
             "direction": "a>b", "outcome": "ok", "message": None}
            for key in ("k_1", "k%2", "kx1", "k_10", "other")]
    with store.engine.begin() as connection:
        connection.execute(insert(t.journal), rows)
    underscore = journal_page(store, JournalFilter(link="lr", key="k_1"))
    assert sorted(row["a_key"] for row in underscore) == ["k_1", "k_10"]
    percent = journal_page(store, JournalFilter(link="lr", key="k%"))
    assert [row["a_key"] for row in percent] == ["k%2"]
    first = journal_page(store, JournalFilter(link="lr", limit=2))
    assert [row["a_key"] for row in first] == ["other", "k_10"]
    after = journal_page(store, JournalFilter(link="lr", limit=2, before_id=first[-1]["id"]))
    assert [row["a_key"] for row in after] == ["kx1", "k%2"]
    assert journal_page(store, JournalFilter(link="other")) == []
    assert all(row["stream"] == "contact" for row in first)
