"""Shared fixtures: a fresh, uniquely named database on the local PostgreSQL and MariaDB
servers for each test that asks for one, dropped afterwards; and, for every test, a
configuration home of its own (``XDG_CONFIG_HOME``), so that the secret key file syncline
creates on first use never lands in the home folder of whoever runs the tests.

When a server cannot be reached the test is skipped, except on CI (``CI=true``), where it
fails: there the servers are part of the environment.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest
import sqlalchemy as sa

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
MARIADB_SERVER = "mysql+pymysql://root@127.0.0.1:3306"


@pytest.fixture(autouse=True)
def _private_config_home(tmp_path_factory: pytest.TempPathFactory,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config-home")))


def _unreachable(server: str, address: str, error: Exception) -> NoReturn:
    reason = " ".join(str(getattr(error, "orig", error)).split())
    message = f"{server} not reachable on {address}: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _fresh_database(server_url: str, admin_database: str, server: str, address: str,
                    drop: str) -> Iterator[str]:
    name = f"syncline_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{server_url}/{admin_database}", isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as error:
        admin.dispose()
        _unreachable(server, address, error)
    try:
        yield f"{server_url}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(drop.format(name=name))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new empty PostgreSQL database (``postgresql+psycopg://...``)."""
    yield from _fresh_database(POSTGRES_SERVER, "postgres", "PostgreSQL", "127.0.0.1:5432",
                               "DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """The URL of a new empty MariaDB database (``mysql+pymysql://...``)."""
    yield from _fresh_database(MARIADB_SERVER, "", "MariaDB", "127.0.0.1:3306",
                               "DROP DATABASE IF EXISTS {name}")
