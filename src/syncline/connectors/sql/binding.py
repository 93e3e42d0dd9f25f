"""Binding stream mappings to the reflected tables of a database.

Terms:

bound stream
    A :class:`~syncline.connectors.sql.settings.StreamMapping` joined with the reflected
    :class:`sqlalchemy.Table` it names: the columns exist, and every mapped field carries a
    reader (raw value -> canonical) and a writer (canonical -> what the column takes).
key generation
    How a new row gets its key (:class:`KeyGeneration`): from the database (autoincrement,
    identity, a server default), from syncline (``uuid4().hex`` for a text key without
    default), from a mapped field that is the key column, or not at all (creates then fail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from enum import Enum
from typing import Any
from unicodedata import combining, normalize
from uuid import uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncline.connectors.sql.coerce import (
    ColumnKind,
    Converter,
    column_kind,
    reader_for,
    to_uuid,
    writer_for,
)
from syncline.connectors.sql.settings import LinesMapping, StreamMapping
from syncline.errors import ConfigError
from syncline.model import ENTITY_TYPES, FieldSpec

__all__ = [
    "BoundField",
    "BoundLines",
    "BoundStream",
    "KeyColumn",
    "KeyGeneration",
    "bind_stream",
]


class KeyGeneration(Enum):
    """Where the key of a new row comes from (see the module docstring)."""

    DATABASE = "database"
    UUID = "uuid"
    FIELD = "field"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class KeyColumn:
    """A key column: canonical keys are text; ``native`` gives the column's own value."""

    column: sa.Column[Any]
    kind: ColumnKind
    generation: KeyGeneration
    rowid_alias: bool = False
    sequence: str | None = None
    """PostgreSQL: the sequence numbering new keys (serial or identity ``BY DEFAULT``), from
    which keys can be taken ahead of an insert."""
    unique: bool = True
    """Whether the schema proves every row's key different: a primary key, a unique
    constraint or a unique index on exactly this column."""
    not_null: bool = True
    """Whether the schema proves every row has a key (``NOT NULL``, or the SQLite rowid)."""
    folds: bool = False
    """Whether the database compares keys without regard to case (and accents, and trailing
    spaces): a MariaDB/MySQL ``_ci`` collation or PostgreSQL ``citext``; ``'a-1'`` and
    ``'A-1'`` are then one key to the database (see :meth:`identity`)."""
    loose: bool = False
    """Whether the column has no type of its own (SQLite, declared without one): it keeps
    integer ``1`` and text ``'1'`` apart, while both are key ``1`` to syncline (see
    :meth:`matches`)."""

    @property
    def proven(self) -> bool:
        """Whether the schema alone proves the key column fit to be a key (unique and not
        NULL); when not, the data is checked (see :mod:`~syncline.connectors.sql.keys`)."""
        return self.unique and self.not_null

    @property
    def name(self) -> str:
        return self.column.name

    def native(self, key: str) -> Any:
        """The column value for canonical key ``key``, in the column's own type: ``int`` for
        an integer key, :class:`uuid.UUID` for a native uuid key, else the text itself.

        Raises:
            ValueError: ``key`` cannot be a value of this column (``"abc"`` for an integer or
                a uuid key).
        """
        if self.kind is ColumnKind.INTEGER:
            return int(key)
        if self.kind is ColumnKind.UUID:
            return to_uuid(key)
        return key

    def text(self, value: Any) -> str:
        """The canonical key for a raw column value (a uuid as lowercase hyphenated text).

        Raises:
            ValueError: ``value`` is NULL (a row without a key has no canonical key; it
                never becomes the text ``'None'``).
        """
        if isinstance(value, str):
            return str(to_uuid(value)) if self.kind is ColumnKind.UUID else value
        if value is None:
            raise ValueError(f"{self.name} is NULL")
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8")
        return str(value)

    def identity(self, value: Any) -> str:
        """What the database and syncline take for the same key as raw ``value``: its
        canonical text, folded when the column's comparison ignores case (:attr:`folds`).
        Two rows with one identity hold one key.

        Raises:
            ValueError: as :meth:`text`.
        """
        key = self.text(value)
        if not self.folds:
            return key
        stripped = "".join(c for c in normalize("NFKD", key) if not combining(c))
        return stripped.casefold().rstrip(" ")

    def forms(self, native: Any) -> list[Any]:
        """The column values that are key ``native`` (from :meth:`native`): in a column
        without a type (:attr:`loose`), a number's text and integer forms; else itself."""
        if self.loose and isinstance(native, str):
            try:
                number = int(native)
            except ValueError:
                return [native]
            if str(number) == native:
                return [native, number]
        return [native]

    def matches(self, native: Any) -> sa.ColumnElement[bool]:
        """The condition selecting every row whose key is ``native`` (see :meth:`forms`)."""
        forms = self.forms(native)
        if len(forms) > 1:
            return self.column.in_(forms)
        matched: sa.ColumnElement[bool] = self.column == native
        return matched

    def new_key(self) -> Any:
        """A new key made by syncline (:attr:`KeyGeneration.UUID`) in the column's own type:
        a :class:`uuid.UUID` for a native uuid column, else its 32 hex digits as text."""
        made = uuid4()
        return made if self.kind is ColumnKind.UUID else made.hex

    def sort_value(self, key: str) -> Any:
        """``key`` in the column's own order (numbers numerically); used for key ranges."""
        try:
            return self.native(key)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class BoundField:
    """One mapped canonical field: its column and its converters."""

    name: str
    spec: FieldSpec
    column: sa.Column[Any]
    read: Converter
    write: Converter


