"""The vdir connector's state folder and files: listings through a folder descriptor, batch
receipts kept to a bounded number, and new files written atomically (through an unnamed
temporary file where the system has them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncline.connectors import receipts
from syncline.connectors.receipts import ReceiptLine, atomic_write
from syncline.connectors.vdir import state
from syncline.connectors.vdir.state import MALFORMED, Entry, Snapshot, StateFolder, scan


def test_receipts_beyond_the_limit_are_dropped_oldest_first(tmp_path: Path) -> None:
    state = StateFolder(tmp_path / "state")
    state.ensure()
    state.receipts.keep = 3
    for n in range(5):
        state.receipts.write(f"batch-{n}", [ReceiptLine(f"t{n}", "create", f"k{n}", "d")])
        receipt = state.path / "batches" / f"batch-{n}"
        os.utime(receipt, ns=(n * 10**9, n * 10**9))  # distinct ages, oldest first
    kept = sorted(os.listdir(state.path / "batches"))
    assert kept == ["batch-2", "batch-3", "batch-4"]
    assert state.receipts.read("batch-4") == [ReceiptLine("t4", "create", "k4", "d")]
    assert state.receipts.read("batch-0") is None


def test_the_listing_keeps_items_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "a.vcf").write_text("x")
    (folder / ".hidden.vcf").write_text("x")
    (folder / "notes.txt").write_text("x")
    (folder / ".vcf").write_text("x")
    (folder / "sub.vcf").mkdir()
    (folder / "bad\x01.vcf").write_text("x")
    (folder / "linked.vcf").symlink_to(folder / "a.vcf")
    (folder / "dangling.vcf").symlink_to(folder / "gone.vcf")
    (folder / "loop.vcf").symlink_to(folder / "loop.vcf")
    listing, odd = scan(folder, ".vcf")
    info = (folder / "a.vcf").stat()
    assert listing == {"a": Entry(info.st_mtime_ns, info.st_size),
                       "linked": Entry(info.st_mtime_ns, info.st_size)}
    assert odd == ["bad\x01.vcf"]
    relative = Path(os.path.relpath(folder))
    assert scan(relative, ".vcf")[0] == listing  # a relative folder lists the same
    monkeypatch.setattr(state, "_LIST_BY_DESCRIPTOR", False)  # systems without descriptors
    assert scan(folder, ".vcf") == (listing, odd)
    assert scan(relative, ".vcf")[0] == listing


def test_a_snapshot_reads_back_what_was_written_and_a_damaged_one_is_refused() -> None:
    snapshot = Snapshot("t0k3n", 1_700_000_000_000_000_000,
                        {"a": "1:10", "b": "2:20", "c": MALFORMED},
                        {"b": "d1g35t", "c": ""})
    again = Snapshot.from_text(snapshot.to_text())
    assert again == Snapshot("t0k3n", 1_700_000_000_000_000_000,
                             {"a": "1:10", "b": "2:20", "c": MALFORMED}, {"b": "d1g35t"})
    assert Snapshot.from_text(Snapshot("e", 5).to_text()) == Snapshot("e", 5)
    assert Snapshot.from_text("something else\n") is None
    text = snapshot.to_text()
    for damaged in (text + "\n", text + "d\t3:30\n", text.replace("\t2:20", ""),
                    text[:-1] + "\tmore\n",
                    text.replace("\t2:20\t", "\t2:20\td\t", 1).replace("\t1:10", "")):
        with pytest.raises(ValueError):
            Snapshot.from_text(damaged)


def test_own_writes_are_appended_to_the_snapshot_not_rewritten_whole(tmp_path: Path) -> None:
    """An amendment appends one line per write (the file keeps its inode and its first
    bytes), a later line takes an earlier one's place, a delete drops the key and a
    malformed mark drops the digest; a fresh reader sees what the writer's cache holds."""
    folder = StateFolder(tmp_path / "state")
    folder.ensure()
    folder.save(Snapshot("t0k3n", 7, {f"k{n}": f"{n}:10" for n in range(1000)},
                         {"k1": "old"}))
    path = folder.path / "snapshot"
    before = path.read_bytes()
    inode = path.stat().st_ino
    folder.amend({"new": ("5:50", "d1"), "k2": None, "k1": (MALFORMED, "")})
    folder.amend({"new": ("6:60", "d2"), "k3": ("3:33", "d3")})
    text = path.read_bytes()
    assert path.stat().st_ino == inode and text.startswith(before)
    assert text[len(before):] == (b"new\t5:50\td1\nk2\t\t\nk1\tmalformed\t\n"
                                  b"new\t6:60\td2\nk3\t3:33\td3\n")
    cached = folder.current()
    fresh = StateFolder(folder.path).current()
    assert cached == fresh
    assert fresh is not None and fresh.token == "t0k3n"
    assert fresh.entries["new"] == "6:60" and "k2" not in fresh.entries
    assert fresh.entries["k1"] == MALFORMED and fresh.entries["k3"] == "3:33"
    assert fresh.digests == {"new": "d2", "k3": "d3"}
    assert len(fresh.entries) == 1000 + 1 - 1
    folder.save(fresh)  # the next snapshot is written whole, amendments folded in
    assert StateFolder(folder.path).current() == fresh
    assert path.read_text().count("\n") == 1 + len(fresh.entries)


