"""Fixtures of the API tests: a memory link ``lr`` (contacts) served by the real API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.support import MemoryLink, memory_link

from .support import Served, serve_api


@pytest.fixture
def link(tmp_path: Path) -> MemoryLink:
    return memory_link(tmp_path, streams=["contact"], link_extra='schedule = "manual"')


@pytest.fixture
def api(link: MemoryLink) -> Iterator[Served]:
    with serve_api(link.config()) as served:
        yield served
