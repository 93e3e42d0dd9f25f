"""The ``sql`` connector on MariaDB (the local server, see ``tests/conftest.py``): the
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

pytestmark = pytest.mark.mariadb


@pytest.fixture
def database_url(mariadb_url: str) -> str:
    return mariadb_url


class TestMariadbContact(SqlContactContract):
    pass


class TestMariadbItem(SqlItemContract):
    pass


class TestMariadbBehaviour(SqlBehaviour, ConcurrentWriters):
    pass


def test_an_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    url = "mysql+pymysql://root:s3cret-word@127.0.0.1:1/crm"
    connector = SqlConnector("crm", sql_settings(url), tmp_path)
    with pytest.raises(EndpointUnavailable) as caught:
        connector.open()
    assert "s3cret-word" not in str(caught.value)


def test_a_wrong_password_fails_authentication(mariadb_url: str, tmp_path: Path) -> None:
    url = mariadb_url.replace("root@", "root:s3cret-word@")
    connector = SqlConnector("crm", sql_settings(url), tmp_path)
    with pytest.raises(AuthenticationFailed) as caught:
        connector.open()
    assert "s3cret-word" not in str(caught.value)


class TestMariadbKeys(SqlUuidKeys):
    """The key cases on MariaDB."""

    uuid_default = "uuid()"
