"""Table definitions with options for one database kind, without loading that kind's
SQLAlchemy dialect when the module defining the table is imported.

``Table(..., sqlite_autoincrement=True)`` and ``Text().with_variant(mysql.LONGTEXT(),
"mysql")`` load the SQLite or MySQL dialect package at import (some 30 ms each), in every
process, also one that only ever talks to PostgreSQL. Here the option is applied when it is
needed instead:

:func:`sqlite_autoincrement`
    ``AUTOINCREMENT`` (ids never reused) set on the table when it is created on SQLite.
:class:`MysqlVariant`
    a column type that is its generic type everywhere but on MySQL and MariaDB, where it is
    the MySQL type a factory makes (called with the dialect module, loaded by then).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["MysqlVariant", "sqlite_autoincrement"]


def sqlite_autoincrement(table: Table) -> Table:
    """``table``, created on SQLite with ``AUTOINCREMENT`` (as ``sqlite_autoincrement=True``
    would, see the module docstring)."""

    def before_create(target: Table, connection: Any, **_: Any) -> None:
        if connection.dialect.name == "sqlite":
            target.dialect_options["sqlite"]["autoincrement"] = True

    event.listen(table, "before_create", before_create)
    return table


class MysqlVariant(TypeDecorator[Any]):
    """``generic`` everywhere but on MySQL and MariaDB, where it is ``on_mysql(module)``
    with ``module`` :mod:`sqlalchemy.dialects.mysql` (see the module docstring)."""

    impl = TypeEngine
    cache_ok = True

    def __init__(self, generic: TypeEngine[Any],
                 on_mysql: Callable[[ModuleType], TypeEngine[Any]]) -> None:
        super().__init__()
        self.impl = generic  # type: ignore[assignment]
        self.generic = generic  # attributes named as the arguments: the type's cache key
        self.on_mysql = on_mysql

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """The type on ``dialect``."""
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            return self.on_mysql(mysql)
        return self.generic  # as it is: its DDL is its own (TEXT, not an adapted VARCHAR)
