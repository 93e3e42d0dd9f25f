"""The sql connector's bulk-create lane (:mod:`syncline.connectors.sql.bulk_create`): same
rows, keys and batch log as the general write path, and a clean fallback wherever the lane
does not apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.sql_support import build_schema, contact_fields, open_connector
from syncline.connectors.base import CreatedRows, CreateRows
from syncline.connectors.sql import SqlConnector
from syncline.connectors.sql import bulk_create as bulk_module
from syncline.errors import ValidationFailed


@pytest.fixture
def opened(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    build_schema(url)
    connector = open_connector(url, tmp_path)
    yield connector
    connector.close()


def _rows(connector: SqlConnector) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(connector.settings["url"])
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(
                "SELECT person_id, full_name, email_address, phone, modified_at FROM people "
                "ORDER BY person_id")))
    finally:
        engine.dispose()


@pytest.mark.parametrize("count", [3, 500])  # below and above the JSON statement's minimum
def test_bulk_creates_land_in_order_with_their_keys(opened: SqlConnector, count: int) -> None:
    rows = [contact_fields(n) for n in range(count)]
    created = opened.write_creates(CreateRows.from_rows("bulk-1", "contact", rows))
    assert created.errors == {}
    stored = _rows(opened)
    assert [str(row[0]) for row in stored] == created.keys
    assert [(row[1], row[2], row[3]) for row in stored] == \
        [(r["name"], r["email"], r["phone"]) for r in rows]
    assert all(row[4] is not None for row in stored)  # the updated column is stamped
    found = opened.read_keys("contact", [str(key) for key in created.keys])
    assert [found[str(key)].fields["email"] for key in created.keys] == \
        [r["email"] for r in rows]


def test_a_batch_written_twice_is_applied_once(opened: SqlConnector) -> None:
    rows = [contact_fields(n) for n in range(100)]
    first = opened.write_creates(CreateRows.from_rows("bulk-again", "contact", rows))
    again = opened.write_creates(CreateRows.from_rows("bulk-again", "contact", rows))
    assert again.keys == first.keys
    assert len(_rows(opened)) == 100
    recovered = opened.recover(
        CreateRows.from_rows("bulk-again", "contact", rows).as_write_batch())
    assert recovered is not None and [r.key for r in recovered] == first.keys


def test_the_lane_is_not_taken_for_values_that_need_reporting(opened: SqlConnector,
                                                              monkeypatch: Any) -> None:
    # a phone that is not text goes through the converters; one that cannot convert sends
    # the batch down the general path, which names the failing record
    taken: list[CreatedRows | None] = []
    original = bulk_module.write_creates

    def spy(context: Any, batch: CreateRows) -> CreatedRows | None:
        result = original(context, batch)
        taken.append(result)
        return result

    monkeypatch.setattr(bulk_module, "write_creates", spy)
    rows = [contact_fields(n) for n in range(80)]
    rows[5]["phone"] = 447946000111
    created = opened.write_creates(CreateRows.from_rows("converted", "contact", rows))
    assert taken[-1] is not None and created.errors == {}
    assert _rows(opened)[5][3] == "447946000111"
    bad = [contact_fields(n) for n in range(100, 180)]
    bad[9]["email"] = bad[8]["email"]  # a unique column: the database refuses the batch
    outcome = opened.write_creates(CreateRows.from_rows("duplicate", "contact", bad))
    assert taken[-1] is None  # the lane stepped back with nothing written
    assert set(outcome.errors) == {9}
    assert isinstance(outcome.errors[9], ValidationFailed)
    assert outcome.keys[9] is None and all(k is not None for i, k in enumerate(outcome.keys)
                                           if i != 9)


def test_create_rows_hold_rows_column_by_column() -> None:
    rows: list[dict[str, Any]] = [contact_fields(n) for n in range(5)]
    batch = CreateRows.from_rows("columns", "contact", rows)
    assert len(batch) == 5 and batch.names == tuple(rows[0]) and batch.rows == rows
    operations = batch.as_write_batch().operations
    assert [operation.token for operation in operations] == [f"columns-{n}" for n in range(5)]
    assert [operation.fields for operation in operations] == rows


def test_create_rows_refuse_rows_with_different_fields() -> None:
    rows: list[dict[str, Any]] = [contact_fields(n) for n in range(4)]
    rows[2] = {**rows[2], "notes": None}
    rows[2].pop("phone")  # as many fields as the others, not the same ones
    with pytest.raises(ValueError, match="create batch mixed do not all have the same fields"):
        CreateRows.from_rows("mixed", "contact", rows)
    del rows[2]["notes"]
    with pytest.raises(ValueError, match="same fields"):
        CreateRows.from_rows("mixed", "contact", rows)
