"""Change capture: the bookkeeping tables and the triggers that fill them, per dialect.

Terms:

change log
    The table ``syncline_changes``: one row per insert, update or delete of a mapped row,
    written by triggers. ``seq`` (autoincrement) orders the rows; ``table_name`` and
    ``record_key`` name the record (a change to a document line is logged as a change of its
    document: the parent table and the parent key); ``action`` is ``A``, ``M`` or ``D``;
    ``changed_at`` the database's UTC clock.
batch log
    The table ``syncline_batches``: one row per write batch, written in the batch's own
    transaction, holding the per-operation results as JSON. A batch id found there was applied.
echo suppression
    syncline's own writes are kept out of the change log: in SQLite by the one-row table
    ``syncline_control`` (``suppress`` is 1 only inside syncline's write transaction, and
    SQLite lets one writer in at a time), in PostgreSQL by the transaction-local setting
    ``syncline.suppress``, in MariaDB by the session variable ``@syncline_suppress``.

Raw SQL appears here only for triggers (and the catalog queries that find them); the tables
are SQLAlchemy Core.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncline.sql_variants import MysqlVariant, sqlite_autoincrement

__all__ = [
    "BATCHES",
    "CHANGES",
    "CONTROL",
    "CaptureTarget",
    "captured_tables",
    "install_capture",
    "set_suppression",
]

_METADATA = sa.MetaData()
_UTC_TIMESTAMP = MysqlVariant(sa.DateTime(timezone=True), lambda mysql: mysql.DATETIME(fsp=6))

CHANGES = sqlite_autoincrement(sa.Table(
    "syncline_changes", _METADATA,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("table_name", sa.String(128), nullable=False),
    sa.Column("record_key", MysqlVariant(sa.Text(), lambda mysql: mysql.VARCHAR(768)),
              nullable=False),
    sa.Column("action", sa.CHAR(1), nullable=False),
    sa.Column("changed_at", _UTC_TIMESTAMP, nullable=False),
    sa.Index("ix_syncline_changes_table_seq", "table_name", "seq"),
))

BATCHES = sa.Table(
    "syncline_batches", _METADATA,
    sa.Column("batch_id", sa.String(200), primary_key=True),
    sa.Column("applied_at", _UTC_TIMESTAMP, nullable=False),
    sa.Column("results", MysqlVariant(sa.Text(), lambda mysql: mysql.LONGTEXT()),
              nullable=False),
    sa.Index("ix_syncline_batches_applied_at", "applied_at"),
)

CONTROL = sa.Table(
    "syncline_control", _METADATA,
    sa.Column("suppress", sa.Integer, nullable=False),
)

_ACTIONS = ("ins", "upd", "del")


@dataclass(frozen=True, slots=True)
class CaptureTarget:
    """A table whose changes are logged: ``key_column``'s value is logged under
    ``logged_table``. For a stream's own table those are its key and its name; for a lines
    table they are the parent column and the document table (``line`` is then true, and
    every change is logged as ``M``)."""

    table: str
    key_column: str
    logged_table: str
    line: bool = False


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _trigger_name(table: str, suffix: str) -> str:
    name = f"syncline_{table}_{suffix}"
    if len(name) <= 60 and name.replace("_", "").isalnum() and name.isascii():
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:12]
    return f"syncline_{digest}_{suffix}"


# -- SQLite ----------------------------------------------------------------------------------
def _sqlite_ddl(conn: Connection, target: CaptureTarget) -> list[str]:
    quote = conn.dialect.identifier_preparer.quote
    table, key, logged = quote(target.table), quote(target.key_column), _literal(
        target.logged_table)
    when = "WHEN (SELECT suppress FROM syncline_control) = 0"
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"

    def log(row: str, action: str, condition: str = "") -> str:
        where = f" WHERE {row}.{key} IS NOT NULL{condition}"
        return (f"INSERT INTO syncline_changes (table_name, record_key, action, changed_at) "
                f"SELECT {logged}, CAST({row}.{key} AS TEXT), '{action}', {now}{where};")

    created, deleted = ("M", "M") if target.line else ("A", "D")
    bodies = {
        "ins": log("NEW", created),
        "upd": log("NEW", "M") + " " + log("OLD", deleted, f" AND OLD.{key} IS NOT NEW.{key}"),
        "del": log("OLD", deleted),
    }
    events = {"ins": "INSERT", "upd": "UPDATE", "del": "DELETE"}
    statements = []
    for suffix in _ACTIONS:
        name = quote(_trigger_name(target.table, suffix))
        statements.append(f"DROP TRIGGER IF EXISTS {name}")
        statements.append(f"CREATE TRIGGER {name} AFTER {events[suffix]} ON {table} "
                          f"FOR EACH ROW {when} BEGIN {bodies[suffix]} END")
    return statements


# -- PostgreSQL ------------------------------------------------------------------------------
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION syncline_capture() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    key_column text := TG_ARGV[0];
    logged_table text := TG_ARGV[1];
    is_line boolean := TG_NARGS > 2;
    old_key text;
    new_key text;
BEGIN
    IF current_setting('syncline.suppress', true) IS NOT DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_key := to_jsonb(OLD) ->> key_column;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_key := to_jsonb(NEW) ->> key_column;
    END IF;
    IF new_key IS NOT NULL THEN
        INSERT INTO syncline_changes (table_name, record_key, action, changed_at)
        VALUES (logged_table, new_key,
                CASE WHEN TG_OP = 'INSERT' AND NOT is_line THEN 'A' ELSE 'M' END,
                clock_timestamp());
    END IF;
    IF old_key IS NOT NULL AND old_key IS DISTINCT FROM new_key THEN
        INSERT INTO syncline_changes (table_name, record_key, action, changed_at)
        VALUES (logged_table, old_key, CASE WHEN is_line THEN 'M' ELSE 'D' END,
                clock_timestamp());
    END IF;
    RETURN NULL;
END
$body$
"""


