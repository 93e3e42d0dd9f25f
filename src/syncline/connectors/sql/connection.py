"""Creating the SQLAlchemy engine per dialect and turning driver errors into syncline errors.

SQLite connections get a busy timeout (the database's journal mode is the user's choice and
is left alone), and syncline controls transactions
itself (``BEGIN``, or ``BEGIN IMMEDIATE`` for writes) so that savepoints work. MariaDB
sessions run in UTC so that ``TIMESTAMP`` columns read and write UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from syncline.connectors.sql.settings import mask_secrets
from syncline.errors import AuthenticationFailed, EndpointUnavailable, ProtocolError, RunError

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "CONNECT_TIMEOUT_SECONDS",
    "WRITE_OPTION",
    "connect_error",
    "create_engine",
    "driver_message",
    "guarded",
    "is_connection_problem",
    "run_error",
    "sqlite_file_missing",
]

BUSY_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 10
WRITE_OPTION = "syncline_write"
"""Connection execution option: the transaction about to begin will write (SQLite then takes
the write lock at ``BEGIN IMMEDIATE`` instead of failing to upgrade a read lock later)."""

_AUTH_MARKERS = re.compile(
    r"password authentication failed|authentication failed|no password supplied"
    r"|access denied for user|no pg_hba\.conf entry|role \"[^\"]*\" does not exist",
    re.IGNORECASE)
_MYSQL_AUTH_ERRORS = {1044, 1045, 1698, 1251}


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # syncline emits BEGIN itself
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _mariadb_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SET time_zone = '+00:00'")
        finally:
            cursor.close()


def create_engine(url: URL) -> Engine:
    """An engine for ``url`` set up for syncline (see the module docstring). Does not connect.

    Raises:
        EndpointUnavailable: a SQLite database file does not exist.
        sqlalchemy.exc.ArgumentError / ImportError: the URL names an unknown driver.
    """
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args["timeout"] = BUSY_TIMEOUT_SECONDS
    elif backend == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    else:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=backend != "sqlite")
    if backend == "sqlite":
        _sqlite_events(engine)
    elif backend in ("mysql", "mariadb"):
        _mariadb_events(engine)
    return engine


def sqlite_file_missing(url: URL) -> Path | None:
    """The database file of a SQLite URL when it does not exist (SQLite would create an empty
    one), else ``None``."""
    if url.get_backend_name() != "sqlite" or not url.database \
            or url.database == ":memory:" or url.database.startswith("file:"):
        return None
    path = Path(url.database)
    return None if path.exists() else path


def driver_message(error: BaseException, url: URL) -> str:
    """The driver's own message for ``error`` on one line, with the URL's password masked."""
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())
    return mask_secrets(text, url) or type(original).__name__


def is_connection_problem(error: sa.exc.DBAPIError) -> bool:
    """Whether ``error`` says the database cannot be used now (lost or refused connection,
    lock or timeout) rather than that one statement's data was wrong."""
    return error.connection_invalidated or isinstance(
        error, sa.exc.OperationalError | sa.exc.InterfaceError)


def connect_error(endpoint: str, url: URL, error: BaseException) -> RunError:
    """The syncline error for a failure to connect: :class:`AuthenticationFailed` when the
    credentials were refused, else :class:`EndpointUnavailable` (password masked)."""
    detail = driver_message(error, url)
    original = getattr(error, "orig", None)
    code = original.args[0] if original is not None and original.args else None
    if (isinstance(code, int) and code in _MYSQL_AUTH_ERRORS) \
            or _AUTH_MARKERS.search(detail):
        return AuthenticationFailed(endpoint, detail)
    where = url.render_as_string(hide_password=True)
    return EndpointUnavailable(endpoint, f"{detail} ({where})")


def run_error(endpoint: str, url: URL, error: sa.exc.DBAPIError) -> RunError:
    """The syncline error for a failure while working: :class:`EndpointUnavailable` for
    connection problems, else :class:`ProtocolError` (the database refused a statement
    syncline considered valid, e.g. because the schema changed since it was checked)."""
    detail = driver_message(error, url)
    if is_connection_problem(error):
        return EndpointUnavailable(endpoint, detail)
    return ProtocolError(endpoint, detail)


@contextmanager
def guarded(endpoint: str, url: URL) -> Iterator[None]:
    """Turn database errors escaping the block into syncline run errors (see
    :func:`run_error`)."""
    try:
        yield
    except sa.exc.DBAPIError as error:
        raise run_error(endpoint, url, error) from None
