"""Fixtures of the sandbox tests: the order system's database of a posting world."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def crm_url(request: pytest.FixtureRequest) -> str | None:
    """The order system's database: ``None`` for the world's ``crm.db`` (SQLite), or the URL
    of a fresh PostgreSQL database (skipped when the server is not reachable, failing on
    CI)."""
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
