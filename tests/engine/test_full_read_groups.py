"""A full read (Force Sync) over many lookup groups and pages, on a SQLite and a
PostgreSQL state store: records changed on either side are found by comparing each group
with its mappings' digests, records removed from either side by the state store's list of
the mappings not met (:func:`syncline.state.mapping_reads.unnoted_keys`), and nothing else
is touched; afterwards both sides hold the same records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncline.engine import RunMode, reading

from .syncharness import make_harness

T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


def _contact(number: int, name: str) -> dict[str, Any]:
    return {"name": f"{name} {number} ünï 'q\"", "email": f"p{number}@x.org", "phone": None}


@pytest.mark.parametrize("state", ["sqlite", "postgresql"])
def test_a_full_read_over_many_groups_finds_exactly_the_changes_and_deletions(
        state: str, tmp_path: Path, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = request.getfixturevalue("postgres_url") if state == "postgresql" else None
    monkeypatch.setattr(reading, "LOOKUP_SIZE", 20)  # 120 records: several groups per side
    h = make_harness(tmp_path, state_url=url, page_size=7, max_delete="100%")
    try:
        for number in range(120):
            h.a.put("contact", f"k{number:03d} ✓", _contact(number, "Name"), when=T0)
        first = h.sync()
        assert first.streams["contact"].to_json()["A"] == 120
        pairs = h.pairs()
        for number in (3, 41, 77):  # changed on a
            h.a.put("contact", f"k{number:03d} ✓", _contact(number, "Changed"), when=T0)
        for number in (5, 58, 119):  # changed on b
            h.b.put("contact", pairs[f"k{number:03d} ✓"], _contact(number, "On b"), when=T0)
        gone_a = [f"k{number:03d} ✓" for number in (0, 21, 22, 99)]
        gone_b = [pairs[f"k{number:03d} ✓"] for number in (10, 60)]
        for key in gone_a:
            h.a.remove("contact", key)
        for key in gone_b:
            h.b.remove("contact", key)
        full = h.sync(mode=RunMode.FULL).streams["contact"].to_json()
        assert full["M"] == 6 and full["D"] == 6 and full["A"] == 0, full
        assert set(h.pairs()) == {f"k{number:03d} ✓" for number in range(120)
                                  if number not in (0, 21, 22, 99, 10, 60)}
        h.assert_converged()
        again = h.sync(mode=RunMode.FULL).streams["contact"].to_json()
        assert again.get("M", 0) == again.get("D", 0) == again.get("A", 0) == 0, again
    finally:
        h.store.close()
