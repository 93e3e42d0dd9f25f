"""The one exception tree of syncline.

Every error syncline raises on purpose is a :class:`SynclineError`. The tree is named for
what the runtime should do with the error, not for where it came from::

    SynclineError
    ├── ConfigError              bad configuration: nothing was touched (exit code 2)
    ├── UsageError               a command was called wrongly (exit code 2)
    ├── RunError                 the run could not proceed; nothing was lost (exit code 3)
    │   ├── EndpointUnavailable  a system did not answer or refused the connection (transient)
    │   ├── AuthenticationFailed the system refused our credentials
    │   ├── ProtocolError        the system answered something we cannot understand
    │   ├── ConnectorNotOpen     a connector was used before ``open()`` or after ``close()``
    │   ├── LinkBusy             another run of the same link holds the lock
    │   ├── LeaseLost            another process took the link over: stop, write nothing more
    │   └── RunCancelled         the run was asked to stop (Ctrl-C, service shutdown; exit 130)
    ├── ItemError                one record could not be read or written; the run goes on,
    │   │                        the record stays pending and is retried next run
    │   ├── ReferenceMissing     a referenced record is not (yet) on the other side
    │   ├── ValidationFailed     the target system rejected the record's content
    │   ├── MalformedRecord      the source holds a record we cannot parse
    │   ├── VersionConflict      the record changed under us since we read it
    │   └── RecordLocked         the target no longer lets the record change (a paid
    │                            invoice): skipped with a warning, not retried
    └── StateError               the state store is unusable (schema, corruption; exit 3)
        └── StateUnavailable     the state store cannot be reached or went away (transient)

``retriable`` on a class says whether trying the same thing again later may succeed.

An item error carries its **cause** as data (:class:`ErrorCause`: kind, field, value), so that
many records kept back by one cause (one missing xref entry, one column too short) are
counted as one group whatever records they are; :func:`cause_of` is the one place a cause is
made.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationFailed",
    "ConfigError",
    "ConnectorNotOpen",
    "EndpointUnavailable",
    "ErrorCause",
    "ItemError",
    "LeaseLost",
    "LinkBusy",
    "MalformedRecord",
    "ProtocolError",
    "RecordLocked",
    "ReferenceMissing",
    "RowsWithoutKey",
    "RunCancelled",
    "RunError",
    "StateError",
    "StateUnavailable",
    "SynclineError",
    "UsageError",
    "ValidationFailed",
    "VersionConflict",
    "cause_of",
]


class SynclineError(Exception):
    """Base of every error syncline raises on purpose.

    ``exit_code`` is what the CLI exits with when this error ends a command.
    """

    exit_code: int = 1
    retriable: bool = False


class ConfigError(SynclineError):
    """The configuration is wrong. ``key`` names the offending setting (dotted path)."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        self.key = key
        self.source = source
        where = f"{source}: " if source else ""
        at = f"{key}: " if key else ""
        super().__init__(f"{where}{at}{message}")


class UsageError(SynclineError):
    """A command was called with arguments that do not fit together."""

    exit_code = 2


class RunError(SynclineError):
    """A run could not proceed. Nothing was written past the last settled batch."""

    exit_code = 3


class EndpointUnavailable(RunError):
    """An endpoint did not answer, timed out or refused the connection."""

    retriable = True

    def __init__(self, endpoint: str, detail: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"endpoint '{endpoint}' is unavailable: {detail}")


class AuthenticationFailed(RunError):
    """An endpoint refused the configured credentials."""

    def __init__(self, endpoint: str, detail: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"endpoint '{endpoint}' refused our credentials: {detail}")


class ProtocolError(RunError):
    """An endpoint answered something that does not follow its documented contract."""

    def __init__(self, endpoint: str, detail: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"endpoint '{endpoint}' answered unexpectedly: {detail}")


