"""Bulk inserts through one JSON parameter (:mod:`syncline.sqlite_bulk`) store exactly what
``executemany`` stores, in order, and step aside for values JSON cannot carry."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.sqlite_bulk import (
    JSON_INSERT_MIN_ROWS,
    insert_rows,
    json_insert,
    json_insert_columns,
)


def _both(rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The table contents after inserting ``rows`` with :func:`insert_rows` and with plain
    ``executemany``, each with its type names."""
    found = []
    for use_json in (True, False):
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE t (a, b TEXT, c BLOB, d INTEGER)")
        if use_json:
            insert_rows(conn.cursor(), "t", ["a", "b", "c", "d"], rows)
        else:
            conn.executemany("INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)", rows)
        found.append(conn.execute(
            "SELECT a, typeof(a), b, typeof(b), c, typeof(c), d, typeof(d) FROM t "
            "ORDER BY rowid").fetchall())
        conn.close()
    return found[0], found[1]


values = st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1),
                   st.text(), st.binary(max_size=20))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(values, values, values, values), min_size=JSON_INSERT_MIN_ROWS,
                max_size=JSON_INSERT_MIN_ROWS + 40))
def test_json_inserts_store_what_executemany_stores(rows: list[tuple[Any, ...]]) -> None:
    with_json, plain = _both(rows)
    assert with_json == plain


def test_bytes_of_one_length_travel_as_one_blob() -> None:
    rows = [(n, str(n), bytes([n % 256]) * 12, None) for n in range(200)]
    statement = json_insert("t", ["a", "b", "c", "d"], rows)
    assert statement is not None and "json_each.key * 12" in statement[0]
    with_json, plain = _both(rows)
    assert with_json == plain


def test_one_bytes_column_given_twice_travels_once() -> None:
    digests = [bytes([n % 256]) * 12 for n in range(100)]
    numbers = list(range(100))
    statement = json_insert_columns("t", ["a", "b", "c", "d"],
                                    [digests, numbers, digests, numbers])
    assert statement is not None
    assert [type(parameter) for parameter in statement[1]].count(bytes) == 1
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b TEXT, c BLOB, d INTEGER)")
    conn.execute(*statement)
    assert conn.execute("SELECT a, c, d FROM t ORDER BY rowid").fetchall() == [
        (digest, digest, number) for digest, number in zip(digests, numbers, strict=True)]


@pytest.mark.parametrize("odd", [1.5, "nul\x00inside", True, b""])
def test_values_json_cannot_carry_fall_back_to_executemany(odd: Any) -> None:
    rows: list[tuple[Any, ...]] = [(n, "x", None, n) for n in range(100)]
    rows[50] = (odd, "x", None, 1)
    assert json_insert("t", ["a", "b", "c", "d"], rows) is None
    with_json, plain = _both(rows)
    assert with_json == plain


def test_small_batches_use_executemany() -> None:
    rows = [(n, "x", None, n) for n in range(JSON_INSERT_MIN_ROWS - 1)]
    assert json_insert("t", ["a", "b", "c", "d"], rows) is None


def test_repeated_and_empty_columns_stay_out_of_the_json() -> None:
    rows = [(7, "same", None, n) for n in range(300)]
    statement = json_insert("t", ["a", "b", "c", "d"], rows)
    assert statement is not None
    sql, parameters = statement
    assert "NULL" in sql and "?2" in sql and "?3" in sql and "value->>" not in sql
    assert parameters[1:] == (7, "same")  # the JSON holds only column d, as a flat array
    assert parameters[0] == "[" + ",".join(map(str, range(300))) + "]"
    with_json, plain = _both(rows)
    assert with_json == plain


@pytest.mark.parametrize("start", [1, -70, 999_999_999_990, 0])
def test_consecutive_numbers_as_text_stay_out_of_the_json(start: int) -> None:
    rows = [(str(n), str(n * 3), None, n) for n in range(start, start + 150)]
    statement = json_insert("t", ["a", "b", "c", "d"], rows)
    assert statement is not None
    assert f"CAST(json_each.key + {start} AS TEXT)" in statement[0]
    assert statement[1][0].startswith(f'[["{start * 3}",{start}],')  # only b and d in it
    with_json, plain = _both(rows)
    assert with_json == plain


@pytest.mark.parametrize("almost", [["007", "008"], ["1", "3"], ["+1", "+2"], ["1 ", "2 "],
                                    ["1", None], ["9" * 19, "1" + "0" * 19]])
def test_texts_that_only_look_consecutive_travel_in_the_json(almost: list[Any]) -> None:
    rows: list[tuple[Any, ...]] = [(str(n), "x", None, n) for n in range(100)]
    rows[:2] = [(almost[0], "x", None, 0), (almost[1], "x", None, 1)]
    statement = json_insert("t", ["a", "b", "c", "d"], rows)
    assert statement is not None and "CAST(json_each.key" not in statement[0]
    with_json, plain = _both(rows)
    assert with_json == plain


column_shapes = st.sampled_from(["varied", "repeated", "empty", "counting"])


@settings(max_examples=60, deadline=None)
@given(st.tuples(column_shapes, column_shapes, column_shapes, column_shapes),
       st.lists(st.tuples(values, values, values, values), min_size=JSON_INSERT_MIN_ROWS,
                max_size=JSON_INSERT_MIN_ROWS + 40))
def test_every_mix_of_column_shapes_stores_what_executemany_stores(
        shapes: tuple[str, str, str, str], rows: list[tuple[Any, ...]]) -> None:
    first = rows[0]
    shaped = [tuple(value if shape == "varied" else first[index] if shape == "repeated"
                    else str(number + 5) if shape == "counting" else None
                    for index, (shape, value) in enumerate(zip(shapes, row, strict=True)))
              for number, row in enumerate(rows)]
    with_json, plain = _both(shaped)
    assert with_json == plain


def test_rows_of_a_large_batch_keep_their_order() -> None:
    rows = [(f"k{(n * 7919) % 50_000}", str(n), None, n) for n in range(50_000)]
    with_json, plain = _both(rows)
    assert with_json == plain
