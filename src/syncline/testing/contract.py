"""The contract every connector keeps, as one reusable test suite.

A connector's tests subclass :class:`ConnectorContract` (its name must start with ``Test``)
and provide these fixtures:

``connector``
    An opened connector for an empty stream named by the class attribute ``stream``, with
    change capture set up where the connector needs it; closed after the test.
``make_fields``
    A function ``n -> fields``: valid canonical fields for a record, the same for the same
    ``n`` and different for different ``n`` (unique where the system wants unique values).
``outside`` (optional)
    An :class:`OutsideEditor` that changes the system the way its other users do, not through
    the connector. Without it the tests of incremental reading and of unmapped data are
    skipped.

Optional hooks: :meth:`ConnectorContract.rejected_fields` (fields the system refuses, for the
per-item failure test), :meth:`ConnectorContract.key_order` (how the connector orders keys in
a key range), the class attribute ``page_size`` (the page size the fixture configured) and
``reports_short_lived_deletions = False`` for a system that keeps no trace of a record
created *and* deleted between two reads (a folder, an ETag listing): such a record may then
be reported as deleted or not at all — a deletion of a key never read is nothing to the
engine.

Optional parts of the contract, each skipped unless the subclass opts in:

concurrent modification
    ``checks_versions = True``: an update or delete carrying an ``expected_version`` that is
    no longer the record's fails with :class:`~syncline.errors.VersionConflict` and changes
    nothing. :meth:`ConnectorContract.racing` also lets another user change the record
    between the connector's own read and its write (the server's 412 for DAV).
expired cursor
    :meth:`ConnectorContract.expire_cursor`: a cursor the system no longer accepts makes
    :meth:`~syncline.connectors.base.Connector.read_changes` raise
    :class:`~syncline.errors.ProtocolError` (the engine then reads in full), and the full
    read holds everything.
malformed item
    :meth:`ConnectorContract.put_malformed` stores an item the connector cannot parse: it is
    a per-item :class:`~syncline.errors.MalformedRecord` naming the item and the parse
    problem (see :meth:`ConnectorContract.item_errors`), neither a change nor a deletion,
    and a full read still reads the rest and lets the engine infer no deletion from it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, Protocol

import pytest

from syncline.connectors.base import (
    Capability,
    Change,
    Connector,
    ReadScope,
    WriteBatch,
    WriteKind,
    WriteOperation,
    WriteResult,
)
from syncline.errors import ItemError, MalformedRecord, ProtocolError, VersionConflict
from syncline.model import Record, canonical_value

__all__ = ["ConnectorContract", "FieldMaker", "OutsideEditor", "same"]

FieldMaker = Callable[[int], dict[str, Any]]


class OutsideEditor(Protocol):
    """Changes the system as another user (an application, a person) would."""

    def create(self, fields: dict[str, Any]) -> str:
        """Create a record with canonical ``fields``; return its key."""

    def update(self, key: str, fields: dict[str, Any]) -> None:
        """Change the canonical ``fields`` of record ``key``."""

    def delete(self, key: str) -> None:
        """Delete record ``key``."""

    def set_unmapped(self, key: str, value: str) -> None:
        """Store ``value`` in data of record ``key`` that the connector does not map."""

    def get_unmapped(self, key: str) -> str | None:
        """The data :meth:`set_unmapped` stored."""


def _token() -> str:
    return uuid.uuid4().hex


def same(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Whether ``actual`` holds every field of ``expected`` with an equal canonical value."""
    return all(canonical_value(actual.get(name)) == canonical_value(value)
               for name, value in expected.items())