class ConnectorNotOpen(RunError):
    """A connector was asked to read or write while it was not open (before ``open()`` or
    after ``close()``): a fault of the calling code, never of the remote system, so it is
    not retriable. Every connector raises this one error for it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"endpoint '{endpoint}': the connector is not open (open() it first)")


class LinkBusy(RunError):
    """Another run of the same link is in progress."""

    retriable = True


class LeaseLost(RunError):
    """The run's lease on its link was taken over (another process took the link over after
    this one stopped renewing it, e.g. while it was frozen): the run stops at once and writes
    nothing more; the run that took the link over settles what it left."""

    def __init__(self, link: str, run_id: int | None, taker: int | None,
                 detail: str = "another process took the link over after this one stopped "
                               "renewing") -> None:
        self.link = link
        self.run_id = run_id
        self.taker = taker
        run = f"run {run_id}" if run_id else "a run"
        other = f"run {taker}" if taker else "another run"
        super().__init__(f"{run} of {link} lost its lease to {other} ({detail}): stopping, "
                         f"nothing more is written")


class RunCancelled(RunError):
    """The run was asked to stop (Ctrl-C, the service shutting down) and stopped between two
    requests: what was written is settled, the rest goes with the next run. ``reason`` says
    who asked."""

    exit_code = 130
    retriable = True

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"interrupted ({reason}): what was written is recorded; the rest "
                         f"goes with the next run")


@dataclass(frozen=True, slots=True)
class ErrorCause:
    """Why a record could not go, as data: the same cause for many records compares equal.

    ``kind`` is the error's class name (``ReferenceMissing``, ``ValidationFailed``...);
    ``field`` the field, column or database constraint concerned, when known; ``value`` the
    offending value (``'CONSULT-HR'``) or the problem in words (``value too long for type
    character varying(20)``), never the record's key.

    Two more parts say how the problem reads for the one record it happened to, and take no
    part in comparing causes: ``document`` is how the message names the record (``INV-1001
    line 2`` in ``invoice INV-1001 line 2: no ledger account mapped ...``), ``None`` when it
    names it otherwise or not at all; ``text`` is the message without the words that name the
    record (``no ledger account mapped for product 'X'``). Both are taken from the message
    when the cause is made (:func:`cause_of`) and stored with it, never parsed back.
    """

    kind: str
    field: str | None = None
    value: str | None = None
    document: str | None = dataclasses.field(default=None, compare=False)
    text: str | None = dataclasses.field(default=None, compare=False)

    def to_json(self) -> dict[str, str | None]:
        """The cause as a JSON object (``kind``, ``field``, ``value``)."""
        return {"kind": self.kind, "field": self.field, "value": self.value}

    @classmethod
    def from_json(cls, data: Any) -> ErrorCause | None:
        """The cause stored by :meth:`to_json`; ``None`` for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            return None
        field, value = data.get("field"), data.get("value")
        return cls(data["kind"], field if isinstance(field, str) else None,
                   value if isinstance(value, str) else None)

    @property
    def words(self) -> str:
        """The problem in words for one record: :attr:`text`, else :attr:`value`, else the
        cause itself."""
        return self.text or self.value or str(self)

    def __str__(self) -> str:
        return " / ".join(part for part in (self.kind, self.field, self.value) if part)


_RECORD_PREFIX = re.compile(r"^(?P<record>[^:]{1,200}?): (?P<rest>.+)$", re.S)
_ROW_NAME = re.compile(r"^(?:a new row in \S+|\S+=.* in \S+)$")
"""How the SQL connector names a row in its messages: ``person_id=42 in people``."""


def _names_record(record: str, key: str | None, stream: str | None) -> bool:
    """Whether ``record`` (a message's part before ``: ``) only says which record it is."""
    if stream is not None and record.startswith(f"{stream} "):
        return True
    if _ROW_NAME.match(record):
        return True
    return bool(key) and re.search(rf"(?<![\w.-]){re.escape(str(key))}(?![\w.-])",
                                   record) is not None