def _postgres_ddl(conn: Connection, target: CaptureTarget) -> list[str]:
    quote = conn.dialect.identifier_preparer.quote
    arguments = [_literal(target.key_column), _literal(target.logged_table)]
    if target.line:
        arguments.append("'line'")
    return [
        f"DROP TRIGGER IF EXISTS syncline_capture ON {quote(target.table)}",
        f"CREATE TRIGGER syncline_capture AFTER INSERT OR UPDATE OR DELETE ON "
        f"{quote(target.table)} FOR EACH ROW EXECUTE FUNCTION "
        f"syncline_capture({', '.join(arguments)})",
    ]


# -- MariaDB / MySQL -------------------------------------------------------------------------
def _mariadb_ddl(conn: Connection, target: CaptureTarget) -> list[str]:
    quote = conn.dialect.identifier_preparer.quote
    table, key, logged = quote(target.table), quote(target.key_column), _literal(
        target.logged_table)

    def log(row: str, action: str, condition: str = "") -> str:
        return (f"IF {row}.{key} IS NOT NULL{condition} THEN "
                f"INSERT INTO syncline_changes (table_name, record_key, action, changed_at) "
                f"VALUES ({logged}, CAST({row}.{key} AS CHAR), '{action}', UTC_TIMESTAMP(6)); "
                f"END IF;")

    created, deleted = ("M", "M") if target.line else ("A", "D")
    bodies = {
        "ins": log("NEW", created),
        "upd": log("NEW", "M") + " " + log("OLD", deleted, f" AND NOT (OLD.{key} <=> NEW.{key})"),
        "del": log("OLD", deleted),
    }
    events = {"ins": "INSERT", "upd": "UPDATE", "del": "DELETE"}
    statements = []
    for suffix in _ACTIONS:
        name = quote(_trigger_name(target.table, suffix))
        statements.append(f"DROP TRIGGER IF EXISTS {name}")
        statements.append(
            f"CREATE TRIGGER {name} AFTER {events[suffix]} ON {table} FOR EACH ROW "
            f"BEGIN IF @syncline_suppress IS NULL THEN {bodies[suffix]} END IF; END")
    return statements


def install_capture(conn: Connection, targets: Iterable[CaptureTarget]) -> list[str]:
    """Create the bookkeeping tables (where missing) and (re)install the capture triggers on
    every target table. Safe to run again. Returns one line per thing done.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused (for example: no privilege to create
            triggers).
    """
    done: list[str] = []
    dialect = conn.dialect.name
    inspector = sa.inspect(conn)
    tables = [CHANGES, BATCHES] + ([CONTROL] if dialect == "sqlite" else [])
    for table in tables:
        if inspector.has_table(table.name):
            done.append(f"table {table.name} already present")
        else:
            table.create(conn)
            done.append(f"created table {table.name}")
    if dialect == "sqlite" and conn.execute(sa.select(sa.func.count()).select_from(CONTROL)) \
            .scalar_one() == 0:
        conn.execute(sa.insert(CONTROL).values(suppress=0))
    if dialect == "postgresql":
        conn.exec_driver_sql(_PG_FUNCTION)
        done.append("installed function syncline_capture()")
    ddl = {"sqlite": _sqlite_ddl, "postgresql": _postgres_ddl}.get(dialect, _mariadb_ddl)
    for target in targets:
        for statement in ddl(conn, target):
            conn.exec_driver_sql(statement)
        what = f"changes of its lines under {target.logged_table}" if target.line \
            else "inserts, updates and deletes"
        done.append(f"installed change capture triggers on {target.table} ({what})")
    return done


def captured_tables(conn: Connection) -> set[str]:
    """The tables that carry syncline's capture triggers (empty when the change log is
    missing)."""
    dialect = conn.dialect.name
    if not sa.inspect(conn).has_table(CHANGES.name):
        return set()
    if dialect == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' "
            "AND name LIKE 'syncline_%'").all()
    elif dialect == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = 'syncline_capture' AND NOT t.tgisinternal "
            "AND pg_catalog.pg_table_is_visible(c.oid)").all()
        return {str(table) for table, _ in rows}
    else:
        rows = conn.exec_driver_sql(
            "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'syncline%%'").all()
    names: dict[str, set[str]] = {}
    for table, name in rows:
        names.setdefault(str(table), set()).add(str(name))
    return {table for table, found in names.items()
            if {_trigger_name(table, suffix) for suffix in _ACTIONS} <= found}


def set_suppression(conn: Connection, on: bool, *, control_table: bool = True) -> None:
    """Switch echo suppression on or off for ``conn`` (see the module docstring).

    In SQLite this writes ``syncline_control`` (inside the caller's transaction; skipped when
    ``control_table`` is false because change capture was never set up); in PostgreSQL the
    setting lasts until the transaction ends; in MariaDB the caller must switch it off again
    after the transaction, whatever happened.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        if control_table:
            conn.execute(sa.update(CONTROL).values(suppress=1 if on else 0))
    elif dialect == "postgresql":
        conn.execute(sa.select(sa.func.set_config("syncline.suppress", "on" if on else "off",
                                                  True)))
    else:
        conn.exec_driver_sql("SET @syncline_suppress = 1" if on else
                             "SET @syncline_suppress = NULL")
