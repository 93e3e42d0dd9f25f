"""The service functions the faces call instead of opening connectors and stores themselves
(:mod:`syncline.service.endpoints`, :mod:`syncline.service.stores`,
:mod:`syncline.service.review`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.support import memory_link
from syncline.connectors.base import Connector
from syncline.errors import EndpointUnavailable, UsageError
from syncline.service.endpoints import (
    Capability,
    check_connection,
    connector_capabilities,
    describe_endpoint,
    prepare_endpoints,
)
from syncline.service.review import waiting_streams, xref_tables
from syncline.service.stores import open_state_store, rules_of, users_of


def test_connector_capabilities_list_every_registered_connector() -> None:
    found = {item.name: item for item in connector_capabilities()}
    assert {"sql", "vdir", "memory"} <= set(found)
    assert found["sql"].problem is None
    assert all(Capability.READ in flags for flags in found["sql"].streams.values())


def test_check_connection_reports_counts_or_the_failure(tmp_path: Path) -> None:
    link = memory_link(tmp_path)
    config = link.config()
    checked = check_connection(config, "left")
    assert checked.ok and checked.message.startswith("connected in ")
    assert checked.counts == {"contact": 0} and Capability.READ in checked.streams["contact"]
    assert describe_endpoint(config, "left")[1] == checked.streams

    def unreachable(name: str) -> Connector:
        raise EndpointUnavailable(name, "down for the test")

    failed = check_connection(config, "left", unreachable)
    assert not failed.ok and failed.streams == {}
    assert failed.message == "endpoint 'left' is unavailable: down for the test"


def test_prepare_endpoints_yields_both_sides_in_order(tmp_path: Path) -> None:
    config = memory_link(tmp_path).config()
    prepared = list(prepare_endpoints(config, "lr"))
    assert [(item.side, item.endpoint, item.connector) for item in prepared] == [
        ("a", "left", "memory"), ("b", "right", "memory")]


def test_stores_open_for_a_configuration(tmp_path: Path) -> None:
    config = memory_link(tmp_path, state=f"sqlite:///{tmp_path / 'state.db'}").config()
    with open_state_store(config) as store:
        assert waiting_streams(store, "lr") == {}
        assert users_of(store).users() == []
        assert rules_of(store).set_xref("lr", "tax_rate", "EX", "0%") is False
        assert [entry.remote_value for entry in rules_of(store).xref_entries("lr")] == ["0%"]
    assert xref_tables(config.link("lr")) == []
    with pytest.raises(UsageError, match="link 'lr' does not sync task; its streams are: "
                                         "contact"):
        config.link("lr").check_streams("lr", ["task"])
