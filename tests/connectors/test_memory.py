"""The memory connector keeps the same contract as every other connector."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.contract import ConnectorContract, FieldMaker
from syncline.connectors.memory import MemoryConnector, MemoryStore, shared_store

FIELDS = ["name", "email", "phone"]


class MemoryOutside:
    """Edits a memory store directly, as the system's own users would."""

    def __init__(self, store: MemoryStore, stream: str) -> None:
        self.store = store
        self.stream = stream
        self.numbers = iter(range(1, 1_000_000))

    def create(self, fields: dict[str, Any]) -> str:
        key = f"outside-{next(self.numbers)}"
        self.store.put(self.stream, key, fields)
        return key

    def update(self, key: str, fields: dict[str, Any]) -> None:
        current = self.store.stream(self.stream)[key][1]
        self.store.put(self.stream, key, {**current, **fields})

    def delete(self, key: str) -> None:
        self.store.remove(self.stream, key)

    def set_unmapped(self, key: str, value: str) -> None:
        self.update(key, {"notes": value})

    def get_unmapped(self, key: str) -> str | None:
        found = self.store.stream(self.stream).get(key)
        return found[1].get("notes") if found else None


class TestMemoryContact(ConnectorContract):
    stream = "contact"
    page_size = 7

    @pytest.fixture
    def connector(self, tmp_path: Path) -> Iterator[MemoryConnector]:
        name = f"contract-{uuid.uuid4().hex}"
        connector = MemoryConnector(name, {"page_size": self.page_size,
                                           "streams": {"contact": {"fields": FIELDS}}}, tmp_path)
        connector.open()
        yield connector
        connector.close()

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        return lambda n: {"name": f"Person {n}", "email": f"person{n}@example.com",
                          "phone": f"+44 20 7946 {n:04d}"}

    @pytest.fixture
    def outside(self, connector: MemoryConnector) -> MemoryOutside:
        return MemoryOutside(shared_store(connector.endpoint), self.stream)
