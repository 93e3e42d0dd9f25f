"""The engine's own guard against a side that lists one key twice in one read (an
offset-paginated listing does that when rows move while it pages): the second record is
left out as an item error, so pairing never meets the same key twice and the link keeps
working."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from syncline.connectors.base import ReadScope
from syncline.engine import RunMode, RunRequest
from syncline.model import Record, RecordColumns

from .syncharness import Harness, HarnessConnector


class RepeatingListing(HarnessConnector):
    """The memory connector, listing every page of a full read twice (the second time with
    other values, as a row that moved and was changed meanwhile)."""

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        for page in super().read_all(stream, scope):
            yield page
            yield [Record(record.key, {**record.fields, "name": "moved"})
                   for record in page]


class RepeatingColumns(HarnessConnector):
    """The memory connector handing over a first full read as columnar pages, each holding
    its keys twice (the second time with other values)."""

    def read_all_columnar(self, stream: str,
                          scope: ReadScope) -> Iterator[list[Record] | RecordColumns]:
        for page in super().read_all(stream, scope):
            names = tuple(page[0].fields)
            keys = [record.key for record in page] * 2
            columns: list[Sequence[Any]] = [[record.fields[name] for record in page]
                       + ["moved" if name == "name" else record.fields[name]
                          for record in page] for name in names]
            yield RecordColumns(keys, names, columns)


def _seed(h: Harness) -> None:
    for number in (1, 2, 3):
        h.a.put("contact", f"p{number}", {"name": f"Person {number}",
                                           "email": f"p{number}@example.com", "phone": None})


def test_a_key_twice_in_a_columnar_page_is_an_item_error(harness: Harness) -> None:
    h = harness
    _seed(h)
    summary = h.engine(connector=RepeatingColumns).run(RunRequest(h.link))
    assert summary.streams["contact"].errors == 3
    assert sorted(fields["name"] for fields in h.records("b").values()) == [
        "Person 1", "Person 2", "Person 3"]
    assert sorted(h.pairs()) == ["p1", "p2", "p3"]


def test_a_key_listed_twice_is_an_item_error_not_a_jam(harness: Harness) -> None:
    h = harness
    _seed(h)
    engine = h.engine(connector=RepeatingListing)
    for mode in (RunMode.INCREMENTAL, RunMode.FULL):
        summary = engine.run(RunRequest(h.link, mode=mode))
        assert summary.streams["contact"].errors >= 3
        twice = [m for m in summary.messages if "was read twice" in m]
        assert twice and all("second record is left out" in m for m in twice)
        assert sorted(h.pairs()) == ["p1", "p2", "p3"]
        assert sorted(fields["name"] for fields in h.records("b").values()) == [
            "Person 1", "Person 2", "Person 3"]
    # read once again as a plain connector: nothing was lost or doubled
    summary = h.sync(mode=RunMode.FULL)
    assert summary.streams["contact"].errors == 0
    h.assert_converged()
