"""Opening the state store's database: connecting, and bringing its schema up to date.

Terms:

revision
    The newest migration a database has been brought to, as Alembic records it in its table
    ``alembic_version``. :data:`SCHEMA_REVISION` is the newest one there is.
empty database
    One that holds no table at all: a new SQLite file, a new PostgreSQL database. It gets
    the declared schema (:mod:`syncline.state.schema`) in one transaction, stamped at
    :data:`SCHEMA_REVISION`, which is what running every migration gives (a test checks
    they agree) without loading Alembic, Mako and their templates: a fifth of a second on a
    first run. A database at an older revision is upgraded by Alembic's migrations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    insert,
    inspect,
)
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from syncline.errors import StateError
from syncline.state import schema
from syncline.state.outage import watch_outages

__all__ = ["MIGRATIONS", "SCHEMA_REVISION", "masked", "open_engine", "revision", "upgrade"]

SCHEMA_REVISION = "0008"
"""The newest migration in ``migrations/versions`` (a test checks they agree)."""

MIGRATIONS = Path(__file__).parent / "migrations"
"""Alembic's script folder: ``env.py`` and the migrations under ``versions``."""

_ALEMBIC_VERSION = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
"""Alembic's table of the revision a database is at, as Alembic creates it."""


def open_engine(url: str) -> Engine:
    """An engine on the database at ``url``, its schema at :data:`SCHEMA_REVISION`; the
    folder of a SQLite file is created when missing.

    Outages met later on the engine (its database stopped or unreachable) are raised as
    :class:`~syncline.errors.StateUnavailable` (see :mod:`syncline.state.outage`).

    Raises:
        StateUnavailable: the database cannot be reached.
        StateError: the database cannot be created or migrated.
    """
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        folder = Path(url[len("sqlite:///"):].split("?")[0]).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StateError(f"state store folder {folder} cannot be created: "
                             f"{error.strerror}") from None
    try:
        engine = create_engine(url, future=True)
    except (SQLAlchemyError, ImportError) as error:
        raise StateError(f"state store URL {masked(url)} is not usable: {error}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    watch_outages(engine, masked(url))
    if revision(engine) != SCHEMA_REVISION and not _create_when_empty(engine):
        upgrade(engine)
    return engine


def revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: new or unreadable)."""
    try:
        with engine.connect() as connection:
            value = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except (OperationalError, ProgrammingError):
        return None
    return None if value is None else str(value)


def upgrade(engine: Engine) -> None:
    """Run Alembic's migrations from the database's revision to the newest.

    Raises:
        StateError: the database cannot be reached or a migration fails.
    """
    from alembic import command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as error:
        raise StateError(f"state store {masked(str(engine.url))} cannot be opened: "
                         f"{error.orig}") from None


def _create_when_empty(engine: Engine) -> bool:
    """Give an empty database the declared schema, stamped at :data:`SCHEMA_REVISION`, in
    one transaction (see the module docstring). ``False`` when the database holds tables.
    When another process created it at the same moment (this one's transaction then
    fails), its schema is taken.

    Raises:
        StateError: the database cannot be reached or written.
    """
    try:
        with engine.begin() as connection:
            if inspect(connection).get_table_names():
                return False
            schema.metadata.create_all(connection)
            _ALEMBIC_VERSION.create(connection)
            connection.execute(insert(_ALEMBIC_VERSION).values(version_num=SCHEMA_REVISION))
    except OperationalError as error:
        if revision(engine) == SCHEMA_REVISION:
            return True
        raise StateError(f"state store {masked(str(engine.url))} cannot be opened: "
                         f"{error.orig}") from None
    return True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def masked(url: str) -> str:
    """``url`` with its password hidden (for messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "<unparseable url>"
