"""Loading and checking ``syncline.toml``: the issue's example, paths, secrets, and the
messages of every kind of mistake (key named, suggestion for a misspelt name)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from cli.helpers import ISSUE_EXAMPLE
from syncline import connectors
from syncline.config import load_config, parse_config
from syncline.errors import ConfigError, UsageError
from syncline.plan_types import ConflictPolicy, FirstSyncPolicy, LinkDirection
from syncline.secret_values import resolve_secret

EXAMPLE = ISSUE_EXAMPLE


def _raw(**changes: Any) -> dict[str, Any]:
    """The example as parsed TOML, with ``links.crm-books`` settings replaced."""
    raw = tomllib.loads(EXAMPLE)
    raw["links"]["crm-books"].update(changes)
    return raw


def _error(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, base_dir=Path("/srv/sync"), source="syncline.toml")
    return caught.value


def test_the_issue_example_loads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "syncline.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    config = load_config(path)
    link = config.link("crm-books")
    assert (link.a, link.b, link.streams) == ("crm", "books", ["contact"])
    assert link.direction is LinkDirection.BOTH
    assert link.conflict is ConflictPolicy.NEWEST
    assert link.match == {"contact": ["email"]}
    assert config.endpoints["crm"].connector == "sql"
    assert config.endpoints["books"].settings["streams"]["contact"]["key"] == "cust_no"
    assert config.base_dir == tmp_path.resolve()
    assert config.source == str(path)


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = parse_config(tomllib.loads(EXAMPLE), base_dir=tmp_path)
    assert config.resolve_url(config.state.url) == f"sqlite:///{tmp_path}/syncline-state.db"
    assert config.resolve_url("sqlite:////abs/state.db") == "sqlite:////abs/state.db"
    assert config.resolve_url("sqlite:///:memory:") == "sqlite:///:memory:"
    assert config.resolve_url("sqlite:///s.db?timeout=5") == \
        f"sqlite:///{tmp_path}/s.db?timeout=5"
    assert config.resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert config.resolve_path("data/x.csv") == tmp_path / "data" / "x.csv"
    assert config.resolve_path("/etc/x") == Path("/etc/x")


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCLINE_TEST_SECRET", "s3cret")
    assert resolve_secret("env:SYNCLINE_TEST_SECRET") == "s3cret"
    assert resolve_secret("plain") == "plain"
    monkeypatch.delenv("SYNCLINE_TEST_SECRET")
    with pytest.raises(ConfigError) as caught:
        resolve_secret("env:SYNCLINE_TEST_SECRET", key="endpoints.crm.url")
    assert caught.value.key == "endpoints.crm.url"
    assert str(caught.value) == \
        "endpoints.crm.url: environment variable SYNCLINE_TEST_SECRET is not set"


def test_misspelt_link_setting_gets_a_suggestion() -> None:
    raw = _raw()
    raw["links"]["crm-books"]["conflcit"] = raw["links"]["crm-books"].pop("conflict")
    error = _error(raw)
    assert error.key == "links.crm-books.conflcit"
    assert error.source == "syncline.toml"
    assert str(error).startswith("syncline.toml: links.crm-books.conflcit: unknown setting "
                                 "'conflcit' (did you mean 'conflict'?); allowed: a, b, ")


def test_bad_choice_lists_the_choices_and_suggests_one() -> None:
    error = _error(_raw(conflict="newer"))
    assert error.key == "links.crm-books.conflict"
    assert str(error) == ("syncline.toml: links.crm-books.conflict: Input should be 'a-wins', "
                          "'b-wins', 'newest', 'merge' or 'manual' (got 'newer'; did you mean "
                          "'newest'?)")
    far = _error(_raw(direction="sideways"))
    assert str(far).endswith("Input should be 'both', 'a-to-b' or 'b-to-a' (got 'sideways')")


def test_first_sync_is_checked_like_conflict() -> None:
    error = _error(_raw(first_sync="a-win"))
    assert error.key == "links.crm-books.first_sync"
    assert str(error) == ("syncline.toml: links.crm-books.first_sync: Input should be 'merge', "
                          "'a-wins', 'b-wins' or 'review' (got 'a-win'; did you mean "
                          "'a-wins'?)")


def test_first_sync_defaults_to_merge() -> None:
    config = parse_config(_raw(), base_dir=Path("."))
    assert config.link("crm-books").first_sync is FirstSyncPolicy.MERGE
    reviewed = parse_config(_raw(first_sync="review"), base_dir=Path("."))
    assert reviewed.link("crm-books").first_sync is FirstSyncPolicy.REVIEW


def test_unknown_endpoint_unknown_stream_and_unknown_field() -> None:
    assert str(_error(_raw(b="bookz"))) == (
        "syncline.toml: links.crm-books.b: unknown endpoint 'bookz' (did you mean 'books'?); "
        "configured: books, crm")
    stream = _error(_raw(streams=["contcat"]))
    assert stream.key == "links.crm-books.streams[0]"
    assert "unknown stream 'contcat' (did you mean 'contact'?); known streams: bill, " \
        in str(stream)
    field = _error(_raw(match={"contact": ["emial"]}))
    assert field.key == "links.crm-books.match.contact"
    assert "unknown contact field 'emial' (did you mean 'email'?)" in str(field)
    other = _error(_raw(match={"contacts": ["email"]}))
    assert str(other).endswith("links.crm-books.match.contacts: 'contacts' is not one of the "
                               "link's streams (did you mean 'contact'?); its streams: contact")


def test_stream_must_be_configured_on_both_endpoints() -> None:
    error = _error(_raw(streams=["contact", "invoice"]))
    assert error.key == "links.crm-books.streams[1]"
    assert "stream 'invoice' is not configured on endpoint 'crm' (add " \
        "[endpoints.crm.streams.invoice])" in str(error)


def test_a_link_needs_two_endpoints() -> None:
    error = _error(_raw(b="crm"))
    assert error.key == "links.crm-books.b"
    assert "a link needs two different endpoints" in str(error)


def test_unknown_connector_names_file_and_key() -> None:
    raw = _raw()
    raw["endpoints"]["crm"]["connector"] = "sqll"
    error = _error(raw)
    assert error.key == "endpoints.crm.connector"
    assert error.source == "syncline.toml"
    assert str(error).startswith("syncline.toml: endpoints.crm.connector: unknown connector "
                                 "'sqll' (did you mean 'sql'?); known: ")


def test_a_connector_that_cannot_be_imported_is_a_config_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(connectors._BUILT_IN, "broken", "syncline.no_such_module:Nothing")
    raw = _raw()
    raw["endpoints"]["crm"] = {"connector": "broken"}
    error = _error(raw)
    assert error.key == "endpoints.crm.connector"
    assert "connector 'broken' cannot be loaded: No module named 'syncline.no_such_module'" \
        in str(error)


def test_connector_settings_errors_name_the_file() -> None:
    raw = _raw()
    raw["endpoints"]["crm"]["streams"]["contact"]["tabel"] = "people"
    error = _error(raw)
    assert error.source == "syncline.toml"
    assert error.key == "endpoints.crm.streams.contact.tabel"
    assert str(error).startswith("syncline.toml: endpoints.crm.streams.contact.tabel: unknown "
                                 "setting 'tabel' (did you mean 'table'?)")


@pytest.mark.parametrize(("value", "message"), [
    ("lots", "must be a number of records or a percentage like '25%' (got 'lots')"),
    ("150%", "a percentage cannot exceed 100% (got '150%')"),
    (-2, "must be a number of records (>= 0) or a percentage like '25%' (got -2)"),
])
def test_bad_max_delete(value: object, message: str) -> None:
    error = _error(_raw(max_delete=value))
    assert error.key == "links.crm-books.max_delete"
    assert str(error) == f"syncline.toml: links.crm-books.max_delete: {message}"


@pytest.mark.parametrize(("value", "total", "limit"), [
    ("25%", 1000, 250), ("25%", 3, 0), ("10", 1000, 10), (5, 2, 5), ("0.5%", 1000, 5),
    (" 100 % ", 7, 7),
])
def test_delete_limit(value: str | int, total: int, limit: int) -> None:
    config = parse_config(_raw(max_delete=value), base_dir=Path("/srv"))
    assert config.link("crm-books").delete_limit(total) == limit


def test_missing_settings_and_wrong_types() -> None:
    raw = _raw()
    del raw["links"]["crm-books"]["a"]
    assert str(_error(raw)) == "syncline.toml: links.crm-books.a: is required but missing"
    empty = _error(_raw(streams=[]))
    assert empty.key == "links.crm-books.streams"
    assert "at least 1 item" in str(empty)
    top = tomllib.loads(EXAMPLE)
    top["stat"] = top.pop("state")
    assert str(_error(top)).startswith("syncline.toml: stat: unknown setting 'stat' (did you "
                                       "mean 'state'?); allowed: state, endpoints, links")


def test_unknown_link_lookup_suggests() -> None:
    config = parse_config(_raw(), base_dir=Path("/srv"), source="syncline.toml")
    with pytest.raises(ConfigError) as caught:
        config.link("crm-book")
    assert str(caught.value) == ("syncline.toml: links.crm-book: unknown link 'crm-book' (did "
                                 "you mean 'crm-books'?); configured: crm-books")


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope.toml not found \(create one "
                                          r"with 'syncline init'\)"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)  # a folder
    broken = tmp_path / "broken.toml"
    broken.write_text("[links\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(broken)
    assert str(caught.value).startswith(f"{broken}: not valid TOML: ")
    assert "line 1" in str(caught.value)


def test_check_streams_is_the_one_message_naming_link_streams_and_its_streams() -> None:
    config = parse_config(tomllib.loads(EXAMPLE), base_dir=Path("/srv/sync"),
                          source="syncline.toml")
    link = config.link("crm-books")
    first = link.streams[0]
    assert link.check_streams("crm-books", [first, first]) == (first,)
    assert link.check_streams("crm-books", []) == ()
    with pytest.raises(UsageError) as caught:
        link.check_streams("crm-books", [first, "bill", "task_list", "bill"])
    assert str(caught.value) == (f"link 'crm-books' does not sync bill, task_list; its streams "
                                 f"are: {', '.join(link.streams)}")