def cause_of(kind: str, message: str, *, key: str | None = None, stream: str | None = None,
             field: str | None = None, value: str | None = None) -> ErrorCause:
    """The cause of an item error of class ``kind`` (the one place a cause is made).

    A ``field`` or ``value`` given by the code that found the problem is taken as it is.
    Otherwise the cause is the message without the words that name the record: a leading
    ``<stream> <label>: ``, a row named the SQL connector's way (``person_id=42 in people:
    ``, ``a new row in people: ``), or any leading part up to ``: `` that holds ``key`` as a
    word; a message that names no record is its own cause. Deterministic, so that messages
    of rows stored without a cause group the same way. The cause's ``text`` is the message
    without those words either way, its ``document`` the ``<label>`` of a message that
    begins ``<stream> <label>: `` (see :class:`ErrorCause`).
    """
    text = " ".join(message.split())
    document = None
    found = _RECORD_PREFIX.match(text)
    if found is not None and _names_record(found["record"], key, stream):
        text = found["rest"]
        if stream is not None and found["record"].startswith(f"{stream} "):
            document = found["record"][len(stream) + 1:]
    if field is not None or value is not None:
        return ErrorCause(kind, field, value, document, text)
    return ErrorCause(kind, None, text, document, text)


class ItemError(SynclineError):
    """One record could not be read or written.

    The run continues; the record is journalled with outcome ``error`` and stays pending,
    so the next run tries it again. ``causes`` say why as data (see :class:`ErrorCause`):
    given by the code that found the problem (``field``/``value``, or ``causes`` when one
    record has several problems), else derived from the message by :func:`cause_of`.
    """

    retriable = True

    def __init__(self, message: str, *, stream: str | None = None, key: str | None = None,
                 field: str | None = None, value: str | None = None,
                 causes: tuple[ErrorCause, ...] | None = None) -> None:
        self.stream = stream
        self.key = key
        self.message = message
        self.causes: tuple[ErrorCause, ...] = causes if causes else (
            cause_of(type(self).__name__, message, key=key, stream=stream, field=field,
                     value=value),)
        super().__init__(message)

    @property
    def cause(self) -> ErrorCause:
        """The first (usually the only) cause."""
        return self.causes[0]


class ReferenceMissing(ItemError):
    """A record refers to another record that the other side does not have yet."""


class ValidationFailed(ItemError):
    """The target system rejected the record's content."""

    retriable = False


class MalformedRecord(ItemError):
    """A source record cannot be parsed into canonical form."""

    retriable = False


class RowsWithoutKey(MalformedRecord):
    """Rows of a source have no key at all (an SQL key column that is NULL). They name no
    key; while they exist, deletions read from that source are held, since one of them may
    be the row whose key was removed."""


class VersionConflict(ItemError):
    """The record changed on the target since it was read (optimistic concurrency)."""


class RecordLocked(ItemError):
    """The target system no longer lets the record be changed as asked: an invoice that is
    paid or part-paid in the books keeps its lines, amounts and contact. The change
    was not sent (or only the part the system still takes, see the connector). Not an
    error to retry: the engine journals the record ``skipped`` with this message as a
    warning, keeps the target's record as it is and counts the change as dealt with, so
    that only a later change of the record is tried again. The message names the document
    by its number (``invoice INV-2001: INV-2001 is paid in Xero; the change was not
    sent``)."""

    retriable = False


class StateError(SynclineError):
    """The state store cannot be used (wrong schema version, unreadable, locked)."""

    exit_code = 3


class StateUnavailable(StateError):
    """The state store's database cannot be reached, or went away during a run (its server
    stopped, the connection dropped, its file became unreadable). Nothing was lost: what
    was settled stays settled and the next run resumes. ``url`` is the store's URL with its
    password hidden; ``reason`` the cause in a few words (``connection refused``)."""

    retriable = True

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"the state store at {url} is unreachable: {reason}; nothing was "
                         f"lost, changes wait for the next run")