class ConnectorContract:
    """The contract test suite (see the module docstring)."""

    stream: ClassVar[str]
    page_size: ClassVar[int | None] = None
    checks_versions: ClassVar[bool] = False
    """Whether writes check ``expected_version`` (optimistic concurrency)."""
    reports_short_lived_deletions: ClassVar[bool] = True
    """Whether a record created and deleted between two reads is reported as deleted (see
    the module docstring)."""

    # -- fixtures and hooks the subclass provides --------------------------------------------
    @pytest.fixture
    def connector(self) -> Connector:
        pytest.fail(f"{type(self).__name__} must provide a 'connector' fixture")

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        pytest.fail(f"{type(self).__name__} must provide a 'make_fields' fixture")

    @pytest.fixture
    def outside(self) -> OutsideEditor | None:
        return None

    def rejected_fields(self, connector: Connector, make_fields: FieldMaker) \
            -> dict[str, Any] | None:
        """Fields for a create the system refuses (``None``: no such thing is known)."""
        return None

    def key_order(self, key: str) -> Any:
        """How the connector orders keys in a key range (text order unless overridden)."""
        return key

    @contextlib.contextmanager
    def racing(self, connector: Connector, action: Callable[[str], None]) -> Iterator[bool]:
        """Within the block, ``action(key)`` runs just before the connector writes item
        ``key``, after it checked the version it read: another user's change racing ours.
        Yields whether the subclass arranged that (the default does not)."""
        yield False

    def expire_cursor(self, connector: Connector, cursor: str) -> str | None:
        """A cursor like ``cursor`` that the system no longer accepts (an expired
        sync-token, a snapshot that is gone); ``None``: the system knows no such thing."""
        return None

    def put_malformed(self, outside: OutsideEditor) -> tuple[str, str] | None:
        """Store an item the connector cannot parse, as another user would; returns its key
        and words of the parse problem the error must hold (``None``: not possible)."""
        return None

    def item_errors(self, connector: Connector) -> list[ItemError]:
        """The per-item read problems the connector noted (its ``item_errors``)."""
        found = getattr(connector, "item_errors", None)
        assert isinstance(found, list), "a connector with malformed items keeps item_errors"
        return found

    # -- helpers ----------------------------------------------------------------------------
    def batch(self, operations: Iterable[WriteOperation]) -> WriteBatch:
        return WriteBatch(f"batch-{_token()}", self.stream, list(operations))

    def create_op(self, fields: dict[str, Any]) -> WriteOperation:
        return WriteOperation(_token(), WriteKind.CREATE, None, fields)

    def update_op(self, key: str, fields: dict[str, Any],
                  expected: str | None = None) -> WriteOperation:
        return WriteOperation(_token(), WriteKind.UPDATE, key, fields, expected)

    def delete_op(self, key: str, expected: str | None = None) -> WriteOperation:
        return WriteOperation(_token(), WriteKind.DELETE, key, expected_version=expected)

    def create(self, connector: Connector, *fields: dict[str, Any]) -> list[str]:
        results = connector.write(self.batch(self.create_op(f) for f in fields))
        assert all(r.ok for r in results), [r.error for r in results]
        keys = [r.key for r in results]
        assert all(isinstance(k, str) and k for k in keys)
        return [str(k) for k in keys]

    def deleted_key(self, connector: Connector, make_fields: FieldMaker) -> str:
        """The key of a record that existed and was deleted (a later record is kept, so that
        systems numbering keys from the highest one do not hand the key out again)."""
        gone, _ = self.create(connector, make_fields(90), make_fields(91))
        (result,) = connector.write(self.batch([self.delete_op(gone)]))
        assert result.ok, result.error
        return gone

    def changes(self, connector: Connector, cursor: str,
                scope: ReadScope | None = None) -> tuple[list[Change], str]:
        feed = connector.read_changes(self.stream, cursor, scope or ReadScope())
        found = [change for page in feed.pages for change in page]
        assert feed.cursor is not None
        return found, feed.cursor

    def needs_changes(self, connector: Connector, outside: OutsideEditor | None) -> OutsideEditor:
        if outside is None:
            pytest.skip("no outside editor for this connector")
        if not connector.streams()[self.stream] & Capability.INCREMENTAL:
            pytest.skip("the stream cannot be read incrementally")
        return outside

    # -- creating and reading ---------------------------------------------------------------
    def test_stream_is_described(self, connector: Connector, make_fields: FieldMaker) -> None:
        capabilities = connector.streams()[self.stream]
        assert capabilities & Capability.READ
        assert set(make_fields(0)) <= connector.field_names(self.stream)

    def test_create_then_read_keys(self, connector: Connector, make_fields: FieldMaker) -> None:
        fields = [make_fields(n) for n in range(3)]
        keys = self.create(connector, *fields)
        assert len(set(keys)) == 3
        found = connector.read_keys(self.stream, keys)
        assert set(found) == set(keys)
        for key, expected in zip(keys, fields, strict=True):
            assert found[key].key == key
            assert same(found[key].fields, expected), (found[key].fields, expected)

    def test_read_keys_leaves_out_unknown_keys(self, connector: Connector,
                                               make_fields: FieldMaker) -> None:
        key = self.deleted_key(connector, make_fields)
        (kept,) = self.create(connector, make_fields(2))
        assert set(connector.read_keys(self.stream, [key, kept, "no-such-key"])) == {kept}
        assert connector.read_keys(self.stream, []) == {}

    def test_read_all_in_pages(self, connector: Connector, make_fields: FieldMaker) -> None:
        total = 2 * self.page_size + 3 if self.page_size else 12
        keys = self.create(connector, *(make_fields(n) for n in range(total)))
        pages = list(connector.read_all(self.stream, ReadScope()))
        read = [record.key for page in pages for record in page]
        assert sorted(read) == sorted(keys)
        assert all(pages)
        if self.page_size:
            assert all(len(page) <= self.page_size for page in pages)
            assert len(pages) >= 3

    def test_read_all_key_range(self, connector: Connector, make_fields: FieldMaker) -> None:
        keys = sorted(self.create(connector, *(make_fields(n) for n in range(12))),
                      key=self.key_order)
        scope = ReadScope(from_key=keys[3], to_key=keys[8])
        read = [r.key for page in connector.read_all(self.stream, scope) for r in page]
        assert sorted(read, key=self.key_order) == keys[3:9]
        above = [r.key for page in connector.read_all(self.stream, ReadScope(from_key=keys[10]))
                 for r in page]
        assert sorted(above, key=self.key_order) == keys[10:]

    def test_count(self, connector: Connector, make_fields: FieldMaker) -> None:
        before = connector.count(self.stream)
        if before is None:
            pytest.skip("the connector does not count")
        self.create(connector, *(make_fields(n) for n in range(4)))
        assert connector.count(self.stream) == before + 4

    # -- updating and deleting --------------------------------------------------------------
    def test_update_writes_given_fields_and_keeps_others(
            self, connector: Connector, make_fields: FieldMaker) -> None:
        original = make_fields(1)
        (key,) = self.create(connector, original)
        name, value = next(iter(make_fields(2).items()))
        (result,) = connector.write(self.batch([self.update_op(key, {name: value})]))
        assert result.ok, result.error
        assert result.key == key
        record = connector.read_keys(self.stream, [key])[key]
        assert same(record.fields, {**original, name: value})

    def test_update_keeps_unmapped_data(self, connector: Connector, make_fields: FieldMaker,
                                        outside: OutsideEditor | None) -> None:
        if outside is None:
            pytest.skip("no outside editor for this connector")
        (key,) = self.create(connector, make_fields(1))
        outside.set_unmapped(key, "kept by the connector")
        (result,) = connector.write(self.batch([self.update_op(key, make_fields(2))]))
        assert result.ok, result.error
        assert outside.get_unmapped(key) == "kept by the connector"
        assert same(connector.read_keys(self.stream, [key])[key].fields, make_fields(2))

    def test_delete(self, connector: Connector, make_fields: FieldMaker) -> None:
        keys = self.create(connector, make_fields(1), make_fields(2))
        (result,) = connector.write(self.batch([self.delete_op(keys[0])]))
        assert result.ok, result.error
        assert set(connector.read_keys(self.stream, keys)) == {keys[1]}
        read = [r.key for page in connector.read_all(self.stream, ReadScope()) for r in page]
        assert read == [keys[1]]

    def test_missing_keys_fail_per_item(self, connector: Connector,
                                        make_fields: FieldMaker) -> None:
        key = self.deleted_key(connector, make_fields)
        results = connector.write(self.batch([self.update_op(key, make_fields(2)),
                                              self.delete_op(key)]))
        assert len(results) == 2
        assert all(isinstance(r.error, ItemError) for r in results)
        assert all(key in str(r.error) for r in results)

    def test_failing_item_does_not_fail_the_others(self, connector: Connector,
                                                   make_fields: FieldMaker) -> None:
        gone = self.deleted_key(connector, make_fields)
        operations = [self.create_op(make_fields(2)), self.update_op(gone, make_fields(3))]
        rejected = self.rejected_fields(connector, make_fields)
        if rejected is not None:
            operations.append(self.create_op(rejected))
        operations.append(self.create_op(make_fields(4)))
        results = connector.write(self.batch(operations))
        assert [r.token for r in results] == [op.token for op in operations]
        assert results[0].ok and results[-1].ok, (results[0].error, results[-1].error)
        assert all(isinstance(r.error, ItemError) for r in results[1:-1])
        found = connector.read_keys(self.stream, [str(results[0].key), str(results[-1].key)])
        assert same(found[str(results[0].key)].fields, make_fields(2))
        assert same(found[str(results[-1].key)].fields, make_fields(4))

    # -- incremental reading ----------------------------------------------------------------
    def test_changes_after_create_update_delete(
            self, connector: Connector, make_fields: FieldMaker,
            outside: OutsideEditor | None) -> None:
        editor = self.needs_changes(connector, outside)
        cursor = connector.current_cursor(self.stream)
        assert cursor is not None
        assert self.changes(connector, cursor)[0] == []

        key = editor.create(make_fields(1))
        found, cursor = self.changes(connector, cursor)
        assert [c.key for c in found] == [key]
        assert found[0].record is not None and same(found[0].record.fields, make_fields(1))

        editor.update(key, make_fields(2))
        found, cursor = self.changes(connector, cursor)
        assert [c.key for c in found] == [key]
        assert found[0].record is not None and same(found[0].record.fields, make_fields(2))

        editor.delete(key)
        found, cursor = self.changes(connector, cursor)
        assert found == [Change(key, None)]
        assert self.changes(connector, cursor)[0] == []

    def test_changes_hold_each_key_once_with_its_newest_state(
            self, connector: Connector, make_fields: FieldMaker,
            outside: OutsideEditor | None) -> None:
        editor = self.needs_changes(connector, outside)
        cursor = connector.current_cursor(self.stream)
        assert cursor is not None
        kept = editor.create(make_fields(1))
        editor.update(kept, make_fields(2))
        editor.update(kept, make_fields(3))
        gone = editor.create(make_fields(4))
        editor.update(gone, make_fields(5))
        editor.delete(gone)
        found, _ = self.changes(connector, cursor)
        by_key: dict[str, Record | None] = {c.key: c.record for c in found}
        assert len(by_key) == len(found)
        if self.reports_short_lived_deletions:
            assert set(by_key) == {kept, gone}
        else:
            assert set(by_key) - {gone} == {kept}
        assert by_key.get(gone) is None
        record = by_key[kept]
        assert record is not None and same(record.fields, make_fields(3))

    def test_own_writes_do_not_come_back(self, connector: Connector, make_fields: FieldMaker,
                                         outside: OutsideEditor | None) -> None:
        editor = self.needs_changes(connector, outside)
        (updated, deleted) = self.create(connector, make_fields(1), make_fields(2))
        cursor = connector.current_cursor(self.stream)
        assert cursor is not None
        theirs = editor.create(make_fields(3))
        results = connector.write(self.batch([
            self.create_op(make_fields(4)), self.update_op(updated, make_fields(5)),
            self.delete_op(deleted)]))
        assert all(r.ok for r in results), [r.error for r in results]
        found, cursor = self.changes(connector, cursor)
        assert [c.key for c in found] == [theirs]
        assert self.changes(connector, cursor)[0] == []

    # -- crash recovery ---------------------------------------------------------------------
    def test_recover_an_applied_batch(self, connector: Connector,
                                      make_fields: FieldMaker) -> None:
        (existing,) = self.create(connector, make_fields(1))
        batch = self.batch([self.create_op(make_fields(2)), self.update_op(existing,
                                                                            make_fields(3))])
        written = connector.write(batch)
        recovered = connector.recover(batch)
        assert recovered is not None
        assert [(r.token, r.key, r.ok) for r in recovered] \
            == [(r.token, r.key, r.ok) for r in written]
        assert connector.count(self.stream) in (None, 2)

    def test_recover_a_batch_never_applied(self, connector: Connector,
                                           make_fields: FieldMaker) -> None:
        batch = self.batch([self.create_op(make_fields(1))])
        recovered: list[WriteResult] | None = connector.recover(batch)
        assert recovered is None
        assert list(connector.read_all(self.stream, ReadScope())) == []

    # -- concurrent modification ------------------------------------------------------------
    def test_stale_writes_are_version_conflicts(self, connector: Connector,
                                                make_fields: FieldMaker,
                                                outside: OutsideEditor | None) -> None:
        if not self.checks_versions or outside is None:
            pytest.skip("the connector does not check versions, or has no outside editor")
        updated, deleted = self.create(connector, make_fields(1), make_fields(2))
        read = connector.read_keys(self.stream, [updated, deleted])
        outside.update(updated, make_fields(3))
        outside.update(deleted, make_fields(4))
        results = connector.write(self.batch([
            self.update_op(updated, make_fields(5), read[updated].version),
            self.delete_op(deleted, read[deleted].version)]))
        assert all(isinstance(r.error, VersionConflict) for r in results), results
        assert updated in str(results[0].error) and deleted in str(results[1].error)
        now = connector.read_keys(self.stream, [updated, deleted])
        assert same(now[updated].fields, make_fields(3))  # the other user's change stands
        assert same(now[deleted].fields, make_fields(4))  # and nothing was deleted

        current = now[updated].version
        with self.racing(connector, lambda key: outside.update(key, make_fields(6))) \
                as arranged:
            if arranged:
                (raced,) = connector.write(self.batch([
                    self.update_op(updated, make_fields(7), current)]))
        if not arranged:
            return
        assert isinstance(raced.error, VersionConflict), raced
        assert same(connector.read_keys(self.stream, [updated])[updated].fields,
                    make_fields(6))

    # -- expired cursors --------------------------------------------------------------------
    def test_expired_cursor_asks_for_a_full_read(self, connector: Connector,
                                                 make_fields: FieldMaker,
                                                 outside: OutsideEditor | None) -> None:
        editor = self.needs_changes(connector, outside)
        (ours,) = self.create(connector, make_fields(1))
        cursor = connector.current_cursor(self.stream)
        assert cursor is not None
        theirs = editor.create(make_fields(2))
        expired = self.expire_cursor(connector, cursor)
        if expired is None:
            pytest.skip("the system has no cursor that expires")
        with pytest.raises(ProtocolError, match="full"):
            feed = connector.read_changes(self.stream, expired, ReadScope())
            list(feed.pages)
        # what the engine does instead: a new cursor and a full read, which holds everything
        fresh = connector.current_cursor(self.stream)
        assert fresh is not None
        read = [r.key for page in connector.read_all(self.stream, ReadScope()) for r in page]
        assert sorted(read) == sorted([ours, theirs])
        editor.update(theirs, make_fields(3))
        found, _ = self.changes(connector, fresh)
        assert [c.key for c in found] == [theirs]

    # -- malformed items --------------------------------------------------------------------
    def test_malformed_item_is_an_item_error_and_deletes_nothing(
            self, connector: Connector, make_fields: FieldMaker,
            outside: OutsideEditor | None) -> None:
        editor = self.needs_changes(connector, outside)
        keys = self.create(connector, make_fields(1), make_fields(2))
        cursor = connector.current_cursor(self.stream)
        assert cursor is not None
        planted = self.put_malformed(editor)
        if planted is None:
            pytest.skip("no malformed item can be stored")
        bad, problem = planted
        errors = self.item_errors(connector)
        try:
            # an incremental read: neither a change nor a deletion, but an item error
            found, cursor = self.changes(connector, cursor)
            assert found == []
            assert [e.key for e in errors] == [bad]
            assert isinstance(errors[0], MalformedRecord)
            assert bad in str(errors[0]) and problem in str(errors[0]), str(errors[0])
            take = getattr(connector, "take_item_errors", None)
            if take is not None:  # handed over once, for the engine's journal and messages
                assert [e.key for e in take(self.stream)] == [bad]
                assert take(self.stream) == [] and errors == []
            # the next incremental read reports it again (it is still there)
            errors.clear()
            found, cursor = self.changes(connector, cursor)
            assert found == [] and [e.key for e in errors] == [bad]
            # a full read reads the rest, and lets the engine infer no deletion of it
            connector.current_cursor(self.stream)
            read = [r.key for page in connector.read_all(self.stream, ReadScope())
                    for r in page]
            assert sorted(read) == sorted(keys)
            assert not connector.streams()[self.stream] & Capability.DETECT_DELETES \
                or not connector.in_key_range(self.stream, bad, ReadScope())
            assert not connector.in_key_range(self.stream, bad, ReadScope(from_key=""))
            # the other records are still written and read as usual
            (result,) = connector.write(self.batch([self.update_op(keys[0], make_fields(3))]))
            assert result.ok, result.error
            assert same(connector.read_keys(self.stream, [keys[0]])[keys[0]].fields,
                        make_fields(3))
            # once the item is gone, deletions are detected again
            editor.delete(bad)
            read = [r.key for page in connector.read_all(self.stream, ReadScope())
                    for r in page]
            assert sorted(read) == sorted(keys)
            assert connector.streams()[self.stream] & Capability.DETECT_DELETES
        finally:
            errors.clear()
