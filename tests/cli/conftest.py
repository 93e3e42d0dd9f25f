"""Fixtures for CLI tests (see :mod:`.helpers`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from .helpers import MemoryPair, SqlPair, make_memory, make_sql


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def memory(tmp_path: Path) -> MemoryPair:
    """A memory pair whose side a holds three contacts, side b none."""
    return make_memory(tmp_path)


@pytest.fixture
def sql(tmp_path: Path) -> SqlPair:
    """The issue's example: crm.db holds three people, books.db one customer (the same
    person as one of them, matched by e-mail)."""
    return make_sql(tmp_path)
