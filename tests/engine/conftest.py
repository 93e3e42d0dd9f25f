"""Fixtures of the engine tests (the harness itself is in ``syncharness.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .syncharness import Harness, make_harness


@pytest.fixture
def harness_factory(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """Makes harnesses whose state files live in ``tmp_path``; closes them afterwards."""
    made: list[Harness] = []

    def make(**options: Any) -> Harness:
        harness = make_harness(tmp_path, **options)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.store.close()


@pytest.fixture
def harness(harness_factory: Callable[..., Harness]) -> Harness:
    """Contacts (email, name, phone) between two memory endpoints, matched by email."""
    return harness_factory()
