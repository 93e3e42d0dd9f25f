"""The journal's row and the pending item, as typed values built in one place each.

Terms:

journal row
    One row per record a run touched (see :data:`syncline.state.schema.journal`): the run,
    the scope (one stream of one link), the record's key on each side, the action code
    (:class:`~syncline.model.ActionCode`), the direction
    (:class:`~syncline.model.Direction`), the outcome (:class:`~syncline.model.Outcome`), a
    message, and for an error the cause as data (kind, field, value; see
    :class:`~syncline.errors.ErrorCause`). :func:`journal_row` is the only place one is made.
pending item
    A record that could not go and is tried again next run: its side, key, the error's
    message and the error's causes (one per problem, in order). :func:`pending_item` is the
    only place one is made.

A :class:`JournalRow` is a ``NamedTuple``: a plain tuple in the order of
:data:`JOURNAL_COLUMNS`, which is what the state store's bulk inserts send to the database
driver as it is, with no conversion per row.
"""

from __future__ import annotations

from typing import NamedTuple

from syncline.errors import ErrorCause, ItemError, cause_of
from syncline.model import ActionCode, Direction, Outcome

__all__ = ["JOURNAL_COLUMNS", "JournalRow", "PendingItem", "PendingKey", "journal_row",
           "pending_item"]


class JournalRow(NamedTuple):
    """One journal row, in the order of the journal table's columns
    (:data:`JOURNAL_COLUMNS`). ``action``, ``direction`` and ``outcome`` hold the values of
    :class:`~syncline.model.ActionCode`, :class:`~syncline.model.Direction` and
    :class:`~syncline.model.Outcome`; the ``cause_*`` columns are those of an error's first
    cause (``None`` for a row without one). Build with :func:`journal_row`."""

    run_id: int
    scope_id: int
    a_key: str | None
    b_key: str | None
    action: str
    direction: str
    outcome: str
    message: str | None
    cause_kind: str | None = None
    cause_field: str | None = None
    cause_value: str | None = None

    def with_outcome(self, outcome: Outcome, message: str | None) -> JournalRow:
        """This row with another outcome and message (a settled write that carries a
        warning, a created record whose pairing was refused); its cause is kept."""
        return self._replace(outcome=outcome.value, message=message)


JOURNAL_COLUMNS: tuple[str, ...] = JournalRow._fields
"""The journal table's columns a :class:`JournalRow` fills, in its order."""

_new_row = tuple.__new__


def journal_row(run_id: int, scope_id: int, a_key: str | None, b_key: str | None,
                action: ActionCode, direction: Direction, outcome: Outcome,
                message: str | None, cause: ErrorCause | None = None) -> JournalRow:
    """The journal row of one record a run touched (the only place one is made; see the
    module docstring). ``cause`` is the error's (first) cause, for an ``error`` row."""
    # ``_value_`` and ``tuple.__new__``: a third of the cost of ``.value`` and the class
    # call, for the million ``ok`` rows of a first sync into a database other than SQLite
    if cause is None:
        return _new_row(JournalRow, (run_id, scope_id, a_key, b_key, action._value_,
                                     direction._value_, outcome._value_, message, None, None,
                                     None))
    return _new_row(JournalRow, (run_id, scope_id, a_key, b_key, action._value_,
                                 direction._value_, outcome._value_, message, cause.kind,
                                 cause.field, cause.value))


PendingKey = tuple[str, str]
"""A pending item's side (``"a"`` or ``"b"``) and key: what clears it."""


class PendingItem(NamedTuple):
    """A record kept back to be tried again next run: ``side`` (``"a"`` or ``"b"``),
    ``key``, the error's ``message`` and its ``causes`` (empty for an error known only by
    its message). Build with :func:`pending_item`."""

    side: str
    key: str
    message: str
    causes: tuple[ErrorCause, ...] = ()


def pending_item(side: str, key: str, error: ItemError | str,
                 stream: str | None = None) -> PendingItem:
    """The pending item of a record ``error`` keeps back (the only place one is made).

    An :class:`~syncline.errors.ItemError` brings its causes; one cause made without knowing
    the record or the stream (a connector's error) is made again here with ``key`` and
    ``stream``, so that its words leave out the record's name the way they would have
    (see :func:`~syncline.errors.cause_of`). A bare message is stored without causes.
    """
    if isinstance(error, str):
        return PendingItem(side, key, error)
    message = str(error)
    causes = error.causes
    cause = causes[0] if len(causes) == 1 else None
    if cause is not None and cause.document is None \
            and (cause.field is not None or cause.value is not None):
        causes = (cause_of(cause.kind, message, key=key, stream=stream, field=cause.field,
                           value=cause.value),)
    return PendingItem(side, key, message, causes)
