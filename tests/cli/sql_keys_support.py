"""Two SQL endpoints in one database (SQLite, PostgreSQL or MariaDB) linked as a user would
configure them, for the key scenarios of :mod:`.test_sql_keys`: the tables are created by the
test with plain SQL in the database's own dialect, and the "application" changes rows with
plain connections."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

__all__ = ["KEY_DDL", "SqlLink", "make_link"]

KEY_DDL: dict[str, dict[str, str]] = {
    "uuid": {
        "postgresql": "person_uuid uuid PRIMARY KEY DEFAULT gen_random_uuid()",
        "mysql": "person_uuid uuid PRIMARY KEY DEFAULT uuid()",
        "sqlite": "person_uuid TEXT PRIMARY KEY NOT NULL",
    },
    "identity": {
        "postgresql": "id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "mysql": "id integer AUTO_INCREMENT PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT",
    },
}
"""The key column of a test table, per key kind and dialect."""


@dataclass
class SqlLink:
    """The link ``lr`` between endpoints ``left`` (side a) and ``right`` (side b), whose
    contact streams are tables (or views) of the database at ``url``."""

    url: str
    config: Path
    dialect: str

    def args(self, *more: str) -> list[str]:
        """``more`` with ``--config`` added, for ``runner.invoke``."""
        return [*more, "--config", str(self.config)]

    def execute(self, *statements: str, **params: Any) -> None:
        """Run ``statements`` in one transaction, as the user's application would."""
        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as conn:
                for statement in statements:
                    conn.execute(sa.text(statement), params)
        finally:
            engine.dispose()

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(sa.text(query))]
        finally:
            engine.dispose()

    def people(self, table: str) -> list[tuple[Any, ...]]:
        """``(full_name, email)`` of every row of ``table``, by email."""
        return self.rows(f"SELECT full_name, email FROM {table} ORDER BY email")

    def mapped_keys(self) -> list[tuple[str, str]]:
        """The stored pairs ``(a key, b key)`` of the link, from the state store."""
        engine = sa.create_engine(f"sqlite:///{self.config.parent / 'state.db'}")
        try:
            with engine.connect() as conn:
                return [(str(a), str(b)) for a, b in conn.execute(sa.text(
                    "SELECT a_key, b_key FROM mappings ORDER BY a_key"))]
        finally:
            engine.dispose()


def make_link(folder: Path, url: str, *, left: tuple[str, str], right: tuple[str, str],
              direction: str = "both") -> SqlLink:
    """Write the configuration of link ``lr``: ``left`` and ``right`` are (table, key
    column); both map ``name`` to ``full_name`` and ``email`` to ``email``. Pairs match by
    email."""
    path = folder / "syncline.toml"
    path.write_text(f"""\
[state]
url = "sqlite:///state.db"

[endpoints.left]
connector = "sql"
url = "{url}"
[endpoints.left.streams.contact]
table = "{left[0]}"
key = "{left[1]}"
fields = {{ name = "full_name", email = "email" }}

[endpoints.right]
connector = "sql"
url = "{url}"
[endpoints.right.streams.contact]
table = "{right[0]}"
key = "{right[1]}"
fields = {{ name = "full_name", email = "email" }}

[links.lr]
a = "left"
b = "right"
streams = ["contact"]
direction = "{direction}"
conflict = "a-wins"
match = {{ contact = ["email"] }}
max_delete = "100%"
""", encoding="utf-8")
    return SqlLink(url, path, sa.make_url(url).get_backend_name())
