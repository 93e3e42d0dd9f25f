"""The ``sql`` connector: a table (or view) per stream in SQLite, PostgreSQL or MariaDB.

Keys are the text of the key column's value (integer keys both ways; a native ``uuid`` as
its lowercase hyphenated text); the key column's type is read from the table, and keys are
bound in that type to read, update and delete by key. A key column must be unique and never
NULL: see :mod:`~syncline.connectors.sql.keys` for when that is checked, and
:meth:`SqlConnector.take_item_errors` for the rows a read leaves out. Change capture is
installed by :meth:`SqlConnector.setup` (triggers filling ``syncline_changes``); until then a
stream can be read in full only. Writes go one transaction per batch and are logged in
``syncline_batches`` in the same transaction, which is what :meth:`SqlConnector.recover`
looks at after a crash. Records carry no version (``None``): the engine compares content
hashes. ``Record.updated_at`` comes from the stream's ``updated`` column when one is
configured, else (for changes) from the change log's time of the last change.

``ReadScope.since``/``until`` filter on the ``updated`` column; for streams without one they
are ignored when reading in full and compared with the change log's times when reading
changes. Key ranges compare keys in the key column's own type (integer keys numerically).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from syncline.connectors.base import (
    Capability,
    ChangeFeed,
    Connector,
    CreatedRows,
    CreateRows,
    ReadScope,
    WriteBatch,
    WriteResult,
)
from syncline.connectors.sql import bulk_create, changes, keys, reading, writing
from syncline.connectors.sql.binding import BoundStream, bind_stream
from syncline.connectors.sql.capture import (
    BATCHES,
    CONTROL,
    CaptureTarget,
    captured_tables,
    install_capture,
)
from syncline.connectors.sql.connection import (
    WRITE_OPTION,
    connect_error,
    create_engine,
    driver_message,
    guarded,
    is_connection_problem,
    run_error,
    sqlite_file_missing,
)
from syncline.connectors.sql.settings import SqlSettings, mask_secrets, parse_settings, resolve_url
from syncline.errors import (
    ConfigError,
    EndpointUnavailable,
    ItemError,
    ProtocolError,
    RunError,
    SynclineError,
)
from syncline.model import ENTITY_TYPES, Record, RecordColumns

__all__ = ["SqlConnector"]

_Page = TypeVar("_Page")

_ALWAYS = Capability.READ | Capability.CREATE | Capability.UPDATE | Capability.DELETE \
    | Capability.DETECT_DELETES


class SqlConnector(Connector):
    """Connector type ``sql`` (see the module docstring and
    :mod:`~syncline.connectors.sql.settings` for the settings)."""

    type_name: ClassVar[str] = "sql"
    preferred_batch_size: ClassVar[int] = 20_000
    description: ClassVar[str] = "a database (SQLite, PostgreSQL, MariaDB): one table per stream"

    def __init__(self, endpoint: str, settings: Mapping[str, Any], base_dir: Path) -> None:
        """Raises: ConfigError: the settings are wrong (see :meth:`validate_settings`)."""
        super().__init__(endpoint, settings, base_dir)
        self.config: SqlSettings = parse_settings(endpoint, settings)
        self._engine: Engine | None = None
        self._url: URL | None = None
        self._bound: dict[str, BoundStream] = {}
        self._captured: set[str] = set()
        self._has_control = False
        self._has_batches = False
        self._problems: list[ItemError] = []

    # -- life cycle -------------------------------------------------------------------------
    @classmethod
    def validate_settings(cls, endpoint: str, settings: Mapping[str, Any]) -> None:
        """Check the settings without connecting.

        Raises:
            ConfigError: naming the offending key, with a suggestion for a misspelt name.
        """
        parse_settings(endpoint, settings)

    def open(self) -> None:
        """Connect, reflect the mapped tables, check every configured column exists and
        every key column can be a key (from the schema; the data only of a table whose key
        the schema does not prove and that has no change capture, see
        :mod:`~syncline.connectors.sql.keys`).

        Raises:
            ConfigError: a table or column is missing (naming its setting), ``env:NAME``
                is unset, or a key column holds a duplicate or NULL key (naming the table,
                the column and an example).
            EndpointUnavailable: the database cannot be reached.
            AuthenticationFailed: the database refused the credentials.
        """
        self.close()
        url = resolve_url(self.config.url, self.base_dir, key=f"endpoints.{self.endpoint}.url")
        missing = sqlite_file_missing(url)
        if missing is not None:
            raise EndpointUnavailable(self.endpoint, f"SQLite database file {missing} does not "
                                                     f"exist")
        try:
            engine = create_engine(url)
        except (ImportError, sa.exc.ArgumentError) as error:
            raise ConfigError(f"cannot use this database URL: {mask_secrets(str(error), url)}",
                              key=f"endpoints.{self.endpoint}.url") from None
        try:
            with engine.connect() as conn:
                inspector = sa.inspect(conn)
                tables = inspector.get_table_names()
                views = inspector.get_view_names()
                bound = {name: bind_stream(conn, self.endpoint, mapping, tables + views,
                                           views)
                         for name, mapping in self.config.streams.items()}
                self._captured = captured_tables(conn)
                for stream in bound.values():
                    if keys.checks_data(stream, stream.table.name in self._captured):
                        keys.check_keys(conn, self.endpoint, stream)
        except sa.exc.DBAPIError as error:
            engine.dispose()
            raise connect_error(self.endpoint, url, error) from None
        except SynclineError:
            engine.dispose()
            raise
        self._engine, self._url, self._bound = engine, url, bound
        self._has_control = CONTROL.name in tables
        self._has_batches = BATCHES.name in tables
        self._problems = []

    def close(self) -> None:
        """Release the connections. Safe to call twice."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None

    def _ready(self, stream: str) -> tuple[Engine, URL, BoundStream]:
        if self._engine is None or self._url is None:
            raise RuntimeError("SqlConnector.open() must be called first")
        try:
            return self._engine, self._url, self._bound[stream]
        except KeyError:
            raise ConfigError(f"stream '{stream}' is not configured on endpoint "
                              f"'{self.endpoint}'", key=f"endpoints.{self.endpoint}.streams."
                                                        f"{stream}") from None

    def _targets(self, stream: str) -> list[CaptureTarget]:
        bound = self._ready(stream)[2]
        if bound.is_view:
            return []
        targets = [CaptureTarget(bound.table.name, bound.key.name, bound.table.name)]
        if bound.lines is not None:
            targets.append(CaptureTarget(bound.lines.table.name, bound.lines.parent.name,
                                         bound.table.name, line=True))
        return targets

    def setup(self, streams: Sequence[str]) -> list[str]:
        """Check the key column of ``streams`` (all configured streams when empty), reading
        the data where the schema does not prove it unique and not NULL, then install change
        capture: the bookkeeping tables and triggers on their tables and lines tables. A view
        gets no change capture (it is read in full on every run) and a key problem of a view
        is reported as a line, not refused. Safe to run again.

        Raises:
            ConfigError: a stream is not configured, or a table's key column holds a
                duplicate or NULL key (naming the table, the column and an example); nothing
                is installed then.
            EndpointUnavailable: the database refused (for example: no privilege to create
                triggers), with its message.
        """
        names = list(streams) or list(self._bound)
        targets = [target for name in names for target in self._targets(name)]
        engine, url, _ = self._ready(names[0])
        notes: list[str] = []
        try:
            with engine.connect() as conn:
                for name in names:
                    bound = self._bound[name]
                    if bound.is_view:
                        problem = keys.key_problem(conn, bound)
                        notes.append(f"view {bound.table.name}: no change capture (read in "
                                     f"full on every run)" + (
                                         f"; {problem}: those rows are reported as errors "
                                         f"and not synced" if problem else ""))
                    else:
                        keys.check_keys(conn, self.endpoint, bound)
                conn.rollback()
                conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    done = install_capture(conn, targets) + notes
                with conn.begin():
                    self._captured = captured_tables(conn)
        except sa.exc.DBAPIError as error:
            if is_connection_problem(error):
                raise run_error(self.endpoint, url, error) from None
            raise RunError(f"endpoint '{self.endpoint}': setting up change capture failed: "
                           f"{driver_message(error, url)}") from None
        self._has_control = engine.dialect.name == "sqlite"
        self._has_batches = True
        return done

    # -- description ------------------------------------------------------------------------
    def _capability(self, bound: BoundStream) -> Capability:
        tables = [bound.table.name] + ([bound.lines.table.name] if bound.lines else [])
        if all(table in self._captured for table in tables):
            return _ALWAYS | Capability.INCREMENTAL
        return _ALWAYS

    def streams(self) -> dict[str, Capability]:
        """The configured streams; ``INCREMENTAL`` only once :meth:`setup` has run for them."""
        if self._engine is None:
            return {name: _ALWAYS for name in self.config.streams}
        return {name: self._capability(bound) for name, bound in self._bound.items()}

    def field_names(self, stream: str) -> frozenset[str]:
        """The mapped canonical fields of ``stream`` (``lines`` included when mapped)."""
        return self.config.streams[stream].field_names

    @classmethod
    def capability_matrix(cls) -> dict[str, Capability]:
        """Every canonical stream can be mapped to a table and supports everything."""
        return {name: Capability.all() for name in ENTITY_TYPES}

    # -- reading ----------------------------------------------------------------------------
    def current_cursor(self, stream: str) -> str | None:
        """The newest change-log sequence number as text (``"0"`` when the log is empty,
        with gaps appended when transactions are running); ``None`` before :meth:`setup`."""
        engine, url, bound = self._ready(stream)
        if not self._capability(bound) & Capability.INCREMENTAL:
            return None
        with guarded(self.endpoint, url):
            return str(changes.current_position(engine))

    def read_changes(self, stream: str, cursor: str, scope: ReadScope) -> ChangeFeed:
        """Changes since ``cursor``, each key once with its current row, deletions as
        ``Change(key, None)``; see :mod:`~syncline.connectors.sql.changes`. Rows that
        cannot be read are left out (see :meth:`take_item_errors`).

        Raises:
            ProtocolError: change capture is not set up, the cursor is not valid, or the
                change log was reset: read in full.
            EndpointUnavailable: the database cannot be reached.
        """
        engine, url, bound = self._ready(stream)
        if not self._capability(bound) & Capability.INCREMENTAL:
            raise ProtocolError(self.endpoint, f"change capture is not set up for "
                                               f"{bound.table.name}; run 'syncline setup'")
        with guarded(self.endpoint, url):
            feed = changes.read_changes(engine, self.endpoint, bound, cursor, scope,
                                        self.config.page_size, self._problems)
        return ChangeFeed(self._guard_pages(url, feed.pages), feed.cursor_holder)

    def _guard_pages(self, url: URL, pages: Iterator[_Page]) -> Iterator[_Page]:
        with guarded(self.endpoint, url):
            yield from pages

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        """Every record within ``scope`` in key order, in pages of ``page_size``. Rows that
        cannot be read are left out (see :meth:`take_item_errors`).

        Raises:
            UsageError: a key range bound cannot be a key of this stream.
            EndpointUnavailable: the database cannot be reached.
        """
        engine, url, bound = self._ready(stream)
        return self._guard_pages(url, reading.read_all(engine, bound, scope,
                                                       self.config.page_size, self._problems))

    def read_all_columnar(self, stream: str,
                          scope: ReadScope) -> Iterator[list[Record] | RecordColumns]:
        """:meth:`read_all`, with pages that need no conversion (SQLite rowid keys, text
        fields) as columnar pages.

        Raises:
            as :meth:`read_all`.
        """
        engine, url, bound = self._ready(stream)
        return self._guard_pages(url, reading.read_all_columnar(
            engine, bound, scope, self.config.page_size, self._problems))

    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        """The current records with these keys; keys that do not exist are left out, and so
        are rows that cannot be read (see :meth:`take_item_errors`).

        Raises:
            EndpointUnavailable: the database cannot be reached.
        """
        engine, url, bound = self._ready(stream)
        with guarded(self.endpoint, url):
            return reading.read_keys(engine, bound, keys, self._problems)

    def take_item_errors(self, stream: str) -> list[ItemError]:
        """The rows of ``stream`` that reads since the last call left out, handed over once:
        a row whose key is NULL or shared with another row (where the schema allows that: a
        view, a table without a unique key), or that holds a value that cannot be read (text
        that is not UTF-8, a date that is not one). Each error names the table, the key and
        the column; the other rows of the page are read as usual."""
        taken = [error for error in self._problems if error.stream == stream]
        self._problems[:] = [error for error in self._problems if error.stream != stream]
        return taken

    def in_key_range(self, stream: str, key: str, scope: ReadScope) -> bool:
        """Whether ``key`` lies in ``scope``'s key range, comparing in the key column's type.

        Raises:
            UsageError: a bound of the range cannot be a key of this stream.
        """
        _, _, bound = self._ready(stream)
        low, high = reading.key_bounds(bound, scope)
        return reading.in_key_range(bound, key, low, high)

    def count(self, stream: str) -> int:
        """How many rows the stream's table holds."""
        engine, url, bound = self._ready(stream)
        with guarded(self.endpoint, url), engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(bound.table))
                       .scalar_one())

    # -- writing ----------------------------------------------------------------------------
    def _context(self, stream: str) -> writing.WriteContext:
        engine, url, bound = self._ready(stream)
        if not self._has_batches:
            with guarded(self.endpoint, url), engine.begin() as conn:
                BATCHES.create(conn, checkfirst=True)
            self._has_batches = True
        return writing.WriteContext(engine, bound, self._has_control, url)

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        """Apply ``batch`` in one transaction; see :mod:`~syncline.connectors.sql.writing`.

        Raises:
            EndpointUnavailable: the database cannot be reached or stayed locked; nothing of
                the batch was applied.
            ProtocolError: the batch id was already logged for other operations.
        """
        context = self._context(batch.stream)
        try:
            with guarded(self.endpoint, context.url):
                return writing.write(context, batch)
        except ValueError as error:  # the batch id was logged for other operations
            raise ProtocolError(self.endpoint, str(error)) from None

    def write_creates(self, batch: CreateRows) -> CreatedRows:
        """Create rows in bulk (see :mod:`~syncline.connectors.sql.bulk_create`), or the
        general way where the bulk lane does not apply.

        Raises:
            EndpointUnavailable: the database cannot be reached or stayed locked; nothing of
                the batch was applied.
            ProtocolError: the batch id was already logged for other operations.
        """
        context = self._context(batch.stream)
        try:
            with guarded(self.endpoint, context.url):
                created = bulk_create.write_creates(context, batch)
        except ValueError as error:
            raise ProtocolError(self.endpoint, str(error)) from None
        return created if created is not None else super().write_creates(batch)

    def abandon(self, batch: WriteBatch) -> list[WriteResult] | None:
        """The results stored for ``batch`` if it was applied; if not, the batch is logged
        as abandoned, so that a late write of it fails (see
        :mod:`~syncline.connectors.sql.batch_log`), and ``None`` is returned.

        Raises:
            ProtocolError: the batch id was logged for a different number of operations.
            EndpointUnavailable: the database cannot be reached.
        """
        return self._logged_results(batch, writing.abandon)

    def recover(self, batch: WriteBatch) -> list[WriteResult] | None:
        """The results stored for ``batch`` if it was applied, ``None`` if it was not.

        Raises:
            ProtocolError: the batch id was logged for a different number of operations.
            EndpointUnavailable: the database cannot be reached.
        """
        return self._logged_results(batch, writing.recover)

    def _logged_results(self, batch: WriteBatch,
                        look_up: Callable[[writing.WriteContext, WriteBatch],
                                          list[WriteResult] | None]
                        ) -> list[WriteResult] | None:
        """``look_up(context, batch)`` in the batch log (:func:`writing.recover` or
        :func:`writing.abandon`).

        Raises:
            ProtocolError: the batch id was logged for a different number of operations.
            EndpointUnavailable: the database cannot be reached.
        """
        context = self._context(batch.stream)
        try:
            with guarded(self.endpoint, context.url):
                return look_up(context, batch)
        except ValueError as error:
            raise ProtocolError(self.endpoint, str(error)) from None
