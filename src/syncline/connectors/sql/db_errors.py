"""What a database's refusal of one row is about, for the error's cause (see
:class:`syncline.errors.ErrorCause`): the constraint or column concerned, and the problem in
words without the row's own values, so that every row refused for one reason groups as one.

PostgreSQL (psycopg) says it in the error's diagnostics; MariaDB/MySQL and SQLite only in the
message, which is read here:

* MariaDB ``Data too long for column 'phone' at row 1``, ``Duplicate entry 'x@y' for key
  'email'``, ``Column 'name' cannot be null``, ``CONSTRAINT `tel_ok` failed for ...``,
  ``... a foreign key constraint fails (..., CONSTRAINT `fk` ...)``;
* SQLite ``UNIQUE constraint failed: customers.email``, ``CHECK constraint failed: tel_ok``,
  ``NOT NULL constraint failed: customers.name``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["DatabaseCause", "database_cause"]

DatabaseCause = tuple[str | None, str]
"""``(constraint or column, problem)`` of a refused row."""

_MARIADB = (
    (re.compile(r"Data too long for column '(?P<field>[^']+)'"), "data too long"),
    (re.compile(r"Duplicate entry .* for key '(?P<field>[^']+)'"), "duplicate entry"),
    (re.compile(r"Column '(?P<field>[^']+)' cannot be null"), "cannot be null"),
    (re.compile(r"Incorrect \w+ value: .* for column [`']?(?:[^`']+\.)*(?P<field>[^`'.]+)[`']?"),
     "incorrect value"),
    (re.compile(r"Out of range value for column '(?P<field>[^']+)'"), "out of range value"),
    (re.compile(r"foreign key constraint fails .*CONSTRAINT `(?P<field>[^`]+)`"),
     "foreign key constraint fails"),
    (re.compile(r"CONSTRAINT `(?P<field>[^`]+)` failed"), "check constraint failed"),
)
_SQLITE = re.compile(r"^(?P<what>UNIQUE|CHECK|NOT NULL|FOREIGN KEY) constraint failed"
                     r"(?::\s*(?P<field>.+))?$")
_ROW = re.compile(r" at row \d+")


def _postgres(orig: Any) -> DatabaseCause | None:
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if not isinstance(primary, str):
        return None
    field = getattr(diag, "constraint_name", None) or getattr(diag, "column_name", None)
    return (field if isinstance(field, str) else None, primary)


def database_cause(orig: Any, complaint: str) -> DatabaseCause:
    """The cause of a row the database refused: ``orig`` is the driver's exception,
    ``complaint`` its message (secrets masked, on one line)."""
    found = _postgres(orig)
    if found is not None:
        return found
    text = complaint
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = args[1]  # MariaDB/MySQL: (code, message)
    for pattern, problem in _MARIADB:
        match = pattern.search(text)
        if match is not None:
            return match["field"], problem
    match = _SQLITE.match(text.strip())
    if match is not None:
        return match["field"], f"{match['what']} constraint failed"
    return None, _ROW.sub("", text)
