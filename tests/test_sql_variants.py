"""Tables with options for one database kind (:mod:`syncline.sql_variants`): SQLite's
``AUTOINCREMENT`` is there when the table is created on SQLite (an id is never reused after
the row holding the largest one is deleted); a MySQL variant renders the MySQL type on
MySQL and the generic one elsewhere; and importing the state store's schema and the SQL
connector's capture tables loads neither the SQLite nor the MySQL dialect package."""

from __future__ import annotations

import json
import subprocess
import sys

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.schema import CreateTable

from syncline.connectors.sql.capture import BATCHES, CHANGES
from syncline.sql_variants import MysqlVariant, sqlite_autoincrement
from syncline.state import schema


def test_tables_created_on_sqlite_never_reuse_an_id() -> None:
    engine = sa.create_engine("sqlite://")
    metadata = sa.MetaData()
    table = sqlite_autoincrement(sa.Table("t", metadata,
                                          sa.Column("id", sa.Integer, primary_key=True),
                                          sa.Column("v", sa.Text)))
    plain = sa.Table("p", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("v", sa.Text))
    metadata.create_all(engine)
    CHANGES.create(engine)
    schema.force_marks.create(engine)
    with engine.begin() as connection:
        created = {name: connection.exec_driver_sql(
            f"SELECT sql FROM sqlite_master WHERE name = '{name}'").scalar_one()
            for name in ("t", "p", "syncline_changes", "force_marks")}
        for each in (table, plain):
            connection.execute(sa.insert(each), [{"v": "one"}, {"v": "two"}])
            connection.execute(sa.delete(each).where(each.c.id == 2))
            connection.execute(sa.insert(each), [{"v": "three"}])
        ids = {each.name: sorted(connection.execute(sa.select(each.c.id)).scalars())
               for each in (table, plain)}
    assert "AUTOINCREMENT" not in created["p"]
    assert all("AUTOINCREMENT" in created[name] for name in ("t", "syncline_changes",
                                                             "force_marks")), created
    assert ids == {"t": [1, 3], "p": [1, 2]}


def test_a_mysql_variant_is_the_mysql_type_there_and_the_generic_one_elsewhere() -> None:
    column = sa.Table("x", sa.MetaData(), sa.Column(
        "body", MysqlVariant(sa.Text(), lambda dialect: dialect.LONGTEXT()), nullable=False))
    rendered = {dialect.name: str(CreateTable(column).compile(dialect=dialect))
                for dialect in (mysql.dialect(), postgresql.dialect(), sqlite.dialect())}
    assert "body LONGTEXT NOT NULL" in rendered["mysql"]
    assert "body TEXT NOT NULL" in rendered["postgresql"]
    assert "body TEXT NOT NULL" in rendered["sqlite"]
    batches = str(CreateTable(BATCHES).compile(dialect=mysql.dialect()))
    assert "applied_at DATETIME(6)" in batches and "results LONGTEXT" in batches
    changes = str(CreateTable(CHANGES).compile(dialect=mysql.dialect()))
    assert "record_key VARCHAR(768)" in changes
    on_postgres = str(CreateTable(CHANGES).compile(dialect=postgresql.dialect()))
    assert "record_key TEXT" in on_postgres and "TIMESTAMP WITH TIME ZONE" in on_postgres


def test_importing_the_tables_loads_no_sqlite_or_mysql_dialect() -> None:
    code = ("import json, sys, syncline.state.schema, syncline.connectors.sql.capture; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith("
            "'sqlalchemy.dialects.'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded = json.loads(done.stdout)
    assert not [name for name in loaded if name.startswith(
        ("sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.mysql"))], loaded