@dataclass(frozen=True, slots=True)
class BoundLines:
    """A bound lines table."""

    mapping: LinesMapping
    table: sa.Table
    key: KeyColumn
    parent: sa.Column[Any]
    order: sa.Column[Any] | None
    fields: tuple[BoundField, ...]


@dataclass(frozen=True, slots=True)
class BoundStream:
    """A bound stream (see the module docstring)."""

    mapping: StreamMapping
    table: sa.Table
    key: KeyColumn
    fields: tuple[BoundField, ...]
    updated: sa.Column[Any] | None
    lines: BoundLines | None
    dialect: str
    is_view: bool = False
    """Whether the table is a view (no change capture; its key is checked while reading)."""

    @property
    def name(self) -> str:
        return self.mapping.stream

    def describe_key(self, key: str | None) -> str:
        """``person_id=42 in people`` (or ``a new row in people``), for messages."""
        if key is None:
            return f"a new row in {self.table.name}"
        return f"{self.key.name}={key} in {self.table.name}"


def _suggest(name: str, options: Sequence[str]) -> str:
    close = get_close_matches(name, list(options), n=1) \
        or [o for o in options if o.lower() == name.lower()][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _reflect(conn: Connection, name: str, key: str, tables: list[str]) -> sa.Table:
    if name not in tables:
        raise ConfigError(f"table '{name}' not found{_suggest(name, tables)}; tables: "
                          f"{', '.join(sorted(tables)) or 'none'}", key=key)
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def _column(table: sa.Table, name: str, key: str) -> sa.Column[Any]:
    if name in table.c:
        return table.c[name]
    same = [c for c in table.c if c.name.lower() == name.lower()]
    if len(same) == 1:
        return same[0]
    names = [c.name for c in table.c]
    raise ConfigError(f"column '{name}' not found in table {table.name}{_suggest(name, names)};"
                      f" columns: {', '.join(names)}", key=key)


def _is_sqlite_rowid_alias(conn: Connection, table: sa.Table, column: sa.Column[Any]) -> bool:
    """Whether ``column`` is SQLite's ``INTEGER PRIMARY KEY`` (an alias of the rowid, so the
    database numbers new rows)."""
    if list(table.primary_key.columns) != [column]:
        return False
    rows = conn.exec_driver_sql(
        "SELECT name, type FROM pragma_table_info(?)", (table.name,)).all()
    declared = {str(name): str(type_) for name, type_ in rows}
    ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (table.name,)).scalar() or ""
    without_rowid = "without rowid" in " ".join(str(ddl).lower().split())
    return declared.get(column.name, "").upper() == "INTEGER" and not without_rowid


def _key(conn: Connection, table: sa.Table, column: sa.Column[Any],
         mapped: bool) -> KeyColumn:
    kind = column_kind(column.type)
    rowid_alias = False
    if conn.dialect.name == "sqlite" and kind is ColumnKind.INTEGER:
        rowid_alias = _is_sqlite_rowid_alias(conn, table, column)
    if rowid_alias or column.server_default is not None or column.identity is not None \
            or column.autoincrement is True:
        generation = KeyGeneration.DATABASE
    elif mapped:
        generation = KeyGeneration.FIELD
    elif kind in (ColumnKind.TEXT, ColumnKind.UUID, ColumnKind.OTHER):
        generation = KeyGeneration.UUID
    else:
        generation = KeyGeneration.NONE
    sequence = None
    if conn.dialect.name == "postgresql" and generation is KeyGeneration.DATABASE \
            and not (column.identity is not None and column.identity.always):
        sequence = conn.execute(sa.select(sa.func.pg_get_serial_sequence(
            conn.dialect.identifier_preparer.quote(table.name), column.name))).scalar()
    unique, not_null = _key_proof(conn, table, column, rowid_alias)
    folds = _folds(conn, table, column)
    loose = conn.dialect.name == "sqlite" and isinstance(column.type, sa.types.NullType)
    return KeyColumn(column, kind, generation, rowid_alias, sequence, unique, not_null,
                     folds, loose)