def test_an_append_cut_short_is_left_out_and_a_missing_snapshot_takes_none(
        tmp_path: Path) -> None:
    folder = StateFolder(tmp_path / "state")
    folder.ensure()
    folder.amend({"a": ("1:1", "d")})  # no snapshot yet: nothing to amend
    assert not (folder.path / "snapshot").exists()
    folder.save(Snapshot("t", 1, {"a": "1:1"}))
    with open(folder.path / "snapshot", "a", encoding="utf-8") as handle:
        handle.write("b\t2:2\td\nc\t3:")  # a crash in the middle of the second line
    found = StateFolder(folder.path).current()
    assert found == Snapshot("t", 1, {"a": "1:1", "b": "2:2"}, {"b": "d"})


def _unnamed_supported(folder: Path) -> bool:
    """Whether this system makes unnamed temporary files in ``folder`` (Linux O_TMPFILE)."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return False
    try:
        os.close(os.open(folder, os.O_WRONLY | flag, 0o644))
    except OSError:
        return False
    return os.path.isdir("/proc/self/fd")


def test_a_new_file_is_written_whole_and_never_over_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    directory = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if _unnamed_supported(folder):  # then no named temporary file is made at all
            def named(*args: object) -> None:
                raise AssertionError("a named temporary file was made")

            monkeypatch.setattr(receipts, "_temporary", named)
        written = atomic_write(folder, "a.vcf", b"BEGIN:VCARD", exclusive=True,
                               directory=directory)
        info = (folder / "a.vcf").stat()
        assert (written.st_mtime_ns, written.st_size) == (info.st_mtime_ns, info.st_size)
        assert (folder / "a.vcf").read_bytes() == b"BEGIN:VCARD"
        with pytest.raises(FileExistsError):
            atomic_write(folder, "a.vcf", b"other", exclusive=True, directory=directory)
        assert (folder / "a.vcf").read_bytes() == b"BEGIN:VCARD"
        assert os.listdir(folder) == ["a.vcf"]
    finally:
        os.close(directory)


def test_where_unnamed_files_cannot_be_made_a_named_one_serves(tmp_path: Path) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    receipts._NO_UNNAMED.add(os.path.join(folder, ""))
    directory = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        written = atomic_write(folder, "b.vcf", b"x", exclusive=True, directory=directory)
        with pytest.raises(FileExistsError):
            atomic_write(folder, "b.vcf", b"y", exclusive=True, directory=directory)
    finally:
        os.close(directory)
        receipts._NO_UNNAMED.discard(os.path.join(folder, ""))
    assert written.st_size == 1 and (folder / "b.vcf").read_bytes() == b"x"
    assert os.listdir(folder) == ["b.vcf"]  # no temporary file left
