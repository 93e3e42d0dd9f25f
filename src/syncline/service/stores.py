"""The stores a face works with, opened for it: the state store of a configuration, and over
it the users (API and console sign-in), the link controls (pause, Sync All) and the posting
rules' stored entries (xref tables, documents asked to be posted).

Terms: a **store** here is a handle on the state database. The faces (``cli``, ``api``,
``web``) never open one themselves nor import :mod:`syncline.state`: they get it from
:func:`open_state_store` (the CLI) or from the API context (made by ``syncline serve``), and
the narrower stores from :func:`users_of`, :func:`controls_of` and :func:`rules_of`.

The store classes and the user values (:class:`Role`, :class:`User`, :class:`TokenInfo`,
:data:`PASSWORD_MIN_LENGTH`, :class:`LinkControls`) are re-exported so that a face can name
them in annotations and compare roles without importing the state layer.

The re-exported names load their modules when first used (:func:`__getattr__`): opening the
state store does not load argon2 (password hashing) unless the users are asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncline.config import Config
    from syncline.state.controls_store import ControlsStore, LinkControls, SyncAllSelection
    from syncline.state.rules_store import RulesStore
    from syncline.state.store import StateStore
    from syncline.state.users_store import (
        PASSWORD_MIN_LENGTH,
        Role,
        TokenInfo,
        User,
        UsersStore,
        parse_role,
    )

__all__ = [
    "PASSWORD_MIN_LENGTH",
    "ControlsStore",
    "LinkControls",
    "Role",
    "RulesStore",
    "StateStore",
    "SyncAllSelection",
    "TokenInfo",
    "User",
    "UsersStore",
    "controls_of",
    "keep_an_admin",
    "open_state_store",
    "parse_role",
    "rules_of",
    "users_of",
]

_LAZY = {
    "ControlsStore": "controls_store", "LinkControls": "controls_store",
    "SyncAllSelection": "controls_store",
    "RulesStore": "rules_store", "StateStore": "store",
    "PASSWORD_MIN_LENGTH": "users_store", "Role": "users_store", "TokenInfo": "users_store",
    "User": "users_store", "UsersStore": "users_store", "parse_role": "users_store",
}


def __getattr__(name: str) -> Any:
    """The re-exported names above, imported from their state modules on first use.

    Raises:
        AttributeError: ``name`` is none of them.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"syncline.state.{module}"), name)
    globals()[name] = value
    return value


@contextmanager
def open_state_store(config: Config) -> Iterator[StateStore]:
    """The configuration's state store (``[state] url``), closed when the block ends.

    Raises:
        StateError: the store cannot be opened or migrated (StateUnavailable: unreachable).
    """
    from syncline.state.store import StateStore

    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        yield store
    finally:
        store.close()


def users_of(store: StateStore) -> UsersStore:
    """The users, roles, passwords and API tokens kept in ``store``."""
    from syncline.state.users_store import UsersStore

    return UsersStore(store)


def controls_of(store: StateStore) -> ControlsStore:
    """The link controls (paused links and streams, the Sync All switch) kept in ``store``."""
    from syncline.state.controls_store import ControlsStore

    return ControlsStore(store)


def rules_of(store: StateStore) -> RulesStore:
    """The posting rules' stored entries (xref tables, post requests) kept in ``store``."""
    from syncline.state.rules_store import RulesStore

    return RulesStore(store)


def keep_an_admin(users: UsersStore, name: str, role: Role | None) -> None:
    """Refuse to leave the service without an admin: user ``name`` is about to get ``role``
    (``None``: to be removed).

    Raises:
        UsageError: ``name`` is the only admin and would no longer be one.
    """
    from syncline.errors import UsageError
    from syncline.state.users_store import Role

    admins = [user.name for user in users.users() if user.role is Role.ADMIN]
    if admins == [name] and role is not Role.ADMIN:
        raise UsageError(f"{name} is the only admin; make another user admin first")
