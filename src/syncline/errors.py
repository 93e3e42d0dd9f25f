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
    │   ├── LinkBusy             another run of the same link holds the lock
    │   └── RunCancelled         the run was asked to stop (Ctrl-C, service shutdown; exit 130)
    ├── ItemError                one record could not be read or written; the run goes on,
    │   │                        the record stays pending and is retried next run
    │   ├── ReferenceMissing     a referenced record is not (yet) on the other side
    │   ├── ValidationFailed     the target system rejected the record's content
    │   ├── MalformedRecord      the source holds a record we cannot parse
    │   └── VersionConflict      the record changed under us since we read it
    └── StateError               the state store is unusable (schema, corruption)

``retriable`` on a class says whether trying the same thing again later may succeed.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "ConfigError",
    "EndpointUnavailable",
    "ItemError",
    "LinkBusy",
    "MalformedRecord",
    "ProtocolError",
    "ReferenceMissing",
    "RunCancelled",
    "RunError",
    "StateError",
    "SynclineError",
    "UsageError",
    "ValidationFailed",
    "VersionConflict",
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


class LinkBusy(RunError):
    """Another run of the same link is in progress."""

    retriable = True


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


class ItemError(SynclineError):
    """One record could not be read or written.

    The run continues; the record is journalled with outcome ``error`` and stays pending,
    so the next run tries it again.
    """

    retriable = True

    def __init__(self, message: str, *, stream: str | None = None, key: str | None = None) -> None:
        self.stream = stream
        self.key = key
        self.message = message
        super().__init__(message)


class ReferenceMissing(ItemError):
    """A record refers to another record that the other side does not have yet."""


class ValidationFailed(ItemError):
    """The target system rejected the record's content."""

    retriable = False


class MalformedRecord(ItemError):
    """A source record cannot be parsed into canonical form."""

    retriable = False


class VersionConflict(ItemError):
    """The record changed on the target since it was read (optimistic concurrency)."""


class StateError(SynclineError):
    """The state store cannot be used (wrong schema version, unreadable, locked)."""

    exit_code = 3
