"""Key columns of the ``sql`` connector, run against each database (see
:mod:`connectors.sql_cases` for how a database module uses these classes): native uuid keys
bound in their own type, key columns checked at open and at setup, and rows with duplicate
or NULL keys in a view or an unconstrained table left out as item errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.sql_support import batch, create_op, delete_op, read_changes, update_op
from syncline.connectors.base import ReadScope
from syncline.connectors.sql import SqlConnector
from syncline.errors import ConfigError, MalformedRecord

UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _settings(url: str, table: str, key: str, page_size: int = 100) -> dict[str, Any]:
    return {"url": url, "page_size": page_size, "streams": {"contact": {
        "table": table, "key": key, "fields": {"name": "full_name"}}}}


class SqlKeys:
    """Key columns beyond the contract's integer and text keys."""

    @pytest.fixture
    def app(self, database_url: str) -> Iterator[sa.Engine]:
        """A plain engine, as the user's application has."""
        engine = sa.create_engine(database_url)
        yield engine
        engine.dispose()

    def _run(self, app: sa.Engine, *statements: str) -> None:
        with app.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)

    def _names(self, connector: SqlConnector) -> list[tuple[str, Any]]:
        return [(record.key, record.fields["name"])
                for page in connector.read_all("contact", ReadScope()) for record in page]

    def test_a_key_column_with_duplicates_is_refused_until_fixed(
            self, app: sa.Engine, database_url: str, tmp_path: Path) -> None:
        self._run(app, "CREATE TABLE loose (code varchar(20), full_name varchar(200))",
                  "INSERT INTO loose VALUES ('A-1', 'Ada'), ('A-1', 'Alan'), (NULL, 'Nobody')")
        connector = SqlConnector("crm", _settings(database_url, "loose", "code"), tmp_path)
        with pytest.raises(ConfigError) as caught:
            connector.open()
        assert caught.value.key == "endpoints.crm.streams.contact.key"
        assert "loose.code is not unique ('A-1' is the key of 2 rows)" in str(caught.value)
        assert "loose.code is NULL in 1 row" in str(caught.value)

        self._run(app, "UPDATE loose SET code = 'B-2' WHERE full_name = 'Alan'",
                  "UPDATE loose SET code = 'C-3' WHERE full_name = 'Nobody'")
        connector.open()
        try:
            assert connector.setup(["contact"])  # checked again, then change capture
            cursor = connector.current_cursor("contact")
            assert cursor is not None
            # with change capture a run no longer scans the table: a new duplicate is met
            # when its rows are read, and only that key is left out
            self._run(app, "INSERT INTO loose VALUES ('A-1', 'Ada again'), ('D-4', 'Dora')")
            connector.open()  # no ConfigError: the table is captured
            changes, _ = read_changes(connector, "contact", cursor)
            assert [(c.key, c.record is not None) for c in changes] == [("D-4", True)]
            [error] = connector.take_item_errors("contact")
            assert isinstance(error, MalformedRecord) and error.key == "A-1"
            assert "code=A-1 in loose: 2 rows have this key" in str(error)
            with pytest.raises(ConfigError, match="'A-1' is the key of 2 rows"):
                connector.setup(["contact"])
        finally:
            connector.close()

    def test_a_view_leaves_out_duplicate_and_null_keys_across_pages(
            self, app: sa.Engine, database_url: str, tmp_path: Path) -> None:
        self._run(app, "CREATE TABLE source (id integer PRIMARY KEY, code varchar(20), "
                       "full_name varchar(200))",
                  "INSERT INTO source VALUES (1, 'A', 'a'), (2, 'B', 'b1'), (3, 'B', 'b2'), "
                  "(4, NULL, 'none'), (5, 'C', 'c'), (6, NULL, 'none again'), (7, 'D', 'd')",
                  "CREATE VIEW source_view AS SELECT code, full_name FROM source")
        # two rows a page: the page "A", "B" ends inside the run of "B" rows
        connector = SqlConnector("crm", _settings(database_url, "source_view", "code", 2),
                                 tmp_path)
        connector.open()
        try:
            assert self._names(connector) == [("A", "a"), ("C", "c"), ("D", "d")]
            errors = connector.take_item_errors("contact")
            # MariaDB's default collation compares text without regard to case
            folds = "; the database compares its keys without regard to case" \
                if database_url.startswith("mysql") else ""
            assert sorted(str(error) for error in errors) == [
                "2 rows in source_view have no key (source_view.code is NULL): left out, and "
                "deletions read from source_view are held until they have a key or are "
                "deleted",
                f"code=B in source_view: 2 rows have this key (source_view.code is not "
                f"unique{folds}): none of them is synced until the key is unique"]
            assert sorted(str(e.key) for e in errors) == ["B", "None"]  # the key B, or none
            assert set(connector.read_keys("contact", ["B", "C"])) == {"C"}
            # reading by key counts the rows without a key too (a key not found may be one)
            assert sorted(str(error.key) for error in connector.take_item_errors("contact")) \
                == ["B", "None"]
            lines = connector.setup(["contact"])
            assert any("view source_view: no change capture" in line and "not unique" in line
                       for line in lines), lines
        finally:
            connector.close()


class SqlUuidKeys(SqlKeys):
    """:class:`SqlKeys` plus native ``uuid`` key columns, for databases that have the type
    (SQLite has none); ``uuid_default`` is the database's function making one."""

    uuid_default = ""

    def test_uuid_keys_are_bound_as_uuids(self, app: sa.Engine, database_url: str,
                                          tmp_path: Path) -> None:
        self._run(app, f"CREATE TABLE persons (person_uuid uuid PRIMARY KEY DEFAULT "
                       f"{self.uuid_default},"
                       f" full_name varchar(200))")
        connector = SqlConnector("crm", _settings(database_url, "persons", "person_uuid"),
                                 tmp_path)
        connector.open()
        try:
            (created,) = connector.write(batch("contact", create_op({"name": "Ada"})))
            assert created.ok and created.key is not None
            assert UUID_TEXT.match(created.key)  # the server's key, read back, canonical
            other = created.key.upper().replace("-", "")  # the same uuid written otherwise
            assert list(connector.read_keys("contact", [other, "not-a-uuid"])) == [created.key]
            updated, wrong = connector.write(batch(
                "contact", update_op(other, {"name": "Ada King"}),
                update_op("not-a-uuid", {"name": "x"})))
            assert updated.ok, updated.error
            assert wrong.error is not None
            assert "no row with person_uuid=not-a-uuid in persons" in str(wrong.error)
            assert self._names(connector) == [(created.key, "Ada King")]
            (deleted,) = connector.write(batch("contact", delete_op(created.key)))
            assert deleted.ok, deleted.error
            assert self._names(connector) == []
        finally:
            connector.close()
