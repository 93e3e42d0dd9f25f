"""The state store (see :mod:`syncline.state.store`).

The names below load :mod:`syncline.state.store` (and SQLAlchemy) when first used, not when
this package is imported: ``import syncline.state.users_store`` and the like pay only for
what they use, and commands that never open the store start faster.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncline.journal import JournalRow
    from syncline.state.store import PendingIntent, StateStore

__all__ = ["JournalRow", "PendingIntent", "StateStore"]


def __getattr__(name: str) -> Any:
    """The public names of :mod:`syncline.state.store`, imported on first use.

    Raises:
        AttributeError: ``name`` is not one of them (submodules are imported as usual).
    """
    if name in __all__:
        value = getattr(import_module("syncline.state.store"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
