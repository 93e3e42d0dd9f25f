"""A set of mapping ids kept as marks, one byte per id: a full read notes the id of every
mapping whose key it listed, to find the mappings whose record is gone. Mapping ids are a
table's growing integer ids, so one byte per id up to the largest is 1 MB for a million
mappings where a set of ints takes some 60 MB; a byte (not a bit) per id lets a page of
ids be noted in one pass of C code, and lets the database test a mark with a plain byte
access (see :func:`syncline.state.mapping_reads.unnoted_keys`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import repeat

__all__ = ["MappingIds"]


class MappingIds:
    """Non-negative integer ids, one byte each (see the module docstring)."""

    __slots__ = ("_marks",)

    def __init__(self) -> None:
        self._marks = bytearray()

    def add(self, mapping_id: int) -> None:
        """Note ``mapping_id``.

        Raises:
            ValueError: ``mapping_id`` is negative.
        """
        self.add_all((mapping_id,))

    def add_all(self, mapping_ids: Iterable[int]) -> None:
        """Note each of ``mapping_ids`` (in one pass of C code).

        Raises:
            ValueError: one of them is negative (then none of them is noted).
        """
        ids = mapping_ids if isinstance(mapping_ids, (list, tuple)) else list(mapping_ids)
        if not ids:
            return
        lowest = min(ids)
        if lowest < 0:
            raise ValueError(f"a mapping id is never negative, not {lowest}")
        marks = self._marks
        highest = max(ids)
        if highest >= len(marks):
            marks.extend(bytes(max(highest + 1 - len(marks), len(marks))))
        deque(map(marks.__setitem__, ids, repeat(1)), maxlen=0)

    def marks(self) -> bytes:
        """The ids noted as the marks :func:`~syncline.state.mapping_reads.unnoted_keys`
        takes: byte ``id`` is not zero for a noted id (ids past the end are not noted)."""
        return bytes(self._marks)

    def __contains__(self, mapping_id: object) -> bool:
        if not isinstance(mapping_id, int) or mapping_id < 0:
            return False
        return mapping_id < len(self._marks) and self._marks[mapping_id] != 0
