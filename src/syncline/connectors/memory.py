"""The ``memory`` connector: records held in a Python dict, shared by name within a process.

For tests, examples and trying link settings out. It honours the whole connector contract:
a change log with sequence numbers (cursor), versions that change on every write,
expected-version checks, per-batch receipts for crash recovery, and failure injection
(``fail_keys`` writes fail, ``unavailable`` refuses to open).

Settings: ``name`` (the shared store's name, default: the endpoint name), ``page_size``
(records per page when reading, default 500) and ``streams`` (a table per stream with
``fields``, a list of canonical field names).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from syncline.connectors.base import (
    Capability,
    Change,
    ChangeFeed,
    Connector,
    ReadScope,
    WriteBatch,
    WriteKind,
    WriteResult,
)
from syncline.errors import ConfigError, EndpointUnavailable, ValidationFailed, VersionConflict
from syncline.model import ENTITY_TYPES, Record

__all__ = ["MemoryConnector", "MemoryStore"]


@dataclass
class MemoryStore:
    """The data behind one or more memory endpoints: per stream, key -> (version, fields)."""

    records: dict[str, dict[str, tuple[str, dict[str, Any], datetime]]] = field(
        default_factory=dict)
    log: list[tuple[int, str, str]] = field(default_factory=list)
    receipts: dict[str, list[WriteResult]] = field(default_factory=dict)
    fail_keys: set[str] = field(default_factory=set)
    unavailable: bool = False
    sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    key_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def stream(self, name: str) -> dict[str, tuple[str, dict[str, Any], datetime]]:
        return self.records.setdefault(name, {})

    def touch(self, stream: str, key: str) -> None:
        self.log.append((next(self.sequence), stream, key))

    def put(self, stream: str, key: str, fields: dict[str, Any],
            when: datetime | None = None) -> str:
        """Create or replace a record as the system's own users would; returns its version."""
        version = str(next(self.sequence))
        self.stream(stream)[key] = (version, dict(fields), when or datetime.now(UTC))
        self.log.append((int(version), stream, key))
        return version

    def remove(self, stream: str, key: str) -> None:
        self.stream(stream).pop(key, None)
        self.touch(stream, key)


_STORES: dict[str, MemoryStore] = {}


def shared_store(name: str) -> MemoryStore:
    """The memory store called ``name`` (created on first use)."""
    return _STORES.setdefault(name, MemoryStore())


class MemoryConnector(Connector):
    """See the module docstring."""

    type_name: ClassVar[str] = "memory"
    description: ClassVar[str] = "records in process memory (tests and experiments)"

    def __init__(self, endpoint: str, settings: Mapping[str, Any], base_dir: Path) -> None:
        super().__init__(endpoint, settings, base_dir)
        self.data = shared_store(str(settings.get("name", endpoint)))
        self.page_size = int(settings.get("page_size", 500))
        streams = settings.get("streams") or {}
        self._fields = {name: frozenset(spec.get("fields") or ENTITY_TYPES[name].fields)
                        for name, spec in streams.items()}

    @classmethod
    def validate_settings(cls, endpoint: str, settings: Mapping[str, Any]) -> None:
        for name, spec in (settings.get("streams") or {}).items():
            if name not in ENTITY_TYPES:
                raise ConfigError(f"unknown stream '{name}'",
                                  key=f"endpoints.{endpoint}.streams.{name}")
            for field_name in (spec or {}).get("fields") or ():
                if field_name not in ENTITY_TYPES[name].fields:
                    raise ConfigError(f"'{field_name}' is not a field of {name}",
                                      key=f"endpoints.{endpoint}.streams.{name}.fields")

    @classmethod
    def capability_matrix(cls) -> dict[str, Capability]:
        return dict.fromkeys(ENTITY_TYPES, Capability.all())

    def open(self) -> None:
        if self.data.unavailable:
            raise EndpointUnavailable(self.endpoint, "the memory store is marked unavailable")

    def streams(self) -> dict[str, Capability]:
        return dict.fromkeys(self._fields, Capability.all())

    def field_names(self, stream: str) -> frozenset[str]:
        return self._fields[stream]

    def _record(self, stream: str, key: str) -> Record | None:
        found = self.data.stream(stream).get(key)
        if found is None:
            return None
        version, fields, when = found
        names = self._fields[stream]
        return Record(key, {name: value for name, value in fields.items() if name in names},
                      version, when)

    def current_cursor(self, stream: str) -> str | None:
        return str(self.data.log[-1][0]) if self.data.log else "0"

    def read_changes(self, stream: str, cursor: str, scope: ReadScope) -> ChangeFeed:
        after = int(cursor)
        keys: dict[str, int] = {}
        last = after
        for sequence, name, key in self.data.log:
            if sequence > after:
                last = max(last, sequence)
                if name == stream and scope.covers_key(key):
                    keys[key] = sequence
        changes = [Change(key, self._record(stream, key)) for key in keys]
        size = self.page_size
        feed = ChangeFeed(iter([changes[i:i + size] for i in range(0, len(changes), size)]))
        feed.cursor_holder[0] = str(last)
        return feed

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        keys = sorted(key for key in self.data.stream(stream) if scope.covers_key(key))
        for start in range(0, len(keys), self.page_size):
            page = [self._record(stream, key) for key in keys[start:start + self.page_size]]
            yield [record for record in page if record is not None]

    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        found = {key: self._record(stream, key) for key in keys}
        return {key: record for key, record in found.items() if record is not None}

    def count(self, stream: str) -> int | None:
        return len(self.data.stream(stream))

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        results: list[WriteResult] = []
        records = self.data.stream(batch.stream)
        for operation in batch.operations:
            if operation.key is not None and operation.key in self.data.fail_keys:
                results.append(WriteResult(operation.token, error=ValidationFailed(
                    f"{batch.stream} {operation.key}: rejected by the memory store",
                    stream=batch.stream, key=operation.key)))
                continue
            if operation.kind is WriteKind.CREATE:
                key = f"{self.endpoint}-{next(self.data.key_numbers)}"
                version = str(next(self.data.sequence))
                records[key] = (version, dict(operation.fields or {}), datetime.now(UTC))
                results.append(WriteResult(operation.token, key, version))
                continue
            assert operation.key is not None
            current = records.get(operation.key)
            if current is None:
                results.append(WriteResult(operation.token, error=VersionConflict(
                    f"{batch.stream} {operation.key} no longer exists", stream=batch.stream,
                    key=operation.key)))
                continue
            if operation.expected_version is not None \
                    and operation.expected_version != current[0]:
                results.append(WriteResult(operation.token, error=VersionConflict(
                    f"{batch.stream} {operation.key} changed since it was read",
                    stream=batch.stream, key=operation.key)))
                continue
            if operation.kind is WriteKind.DELETE:
                del records[operation.key]
                results.append(WriteResult(operation.token, operation.key))
                continue
            merged = {**current[1], **(operation.fields or {})}
            version = str(next(self.data.sequence))
            records[operation.key] = (version, merged, datetime.now(UTC))
            results.append(WriteResult(operation.token, operation.key, version))
        self.data.receipts[batch.batch_id] = results
        return results

    def recover(self, batch: WriteBatch) -> list[WriteResult] | None:
        return self.data.receipts.get(batch.batch_id)
