"""The memory connector keeps the same contract as every other connector."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from syncline import testing
from syncline.connectors import available_connectors, connector_class
from syncline.connectors.base import Connector
from syncline.connectors.memory import MemoryConnector, MemoryStore, shared_store
from syncline.testing import ConnectorContract, FieldMaker

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


# -- a third party's connector, found through the entry point, proved by the shipped suite --
class PluginConnector(MemoryConnector):
    """A connector of another package (here the memory connector under another name)."""

    type_name: ClassVar[str] = "plugin-memory"


PLUGIN_TYPE = "plugin-memory"


@pytest.fixture(scope="module")
def plugin_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An installed distribution whose ``syncline.connectors`` entry point names
    :class:`PluginConnector` (what ``pip install`` of a plugin leaves behind)."""
    site = tmp_path_factory.mktemp("site")
    info = site / "syncline_plugin_memory-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: syncline-plugin-memory\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[syncline.connectors]\n{PLUGIN_TYPE} = {__name__}:PluginConnector\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        yield


def test_the_plugin_is_found_through_the_entry_point(plugin_installed: None) -> None:
    assert available_connectors()[PLUGIN_TYPE] == f"{__name__}:PluginConnector"
    assert connector_class(PLUGIN_TYPE) is PluginConnector


def test_the_shipped_suite_is_rewritten_by_pytest() -> None:
    """A failed check of the contract shows the values it compared, as a test module's do
    (``syncline.testing`` registers its module for pytest's assertion rewriting)."""
    from _pytest.assertion.rewrite import AssertionRewritingHook

    from syncline.testing import contract

    assert isinstance(contract.__loader__, AssertionRewritingHook)


class TestPluginThroughEntryPoint(testing.ConnectorContract):
    """The shipped suite, imported as a third party imports it (``syncline.testing``), run
    against a connector class found through the entry point."""

    stream = "contact"
    page_size = 5
    checks_versions = True

    @pytest.fixture
    def connector(self, plugin_installed: None, tmp_path: Path) -> Iterator[Connector]:
        found = connector_class(PLUGIN_TYPE)
        connector = found(f"plugin-{uuid.uuid4().hex}",
                          {"page_size": self.page_size,
                           "streams": {"contact": {"fields": FIELDS}}}, tmp_path)
        connector.open()
        yield connector
        connector.close()

    @pytest.fixture
    def make_fields(self) -> testing.FieldMaker:
        return lambda n: {"name": f"Plugin person {n}", "email": f"plugin{n}@example.com"}

    @pytest.fixture
    def outside(self, connector: Connector) -> MemoryOutside:
        return MemoryOutside(shared_store(connector.endpoint), self.stream)
