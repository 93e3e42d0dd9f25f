"""The DAV connector's own-writes file: appended per batch, read back in order, compacted
when it has grown to twice its entries, a line cut short left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.connectors.dav import state as dav_state
from syncline.connectors.dav.state import CollectionState


def _fresh(state: CollectionState) -> dict[str, str | None]:
    """What a new reader of ``state``'s folder finds (nothing cached)."""
    return CollectionState(state.path).own_writes()


def test_a_batch_appends_its_writes_and_a_new_reader_sees_the_same(tmp_path: Path) -> None:
    state = CollectionState(tmp_path / "book")
    state.ensure()
    state.remember({f"k{n}": f'"e{n}"' for n in range(500)})
    path = state.path / "own-writes"
    before, inode = path.read_bytes(), path.stat().st_ino
    state.remember({"k1": '"e1-again"', "gone": None})
    state.forget(["k2", "never-written"])
    text = path.read_bytes()
    assert path.stat().st_ino == inode and text.startswith(before)
    assert text[len(before):] == b'k1\t"e1-again"\ngone\t\nk2\t\t-\n'
    own = state.own_writes()
    assert "k2" not in own and own["gone"] is None and own["k1"] == '"e1-again"'
    assert list(own)[-2:] == ["k1", "gone"]  # the newest last
    assert list(_fresh(state).items()) == list(own.items())


def test_a_file_written_before_the_upgrade_reads_back(tmp_path: Path) -> None:
    state = CollectionState(tmp_path / "book")
    state.ensure()
    (state.path / "own-writes").write_text('a\t"1"\nb\t\nc\t"3"\n', encoding="utf-8")
    assert state.own_writes() == {"a": '"1"', "b": None, "c": '"3"'}


def test_the_file_is_compacted_when_it_holds_twice_its_entries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dav_state, "_COMPACT_AT", 10)
    state = CollectionState(tmp_path / "book")
    state.ensure()
    path = state.path / "own-writes"
    state.remember({f"k{n}": f'"{n}"' for n in range(6)})
    state.remember({f"k{n}": f'"{n}b"' for n in range(3)})
    assert path.read_text().count("\n") == 9  # appended: 9 lines, 6 entries
    state.remember({f"k{n}": f'"{n}c"' for n in range(4)})  # 13 lines > 10, > 2 x 6
    assert path.read_text().count("\n") == 6
    assert _fresh(state) == state.own_writes() == {
        **{f"k{n}": f'"{n}"' for n in range(4, 6)}, **{f"k{n}": f'"{n}c"' for n in range(4)}}
    assert list(_fresh(state)) == list(state.own_writes())


def test_only_the_newest_writes_are_kept(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dav_state, "_OWN_WRITES_KEPT", 4)
    state = CollectionState(tmp_path / "book")
    state.ensure()
    state.remember({f"k{n}": f'"{n}"' for n in range(3)})
    state.remember({f"k{n}": f'"{n}"' for n in range(3, 6)})
    assert list(state.own_writes()) == ["k2", "k3", "k4", "k5"]
    assert list(_fresh(state)) == ["k2", "k3", "k4", "k5"]


def test_a_line_cut_short_is_left_out(tmp_path: Path) -> None:
    state = CollectionState(tmp_path / "book")
    state.ensure()
    state.remember({"a": '"1"'})
    with open(state.path / "own-writes", "a", encoding="utf-8") as handle:
        handle.write('b\t"2"\nc\t"3')  # a crash in the middle of the last line
    assert _fresh(state) == {"a": '"1"', "b": '"2"'}
