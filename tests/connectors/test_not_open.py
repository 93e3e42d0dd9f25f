"""A vdir or DAV connector used while not open (before ``open()`` or after ``close()``)
raises :class:`~syncline.errors.ConnectorNotOpen`, the one error every connector raises for
it, whatever it is asked to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.radicale_server import (  # noqa: F401 - radicale is a fixture
    RadicaleServer,
    radicale,
)
from syncline.connectors.base import (
    Connector,
    ReadScope,
    WriteBatch,
    WriteKind,
    WriteOperation,
)
from syncline.connectors.dav import CardDavConnector
from syncline.connectors.vdir import VdirConnector
from syncline.errors import ConnectorNotOpen

_BATCH = WriteBatch("b1", "contact", [WriteOperation("b1-0", WriteKind.CREATE, None,
                                                     {"name": "Anna"})])

USES: list[tuple[str, Callable[[Connector], Any]]] = [
    ("count", lambda c: c.count("contact")),
    ("current_cursor", lambda c: c.current_cursor("contact")),
    ("read_all", lambda c: list(c.read_all("contact", ReadScope()))),
    ("read_changes", lambda c: list(c.read_changes("contact", "sync:x", ReadScope()))),
    ("read_keys", lambda c: c.read_keys("contact", ["a"])),
    ("write", lambda c: c.write(_BATCH)),
    ("recover", lambda c: c.recover(_BATCH)),
]


@pytest.mark.parametrize(("name", "use"), USES, ids=[name for name, _ in USES])
def test_a_vdir_connector_not_open_says_so(tmp_path: Path, name: str,
                                           use: Callable[[Connector], Any]) -> None:
    connector = VdirConnector("cards", {"path": "cards"}, tmp_path)
    with pytest.raises(ConnectorNotOpen, match="'cards'"):
        use(connector)
    connector.open()
    if name != "read_changes":  # a cursor that is none of the folder's: ProtocolError
        use(connector)  # open, it works
    connector.close()
    with pytest.raises(ConnectorNotOpen):
        use(connector)
    assert not (tmp_path / "cards" / "b1").exists()


@pytest.mark.parametrize(("name", "use"), USES, ids=[name for name, _ in USES])
def test_a_dav_connector_not_open_says_so(tmp_path: Path, name: str,
                                          use: Callable[[Connector], Any]) -> None:
    connector = CardDavConnector("book", {"url": "http://127.0.0.1:9/alice/book/"}, tmp_path)
    with pytest.raises(ConnectorNotOpen, match="'book'"):
        use(connector)
    with pytest.raises(ConnectorNotOpen):
        connector.http  # noqa: B018 - the property is what is checked


def test_a_closed_dav_connector_says_so(radicale: RadicaleServer,  # noqa: F811
                                        tmp_path: Path) -> None:
    book = radicale.make_addressbook()
    connector = CardDavConnector("book", {
        "url": book, "username": "alice", "password": radicale.users["alice"]}, tmp_path)
    connector.open()
    assert connector.count("contact") == 0
    connector.close()
    for _, use in USES:
        with pytest.raises(ConnectorNotOpen):
            use(connector)
    connector.open()  # and it opens again
    assert connector.count("contact") == 0
    connector.close()
