"""Fixtures of the state store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.state.store import StateStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A new state store in a SQLite file, and one in a new PostgreSQL database (a module
    that needs another kind of store defines its own ``store``)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = StateStore.open(url)
    yield opened
    opened.close()