def _folds(conn: Connection, table: sa.Table, column: sa.Column[Any]) -> bool:
    """Whether the database compares values of text column ``column`` without regard to
    case (see :attr:`KeyColumn.folds`): PostgreSQL ``citext``, or a MariaDB/MySQL collation
    ending in ``_ci`` (read from ``information_schema``: reflection names only collations
    that differ from the table's)."""
    if conn.dialect.name == "postgresql":
        return type(column.type).__name__.lower() == "citext" \
            or "citext" in str(column.type).lower()
    if conn.dialect.name not in ("mysql", "mariadb") \
            or column_kind(column.type) is not ColumnKind.TEXT:
        return False
    collation = conn.execute(sa.text(
        "SELECT collation_name FROM information_schema.columns WHERE table_schema = "
        "DATABASE() AND table_name = :table AND column_name = :column"),
        {"table": table.name, "column": column.name}).scalar()
    return str(collation or "").lower().endswith("_ci")


def _key_proof(conn: Connection, table: sa.Table, column: sa.Column[Any],
               rowid_alias: bool) -> tuple[bool, bool]:
    """Whether the schema proves ``column`` unique, and whether it proves it not NULL (see
    :class:`KeyColumn`). Read from the reflected table and its constraints and indexes,
    once per connector; a view proves neither."""
    if rowid_alias:
        return True, True
    primary = [c.name for c in table.primary_key.columns] == [column.name]
    # SQLite lets a primary key other than the rowid hold NULL unless it says NOT NULL
    not_null = not column.nullable or (primary and conn.dialect.name != "sqlite")
    if primary:
        return True, not_null
    inspector = sa.inspect(conn)
    try:
        found: list[list[str | None]] = [
            list(c["column_names"]) for c in inspector.get_unique_constraints(table.name)]
        found += [list(i["column_names"]) for i in inspector.get_indexes(table.name)
                  if i.get("unique")]
    except (NotImplementedError, sa.exc.NoSuchTableError):  # a view: no constraints to read
        found = []
    return [column.name] in found, not_null


def _fields(table: sa.Table, mapping: dict[str, str], specs: dict[str, FieldSpec],
            where: str) -> tuple[BoundField, ...]:
    bound = []
    for name, column_name in mapping.items():
        column = _column(table, column_name, f"{where}.{name}")
        spec = specs[name]
        bound.append(BoundField(name, spec, column, reader_for(spec.type),
                                writer_for(spec.type, column)))
    return tuple(bound)


def _bind_lines(conn: Connection, mapping: LinesMapping, where: str,
                tables: list[str], line_specs: dict[str, FieldSpec]) -> BoundLines:
    table = _reflect(conn, mapping.table, f"{where}.table", tables)
    key_column = _column(table, mapping.key, f"{where}.key")
    parent = _column(table, mapping.parent, f"{where}.parent")
    order = _column(table, mapping.order, f"{where}.order") if mapping.order else None
    fields = _fields(table, mapping.fields, line_specs, f"{where}.fields")
    key = _key(conn, table, key_column, any(f.column is key_column for f in fields))
    return BoundLines(mapping, table, key, parent, order, fields)


def bind_stream(conn: Connection, endpoint: str, mapping: StreamMapping,
                tables: list[str], views: Sequence[str] = ()) -> BoundStream:
    """Reflect the tables of ``mapping`` and check every configured column exists.

    ``tables`` lists the tables (and views) the database holds, ``views`` its views.

    Raises:
        ConfigError: a table or column is missing, naming the setting
            (``endpoints.crm.streams.contact.fields.email``), the missing name and what exists.
    """
    where = f"endpoints.{endpoint}.streams.{mapping.stream}"
    spec = ENTITY_TYPES[mapping.stream]
    table = _reflect(conn, mapping.table, f"{where}.table", tables)
    key_column = _column(table, mapping.key, f"{where}.key")
    fields = _fields(table, mapping.fields, dict(spec.fields), f"{where}.fields")
    key = _key(conn, table, key_column, any(f.column is key_column for f in fields))
    updated = _column(table, mapping.updated, f"{where}.updated") if mapping.updated else None
    lines = None
    if mapping.lines is not None:
        assert spec.line_fields is not None  # checked with the settings
        lines = _bind_lines(conn, mapping.lines, f"{where}.lines", tables,
                            dict(spec.line_fields))
    return BoundStream(mapping, table, key, fields, updated, lines, conn.dialect.name,
                       mapping.table in views)
