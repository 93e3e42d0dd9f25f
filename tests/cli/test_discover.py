"""``syncline discover ENDPOINT`` against a real Radicale server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.radicale_server import RadicaleServer, radicale  # noqa: F401
from syncline.cli.main import app

CONFIG = """\
[endpoints.addressbook]
connector = "carddav"
url = "{root}"
username = "bob"
password = "env:DAV_PASSWORD"

[endpoints.calendar]
connector = "caldav"
url = "{root}bob/"
username = "bob"
password = "env:DAV_PASSWORD"

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name" }}
"""


@pytest.fixture(scope="module")
def collections(radicale: RadicaleServer) -> dict[str, str]:  # noqa: F811
    return {"people": radicale.make_addressbook("bob", "people", "People"),
            "suppliers": radicale.make_addressbook("bob", "suppliers", "Suppliers"),
            "work": radicale.make_calendar("bob", "work", "Work"),
            "todo": radicale.make_calendar("bob", "todo", "To do", components=("VTODO",))}


@pytest.fixture
def config(radicale: RadicaleServer, tmp_path: Path,  # noqa: F811
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "syncline.toml"
    path.write_text(CONFIG.format(root=radicale.url))
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["bob"])
    yield path


def test_lists_the_address_books_of_the_user(config: Path,
                                             collections: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["discover", "addressbook", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert collections["people"] in result.output and "People" in result.output
    assert collections["suppliers"] in result.output and "Suppliers" in result.output
    assert collections["work"] not in result.output


def test_lists_calendars_with_their_components_as_json(config: Path,
                                                       collections: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["discover", "calendar", "--json", "--config",
                                      str(config)])
    assert result.exit_code == 0, result.output
    found = {entry["url"]: entry for entry in json.loads(result.output)}
    assert set(found) == {collections["work"], collections["todo"]}
    assert found[collections["todo"]]["components"] == ["VTODO"]
    assert found[collections["work"]]["display_name"] == "Work"
    assert found[collections["work"]]["sync_collection"] is True


def test_other_endpoints_and_bad_credentials(config: Path, collections: dict[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    other = runner.invoke(app, ["discover", "crm", "--config", str(config)])
    assert other.exit_code == 2 and "carddav and caldav" in other.output
    unknown = runner.invoke(app, ["discover", "nowhere", "--config", str(config)])
    assert unknown.exit_code == 2 and "unknown endpoint" in unknown.output
    monkeypatch.setenv("DAV_PASSWORD", "wrong")
    refused = runner.invoke(app, ["discover", "addressbook", "--config", str(config)])
    assert refused.exit_code == 3 and "401" in refused.output and "wrong" not in refused.output
