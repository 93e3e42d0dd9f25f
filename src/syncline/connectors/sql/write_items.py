"""Making a batch's operations ready for the database (see
:mod:`~syncline.connectors.sql.writing`): each operation's values converted for their
columns, its lines turned into rows, its key in the key column's own type; an operation
that cannot be made ready gets its failed result at once, naming the field and the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from syncline.connectors.base import WriteKind, WriteOperation, WriteResult
from syncline.connectors.sql.binding import BoundStream, KeyGeneration
from syncline.errors import ItemError, ValidationFailed

__all__ = ["PreparedItem", "failed_result", "line_rows", "missing_result", "prepare"]


@dataclass(slots=True)
class PreparedItem:
    """One write operation made ready for the database: its position in the batch, the
    operation, its column values converted for the columns, its lines as rows of the lines
    table, and its key in the key column's own type (``native``)."""

    index: int
    op: WriteOperation
    values: dict[str, Any] = field(default_factory=dict)
    lines: list[dict[str, Any]] | None = None
    native: Any = None


def failed_result(bound: BoundStream, op: WriteOperation, message: str,
                  kind: type[ItemError] = ValidationFailed, *, field: str | None = None,
                  value: str | None = None) -> WriteResult:
    """The failed result of ``op``: a ``kind`` error naming the record, with ``message`` and
    the cause's field and value."""
    return WriteResult(op.token, op.key, error=kind(f"{bound.describe_key(op.key)}: {message}",
                                                    stream=bound.name, key=op.key,
                                                    field=field, value=value))


def missing_result(bound: BoundStream, op: WriteOperation) -> WriteResult:
    """The failed result of an update or delete whose row is not in the table."""
    return WriteResult(op.token, op.key, error=ItemError(
        f"no row with {bound.key.name}={op.key} in {bound.table.name}", stream=bound.name,
        key=op.key))


def line_rows(bound: BoundStream, value: Any) -> list[dict[str, Any]]:
    """A document's ``lines`` value as rows of the lines table (columns converted, the order
    column numbered from 1, uuid line keys made here).

    Raises:
        TypeError: ``value`` is not a list of sets of fields.
        ValueError: a line's field cannot be converted (naming the line, field and column).
    """
    lines = bound.lines
    assert lines is not None
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise TypeError(f"lines must be a list, not {type(value).__name__}")
    rows = []
    for number, line in enumerate(value, start=1):
        if not isinstance(line, dict):
            raise TypeError(f"line {number} is not a set of fields")
        row: dict[str, Any] = {}
        for spec in lines.fields:
            try:
                row[spec.column.name] = spec.write(line.get(spec.name))
            except (ValueError, TypeError, ArithmeticError) as error:
                raise ValueError(f"line {number} field {spec.name} "
                                 f"({lines.table.name}.{spec.column.name}): {error}") from None
        if lines.order is not None:
            row[lines.order.name] = number
        if lines.key.generation is KeyGeneration.UUID:
            row[lines.key.name] = lines.key.new_key()
        rows.append(row)
    return rows


def _field_error(bound: BoundStream, op: WriteOperation, given: dict[str, Any]) -> WriteResult:
    """The result naming the first field of ``op`` that cannot be converted."""
    for spec in bound.fields:
        if spec.name in given:
            try:
                spec.write(given[spec.name])
            except (ValueError, TypeError, ArithmeticError) as error:
                problem, shown = str(error), repr(given[spec.name])
                return failed_result(bound, op, f"field {spec.name} ({bound.table.name}."
                                          f"{spec.column.name}): {error}", field=spec.name,
                               value=problem.removeprefix(shown).strip() or problem)
    raise AssertionError("no field fails to convert")  # pragma: no cover


def prepare(bound: BoundStream, operations: Sequence[WriteOperation]) \
        -> tuple[list[PreparedItem], dict[int, WriteResult]]:
    """The items to apply, and the results of operations that failed already (a value that
    cannot be converted, a key the table cannot hold) by index. Written for speed: this runs
    once per operation of every batch."""
    writers = [(spec.name, spec.column.name, spec.write) for spec in bound.fields]
    native = bound.key.native
    lines = bound.lines
    items: list[PreparedItem] = []
    failed: dict[int, WriteResult] = {}
    create, delete = WriteKind.CREATE, WriteKind.DELETE
    for index, op in enumerate(operations):
        item = PreparedItem(index, op)
        kind = op.kind
        if kind is not create:
            try:
                item.native = native(op.key or "")
            except ValueError:
                failed[index] = missing_result(bound, op)
                continue
            if kind is delete:
                items.append(item)
                continue
        given = op.fields or {}
        try:
            item.values = {column: write(given[name]) for name, column, write in writers
                           if name in given}
        except (ValueError, TypeError, ArithmeticError):
            failed[index] = _field_error(bound, op, given)
            continue
        if lines is not None and "lines" in given:
            try:
                item.lines = line_rows(bound, given["lines"])
            except (ValueError, TypeError) as error:
                failed[index] = failed_result(bound, op, str(error))
                continue
        items.append(item)
    return items, failed
