"""Cursor arithmetic for the change log, as pure functions.

Terms:

position
    What the ``sql`` connector's cursor holds: ``seq``, the highest change-log sequence
    number read, and ``gaps``, ranges of lower sequence numbers that were missing when read.
gap
    Sequence numbers are taken when a row is logged but become visible only when its
    transaction commits, so a long transaction can commit number 100 after number 101 was
    read. A number missing below ``seq`` is therefore remembered as a gap and looked for again
    on the next read; gaps that stay empty (rolled-back transactions) are forgotten
    :data:`GAP_TIMEOUT_SECONDS` after they were first seen (checked once more before that).

A cursor is written ``"120"`` or, with gaps, ``"120;97-97@1718000000,101-104@1718000050"``
(range ``@`` the Unix time it was first seen).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "GAP_TIMEOUT_SECONDS",
    "MAX_GAPS",
    "Gap",
    "Position",
    "advance",
]

GAP_TIMEOUT_SECONDS = 3600
MAX_GAPS = 200


@dataclass(frozen=True, slots=True, order=True)
class Gap:
    """Missing sequence numbers ``low`` to ``high`` (inclusive), first seen at ``seen``."""

    low: int
    high: int
    seen: int

    @property
    def width(self) -> int:
        return self.high - self.low + 1


@dataclass(frozen=True, slots=True)
class Position:
    """A parsed cursor (see the module docstring)."""

    seq: int
    gaps: tuple[Gap, ...] = ()

    def __str__(self) -> str:
        if not self.gaps:
            return str(self.seq)
        listed = ",".join(f"{g.low}-{g.high}@{g.seen}" for g in self.gaps)
        return f"{self.seq};{listed}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """The position a cursor text holds.

        Raises:
            ValueError: ``text`` is not a cursor of this connector.
        """
        head, _, tail = text.strip().partition(";")
        seq = int(head)
        gaps = []
        for part in filter(None, tail.split(",")):
            span, _, seen = part.partition("@")
            low, _, high = span.partition("-")
            gap = Gap(int(low), int(high), int(seen))
            if not 0 < gap.low <= gap.high <= seq:
                raise ValueError(f"gap {part} is outside 1..{seq}")
            gaps.append(gap)
        if seq < 0:
            raise ValueError("negative sequence number")
        return cls(seq, tuple(sorted(gaps)))

    def candidates(self, high: int) -> list[tuple[int, int]]:
        """The ranges to look in when reading up to ``high``: the gaps, then what is new."""
        ranges = [(g.low, g.high) for g in self.gaps]
        if high > self.seq:
            ranges.append((self.seq + 1, high))
        return ranges

    def candidate_count(self, high: int) -> int:
        """How many sequence numbers :meth:`candidates` spans."""
        return sum(b - a + 1 for a, b in self.candidates(high))


def _missing(low: int, high: int, present: Iterator[int],
             pending: list[int]) -> Iterator[tuple[int, int]]:
    """Ranges within ``low..high`` not in ``present`` (ascending; ``pending`` holds a number
    read ahead from ``present``)."""
    start = low
    while True:
        number = pending.pop() if pending else next(present, None)
        if number is None:
            break
        if number < start:
            continue
        if number > high:
            pending.append(number)
            break
        if number > start:
            yield start, number - 1
        start = number + 1
    if start <= high:
        yield start, high


def advance(position: Position, high: int, present: Iterable[int], now: int, *,
            timeout: int = GAP_TIMEOUT_SECONDS, limit: int = MAX_GAPS) -> Position:
    """The position after reading the change log up to ``high``.

    ``present`` holds, ascending, the sequence numbers found within
    ``position.candidates(high)``; ``now`` is the Unix time. Gaps keep the time they were
    first seen; new gaps get ``now``. Gaps older than ``timeout`` are dropped, and only the
    ``limit`` newest are kept.
    """
    found = iter(present)
    pending: list[int] = []
    gaps: list[Gap] = []
    for gap in position.gaps:
        gaps.extend(Gap(a, b, gap.seen) for a, b in _missing(gap.low, gap.high, found, pending))
    if high > position.seq:
        gaps.extend(Gap(a, b, now) for a, b in _missing(position.seq + 1, high, found, pending))
    kept = [g for g in gaps if now - g.seen <= timeout]
    if len(kept) > limit:
        kept = sorted(kept, key=lambda g: (g.seen, g.low))[-limit:]
    return Position(max(high, position.seq), tuple(sorted(kept)))
