"""The floors of the DAV benchmark (``bench.dav_floors``) and how rows show them
(``bench.dav_rows``): best ratio, attainable, the table and the JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.dav_data import write_cards
from bench.dav_floors import BookFloor, copy_floor, scan_floor, startup_floor, upload_floor
from bench.dav_rows import Row, render_table
from bench.dav_tools import Measurement, ToolFailed, child_environment


def _row(target: float, floor: list[float]) -> Row:
    return Row("b", "re-sync, no change", 100, target,
               syncline=[Measurement(1.0, 50.0, 0.9)] * 3,
               vdirsyncer=[Measurement(2.0, 40.0, 1.9)] * 3,
               floor=floor, floor_work="imports, then a scan", startup_floor=[0.3, 0.4, 0.5])


def _line(row: Row) -> str:
    """The table line of ``row``."""
    return next(line for line in render_table([row], 3).splitlines()
                if line.startswith(f"| ({row.key})"))


def test_a_target_above_the_best_ratio_is_marked_not_attainable() -> None:
    row = _row(3, [0.9, 0.8, 1.0])
    assert row.floor_seconds == pytest.approx(0.8)  # the least run: a lower bound
    assert row.best_ratio == pytest.approx(2.0 / 0.8)
    assert row.attainable is False
    table = render_table([row], 3)
    line = _line(row)
    assert "NO (target > best possible)" in line
    assert "| 0.800 | 2.50x | NO | 0.300 |" in line
    assert "- (b) floor: imports, then a scan" in table
    data = row.to_json()
    assert data["best_ratio"] == pytest.approx(2.0 / 0.8)
    assert data["attainable"] is False
    assert data["floor_runs_s"] == [0.9, 0.8, 1.0]
    assert data["startup_floor_least_s"] == pytest.approx(0.3)


def test_an_attainable_target_that_is_missed_is_a_plain_no() -> None:
    row = _row(3, [0.5])
    assert row.attainable is True
    assert "| NO | 0.500 | 4.00x | yes |" in _line(row)


def test_a_row_without_floor_shows_dashes() -> None:
    row = _row(3, [])
    row.startup_floor = []
    assert row.best_ratio is None and row.attainable is None
    assert "| NO | - | - | - | - |" in _line(row)


def test_the_folder_floors_copy_and_scan(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    write_cards(source, 20)
    target.mkdir()
    environment = child_environment()
    assert startup_floor(tmp_path, environment) > 0
    assert copy_floor(source, target, environment) > 0
    assert sorted(path.name for path in target.iterdir()) == \
        sorted(path.name for path in source.iterdir())
    assert scan_floor([source, target], environment) > 0
    with pytest.raises(ToolFailed):
        scan_floor([tmp_path / "missing"], environment)


def test_the_server_floors_against_radicale(tmp_path: Path) -> None:
    pytest.importorskip("radicale")
    from bench.dav_radicale import USER, Radicale

    cards, few = tmp_path / "cards", tmp_path / "few"
    write_cards(cards, 30)
    write_cards(few, 5)
    server = Radicale(tmp_path / "radicale")
    server.prefill("book", cards)
    with server.running():
        assert upload_floor(server, server.make_addressbook("upload"), few) > 0
        assert server.card_count("upload") == 5
        floor = BookFloor(server, f"{server.url}{USER}/book/")
        assert floor.start() == 30
        assert floor.resync(None, 0) > 0
        assert floor.unchanged() > 0
        server.change_cards("book", [1, 11, 21], revision=1)
        assert floor.resync(1, 3) > 0
        with pytest.raises(ToolFailed):
            floor.unchanged()  # the ctag moved with the change
        server.change_cards("book", [2], revision=2)
        with pytest.raises(ToolFailed):
            floor.resync(2, 3)  # one card changed, not three
