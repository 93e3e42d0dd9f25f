"""The ``sql`` connector on PostgreSQL (the local server, see ``tests/conftest.py``): the
contract, the shared SQL tests, concurrent writers and connection failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sql_cases import (
    ConcurrentWriters,
    SqlBehaviour,
    SqlContactContract,
    SqlItemContract,
)
from connectors.sql_key_cases import SqlUuidKeys
from connectors.sql_support import sql_settings
from syncline.connectors.sql import SqlConnector
from syncline.errors import AuthenticationFailed, EndpointUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


class TestPostgresContact(SqlContactContract):
    pass


class TestPostgresItem(SqlItemContract):
    pass


class TestPostgresBehaviour(SqlBehaviour, ConcurrentWriters):
    pass


def test_an_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres:s3cret-word@127.0.0.1:1/crm"
    connector = SqlConnector("crm", sql_settings(url), tmp_path)
    with pytest.raises(EndpointUnavailable) as caught:
        connector.open()
    assert "s3cret-word" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


def test_refused_credentials_fail_authentication(postgres_url: str, tmp_path: Path) -> None:
    # The local server trusts every password from 127.0.0.1, so an unknown role stands in for
    # wrong credentials.
    url = postgres_url.replace("postgres@", "syncline_nobody:s3cret-word@")
    connector = SqlConnector("crm", sql_settings(url), tmp_path)
    with pytest.raises(AuthenticationFailed) as caught:
        connector.open()
    assert "s3cret-word" not in str(caught.value)
    assert "syncline_nobody" in str(caught.value)


class TestPostgresKeys(SqlUuidKeys):
    """The key cases on PostgreSQL."""

    uuid_default = "gen_random_uuid()"
