"""Rows looked up by a list of keys (:func:`syncline.connectors.sql.reading.column_among`):
on PostgreSQL one ``= ANY`` array of the column's own type finds exactly the rows an
``IN (…)`` list finds, for integer, text, ``citext`` (case-insensitive, as the column
compares), ``uuid`` keys and a text key with a collation of its own (which keeps the ``IN``
list); NULLs, unicode and keys absent from the table included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from syncline.connectors.sql.reading import column_among

pytestmark = pytest.mark.postgres

UUIDS = [uuid.UUID(int=number) for number in range(1, 6)]
TEXTS = ["plain", "Ünïcødé ✓", "Mixed Case", "quote'\"", "comma,semi;"]


@pytest.fixture
def table(postgres_url: str) -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS citext")
        connection.exec_driver_sql(
            'CREATE TABLE keyed (n bigint, t text, ci citext, u uuid, c text COLLATE "C")')
        connection.exec_driver_sql(
            "INSERT INTO keyed VALUES " + ", ".join(
                f"({number}, %s, %s, %s, %s)" for number in range(1, 6)),
            tuple(value for number in range(5) for value in (
                TEXTS[number], TEXTS[number], UUIDS[number], TEXTS[number])))
        connection.exec_driver_sql("INSERT INTO keyed VALUES (NULL, NULL, NULL, NULL, NULL)")
    reflected = sa.Table("keyed", sa.MetaData(), autoload_with=engine)
    yield engine, reflected
    engine.dispose()


def _found(engine: sa.Engine, table: sa.Table, column: str, values: list[Any],
           dialect: str) -> list[Any]:
    with engine.connect() as connection:
        query = sa.select(table.c[column]).where(
            column_among(table.c[column], values, dialect))
        return sorted(map(str, connection.execute(query).scalars()))


@pytest.mark.parametrize(("column", "values"), [
    ("n", [1, 3, 5, 99, -1]),
    ("t", ["plain", "Ünïcødé ✓", "mixed case", "quote'\"", "absent"]),
    ("ci", ["PLAIN", "mixed case", "comma,semi;", "absent"]),
    ("u", [UUIDS[0], UUIDS[4], uuid.UUID(int=77)]),
    ("c", ["plain", "Mixed Case", "absent"]),
])
def test_an_array_finds_what_an_in_list_finds(table: tuple[sa.Engine, sa.Table], column: str,
                                              values: list[Any]) -> None:
    engine, keyed = table
    by_array = _found(engine, keyed, column, values, "postgresql")
    by_list = _found(engine, keyed, column, values, "")
    assert by_array == by_list
    assert by_array  # every case finds some rows


def test_the_array_is_one_parameter_where_the_column_compares_alike(
        table: tuple[sa.Engine, sa.Table]) -> None:
    _, keyed = table
    for column in ("n", "t", "ci", "u"):
        rendered = str(column_among(keyed.c[column], [1], "postgresql").compile(
            dialect=postgresql.dialect()))
        assert "ANY" in rendered, rendered
    collated = str(column_among(keyed.c.c, ["a"], "postgresql").compile(
        dialect=postgresql.dialect()))
    assert "IN" in collated and "ANY" not in collated
