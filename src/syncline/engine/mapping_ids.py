"""A set of mapping ids kept as a bitmap: a full read notes the id of every mapping whose
key it listed, to find the mappings whose record is gone. Mapping ids are a table's
growing integer ids, so one bit per id up to the largest is 125 kB for a million mappings
where a set of ints takes some 60 MB."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MappingIds"]


class MappingIds:
    """Non-negative integer ids, one bit each (see the module docstring)."""

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, mapping_id: int) -> None:
        """Note ``mapping_id``.

        Raises:
            ValueError: ``mapping_id`` is negative.
        """
        if mapping_id < 0:
            raise ValueError(f"a mapping id is never negative, not {mapping_id}")
        byte = mapping_id >> 3
        bits = self._bits
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        bits[byte] |= 1 << (mapping_id & 7)

    def add_all(self, mapping_ids: Iterable[int]) -> None:
        """Note each of ``mapping_ids`` (as :meth:`add`, one loop for all).

        Raises:
            ValueError: one of them is negative (those before it are noted).
        """
        bits = self._bits
        for mapping_id in mapping_ids:
            byte = mapping_id >> 3
            if byte >= len(bits) or mapping_id < 0:
                self.add(mapping_id)
                continue
            bits[byte] |= 1 << (mapping_id & 7)

    def bitmap(self) -> bytes:
        """The ids noted, as the noted bitmap :func:`~syncline.state.mapping_reads.unnoted_keys`
        takes: bit ``id & 7`` of byte ``id >> 3``."""
        return bytes(self._bits)

    def __contains__(self, mapping_id: object) -> bool:
        if not isinstance(mapping_id, int) or mapping_id < 0:
            return False
        byte = mapping_id >> 3
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << (mapping_id & 7)))
