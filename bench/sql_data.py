"""The rows of the SQL benchmark (``python -m bench.sql``) and the changes its steps make.

Terms:

row
    One contact of table ``a`` or ``b``: ten text columns (:data:`COLUMNS`), the key aside.
    Row ``number`` (1 … N) has the e-mail address ``first.last.<number>@example.com``, unique,
    by which a row of ``a`` and its copy in ``b`` (whose key ``b`` chose) are paired.
change plan
    Which row numbers a step changes on each side: (c) every ``stride``-th row of ``a``;
    (d) the rows after those on ``a`` and the rows two after on ``b``, the first
    ``conflicts`` of ``b``'s being the same rows as ``a``'s (both sides changed: conflicts).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["COLUMNS", "ChangePlan", "change_plan", "email", "rows"]

COLUMNS = ("name", "first_name", "last_name", "email", "phone", "mobile", "title", "notes",
           "categories", "owner")
"""The ten text columns of both tables; each is mapped to the contact field of its name."""

_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken",
          "Margaret", "Niklaus", "Radia", "Tim", "Hedy", "John", "Katherine", "Linus")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
         "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Lamarr", "Backus", "Johnson")
_TITLES = ("Director", "Engineer", "Accountant", "Buyer", "Sales manager", "Clerk", None)
_CATEGORIES = ("customer", "supplier", "customer,vip", "prospect", "partner")
_OWNERS = ("alice", "bob", "carol", "dave")


def email(number: int) -> str:
    """The unique e-mail address of row ``number``."""
    return f"{_FIRST[number % 16].lower()}.{_LAST[number % 15].lower()}.{number}@example.com"


def rows(count: int) -> Iterator[tuple[str | None, ...]]:
    """Rows 1 … ``count`` in :data:`COLUMNS` order, generated lazily; some ``mobile`` and
    ``title`` values are NULL, as in real contact tables."""
    for number in range(1, count + 1):
        first, last = _FIRST[number % 16], _LAST[number % 15]
        yield (f"{first} {last}", first, last, email(number),
               f"+44 20 7946 {number % 10_000_000:07d}",
               f"+44 7700 {number % 1_000_000:06d}" if number % 3 else None,
               _TITLES[number % 7],
               f"Met at the {2000 + number % 25} trade fair; prefers e-mail. Ref {number}.",
               _CATEGORIES[number % 5], _OWNERS[number % 4])


@dataclass(frozen=True)
class ChangePlan:
    """The row numbers each changing step touches (see the module docstring)."""

    only_a: list[int]
    both_a: list[int]
    both_b: list[int]

    @property
    def conflicts(self) -> int:
        """How many rows (d) changes on both sides."""
        return len(set(self.both_a) & set(self.both_b))


def change_plan(records: int, changes: int, conflicts: int) -> ChangePlan:
    """The plan for ``changes`` changes per side with ``conflicts`` rows changed on both
    sides in (d).

    Raises:
        SystemExit: the table is too small for that many changes (each needs three rows).
    """
    stride = records // changes if changes else 0
    if stride < 3 or conflicts > changes:
        raise SystemExit(f"{changes:,} changes with {conflicts:,} conflicts need at least "
                         f"{3 * changes:,} records, not {records:,}")
    only_a = list(range(1, records + 1, stride))[:changes]
    both_a = [number + 1 for number in only_a]
    both_b = both_a[:conflicts] + [number + 2 for number in only_a][conflicts:]
    return ChangePlan(only_a, both_a, both_b)
